//! The daemon's poll loop over the capture descriptors (one per interface),
//! the address watch, the signal pipe and the timers of the engine, the
//! command runner, the counters and systemd's watchdog ([`Notifier`]).
//!
//! Everything that changes state happens here, in the loop ([`poll_loop`]):
//! packets are decoded and fed to the engine ([`packets`]), engine events
//! become log lines and commands ([`events`]), SIGHUP reloads ([`reload`]),
//! SIGTERM/SIGINT shut down ([`shutdown`]), the control socket
//! answers `knockd status` and `knockd close` ([`operator`]). Nothing runs in signal
//! context and nothing blocks: capture is nonblocking, commands are reaped
//! with `try_wait`, and reverse lookups (`-l`) happen on a worker thread.
//! [`startup`] builds the server.

mod addresses;
mod budgets;
mod capture_filter;
mod events;
mod listeners;
mod opener_side;
mod operator;
mod packets;
mod poll_loop;
mod reload;
mod reloader;
mod shutdown;
mod split;
mod startup;

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use knockd_core::doors::Loaded;
use knockd_core::engine::{Engine, Event};
use knockd_core::wire::DecodeError;
use knockd_core::Packet;

use crate::address_watch::AddressWatch;
use crate::control::Control;
use crate::counters::Counters;
use crate::daemon::PidFile;
use crate::log::{ConfigMessage, KnockMessage, Logger};
use crate::resolver::Resolver;
use crate::setup::Setup;
use crate::step_windows::StepWindows;
use budgets::Budgets;
use listeners::Listener;
use opener_side::OpenerState;
pub use opener_side::{Here, OpenerSide};
pub use poll_loop::poll_timeout;
pub use reloader::Reloader;
pub use split::OpenerParts;

/// How many packets one wake-up reads at most before timers and signals get a turn.
const BATCH: usize = 256;
/// On `-i any` or several interfaces, how close a second capture of one
/// knock comes after the first.
const COPY_WINDOW: Duration = Duration::from_millis(20);

/// A started daemon: run it with [`Server::run`], or split it in two
/// processes first (`crate::privsep`).
pub struct Server {
    setup: Setup,
    /// One capture per interface, in the order given; see [`Server::capture_lost`].
    listeners: Vec<Listener>,
    /// The addresses of every interface: what doors without a Target are
    /// knocked on (a host accepts a packet to any of its addresses on any
    /// of its interfaces).
    local_addrs: Vec<IpAddr>,
    /// Wakes the loop when the addresses may have changed (`None` if it
    /// could not be set up).
    address_watch: Option<AddressWatch>,
    logger: Logger,
    engine: Engine,
    /// Where openings go.
    side: OpenerSide,
    opener_state: OpenerState,
    resolver: Option<Resolver>,
    /// Held only to be removed when the server is dropped.
    pid_file: Option<PidFile>,
    counters: Counters,
    /// The control socket (`knockd status`, `knockd close`).
    control: Control,
    /// Budgets of the log lines a flood could multiply.
    budgets: Budgets,
    batch: Vec<(SystemTime, Result<Packet, DecodeError>, u32)>,
    events: Vec<Event>,
    /// The rotating doors' windows and spent steps.
    step_windows: StepWindows,
}

/// Logs what reading the configuration found: values read as 0.8 reads
/// them with a warning, doors disabled for a value 0.8 would mangle, and
/// one-time doors whose file is used up (0.8 exits at start for those; we
/// run the other doors).
fn report_used_up(loaded: &Loaded, logger: &mut Logger) {
    for warning in &loaded.config.warnings {
        logger.emit(&ConfigMessage::ConfigWarning(warning));
    }
    for disabled in &loaded.config.disabled {
        logger.emit(&ConfigMessage::DoorDisabled {
            door: &disabled.door,
            error: &disabled.error,
        });
    }
    for d in &loaded.doors {
        if d.one_time.is_some() && d.active_sequence().is_none() {
            logger.emit(&KnockMessage::OneTimeExhausted { door: &d.door.name });
        }
    }
}
