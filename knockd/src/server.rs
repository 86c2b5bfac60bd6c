//! The daemon: one poll loop over the capture descriptor, the signal pipe and
//! the timers of the engine and the command runner.
//!
//! Everything that changes state happens here, in the loop: packets are
//! decoded and fed to the engine, engine events become log lines and
//! commands, SIGHUP reloads, SIGTERM/SIGINT shut down. Nothing runs in signal
//! context and nothing blocks: capture is nonblocking, commands are reaped
//! with `try_wait`, and reverse lookups (`-l`) happen on a worker thread.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use knock_proto::config::io_message;
use knock_proto::Sequence;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::capture::Capture;
use crate::cli::{Args, DEFAULT_INTERFACE, DEFAULT_PID_FILE};
use crate::commands::{CommandRunner, RunnerLimits};
use crate::daemon::{self, PidFile};
use crate::doors::{self, Loaded, RuntimeDoor};
use crate::engine::{Engine, EngineDoor, Event, Limits};
use crate::filter::{self, FilterDoor};
use crate::interfaces;
use crate::log::{LogSettings, Logger, Message, Source};
use crate::packet::Packet;
use crate::resolver::Resolver;
use crate::signals::{Pending, Signals};
use crate::wire::{self, DecodeError, LinkType};

/// How many packets one wake-up reads at most before timers and signals get a turn.
const BATCH: usize = 256;
/// How long shutdown waits for commands (stop commands included) to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How often a lost capture (interface down or gone) is tried again.
const CAPTURE_RETRY: Duration = Duration::from_secs(1);

/// Runs knockd with parsed arguments; returns the process's exit status.
pub fn run(args: Args) -> ExitCode {
    let base = match std::env::current_dir() {
        Ok(dir) => dir,
        Err(e) => {
            return fail(&format!(
                "cannot read the current directory: {}",
                io_message(&e)
            ))
        }
    };
    let config_path = base.join(&args.config);
    let loaded = match doors::load(&config_path, &base) {
        Ok(loaded) => loaded,
        Err(e) => return fail(&e.to_string()),
    };
    let interface = args
        .interface
        .clone()
        .or_else(|| loaded.config.options.interface.clone())
        .unwrap_or_else(|| DEFAULT_INTERFACE.to_owned());

    if args.check {
        return check(&args, &loaded, &base, &interface);
    }

    let mut logger = Logger::new(&log_settings(&args, &loaded, &base));
    logger.config_echo(&loaded.config);
    report_used_up(&loaded, &mut logger);

    let capture = match Capture::open(&interface) {
        Ok(capture) => capture,
        Err(e) => return fail(&e.to_string()),
    };
    let link = match capture.link_type() {
        Ok(link) => link,
        Err(e) => return fail(&e.to_string()),
    };
    logger.emit(&Message::Debug(&link_type_line(link)));
    let local_addrs = local_addresses(&interface, args.only_ipv4, &mut logger);

    let mut server = Server {
        engine: Engine::new(
            engine_doors(&loaded.doors),
            local_addrs.clone(),
            Limits {
                max_attempts: args.max_attempts as usize,
            },
        ),
        runner: CommandRunner::new(RunnerLimits {
            max_running: args.max_commands as usize,
            ..RunnerLimits::default()
        }),
        config_path,
        base,
        interface,
        link,
        local_addrs,
        capture: Some(capture),
        capture_retry: None,
        logger,
        loaded,
        resolver: None,
        batch: Vec::with_capacity(BATCH),
        events: Vec::new(),
        args,
    };
    if let Err(e) = server.install_filter() {
        return fail(&e);
    }

    // Daemonize only once everything that can fail at start has been checked.
    let mut pid_file = None;
    if server.args.daemon {
        if let Err(e) = daemon::detach() {
            return fail(&format!("cannot run in the background: {}", io_message(&e)));
        }
        let path = pid_file_path(&server.args, &server.loaded, &server.base);
        match PidFile::create(&path) {
            Ok(pid) => pid_file = Some(pid),
            Err(e) => server.logger.emit(&Message::PidFileFailed {
                path: &path,
                error: &e,
            }),
        }
    }
    if server.args.lookup {
        match Resolver::start() {
            Ok(resolver) => server.resolver = Some(resolver),
            Err(e) => server.logger.emit(&Message::Error(&format_args!(
                "cannot start the resolver for -l: {}",
                io_message(&e)
            ))),
        }
    }
    let signals = match Signals::install() {
        Ok(signals) => signals,
        Err(e) => {
            return fail(&format!(
                "cannot install signal handlers: {}",
                io_message(&e)
            ))
        }
    };

    let interface = server.interface.clone();
    server.logger.emit(&Message::Listening {
        interface: &interface,
    });
    server.logger.emit(&Message::StartingUp {
        interface: &interface,
    });
    let status = server.run_loop(&signals);
    drop(pid_file);
    status
}

/// Prints an error on stderr the way knockd always has and returns exit status 1.
fn fail(message: &str) -> ExitCode {
    eprintln!("{message}");
    ExitCode::FAILURE
}

fn log_settings(args: &Args, loaded: &Loaded, base: &Path) -> LogSettings {
    LogSettings {
        // As in 0.8, LogFile in the configuration wins over -g.
        log_file: loaded
            .config
            .options
            .log_file
            .clone()
            .or_else(|| args.log_file.as_ref().map(|p| base.join(p))),
        use_syslog: loaded.config.options.use_syslog,
        verbose: args.verbose,
        debug: args.debug,
    }
}

/// The pid file: `PidFile` in the configuration wins over `-p`, as in 0.8.
fn pid_file_path(args: &Args, loaded: &Loaded, base: &Path) -> PathBuf {
    loaded
        .config
        .options
        .pid_file
        .clone()
        .or_else(|| args.pid_file.as_ref().map(|p| base.join(p)))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PID_FILE))
}

fn engine_doors(doors: &[RuntimeDoor]) -> Vec<EngineDoor> {
    doors
        .iter()
        .map(|d| EngineDoor {
            name: d.door.name.clone(),
            sequence: d.active_sequence().cloned(),
            seq_timeout: d.door.seq_timeout,
            tcp_flags: d.door.tcp_flags,
            target: d.door.target,
        })
        .collect()
}

fn filter_doors(doors: &[RuntimeDoor]) -> Vec<FilterDoor<'_>> {
    doors
        .iter()
        .filter_map(|d| {
            Some(FilterDoor {
                name: &d.door.name,
                sequence: d.active_sequence()?,
                tcp_flags: d.door.tcp_flags,
                target: d.door.target,
            })
        })
        .collect()
}

/// Says which one-time doors start disabled because their file is used up.
/// 0.8 exits at start in that case; we run the other doors.
fn report_used_up(loaded: &Loaded, logger: &mut Logger) {
    for d in &loaded.doors {
        if d.one_time.is_some() && d.active_sequence().is_none() {
            logger.emit(&Message::OneTimeExhausted { door: &d.door.name });
        }
    }
}

/// knockd 0.8's `-D` line for the capture's link type.
fn link_type_line(link: LinkType) -> String {
    match link {
        LinkType::Ethernet => "ethernet interface detected".to_owned(),
        LinkType::LinuxSll | LinkType::LinuxSll2 => {
            format!("ppp interface detected (linux \"cooked\" encapsulation, {link})")
        }
        LinkType::RawIp => "raw interface detected, no encapsulation".to_owned(),
        LinkType::Null | LinkType::Loop => format!("loopback interface detected ({link})"),
    }
}

fn local_addresses(interface: &str, only_ipv4: bool, logger: &mut Logger) -> Vec<IpAddr> {
    // `any` has no addresses of its own; doors then match every destination.
    let addrs = interfaces::local_addresses(interface, only_ipv4).unwrap_or_default();
    for addr in &addrs {
        logger.emit(&Message::LocalIp(*addr));
    }
    addrs
}

/// `--check`: validates the configuration, prints each door and the capture
/// filter it compiles to, and exits 0, or 1 when the filter does not compile.
fn check(args: &Args, loaded: &Loaded, base: &Path, interface: &str) -> ExitCode {
    let addrs = interfaces::local_addresses(interface, args.only_ipv4).unwrap_or_default();
    let settings = log_settings(args, loaded, base);
    println!("configuration {} is valid", args.config.display());
    println!("interface: {interface}");
    if let Some(log_file) = &settings.log_file {
        println!("log file: {}", log_file.display());
    }
    if settings.use_syslog {
        println!("syslog: on");
    }
    println!(
        "pid file (with -d): {}",
        pid_file_path(args, loaded, base).display()
    );
    for addr in &addrs {
        println!("local address: {addr}");
    }
    for d in &loaded.doors {
        let door = &d.door;
        println!();
        println!("[{}]", door.name);
        match (d.active_sequence(), &d.one_time) {
            (Some(seq), None) => println!("  sequence: {seq}"),
            (Some(seq), Some(file)) => println!(
                "  sequence: {seq} (line {} of {}, {} unused)",
                file.active_line().unwrap_or_default(),
                file.path().display(),
                file.remaining()
            ),
            (None, _) => println!("  sequence: none left; the door is disabled"),
        }
        println!("  seq_timeout: {}", seconds(door.seq_timeout));
        if !door.tcp_flags.is_any() {
            println!("  tcpflags: {}", door.tcp_flags);
        }
        if let Some(target) = door.target {
            println!("  target: {target}");
        }
        for (label, command) in [
            ("start_command", &door.start_command),
            ("start_command_6", &door.start_command_6),
            ("stop_command", &door.stop_command),
            ("stop_command_6", &door.stop_command_6),
        ] {
            if let Some(command) = command {
                println!("  {label}: {command}");
            }
        }
        if door.stop_command.is_some() || door.stop_command_6.is_some() {
            println!("  cmd_timeout: {}", seconds(door.cmd_timeout));
        }
    }
    let doors = filter_doors(&loaded.doors);
    let expression = filter::expression(&doors, &addrs, args.only_ipv4);
    println!();
    println!("capture filter: {}", expression.whole);
    match filter::validate(&expression.whole) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&format!("the capture filter does not compile: {e}")),
    }
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

struct Server {
    args: Args,
    base: PathBuf,
    config_path: PathBuf,
    interface: String,
    link: LinkType,
    local_addrs: Vec<IpAddr>,
    /// `None` while the interface is down or gone; see [`Server::capture_lost`].
    capture: Option<Capture>,
    capture_retry: Option<Instant>,
    logger: Logger,
    loaded: Loaded,
    engine: Engine,
    runner: CommandRunner,
    resolver: Option<Resolver>,
    batch: Vec<(SystemTime, Result<Packet, DecodeError>, u32)>,
    events: Vec<Event>,
}

impl Server {
    fn run_loop(&mut self, signals: &Signals) -> ExitCode {
        loop {
            let now = Instant::now();
            let timeout = [
                self.engine.next_deadline(),
                self.runner.next_deadline(),
                self.capture_retry,
            ]
            .into_iter()
            .flatten()
            .min()
            .map(|deadline| deadline.saturating_duration_since(now));
            let capture_fd = self.capture.as_ref().map(|c| c.as_fd());
            let (capture_ready, signal_ready) = match wait(capture_fd, signals.fd(), timeout) {
                Ok(ready) => ready,
                Err(e) => {
                    self.logger
                        .emit(&Message::Error(&format_args!("poll: {}", io_message(&e))));
                    (false, true)
                }
            };
            if capture_ready {
                if let Err(e) = self.read_packets() {
                    self.capture_lost(&e);
                }
            }
            let now = Instant::now();
            if self.capture_retry.is_some_and(|at| at <= now) {
                self.reopen_capture(now);
            }
            self.engine.on_timer(now, &mut self.events);
            self.handle_events();
            // Drain the signal pipe before reaping: a command that reaping
            // starts may exit at once, and its SIGCHLD wake-up must stay in
            // the pipe for the next poll rather than be drained unseen.
            let pending = if signal_ready {
                signals.take()
            } else {
                Pending::default()
            };
            self.runner.on_timer(now, &mut self.logger);
            self.runner.reap(now, &mut self.logger);
            if pending.shutdown {
                return self.shut_down();
            }
            if pending.reload {
                self.reload();
            }
        }
    }

    /// Reads what the capture has, then feeds each decoded packet to the
    /// engine and handles its events before the next packet, so debug packet
    /// lines and the log lines they cause interleave as in 0.8.
    fn read_packets(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let wall = SystemTime::now();
        let link = self.link;
        let mut batch = std::mem::take(&mut self.batch);
        let read = match self.capture.as_mut() {
            Some(capture) => capture
                .read_available(BATCH, |timestamp, wire_len, frame| {
                    batch.push((timestamp, wire::decode(link, frame), wire_len));
                })
                .map_err(|e| e.to_string()),
            None => Ok(0),
        };
        for (timestamp, decoded, wire_len) in batch.drain(..) {
            let packet = match decoded {
                Ok(packet) => packet,
                Err(e) => {
                    // Never trusted, never fatal: 0.8's `packet is not IPv4 or IPv6, ignoring...`.
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

    fn handle(&mut self, event: &Event) {
        let door_name = |door: usize| {
            self.loaded
                .doors
                .get(door)
                .map(|d| d.door.name.clone())
                .unwrap_or_default()
        };
        match *event {
            Event::Stage {
                source,
                door,
                stage,
            } => {
                let (host, door) = (self.host(source), door_name(door));
                self.logger.emit(&Message::Stage {
                    source: Source::with_host(source, host.as_deref()),
                    door: &door,
                    stage,
                });
            }
            Event::Open { source, door } => self.open(source, door),
            Event::Timeout {
                source,
                door,
                stage,
            } => {
                let (host, door) = (self.host(source), door_name(door));
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
            } => self.logger.emit(&Message::FlagMismatch {
                flag,
                required: must_be_set,
            }),
            Event::Evicted { .. } => {}
        }
    }

    /// OPEN SESAME. A one-time door's sequence is marked used on disk first,
    /// and the door opens only if that worked, so a crash can never let the
    /// same sequence in twice.
    fn open(&mut self, source: IpAddr, door: usize) {
        let Some(runtime) = self.loaded.doors.get_mut(door) else {
            return;
        };
        let name = runtime.door.name.clone();
        let Some(file) = runtime.one_time.as_mut() else {
            self.open_door(source, door);
            return;
        };
        let consumed = file.consume();
        let next = file.active().cloned();
        match consumed {
            Ok(()) => {
                self.open_door(source, door);
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

    fn open_door(&mut self, source: IpAddr, door: usize) {
        let host = self.host(source);
        let Some(runtime) = self.loaded.doors.get(door) else {
            return;
        };
        let source = Source::with_host(source, host.as_deref());
        self.logger.emit(&Message::OpenSesame {
            source,
            door: &runtime.door.name,
        });
        self.runner
            .open_door(&runtime.door, source, Instant::now(), &mut self.logger);
    }

    /// Arms a one-time door with its next sequence (or disables it) and
    /// rebuilds the filter for both address families.
    fn rearm(&mut self, door: usize, next: Option<Sequence>) {
        self.engine.set_sequence(door, next);
        if let Err(e) = self.install_filter() {
            self.logger.emit(&Message::Error(&e));
        }
    }

    fn install_filter(&mut self) -> Result<(), String> {
        let doors = filter_doors(&self.loaded.doors);
        let expression = filter::expression(&doors, &self.local_addrs, self.args.only_ipv4);
        for door in &expression.per_door {
            self.logger.emit(&Message::PcapExpression {
                door: &door.door,
                expression: &door.expression,
            });
        }
        match self.capture.as_mut() {
            Some(capture) => capture
                .set_filter(&expression.whole)
                .map_err(|e| e.to_string()),
            None => Ok(()),
        }
    }

    /// The capture failed (the interface went down or was removed): close it
    /// and try again every second, instead of exiting as 0.8 does. Knocks
    /// sent meanwhile are not seen; attempts in progress are kept.
    fn capture_lost(&mut self, error: &str) {
        self.capture = None;
        self.capture_retry = Some(Instant::now() + CAPTURE_RETRY);
        self.logger.emit(&Message::CaptureLost {
            interface: &self.interface,
            error: &error,
        });
    }

    fn reopen_capture(&mut self, now: Instant) {
        let opened = Capture::open(&self.interface).and_then(|c| c.link_type().map(|l| (c, l)));
        let Ok((capture, link)) = opened else {
            self.capture_retry = Some(now + CAPTURE_RETRY);
            return;
        };
        self.capture = Some(capture);
        self.capture_retry = None;
        self.link = link;
        // The addresses may have changed while the interface was away.
        self.local_addrs = local_addresses(&self.interface, self.args.only_ipv4, &mut self.logger);
        self.engine.set_local_addrs(self.local_addrs.clone());
        match self.install_filter() {
            Ok(()) => self.logger.emit(&Message::CaptureRestored {
                interface: &self.interface,
            }),
            Err(e) => self.capture_lost(&e),
        }
    }

    /// SIGHUP: a valid configuration replaces the doors (in-progress knocks on
    /// unchanged doors survive) and the log file is reopened; an invalid one
    /// is reported and the running configuration stays.
    fn reload(&mut self) {
        self.logger.emit(&Message::ReReadingConfig {
            path: &self.config_path,
        });
        let loaded = match doors::load(&self.config_path, &self.base) {
            Ok(loaded) => loaded,
            Err(e) => {
                self.logger.emit(&Message::ReloadFailed { error: &e });
                return;
            }
        };
        report_used_up(&loaded, &mut self.logger);
        let settings = log_settings(&self.args, &loaded, &self.base);
        // As in 0.8, a LogFile removed from the file keeps the old one and
        // UseSyslog cannot be turned off by a reload.
        self.logger.reopen(settings.log_file);
        if settings.use_syslog {
            self.logger.enable_syslog();
        }
        self.local_addrs = local_addresses(&self.interface, self.args.only_ipv4, &mut self.logger);
        self.engine
            .reconfigure(engine_doors(&loaded.doors), self.local_addrs.clone());
        self.loaded = loaded;
        if let Err(e) = self.install_filter() {
            self.logger.emit(&Message::Error(&e));
        }
    }

    /// SIGTERM/SIGINT: run the stop commands of doors still open, wait a
    /// bounded time for commands, log `shutting down` and exit 0.
    fn shut_down(&mut self) -> ExitCode {
        self.logger.emit(&Message::WaitingForChildren);
        self.runner
            .shutdown(Instant::now(), SHUTDOWN_GRACE, &mut self.logger);
        self.logger.emit(&Message::Closing);
        self.logger.emit(&Message::ShuttingDown);
        ExitCode::SUCCESS
    }
}

/// Polls the capture and signal descriptors; returns which are readable.
fn wait(
    capture: Option<BorrowedFd<'_>>,
    signals: BorrowedFd<'_>,
    timeout: Option<Duration>,
) -> io::Result<(bool, bool)> {
    let mut fds = vec![PollFd::new(signals, PollFlags::POLLIN)];
    if let Some(capture) = capture {
        fds.push(PollFd::new(capture, PollFlags::POLLIN));
    }
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
        Err(nix::errno::Errno::EINTR) => return Ok((false, true)),
        Err(e) => return Err(e.into()),
    }
    let ready = |fd: &PollFd| {
        fd.revents().is_some_and(|r| {
            r.intersects(PollFlags::POLLIN | PollFlags::POLLERR | PollFlags::POLLHUP)
        })
    };
    let capture_ready = fds.get(1).is_some_and(ready);
    Ok((capture_ready, fds.first().is_some_and(ready)))
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
