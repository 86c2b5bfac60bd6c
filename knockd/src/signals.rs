//! Signals as poll events: a self-pipe that wakes the main loop and a flag per
//! kind of signal, so reloads and shutdowns run in the loop, never in a
//! signal handler (0.8 reloads inside its SIGHUP handler).

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGUSR1};

/// What arrived since the last [`Signals::take`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// SIGHUP: reload the configuration and reopen the log file.
    pub reload: bool,
    /// SIGTERM or SIGINT: shut down.
    pub shutdown: bool,
    /// SIGUSR1: write the status to the log.
    pub status: bool,
}

/// The installed handlers and the read end of their wake-up pipe.
#[derive(Debug)]
pub struct Signals {
    wake: UnixStream,
    reload: Arc<AtomicBool>,
    shutdown: Arc<AtomicBool>,
    status: Arc<AtomicBool>,
}

impl Signals {
    /// Installs handlers for SIGHUP, SIGTERM, SIGINT, SIGUSR1 and SIGCHLD.
    pub fn install() -> io::Result<Signals> {
        let (wake, notify) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        let signals = Signals {
            wake,
            reload: Arc::default(),
            shutdown: Arc::default(),
            status: Arc::default(),
        };
        for (signal, flag) in [
            (SIGHUP, &signals.reload),
            (SIGTERM, &signals.shutdown),
            (SIGINT, &signals.shutdown),
            (SIGUSR1, &signals.status),
        ] {
            // The flag is registered before the wake-up so that the loop,
            // once woken, always finds it set.
            signal_hook::flag::register(signal, Arc::clone(flag))?;
            signal_hook::low_level::pipe::register(signal, notify.try_clone()?)?;
        }
        // SIGCHLD only wakes the loop, which reaps whatever has exited.
        signal_hook::low_level::pipe::register(SIGCHLD, notify)?;
        Ok(signals)
    }

    /// The descriptor to poll for readability.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Drains the wake-up pipe and returns (and clears) what arrived.
    pub fn take(&self) -> Pending {
        let mut buf = [0u8; 64];
        // Bounded: the pipe holds at most a few bytes per signal delivered.
        for _ in 0..1024 {
            match (&self.wake).read(&mut buf) {
                Ok(n) if n > 0 => continue,
                _ => break,
            }
        }
        Pending {
            reload: self.reload.swap(false, Ordering::SeqCst),
            shutdown: self.shutdown.swap(false, Ordering::SeqCst),
            status: self.status.swap(false, Ordering::SeqCst),
        }
    }
}
