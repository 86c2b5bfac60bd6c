//! What the engine reports: the events of doors and its running totals.

use std::net::IpAddr;

use knock_proto::TcpFlag;

/// Something that happened to a door. `door` is the index into the doors
/// vector; `stage` counts matched knocks from 1, as logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// `source` matched knock number `stage` of the door.
    Stage {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
        /// Knocks matched so far.
        stage: usize,
    },
    /// `source` completed the sequence (follows the final [`Event::Stage`]).
    Open {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
    },
    /// The attempt ran out of time after `stage` knocks.
    Timeout {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
        /// Knocks matched before the timeout.
        stage: usize,
    },
    /// A wrong knock ended the attempt (0.8's debug `removing failed knock attempt`).
    Invalidated {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
    },
    /// A TCP packet was ignored for the door because of its flags (0.8's debug
    /// `packet is not SYN, ignoring...`, or `!SYN` when `must_be_set` is false).
    FlagsIgnored {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
        /// The first flag in header-bit order that is wrong.
        flag: TcpFlag,
        /// Whether the door wants the flag set (it was clear) or clear (it was set).
        must_be_set: bool,
    },
    /// The knock that last advanced the attempt came again: a TCP knock
    /// from the same source port (the client resent its SYN, as the
    /// firewall drops knocks) or, on a door with `Allow_Repeats`, any
    /// repeat. It changes nothing.
    Retransmission {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
    },
    /// A knock on a door that opened for `source` less than the door's
    /// `Cooldown` ago was ignored.
    CoolingDown {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
    },
    /// A knock on a door whose `Allow_From`/`Deny_From` lists do not let
    /// `source` knock. It changed nothing.
    NotAllowed {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
    },
    /// A knock came from a source that cannot knock: unspecified,
    /// broadcast or multicast, or (unless the capture is on loopback) a
    /// loopback or local address, which on the wire can only be spoofed. It
    /// changed nothing.
    SourceRefused {
        /// The source address.
        source: IpAddr,
    },
    /// The attempt was dropped to make room for a new one.
    Evicted {
        /// The knocker.
        source: IpAddr,
        /// Index of the door.
        door: usize,
        /// Knocks matched before the eviction.
        stage: usize,
    },
    /// A rotating door is about to open with the sequence of time step
    /// `step`, which is now spent: it opens the door for nobody else. The
    /// caller records it before acting on the [`Event::Open`] that follows.
    Spent {
        /// Index of the door.
        door: usize,
        /// The time step.
        step: u64,
    },
}

/// Running totals since the engine was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stats {
    /// Attempts started (multi-knock doors only; one-knock doors open at once).
    pub created: u64,
    /// Doors opened.
    pub opened: u64,
    /// Attempts ended by a wrong knock.
    pub invalidated: u64,
    /// Attempts ended by their timeout.
    pub timed_out: u64,
    /// Attempts evicted because the table was full.
    pub evicted: u64,
    /// Knocks from sources that cannot knock ([`Event::SourceRefused`]).
    pub refused_sources: u64,
    /// Second copies of a knock ([`Engine::set_copies_within`](super::Engine::set_copies_within)).
    pub copies: u64,
    /// Rebuilds of the knock index: at creation, and whenever doors'
    /// sequences change (a reload, a one-time door rearmed, a rotating
    /// step spent, and once per [`Engine::rotate`](super::Engine::rotate)
    /// call, however many doors it moves).
    pub knock_index_builds: u64,
}
