//! The poll loop: one wake-up reads the ready captures, runs what is due
//! (reopening lost captures, the address watch, the engine's timers, the
//! rotating doors' steps, the log budgets, the commands), answers signals and
//! the control socket, and swaps in a finished reload.

use std::io;
use std::os::fd::BorrowedFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use knock_proto::io_message;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::{Listener, OpenerSide, Server};
use crate::address_watch::AddressWatch;
use crate::log::DaemonMessage;
use crate::signals::Pending;

impl Server {
    /// Runs the loop until SIGTERM or SIGINT (or, as the privilege split's
    /// watcher, until the opener process ends it); returns the exit status.
    pub fn run(mut self) -> ExitCode {
        self.start_resolver();
        if let OpenerSide::Here(here) = &mut self.side {
            // Before the first packet: close what a previous run left open.
            here.opener.recover(&mut self.logger);
            here.notifier.ready(here.status(), Instant::now());
        }
        loop {
            let ready = self.wait_for_work();
            for index in ready.captures_ready() {
                if let Err(e) = self.read_packets(index) {
                    self.capture_lost(index, &e);
                }
            }
            let now = Instant::now();
            self.run_due(now, ready.addresses);
            if ready.opener {
                if let Some(status) = self.read_opener() {
                    return status;
                }
            }
            if let OpenerSide::Here(here) = &mut self.side {
                // Drain the signal pipe before reaping: a command that
                // reaping starts may exit at once, and its SIGCHLD wake-up
                // must stay in the pipe for the next poll rather than be
                // drained unseen.
                let pending = if ready.signals {
                    here.signals.take()
                } else {
                    Pending::default()
                };
                here.run_commands(now, &mut self.logger);
                if pending.shutdown {
                    return self.shut_down();
                }
                if pending.reload {
                    self.request_reload();
                }
                if pending.status {
                    self.log_own_status();
                }
            }
            self.serve_control(&ready.control, Instant::now());
            if ready.reload {
                self.take_reload();
            }
            self.tell_attempts();
            if let OpenerSide::Here(here) = &mut self.side {
                let status = here.status();
                here.notifier.on_timer(Instant::now(), status);
            }
            // Before sleeping in poll: what this wake-up logged reaches the file.
            self.logger.flush();
            if let OpenerSide::Parent(channel) = &mut self.side {
                channel.flush();
            }
        }
    }

    /// Sleeps in poll until a descriptor is readable or the next deadline
    /// comes. A failed poll is logged and taken as a signal, so that the
    /// signal pipe is read.
    fn wait_for_work(&mut self) -> Ready {
        let timeout = self.timeout(Instant::now());
        let capture_fds: Vec<_> = self.listeners.iter().map(Listener::fd).collect();
        let watch_fd = self.address_watch.as_ref().and_then(AddressWatch::fd);
        let control_fds = self.control.poll_fds();
        let (signals, reload, opener) = match &self.side {
            OpenerSide::Here(here) => (Some(here.signals.fd()), Some(here.reloader.fd()), None),
            OpenerSide::Parent(channel) => (None, None, Some(channel.poll_fd())),
        };
        let ready = wait(
            Fds {
                captures: &capture_fds,
                addresses: watch_fd,
                signals,
                reload,
                opener,
                control: &control_fds,
            },
            timeout,
        );
        ready.unwrap_or_else(|e| {
            self.logger.emit(&DaemonMessage::Error(&format_args!(
                "poll: {}",
                io_message(&e)
            )));
            Ready {
                signals: true,
                ..Ready::default()
            }
        })
    }

    /// How long poll may sleep: until the earliest deadline of anything in
    /// the loop, or forever.
    fn timeout(&self, now: Instant) -> Option<Duration> {
        let (commands, notifier) = match &self.side {
            OpenerSide::Here(here) => (here.opener.runner_deadline(), here.notifier.deadline()),
            OpenerSide::Parent(_) => (None, None),
        };
        [
            self.engine.next_deadline(),
            commands,
            self.budgets.deadline(),
            self.address_watch.as_ref().and_then(AddressWatch::deadline),
            self.step_windows.deadline(now),
            notifier,
            self.control.deadline(),
        ]
        .into_iter()
        .chain(self.listeners.iter().map(|c| c.retry))
        .flatten()
        .min()
        .map(|deadline| deadline.saturating_duration_since(now))
    }

    /// Runs what is due at `now`: lost captures reopened, the address watch
    /// (`addresses_ready`: its descriptor was readable), the engine's
    /// timers, the rotating doors' next step and the log budgets' summaries.
    fn run_due(&mut self, now: Instant, addresses_ready: bool) {
        self.reopen_due_captures(now);
        let watch_due = addresses_ready
            || (self.address_watch.as_ref())
                .and_then(AddressWatch::deadline)
                .is_some_and(|at| at <= now);
        if watch_due && self.address_watch.as_mut().is_some_and(|w| w.take(now)) {
            self.follow_addresses();
        }
        self.engine.on_timer(now, &mut self.events);
        self.handle_events();
        if self.step_windows.is_due() {
            self.step_boundary(now);
        }
        let max_attempts = self.setup.args.max_attempts as usize;
        self.budgets.summarize(now, max_attempts, &mut self.logger);
    }
}

/// The descriptors the loop polls; the optional ones may be absent (a lost
/// capture, no address watch, the signals and reloads of an opener in
/// another process, the channel to an opener in this one).
struct Fds<'a, 'b> {
    captures: &'b [Option<BorrowedFd<'a>>],
    addresses: Option<BorrowedFd<'a>>,
    signals: Option<BorrowedFd<'a>>,
    reload: Option<BorrowedFd<'a>>,
    /// The channel to the opener process, with what it waits for.
    opener: Option<(BorrowedFd<'a>, PollFlags)>,
    /// The control socket's descriptors, each with what it waits for.
    control: &'b [(BorrowedFd<'a>, PollFlags)],
}

/// Which of the polled descriptors are readable.
#[derive(Debug, Default, Clone)]
struct Ready {
    /// One per capture, in order.
    captures: Vec<bool>,
    addresses: bool,
    signals: bool,
    reload: bool,
    /// The channel to the opener process is readable (or writable, or gone).
    opener: bool,
    /// One per control socket descriptor, in order.
    control: Vec<bool>,
}

impl Ready {
    /// The indices of the readable captures.
    fn captures_ready(&self) -> Vec<usize> {
        (self.captures.iter().enumerate())
            .filter_map(|(index, &ready)| ready.then_some(index))
            .collect()
    }
}

/// Polls the loop's descriptors; returns which are readable.
fn wait(fds: Fds<'_, '_>, timeout: Option<Duration>) -> io::Result<Ready> {
    let mut polled = Vec::new();
    // Where each optional descriptor sits in `polled`, if present.
    let optional = [
        fds.signals.map(|fd| (fd, PollFlags::POLLIN)),
        fds.reload.map(|fd| (fd, PollFlags::POLLIN)),
        fds.opener,
        fds.addresses.map(|fd| (fd, PollFlags::POLLIN)),
    ]
    .into_iter()
    .chain((fds.captures.iter()).map(|fd| fd.map(|fd| (fd, PollFlags::POLLIN))));
    let slots: Vec<Option<usize>> = optional
        .map(|fd| {
            fd.map(|(fd, events)| {
                polled.push(PollFd::new(fd, events));
                polled.len() - 1
            })
        })
        .collect();
    let control_start = polled.len();
    polled.extend(
        fds.control
            .iter()
            .map(|&(fd, events)| PollFd::new(fd, events)),
    );
    let control_count = fds.control.len();
    let mut fds = polled;
    match poll(&mut fds, poll_timeout(timeout)) {
        Ok(_) => {}
        Err(nix::errno::Errno::EINTR) => {
            return Ok(Ready {
                signals: true,
                ..Ready::default()
            })
        }
        Err(e) => return Err(e.into()),
    }
    let ready = |at: usize| {
        fds.get(at).is_some_and(|fd| {
            fd.revents().is_some_and(|r| {
                r.intersects(
                    PollFlags::POLLIN
                        | PollFlags::POLLOUT
                        | PollFlags::POLLERR
                        | PollFlags::POLLHUP,
                )
            })
        })
    };
    let slot = |index: usize| slots.get(index).copied().flatten().is_some_and(ready);
    Ok(Ready {
        signals: slot(0),
        reload: slot(1),
        opener: slot(2),
        addresses: slot(3),
        captures: (4..slots.len()).map(slot).collect(),
        control: (control_start..control_start + control_count)
            .map(ready)
            .collect(),
    })
}

/// poll's timeout for sleeping `timeout` (forever for `None`), rounded up
/// so that a deadline is never polled for 0 ms repeatedly.
pub fn poll_timeout(timeout: Option<Duration>) -> PollTimeout {
    match timeout {
        None => PollTimeout::NONE,
        Some(d) => {
            let ms = d.as_micros().div_ceil(1000);
            PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
        }
    }
}
