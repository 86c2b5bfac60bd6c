//! Privilege separation: knockd as two processes, so that the one reading
//! packets from anyone holds no privilege.
//!
//! knockd starts as one process (root, usually): it reads the
//! configuration, opens its captures, the control socket, the ledger and the
//! log, and checks everything that can fail at start ([`Server::start`]).
//! Then [`run`] forks:
//!
//! * the **opener** (the parent, which keeps knockd's pid and stays root)
//!   runs the doors' commands, keeps the ledger and the spent rotating
//!   steps, marks one-time sequences used, takes knockd's signals, reloads
//!   the configuration and talks to systemd ([`opener_process`]);
//! * the **watcher** (the child) captures, decodes, matches and serves the
//!   control socket. Before its first packet it switches to an unprivileged
//!   account (`User`, `--user`, else `knockd` where that user exists, else
//!   `nobody`), drops every capability and supplementary group, sets
//!   `no_new_privs` and installs a system-call filter
//!   ([`crate::sys::confine`]).
//!
//! They talk over a [`Channel`]: the watcher asks for openings by door
//! index and address ([`knockd_core::privsep::WatcherRequest`], checked
//! byte by byte by the opener, which refuses what its own configuration
//! does not allow); the opener answers with doors without commands,
//! one-time doors' next sequences and reports
//! ([`crate::opener::Notice`]). Either process sees the other's death at
//! once as the channel's hang-up: a watcher that dies takes the opener down
//! with exit status 1 (doors open stay in the ledger, which the next start or
//! `--close-all` closes); an opener that dies takes the watcher down.
//!
//! `Privsep = no` or `--no-privsep` skips the fork: the server holds the
//! opener itself ([`crate::server::OpenerSide::Here`]).

mod channel;
mod opener_process;
mod watcher;

use std::process::ExitCode;

use knockd_core::privsep::MAX_REQUEST;

use crate::log::{DaemonMessage, Logger, PrivsepMessage};
use crate::server::Server;
use crate::sys;
use crate::sys::confine::Account;
pub use channel::Channel;

/// Whether the split works here: macOS has no `SOCK_SEQPACKET` for local
/// sockets, and knockd runs there as one process (knockd(8), PLATFORMS).
pub const AVAILABLE: bool = cfg!(not(target_vendor = "apple"));

/// The longest message the watcher takes from the opener: a reload of
/// many thousand doors.
const WATCHER_LIMIT: usize = 256 << 20;
/// The watcher's account when none is configured, if it exists.
const DEFAULT_USER: &str = "knockd";
/// The account taken when the default one does not exist.
const FALLBACK_USER: &str = "nobody";

/// Splits the started `server` into the opener and the watcher and runs
/// this process's half; returns its exit status.
pub fn run(mut server: Server) -> ExitCode {
    let wanted = server.watcher_user().map(str::to_owned);
    let account = match watcher_account(wanted.as_deref(), server.logger()) {
        Ok(account) => account,
        Err(why) => return fail(server.logger(), &why),
    };
    let (opener_end, watcher_end) = match Channel::pair(MAX_REQUEST, WATCHER_LIMIT) {
        Ok(pair) => pair,
        Err(e) => {
            return fail(
                server.logger(),
                &format_args!("cannot start the watcher: {e}"),
            )
        }
    };
    // Everything the log holds goes out before the fork: once, not twice.
    server.logger().flush();
    match sys::process::fork_watcher() {
        Ok(None) => {
            drop(opener_end);
            watcher::run(server, watcher_end, account.as_ref())
        }
        Ok(Some(pid)) => {
            drop(watcher_end);
            opener_process::run(server.into_opener(), opener_end, pid)
        }
        Err(e) => fail(
            server.logger(),
            &format_args!("cannot start the watcher: {e}"),
        ),
    }
}

/// The account the watcher switches to: `None` when knockd does not run as
/// root (it has no other account to switch to; the watcher still drops
/// every capability). A user asked for by name must exist; the default
/// `knockd` falls back to `nobody`, with a warning.
fn watcher_account(wanted: Option<&str>, log: &mut Logger) -> Result<Option<Account>, String> {
    let chosen = choose_account(wanted)?;
    if chosen.fell_back {
        log.emit(&PrivsepMessage::UserFallback {
            wanted: DEFAULT_USER,
            taken: FALLBACK_USER,
        });
    }
    Ok(chosen.account)
}

/// The watcher's account as [`choose_account`] finds it.
#[derive(Debug)]
pub struct ChosenAccount {
    /// `None` when knockd does not run as root.
    pub account: Option<Account>,
    /// Whether the default user was missing and `nobody` was taken.
    pub fell_back: bool,
}

/// Finds the watcher's account for `wanted` (`User` or `--user`) without
/// logging: the daemon's split and `--check` both ask.
pub fn choose_account(wanted: Option<&str>) -> Result<ChosenAccount, String> {
    let chosen = |account, fell_back| ChosenAccount {
        account: Some(account),
        fell_back,
    };
    if !nix::unistd::geteuid().is_root() {
        return Ok(ChosenAccount {
            account: None,
            fell_back: false,
        });
    }
    let lookup = |name: &str| {
        sys::confine::lookup(name)
            .map_err(|e| format!("cannot look up user {name} for the watcher: {e}"))
    };
    if let Some(name) = wanted {
        return lookup(name)?
            .map(|account| chosen(account, false))
            .ok_or_else(|| format!("no user {name} for the watcher (User or --user)"));
    }
    if let Some(account) = lookup(DEFAULT_USER)? {
        return Ok(chosen(account, false));
    }
    let fallback = lookup(FALLBACK_USER)?.ok_or_else(|| {
        format!("neither {DEFAULT_USER} nor {FALLBACK_USER} exists for the watcher: give one with User or --user")
    })?;
    Ok(chosen(fallback, true))
}

/// Logs why the split failed; knockd exits 1.
fn fail(log: &mut Logger, why: &dyn std::fmt::Display) -> ExitCode {
    log.emit(&DaemonMessage::Error(why));
    log.flush();
    ExitCode::FAILURE
}
