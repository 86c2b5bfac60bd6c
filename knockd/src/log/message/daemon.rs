//! knockd's own life: start and stop, the pid file, the log file, and the
//! errors and `-D` lines no subsystem has a message for.

use std::fmt::{self, Write as _};
use std::io;
use std::path::Path;

use knock_proto::io_message;

use super::{Record, Text, DEBUG, LOG, STDERR, VERBOSE};

/// About knockd starting, stopping and logging, and the errors and debug lines of no subsystem.
#[derive(Clone, Copy)]
pub enum DaemonMessage<'a> {
    /// `starting up, listening on <iface>` (log).
    StartingUp {
        /// The capture interface.
        interface: &'a str,
    },
    /// `closing log file: <path>` (verbose).
    ClosingLogFile {
        /// The log file.
        path: &'a Path,
    },
    /// `re-opening log file: <path>` (log, verbose). 0.8 sends it to syslog
    /// only, as its file is closed at that moment (B17 in
    /// docs/differences-from-0.8.md); we log it in the reopened file.
    ReopeningLogFile {
        /// The log file.
        path: &'a Path,
    },
    /// `warning: cannot open logfile: <strerror>` (stderr).
    LogFileUnavailable {
        /// Why the log file could not be opened.
        error: &'a io::Error,
    },
    /// `could not create pid file <path>: <strerror>` (log, debug).
    PidFileFailed {
        /// The pid file.
        path: &'a Path,
        /// Why it could not be written.
        error: &'a io::Error,
    },
    /// `closing...` (verbose).
    Closing,
    /// `shutting down` (log).
    ShuttingDown,
    /// An error at run time, printed as is (log, stderr), e.g. `pcap: <error>`.
    Error(&'a dyn fmt::Display),
    /// Any other `-D` line, printed as is (debug), e.g. `ethernet interface detected`.
    Debug(&'a dyn fmt::Display),
}

impl DaemonMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            DaemonMessage::StartingUp { interface } => {
                write!(out, "starting up, listening on {interface}")?;
                Record::new(LOG, "start")
            }
            DaemonMessage::ClosingLogFile { path } => {
                write!(out, "closing log file: {}", path.display())?;
                Record::new(VERBOSE, "log_closing")
            }
            DaemonMessage::ReopeningLogFile { path } => {
                write!(out, "re-opening log file: {}", path.display())?;
                Record::new(LOG | VERBOSE, "log_reopened")
            }
            DaemonMessage::LogFileUnavailable { error } => {
                out.with(|out| {
                    let reason = io_message(error);
                    write!(out, "warning: cannot open logfile: {reason}")
                })?;
                Record::new(STDERR, "log_unavailable").warning()
            }
            DaemonMessage::PidFileFailed { path, error } => {
                out.with(|out| {
                    let reason = io_message(error);
                    write!(
                        out,
                        "could not create pid file {}: {reason}",
                        path.display()
                    )
                })?;
                Record::new(LOG | DEBUG, "pid_file_failed").error()
            }
            DaemonMessage::Closing => {
                out.write_str("closing...")?;
                Record::new(VERBOSE, "closing")
            }
            DaemonMessage::ShuttingDown => {
                out.write_str("shutting down")?;
                Record::new(LOG, "stop")
            }
            DaemonMessage::Error(error) => {
                write!(out, "{error}")?;
                Record::new(LOG | STDERR, "error").error()
            }
            DaemonMessage::Debug(line) => {
                write!(out, "{line}")?;
                Record::new(DEBUG, "debug")
            }
        })
    }
}
