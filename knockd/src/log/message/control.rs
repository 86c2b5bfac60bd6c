//! The control socket and what it and SIGUSR1 print: the status and the
//! counters, and the doors closed on request.

use std::fmt::{self, Write as _};

use super::{Record, Source, Text, LOG, STDERR, VERBOSE};

/// About the control socket, the status and the counters.
#[derive(Clone, Copy)]
pub enum ControlMessage<'a> {
    /// `<error> --> running without the control socket ...` (log, stderr):
    /// `knockd status` and `knockd close` cannot reach this knockd, whose
    /// doors work all the same. Not in 0.8.
    ControlSocketUnavailable {
        /// Why.
        error: &'a dyn fmt::Display,
    },
    /// `<src>: <door>: closing on request (knockd close)` (log, verbose):
    /// the door's stop command runs now. Not in 0.8.
    ClosingOnRequest {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `status: <line>` (log, verbose): one line of the status SIGUSR1
    /// asks for, as `knockd status` prints it. Not in 0.8.
    Status(&'a dyn fmt::Display),
    /// `counters: <line>` (verbose), at shutdown. Not in 0.8.
    Counters(&'a dyn fmt::Display),
}

impl ControlMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            ControlMessage::ControlSocketUnavailable { error } => {
                write!(
                    out,
                    "{error} --> running without the control socket: knockd status and knockd close cannot reach this knockd (its doors work as usual)"
                )?;
                Record::new(LOG | STDERR, "control_socket_unavailable").warning()
            }
            ControlMessage::ClosingOnRequest { source, door } => {
                write!(out, "{source}: {door}: closing on request (knockd close)")?;
                Record::new(LOG | VERBOSE, "close_requested").about(door, *source)
            }
            ControlMessage::Status(line) => {
                write!(out, "status: {line}")?;
                Record::new(LOG | VERBOSE, "status")
            }
            ControlMessage::Counters(line) => {
                write!(out, "counters: {line}")?;
                Record::new(VERBOSE, "counters")
            }
        })
    }
}
