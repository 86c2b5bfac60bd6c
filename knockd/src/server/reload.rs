//! SIGHUP with the opener in this process: asking the
//! [`Reloader`](super::Reloader) to read the configuration again, and
//! swapping in what it read. (With the privilege split, the opener process
//! does this and sends the watcher the new generation.)

use std::time::Instant;

use knock_proto::io_message;

use super::reloader::Loading;
use super::{report_used_up, OpenerSide, Server};
use crate::log::ConfigMessage;

impl Server {
    /// SIGHUP: the configuration is read again off the loop ([`Reloader`](super::Reloader)).
    pub(super) fn request_reload(&mut self) {
        let OpenerSide::Here(here) = &mut self.side else {
            return;
        };
        here.notifier.reloading();
        self.logger.emit(&ConfigMessage::ReReadingConfig {
            path: &self.setup.config_path,
        });
        if let Err(e) = here.reloader.request() {
            self.logger.emit(&ConfigMessage::ReloadFailed {
                error: &format_args!("cannot start reading the configuration: {}", io_message(&e)),
            });
            here.notifier.ready(here.status(), Instant::now());
        }
    }

    /// The reload worker is done: swaps in what it read and, unless another
    /// read follows, tells systemd the reload is over.
    pub(super) fn take_reload(&mut self) {
        let OpenerSide::Here(here) = &mut self.side else {
            return;
        };
        let Some(loading) = here.reloader.take() else {
            return;
        };
        self.reload(loading);
        if let OpenerSide::Here(here) = &mut self.side {
            if !here.reloader.busy() {
                here.notifier.ready(here.status(), Instant::now());
            }
        }
    }

    /// A reload's configuration was read: a valid one becomes the opener's
    /// next generation and replaces the doors here (in-progress knocks on
    /// unchanged doors survive), and the log file is reopened; an invalid
    /// one is reported and the running configuration stays.
    fn reload(&mut self, loading: Loading) {
        let loaded = match loading {
            Ok(loaded) => loaded,
            Err(e) => {
                self.logger.emit(&ConfigMessage::ReloadFailed { error: &e });
                return;
            }
        };
        report_used_up(&loaded, &mut self.logger);
        let settings = self.setup.log_settings(&loaded.config);
        // As in 0.8, a LogFile removed from the file keeps the old one and
        // UseSyslog cannot be turned off by a reload.
        self.logger.set_format(settings.format);
        self.logger.reopen(settings.log_file.clone());
        let OpenerSide::Here(here) = &mut self.side else {
            return;
        };
        let generation = here.opener.reload(loaded, &settings);
        self.adopt(generation);
    }
}
