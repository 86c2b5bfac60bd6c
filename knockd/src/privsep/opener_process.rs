//! The opener process's loop: the watcher's requests, knockd's signals,
//! reloads, the commands' timers and systemd, until SIGTERM or the
//! watcher's death.

use std::io;
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use knock_proto::io_message;
use knockd_core::privsep::{RequestError, WatcherRequest};
use nix::poll::{poll, PollFd, PollFlags};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::Channel;
use crate::capture;
use crate::log::{DaemonMessage, PrivsepMessage};
use crate::opener::{Notice, Purpose};
use crate::server::{poll_timeout, OpenerParts};

/// How long the opener waits for the watcher to exit once told to.
const WATCHER_EXIT: Duration = Duration::from_secs(1);

/// The opener process.
struct OpenerProcess {
    parts: OpenerParts,
    channel: Channel,
    /// The watcher's pid.
    watcher: Pid,
    /// Whether the watcher said it is confined and serving.
    ready: bool,
}

/// Runs the opener until SIGTERM/SIGINT (exit 0) or the watcher's death
/// (exit 1).
pub fn run(parts: OpenerParts, channel: Channel, watcher: Pid) -> ExitCode {
    let mut process = OpenerProcess {
        parts,
        channel,
        watcher,
        ready: false,
    };
    // Before the first request: close what a previous run left open.
    let OpenerParts { here, logger, .. } = &mut process.parts;
    here.opener.recover(logger);
    process.run()
}

impl OpenerProcess {
    fn run(&mut self) -> ExitCode {
        loop {
            let ready = match self.wait() {
                Ok(ready) => ready,
                Err(e) => {
                    self.parts.logger.emit(&DaemonMessage::Error(&format_args!(
                        "poll: {}",
                        io_message(&e)
                    )));
                    [true; 3]
                }
            };
            let [signals, reload, channel] = ready;
            if channel && !self.read_requests() {
                return self.watcher_died();
            }
            let now = Instant::now();
            let pending = if signals {
                self.parts.here.signals.take()
            } else {
                Default::default()
            };
            let OpenerParts {
                here,
                logger,
                setup,
                ..
            } = &mut self.parts;
            here.run_commands(now, logger);
            if pending.shutdown {
                return self.shut_down();
            }
            if pending.reload {
                here.request_reload(&setup.config_path, logger);
            }
            if pending.status {
                self.send_report(Purpose::LogStatus);
            }
            if reload {
                self.take_reload();
            }
            let here = &mut self.parts.here;
            if self.ready {
                let status = here.status();
                here.notifier.on_timer(Instant::now(), status);
            }
            self.parts.logger.flush();
            self.channel.flush();
        }
    }

    /// Polls the signal pipe, the reload worker and the channel until one
    /// is ready or the next timer is due; which are ready, in that order.
    fn wait(&self) -> io::Result<[bool; 3]> {
        let now = Instant::now();
        let here = &self.parts.here;
        let deadline = [here.opener.runner_deadline(), here.notifier.deadline()]
            .into_iter()
            .flatten()
            .min();
        let timeout = poll_timeout(deadline.map(|at| at.saturating_duration_since(now)));
        let (channel, events) = self.channel.poll_fd();
        let mut fds = [
            PollFd::new(here.signals.fd(), PollFlags::POLLIN),
            PollFd::new(here.reloader.fd(), PollFlags::POLLIN),
            PollFd::new(channel, events),
        ];
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => return Ok([true, false, false]),
            Err(e) => return Err(e.into()),
        }
        Ok(fds.map(|fd| fd.revents().is_some_and(|r| !r.is_empty())))
    }

    /// Reads and answers the watcher's requests; false when it is gone.
    fn read_requests(&mut self) -> bool {
        let received = self.channel.receive();
        let OpenerParts { here, logger, .. } = &mut self.parts;
        for _ in 0..received.oversized {
            here.opener.unreadable(RequestError::Oversized, logger);
        }
        let mut notices = Vec::new();
        let mut captures = Vec::new();
        for (bytes, fd) in received.messages {
            // The watcher has nothing to hand the opener: a descriptor is
            // closed unused (dropped here) and its request refused.
            if fd.is_some() {
                here.opener.descriptor_sent(logger);
                continue;
            }
            match WatcherRequest::decode(&bytes) {
                Ok(WatcherRequest::Ready) => {
                    self.ready = true;
                    here.notifier.ready(here.status(), Instant::now());
                }
                Ok(WatcherRequest::OpenCapture { interface }) if self.ready => {
                    captures.push(interface);
                }
                Ok(request) if self.ready => {
                    here.opener
                        .handle(request, Instant::now(), logger, &mut notices)
                }
                Ok(_) => here.opener.before_ready(logger),
                Err(why) => here.opener.unreadable(why, logger),
            }
        }
        for notice in notices {
            self.send(&notice);
        }
        for interface in captures {
            self.open_capture(interface);
        }
        !received.gone
    }

    /// Opens the capture of `interface` again and hands it to the watcher;
    /// only knockd's own interfaces (`-i`, `Interface`) are opened.
    fn open_capture(&mut self, interface: String) {
        if !self.parts.setup.interfaces.contains(&interface) {
            let OpenerParts { here, logger, .. } = &mut self.parts;
            here.opener.not_an_interface(&interface, logger);
            return;
        }
        match capture::open_packet_socket(&interface) {
            Ok((socket, link)) => {
                self.send_with(&Notice::Capture { interface, link }, Some(socket.as_fd()));
            }
            Err(_) => self.send(&Notice::CaptureFailed { interface }),
        }
    }

    /// Sends `notice` to the watcher.
    fn send(&mut self, notice: &Notice) {
        self.send_with(notice, None);
    }

    /// Sends `notice` with a descriptor riding along.
    fn send_with(&mut self, notice: &Notice, fd: Option<std::os::fd::BorrowedFd<'_>>) {
        match serde_json::to_vec(notice) {
            Ok(bytes) => self.channel.send(&bytes, fd),
            // Plain data always serializes; were it not to, the watcher
            // would just miss this notice.
            Err(e) => self.parts.logger.emit(&DaemonMessage::Error(&format_args!(
                "cannot tell the watcher: {e}"
            ))),
        }
    }

    /// Sends the watcher a report for `purpose`.
    fn send_report(&mut self, purpose: Purpose) {
        let report = self.parts.here.opener.report(Instant::now());
        self.send(&Notice::Report { report, purpose });
    }

    /// The reload worker is done: a valid configuration becomes the next
    /// generation, sent to the watcher with the reopened log file; an
    /// invalid one is reported and both keep the running one.
    fn take_reload(&mut self) {
        let OpenerParts {
            here,
            logger,
            setup,
            ..
        } = &mut self.parts;
        let Some(generation) = here.take_reload(setup, logger) else {
            return;
        };
        let file = logger.file().and_then(|f| f.try_clone().ok());
        self.send_with(
            &Notice::Generation(generation),
            file.as_ref().map(AsFd::as_fd),
        );
        self.parts.here.reload_settled();
    }

    /// SIGTERM/SIGINT: the stop commands of open doors run (see
    /// [`crate::server::Server::run`]'s shutdown), the watcher prints its
    /// counters (`-v`) and exits, and so does the opener, 0.
    fn shut_down(&mut self) -> ExitCode {
        let OpenerParts { here, logger, .. } = &mut self.parts;
        here.stop_commands(logger);
        logger.flush();
        self.send_report(Purpose::Final);
        self.channel.flush();
        self.wait_for_watcher();
        let logger = &mut self.parts.logger;
        logger.emit(&DaemonMessage::Closing);
        logger.emit(&DaemonMessage::ShuttingDown);
        logger.flush();
        ExitCode::SUCCESS
    }

    /// Waits up to [`WATCHER_EXIT`] for the watcher to exit, then kills it.
    fn wait_for_watcher(&mut self) -> Option<WaitStatus> {
        let end = Instant::now() + WATCHER_EXIT;
        loop {
            match waitpid(self.watcher, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) if Instant::now() < end => {
                    self.channel.flush();
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok(WaitStatus::StillAlive) => {
                    let _ = kill(self.watcher, Signal::SIGKILL);
                    return waitpid(self.watcher, None).ok();
                }
                Ok(status) => return Some(status),
                Err(_) => return None,
            }
        }
    }

    /// The watcher hung up without being told to: logged with how it
    /// ended; the opener exits 1 without closing doors early (the ledger
    /// keeps them for the next start or `knockd --close-all`).
    fn watcher_died(&mut self) -> ExitCode {
        let how = match self.wait_for_watcher() {
            Some(WaitStatus::Exited(_, code)) => format!("exited with status {code}"),
            Some(WaitStatus::Signaled(_, signal, _)) => {
                format!("was killed by signal {}", signal.as_str())
            }
            _ => "ended".to_owned(),
        };
        let logger = &mut self.parts.logger;
        logger.emit(&PrivsepMessage::WatcherDied {
            pid: self.watcher.as_raw() as u32,
            how: &how,
        });
        logger.flush();
        ExitCode::FAILURE
    }
}
