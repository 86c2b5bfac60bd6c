//! The book of open doors: which doors are open for whom, the caps on them
//! (`Max_Open`, `--max-open`), and the ledger that keeps them across a crash.
//!
//! A door is in the book from the moment a start command with a stop command
//! is accepted until that stop command has started (or the start never
//! could). The runner asks the book whether a knock may open a door
//! ([`DoorBook::opening`]) and tells it of every door it opens and closes;
//! the book writes each change to the ledger when there is one.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use knockd_core::config::Door;
use knockd_core::sources::Cidr;

use super::{Knocker, Opening, PendingStop};
use crate::ledger::{Entry, Ledger};
use crate::log::{LedgerMessage, Logger};

/// Doors open now: a start with a stop command accepted and its stop not yet
/// run. Counted per (door, network) for `Refresh` and per door for
/// `Max_Open`; the network is the knocker alone unless the door has
/// `Open_Prefix4`/`Open_Prefix6`.
#[derive(Debug, Default)]
struct OpenDoors {
    pairs: HashMap<(String, Cidr), usize>,
    per_door: HashMap<String, usize>,
    total: usize,
}

impl OpenDoors {
    fn add(&mut self, door: &str, network: Cidr) {
        *self.pairs.entry((door.to_owned(), network)).or_default() += 1;
        *self.per_door.entry(door.to_owned()).or_default() += 1;
        self.total += 1;
    }

    fn remove(&mut self, door: &str, network: Cidr) {
        let key = (door.to_owned(), network);
        if let Some(count) = self.pairs.get_mut(&key) {
            *count -= 1;
            if *count == 0 {
                self.pairs.remove(&key);
            }
            if let Some(count) = self.per_door.get_mut(door) {
                *count -= 1;
                if *count == 0 {
                    self.per_door.remove(door);
                }
            }
            self.total -= 1;
        }
    }

    fn is_open(&self, door: &str, network: Cidr) -> bool {
        self.pairs.contains_key(&(door.to_owned(), network))
    }

    fn count(&self, door: &str) -> usize {
        self.per_door.get(door).copied().unwrap_or(0)
    }
}

/// Doors open now, capped, and recorded in the ledger when there is one.
#[derive(Debug)]
pub(super) struct DoorBook {
    open: OpenDoors,
    /// Most doors with a stop command open at once (`--max-open`).
    max_open: usize,
    ledger: Option<Ledger>,
}

impl DoorBook {
    /// An empty book, recording doors in `ledger` when there is one.
    pub(super) fn new(max_open: usize, ledger: Option<Ledger>) -> Self {
        DoorBook {
            open: OpenDoors::default(),
            max_open,
            ledger,
        }
    }

    /// How many doors are open now.
    pub(super) fn total(&self) -> usize {
        self.open.total
    }

    /// The ledger, if doors are recorded in one.
    pub(super) fn ledger_mut(&mut self) -> Option<&mut Ledger> {
        self.ledger.as_mut()
    }

    /// See [`super::CommandRunner::opening`].
    pub(super) fn opening(&self, door: &Door, network: Cidr) -> Opening {
        if door.stop_command_for(network.network().is_ipv6()).is_none() {
            return Opening::Open;
        }
        if door.refresh && self.open.is_open(&door.name, network) {
            return Opening::Extend;
        }
        if let Some(max) = door
            .max_open
            .filter(|&max| self.open.count(&door.name) >= max)
        {
            return Opening::DoorFull { max };
        }
        if self.open.total >= self.max_open {
            return Opening::AllFull { max: self.max_open };
        }
        Opening::Open
    }

    /// `door` opened for `network`: its start command with a stop command was accepted.
    pub(super) fn add(&mut self, door: &str, network: Cidr) {
        self.open.add(door, network);
    }

    /// `door` closed for `network`: its stop command started, or its start
    /// command never will.
    pub(super) fn remove(&mut self, door: &str, network: Cidr) {
        self.open.remove(door, network);
    }

    /// Records in the ledger, before its start command runs, that `door` is
    /// open for `network` until `stop` runs `cmd_timeout` from now; returns the
    /// record's id, or `None` without a ledger or when the write failed.
    pub(super) fn record_open(
        &mut self,
        door: &str,
        network: Cidr,
        stop: &str,
        cmd_timeout: Duration,
        log: &mut Logger,
    ) -> Option<u64> {
        let ledger = self.ledger.as_mut()?;
        let recorded = ledger.record_open(door, network, stop, wall_deadline(cmd_timeout));
        // A door whose record cannot be written still opens: knockd
        // never locks its admin out; it only would not survive a crash.
        recorded
            .map_err(|error| log.emit(&LedgerMessage::LedgerWriteFailed { error: &error }))
            .ok()
    }

    /// Moves the deadline of record `ledger_id` to `cmd_timeout` from now.
    pub(super) fn record_extend(
        &mut self,
        ledger_id: Option<u64>,
        cmd_timeout: Duration,
        log: &mut Logger,
    ) {
        if let (Some(ledger), Some(id)) = (self.ledger.as_mut(), ledger_id) {
            let deadline = wall_deadline(cmd_timeout);
            if let Err(error) = ledger.record_extend(id, deadline) {
                log.emit(&LedgerMessage::LedgerWriteFailed { error: &error });
            }
        }
    }

    /// Marks record `ledger_id` done: its stop command has run, or its start
    /// command never did.
    pub(super) fn record_close(&mut self, ledger_id: Option<u64>, log: &mut Logger) {
        if let (Some(ledger), Some(id)) = (self.ledger.as_mut(), ledger_id) {
            if let Err(error) = ledger.record_close(id) {
                log.emit(&LedgerMessage::LedgerWriteFailed { error: &error });
            }
        }
    }

    /// Takes the doors a previous run left open back into the book, each
    /// with its log line, and returns their stop commands for the runner to
    /// schedule: due now for a door past its deadline, else when it comes.
    /// `now` and `wall` are the same moment on the two clocks.
    pub(super) fn recover(
        &mut self,
        pending: Vec<Entry>,
        now: Instant,
        wall: SystemTime,
        log: &mut Logger,
    ) -> Vec<PendingStop> {
        pending
            .into_iter()
            .map(|entry| {
                let knocker = Knocker {
                    addr: entry.source.network(),
                    host: None,
                    network: entry.source,
                };
                let left = entry.deadline.duration_since(wall).unwrap_or_default();
                let source = knocker.source();
                if left.is_zero() {
                    log.emit(&LedgerMessage::ClosingLeftOpen {
                        source,
                        door: &entry.door,
                    });
                } else {
                    log.emit(&LedgerMessage::LeftOpenRearmed {
                        source,
                        door: &entry.door,
                        left,
                    });
                }
                self.open.add(&entry.door, entry.source);
                PendingStop {
                    due: now.checked_add(left),
                    after: None,
                    door: entry.door,
                    knocker,
                    command: entry.stop,
                    ledger_id: Some(entry.id),
                    announce: !left.is_zero(),
                }
            })
            .collect()
    }
}

/// The wall-clock time `cmd_timeout` from now, for the ledger.
fn wall_deadline(cmd_timeout: Duration) -> SystemTime {
    let now = SystemTime::now();
    now.checked_add(cmd_timeout).unwrap_or(now)
}
