//! The server's two halves after the privilege split's fork
//! (`crate::privsep`): the parent keeps the opener and what only it may
//! touch; the child keeps the rest and talks to the parent.

use std::process::ExitCode;

use super::{Here, OpenerSide, Server};
use crate::control::Control;
use crate::daemon::PidFile;
use crate::log::{Logger, PrivsepMessage};
use crate::opener::Notice;
use crate::privsep::Channel;
use crate::setup::Setup;
use crate::sys;

/// What the opener process keeps of a started server.
#[derive(Debug)]
pub struct OpenerParts {
    /// The opener, the signals, the reload worker and systemd's notifier.
    pub here: Here,
    /// The log.
    pub logger: Logger,
    /// The command line and configuration.
    pub setup: Setup,
    /// Removed when the opener exits.
    pub _pid_file: Option<PidFile>,
    /// Held only so that the socket file is removed when the opener exits:
    /// the watcher serves it but may not remove it.
    pub _control: Control,
}

impl Server {
    /// The log, for the split's own lines.
    pub fn logger(&mut self) -> &mut Logger {
        &mut self.logger
    }

    /// The watcher's account as configured (`--user`, `User`).
    pub fn watcher_user(&self) -> Option<&str> {
        self.setup.watcher_user()
    }

    /// The parent's half: the opener and what only it may touch. The
    /// captures, the address watch and the engine are closed here: the
    /// watcher has them.
    pub fn into_opener(self) -> OpenerParts {
        let OpenerSide::Here(here) = self.side else {
            unreachable!("a server is split once, while it holds the opener");
        };
        OpenerParts {
            here: *here,
            logger: self.logger,
            setup: self.setup,
            _pid_file: self.pid_file,
            _control: self.control,
        }
    }

    /// The child's half, before it is confined, talking to the parent over
    /// `channel`: the opener's part is dropped
    /// (its commands, ledger and state directory stay the parent's), the
    /// pid file and the control socket's file are left to the parent to
    /// remove, and knockd's signals are the parent's to take: the watcher
    /// ignores them and ends when the parent tells it to, or dies.
    pub fn into_watcher(mut self, channel: Channel) -> Server {
        sys::process::leave_signals_to_parent();
        if let OpenerSide::Here(here) = &mut self.side {
            if let Some(ledger) = here.opener.runner().ledger_mut() {
                ledger.leave_lock();
            }
        }
        // Dropping `Here` closes the opener's descriptors in this process:
        // the ledger's journal, the reload worker's and the signals' pipes,
        // systemd's socket.
        self.side = OpenerSide::Parent(channel);
        if let Some(pid_file) = self.pid_file.take() {
            pid_file.leave_to_other_process();
        }
        if let Some(socket) = self.control.socket.as_mut() {
            socket.leave_file_to_other_process();
        }
        // The watcher may not open files: the opener hands it the log file.
        self.logger.hand_over_files();
        self
    }

    /// The channel to the opener process, in the watcher.
    pub fn opener_channel(&mut self) -> Option<&mut Channel> {
        match &mut self.side {
            OpenerSide::Parent(channel) => Some(channel),
            OpenerSide::Here(_) => None,
        }
    }

    /// Reads the opener's notices; `Some` exit status when the loop must
    /// end: the opener is gone (1), or it sent the final report (0).
    pub(super) fn read_opener(&mut self) -> Option<ExitCode> {
        let OpenerSide::Parent(channel) = &mut self.side else {
            return None;
        };
        let received = channel.receive();
        for (bytes, fd) in received.messages {
            let Ok(notice) = serde_json::from_slice::<Notice>(&bytes) else {
                continue;
            };
            let last = matches!(
                notice,
                Notice::Report {
                    purpose: crate::opener::Purpose::Final,
                    ..
                }
            );
            self.take_notice(notice, fd);
            if last {
                self.logger.flush();
                return Some(ExitCode::SUCCESS);
            }
        }
        if received.gone {
            self.logger.emit(&PrivsepMessage::OpenerGone);
            self.logger.flush();
            return Some(ExitCode::FAILURE);
        }
        None
    }
}
