//! The server's side of the control socket: answering `knockd status` and
//! `knockd close` from the loop's own state, and SIGUSR1's status in the log.

use std::net::IpAddr;
use std::time::Instant;

use knockd_core::wire::DecodeErrorKind;

use knockd_core::privsep::WatcherRequest;

use super::{OpenerSide, Server};
use crate::commands::{CommandStats, OpenDoor};
use crate::control::protocol::{self, Format, Request};
use crate::control::status::{
    CaptureStatus, DoorStatus, DoorTotals, InterfaceStatus, OpenStatus, SequenceStatus, Status,
    Totals,
};
use crate::control::{names, prometheus, text};
use crate::counters::{CaptureTotals, Counters, DoorCounters};
use crate::log::ControlMessage;
use crate::opener::Report;
use crate::step_windows;

impl Server {
    /// Serves the control socket after a poll: `ready` has one flag per
    /// descriptor of [`ControlSocket::poll_fds`], in order. Complete
    /// requests wait for the opener's report (the open doors), which an
    /// opener in this process gives at once.
    pub(super) fn serve_control(&mut self, ready: &[bool], now: Instant) {
        let Some(socket) = self.control.socket.as_mut() else {
            return;
        };
        for (client, request) in socket.serve(ready, now) {
            match request {
                Ok(request) => self.opener_state.waiting.push((client, request)),
                Err(why) => socket.reply(client, protocol::error(&why), Instant::now()),
            }
        }
        if !self.opener_state.waiting.is_empty() {
            self.ask_report();
        }
    }

    /// Answers the control requests waiting for `report`.
    pub(super) fn answer_waiting(&mut self, report: &Report) {
        for (client, request) in std::mem::take(&mut self.opener_state.waiting) {
            let reply = self.answer(&request, report);
            if let Some(socket) = self.control.socket.as_mut() {
                socket.reply(client, reply, Instant::now());
            }
        }
    }

    /// SIGUSR1 with the opener in this process: its report, then the status.
    pub(super) fn log_own_status(&mut self) {
        if let OpenerSide::Here(here) = &mut self.side {
            let report = here.opener.report(Instant::now());
            self.log_status(&report);
        }
    }

    /// SIGUSR1: the status table, line by line, in the log, fixed
    /// sequences as their kind and length only (the log is more widely
    /// readable than the socket).
    pub(super) fn log_status(&mut self, report: &Report) {
        let status = self.status_snapshot(Instant::now(), report);
        for line in text::render_with(&status, text::Sequences::Hidden).lines() {
            self.logger.emit(&ControlMessage::Status(&line));
        }
    }

    fn answer(&mut self, request: &Request, report: &Report) -> Vec<u8> {
        let now = Instant::now();
        match request {
            Request::Status { format, door } => {
                let mut status = self.status_snapshot(now, report);
                if let Some(door) = door {
                    // The status holds the names as printed.
                    let door = names::shown(door);
                    if !status.only_door(&door) {
                        return protocol::error(&format!("no door named \"{door}\""));
                    }
                }
                protocol::ok(&match format {
                    Format::Text => text::render(&status),
                    Format::Json => status.to_json(),
                    Format::Prometheus => prometheus::render(&status),
                })
            }
            Request::Close { door, source } => self.close(door, *source, &report.open),
            Request::CloseAll => {
                self.ask(WatcherRequest::CloseAll);
                protocol::ok(&format!("closing {} door(s)\n", report.open.len()))
            }
        }
    }

    /// `knockd close DOOR SOURCE`: the door named `asked` (by its bytes or
    /// as printed), which `open` lists, closes for `source` (or the network
    /// it is open for that holds `source`) now.
    fn close(&mut self, asked: &str, source: IpAddr, open: &[OpenDoor]) -> Vec<u8> {
        let found =
            (open.iter()).find(|o| o.network.contains(source) && names::names(&o.door, asked));
        let Some(door) = found.map(|o| o.door.clone()) else {
            let shown = names::shown(asked);
            let known = (self.setup.loaded.doors.iter())
                .any(|runtime| names::names(&runtime.door.name, asked));
            return protocol::error(
                &if known || open.iter().any(|o| names::names(&o.door, asked)) {
                    format!("door \"{shown}\" is not open for {source}")
                } else {
                    format!(
                        "no door named \"{shown}\" (a byte that is not UTF-8 is written \\xHH, as \
                     knockd status prints it)"
                    )
                },
            );
        };
        let reply = protocol::ok(&format!("closing {} for {source}\n", names::shown(&door)));
        self.ask(WatcherRequest::Close { door, source });
        reply
    }

    /// The status as of `now`, with libpcap's counters read afresh.
    fn status_snapshot(&mut self, now: Instant, report: &Report) -> Status {
        self.opener_state.commands = report.stats;
        self.refresh_counters();
        let open = &report.open;
        let unix = step_windows::unix_now();
        let doors = self.door_statuses(report, unix);
        Status {
            version: env!("CARGO_PKG_VERSION"),
            pid: self.control.pid,
            uptime_seconds: now
                .saturating_duration_since(self.control.started)
                .as_secs(),
            interfaces: (self.listeners.iter())
                .map(|c| InterfaceStatus {
                    name: c.interface.clone(),
                    link_type: c.link.to_string(),
                    capturing: c.capture.is_some(),
                    addresses: c.addrs.clone(),
                })
                .collect(),
            addresses: self.local_addrs.clone(),
            doors,
            totals: self.totals(open.len()),
            capture: capture_status(&self.counters),
        }
    }

    /// Each door's sequence (at Unix second `unix`), attempts, openings
    /// (the doors `report` lists open) and counters.
    fn door_statuses(&self, report: &Report, unix: u64) -> Vec<DoorStatus> {
        let counters = &self.counters;
        (self.setup.loaded.doors.iter().enumerate())
            .map(|(index, runtime)| {
                let name = &runtime.door.name;
                let door = counters.doors.get(name).copied().unwrap_or_default();
                let commands = report.door_stats(name);
                DoorStatus {
                    name: names::shown(name).into_owned(),
                    sequence: SequenceStatus::of(runtime, unix),
                    attempts_by_stage: self.engine.attempts_by_stage(index),
                    open: (report.open.iter())
                        .filter(|o| &o.door == name)
                        .map(|o| OpenStatus {
                            source: o.source,
                            network: o.network,
                            closes_in_seconds: o.closes_in.map(|d| d.as_secs_f64()),
                            nft_set: o.nft_set.clone(),
                        })
                        .collect(),
                    counters: door_totals(door, commands),
                }
            })
            .collect()
    }

    /// The counters of all doors together, with `doors_open` doors open now.
    fn totals(&self, doors_open: usize) -> Totals {
        let counters = &self.counters;
        let engine = counters.engine;
        let commands = counters.commands;
        Totals {
            doors: DoorTotals {
                knocks: DoorCounters {
                    stage_hits: counters.stage_hits,
                    opens: engine.opened,
                    timeouts: engine.timed_out,
                    invalidated: engine.invalidated,
                    evicted: engine.evicted,
                    flags_ignored: counters.flags_ignored,
                },
                commands_run: commands.run,
                commands_failed: commands.failed,
                commands_dropped: commands.dropped,
            },
            retransmissions: counters.retransmissions,
            cooling_down: counters.cooling_down,
            not_allowed: counters.not_allowed,
            refused_sources: engine.refused_sources,
            copies: engine.copies,
            attempts_started: engine.created,
            attempts_in_progress: self.engine.attempts(),
            doors_open,
        }
    }

    /// Reads libpcap's counters of every open capture and the engine's and
    /// commands' counters into [`Counters`].
    pub(super) fn refresh_counters(&mut self) {
        let mut open = CaptureTotals::default();
        for slot in &mut self.listeners {
            slot.read_stats();
            open = open + slot.stats;
        }
        self.counters
            .refresh(self.engine.stats(), self.opener_state.commands, open);
    }
}

/// What the captures saw: frames, how many decoded and why the others did
/// not, and libpcap's counters.
fn capture_status(counters: &Counters) -> CaptureStatus {
    let not_decoded_total: u64 = counters.not_decoded.iter().sum();
    let capture = counters.capture();
    CaptureStatus {
        packets: counters.frames,
        decoded: counters.frames.saturating_sub(not_decoded_total),
        not_decoded: (DecodeErrorKind::ALL.iter())
            .zip(counters.not_decoded)
            .map(|(kind, count)| (kind.name().replace(' ', "_"), count))
            .collect(),
        received: capture.received,
        kernel_dropped: capture.dropped,
        interface_dropped: capture.interface_dropped,
    }
}

/// A door's counters as the status shows them.
fn door_totals(door: DoorCounters, commands: CommandStats) -> DoorTotals {
    DoorTotals {
        knocks: door,
        commands_run: commands.run,
        commands_failed: commands.failed,
        commands_dropped: commands.dropped,
    }
}
