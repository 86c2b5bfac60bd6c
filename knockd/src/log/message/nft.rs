//! `Nft_Set` doors: the kernel set elements knockd adds, refreshes and
//! deletes, and what goes wrong with them. None of these are 0.8's, which
//! has no such doors.

use std::fmt::{self, Write as _};

use super::{Record, Source, Text, LOG, STDERR, VERBOSE};

/// An `Nft_Set` door's element or sets.
#[derive(Clone, Copy)]
pub enum NftMessage<'a> {
    /// `<src>: <door>: added to nft set <family> <table> <set> for <n> s`
    /// (log, verbose): the kernel holds the door open and closes it.
    Added {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// `inet knockd ssh_v4`.
        set: &'a dyn fmt::Display,
        /// The element's timeout, in seconds.
        seconds: u64,
    },
    /// `<src>: <door>: nft set <set>: element re-armed for <n> s` (log,
    /// verbose): `Refresh` gave it a new timeout.
    Rearmed {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// `inet knockd ssh_v4`.
        set: &'a dyn fmt::Display,
        /// The element's new timeout, in seconds.
        seconds: u64,
    },
    /// `<src>: <door>: error: the door did not open: <why>` (log, stderr):
    /// the kernel refused the element, and the door is not counted open.
    OpenFailed {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
        /// The kernel's error and what to do.
        why: &'a dyn fmt::Display,
    },
    /// `created nft set <family> <table> <set>` (log, verbose).
    SetCreated {
        /// `inet knockd ssh_v4`.
        set: &'a dyn fmt::Display,
    },
    /// `<door>: error: <why>; the door opens nothing until this is fixed`
    /// (log, stderr): its set cannot be used as it is.
    DoorUnusable {
        /// The door's name.
        door: &'a str,
        /// What is wrong and what to do.
        why: &'a dyn fmt::Display,
    },
}

impl NftMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            NftMessage::Added {
                source,
                door,
                set,
                seconds,
            } => {
                write!(
                    out,
                    "{source}: {door}: added to nft set {set} for {seconds} s"
                )?;
                Record::new(LOG | VERBOSE, "nft_added").about(door, *source)
            }
            NftMessage::Rearmed {
                source,
                door,
                set,
                seconds,
            } => {
                write!(
                    out,
                    "{source}: {door}: nft set {set}: element re-armed for {seconds} s"
                )?;
                Record::new(LOG | VERBOSE, "nft_rearmed").about(door, *source)
            }
            NftMessage::OpenFailed { source, door, why } => {
                write!(out, "{source}: {door}: error: the door did not open: {why}")?;
                Record::new(LOG | STDERR, "nft_failed")
                    .error()
                    .about(door, *source)
            }
            NftMessage::SetCreated { set } => {
                write!(out, "created nft set {set}")?;
                Record::new(LOG | VERBOSE, "nft_set_created")
            }
            NftMessage::DoorUnusable { door, why } => {
                write!(
                    out,
                    "{door}: error: {why}; the door opens nothing until this is fixed"
                )?;
                Record::new(LOG | STDERR, "nft_unusable").error().door(door)
            }
        })
    }
}
