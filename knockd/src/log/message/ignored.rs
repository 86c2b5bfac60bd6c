//! Knocks knockd leaves out (`-D` lines): a resent knock, a cooling-down
//! door, a source not allowed, wrong TCP flags, a broken attempt, a source
//! that cannot knock.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use knock_proto::TcpFlag;

use super::{write_upper, Record, Source, Text, DEBUG};

/// A knock left out, and why.
#[derive(Clone, Copy)]
pub enum IgnoredMessage<'a> {
    /// `<src>: <door>: resent knock ignored` (debug): a client's SYN
    /// retransmission. Not in 0.8, which broke the attempt on it (#92).
    Retransmission {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: knock ignored, the door opened for it less than Cooldown ago`
    /// (debug). Not in 0.8.
    CoolingDown {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `<src>: <door>: knock ignored, the source is not allowed by
    /// Allow_From/Deny_From` (debug, once per source a minute). Not in 0.8.
    NotAllowed {
        /// The knocker.
        source: Source<'a>,
        /// The door's name.
        door: &'a str,
    },
    /// `ignored <n> knock(s) from sources that cannot knock ..., the last from <src>`
    /// (debug), at most once a minute. Not in 0.8.
    SourcesRefused {
        /// Knocks ignored since the last such line.
        count: u64,
        /// The last such source.
        last: IpAddr,
    },
    /// `removing failed knock attempt (<src>)` (debug).
    RemovingFailedAttempt(IpAddr),
    /// `packet is not <FLAG>, ignoring...`, or `packet is not !<FLAG>, ignoring...`
    /// for a flag that must be clear (debug).
    FlagMismatch {
        /// The first flag whose constraint the packet violates.
        flag: TcpFlag,
        /// Whether the door requires it set (`SYN`) or clear (`!ACK`).
        required: bool,
    },
}

impl IgnoredMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            IgnoredMessage::Retransmission { source, door } => {
                write!(out, "{source}: {door}: resent knock ignored")?;
                Record::new(DEBUG, "retransmission").about(door, *source)
            }
            IgnoredMessage::CoolingDown { source, door } => {
                write!(
                    out,
                    "{source}: {door}: knock ignored, the door opened for it less than Cooldown ago"
                )?;
                Record::new(DEBUG, "cooling_down").about(door, *source)
            }
            IgnoredMessage::NotAllowed { source, door } => {
                write!(
                    out,
                    "{source}: {door}: knock ignored, the source is not allowed by Allow_From/Deny_From"
                )?;
                Record::new(DEBUG, "not_allowed").about(door, *source)
            }
            IgnoredMessage::SourcesRefused { count, last } => {
                write!(
                    out,
                    "ignored {count} knock(s) from sources that cannot knock (unspecified, broadcast, multicast, or loopback and local addresses from the wire), the last from {last}"
                )?;
                Record::new(DEBUG, "sources_refused").source(Source::with_host(*last, None))
            }
            IgnoredMessage::RemovingFailedAttempt(src) => {
                write!(out, "removing failed knock attempt ({src})")?;
                Record::new(DEBUG, "invalidated").source(Source::with_host(*src, None))
            }
            IgnoredMessage::FlagMismatch { flag, required } => {
                out.with(|out| {
                    out.write_str("packet is not ")?;
                    if !required {
                        out.write_char('!')?;
                    }
                    write_upper(out, flag.name())?;
                    out.write_str(", ignoring...")
                })?;
                Record::new(DEBUG, "flags_ignored")
            }
        })
    }
}
