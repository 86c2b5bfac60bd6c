//! Running doors' start and stop commands, and the ledger of open doors.
//!
//! A knock that opens a door runs its start command through `/bin/sh -c`,
//! with every `%IP%` replaced by the knocker's address (dotted quad, or
//! compressed lower-case IPv6), `%NET%` by the network the door opens for
//! and `%PREFIX%` by its length ([`knockd_core::substitution`]). A door
//! opens for one knocker, or with `Open_Prefix4`/`Open_Prefix6` for the
//! knocker's network: the book then counts networks, so a second address of
//! an open network refreshes the door rather than opening it again. If the door has a stop command for the
//! knocker's family, it runs `Cmd_Timeout` after the start command was
//! spawned, but never before the start command has exited, so a stop never
//! races its own start. Unlike knockd 0.8, which forked a child that slept
//! through the timeout, the stop is a timer entry here: the server polls
//! [`CommandRunner::next_deadline`] and calls [`CommandRunner::on_timer`],
//! and calls [`CommandRunner::reap`] on SIGCHLD. Nothing here blocks except
//! [`CommandRunner::shutdown`], whose wait is bounded.
//!
//! Doors that always close: with a [`Ledger`](crate::ledger::Ledger), each
//! stop command is recorded on disk before its start command runs and marked
//! done once it has run, so a knockd killed in between closes the door at its
//! next start ([`CommandRunner::recover`]) or at `knockd --close-all`. No
//! start command completes after its stop ran: at shutdown a start still
//! running is ended before its stop runs ([`CommandRunner::shutdown`]), and
//! on Linux a start command dies with a knockd killed by SIGKILL, so it
//! cannot open the door after the next knockd closed it.
//!
//! Children get stdin from `/dev/null` and the daemon's stdout and stderr (as
//! in 0.8), and their own process group, so a Ctrl-C meant for a foreground
//! knockd does not also kill half-run firewall commands. On Linux every
//! descriptor above 2 is marked close-on-exec before each spawn, so the
//! capture socket, log file, ledger or one-time sequences file never leak
//! into commands even if their owner forgot `O_CLOEXEC` (0.8's B26 in
//! docs/differences-from-0.8.md).
//!
//! Bounds (0.8 had none: B12 and B13 in docs/differences-from-0.8.md): at most
//! [`RunnerLimits::max_running`] commands run at once. Start commands beyond
//! that wait in a FIFO of at most [`RunnerLimits::max_queued`]; beyond that
//! they are dropped with a log line (`<src>: <door>: too many commands waiting,
//! start command dropped`), which keeps a knock flood (one-element UDP doors)
//! from exhausting processes or memory. At most [`RunnerLimits::max_open`]
//! doors with a stop command are open at once (and at most a door's `Max_Open`
//! per door), so pending stops and the ledger stay bounded too. A dropped or
//! never-spawned start has no stop. Stop commands are never dropped: a due stop
//! waits for a free slot and goes before any waiting start. Pending stops
//! belong to doors already opened and survive a configuration reload, as the
//! runner keeps its own copy of each command.
//!
//! The work is split along the line a privilege split would cut: the book
//! (`book.rs`) holds which doors are open for whom, their caps and their
//! ledger, the state that must survive and stay exact; the runner
//! (`runner.rs`) queues, spawns and reaps the commands and schedules each
//! stop command, and tells the book of every door it opens and closes.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use knockd_core::sources::Cidr;

use crate::log::Source;

mod book;
mod runner;
#[cfg(test)]
mod tests;

pub use runner::CommandRunner;

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
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
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

/// A knocker as the runner keeps it: its address and name for later log
/// lines, and the network the door opened for.
#[derive(Debug, Clone)]
struct Knocker {
    addr: IpAddr,
    host: Option<String>,
    network: Cidr,
}

impl Knocker {
    fn source(&self) -> Source<'_> {
        Source::with_host(self.addr, self.host.as_deref())
    }
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

/// A door open now, as `knockd status` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OpenDoor {
    /// The door's name.
    pub door: String,
    /// The knocker it opened for.
    pub source: IpAddr,
    /// The network it is open for: the knocker alone (a /32 or /128)
    /// unless the door has `Open_Prefix4`/`Open_Prefix6`.
    pub network: Cidr,
    /// Time until its stop command is due; `None` when it runs at shutdown
    /// only (a `Cmd_Timeout` too large to represent).
    pub closes_in: Option<Duration>,
    /// For an `Nft_Set` door, the kernel set that holds the knocker
    /// (`inet knockd ssh_v4`): `closes_in` is then the kernel's time.
    #[serde(default)]
    pub nft_set: Option<String>,
}
