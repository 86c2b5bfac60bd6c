//! A door's commands: their start, their failures, and the wait for them
//! at shutdown.

use std::fmt::{self, Write as _};
use std::io;

use knock_proto::io_message;

use super::{Record, Source, Text, LOG, STDERR, VERBOSE};

/// Which of a door's two commands a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    /// The start command, run at OPEN SESAME.
    Start,
    /// The stop command, run `Cmd_Timeout` later.
    Stop,
}

/// A door's command started, failed, dropped or waited for.
#[derive(Clone, Copy)]
pub enum CommandMessage<'a> {
    /// `<door>: running command: <cmd>` (log, verbose). 0.8 adds a blank log
    /// line after it (B17 in docs/differences-from-0.8.md); we do not.
    RunningCommand {
        /// The door's name.
        door: &'a str,
        /// The command after `%IP%` expansion.
        command: &'a str,
    },
    /// `<door>: command returned non-zero status code (<n>)` (log, stderr).
    NonZeroStatus {
        /// The door's name.
        door: &'a str,
        /// The exit status.
        code: i32,
    },
    /// `<door>: command killed by signal <n> (<NAME>)` (log, stderr).
    /// Not in 0.8, whose `system()` folds signals into odd status codes.
    KilledBySignal {
        /// The door's name.
        door: &'a str,
        /// The signal number.
        signal: i32,
    },
    /// `<door>: error: command fork failed! (<strerror>)` (log, stderr). 0.8
    /// prints `error: command fork failed!` without door or reason.
    SpawnFailed {
        /// The door's name.
        door: &'a str,
        /// Why the shell could not be started.
        error: &'a io::Error,
    },
    /// `error: parsed start command has been truncated! --> won't execute it`,
    /// or for the stop command `error: parsed stop command has been truncated!
    /// --> won't execute start command` (log, stderr): an expanded command
    /// longer than 0.8's 4095 characters.
    CommandTruncated(CommandKind),
    /// `<src>: <door>: too many commands waiting, start command dropped`
    /// (log, stderr). Not in 0.8, which runs any number of commands at once.
    CommandDropped {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: command timeout` (log, verbose): the stop command is due.
    CommandTimeout {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `waiting for child processes...` (verbose), on SIGINT/SIGTERM.
    WaitingForChildren,
    /// `<n> command(s) still running, not waiting for them` (log, stderr):
    /// shutdown's bounded wait ran out. Not in 0.8, which waits for ever.
    ChildrenLeftRunning {
        /// How many commands were still running.
        count: usize,
    },
}

impl CommandMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            CommandMessage::RunningCommand { door, command } => {
                write!(out, "{door}: running command: {command}")?;
                Record::new(LOG | VERBOSE, "command").door(door)
            }
            CommandMessage::NonZeroStatus { door, code } => {
                write!(
                    out,
                    "{door}: command returned non-zero status code ({code})"
                )?;
                Record::new(LOG | STDERR, "command_failed")
                    .error()
                    .door(door)
            }
            CommandMessage::KilledBySignal { door, signal } => {
                out.with(|out| {
                    let name = nix::sys::signal::Signal::try_from(*signal)
                        .map_or("unknown signal", |s| s.as_str());
                    write!(out, "{door}: command killed by signal {signal} ({name})")
                })?;
                Record::new(LOG | STDERR, "command_failed")
                    .error()
                    .door(door)
            }
            CommandMessage::SpawnFailed { door, error } => {
                out.with(|out| {
                    let reason = io_message(error);
                    write!(out, "{door}: error: command fork failed! ({reason})")
                })?;
                Record::new(LOG | STDERR, "command_failed")
                    .error()
                    .door(door)
            }
            CommandMessage::CommandTruncated(CommandKind::Start) => {
                out.write_str(
                    "error: parsed start command has been truncated! --> won't execute it",
                )?;
                Record::new(LOG | STDERR, "command_truncated").error()
            }
            CommandMessage::CommandTruncated(CommandKind::Stop) => {
                out.write_str(
                    "error: parsed stop command has been truncated! --> won't execute start command",
                )?;
                Record::new(LOG | STDERR, "command_truncated").error()
            }
            CommandMessage::CommandDropped { source, door } => {
                write!(
                    out,
                    "{source}: {door}: too many commands waiting, start command dropped"
                )?;
                Record::new(LOG | STDERR, "command_dropped")
                    .error()
                    .about(door, *source)
            }
            CommandMessage::CommandTimeout { source, door } => {
                write!(out, "{source}: {door}: command timeout")?;
                Record::new(LOG | VERBOSE, "close").about(door, *source)
            }
            CommandMessage::WaitingForChildren => {
                out.write_str("waiting for child processes...")?;
                Record::new(VERBOSE, "stopping")
            }
            CommandMessage::ChildrenLeftRunning { count } => {
                write!(
                    out,
                    "{count} command(s) still running, not waiting for them"
                )?;
                Record::new(LOG | STDERR, "commands_left_running").warning()
            }
        })
    }
}
