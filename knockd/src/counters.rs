//! What the daemon counts, in one place: packets read and why some did not
//! decode, libpcap's drop counters, the engine's totals, the events the
//! server sees and the command runner's totals. `-v` prints them at shutdown;
//! `knockd status` and SIGUSR1 show the same value, with each door's share.

use std::collections::BTreeMap;
use std::fmt;

use knockd_core::doors::RuntimeDoor;
use knockd_core::engine::{Event, Stats};
use knockd_core::wire::DecodeErrorKind;

use crate::capture::CaptureStats;
use crate::commands::CommandStats;
use crate::log::{ControlMessage, Logger};

/// Totals since knockd started; reloads and reopened captures add to them.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    /// Frames read from the capture.
    pub frames: u64,
    /// Frames that did not decode, by [`DecodeErrorKind::index`].
    pub not_decoded: [u64; DecodeErrorKind::ALL.len()],
    /// Knocks that matched a stage of some door.
    pub stage_hits: u64,
    /// Packets a door ignored for their TCP flags.
    pub flags_ignored: u64,
    /// Knocks a door ignored because it opened for their source less than
    /// its `Cooldown` ago.
    pub cooling_down: u64,
    /// Knocks ignored as a client's retransmission of the previous one.
    pub retransmissions: u64,
    /// Knocks a door ignored because its `Allow_From`/`Deny_From` lists do
    /// not let their source knock.
    pub not_allowed: u64,
    /// The engine's totals, as of the last [`Counters::refresh`].
    pub engine: Stats,
    /// The command runner's totals, as of the last [`Counters::refresh`].
    pub commands: CommandStats,
    /// Each door's share of the engine's events, by door name: a reload
    /// keeps a door's counts, and doors of one name share theirs.
    pub doors: BTreeMap<String, DoorCounters>,
    /// libpcap's counters of the captures closed so far (a reopened
    /// capture's own counters start from zero).
    closed_captures: CaptureTotals,
    /// libpcap's counters of the open captures, as last read.
    open_captures: CaptureTotals,
}

/// What happened on one door since knockd started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DoorCounters {
    /// Knocks that matched a stage.
    pub stage_hits: u64,
    /// Sequences completed.
    pub opens: u64,
    /// Attempts that ran out of time.
    pub timeouts: u64,
    /// Attempts ended by a wrong knock.
    pub invalidated: u64,
    /// Attempts dropped to make room (`--max-attempts`).
    pub evicted: u64,
    /// Packets ignored for their TCP flags.
    pub flags_ignored: u64,
}

/// libpcap's counters, widened so that sums over several captures do not wrap.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CaptureTotals {
    /// Packets that passed the kernel filter.
    pub received: u64,
    /// Packets the kernel dropped because the ring was full.
    pub dropped: u64,
    /// Packets dropped by the interface or its driver.
    pub interface_dropped: u64,
}

impl From<CaptureStats> for CaptureTotals {
    fn from(stats: CaptureStats) -> Self {
        CaptureTotals {
            received: stats.received.into(),
            dropped: stats.dropped.into(),
            interface_dropped: stats.interface_dropped.into(),
        }
    }
}

impl std::ops::Add for CaptureTotals {
    type Output = CaptureTotals;

    fn add(self, other: CaptureTotals) -> CaptureTotals {
        CaptureTotals {
            received: self.received + other.received,
            dropped: self.dropped + other.dropped,
            interface_dropped: self.interface_dropped + other.interface_dropped,
        }
    }
}

impl Counters {
    /// Counts a frame that did not decode.
    pub fn not_decoded(&mut self, kind: DecodeErrorKind) {
        if let Some(count) = self.not_decoded.get_mut(kind.index()) {
            *count += 1;
        }
    }

    /// Counts `event` for its door, named through `doors` (the running
    /// configuration, which events always index).
    pub fn count_door_event(&mut self, event: &Event, doors: &[RuntimeDoor]) {
        let (door, field): (usize, fn(&mut DoorCounters) -> &mut u64) = match *event {
            Event::Stage { door, .. } => (door, |c| &mut c.stage_hits),
            Event::Open { door, .. } => (door, |c| &mut c.opens),
            Event::Timeout { door, .. } => (door, |c| &mut c.timeouts),
            Event::Invalidated { door, .. } => (door, |c| &mut c.invalidated),
            Event::Evicted { door, .. } => (door, |c| &mut c.evicted),
            Event::FlagsIgnored { door, .. } => (door, |c| &mut c.flags_ignored),
            _ => return,
        };
        let Some(name) = doors.get(door).map(|d| &d.door.name) else {
            return;
        };
        // Looked up before inserting: no allocation per knock.
        match self.doors.get_mut(name) {
            Some(counters) => *field(counters) += 1,
            None => *field(self.doors.entry(name.clone()).or_default()) += 1,
        }
    }

    /// Takes in the totals kept elsewhere: the engine's, the runner's and
    /// the libpcap counters of the open captures, summed.
    pub fn refresh(&mut self, engine: Stats, commands: CommandStats, captures: CaptureTotals) {
        self.engine = engine;
        self.commands = commands;
        self.open_captures = captures;
    }

    /// A capture is gone: its last counters join the closed ones.
    pub fn capture_closed(&mut self, last: CaptureTotals) {
        self.closed_captures = self.closed_captures + last;
    }

    /// libpcap's counters over every capture since start.
    pub fn capture(&self) -> CaptureTotals {
        self.closed_captures + self.open_captures
    }

    /// Writes the counters as `-v` lines (`counters: packets: ...`).
    pub fn report(&self, log: &mut Logger) {
        let not_decoded: u64 = self.not_decoded.iter().sum();
        log.emit(&ControlMessage::Counters(&format_args!(
            "packets: {} captured, {not_decoded} not decoded{}",
            self.frames,
            NotDecoded(&self.not_decoded),
        )));
        let capture = self.capture();
        log.emit(&ControlMessage::Counters(&format_args!(
            "capture: {} received, {} dropped by the kernel, {} by the interface",
            capture.received, capture.dropped, capture.interface_dropped
        )));
        let engine = &self.engine;
        log.emit(&ControlMessage::Counters(&format_args!(
            "knocks: {} stage hits, {} resent, {} captured twice, {} ignored for their flags, \
             {} while cooling down, {} from sources not allowed, {} from sources that cannot knock; \
             attempts: {} started, \
             {} opened, {} invalidated, {} timed out, {} evicted",
            self.stage_hits,
            self.retransmissions,
            engine.copies,
            self.flags_ignored,
            self.cooling_down,
            self.not_allowed,
            engine.refused_sources,
            engine.created,
            engine.opened,
            engine.invalidated,
            engine.timed_out,
            engine.evicted
        )));
        let commands = &self.commands;
        log.emit(&ControlMessage::Counters(&format_args!(
            "commands: {} run, {} failed, {} dropped",
            commands.run, commands.failed, commands.dropped
        )));
    }
}

/// ` (3 unsupported, 1 truncated)`: the kinds that occurred, or nothing.
struct NotDecoded<'a>(&'a [u64; DecodeErrorKind::ALL.len()]);

impl fmt::Display for NotDecoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds = DecodeErrorKind::ALL
            .iter()
            .zip(self.0)
            .filter(|(_, &count)| count > 0)
            .peekable();
        if kinds.peek().is_none() {
            return Ok(());
        }
        f.write_str(" (")?;
        let mut first = true;
        for (kind, count) in kinds {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{count} {}", kind.name())?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testing::capture;

    #[test]
    fn capture_counters_add_up_over_reopened_captures() {
        let mut counters = Counters::default();
        let stats = |received, dropped| {
            CaptureTotals::from(CaptureStats {
                received,
                dropped,
                interface_dropped: 0,
            })
        };
        counters.capture_closed(stats(10, 1));
        counters.refresh(
            Stats::default(),
            CommandStats::default(),
            stats(u32::MAX, 2),
        );
        assert_eq!(
            counters.capture(),
            CaptureTotals {
                received: 10 + u64::from(u32::MAX),
                dropped: 3,
                interface_dropped: 0
            }
        );
    }

    #[test]
    fn door_events_count_for_their_door_by_name() {
        use knock_proto::Sequence;
        use knockd_core::config::{Door, SequenceSource};
        let door = |name: &str| RuntimeDoor {
            door: Door::new(name, SequenceSource::Fixed(Sequence::parse("1,2").unwrap())),
            one_time: None,
            rotating: None,
        };
        let doors = [door("a"), door("b"), door("a")];
        let source = "198.18.0.2".parse().unwrap();
        let mut counters = Counters::default();
        for event in [
            Event::Stage {
                source,
                door: 0,
                stage: 1,
            },
            Event::Stage {
                source,
                door: 2,
                stage: 1,
            },
            Event::Open { source, door: 1 },
            Event::Timeout {
                source,
                door: 1,
                stage: 1,
            },
            Event::SourceRefused { source },
            Event::Stage {
                source,
                door: 9,
                stage: 1,
            },
        ] {
            counters.count_door_event(&event, &doors);
        }
        let a = DoorCounters {
            stage_hits: 2,
            ..DoorCounters::default()
        };
        let b = DoorCounters {
            opens: 1,
            timeouts: 1,
            ..DoorCounters::default()
        };
        assert_eq!(counters.doors.len(), 2);
        assert_eq!(counters.doors["a"], a);
        assert_eq!(counters.doors["b"], b);
    }

    #[test]
    fn the_report_names_every_counter() {
        let (mut logger, captured) = capture(true, false);
        let mut counters = Counters {
            frames: 7,
            stage_hits: 4,
            ..Counters::default()
        };
        counters.not_decoded(DecodeErrorKind::Unsupported);
        counters.not_decoded(DecodeErrorKind::Truncated);
        counters.not_decoded(DecodeErrorKind::Unsupported);
        counters.engine.opened = 1;
        counters.commands.run = 2;
        counters.report(&mut logger);
        assert_eq!(
            captured.stdout.text(),
            "counters: packets: 7 captured, 3 not decoded (1 truncated, 2 unsupported)\n\
             counters: capture: 0 received, 0 dropped by the kernel, 0 by the interface\n\
             counters: knocks: 4 stage hits, 0 resent, 0 captured twice, 0 ignored for their \
             flags, 0 while cooling down, 0 from sources not allowed, 0 from sources that cannot \
             knock; attempts: 0 started, 1 opened, 0 invalidated, 0 timed out, 0 evicted\n\
             counters: commands: 2 run, 0 failed, 0 dropped\n"
        );
        assert_eq!(captured.log_lines(), Vec::<String>::new(), "-v only");
    }
}
