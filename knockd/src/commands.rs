//! Running doors' start and stop commands, and the ledger of open doors.
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
//! Doors that always close: with a [`Ledger`], each stop command is recorded
//! on disk before its start command runs and marked done once it has run,
//! so a knockd killed in between closes the door at its next start
//! ([`CommandRunner::recover`]) or at `knockd --close-all`.
//!
//! Children get stdin from `/dev/null` and the daemon's stdout and stderr (as
//! in 0.8), and their own process group, so a Ctrl-C meant for a foreground
//! knockd does not also kill half-run firewall commands. On Linux every
//! descriptor above 2 is marked close-on-exec before each spawn, so the
//! capture socket, log file, ledger or one-time sequences file never leak
//! into commands even if their owner forgot `O_CLOEXEC` (0.8's B26).
//!
//! Bounds (0.8 had none, B12/B13): at most [`RunnerLimits::max_running`]
//! commands run at once. Start commands beyond that wait in a FIFO of at most
//! [`RunnerLimits::max_queued`]; beyond that they are dropped with a log line
//! (`<src>: <door>: too many commands waiting, start command dropped`), which
//! keeps a knock flood (one-element UDP doors) from exhausting processes or
//! memory. At most [`RunnerLimits::max_open`] doors with a stop command are
//! open at once (and at most a door's `Max_Open` per door), so pending stops
//! and the ledger stay bounded too. A dropped or never-spawned start has no
//! stop. Stop commands are never dropped: a due stop waits for a free slot
//! and goes before any waiting start. Pending stops belong to doors already
//! opened and survive a configuration reload, as the runner keeps its own
//! copy of each command.

use std::collections::{HashMap, VecDeque};
use std::ffi::OsStr;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime};

use knockd_core::config::{Door, MAX_COMMAND_LEN};

use crate::ledger::{Entry, Ledger};
use crate::log::{CommandKind, Logger, Message, Source};
use crate::sys;

/// How often [`CommandRunner::shutdown`] checks on its children.
const SHUTDOWN_POLL: Duration = Duration::from_millis(10);

/// Bounds on the runner's children and backlog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunnerLimits {
    /// Most commands running at once (at least one is always allowed).
    pub max_running: usize,
    /// Most start commands waiting for a free slot; later ones are dropped.
    pub max_queued: usize,
    /// Most doors with a stop command open at once (`--max-open`).
    pub max_open: usize,
}

impl Default for RunnerLimits {
    /// 32 running, 1024 waiting, 4096 open.
    fn default() -> Self {
        RunnerLimits {
            max_running: 32,
            max_queued: 1024,
            max_open: 4096,
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

/// What a completed knock does to its door now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// The door opens: OPEN SESAME, then [`CommandRunner::open_door`].
    Open,
    /// The door is open for this knocker already and refreshes: its stop
    /// moves, see [`CommandRunner::extend`].
    Extend,
    /// The door is open for its `Max_Open` knockers already.
    DoorFull {
        /// The door's `Max_Open`.
        max: usize,
    },
    /// `--max-open` doors are open already.
    AllFull {
        /// `--max-open`.
        max: usize,
    },
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
    /// The start command's child id; `None` for a door a previous run opened.
    after: Option<u64>,
    door: String,
    knocker: Knocker,
    command: String,
    /// Its ledger record, if the ledger has it.
    ledger_id: Option<u64>,
    /// Whether running it logs `command timeout` (not for a door a previous
    /// run left open past its time, which has its own line).
    announce: bool,
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

/// Doors open now: a start with a stop command accepted and its stop not yet
/// run. Counted per (door, knocker) for `Refresh` and per door for `Max_Open`.
#[derive(Debug, Default)]
struct OpenDoors {
    pairs: HashMap<(String, IpAddr), usize>,
    per_door: HashMap<String, usize>,
    total: usize,
}

impl OpenDoors {
    fn add(&mut self, door: &str, addr: IpAddr) {
        *self.pairs.entry((door.to_owned(), addr)).or_default() += 1;
        *self.per_door.entry(door.to_owned()).or_default() += 1;
        self.total += 1;
    }

    fn remove(&mut self, door: &str, addr: IpAddr) {
        let key = (door.to_owned(), addr);
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

    fn is_open(&self, door: &str, addr: IpAddr) -> bool {
        self.pairs.contains_key(&(door.to_owned(), addr))
    }

    fn count(&self, door: &str) -> usize {
        self.per_door.get(door).copied().unwrap_or(0)
    }
}

/// Runs doors' commands and schedules their stop commands.
#[derive(Debug)]
pub struct CommandRunner {
    limits: RunnerLimits,
    next_id: u64,
    running: Vec<Running>,
    queued: VecDeque<QueuedStart>,
    stops: Vec<PendingStop>,
    open: OpenDoors,
    ledger: Option<Ledger>,
    stats: CommandStats,
    /// Each door's share of `stats`, by door name.
    door_stats: HashMap<String, CommandStats>,
}

/// A door open now, as `knockd status` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenDoor {
    /// The door's name.
    pub door: String,
    /// The knocker it is open for.
    pub source: IpAddr,
    /// Time until its stop command is due; `None` when it runs at shutdown
    /// only (a `Cmd_Timeout` too large to represent).
    pub closes_in: Option<Duration>,
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
            open: OpenDoors::default(),
            ledger,
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
        self.open.total
    }

    /// Door `door`'s share of [`CommandRunner::stats`].
    pub fn door_stats(&self, door: &str) -> CommandStats {
        self.door_stats.get(door).copied().unwrap_or_default()
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
                closes_in: stop.due.map(|due| due.saturating_duration_since(now)),
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

    /// `knockd close`: makes the stop commands of `door` for its knocker
    /// (or, for `None`, of every open door) due now, so they run through
    /// the same path as a timed close (ledger record closed once run; a
    /// stop still waits for its own start command to exit). Returns how
    /// many doors it closes.
    pub fn close_now(
        &mut self,
        door: Option<(&str, IpAddr)>,
        now: Instant,
        log: &mut Logger,
    ) -> usize {
        let mut closing = 0;
        for stop in &mut self.stops {
            if door.is_some_and(|(name, addr)| stop.door != name || stop.knocker.addr != addr) {
                continue;
            }
            log.emit(&Message::ClosingOnRequest {
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
        self.ledger.as_mut()
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
        for entry in pending {
            let knocker = Knocker {
                addr: entry.source,
                host: None,
            };
            let left = entry.deadline.duration_since(wall).unwrap_or_default();
            let source = knocker.source();
            if left.is_zero() {
                log.emit(&Message::ClosingLeftOpen {
                    source,
                    door: &entry.door,
                });
            } else {
                log.emit(&Message::LeftOpenRearmed {
                    source,
                    door: &entry.door,
                    left,
                });
            }
            self.open.add(&entry.door, entry.source);
            self.stops.push(PendingStop {
                due: now.checked_add(left),
                after: None,
                door: entry.door,
                knocker,
                command: entry.stop,
                ledger_id: Some(entry.id),
                announce: !left.is_zero(),
            });
        }
        self.dispatch(now, log);
    }

    /// What a knock that completed `door` for `addr` does now: open it, move
    /// the stop of a refreshing door already open for `addr`, or nothing
    /// because a cap is reached. Doors without a stop command for `addr`'s
    /// family never close, so they are neither counted nor refused.
    pub fn opening(&self, door: &Door, addr: IpAddr) -> Opening {
        if door.stop_command_for(addr.is_ipv6()).is_none() {
            return Opening::Open;
        }
        if door.refresh && self.open.is_open(&door.name, addr) {
            return Opening::Extend;
        }
        if let Some(max) = door
            .max_open
            .filter(|&max| self.open.count(&door.name) >= max)
        {
            return Opening::DoorFull { max };
        }
        if self.open.total >= self.limits.max_open {
            return Opening::AllFull {
                max: self.limits.max_open,
            };
        }
        Opening::Open
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
            self.count(&door.name, |s| &mut s.dropped);
            return;
        }
        if stop.as_ref().is_some_and(|c| c.len() > MAX_COMMAND_LEN) {
            log.emit(&Message::CommandTruncated(CommandKind::Stop));
            self.count(&door.name, |s| &mut s.dropped);
            return;
        }
        if self.queued.len() >= self.limits.max_queued {
            self.count(&door.name, |s| &mut s.dropped);
            log.emit(&Message::CommandDropped {
                source,
                door: &door.name,
            });
            return;
        }
        if stop.is_some() {
            self.open.add(&door.name, source.addr);
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

    /// A refreshing door already open for `addr` was knocked again: its stop
    /// command moves to `Cmd_Timeout` after `now` (the start command does not
    /// run again). A door whose start has not run yet gets its stop from then.
    pub fn extend(&mut self, door: &Door, addr: IpAddr, now: Instant, log: &mut Logger) {
        let Some(stop) = self
            .stops
            .iter_mut()
            .find(|stop| stop.door == door.name && stop.knocker.addr == addr)
        else {
            return;
        };
        stop.due = now.checked_add(door.cmd_timeout);
        stop.announce = true;
        if let (Some(ledger), Some(id)) = (self.ledger.as_mut(), stop.ledger_id) {
            let deadline = wall_deadline(door.cmd_timeout);
            if let Err(error) = ledger.record_extend(id, deadline) {
                log.emit(&Message::LedgerWriteFailed { error: &error });
            }
        }
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

    /// Shuts down: drops start commands still waiting (their doors were never
    /// opened), runs every pending stop command whose start command has
    /// exited at once (so shutdown closes the doors it opened), and waits up
    /// to `grace` for all commands to exit. A stop whose start command is
    /// still running when the grace period ends does not run (it would race
    /// its start, which may open the door again after it): it stays in the
    /// ledger for the next start or `--close-all`, and is logged. Returns how
    /// many commands were left running; they are not killed (a half-run
    /// firewall command is worse than a late one) and are logged.
    pub fn shutdown(&mut self, now: Instant, grace: Duration, log: &mut Logger) -> usize {
        for start in self.queued.drain(..) {
            if start.stop.is_some() {
                self.open.remove(&start.door, start.knocker.addr);
            }
        }
        let deadline = now.checked_add(grace).unwrap_or(now);
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
            if self.running.is_empty() || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(
                SHUTDOWN_POLL.min(deadline.saturating_duration_since(Instant::now())),
            );
        }
        for stop in self.stops.drain(..) {
            log.emit(&Message::StopLeftPending {
                source: stop.knocker.source(),
                door: &stop.door,
                in_ledger: stop.ledger_id.is_some(),
            });
        }
        let left = self.running.len();
        if left > 0 {
            log.emit(&Message::ChildrenLeftRunning { count: left });
        }
        self.running.clear();
        left
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
        let ledger_id = match (&start.stop, self.ledger.as_mut()) {
            (Some(stop), Some(ledger)) => {
                let deadline = wall_deadline(start.cmd_timeout);
                let recorded = ledger.record_open(&start.door, start.knocker.addr, stop, deadline);
                // A door whose record cannot be written still opens: knockd
                // never locks its admin out; it only would not survive a crash.
                recorded
                    .map_err(|error| log.emit(&Message::LedgerWriteFailed { error: &error }))
                    .ok()
            }
            _ => None,
        };
        let Some(id) = self.spawn(&start.door, &start.start, None, log) else {
            // Never started, so never to be closed.
            if start.stop.is_some() {
                self.open.remove(&start.door, start.knocker.addr);
            }
            self.close_record(ledger_id, log);
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
            log.emit(&Message::CommandTimeout {
                source: stop.knocker.source(),
                door: &stop.door,
            });
        }
        self.open.remove(&stop.door, stop.knocker.addr);
        // A stop that cannot start stays in the ledger, for the next start.
        self.spawn(&stop.door, &stop.command, stop.ledger_id, log);
    }

    fn close_record(&mut self, ledger_id: Option<u64>, log: &mut Logger) {
        if let (Some(ledger), Some(id)) = (self.ledger.as_mut(), ledger_id) {
            if let Err(error) = ledger.record_close(id) {
                log.emit(&Message::LedgerWriteFailed { error: &error });
            }
        }
    }

    /// Starts `/bin/sh -c <command>` and tracks it; returns its id, or `None`
    /// (logged) when it could not be started.
    fn spawn(
        &mut self,
        door: &str,
        command: &str,
        closes: Option<u64>,
        log: &mut Logger,
    ) -> Option<u64> {
        log.emit(&Message::RunningCommand { door, command });
        let mut shell = Command::new("/bin/sh");
        shell
            .arg("-c")
            // Byte for byte as in knockd.conf, bytes that are not UTF-8 included.
            .arg(OsStr::from_bytes(&knockd_core::bytes::encode(command)))
            .stdin(Stdio::null())
            .process_group(0);
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
                log.emit(&Message::SpawnFailed {
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
                    self.close_record(entry.closes, log);
                }
                Err(error) => {
                    // Someone else reaped it (a waitpid(-1) elsewhere); it is gone either way.
                    let entry = self.running.swap_remove(i);
                    let door = &entry.door;
                    log.emit(&Message::Error(&format_args!(
                        "{door}: lost track of command: {error}"
                    )));
                    self.close_record(entry.closes, log);
                }
            }
        }
    }
}

/// The wall-clock time `cmd_timeout` from now, for the ledger.
fn wall_deadline(cmd_timeout: Duration) -> SystemTime {
    let now = SystemTime::now();
    now.checked_add(cmd_timeout).unwrap_or(now)
}

fn report_exit(door: &str, status: ExitStatus, log: &mut Logger) {
    match (status.code(), status.signal()) {
        (Some(0), _) => {}
        (Some(code), _) => log.emit(&Message::NonZeroStatus { door, code }),
        (None, Some(signal)) => log.emit(&Message::KilledBySignal { door, signal }),
        (None, None) => {}
    }
}

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
        CommandRunner::new(RunnerLimits::default(), None)
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
            ..RunnerLimits::default()
        };
        let mut runner = CommandRunner::new(limits, None);
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
            ..RunnerLimits::default()
        };
        let mut runner = CommandRunner::new(limits, None);
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
    fn shutdown_wait_is_bounded_and_a_stop_never_races_its_start() {
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
        assert_eq!(left, 1);
        // The start may still open the door after a stop run now, so the
        // stop does not run: without a ledger the door stays open.
        assert_eq!(
            captured.log_lines()[1..],
            [
                "198.18.1.2: d: start command still running at shutdown, stop command not run --> the door stays open (no door ledger)",
                "1 command(s) still running, not waiting for them",
            ]
        );
        assert_eq!(read(&out), "");
    }

    fn ledger_in(dir: &std::path::Path) -> Ledger {
        Ledger::open(dir).unwrap().ledger
    }

    fn journal(dir: &std::path::Path) -> String {
        dir.join("doors").display().to_string()
    }

    #[test]
    fn a_door_is_in_the_ledger_before_its_start_runs_and_leaves_it_after_its_stop() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let state = captured.dir.path().join("state");
        let mut runner = CommandRunner::new(RunnerLimits::default(), Some(ledger_in(&state)));
        let d = door(
            Some(&format!("grep -c '^open' {} > {out}", journal(&state))),
            Some(&format!("echo stop >> {out}")),
            Duration::from_millis(50),
        );
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        assert_eq!(read(&out), "1\nstop\n");
        drop(runner);
        let reopened = Ledger::open(&state).unwrap();
        assert!(reopened.pending.is_empty(), "{:?}", reopened.pending);
    }

    #[test]
    fn close_now_runs_the_chosen_stops_at_once_and_closes_their_records() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let state = captured.dir.path().join("state");
        let mut runner = CommandRunner::new(RunnerLimits::default(), Some(ledger_in(&state)));
        let d = door(
            Some(&format!("echo start %IP% >> {out}")),
            Some(&format!("echo stop %IP% >> {out}")),
            Duration::from_secs(3600),
        );
        let now = Instant::now();
        for addr in [V4, V6] {
            runner.open_door(&d, Source::with_host(addr, None), now, &mut log);
        }
        drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
            r.running() == 0
        });
        let open = runner.open_door_list(Instant::now());
        assert_eq!(open.len(), 2);
        assert!(open
            .iter()
            .all(|o| o.door == "d" && o.closes_in > Some(Duration::from_secs(3590))));
        assert_eq!(
            runner.close_now(Some(("d", V6)), Instant::now(), &mut log),
            1
        );
        assert_eq!(
            runner.close_now(Some(("e", V4)), Instant::now(), &mut log),
            0
        );
        drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
            r.running() == 0
        });
        // The two start commands run at once, in either order.
        let mut lines: Vec<String> = read(&out).lines().map(str::to_owned).collect();
        lines[..2].sort();
        assert_eq!(
            lines,
            ["start 198.18.1.2", "start fd00:1::2", "stop fd00:1::2"]
        );
        assert_eq!(runner.open_door_list(Instant::now())[0].source, V4);
        assert_eq!(runner.close_now(None, Instant::now(), &mut log), 1);
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        assert!(read(&out).ends_with("stop 198.18.1.2\n"));
        let lines = captured.log_lines();
        assert!(lines.contains(&"fd00:1::2: d: closing on request (knockd close)".to_owned()));
        assert!(
            !lines.iter().any(|l| l.contains("command timeout")),
            "{lines:?}"
        );
        assert_eq!(
            runner.door_stats("d"),
            CommandStats {
                run: 4,
                failed: 0,
                dropped: 0
            }
        );
        assert_eq!(runner.door_stats("e"), CommandStats::default());
        drop(runner);
        let reopened = Ledger::open(&state).unwrap();
        assert!(reopened.pending.is_empty(), "{:?}", reopened.pending);
    }

    #[test]
    fn doors_a_dead_runner_left_open_close_at_the_next_start() {
        let (mut log, captured) = capture(true, false);
        let out = out_file(&captured);
        let state = captured.dir.path().join("state");
        let mut runner = CommandRunner::new(RunnerLimits::default(), Some(ledger_in(&state)));
        let late = door(
            Some("true"),
            Some(&format!("echo late %IP% >> {out}")),
            Duration::from_secs(1),
        );
        let mut early = door(
            Some("true"),
            Some(&format!("echo early >> {out}")),
            Duration::from_secs(3600),
        );
        early.name = "early".into();
        runner.open_door(&late, Source::with_host(V4, None), Instant::now(), &mut log);
        runner.open_door(
            &early,
            Source::with_host(V6, None),
            Instant::now(),
            &mut log,
        );
        drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
            r.running() == 0
        });
        // Killed: no stop ran, no shutdown.
        drop(runner);

        let opened = Ledger::open(&state).unwrap();
        assert_eq!(opened.pending.len(), 2);
        let mut runner = CommandRunner::new(RunnerLimits::default(), Some(opened.ledger));
        let now = Instant::now();
        // Two seconds later: `late` is past its deadline, `early` is not.
        let wall = SystemTime::now() + Duration::from_secs(2);
        runner.recover(opened.pending, now, wall, &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
            r.running() == 0
        });
        assert_eq!(read(&out), "late 198.18.1.2\n");
        let rearmed = runner.next_deadline().unwrap() - now;
        assert!(
            rearmed > Duration::from_secs(3590) && rearmed <= Duration::from_secs(3598),
            "{rearmed:?}"
        );
        let stdout = captured.stdout.text();
        assert!(
            stdout.contains("198.18.1.2: d: closing a door left open by a previous run\n"),
            "{stdout}"
        );
        assert!(
            stdout
                .contains("fd00:1::2: early: a door left open by a previous run closes in 3598s\n"),
            "{stdout}"
        );
        drop(runner);
        let pending = Ledger::open(&state).unwrap().pending;
        assert_eq!(
            pending.iter().map(|e| e.door.as_str()).collect::<Vec<_>>(),
            ["early"]
        );
    }

    #[test]
    fn a_refreshing_door_runs_its_start_once_and_its_stop_once_at_the_new_deadline() {
        let (mut log, captured) = capture(false, false);
        let out = out_file(&captured);
        let mut runner = runner();
        let mut d = door(
            Some(&format!("echo start >> {out}")),
            Some(&format!("echo stop >> {out}")),
            Duration::from_millis(300),
        );
        d.refresh = true;
        let first = Instant::now();
        assert_eq!(runner.opening(&d, V4), Opening::Open);
        runner.open_door(&d, Source::with_host(V4, None), first, &mut log);
        drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
            r.running() == 0
        });
        assert_eq!(runner.opening(&d, V4), Opening::Extend);
        assert_eq!(runner.opening(&d, V6), Opening::Open, "another knocker");
        let again = first + Duration::from_millis(200);
        runner.extend(&d, V4, again, &mut log);
        assert_eq!(
            runner.next_deadline(),
            Some(again + Duration::from_millis(300))
        );
        drive(&mut runner, &mut log, Duration::from_secs(10), idle);
        assert_eq!(read(&out), "start\nstop\n");
        assert_eq!(runner.opening(&d, V4), Opening::Open, "closed again");
        // Without Refresh the door opens again, as in 0.8.
        d.refresh = false;
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        assert_eq!(runner.opening(&d, V4), Opening::Open);
    }

    #[test]
    fn caps_on_open_doors_refuse_openings_that_would_need_a_stop() {
        let limits = RunnerLimits {
            max_open: 2,
            ..RunnerLimits::default()
        };
        let (mut log, _captured) = capture(false, false);
        let mut runner = CommandRunner::new(limits, None);
        let mut d = door(Some("true"), Some("true"), Duration::from_secs(3600));
        d.max_open = Some(1);
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
        assert_eq!(runner.opening(&d, V6), Opening::DoorFull { max: 1 });
        let mut other = door(Some("true"), Some("true"), Duration::from_secs(3600));
        other.name = "other".into();
        runner.open_door(
            &other,
            Source::with_host(V4, None),
            Instant::now(),
            &mut log,
        );
        assert_eq!(runner.opening(&other, V6), Opening::AllFull { max: 2 });
        let no_stop = door(Some("true"), None, Duration::ZERO);
        assert_eq!(
            runner.opening(&no_stop, V6),
            Opening::Open,
            "never closes, never counted"
        );
        drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
            r.running() == 0
        });
        runner.shutdown(Instant::now(), Duration::from_secs(10), &mut log);
        assert_eq!(runner.opening(&other, V6), Opening::Open, "the stops ran");
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
