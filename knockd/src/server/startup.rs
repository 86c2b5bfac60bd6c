//! Start-up: from a read configuration to a running [`Server`], checking
//! everything that can fail before detaching, in knockd 0.8's order of log
//! lines.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::time::Instant;

use knock_proto::io_message;
use knockd_core::engine::{Engine, Limits};
use knockd_core::wire::LinkType;

use super::addresses::{local_addresses, union};
use super::capture_filter::{install_filter, log_expressions};
use super::opener_side::OpenerState;
use super::{
    report_used_up, Budgets, Control, Here, Listener, OpenerSide, Reloader, Server, BATCH,
    COPY_WINDOW,
};
use crate::address_watch::AddressWatch;
use crate::capture::CaptureError;
use crate::commands::{CommandRunner, RunnerLimits};
use crate::config_echo;
use crate::counters::Counters;
use crate::daemon::{self, PidFile};
use crate::ledger::{Entry, Ledger, LedgerError};
use crate::log::{CaptureMessage, DaemonMessage, LedgerMessage, Logger};
use crate::notify::Notifier;
use crate::opener::{without_commands, Opener};
use crate::resolver::Resolver;
use crate::setup::Setup;
use crate::signals::Signals;
use crate::spent_steps::SpentSteps;
use crate::step_windows::{self, StepWindows};

/// Why knockd could not start. Printed on stderr as is; knockd then exits 1.
#[derive(Debug)]
pub enum StartError {
    /// The interface could not be opened, has an unsupported link type, or
    /// refused the capture filter.
    Capture(CaptureError),
    /// Another knockd holds the state directory.
    Ledger(LedgerError),
    /// `-d`: the fork or the detach from the terminal failed.
    Background(io::Error),
    /// The signal handlers (or the reload worker's wake-up pipe) could not be installed.
    Signals(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Capture(e) => e.fmt(f),
            StartError::Ledger(e) => e.fmt(f),
            StartError::Background(e) => {
                write!(f, "cannot run in the background: {}", io_message(e))
            }
            StartError::Signals(e) => {
                write!(f, "cannot install signal handlers: {}", io_message(e))
            }
        }
    }
}

impl From<CaptureError> for StartError {
    fn from(error: CaptureError) -> Self {
        StartError::Capture(error)
    }
}

impl Server {
    /// Opens the log, the capture and its filter, detaches with `-d`, and
    /// installs the signal handlers: a server ready for [`Server::run`].
    pub fn start(setup: Setup) -> Result<Server, StartError> {
        // First, while knockd has no other thread: it edits the environment.
        let notifier = Notifier::from_env();
        let mut logger = Logger::new(&setup.log_settings(&setup.loaded.config));
        config_echo::echo(&setup.loaded.config, &mut logger);
        report_used_up(&setup.loaded, &mut logger);

        let (ledger, pending) = open_ledger(&setup, &mut logger)?;
        let mut listeners = open_listeners(&setup, &mut logger)?;
        let only_ipv4 = setup.args.only_ipv4;
        // Watching before reading: no change can fall in between.
        let address_watch = watch_addresses(&mut logger);
        for listener in &mut listeners {
            listener.addrs = local_addresses(&listener.interface, only_ipv4, &mut logger);
        }
        let local_addrs = union(&listeners);
        let mut engine = new_engine(&setup, &listeners, &local_addrs);
        let state_dir = ledger.is_some().then(|| setup.state_dir());
        let (spent, problem) = SpentSteps::load(state_dir.as_deref());
        if let Some(problem) = problem {
            logger.emit(&DaemonMessage::Error(&format_args!("{problem}")));
        }
        let step_windows = arm_doors(
            &setup,
            StepWindows::new(spent.in_memory()),
            state_dir.is_some(),
            &mut engine,
            &mut listeners,
            &local_addrs,
            &mut logger,
        )?;

        let runner = CommandRunner::new(
            RunnerLimits {
                max_running: setup.args.max_commands as usize,
                max_open: setup.args.max_open as usize,
                ..RunnerLimits::default()
            },
            ledger,
        );
        let loopback = listeners.iter().any(Listener::sees_the_host_itself);
        let mut opener = Opener::new(setup.loaded.clone(), runner, spent, pending, loopback);

        // Detach only once everything that can fail at start has been checked.
        let pid_file = go_to_background(&setup, &mut opener, &mut logger)?;
        // After the fork: the socket's listener is the daemon itself, and a
        // stale-or-live check by a later knockd finds this pid.
        let control = Control::open(&setup.control_socket(), &mut logger);
        let signals = Signals::install().map_err(StartError::Signals)?;
        let reloader = Reloader::new(setup.config_path.clone(), setup.base.clone())
            .map_err(StartError::Signals)?;

        log_listening(&setup, &listeners, &mut logger);
        logger.set_buffered(true);
        let mut setup = setup;
        // The server matches knocks; only the opener knows the commands.
        setup.loaded.doors = without_commands(&setup.loaded.doors);
        Ok(Server {
            engine,
            side: OpenerSide::Here(Box::new(Here {
                opener,
                signals,
                reloader,
                notifier,
            })),
            opener_state: OpenerState::default(),
            setup,
            listeners,
            local_addrs,
            address_watch,
            logger,
            resolver: None,
            pid_file,
            counters: Counters::default(),
            control,
            budgets: Budgets::default(),
            batch: Vec::with_capacity(BATCH),
            events: Vec::new(),
            step_windows,
        })
    }

    /// With `-l`: starts the worker thread of reverse lookups (a failure to
    /// start it is logged, and knockd runs without names). Called by the
    /// process that runs the loop, after any split: a fork keeps no threads.
    pub(super) fn start_resolver(&mut self) {
        if !self.setup.args.lookup {
            return;
        }
        match Resolver::start() {
            Ok(started) => self.resolver = Some(started),
            Err(e) => self.logger.emit(&DaemonMessage::Error(&format_args!(
                "cannot start the resolver for -l: {}",
                io_message(&e)
            ))),
        }
    }
}

/// Opens the capture of every interface; fails when none opens.
fn open_listeners(setup: &Setup, logger: &mut Logger) -> Result<Vec<Listener>, StartError> {
    let mut listeners = Vec::with_capacity(setup.interfaces.len());
    let mut first_error = None;
    for interface in &setup.interfaces {
        match Listener::open(interface) {
            Ok(listener) => {
                logger.emit(&DaemonMessage::Debug(&link_type_line(listener.link)));
                listeners.push(listener);
            }
            // One of several may come later (a VPN's interface) and is
            // retried as a lost one; a single one must exist, as in 0.8.
            Err(error) if setup.interfaces.len() > 1 => {
                logger.emit(&CaptureMessage::CaptureLost {
                    interface,
                    error: &error,
                });
                listeners.push(Listener::waiting(interface, Instant::now()));
                first_error.get_or_insert(error);
            }
            Err(error) => return Err(error.into()),
        }
    }
    if let Some(error) = first_error.filter(|_| listeners.iter().all(|c| c.fd().is_none())) {
        return Err(error.into());
    }
    Ok(listeners)
}

/// The watch of the host's addresses; without one (logged), they are read
/// again only on reload.
fn watch_addresses(logger: &mut Logger) -> Option<AddressWatch> {
    AddressWatch::open()
        .map_err(|e| {
            logger.emit(&DaemonMessage::Error(&format_args!(
                "cannot watch the host's addresses ({}): they are read again only on reload",
                io_message(&e)
            )));
        })
        .ok()
}

/// The engine for the configuration's doors and the host's addresses.
fn new_engine(setup: &Setup, listeners: &[Listener], local_addrs: &[IpAddr]) -> Engine {
    let mut engine = Engine::new(
        setup.loaded.engine_doors(),
        local_addrs.to_vec(),
        Limits {
            max_attempts: setup.args.max_attempts as usize,
        },
    );
    if listeners.len() > 1 || setup.interfaces.iter().any(|i| i == "any") {
        // A frame crossing a bridge shows on the port and on the bridge.
        engine.set_copies_within(Some(COPY_WINDOW));
    }
    engine
}

/// Installs the rotating doors' windows (leaving out the spent steps of
/// `step_windows`) in the engine, then the filter for every door on each
/// open capture. `persistent`: whether spent steps are kept in a state
/// directory.
fn arm_doors(
    setup: &Setup,
    mut step_windows: StepWindows,
    persistent: bool,
    engine: &mut Engine,
    listeners: &mut [Listener],
    local_addrs: &[IpAddr],
    logger: &mut Logger,
) -> Result<StepWindows, StartError> {
    let doors = &setup.loaded.doors;
    let only_ipv4 = setup.args.only_ipv4;
    let rotating = step_windows.install(engine, doors, step_windows::unix_now(), Instant::now());
    if !persistent && rotating > 0 {
        logger.emit(&LedgerMessage::SpentStepsInMemory { doors: rotating });
    }
    log_expressions(doors, engine, local_addrs, only_ipv4, logger);
    for capture in listeners.iter_mut().filter_map(|c| c.capture.as_mut()) {
        install_filter(capture, doors, engine, local_addrs, only_ipv4, logger)?;
    }
    Ok(step_windows)
}

/// With `-d`: detaches from the terminal, notes the daemon's pid in the
/// ledger and writes the pid file (failures of both are logged). Returns
/// the pid file, removed when the server is dropped.
fn go_to_background(
    setup: &Setup,
    opener: &mut Opener,
    logger: &mut Logger,
) -> Result<Option<PidFile>, StartError> {
    if !setup.args.daemon {
        return Ok(None);
    }
    daemon::detach().map_err(StartError::Background)?;
    if let Some(Err(error)) = opener.runner().ledger_mut().map(|ledger| ledger.note_pid()) {
        logger.emit(&LedgerMessage::LedgerWriteFailed { error: &error });
    }
    let path = setup.pid_file_path();
    match PidFile::create(&path) {
        Ok(pid) => Ok(Some(pid)),
        Err(error) => {
            logger.emit(&DaemonMessage::PidFileFailed {
                path: &path,
                error: &error,
            });
            Ok(None)
        }
    }
}

/// 0.8's lines of a started knockd: where it listens, and which interfaces
/// wait for an address.
fn log_listening(setup: &Setup, listeners: &[Listener], logger: &mut Logger) {
    let interface = &setup.interface_list();
    if setup.interface_from_default_route {
        logger.emit(&CaptureMessage::InterfaceFromDefaultRoute { interface });
    }
    logger.emit(&CaptureMessage::Listening { interface });
    logger.emit(&DaemonMessage::StartingUp { interface });
    for listener in listeners.iter().filter(|c| c.addrs.is_empty()) {
        logger.emit(&CaptureMessage::WaitingForAddress {
            interface: &listener.interface,
        });
    }
}

/// Opens the door ledger of the state directory, logging what a previous
/// run left behind. Another knockd holding it is fatal; a directory that
/// cannot be used is logged and knockd runs without a ledger (its doors
/// then close only while it lives), since refusing to start would leave the
/// machine without its doors.
fn open_ledger(
    setup: &Setup,
    logger: &mut Logger,
) -> Result<(Option<Ledger>, Vec<Entry>), StartError> {
    match Ledger::open(&setup.state_dir()) {
        Ok(opened) => {
            opened.report(logger);
            Ok((Some(opened.ledger), opened.pending))
        }
        Err(error @ LedgerError::Busy { .. }) => Err(StartError::Ledger(error)),
        Err(error) => {
            logger.emit(&LedgerMessage::LedgerUnavailable { error: &error });
            Ok((None, Vec::new()))
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
