//! The opener: the half of knockd that changes the firewall. It alone knows
//! the doors' commands; it runs them, keeps the door ledger, records spent
//! rotating steps and marks one-time sequences used.
//!
//! The watcher (the packet-facing half, the server's loop) asks it for
//! openings by door index and address ([`WatcherRequest`]); the opener
//! checks each request against its own configuration generation ([`checks`])
//! and answers with [`Notice`]s. With privilege separation (the default) the
//! two halves are two processes and the requests cross a socket
//! (`crate::privsep`); with `Privsep = no` the server holds the opener and
//! calls it directly. Either way every opening takes this one path.
//!
//! An `Nft_Set` door opens by a netlink batch ([`crate::nft`]) instead of
//! a command: the opener holds the netlink socket, so the watcher never
//! needs `CAP_NET_ADMIN`, and the kernel, not the runner, closes it.

mod checks;
mod generations;
mod notice;

use std::net::IpAddr;
use std::time::Instant;

use knock_proto::io_message;
use knockd_core::doors::Loaded;
use knockd_core::privsep::WatcherRequest;
use knockd_core::Door;

use crate::commands::{CommandRunner, Opening};
use crate::ledger::Entry;
use crate::log::{DaemonMessage, KnockMessage, LogSettings, Logger, OpenCap, Source};
use crate::nft::NftDoors;
use crate::spent_steps::SpentSteps;
use crate::step_windows;
use checks::{Checks, Refusal};
use generations::Generations;
pub use notice::{without_commands, Generation, Notice, Purpose, Report};

/// The doors' commands and everything that must survive them.
#[derive(Debug)]
pub struct Opener {
    /// The running configuration, commands included, and the earlier ones
    /// the watcher may still name: a knock completed just before a reload
    /// still opens its door.
    generations: Generations,
    runner: CommandRunner,
    /// Spent rotating steps, kept in the state directory.
    spent: SpentSteps,
    checks: Checks,
    /// Doors a previous run left open, until [`Opener::recover`].
    pending: Vec<Entry>,
    /// The watcher's last count of knock attempts in progress.
    attempts: usize,
    /// The kernel sets of `Nft_Set` doors.
    nft: NftDoors,
}

impl Opener {
    /// An opener for `loaded` (generation 0), running commands with
    /// `runner` and recording spent steps in `spent`; `pending` are the
    /// doors the ledger says a previous run left open, closed by
    /// [`Opener::recover`]. `loopback_capture`: whether knocks may come from
    /// loopback addresses (the capture is on loopback).
    pub fn new(
        loaded: Loaded,
        runner: CommandRunner,
        spent: SpentSteps,
        pending: Vec<Entry>,
        loopback_capture: bool,
    ) -> Opener {
        let nft = NftDoors::new(loaded.config.options.nft_table.as_ref());
        Opener {
            nft,
            generations: Generations::new(loaded),
            runner,
            spent,
            checks: Checks::new(loopback_capture),
            pending,
            attempts: 0,
        }
    }

    /// The command runner: its timers, reaping and shutdown are the loop's.
    pub fn runner(&mut self) -> &mut CommandRunner {
        &mut self.runner
    }

    /// When the runner has work next (see [`CommandRunner::next_deadline`]).
    pub fn runner_deadline(&self) -> Option<Instant> {
        self.runner.next_deadline()
    }

    /// How many doors are open, and how many attempts the watcher last
    /// said were in progress (systemd's `STATUS=` line).
    pub fn counts(&self) -> (usize, usize) {
        (self.runner.open_doors(), self.attempts)
    }

    /// Before the first request: takes over the doors a previous run left
    /// open (see [`CommandRunner::recover`]).
    pub fn recover(&mut self, log: &mut Logger) {
        let pending = std::mem::take(&mut self.pending);
        let wall = std::time::SystemTime::now();
        self.runner.recover(pending, Instant::now(), wall, log);
        self.prepare_nft(log);
    }

    /// A reloaded configuration, logged with `settings` (to `log`), becomes
    /// the next generation; returns it as the watcher runs it. Doors already
    /// open keep their stop commands (the runner holds its own copy), and
    /// the `Nft_Set` doors' sets are checked and created as at start.
    pub fn reload(
        &mut self,
        loaded: Loaded,
        settings: &LogSettings,
        log: &mut Logger,
    ) -> Generation {
        let generation = self.generations.push(loaded);
        self.checks.forget_cooldowns();
        self.prepare_nft(log);
        Generation {
            generation,
            doors: without_commands(&self.generations.current().doors),
            log_format: settings.format,
            use_syslog: settings.use_syslog,
        }
    }

    /// The open doors and the commands' counters as of `now`: the doors
    /// the runner will close, and the elements the kernel holds in the
    /// `Nft_Set` doors' sets now.
    pub fn report(&mut self, now: Instant) -> Report {
        let mut open = self.runner.open_door_list(now);
        open.extend(self.nft.open_doors(&self.generations.current().doors));
        Report {
            open,
            stats: self.runner.stats(),
            door_stats: self.runner.door_stats(),
        }
    }

    /// Acts on one request of the watcher, appending what the watcher must
    /// hear to `notices`. A request a sound watcher never sends is refused
    /// and logged (once per reason) and runs nothing.
    pub fn handle(
        &mut self,
        request: WatcherRequest,
        now: Instant,
        log: &mut Logger,
        notices: &mut Vec<Notice>,
    ) {
        let refusal = match request {
            // The opener process's business: readiness, and captures, which
            // travel as descriptors (an opener in the server's process
            // opens captures itself).
            WatcherRequest::Ready | WatcherRequest::OpenCapture { .. } => None,
            WatcherRequest::Open {
                generation,
                door,
                source,
                host,
            } => self.open(generation, door, source, host, now, log, notices),
            WatcherRequest::Spent {
                generation,
                door,
                step,
            } => self.spend(generation, door, step, log),
            WatcherRequest::Close { door, source } => {
                self.runner.close_now(Some((&door, source)), now, log);
                self.close_nft(Some((&door, source)), log);
                None
            }
            WatcherRequest::CloseAll => {
                self.runner.close_now(None, now, log);
                self.close_nft(None, log);
                None
            }
            WatcherRequest::Report => {
                notices.push(Notice::Report {
                    report: self.report(now),
                    purpose: Purpose::Status,
                });
                None
            }
            WatcherRequest::Attempts(count) => {
                self.attempts = count as usize;
                None
            }
        };
        if let Some(refusal) = refusal {
            self.checks.log_refusal(&refusal, log);
        }
    }

    /// Logs a request to open the capture of `interface`, which is not
    /// one of knockd's.
    pub fn not_an_interface(&mut self, interface: &str, log: &mut Logger) {
        let refusal = Refusal::NotAnInterface(interface.to_owned());
        self.checks.log_refusal(&refusal, log);
    }

    /// Logs a request that came before the watcher said it was confined
    /// and serving: a half-started pair acts on no knock.
    pub fn before_ready(&mut self, log: &mut Logger) {
        self.checks.log_refusal(&Refusal::BeforeReady, log);
    }

    /// Logs a request that came with a descriptor, which the watcher has
    /// no business sending (it is closed unused).
    pub fn descriptor_sent(&mut self, log: &mut Logger) {
        self.checks.log_refusal(&Refusal::Descriptor, log);
    }

    /// Logs a request that could not be read at all.
    pub fn unreadable(&mut self, why: knockd_core::privsep::RequestError, log: &mut Logger) {
        self.checks.log_refusal(&Refusal::Unreadable(why), log);
    }

    /// OPEN SESAME, unless a check or a cap on open doors refuses it or a
    /// refreshing door only moves its stop. A one-time door's sequence is
    /// marked used on disk first, and the door opens only if that worked,
    /// so a crash can never let the same sequence in twice.
    #[allow(clippy::too_many_arguments)]
    fn open(
        &mut self,
        generation: u32,
        door: u32,
        addr: IpAddr,
        host: Option<String>,
        now: Instant,
        log: &mut Logger,
        notices: &mut Vec<Notice>,
    ) -> Option<Refusal> {
        let runtime = match self.generations.door(generation, door) {
            Ok(runtime) => runtime,
            Err(refusal) => return Some(refusal),
        };
        if let Err(refusal) = self
            .checks
            .may_open(&runtime.door, addr, host.as_deref(), now)
        {
            return Some(refusal);
        }
        let source = Source::with_host(addr, host.as_deref());
        let name = runtime.door.name.clone();
        let element = runtime.door.open_prefix.network(addr);
        let opening = match runtime.door.nft_set {
            Some(_) => self.nft.opening(&runtime.door, &element),
            None => self.runner.opening(&runtime.door, addr),
        };
        let cap = match opening {
            Opening::Open => None,
            Opening::Extend => {
                log.emit(&KnockMessage::OpenSesameExtended {
                    source,
                    door: &name,
                });
                match runtime.door.nft_set {
                    Some(_) => self.nft.open(&runtime.door, source, element, true, log),
                    None => self.runner.extend(&runtime.door, addr, now, log),
                }
                return None;
            }
            Opening::DoorFull { max } => Some(OpenCap::Door(max)),
            Opening::AllFull { max } => Some(OpenCap::All(max)),
        };
        if let Some(cap) = cap {
            log.emit(&KnockMessage::OpenRefused {
                source,
                door: &name,
                cap,
            });
            return None;
        }
        let (runner, nft) = (&mut self.runner, &mut self.nft);
        let Some(file) = runtime.one_time.as_mut() else {
            open_sesame(runner, nft, &runtime.door, source, now, log);
            return None;
        };
        let consumed = file.consume();
        let next = file.active().cloned();
        match consumed {
            Ok(()) => {
                open_sesame(runner, nft, &runtime.door, source, now, log);
                match &next {
                    Some(sequence) => log.emit(&KnockMessage::OneTimeNext {
                        door: &name,
                        sequence,
                    }),
                    None => log.emit(&KnockMessage::OneTimeExhausted { door: &name }),
                }
            }
            Err(e) => {
                log.emit(&DaemonMessage::Error(&e));
                log.emit(&KnockMessage::OneTimeUpdateFailed { door: &name });
            }
        }
        notices.push(Notice::Rearm {
            generation,
            door,
            sequences: file.clone(),
        });
        None
    }

    /// Checks (and creates) the `Nft_Set` doors' sets of the running configuration.
    fn prepare_nft(&mut self, log: &mut Logger) {
        let current = self.generations.current();
        let table = current.config.options.nft_table.as_ref();
        self.nft.prepare(table, &current.doors, log);
    }

    /// `knockd close`: deletes the kernel elements of `Nft_Set` doors, the
    /// one of `door` for its knocker or, for `None`, all.
    fn close_nft(&mut self, door: Option<(&str, IpAddr)>, log: &mut Logger) {
        let current = &self.generations.current().doors;
        self.nft.close_on_request(current, door, log);
    }

    /// Rotating door `door` opened with the sequence of `step`: recorded in
    /// the state directory, keeping only the steps some door still accepts.
    fn spend(
        &mut self,
        generation: u32,
        door: u32,
        step: u64,
        log: &mut Logger,
    ) -> Option<Refusal> {
        let runtime = match self.generations.door(generation, door) {
            Ok(runtime) => runtime,
            Err(refusal) => return Some(refusal),
        };
        let unix = step_windows::unix_now();
        let Some(rotating) = &runtime.rotating else {
            return Some(Refusal::NotRotating { door });
        };
        let rotation = &rotating.rotation;
        if !rotation.acceptable(rotation.step_at(unix)).contains(&step) {
            return Some(Refusal::StepOutsideWindow { door, step });
        }
        let name = runtime.door.name.clone();
        let current = &self.generations.current().doors;
        self.spent.forget_unacceptable(current, unix);
        if let Err(error) = self.spent.spend(&name, step) {
            log.emit(&DaemonMessage::Error(&format_args!(
                "{name}: cannot record spent step {step} in the state directory ({}); \
                 it is spent until knockd restarts",
                io_message(&error)
            )));
        }
        None
    }
}

/// OPEN SESAME, logged, and its action: `door`'s start command, or its
/// kernel element.
fn open_sesame(
    runner: &mut CommandRunner,
    nft: &mut NftDoors,
    door: &Door,
    source: Source<'_>,
    now: Instant,
    log: &mut Logger,
) {
    log.emit(&KnockMessage::OpenSesame {
        source,
        door: &door.name,
    });
    match door.nft_set {
        Some(_) => {
            let element = door.open_prefix.network(source.addr);
            nft.open(door, source, element, false, log);
        }
        None => runner.open_door(door, source, now, log),
    }
}
