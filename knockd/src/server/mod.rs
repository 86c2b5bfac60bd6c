//! The daemon's poll loop over the capture descriptors (one per interface),
//! the address watch, the signal pipe and the timers of the engine, the
//! command runner, the counters and systemd's watchdog ([`Notifier`]).
//!
//! Everything that changes state happens here, in the loop: packets are
//! decoded and fed to the engine, engine events become log lines and
//! commands, SIGHUP reloads, SIGTERM/SIGINT shut down, the control socket
//! answers `knockd status` and `knockd close` ([`control`]). Nothing runs in signal
//! context and nothing blocks: capture is nonblocking, commands are reaped
//! with `try_wait`, and reverse lookups (`-l`) happen on a worker thread.
//! [`startup`] builds the server.

mod captures;
mod control;
mod reloader;
mod startup;

use std::io;
use std::net::IpAddr;
use std::os::fd::BorrowedFd;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use knock_proto::{io_message, Sequence};
use knockd_core::doors::{Loaded, RuntimeDoor};
use knockd_core::engine::{Engine, Event};
use knockd_core::filter;
use knockd_core::wire::{self, DecodeError};
use knockd_core::Packet;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::address_watch::AddressWatch;
use crate::capture::{Capture, CaptureError};
use crate::commands::{CommandRunner, Opening};
use crate::control::Control;
use crate::counters::{CaptureTotals, Counters};
use crate::daemon::PidFile;
use crate::interfaces;
use crate::log::{Logger, Message, OpenCap, Source};
use crate::notify::{Notifier, Status};
use crate::resolver::Resolver;
use crate::rotation::{self, Rotations};
use crate::setup::{filter_doors, Setup};
use crate::signals::{Pending, Signals};
use crate::throttle::{LineBudget, OncePerSource};
use captures::InterfaceCapture;
use reloader::{Loading, Reloader};

/// How many packets one wake-up reads at most before timers and signals get a turn.
const BATCH: usize = 256;
/// How long shutdown waits for commands (stop commands included) to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// On `-i any` or several interfaces, how close a second capture of one
/// knock comes after the first.
const COPY_WINDOW: Duration = Duration::from_millis(20);
/// Stage 1 lines logged per second at most; under a flood of first knocks
/// the rest are summed up in one line a second.
const STAGE_ONE_LINES_PER_SECOND: u64 = 100;
/// Most sources a minute whose knocks are logged as not allowed (`-D`).
const NOT_ALLOWED_SOURCES_LOGGED: usize = 1024;

/// The log line budgets: evictions once a second, refused sources once a
/// minute (`-D`), Stage 1 lines [`STAGE_ONE_LINES_PER_SECOND`], sources
/// not allowed on a door once a minute each (`-D`).
struct Budgets {
    evictions: LineBudget,
    refused_sources: LineBudget,
    /// The last source refused, for the summary line.
    last_refused: Option<IpAddr>,
    stage_one: LineBudget,
    not_allowed: OncePerSource,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            evictions: LineBudget::new(1, Duration::from_secs(1)),
            refused_sources: LineBudget::new(1, Duration::from_secs(60)),
            last_refused: None,
            stage_one: LineBudget::new(STAGE_ONE_LINES_PER_SECOND, Duration::from_secs(1)),
            not_allowed: OncePerSource::new(Duration::from_secs(60), NOT_ALLOWED_SOURCES_LOGGED),
        }
    }
}

impl Budgets {
    fn deadline(&self) -> Option<Instant> {
        [
            self.evictions.deadline(),
            self.refused_sources.deadline(),
            self.stage_one.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Logs the summaries of the lines held back in intervals that have ended.
    fn summarize(&mut self, now: Instant, max_attempts: usize, logger: &mut Logger) {
        if let Some(count) = self.evictions.take_held(now) {
            logger.emit(&Message::AttemptsEvicted {
                count,
                max: max_attempts,
            });
        }
        if let (Some(count), Some(last)) = (self.refused_sources.take_held(now), self.last_refused)
        {
            logger.emit(&Message::SourcesRefused { count, last });
        }
        if let Some(count) = self.stage_one.take_held(now) {
            logger.emit(&Message::StageOneSuppressed { count });
        }
    }
}

/// A started daemon: run it with [`Server::run`].
pub struct Server {
    setup: Setup,
    /// One capture per interface, in the order given; see [`Server::capture_lost`].
    captures: Vec<InterfaceCapture>,
    /// The addresses of every interface: what doors without a Target are
    /// knocked on (a host accepts a packet to any of its addresses on any
    /// of its interfaces).
    local_addrs: Vec<IpAddr>,
    /// Wakes the loop when the addresses may have changed (`None` if it
    /// could not be set up).
    address_watch: Option<AddressWatch>,
    logger: Logger,
    engine: Engine,
    runner: CommandRunner,
    resolver: Option<Resolver>,
    signals: Signals,
    reloader: Reloader,
    /// Held only to be removed when the server is dropped.
    _pid_file: Option<PidFile>,
    counters: Counters,
    /// The control socket (`knockd status`, `knockd close`).
    control: Control,
    /// Budgets of the log lines a flood could multiply.
    budgets: Budgets,
    /// systemd's notifications (readiness, watchdog), when run by it.
    notifier: Notifier,
    batch: Vec<(SystemTime, Result<Packet, DecodeError>, u32)>,
    events: Vec<Event>,
    /// The rotating doors' windows and spent steps.
    rotations: Rotations,
}

impl Server {
    /// Runs the loop until SIGTERM or SIGINT; returns the exit status.
    pub fn run(mut self) -> ExitCode {
        self.notifier.ready(self.status(), Instant::now());
        loop {
            let now = Instant::now();
            let timeout = [
                self.engine.next_deadline(),
                self.runner.next_deadline(),
                self.budgets.deadline(),
                self.address_watch.as_ref().and_then(AddressWatch::deadline),
                self.rotations.deadline(now),
                self.notifier.deadline(),
                self.control.deadline(),
            ]
            .into_iter()
            .chain(self.captures.iter().map(|c| c.retry))
            .flatten()
            .min()
            .map(|deadline| deadline.saturating_duration_since(now));
            let capture_fds: Vec<_> = self.captures.iter().map(InterfaceCapture::fd).collect();
            let watch_fd = self.address_watch.as_ref().and_then(AddressWatch::fd);
            let control_fds = self.control.poll_fds();
            let ready = wait(
                Fds {
                    captures: &capture_fds,
                    addresses: watch_fd,
                    signals: self.signals.fd(),
                    reload: self.reloader.fd(),
                    control: &control_fds,
                },
                timeout,
            );
            let ready = ready.unwrap_or_else(|e| {
                self.logger
                    .emit(&Message::Error(&format_args!("poll: {}", io_message(&e))));
                Ready {
                    signals: true,
                    ..Ready::default()
                }
            });
            let signal_ready = ready.signals;
            for index in ready.captures_ready() {
                if let Err(e) = self.read_packets(index) {
                    self.capture_lost(index, &e);
                }
            }
            let now = Instant::now();
            for index in 0..self.captures.len() {
                if self
                    .captures
                    .get(index)
                    .and_then(|c| c.retry)
                    .is_some_and(|at| at <= now)
                {
                    self.reopen_capture(index, now);
                }
            }
            let watch_due = ready.addresses
                || (self.address_watch.as_ref())
                    .and_then(AddressWatch::deadline)
                    .is_some_and(|at| at <= now);
            if watch_due && self.address_watch.as_mut().is_some_and(|w| w.take(now)) {
                self.follow_addresses();
            }
            self.engine.on_timer(now, &mut self.events);
            self.handle_events();
            if self.rotations.is_due() {
                self.rotate(now);
            }
            let max_attempts = self.setup.args.max_attempts as usize;
            self.budgets.summarize(now, max_attempts, &mut self.logger);
            // Drain the signal pipe before reaping: a command that reaping
            // starts may exit at once, and its SIGCHLD wake-up must stay in
            // the pipe for the next poll rather than be drained unseen.
            let pending = if signal_ready {
                self.signals.take()
            } else {
                Pending::default()
            };
            self.runner.on_timer(now, &mut self.logger);
            self.runner.reap(now, &mut self.logger);
            if pending.shutdown {
                return self.shut_down();
            }
            if pending.reload {
                self.request_reload();
            }
            if pending.status {
                self.log_status();
            }
            self.serve_control(&ready.control, Instant::now());
            if ready.reload {
                if let Some(loading) = self.reloader.take() {
                    self.reload(loading);
                    if !self.reloader.busy() {
                        self.notifier.ready(self.status(), Instant::now());
                    }
                }
            }
            let status = self.status();
            self.notifier.on_timer(Instant::now(), status);
            // Before sleeping in poll: what this wake-up logged reaches the file.
            self.logger.flush();
        }
    }

    /// Reads what capture `index` has, then feeds each decoded packet to the
    /// engine and handles its events before the next packet, so debug packet
    /// lines and the log lines they cause interleave as in 0.8.
    fn read_packets(&mut self, index: usize) -> Result<(), CaptureError> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let Some(slot) = self.captures.get_mut(index) else {
            return Ok(());
        };
        let link = slot.link;
        // Knocks from the host itself are real only where it sees itself.
        self.engine
            .set_loopback_capture(slot.sees_the_host_itself());
        let mut batch = std::mem::take(&mut self.batch);
        let read = match slot.capture.as_mut() {
            Some(capture) => capture.read_available(BATCH, |timestamp, wire_len, frame| {
                batch.push((timestamp, wire::decode(link, frame), wire_len));
            }),
            None => Ok(0),
        };
        self.counters.frames += batch.len() as u64;
        for (timestamp, decoded, wire_len) in batch.drain(..) {
            let packet = match decoded {
                Ok(packet) => packet,
                Err(e) => {
                    // Never trusted, never fatal: 0.8's `packet is not IPv4 or IPv6, ignoring...`.
                    self.counters.not_decoded(e.kind());
                    self.logger
                        .emit(&Message::Debug(&format_args!("ignoring packet: {e}")));
                    continue;
                }
            };
            if self.logger.debug() {
                self.logger.emit(&Message::Packet {
                    time: timestamp,
                    packet: &packet,
                    wire_len,
                });
            }
            self.engine
                .on_packet(&packet, instant_of(timestamp, wall, now), &mut self.events);
            self.handle_events();
        }
        self.batch = batch;
        read.map(drop)
    }

    fn handle_events(&mut self) {
        let events = std::mem::take(&mut self.events);
        for event in &events {
            self.handle(event);
        }
        self.events = events;
        self.events.clear();
    }

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

    fn handle(&mut self, event: &Event) {
        self.counters
            .count_door_event(event, &self.setup.loaded.doors);
        match *event {
            Event::Stage {
                source,
                door,
                stage,
            } => {
                self.counters.stage_hits += 1;
                if stage == 1 && !self.budgets.stage_one.allow(Instant::now()) {
                    return;
                }
                let (host, door) = (self.host(source), self.door_name(door));
                self.logger.emit(&Message::Stage {
                    source: Source::with_host(source, host.as_deref()),
                    door: &door,
                    stage,
                });
            }
            Event::Open { source, door } => self.open(source, door),
            Event::Spent { door, step } => {
                let name = self.door_name(door);
                if let Err(error) = self.rotations.spend(&name, step) {
                    self.logger.emit(&Message::Error(&format_args!(
                        "{name}: cannot record spent step {step} in the state directory ({}); \
                         it is spent until knockd restarts",
                        io_message(&error)
                    )));
                }
            }
            Event::Timeout {
                source,
                door,
                stage,
            } => {
                let (host, door) = (self.host(source), self.door_name(door));
                self.logger.emit(&Message::SequenceTimeout {
                    source: Source::with_host(source, host.as_deref()),
                    door: &door,
                    stage,
                });
            }
            Event::Invalidated { source, .. } => {
                self.logger.emit(&Message::RemovingFailedAttempt(source))
            }
            Event::FlagsIgnored {
                flag, must_be_set, ..
            } => {
                self.counters.flags_ignored += 1;
                self.logger.emit(&Message::FlagMismatch {
                    flag,
                    required: must_be_set,
                });
            }
            Event::Retransmission { source, door } => {
                self.counters.retransmissions += 1;
                if self.logger.debug() {
                    let door = self.door_name(door);
                    self.logger.emit(&Message::Retransmission {
                        source: Source::with_host(source, None),
                        door: &door,
                    });
                }
            }
            Event::CoolingDown { source, door } => {
                self.counters.cooling_down += 1;
                if self.logger.debug() {
                    let door = self.door_name(door);
                    self.logger.emit(&Message::CoolingDown {
                        source: Source::with_host(source, None),
                        door: &door,
                    });
                }
            }
            Event::NotAllowed { source, door } => {
                self.counters.not_allowed += 1;
                if self.logger.debug() && self.budgets.not_allowed.allow(source, Instant::now()) {
                    let door = self.door_name(door);
                    self.logger.emit(&Message::NotAllowed {
                        source: Source::with_host(source, None),
                        door: &door,
                    });
                }
            }
            Event::SourceRefused { source } => {
                self.budgets.last_refused = Some(source);
                if self.budgets.refused_sources.allow(Instant::now()) {
                    self.logger.emit(&Message::SourcesRefused {
                        count: 1,
                        last: source,
                    });
                }
            }
            Event::Evicted { .. } => {
                if self.budgets.evictions.allow(Instant::now()) {
                    self.logger.emit(&Message::AttemptsEvicted {
                        count: 1,
                        max: self.setup.args.max_attempts as usize,
                    });
                }
            }
        }
    }

    /// OPEN SESAME, unless a cap on open doors refuses it or a refreshing
    /// door only moves its stop. A one-time door's sequence is marked used on
    /// disk first, and the door opens only if that worked, so a crash can
    /// never let the same sequence in twice.
    fn open(&mut self, addr: IpAddr, door: usize) {
        let host = self.host(addr);
        let source = Source::with_host(addr, host.as_deref());
        let Some(runtime) = self.setup.loaded.doors.get_mut(door) else {
            return;
        };
        let name = runtime.door.name.clone();
        let now = Instant::now();
        let cap = match self.runner.opening(&runtime.door, addr) {
            Opening::Open => None,
            Opening::Extend => {
                self.logger.emit(&Message::OpenSesameExtended {
                    source,
                    door: &name,
                });
                self.runner
                    .extend(&runtime.door, addr, now, &mut self.logger);
                return;
            }
            Opening::DoorFull { max } => Some(OpenCap::Door(max)),
            Opening::AllFull { max } => Some(OpenCap::All(max)),
        };
        if let Some(cap) = cap {
            self.logger.emit(&Message::OpenRefused {
                source,
                door: &name,
                cap,
            });
            return;
        }
        let Some(file) = runtime.one_time.as_mut() else {
            self.logger.emit(&Message::OpenSesame {
                source,
                door: &name,
            });
            self.runner
                .open_door(&runtime.door, source, now, &mut self.logger);
            return;
        };
        let consumed = file.consume();
        let next = file.active().cloned();
        match consumed {
            Ok(()) => {
                self.logger.emit(&Message::OpenSesame {
                    source,
                    door: &name,
                });
                self.runner
                    .open_door(&runtime.door, source, now, &mut self.logger);
                match &next {
                    Some(sequence) => self.logger.emit(&Message::OneTimeNext {
                        door: &name,
                        sequence,
                    }),
                    None => self.logger.emit(&Message::OneTimeExhausted { door: &name }),
                }
            }
            Err(e) => {
                self.logger.emit(&Message::Error(&e));
                self.logger
                    .emit(&Message::OneTimeUpdateFailed { door: &name });
            }
        }
        self.rearm(door, next);
    }

    /// Installs the rotating doors' windows for the step now current, and
    /// the filter for their sequences. Attempts in progress keep their step.
    fn rotate(&mut self, now: Instant) {
        let doors = &self.setup.loaded.doors;
        self.rotations
            .install(&mut self.engine, doors, rotation::unix_now(), now);
        self.reinstall_filter();
    }

    /// Arms a one-time door with its next sequence (or disables it) and
    /// rebuilds the filter for both address families.
    fn rearm(&mut self, door: usize, next: Option<Sequence>) {
        self.engine.set_sequence(door, next);
        self.reinstall_filter();
    }

    /// Installs the filter for the current doors on every open capture. A
    /// capture that takes no filter is lost and reopened: its interface is
    /// usually gone (the address event that brought us here can come
    /// before the capture's own error, which setting the filter consumes;
    /// an interface that is still there gets a second try).
    fn reinstall_filter(&mut self) {
        log_expressions(
            &self.setup.loaded.doors,
            &self.engine,
            &self.local_addrs,
            self.setup.args.only_ipv4,
            &mut self.logger,
        );
        for index in 0..self.captures.len() {
            if let Err(e) = self.install_filter(index) {
                self.capture_lost(index, &e);
            }
        }
    }

    /// Installs the filter for the current doors on capture `index`, if open.
    fn install_filter(&mut self, index: usize) -> Result<(), CaptureError> {
        let Some(slot) = self.captures.get_mut(index) else {
            return Ok(());
        };
        let unchanged = slot.interface_unchanged();
        let Some(capture) = slot.capture.as_mut() else {
            return Ok(());
        };
        let install = |capture: &mut Capture, logger: &mut Logger| {
            install_filter(
                capture,
                &self.setup.loaded.doors,
                &self.engine,
                &self.local_addrs,
                self.setup.args.only_ipv4,
                logger,
            )
        };
        // A socket error pending since the link went down and up (ENETDOWN)
        // fails the first try and is consumed by it: on an interface that
        // is still the same, only a second failure means the capture is
        // lost. One that was deleted is lost at the first.
        install(capture, &mut self.logger).or_else(|error| {
            if unchanged {
                install(capture, &mut self.logger)
            } else {
                Err(error)
            }
        })
    }

    /// Capture `index` failed (its interface went down or was removed):
    /// close it and try again every second, instead of exiting as 0.8 does.
    /// Knocks sent meanwhile on that interface are not seen; attempts in
    /// progress are kept, and the other interfaces go on.
    fn capture_lost(&mut self, index: usize, error: &CaptureError) {
        let Some(slot) = self.captures.get_mut(index) else {
            return;
        };
        let last = slot.lose(Instant::now());
        self.counters.capture_closed(last);
        self.logger.emit(&Message::CaptureLost {
            interface: &slot.interface,
            error,
        });
    }

    fn reopen_capture(&mut self, index: usize, now: Instant) {
        if !self.captures.get_mut(index).is_some_and(|c| c.reopen(now)) {
            return;
        }
        // The addresses may have changed while the interface was away; the
        // other captures' filters then change too.
        let previous = std::mem::take(&mut self.local_addrs);
        self.refresh_local_addrs();
        if self.local_addrs != previous {
            self.engine.set_local_addrs(self.local_addrs.clone());
            for other in (0..self.captures.len()).filter(|&other| other != index) {
                if let Err(e) = self.install_filter(other) {
                    self.capture_lost(other, &e);
                }
            }
        }
        match self.install_filter(index) {
            Ok(()) => {
                if let Some(slot) = self.captures.get(index) {
                    self.logger.emit(&Message::CaptureRestored {
                        interface: &slot.interface,
                    });
                }
            }
            Err(e) => self.capture_lost(index, &e),
        }
    }

    /// The host's addresses may have changed: when an interface's did,
    /// knocks to the new ones count from now on, without a reload.
    fn follow_addresses(&mut self) {
        let only_ipv4 = self.setup.args.only_ipv4;
        for slot in &mut self.captures {
            let Ok(addrs) = interfaces::local_addresses(&slot.interface, only_ipv4) else {
                continue;
            };
            if addrs == slot.addrs {
                continue;
            }
            let interface = &slot.interface;
            self.logger.emit(&Message::AddressesChanged {
                interface,
                addrs: &addrs,
            });
            if addrs.is_empty() {
                self.logger.emit(&Message::WaitingForAddress { interface });
            }
            slot.addrs = addrs;
        }
        let all = union(&self.captures);
        if all != self.local_addrs {
            self.local_addrs = all;
            self.engine.set_local_addrs(self.local_addrs.clone());
            self.reinstall_filter();
        }
    }

    /// Reads every interface's addresses again (`local IP` lines with `-D`).
    fn refresh_local_addrs(&mut self) {
        let only_ipv4 = self.setup.args.only_ipv4;
        for slot in &mut self.captures {
            slot.addrs = local_addresses(&slot.interface, only_ipv4, &mut self.logger);
        }
        self.local_addrs = union(&self.captures);
    }

    /// SIGHUP: the configuration is read again off the loop ([`Reloader`]).
    fn request_reload(&mut self) {
        self.notifier.reloading();
        self.logger.emit(&Message::ReReadingConfig {
            path: &self.setup.config_path,
        });
        if let Err(e) = self.reloader.request() {
            self.logger.emit(&Message::ReloadFailed {
                error: &format_args!("cannot start reading the configuration: {}", io_message(&e)),
            });
            self.notifier.ready(self.status(), Instant::now());
        }
    }

    /// What systemd's `STATUS=` line shows.
    fn status(&self) -> Status {
        Status {
            open: self.runner.open_doors(),
            attempts: self.engine.attempts(),
        }
    }

    /// A reload's configuration was read: a valid one replaces the doors
    /// (in-progress knocks on unchanged doors survive) and the log file is
    /// reopened; an invalid one is reported and the running configuration stays.
    fn reload(&mut self, loading: Loading) {
        let loaded = match loading {
            Ok(loaded) => loaded,
            Err(e) => {
                self.logger.emit(&Message::ReloadFailed { error: &e });
                return;
            }
        };
        report_used_up(&loaded, &mut self.logger);
        let settings = self.setup.log_settings(&loaded.config);
        // As in 0.8, a LogFile removed from the file keeps the old one and
        // UseSyslog cannot be turned off by a reload.
        self.logger.set_format(settings.format);
        self.logger.reopen(settings.log_file);
        if settings.use_syslog {
            self.logger.enable_syslog();
        }
        self.refresh_local_addrs();
        self.engine
            .reconfigure(loaded.engine_doors(), self.local_addrs.clone());
        self.setup.loaded = loaded;
        self.rotate(Instant::now());
    }

    fn refresh_counters(&mut self) {
        let mut open = CaptureTotals::default();
        for slot in &mut self.captures {
            slot.read_stats();
            open = open + slot.stats;
        }
        self.counters
            .refresh(self.engine.stats(), self.runner.stats(), open);
    }

    /// SIGTERM/SIGINT: run the stop commands of doors still open, wait a
    /// bounded time for commands, print the counters with `-v`, log
    /// `shutting down` and exit 0.
    fn shut_down(&mut self) -> ExitCode {
        self.notifier.stopping();
        self.logger.emit(&Message::WaitingForChildren);
        self.runner
            .shutdown(Instant::now(), SHUTDOWN_GRACE, &mut self.logger);
        self.refresh_counters();
        self.counters.report(&mut self.logger);
        self.logger.emit(&Message::Closing);
        self.logger.emit(&Message::ShuttingDown);
        self.logger.flush();
        ExitCode::SUCCESS
    }
}

/// Installs the filter for `doors` on `capture` (none while it is lost),
/// logging each door's part with `-D` as 0.8 does, then the program's size.
///
/// The program must run in the kernel. It is made to fit what the kernel
/// takes here ([`crate::capture::fit_program`]: a coarser program each time a
/// throwaway socket refuses one, with a `-D` line). If the capture socket
/// refuses it all the same, libpcap would filter every packet in user space,
/// so a coarser program half as long is tried instead, with an error line;
/// if even a short one is refused, installing fails.
fn install_filter(
    capture: &mut Capture,
    doors: &[RuntimeDoor],
    engine: &Engine,
    local_addrs: &[IpAddr],
    only_ipv4: bool,
    logger: &mut Logger,
) -> Result<(), CaptureError> {
    use crate::capture::{fit_program, kernel_budget, Placement, SHORTEST_PROGRAM};
    let doors = filter_doors(doors, |door| engine.step_sequences(door));
    let link = capture.link_type()?;
    let build = |budget| {
        filter::program(&doors, local_addrs, only_ipv4, link, budget)
            .map_err(|e| CaptureError::new(e.to_string()))
    };
    let mut budget = kernel_budget();
    // Bounded: the budget halves every round.
    loop {
        let program = fit_program(budget, build, |refused, next| {
            logger.emit(&Message::Debug(&format_args!(
                "capture filter: the kernel takes no program of {} instructions here; \
                 trying at most {next}",
                refused.len()
            )));
        })?;
        logger.emit(&Message::Debug(&format_args!(
            "capture filter: {}",
            program.headline()
        )));
        match capture.install_program(&program)? {
            Placement::Kernel => return Ok(()),
            Placement::UserSpace if program.len() > SHORTEST_PROGRAM => {
                budget = (program.len() / 2).max(SHORTEST_PROGRAM);
                logger.emit(&Message::Error(&format_args!(
                    "the kernel refused the capture filter of {} instructions; \
                     trying a coarser one of at most {budget}",
                    program.len()
                )));
            }
            Placement::UserSpace => {
                return Err(CaptureError::new(format!(
                    "the kernel refused the capture filter ({} instructions): \
                     knockd does not filter every packet in user space",
                    program.len()
                )))
            }
        }
    }
}

/// With `-D`, each door's part of the filter as a libpcap expression, as
/// 0.8 logs it (`adding pcap expression for door ...`).
fn log_expressions(
    doors: &[RuntimeDoor],
    engine: &Engine,
    local_addrs: &[IpAddr],
    only_ipv4: bool,
    logger: &mut Logger,
) {
    if logger.debug() {
        let doors = filter_doors(doors, |door| engine.step_sequences(door));
        for door in filter::door_expressions(&doors, local_addrs, only_ipv4) {
            logger.emit(&Message::PcapExpression {
                door: &door.door,
                expression: &door.expression,
            });
        }
    }
}

/// The addresses of every capture's interface, each once.
fn union(captures: &[InterfaceCapture]) -> Vec<IpAddr> {
    interfaces::distinct(captures.iter().flat_map(|c| c.addrs.iter().copied()))
}

/// Logs what reading the configuration found: values read as 0.8 reads
/// them with a warning, doors disabled for a value 0.8 would mangle, and
/// one-time doors whose file is used up (0.8 exits at start for those; we
/// run the other doors).
fn report_used_up(loaded: &Loaded, logger: &mut Logger) {
    for warning in &loaded.config.warnings {
        logger.emit(&Message::ConfigWarning(warning));
    }
    for disabled in &loaded.config.disabled {
        logger.emit(&Message::DoorDisabled {
            door: &disabled.door,
            error: &disabled.error,
        });
    }
    for d in &loaded.doors {
        if d.one_time.is_some() && d.active_sequence().is_none() {
            logger.emit(&Message::OneTimeExhausted { door: &d.door.name });
        }
    }
}

/// The interface's addresses, each logged with `-D` (`local IP: ...`).
fn local_addresses(interface: &str, only_ipv4: bool, logger: &mut Logger) -> Vec<IpAddr> {
    // An interface without addresses yet has none: only Target doors can be
    // knocked until one comes. `any` has every interface's.
    let addrs = interfaces::local_addresses(interface, only_ipv4).unwrap_or_default();
    for addr in &addrs {
        logger.emit(&Message::LocalIp(*addr));
    }
    addrs
}

/// The descriptors the loop polls; the optional ones may be absent (a lost
/// capture, no address watch).
struct Fds<'a, 'b> {
    captures: &'b [Option<BorrowedFd<'a>>],
    addresses: Option<BorrowedFd<'a>>,
    signals: BorrowedFd<'a>,
    reload: BorrowedFd<'a>,
    /// The control socket's descriptors, each with what it waits for.
    control: &'b [(BorrowedFd<'a>, PollFlags)],
}

/// Which of the polled descriptors are readable.
#[derive(Debug, Default, Clone)]
struct Ready {
    /// One per capture, in order.
    captures: Vec<bool>,
    addresses: bool,
    signals: bool,
    reload: bool,
    /// One per control socket descriptor, in order.
    control: Vec<bool>,
}

impl Ready {
    /// The indices of the readable captures.
    fn captures_ready(&self) -> Vec<usize> {
        (self.captures.iter().enumerate())
            .filter_map(|(index, &ready)| ready.then_some(index))
            .collect()
    }
}

/// Polls the loop's descriptors; returns which are readable.
fn wait(fds: Fds<'_, '_>, timeout: Option<Duration>) -> io::Result<Ready> {
    let mut polled = vec![
        PollFd::new(fds.signals, PollFlags::POLLIN),
        PollFd::new(fds.reload, PollFlags::POLLIN),
    ];
    // Where each optional descriptor sits in `polled`, if present.
    let optional = fds.captures.iter().copied().chain([fds.addresses]);
    let slots: Vec<Option<usize>> = optional
        .map(|fd| {
            fd.map(|fd| {
                polled.push(PollFd::new(fd, PollFlags::POLLIN));
                polled.len() - 1
            })
        })
        .collect();
    let (capture_slots, address_slot) = slots.split_at(fds.captures.len());
    let control_start = polled.len();
    polled.extend(
        fds.control
            .iter()
            .map(|&(fd, events)| PollFd::new(fd, events)),
    );
    let control_count = fds.control.len();
    let mut fds = polled;
    let timeout = match timeout {
        None => PollTimeout::NONE,
        // Round up so that a deadline is never polled for 0 ms repeatedly.
        Some(d) => {
            let ms = d.as_micros().div_ceil(1000);
            PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
        }
    };
    match poll(&mut fds, timeout) {
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => {
            return Ok(Ready {
                signals: true,
                ..Ready::default()
            })
        }
        Err(e) => return Err(e.into()),
    }
    let ready = |at: usize| {
        fds.get(at).is_some_and(|fd| {
            fd.revents().is_some_and(|r| {
                r.intersects(
                    PollFlags::POLLIN
                        | PollFlags::POLLOUT
                        | PollFlags::POLLERR
                        | PollFlags::POLLHUP,
                )
            })
        })
    };
    Ok(Ready {
        signals: ready(0),
        reload: ready(1),
        captures: capture_slots.iter().map(|s| s.is_some_and(ready)).collect(),
        addresses: address_slot.first().copied().flatten().is_some_and(ready),
        control: (control_start..control_start + control_count)
            .map(ready)
            .collect(),
    })
}

/// The monotonic instant of a packet captured at wall-clock `timestamp`,
/// given that the wall clock read `wall` at monotonic `now`. Packets are
/// matched by when they arrived, not by when the loop got to them.
fn instant_of(timestamp: SystemTime, wall: SystemTime, now: Instant) -> Instant {
    let age = wall.duration_since(timestamp).unwrap_or_default();
    now.checked_sub(age).unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packet_instants_are_their_arrival_times_never_in_the_future() {
        let now = Instant::now();
        let wall = SystemTime::now();
        let earlier = wall - Duration::from_millis(30);
        assert_eq!(
            instant_of(earlier, wall, now),
            now - Duration::from_millis(30)
        );
        let later = wall + Duration::from_secs(1);
        assert_eq!(instant_of(later, wall, now), now);
    }
}
