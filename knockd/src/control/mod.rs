//! The operator's surface: the control socket that `knockd status` and
//! `knockd close` talk to, and the status it serves (also logged on SIGUSR1).
//!
//! [`socket`] serves the socket from the poll loop; [`protocol`] is its
//! line protocol; [`status`] the status value, printed by [`text`], as
//! JSON, or by [`prometheus`], door names as [`names`] shows them;
//! [`client`] the subcommands' end. The server
//! answers requests in `server::operator`, where its state is.
//!
//! A socket that cannot be set up (no such directory, no permission, one a
//! live knockd holds) is logged and knockd runs without it: the operator's
//! view must never keep the doors from working.

pub mod client;
pub mod names;
pub mod prometheus;
pub mod protocol;
pub mod socket;
pub mod status;
pub mod text;

use std::os::fd::BorrowedFd;
use std::path::Path;
use std::time::Instant;

use nix::poll::PollFlags;

use crate::log::{ControlMessage, DaemonMessage, Logger};
use socket::ControlSocket;

/// The control socket, when there is one, and what the status needs to
/// know about the daemon's life.
#[derive(Debug)]
pub struct Control {
    /// `None` when the socket could not be set up.
    pub socket: Option<ControlSocket>,
    /// When the daemon started, for its uptime.
    pub started: Instant,
    /// The daemon's pid, as its pid file and systemd know it: with the
    /// privilege split, the opener's, not the watcher's that serves this.
    pub pid: u32,
}

impl Control {
    /// Sets up the control socket at `path`; a failure is logged and knockd
    /// runs without it.
    pub fn open(path: &Path, logger: &mut Logger) -> Control {
        let socket = match ControlSocket::open(path) {
            Ok(socket) => {
                logger.emit(&DaemonMessage::Debug(&format_args!(
                    "control socket: {}",
                    path.display()
                )));
                Some(socket)
            }
            Err(error) => {
                logger.emit(&ControlMessage::ControlSocketUnavailable { error: &error });
                None
            }
        };
        Control {
            socket,
            started: Instant::now(),
            pid: std::process::id(),
        }
    }

    /// What the poll loop waits on for the socket (nothing without one).
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        self.socket
            .as_ref()
            .map_or_else(Vec::new, ControlSocket::poll_fds)
    }

    /// When the socket's oldest client is due to be dropped.
    pub fn deadline(&self) -> Option<Instant> {
        self.socket.as_ref().and_then(ControlSocket::deadline)
    }
}
