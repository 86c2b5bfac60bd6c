//! The server's way to the opener ([`crate::opener`]): in this process
//! (`Privsep = no`, or before the split) or in the parent process over the
//! privilege split's channel. The server asks with a [`WatcherRequest`]
//! either way and acts on the [`Notice`]s that come back, at once from an
//! opener here, from the channel's next message from a parent.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::Instant;

use knock_proto::io_message;

use knockd_core::privsep::WatcherRequest;

use super::reloader::Reloader;
use super::shutdown::SHUTDOWN_GRACE;
use super::{report_used_up, Server};
use crate::commands::CommandStats;
use crate::log::{CommandMessage, ConfigMessage, Logger};
use crate::notify::{Notifier, Status};
use crate::opener::{Generation, Notice, Opener, Purpose, Report};
use crate::privsep::Channel;
use crate::setup::Setup;
use crate::signals::Signals;

/// Where the opener is.
#[derive(Debug)]
pub enum OpenerSide {
    /// In this process, which then also takes knockd's signals, reloads
    /// the configuration and talks to systemd.
    Here(Box<Here>),
    /// In the parent process: the privilege split's watcher side.
    Parent(Channel),
}

/// What the process holding the opener owns besides it.
#[derive(Debug)]
pub struct Here {
    /// The opener.
    pub opener: Opener,
    /// SIGHUP, SIGTERM, SIGINT, SIGUSR1 and SIGCHLD.
    pub signals: Signals,
    /// Reads the configuration off the loop on SIGHUP.
    pub reloader: Reloader,
    /// systemd's notifications (readiness, watchdog), when run by it.
    pub notifier: Notifier,
}

impl Here {
    /// What systemd's `STATUS=` line shows.
    pub fn status(&self) -> Status {
        let (open, attempts) = self.opener.counts();
        Status { open, attempts }
    }

    /// Runs the commands that are due and collects those that exited.
    pub fn run_commands(&mut self, now: Instant, log: &mut Logger) {
        let runner = self.opener.runner();
        runner.on_timer(now, log);
        runner.reap(now, log);
    }

    /// SIGHUP: the configuration at `config_path` is read again off the
    /// loop ([`Reloader`]).
    pub fn request_reload(&mut self, config_path: &Path, log: &mut Logger) {
        self.notifier.reloading();
        log.emit(&ConfigMessage::ReReadingConfig { path: config_path });
        if let Err(e) = self.reloader.request() {
            log.emit(&ConfigMessage::ReloadFailed {
                error: &format_args!("cannot start reading the configuration: {}", io_message(&e)),
            });
            self.notifier.ready(self.status(), Instant::now());
        }
    }

    /// The reload worker is done: a valid configuration becomes the
    /// opener's next generation, returned for the watcher's side to adopt
    /// (then [`Here::reload_settled`]), and the log file is reopened with
    /// its settings; an invalid one is reported and the running one stays.
    pub fn take_reload(&mut self, setup: &Setup, log: &mut Logger) -> Option<Generation> {
        match self.reloader.take()? {
            Ok(loaded) => {
                report_used_up(&loaded, log);
                let settings = setup.log_settings(&loaded.config);
                // As in 0.8, a LogFile removed from the file keeps the old
                // one and UseSyslog cannot be turned off by a reload.
                log.set_format(settings.format);
                log.reopen(settings.log_file.clone());
                Some(self.opener.reload(loaded, &settings, log))
            }
            Err(e) => {
                log.emit(&ConfigMessage::ReloadFailed { error: &e });
                self.reload_settled();
                None
            }
        }
    }

    /// A reload is applied: unless another read follows, systemd hears
    /// that it is over.
    pub fn reload_settled(&mut self) {
        if !self.reloader.busy() {
            self.notifier.ready(self.status(), Instant::now());
        }
    }

    /// SIGTERM/SIGINT: the stop commands of doors still open run (ending
    /// start commands they wait for), within [`SHUTDOWN_GRACE`]; returns
    /// the commands' totals.
    pub fn stop_commands(&mut self, log: &mut Logger) -> CommandStats {
        self.notifier.stopping();
        log.emit(&CommandMessage::WaitingForChildren);
        let runner = self.opener.runner();
        runner.shutdown(Instant::now(), SHUTDOWN_GRACE, log);
        runner.stats()
    }
}

/// What the server knows of the opener's side: its configuration
/// generation, the commands' counters and who waits for a report.
#[derive(Debug, Default)]
pub struct OpenerState {
    /// The configuration generation the engine's doors belong to.
    pub generation: u32,
    /// The commands' totals, as of the last report.
    pub commands: CommandStats,
    /// Control requests waiting for a report, with the time they came.
    pub waiting: Vec<(
        crate::control::socket::ClientId,
        crate::control::protocol::Request,
    )>,
    /// Whether a report was asked for and has not come yet.
    pub report_asked: bool,
    /// The attempts count last told to the opener.
    pub attempts_told: Option<usize>,
}

impl Server {
    /// Sends `request` to the opener and acts on what it answers now.
    pub(super) fn ask(&mut self, request: WatcherRequest) {
        let now = Instant::now();
        let mut notices = Vec::new();
        match &mut self.side {
            OpenerSide::Here(here) => {
                here.opener
                    .handle(request, now, &mut self.logger, &mut notices)
            }
            OpenerSide::Parent(channel) => {
                // The opener logs the opening: this process's lines about
                // the knock go to the file first.
                if matches!(request, WatcherRequest::Open { .. }) {
                    self.logger.flush();
                }
                channel.send(&request.encode(), None);
            }
        }
        for notice in notices {
            self.take_notice(notice, None);
        }
    }

    /// Acts on a notice from the opener, which `fd` came with: a reloaded
    /// configuration's log file, or a capture opened again.
    pub(super) fn take_notice(&mut self, notice: Notice, fd: Option<OwnedFd>) {
        match notice {
            Notice::Generation(generation) => {
                if let Some(file) = fd {
                    self.logger.adopt_file(File::from(file));
                }
                self.adopt(generation);
            }
            Notice::Capture { interface, link } => match fd {
                Some(socket) => self.adopt_capture(&interface, link, socket),
                None => self.capture_failed(&interface),
            },
            Notice::CaptureFailed { interface } => self.capture_failed(&interface),
            Notice::Rearm {
                generation,
                door,
                sequences,
            } => {
                // A rearm for a generation since replaced is moot: the new
                // doors were read with the file as it is now.
                let door = door as usize;
                let current = generation == self.opener_state.generation;
                if let Some(runtime) = (self.setup.loaded.doors.get_mut(door)).filter(|_| current) {
                    let next = sequences.active().cloned();
                    runtime.one_time = Some(sequences);
                    self.rearm(door, next);
                }
            }
            Notice::Report { report, purpose } => self.take_report(&report, purpose),
        }
    }

    /// A report came: the waiting control requests are answered, or the
    /// status goes to the log, or (at shutdown) the counters.
    fn take_report(&mut self, report: &Report, purpose: Purpose) {
        self.opener_state.commands = report.stats;
        match purpose {
            Purpose::Status => {
                self.opener_state.report_asked = false;
                self.answer_waiting(report);
            }
            Purpose::LogStatus => self.log_status(report),
            Purpose::Final => {
                self.refresh_counters();
                self.counters.report(&mut self.logger);
            }
        }
    }

    /// Asks for a report unless one is on its way; an opener here answers at once.
    pub(super) fn ask_report(&mut self) {
        if !self.opener_state.report_asked {
            self.opener_state.report_asked = true;
            self.ask(WatcherRequest::Report);
        }
    }

    /// Tells the opener how many attempts are in progress, if that changed
    /// (a parent puts it in systemd's `STATUS=` line).
    pub(super) fn tell_attempts(&mut self) {
        let attempts = self.engine.attempts();
        if matches!(self.side, OpenerSide::Parent(_))
            && self.opener_state.attempts_told != Some(attempts)
        {
            self.opener_state.attempts_told = Some(attempts);
            self.ask(WatcherRequest::Attempts(
                u32::try_from(attempts).unwrap_or(u32::MAX),
            ));
        }
    }

    /// A new configuration generation: its doors replace the engine's (in-progress
    /// knocks on unchanged doors survive), the log takes its format, and the
    /// filter is rebuilt.
    pub(super) fn adopt(&mut self, generation: Generation) {
        self.opener_state.generation = generation.generation;
        self.logger.set_format(generation.log_format);
        if generation.use_syslog {
            self.logger.enable_syslog();
        }
        self.refresh_local_addrs();
        let engine_doors = generation.doors.iter().map(Into::into).collect();
        self.engine
            .reconfigure(engine_doors, self.local_addrs.clone());
        self.setup.loaded.doors = generation.doors;
        self.rotate(Instant::now());
    }
}
