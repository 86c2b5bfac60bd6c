//! The privilege split: the watcher process's start, its confinement, the
//! requests the opener refuses, and either process's death. None of these
//! are 0.8's: 0.8 runs as one root process.

use std::fmt::{self, Write as _};

use super::{Record, Text, LOG, STDERR, VERBOSE};

/// About the watcher and opener processes.
#[derive(Clone, Copy)]
pub enum PrivsepMessage<'a> {
    /// `watcher process <pid> runs as <user> (uid <uid>) with no
    /// capabilities; <confinement>` (verbose): the packet-facing half has
    /// dropped its privileges.
    WatcherConfined {
        /// The watcher's pid.
        pid: u32,
        /// The account it runs as.
        user: &'a str,
        /// Its uid.
        uid: u32,
        /// What confines it further, e.g. `system calls confined to the
        /// watcher's (seccomp)`.
        confinement: &'a dyn fmt::Display,
    },
    /// `warning: no user <name>; the watcher runs as nobody` (log).
    UserFallback {
        /// The user asked for, or the default `knockd`.
        wanted: &'a str,
        /// The user taken instead.
        taken: &'a str,
    },
    /// `refused the watcher's request: <why> (further requests refused for
    /// this reason are not logged)` (log, stderr): a request a sound
    /// watcher never sends. Nothing ran for it.
    Refused {
        /// Why, e.g. `door 7 of configuration 2 does not exist`.
        why: &'a dyn fmt::Display,
    },
    /// `watcher process <pid> <how>; the opener exits and leaves open doors
    /// to the ledger` (log, stderr).
    WatcherDied {
        /// The watcher's pid.
        pid: u32,
        /// `exited with status 1`, `was killed by signal SIGSYS`, ...
        how: &'a dyn fmt::Display,
    },
    /// `the opener process is gone; the watcher exits` (log, stderr).
    OpenerGone,
}

impl PrivsepMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            PrivsepMessage::WatcherConfined {
                pid,
                user,
                uid,
                confinement,
            } => {
                write!(
                    out,
                    "watcher process {pid} runs as {user} (uid {uid}) with no capabilities; \
                     {confinement}"
                )?;
                Record::new(VERBOSE, "watcher_confined")
            }
            PrivsepMessage::UserFallback { wanted, taken } => {
                write!(
                    out,
                    "warning: no user {wanted}; the watcher runs as {taken}"
                )?;
                Record::new(LOG, "watcher_user_fallback").warning()
            }
            PrivsepMessage::Refused { why } => {
                write!(
                    out,
                    "refused the watcher's request: {why} (further requests refused for this \
                     reason are not logged)"
                )?;
                Record::new(LOG | STDERR, "request_refused").error()
            }
            PrivsepMessage::WatcherDied { pid, how } => {
                write!(
                    out,
                    "watcher process {pid} {how}; the opener exits and leaves open doors to \
                     the ledger"
                )?;
                Record::new(LOG | STDERR, "watcher_died").error()
            }
            PrivsepMessage::OpenerGone => {
                out.write_str("the opener process is gone; the watcher exits")?;
                Record::new(LOG | STDERR, "opener_gone").error()
            }
        })
    }
}
