//! The door ledger: a state directory that cannot hold it, its unreadable
//! lines, its failed writes, and the doors it keeps open across runs.

use std::fmt::{self, Write as _};
use std::io;
use std::path::Path;
use std::time::Duration;

use knock_proto::io_message;

use super::{Record, Source, Text, LOG, STDERR, VERBOSE};

/// About the door ledger and the doors it carries over from a previous run.
#[derive(Clone, Copy)]
pub enum LedgerMessage<'a> {
    /// `<src>: <door>: closing a door left open by a previous run` (log,
    /// verbose): the ledger held a stop command past its deadline. Not in 0.8.
    ClosingLeftOpen {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: a door left open by a previous run closes in <n>s`
    /// (log, verbose). Not in 0.8.
    LeftOpenRearmed {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// Time left until its stop command.
        left: Duration,
    },
    /// `<src>: <door>: start command still running at shutdown, stop command
    /// not run --> ...` (log, stderr). Not in 0.8.
    StopLeftPending {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// Whether the ledger keeps the stop command for the next start.
        in_ledger: bool,
    },
    /// `<src>: <door>: start command still running at shutdown: ending it
    /// (SIGTERM, then SIGKILL) to run its stop command` (log, stderr). Not in
    /// 0.8, whose stop could run before its start finished.
    StartEnded {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<error> --> doors opened now will not close if knockd dies ...` (log,
    /// stderr): the state directory is unusable. Not in 0.8.
    LedgerUnavailable {
        /// Why.
        error: &'a dyn fmt::Display,
    },
    /// `door ledger <path>: skipped line(s) <n>, ... that are not records`
    /// (log, stderr). Not in 0.8.
    LedgerLinesSkipped {
        /// The journal.
        path: &'a Path,
        /// The 1-based numbers of the skipped lines.
        lines: &'a [usize],
    },
    /// `no usable state directory: <n> rotating door(s) keep their spent steps
    /// in memory only --> ...` (log, stderr): a knock sniffed before a
    /// restart opens the door again after it. Not in 0.8.
    SpentStepsInMemory {
        /// How many rotating doors.
        doors: usize,
    },
    /// `door ledger <path>: <n> door(s) left open by a previous run cannot be
    /// closed: their records are damaged --> ...` (log, stderr): skipped
    /// lines that were `open` records. Not in 0.8.
    DoorsLost {
        /// The journal.
        path: &'a Path,
        /// How many doors.
        count: usize,
    },
    /// `error: cannot write the door ledger: <strerror> --> ...` (log,
    /// stderr). Not in 0.8.
    LedgerWriteFailed {
        /// Why.
        error: &'a io::Error,
    },
}

impl LedgerMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            LedgerMessage::ClosingLeftOpen { source, door } => {
                write!(
                    out,
                    "{source}: {door}: closing a door left open by a previous run"
                )?;
                Record::new(LOG | VERBOSE, "close_left_open").about(door, *source)
            }
            LedgerMessage::LeftOpenRearmed { source, door, left } => {
                out.with(|out| {
                    let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                    write!(
                        out,
                        "{source}: {door}: a door left open by a previous run closes in {secs}s"
                    )
                })?;
                Record::new(LOG | VERBOSE, "left_open").about(door, *source)
            }
            LedgerMessage::StopLeftPending {
                source,
                door,
                in_ledger,
            } => {
                out.with(|out| {
                    write!(
                        out,
                        "{source}: {door}: start command still running at shutdown, stop command not run"
                    )?;
                    out.write_str(if *in_ledger {
                        " --> it runs at the next start or with knockd --close-all"
                    } else {
                        " --> the door stays open (no door ledger)"
                    })
                })?;
                Record::new(LOG | STDERR, "stop_left_pending")
                    .warning()
                    .about(door, *source)
            }
            LedgerMessage::StartEnded { source, door } => {
                write!(
                    out,
                    "{source}: {door}: start command still running at shutdown: ending it (SIGTERM, then SIGKILL) to run its stop command"
                )?;
                Record::new(LOG | STDERR, "start_ended")
                    .warning()
                    .about(door, *source)
            }
            LedgerMessage::LedgerUnavailable { error } => {
                write!(
                    out,
                    "{error} --> doors opened now will not close if knockd dies (fix the state directory or give another with --state-dir)"
                )?;
                Record::new(LOG | STDERR, "ledger_unavailable").error()
            }
            LedgerMessage::LedgerLinesSkipped { path, lines } => {
                out.with(|out| {
                    write!(out, "door ledger {}: skipped line(s) ", path.display())?;
                    for (i, line) in lines.iter().enumerate() {
                        if i > 0 {
                            out.write_str(", ")?;
                        }
                        write!(out, "{line}")?;
                    }
                    out.write_str(" that are not records")
                })?;
                Record::new(LOG | STDERR, "ledger_lines_skipped").warning()
            }
            LedgerMessage::SpentStepsInMemory { doors } => {
                write!(out, "no usable state directory: {doors} ")?;
                out.write_str(crate::spent_steps::IN_MEMORY_ONLY)?;
                Record::new(LOG | STDERR, "spent_steps_in_memory").warning()
            }
            LedgerMessage::DoorsLost { path, count } => {
                write!(
                    out,
                    "door ledger {}: {count} door(s) left open by a previous run cannot be closed: their records are damaged --> undo by hand what their start commands did",
                    path.display()
                )?;
                Record::new(LOG | STDERR, "doors_lost").error()
            }
            LedgerMessage::LedgerWriteFailed { error } => {
                out.with(|out| {
                    let reason = io_message(error);
                    write!(
                        out,
                        "error: cannot write the door ledger: {reason} --> this door will not close if knockd dies before its stop command runs"
                    )
                })?;
                Record::new(LOG | STDERR, "ledger_write_failed").error()
            }
        })
    }
}
