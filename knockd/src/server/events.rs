//! The engine's events: log lines, counters, and the doors' commands.

use std::net::IpAddr;
use std::time::Instant;

use knockd_core::engine::Event;
use knockd_core::privsep::WatcherRequest;

use super::Server;
use crate::log::{IgnoredMessage, KnockMessage, Source};

impl Server {
    fn host(&self, source: IpAddr) -> Option<String> {
        self.resolver.as_ref().and_then(|r| r.name(source))
    }

    /// The name of door `door` of an engine event, which always names a
    /// door of the running configuration.
    fn door_name(&self, door: usize) -> String {
        let runtime = self.setup.loaded.doors.get(door);
        debug_assert!(
            runtime.is_some(),
            "event for door {door} of {}",
            self.setup.loaded.doors.len()
        );
        runtime.map(|d| d.door.name.clone()).unwrap_or_default()
    }

    /// Counts `event` and logs it, within the log budgets; an opening
    /// runs the door's command.
    pub(super) fn handle(&mut self, event: &Event) {
        self.counters
            .count_door_event(event, &self.setup.loaded.doors);
        match *event {
            Event::Stage {
                source,
                door,
                stage,
            } => self.stage(source, door, stage),
            Event::Open { source, door } => self.open(source, door),
            Event::Spent { door, step } => self.spend(door, step),
            Event::Timeout {
                source,
                door,
                stage,
            } => {
                let (host, door) = (self.host(source), self.door_name(door));
                self.logger.emit(&KnockMessage::SequenceTimeout {
                    source: Source::with_host(source, host.as_deref()),
                    door: &door,
                    stage,
                });
            }
            Event::Invalidated { source, .. } => self
                .logger
                .emit(&IgnoredMessage::RemovingFailedAttempt(source)),
            Event::FlagsIgnored {
                flag, must_be_set, ..
            } => {
                self.counters.flags_ignored += 1;
                self.logger.emit(&IgnoredMessage::FlagMismatch {
                    flag,
                    required: must_be_set,
                });
            }
            Event::Retransmission { .. } | Event::CoolingDown { .. } | Event::NotAllowed { .. } => {
                self.knock_ignored(event)
            }
            Event::SourceRefused { source } => self.source_refused(source),
            Event::Evicted { .. } => self.attempt_evicted(),
        }
    }

    /// A knock matched stage `stage` of `door`: logged, but the first
    /// stage's lines only within their budget.
    fn stage(&mut self, source: IpAddr, door: usize, stage: usize) {
        self.counters.stage_hits += 1;
        if stage == 1 && !self.budgets.stage_one.allow(Instant::now()) {
            return;
        }
        let (host, door) = (self.host(source), self.door_name(door));
        self.logger.emit(&KnockMessage::Stage {
            source: Source::with_host(source, host.as_deref()),
            door: &door,
            stage,
        });
    }

    /// A rotating door opened with the sequence of `step`, which is spent:
    /// here at once, and in the state directory by the opener.
    fn spend(&mut self, door: usize, step: u64) {
        let name = self.door_name(door);
        self.step_windows.spend(&name, step);
        self.ask(WatcherRequest::Spent {
            generation: self.opener_state.generation,
            door: door as u32,
            step,
        });
    }

    /// A knock that counts for nothing: a retransmission, one on a door
    /// cooling down, or one from a source the door does not allow (each
    /// logged with `-D`, the last once a minute per source).
    fn knock_ignored(&mut self, event: &Event) {
        match *event {
            Event::Retransmission { source, door } => {
                self.counters.retransmissions += 1;
                if self.logger.debug() {
                    let door = self.door_name(door);
                    self.logger.emit(&IgnoredMessage::Retransmission {
                        source: Source::with_host(source, None),
                        door: &door,
                    });
                }
            }
            Event::CoolingDown { source, door } => {
                self.counters.cooling_down += 1;
                if self.logger.debug() {
                    let door = self.door_name(door);
                    self.logger.emit(&IgnoredMessage::CoolingDown {
                        source: Source::with_host(source, None),
                        door: &door,
                    });
                }
            }
            Event::NotAllowed { source, door } => {
                self.counters.not_allowed += 1;
                if self.logger.debug() && self.budgets.not_allowed.allow(source, Instant::now()) {
                    let door = self.door_name(door);
                    self.logger.emit(&IgnoredMessage::NotAllowed {
                        source: Source::with_host(source, None),
                        door: &door,
                    });
                }
            }
            // `handle` passes only the three above.
            _ => {}
        }
    }

    /// A knock came from a source that cannot knock (one that on the wire
    /// can only be spoofed): one line a minute, the rest summed up.
    fn source_refused(&mut self, source: IpAddr) {
        self.budgets.last_refused = Some(source);
        if self.budgets.refused_sources.allow(Instant::now()) {
            self.logger.emit(&IgnoredMessage::SourcesRefused {
                count: 1,
                last: source,
            });
        }
    }

    /// An attempt was evicted to make room: one line a second, the rest
    /// summed up.
    fn attempt_evicted(&mut self) {
        if self.budgets.evictions.allow(Instant::now()) {
            self.logger.emit(&KnockMessage::AttemptsEvicted {
                count: 1,
                max: self.setup.args.max_attempts as usize,
            });
        }
    }

    /// `addr` completed `door`'s sequence: the opener decides the rest
    /// (OPEN SESAME, a refresh, or a cap refusing it) and runs the command.
    fn open(&mut self, addr: IpAddr, door: usize) {
        let host = self.host(addr);
        self.ask(WatcherRequest::Open {
            generation: self.opener_state.generation,
            door: door as u32,
            source: addr,
            host,
        });
    }
}
