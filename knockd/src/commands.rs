//! Running doors' start and stop commands.
//!
//! A knock that opens a door runs its start command through `/bin/sh -c`,
//! with every `%IP%` replaced by the knocker's address (dotted quad, or
//! compressed lower-case IPv6). If the door has a stop command for the
//! knocker's family, it runs `Cmd_Timeout` after the start command was
//! spawned, but never before the start command has exited, so a stop never
//! races its own start. Unlike knockd 0.8, which forked a child that slept
//! through the timeout, the stop is a timer entry here: the server polls
//! [`CommandRunner::next_deadline`] and calls [`CommandRunner::on_timer`],
//! and calls [`CommandRunner::reap`] on SIGCHLD. Nothing here blocks except
//! [`CommandRunner::shutdown`], whose wait is bounded.
//!
//! Children get stdin from `/dev/null` and the daemon's stdout and stderr (as
//! in 0.8), and their own process group, so a Ctrl-C meant for a foreground
//! knockd does not also kill half-run firewall commands. On Linux every
//! descriptor above 2 is marked close-on-exec before each spawn, so the
//! capture socket, log file or one-time sequences file never leak into
//! commands even if their owner forgot `O_CLOEXEC` (0.8's B26).
//!
//! Bounds (0.8 had none, B12/B13): at most [`RunnerLimits::max_running`]
//! commands run at once. Start commands beyond that wait in a FIFO of at most
//! [`RunnerLimits::max_queued`]; beyond that they are dropped with a log line
//! (`<src>: <door>: too many commands waiting, start command dropped`), which
//! keeps a knock flood (one-element UDP doors) from exhausting processes or
//! memory. A dropped or never-spawned start has no stop. Stop commands are
//! never dropped: a due stop waits for a free slot and goes before any
//! waiting start. Pending stops belong to doors already opened and survive a
//! configuration reload, as the runner keeps its own copy of each command.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use knockd_core::config::Door;

use crate::log::{CommandKind, Logger, Message, Source};

/// 0.8 expanded commands into a 4096-byte buffer and refused longer ones.
const MAX_COMMAND_LEN: usize = 4095;

/// How often [`CommandRunner::shutdown`] checks on its children.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);

/// Bounds on the runner's children and backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerLimits {
    /// Most commands running at once (at least one is always allowed).
    pub max_running: usize,
    /// Most start commands waiting for a free slot; later ones are dropped.
    pub max_queued: usize,
}

impl Default for RunnerLimits {
    /// 32 running, 1024 waiting.
    fn default() -> Self {
        RunnerLimits {
            max_running: 32,
            max_queued: 1024,
        }
    }
}

/// The runner's totals since it was created.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommandStats {
    /// Commands started.
    pub run: u64,
    /// Commands that exited non-zero, were killed by a signal, or could not be started.
    pub failed: u64,
    /// Start commands never run: too long, or the queue was full.
    pub dropped: u64,
}

/// A knocker as the runner keeps it for later log lines.
#[derive(Debug, Clone)]
struct Knocker {
    addr: IpAddr,
    host: Option<String>,
}

impl Knocker {
    fn source(&self) -> Source<'_> {
        Source::with_host(self.addr, self.host.as_deref())
    }
}

/// An opened door whose start command waits for a free slot.
#[derive(Debug)]
struct QueuedStart {
    door: String,
    knocker: Knocker,
    start: String,
    stop: Option<String>,
    cmd_timeout: Duration,
}

/// A stop command waiting for its time and for its start command to exit.
#[derive(Debug)]
struct PendingStop {
    /// `None` when `Cmd_Timeout` is too large to represent: it then runs at shutdown only.
    due: Option<Instant>,
    /// The start command's child id.
    after: u64,
    door: String,
    knocker: Knocker,
    command: String,
}

/// A running command.
#[derive(Debug)]
struct Running {
    id: u64,
    door: String,
    child: Child,
}

/// Runs doors' commands and schedules their stop commands.
#[derive(Debug)]
pub struct CommandRunner {
    limits: RunnerLimits,
    next_id: u64,
    running: Vec<Running>,
    queued: VecDeque<QueuedStart>,
    stops: Vec<PendingStop>,
    stats: CommandStats,
}

impl CommandRunner {
    /// An idle runner.
    pub fn new(limits: RunnerLimits) -> Self {
        CommandRunner {
            limits: RunnerLimits {
                max_running: limits.max_running.max(1),
                ..limits
            },
            next_id: 0,
            running: Vec::new(),
            queued: VecDeque::new(),
            stops: Vec::new(),
            stats: CommandStats::default(),
        }
    }

    /// Totals since the runner was created.
    pub fn stats(&self) -> CommandStats {
        self.stats
    }

    /// Runs `door`'s start command for a knocker that just opened it (OPEN
    /// SESAME) and schedules its stop command. The commands are chosen for
    /// the knocker's address family (`Start_Command_6` ...); a door without a
    /// start command for it runs nothing. An expanded command longer than 0.8's
    /// limit is refused with its log line and neither command runs.
    pub fn open_door(&mut self, door: &Door, source: Source<'_>, now: Instant, log: &mut Logger) {
        let ipv6 = source.addr.is_ipv6();
        let Some(start) = door.start_command_for(ipv6) else {
            return;
        };
        let address = source.addr.to_string();
        let start = start.replace("%IP%", &address);
        let stop = door
            .stop_command_for(ipv6)
            .map(|c| c.replace("%IP%", &address));
        if start.len() > MAX_COMMAND_LEN {
            log.emit(&Message::CommandTruncated(CommandKind::Start));
            self.stats.dropped += 1;
            return;
        }
        if stop.as_ref().is_some_and(|c| c.len() > MAX_COMMAND_LEN) {
            log.emit(&Message::CommandTruncated(CommandKind::Stop));
            self.stats.dropped += 1;
            return;
        }
        if self.queued.len() >= self.limits.max_queued {
            self.stats.dropped += 1;
            log.emit(&Message::CommandDropped {
                source,
                door: &door.name,
            });
            return;
        }
        self.queued.push_back(QueuedStart {
            door: door.name.clone(),
            knocker: Knocker {
                addr: source.addr,
                host: source.host.map(str::to_owned),
            },
            start,
            stop,
            cmd_timeout: door.cmd_timeout,
        });
        self.dispatch(now, log);
    }

    /// When [`CommandRunner::on_timer`] has work next: the earliest stop
    /// command that can run then. Stops waiting for their start command or
    /// for a free slot are not counted; [`CommandRunner::reap`] runs them.
    pub fn next_deadline(&self) -> Option<Instant> {
        if self.running.len() >= self.limits.max_running {
            return None;
        }
        self.stops
            .iter()
            .filter(|stop| !self.is_running(stop.after))
            .filter_map(|stop| stop.due)
            .min()
    }

    /// Runs the stop commands that are due.
    pub fn on_timer(&mut self, now: Instant, log: &mut Logger) {
        self.dispatch(now, log);
    }

    /// Collects exited commands without blocking, logging failures
    /// (`<door>: command returned non-zero status code (<n>)`), then starts
    /// what their slots and exits let run. Call on SIGCHLD and on wake-ups.
    pub fn reap(&mut self, now: Instant, log: &mut Logger) {
        self.collect_exited(log);
        self.dispatch(now, log);
    }

    /// Shuts down: drops start commands still waiting (their doors were never
    /// opened), runs every pending stop command at once (so shutdown closes
    /// the doors it opened; a stop whose start command still runs waits for
    /// it, up to the grace period), and waits up to `grace` for all commands
    /// to exit. Returns how many were left running; they are not killed (a
    /// half-run firewall command is worse than a late one) and are logged.
    pub fn shutdown(&mut self, now: Instant, grace: Duration, log: &mut Logger) -> usize {
        self.queued.clear();
        let deadline = now.checked_add(grace).unwrap_or(now);
        loop {
            self.collect_exited(log);
            let out_of_time = Instant::now() >= deadline;
            let mut i = 0;
            while let Some(stop) = self.stops.get(i) {
                if out_of_time || !self.is_running(stop.after) {
                    let stop = self.stops.swap_remove(i);
                    self.run_stop(stop, log);
                } else {
                    i += 1;
                }
            }
            if self.running.is_empty() || out_of_time {
                break;
            }
            std::thread::sleep(
                SHUTDOWN_POLL.min(deadline.saturating_duration_since(Instant::now())),
            );
        }
        let left = self.running.len();
        if left > 0 {
            log.emit(&Message::ChildrenLeftRunning { count: left });
        }
        self.running.clear();
        left
    }

    fn is_running(&self, id: u64) -> bool {
        self.running.iter().any(|r| r.id == id)
    }

    /// Starts due stops, then waiting starts, while slots are free.
    fn dispatch(&mut self, now: Instant, log: &mut Logger) {
        while self.running.len() < self.limits.max_running {
            let ready = self
                .stops
                .iter()
                .enumerate()
                .filter(|(_, stop)| stop.due.is_some_and(|due| due <= now))
                .filter(|(_, stop)| !self.is_running(stop.after))
                .min_by_key(|(_, stop)| stop.due)
                .map(|(i, _)| i);
            let Some(i) = ready else { break };
            let stop = self.stops.swap_remove(i);
            self.run_stop(stop, log);
        }
        while self.running.len() < self.limits.max_running {
            let Some(start) = self.queued.pop_front() else {
                break;
            };
            let Some(id) = self.spawn(&start.door, &start.start, log) else {
                continue;
            };
            if let Some(command) = start.stop {
                self.stops.push(PendingStop {
                    due: now.checked_add(start.cmd_timeout),
                    after: id,
                    door: start.door,
                    knocker: start.knocker,
                    command,
                });
            }
        }
    }

    fn run_stop(&mut self, stop: PendingStop, log: &mut Logger) {
        log.emit(&Message::CommandTimeout {
            source: stop.knocker.source(),
            door: &stop.door,
        });
        self.spawn(&stop.door, &stop.command, log);
    }

    /// Starts `/bin/sh -c <command>` and tracks it; returns its id, or `None`
    /// (logged) when it could not be started.
    fn spawn(&mut self, door: &str, command: &str, log: &mut Logger) -> Option<u64> {
        log.emit(&Message::RunningCommand { door, command });
        let mut shell = Command::new("/bin/sh");
        shell
            .arg("-c")
            .arg(command)
            .stdin(Stdio::null())
            .process_group(0);
        close_inherited_descriptors();
        match shell.spawn() {
            Ok(child) => {
                self.stats.run += 1;
                let id = self.next_id;
                self.next_id = self.next_id.wrapping_add(1);
                self.running.push(Running {
                    id,
                    door: door.to_owned(),
                    child,
                });
                Some(id)
            }
            Err(error) => {
                self.stats.failed += 1;
                log.emit(&Message::SpawnFailed {
                    door,
                    error: &error,
                });
                None
            }
        }
    }

    /// Removes every exited child, logging how it failed if it did.
    fn collect_exited(&mut self, log: &mut Logger) {
        let mut i = 0;
        while let Some(entry) = self.running.get_mut(i) {
            match entry.child.try_wait() {
                Ok(None) => i += 1,
                Ok(Some(status)) => {
                    let entry = self.running.swap_remove(i);
                    if !status.success() {
                        self.stats.failed += 1;
                    }
                    report_exit(&entry.door, status, log);
                }
                Err(error) => {
                    // Someone else reaped it (a waitpid(-1) elsewhere); it is gone either way.
                    let entry = self.running.swap_remove(i);
                    let door = &entry.door;
                    log.emit(&Message::Error(&format_args!(
                        "{door}: lost track of command: {error}"
                    )));
                }
            }
        }
    }
}

fn report_exit(door: &str, status: ExitStatus, log: &mut Logger) {
    match (status.code(), status.signal()) {
        (Some(0), _) => {}
        (Some(code), _) => log.emit(&Message::NonZeroStatus { door, code }),
        (None, Some(signal)) => log.emit(&Message::KilledBySignal { door, signal }),
        (None, None) => {}
    }
}

/// Marks every descriptor above stderr close-on-exec, so that no child
/// inherits one whatever its owner (libpcap, the resolver) forgot.
///
/// This runs in the daemon, which never execs, rather than in a `pre_exec`
/// hook: a hook forces `fork`, which copies the page tables (capture ring
/// included) on every knock, where without one std uses `posix_spawn`, i.e.
/// `vfork`.
#[cfg(target_os = "linux")]
fn close_inherited_descriptors() {
    // SAFETY: a single system call on no memory of ours. Kernels before 5.11
    // fail with EINVAL or ENOSYS; the descriptors are then as safe as their
    // owners made them.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

/// Elsewhere descriptors rely on their owners' close-on-exec flags.
#[cfg(not(target_os = "linux"))]
fn close_inherited_descriptors() {}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::net::{Ipv4Addr, Ipv6Addr};

    use knock_proto::Sequence;
    use knockd_core::config::SequenceSource;

    use super::*;
    use crate::log::testing::{capture, Captured};

    /// What the tests inspect of a runner.
    impl CommandRunner {
        /// Commands running now.
        fn running(&self) -> usize {
            self.running.len()
        }

        /// Stop commands scheduled but not yet started.
        fn pending_stops(&self) -> usize {
            self.stops.len()
        }

        /// Start commands waiting for a free slot.
        fn queued(&self) -> usize {
            self.queued.len()
        }
    }

    const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2));
    const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 2));

    fn door(start: Option<&str>, stop: Option<&str>, cmd_timeout: Duration) -> Door {
        let sequence = SequenceSource::Fixed(Sequence::parse("7000").unwrap());
        let mut door = Door::new("d", sequence);
        door.start_command = start.map(str::to_owned);
        door.stop_command = stop.map(str::to_owned);
        door.cmd_timeout = cmd_timeout;
        door
    }

    fn runner() -> CommandRunner {
        CommandRunner::new(RunnerLimits::default())
    }

    fn idle(runner: &CommandRunner) -> bool {
        runner.running() == 0 && runner.pending_stops() == 0 && runner.queued() == 0
    }

    /// Plays the server's loop until `done`, for at most `limit`.
    fn drive(
        runner: &mut CommandRunner,
        log: &mut Logger,
        limit: Duration,
        mut done: impl FnMut(&CommandRunner) -> bool,
    ) {
        let end = Instant::now() + limit;
        while !done(runner) {
            assert!(Instant::now() < end, "commands did not finish in {limit:?}");
            let now = Instant::now();
            runner.reap(now, log);
            runner.on_timer(now, log);
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn out_file(captured: &Captured) -> String {
        captured.dir.path().join("out").display().to_string()
    }

    fn read(path: &str) -> String {
        fs::read_to_string(path).unwrap_or_default()
    }

    #[test]
    fn every_ip_token_is_replaced() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let mut runner = runner();
        let d = door(
            Some(&format!("echo %IP% and %IP% > {out}")),
            None,
            Duration::ZERO,
        );
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        assert_eq!(read(&out), "198.18.1.2 and 198.18.1.2\n");
        assert_eq!(
            captured.log_lines(),
            [format!(
                "d: running command: echo 198.18.1.2 and 198.18.1.2 > {out}"
            )]
        );
    }

    #[test]
    fn ipv6_knockers_get_the_ipv6_command_or_the_ipv4_fallback() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let mut runner = runner();
        let mut d = door(
            Some(&format!("echo v4 %IP% >> {out}")),
            None,
            Duration::ZERO,
        );
        runner.open_door(&d, Source::with_host(V6, None), Instant::now(), &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        d.start_command_6 = Some(format!("echo v6 %IP% >> {out}"));
        runner.open_door(&d, Source::with_host(V6, None), Instant::now(), &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        assert_eq!(read(&out), "v4 fd00:1::2\nv6 fd00:1::2\nv4 198.18.1.2\n");

        // A present but empty Start_Command_6 disables IPv6 commands.
        d.start_command_6 = Some(String::new());
        d.stop_command = Some(format!("echo stop >> {out}"));
        runner.open_door(&d, Source::with_host(V6, None), Instant::now(), &mut log);
        assert!(idle(&runner));
        assert_eq!(captured.log_lines().len(), 3);
    }

    #[test]
    fn stop_command_alone_runs_nothing() {
        let (mut log, captured) = capture(true, false);
        let mut runner = runner();
        let d = door(None, Some("echo stop"), Duration::ZERO);
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        assert!(idle(&runner));
        assert_eq!(captured.log_lines(), Vec::<String>::new());
    }

    #[test]
    fn start_then_stop_after_cmd_timeout() {
        let (mut log, captured) = capture(true, false);
        let out = out_file(&captured);
        let mut runner = runner();
        let timeout = Duration::from_millis(200);
        let mut d = door(
            Some(&format!("echo start %IP% >> {out}")),
            Some(&format!("echo stop %IP% >> {out}")),
            timeout,
        );
        let opened = Instant::now();
        runner.open_door(&d, Source::with_host(V4, Some("k.test")), opened, &mut log);
        assert_eq!(runner.pending_stops(), 1);
        // The stop runs what the door said when it opened, whatever a reload does to the door.
        d.stop_command = Some("false".to_owned());

        drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
            r.running() == 0
        });
        assert_eq!(runner.next_deadline(), Some(opened + timeout));
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        assert!(opened.elapsed() >= timeout);

        assert_eq!(read(&out), "start 198.18.1.2\nstop 198.18.1.2\n");
        let expected = [
            format!("d: running command: echo start 198.18.1.2 >> {out}"),
            "198.18.1.2 (k.test): d: command timeout".to_owned(),
            format!("d: running command: echo stop 198.18.1.2 >> {out}"),
        ];
        assert_eq!(captured.log_lines(), expected);
        let stdout = captured.stdout.text();
        assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
        assert_eq!(runner.next_deadline(), None);
    }

    #[test]
    fn non_zero_status_goes_to_log_and_stderr_only() {
        let (mut log, captured) = capture(true, false);
        let mut runner = runner();
        runner.open_door(
            &door(Some("exit 3"), None, Duration::ZERO),
            Source::with_host(V4, None),
            Instant::now(),
            &mut log,
        );
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        let line = "d: command returned non-zero status code (3)";
        assert_eq!(captured.log_lines(), ["d: running command: exit 3", line]);
        assert_eq!(captured.stderr.text(), format!("{line}\n"));
        assert!(!captured.stdout.text().contains(line));
    }

    #[test]
    fn death_by_signal_is_logged() {
        let (mut log, captured) = capture(false, false);
        let mut runner = runner();
        runner.open_door(
            &door(Some("kill -9 $$"), None, Duration::ZERO),
            Source::with_host(V4, None),
            Instant::now(),
            &mut log,
        );
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        assert_eq!(
            captured.stderr.text(),
            "d: command killed by signal 9 (SIGKILL)\n"
        );
    }

    #[test]
    fn too_long_commands_run_nothing() {
        let (mut log, captured) = capture(false, false);
        let mut runner = runner();
        let long = format!("true {}", "%IP%".repeat(500));
        runner.open_door(
            &door(Some(&long), None, Duration::ZERO),
            Source::with_host(V4, None),
            Instant::now(),
            &mut log,
        );
        runner.open_door(
            &door(Some("true"), Some(&long), Duration::ZERO),
            Source::with_host(V4, None),
            Instant::now(),
            &mut log,
        );
        assert!(idle(&runner));
        assert_eq!(
            captured.log_lines(),
            [
                "error: parsed start command has been truncated! --> won't execute it",
                "error: parsed stop command has been truncated! --> won't execute start command",
            ]
        );
    }

    #[test]
    fn stop_waits_for_a_slow_start() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        // The start command runs until the test opens its gate (at most 10 s).
        let gate = captured.dir.path().join("gate");
        let start = format!(
            "for i in $(seq 1000); do [ -e {gate} ] && break; sleep 0.01; done; echo start >> {out}",
            gate = gate.display()
        );
        let mut runner = runner();
        let cmd_timeout = Duration::from_millis(50);
        let d = door(
            Some(&start),
            Some(&format!("echo stop >> {out}")),
            cmd_timeout,
        );
        let opened = Instant::now();
        runner.open_door(&d, Source::with_host(V4, None), opened, &mut log);
        // Let the stop fall due while the start still runs.
        std::thread::sleep(cmd_timeout * 2);
        let now = Instant::now();
        runner.reap(now, &mut log);
        runner.on_timer(now, &mut log);
        assert_eq!((runner.running(), runner.pending_stops()), (1, 1));
        assert_eq!(
            runner.next_deadline(),
            None,
            "a blocked stop must not busy-wake the server"
        );
        assert_eq!(read(&out), "", "the stop waits for its start");
        fs::write(&gate, "").unwrap();
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        assert_eq!(read(&out), "start\nstop\n");
    }

    #[test]
    fn concurrency_is_bounded_and_every_start_runs() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let limits = RunnerLimits {
            max_running: 3,
            max_queued: 100,
        };
        let mut runner = CommandRunner::new(limits);
        let d = door(
            Some(&format!("sleep 0.3; echo x >> {out}")),
            None,
            Duration::ZERO,
        );
        for _ in 0..10 {
            runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        }
        assert_eq!((runner.running(), runner.queued()), (3, 7));
        let mut most = 0;
        drive(&mut runner, &mut log, Duration::from_secs(20), |r| {
            most = most.max(r.running());
            idle(r)
        });
        assert_eq!(most, 3);
        assert_eq!(read(&out).lines().count(), 10);
    }

    #[test]
    fn starts_beyond_the_queue_are_dropped_but_stops_are_not() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let limits = RunnerLimits {
            max_running: 1,
            max_queued: 2,
        };
        let mut runner = CommandRunner::new(limits);
        let d = door(
            Some(&format!("sleep 0.1; echo start >> {out}")),
            Some(&format!("echo stop >> {out}")),
            Duration::ZERO,
        );
        for _ in 0..5 {
            runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        }
        assert_eq!((runner.running(), runner.queued()), (1, 2));
        let dropped = "198.18.1.2: d: too many commands waiting, start command dropped\n";
        assert_eq!(captured.stderr.text(), dropped.repeat(2));
        drive(&mut runner, &mut log, Duration::from_secs(20), idle);
        // With one slot, each stop goes before the next waiting start.
        assert_eq!(read(&out), "start\nstop\n".repeat(3));
    }

    #[test]
    fn shutdown_runs_pending_stops_at_once() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let mut runner = runner();
        let d = door(
            Some(&format!("echo start >> {out}")),
            Some(&format!("echo stop >> {out}")),
            Duration::from_secs(3600),
        );
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        let begun = Instant::now();
        assert_eq!(runner.shutdown(begun, Duration::from_secs(10), &mut log), 0);
        assert!(begun.elapsed() < Duration::from_secs(5));
        assert_eq!(read(&out), "start\nstop\n");
        assert!(idle(&runner));
    }

    #[test]
    fn shutdown_wait_is_bounded_by_the_grace_period() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let pid_file = captured.dir.path().join("pid");
        let mut runner = runner();
        let d = door(
            Some(&format!("echo $$ > {}; exec sleep 100", pid_file.display())),
            Some(&format!("echo stop >> {out}")),
            Duration::from_secs(3600),
        );
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        let begun = Instant::now();
        let left = runner.shutdown(begun, Duration::from_millis(300), &mut log);
        let took = begun.elapsed();
        let pid = read(&pid_file.display().to_string());
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ =
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::SIGKILL);
        }
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert!(left >= 1, "{left}");
        assert!(captured
            .log_lines()
            .iter()
            .any(|l| l.ends_with("command(s) still running, not waiting for them")));
        // The door is closed anyway: the stop ran when the grace period ran out.
        let end = Instant::now() + Duration::from_secs(5);
        while read(&out).is_empty() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(read(&out), "stop\n");
    }

    /// Output is inherited, never piped through the daemon, so a command
    /// printing megabytes cannot block on it.
    #[test]
    #[cfg(target_os = "linux")] // reads /proc
    fn commands_share_the_daemons_stdout_and_stderr() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let mut runner = runner();
        let d = door(
            Some(&format!(
                "o=$(readlink /proc/$$/fd/1); e=$(readlink /proc/$$/fd/2); i=$(readlink /proc/$$/fd/0); \
                 printf '%s\\n' \"$o\" \"$e\" \"$i\" > {out}"
            )),
            None,
            Duration::ZERO,
        );
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        let ours: Vec<String> = ["/proc/self/fd/1", "/proc/self/fd/2"]
            .iter()
            .map(|p| fs::read_link(p).unwrap().display().to_string())
            .chain(["/dev/null".to_owned()])
            .collect();
        assert_eq!(read(&out).lines().collect::<Vec<_>>(), ours);
    }

    #[test]
    #[cfg(target_os = "linux")] // reads /proc
    fn descriptors_do_not_leak_into_commands() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        // A descriptor its owner forgot to mark close-on-exec.
        let leaky_path = captured.dir.path().join("leaky");
        let leaky = fs::File::create(&leaky_path).unwrap();
        let flags = nix::fcntl::fcntl(&leaky, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        let flags = nix::fcntl::FdFlag::from_bits_truncate(flags) - nix::fcntl::FdFlag::FD_CLOEXEC;
        nix::fcntl::fcntl(&leaky, nix::fcntl::FcntlArg::F_SETFD(flags)).unwrap();

        let mut runner = runner();
        let d = door(
            Some(&format!("ls -l /proc/$$/fd > {out}")),
            None,
            Duration::ZERO,
        );
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        let listing = read(&out);
        assert!(listing.contains(" 0 -> "), "{listing}");
        assert!(!listing.contains(leaky_path.to_str().unwrap()), "{listing}");
        assert!(
            !listing.contains(captured.log_path.to_str().unwrap()),
            "{listing}"
        );
        drop(leaky);
    }

    #[test]
    fn unstartable_command_has_no_stop() {
        let (mut log, captured) = capture(false, false);
        let mut runner = runner();
        // std refuses a NUL byte in an argument, which stands in for a fork
        // failure (EAGAIN) that a test cannot provoke safely.
        let d = door(Some("true\0"), Some("true"), Duration::ZERO);
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        assert!(idle(&runner));
        let lines = captured.log_lines();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[1].starts_with("d: error: command fork failed! ("),
            "{lines:?}"
        );
    }
}
