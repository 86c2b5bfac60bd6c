//! The runner: queues start commands, spawns every command through
//! `/bin/sh -c`, reaps them, and runs each stop command once its
//! `Cmd_Timeout` has passed and its start command has exited. Which doors are
//! open, and their ledger, it leaves to the [`DoorBook`].

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use knockd_core::config::{Door, MAX_COMMAND_LEN};
use knockd_core::substitution::expand;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

use super::book::DoorBook;
use super::{CommandStats, Knocker, OpenDoor, Opening, PendingStop, RunnerLimits};
use crate::ledger::{Entry, Ledger};
use crate::log::{
    CommandKind, CommandMessage, ControlMessage, DaemonMessage, LedgerMessage, Logger, Source,
};
use crate::sys;

/// How often [`CommandRunner::shutdown`] checks on its children.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);

/// How long a start command ended at shutdown has between SIGTERM and SIGKILL.
pub const KILL_AFTER: Duration = Duration::from_millis(500);

/// Whether a command is killed when the daemon dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tie {
    /// A start command with a stop: it must not open the door after the
    /// next knockd ran the stop from the ledger.
    DiesWithDaemon,
    /// A stop command, or a start without one: a half-run firewall command
    /// is worse than a late one.
    Outlives,
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

/// A running command.
#[derive(Debug)]
struct Running {
    id: u64,
    door: String,
    child: Child,
    /// For a stop command: the ledger record it closes once it has run.
    closes: Option<u64>,
}

/// Runs doors' commands and schedules their stop commands.
#[derive(Debug)]
pub struct CommandRunner {
    limits: RunnerLimits,
    next_id: u64,
    running: Vec<Running>,
    queued: VecDeque<QueuedStart>,
    stops: Vec<PendingStop>,
    book: DoorBook,
    stats: CommandStats,
    /// Each door's share of `stats`, by door name.
    door_stats: HashMap<String, CommandStats>,
}

impl CommandRunner {
    /// An idle runner, recording open doors in `ledger` when there is one.
    pub fn new(limits: RunnerLimits, ledger: Option<Ledger>) -> Self {
        CommandRunner {
            limits: RunnerLimits {
                max_running: limits.max_running.max(1),
                ..limits
            },
            next_id: 0,
            running: Vec::new(),
            queued: VecDeque::new(),
            stops: Vec::new(),
            book: DoorBook::new(limits.max_open, ledger),
            stats: CommandStats::default(),
            door_stats: HashMap::new(),
        }
    }

    /// Totals since the runner was created.
    pub fn stats(&self) -> CommandStats {
        self.stats
    }

    /// How many doors are open now (their stop command pending).
    pub fn open_doors(&self) -> usize {
        self.book.total()
    }

    /// Each door's share of [`CommandRunner::stats`], by name (doors that
    /// ran no command are absent).
    pub fn door_stats(&self) -> Vec<(String, CommandStats)> {
        let mut stats: Vec<_> = (self.door_stats.iter())
            .map(|(door, stats)| (door.clone(), *stats))
            .collect();
        stats.sort_by(|a, b| a.0.cmp(&b.0));
        stats
    }

    /// Counts one command of `door` in the totals and in the door's share.
    fn count(&mut self, door: &str, field: fn(&mut CommandStats) -> &mut u64) {
        *field(&mut self.stats) += 1;
        match self.door_stats.get_mut(door) {
            Some(stats) => *field(stats) += 1,
            None => *field(self.door_stats.entry(door.to_owned()).or_default()) += 1,
        }
    }

    /// Each open door and knocker, its stop command scheduled, soonest to
    /// close first.
    pub fn open_door_list(&self, now: Instant) -> Vec<OpenDoor> {
        let mut open: Vec<OpenDoor> = self
            .stops
            .iter()
            .map(|stop| OpenDoor {
                door: stop.door.clone(),
                source: stop.knocker.addr,
                network: stop.knocker.network,
                closes_in: stop.due.map(|due| due.saturating_duration_since(now)),
                nft_set: None,
            })
            .collect();
        open.sort_by(|a, b| {
            let never = |d: &OpenDoor| d.closes_in.is_none();
            (never(a), a.closes_in, &a.door, a.source).cmp(&(
                never(b),
                b.closes_in,
                &b.door,
                b.source,
            ))
        });
        open
    }

    /// `knockd close`: makes the stop commands of `door` for the network
    /// that holds the address (or, for `None`, of every open door) due now,
    /// so they run through the same path as a timed close (ledger record
    /// closed once run; a stop still waits for its own start command to
    /// exit). Returns how many doors it closes.
    pub fn close_now(
        &mut self,
        door: Option<(&str, IpAddr)>,
        now: Instant,
        log: &mut Logger,
    ) -> usize {
        let mut closing = 0;
        for stop in &mut self.stops {
            let other = |(name, addr)| stop.door != name || !stop.knocker.network.contains(addr);
            if door.is_some_and(other) {
                continue;
            }
            log.emit(&ControlMessage::ClosingOnRequest {
                source: stop.knocker.source(),
                door: &stop.door,
            });
            stop.due = Some(now);
            stop.announce = false;
            closing += 1;
        }
        self.dispatch(now, log);
        closing
    }

    /// The ledger, if doors are recorded in one.
    pub fn ledger_mut(&mut self) -> Option<&mut Ledger> {
        self.book.ledger_mut()
    }

    /// Takes over the doors a previous run left open: a stop command past its
    /// deadline runs at once (`closing a door left open by a previous run`),
    /// the others run when their deadline comes. `now` and `wall` are the
    /// same moment on the monotonic and the wall clock.
    pub fn recover(
        &mut self,
        pending: Vec<Entry>,
        now: Instant,
        wall: SystemTime,
        log: &mut Logger,
    ) {
        let stops = self.book.recover(pending, now, wall, log);
        self.stops.extend(stops);
        self.dispatch(now, log);
    }

    /// What a knock that completed `door` for `addr` does now: open it, move
    /// the stop of a refreshing door already open for `addr`'s network, or
    /// nothing because a cap is reached. Doors without a stop command for
    /// `addr`'s family never close, so they are neither counted nor refused.
    pub fn opening(&self, door: &Door, addr: IpAddr) -> Opening {
        self.book.opening(door, door.open_prefix.network(addr))
    }

    /// Runs `door`'s start command for a knocker that just opened it (OPEN
    /// SESAME) and schedules its stop command. The commands are chosen for
    /// the knocker's address family (`Start_Command_6` ...), with `%IP%`,
    /// `%NET%` and `%PREFIX%` replaced; a door without a start command for
    /// it runs nothing. An expanded command longer than 0.8's
    /// limit is refused with its log line and neither command runs.
    pub fn open_door(&mut self, door: &Door, source: Source<'_>, now: Instant, log: &mut Logger) {
        let ipv6 = source.addr.is_ipv6();
        let Some(start) = door.start_command_for(ipv6) else {
            return;
        };
        let network = door.open_prefix.network(source.addr);
        let start = expand(start, source.addr, network);
        let stop = (door.stop_command_for(ipv6)).map(|c| expand(c, source.addr, network));
        if start.len() > MAX_COMMAND_LEN {
            log.emit(&CommandMessage::CommandTruncated(CommandKind::Start));
            self.count(&door.name, |s| &mut s.dropped);
            return;
        }
        if stop.as_ref().is_some_and(|c| c.len() > MAX_COMMAND_LEN) {
            log.emit(&CommandMessage::CommandTruncated(CommandKind::Stop));
            self.count(&door.name, |s| &mut s.dropped);
            return;
        }
        if self.queued.len() >= self.limits.max_queued {
            self.count(&door.name, |s| &mut s.dropped);
            log.emit(&CommandMessage::CommandDropped {
                source,
                door: &door.name,
            });
            return;
        }
        if stop.is_some() {
            self.book.add(&door.name, network);
        }
        self.queued.push_back(QueuedStart {
            door: door.name.clone(),
            knocker: Knocker {
                addr: source.addr,
                host: source.host.map(str::to_owned),
                network,
            },
            start,
            stop,
            cmd_timeout: door.cmd_timeout,
        });
        self.dispatch(now, log);
    }

    /// A refreshing door already open for `addr`'s network was knocked
    /// again: its stop command moves to `Cmd_Timeout` after `now` (the start
    /// command does not run again). A door whose start has not run yet gets
    /// its stop from then.
    pub fn extend(&mut self, door: &Door, addr: IpAddr, now: Instant, log: &mut Logger) {
        let network = door.open_prefix.network(addr);
        let Some(stop) = (self.stops.iter_mut())
            .find(|stop| stop.door == door.name && stop.knocker.network == network)
        else {
            return;
        };
        stop.due = now.checked_add(door.cmd_timeout);
        stop.announce = true;
        self.book
            .record_extend(stop.ledger_id, door.cmd_timeout, log);
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
            .filter(|stop| !self.start_running(stop))
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

    /// Shuts down within `grace`: drops start commands still waiting (their
    /// doors were never opened) and runs every pending stop command whose
    /// start command has exited, at once. A start command still running
    /// after half of `grace` whose stop is pending is ended (its process
    /// group gets SIGTERM, then SIGKILL [`KILL_AFTER`] later) and reaped,
    /// and then its stop runs: no start command completes after its stop
    /// ran, and the door closes. Then it waits for the rest of `grace` (at
    /// least [`KILL_AFTER`] after the SIGKILL) for all commands to exit. A
    /// stop whose start cannot be reaped in time does not run; it stays in
    /// the ledger for the next start or `--close-all`, and is logged. Returns how many commands were left
    /// running; the others (stop commands, starts of doors without one) are
    /// not killed (a half-run firewall command is worse than a late one) and
    /// are logged.
    pub fn shutdown(&mut self, now: Instant, grace: Duration, log: &mut Logger) -> usize {
        for start in self.queued.drain(..) {
            if start.stop.is_some() {
                self.book.remove(&start.door, start.knocker.network);
            }
        }
        let starts_end = now.checked_add(grace / 2).unwrap_or(now);
        self.settle(starts_end, |runner| runner.stops.is_empty(), log);
        let mut deadline = now.checked_add(grace).unwrap_or(now);
        if !self.stops.is_empty() && self.end_blocking_starts(log) {
            // However short the grace, the SIGKILLed starts get time to be
            // reaped, so that their stops run.
            deadline = deadline.max(Instant::now() + KILL_AFTER);
        }
        self.settle(deadline, |_| false, log);
        for stop in self.stops.drain(..) {
            log.emit(&LedgerMessage::StopLeftPending {
                source: stop.knocker.source(),
                door: &stop.door,
                in_ledger: stop.ledger_id.is_some(),
            });
        }
        let left = self.running.len();
        if left > 0 {
            log.emit(&CommandMessage::ChildrenLeftRunning { count: left });
        }
        self.running.clear();
        left
    }

    /// Reaps commands and runs every stop whose start has exited, until no
    /// command runs, `done` holds, or `deadline` passes.
    fn settle(&mut self, deadline: Instant, done: fn(&Self) -> bool, log: &mut Logger) {
        loop {
            self.collect_exited(log);
            let mut i = 0;
            while let Some(stop) = self.stops.get(i) {
                if self.start_running(stop) {
                    i += 1;
                } else {
                    let stop = self.stops.swap_remove(i);
                    self.run_stop(stop, log);
                }
            }
            if self.running.is_empty() || done(self) || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(
                SHUTDOWN_POLL.min(deadline.saturating_duration_since(Instant::now())),
            );
        }
    }

    /// Ends the start commands that pending stops wait for: SIGTERM to each
    /// one's process group, SIGKILL [`KILL_AFTER`] later, and reaps them.
    /// None is reaped before its SIGKILL: an unreaped shell keeps its
    /// process group id from being reused by an unrelated process. Returns
    /// whether it ended any.
    fn end_blocking_starts(&mut self, log: &mut Logger) -> bool {
        let blocking: Vec<u64> = self.stops.iter().filter_map(|stop| stop.after).collect();
        let ending: Vec<Pid> = self
            .running
            .iter()
            .filter(|running| blocking.contains(&running.id))
            .map(|running| Pid::from_raw(running.child.id() as i32))
            .collect();
        if ending.is_empty() {
            return false;
        }
        for stop in self.stops.iter().filter(|stop| self.start_running(stop)) {
            log.emit(&LedgerMessage::StartEnded {
                source: stop.knocker.source(),
                door: &stop.door,
            });
        }
        // ESRCH: the group is gone already, which is what is wanted.
        for &group in &ending {
            let _ = killpg(group, Signal::SIGTERM);
        }
        std::thread::sleep(KILL_AFTER);
        for &group in &ending {
            let _ = killpg(group, Signal::SIGKILL);
        }
        true
    }

    /// Whether `stop`'s start command is still running.
    fn start_running(&self, stop: &PendingStop) -> bool {
        stop.after
            .is_some_and(|after| self.running.iter().any(|r| r.id == after))
    }

    /// Starts due stops, then waiting starts, while slots are free.
    fn dispatch(&mut self, now: Instant, log: &mut Logger) {
        while self.running.len() < self.limits.max_running {
            let ready = self
                .stops
                .iter()
                .enumerate()
                .filter(|(_, stop)| stop.due.is_some_and(|due| due <= now))
                .filter(|(_, stop)| !self.start_running(stop))
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
            self.run_start(start, now, log);
        }
    }

    /// Records the door in the ledger, then runs its start command and
    /// schedules its stop.
    fn run_start(&mut self, start: QueuedStart, now: Instant, log: &mut Logger) {
        let ledger_id = start.stop.as_ref().and_then(|stop| {
            self.book.record_open(
                &start.door,
                start.knocker.network,
                stop,
                start.cmd_timeout,
                log,
            )
        });
        // Only a start with a stop can race it; others are left to finish.
        let tied = if start.stop.is_some() {
            Tie::DiesWithDaemon
        } else {
            Tie::Outlives
        };
        let Some(id) = self.spawn(&start.door, &start.start, tied, None, log) else {
            // Never started, so never to be closed.
            if start.stop.is_some() {
                self.book.remove(&start.door, start.knocker.network);
            }
            self.book.record_close(ledger_id, log);
            return;
        };
        if let Some(command) = start.stop {
            self.stops.push(PendingStop {
                due: now.checked_add(start.cmd_timeout),
                after: Some(id),
                door: start.door,
                knocker: start.knocker,
                command,
                ledger_id,
                announce: true,
            });
        }
    }

    fn run_stop(&mut self, stop: PendingStop, log: &mut Logger) {
        if stop.announce {
            log.emit(&CommandMessage::CommandTimeout {
                source: stop.knocker.source(),
                door: &stop.door,
            });
        }
        self.book.remove(&stop.door, stop.knocker.network);
        // A stop that cannot start stays in the ledger, for the next start.
        self.spawn(
            &stop.door,
            &stop.command,
            Tie::Outlives,
            stop.ledger_id,
            log,
        );
    }

    /// Starts `/bin/sh -c <command>` and tracks it; returns its id, or `None`
    /// (logged) when it could not be started. With [`Tie::DiesWithDaemon`]
    /// it dies with the daemon where the system allows
    /// ([`sys::process::die_with_daemon`]).
    fn spawn(
        &mut self,
        door: &str,
        command: &str,
        tie: Tie,
        closes: Option<u64>,
        log: &mut Logger,
    ) -> Option<u64> {
        log.emit(&CommandMessage::RunningCommand { door, command });
        let mut shell = Command::new("/bin/sh");
        shell
            .arg("-c")
            // Byte for byte as in knockd.conf, bytes that are not UTF-8 included.
            .arg(OsStr::from_bytes(&knockd_core::bytes::encode(command)))
            .stdin(Stdio::null())
            .process_group(0);
        if tie == Tie::DiesWithDaemon {
            sys::process::die_with_daemon(&mut shell);
        }
        sys::process::close_inherited_descriptors();
        match shell.spawn() {
            Ok(child) => {
                self.count(door, |s| &mut s.run);
                let id = self.next_id;
                self.next_id = self.next_id.wrapping_add(1);
                self.running.push(Running {
                    id,
                    door: door.to_owned(),
                    child,
                    closes,
                });
                Some(id)
            }
            Err(error) => {
                self.count(door, |s| &mut s.failed);
                log.emit(&CommandMessage::SpawnFailed {
                    door,
                    error: &error,
                });
                None
            }
        }
    }

    /// Removes every exited child, logging how it failed if it did, and
    /// closes the ledger record of each stop command that has run.
    fn collect_exited(&mut self, log: &mut Logger) {
        let mut i = 0;
        while let Some(entry) = self.running.get_mut(i) {
            match entry.child.try_wait() {
                Ok(None) => i += 1,
                Ok(Some(status)) => {
                    let entry = self.running.swap_remove(i);
                    if !status.success() {
                        self.count(&entry.door, |s| &mut s.failed);
                    }
                    report_exit(&entry.door, status, log);
                    self.book.record_close(entry.closes, log);
                }
                Err(error) => {
                    // Someone else reaped it (a waitpid(-1) elsewhere); it is gone either way.
                    let entry = self.running.swap_remove(i);
                    let door = &entry.door;
                    log.emit(&DaemonMessage::Error(&format_args!(
                        "{door}: lost track of command: {error}"
                    )));
                    self.book.record_close(entry.closes, log);
                }
            }
        }
    }
}

/// What the tests inspect of a runner.
#[cfg(test)]
impl CommandRunner {
    /// Commands running now.
    pub(super) fn running(&self) -> usize {
        self.running.len()
    }

    /// Stop commands scheduled but not yet started.
    pub(super) fn pending_stops(&self) -> usize {
        self.stops.len()
    }

    /// Start commands waiting for a free slot.
    pub(super) fn queued(&self) -> usize {
        self.queued.len()
    }
}

fn report_exit(door: &str, status: ExitStatus, log: &mut Logger) {
    match (status.code(), status.signal()) {
        (Some(0), _) => {}
        (Some(code), _) => log.emit(&CommandMessage::NonZeroStatus { door, code }),
        (None, Some(signal)) => log.emit(&CommandMessage::KilledBySignal { door, signal }),
        (None, None) => {}
    }
}
