//! SIGHUP on the loop's side: asking the [`Reloader`](super::Reloader) to read the configuration
//! again, and swapping in what it read.

use std::time::Instant;

use knock_proto::io_message;

use super::reloader::Loading;
use super::{report_used_up, Server};
use crate::log::ConfigMessage;

impl Server {
    /// SIGHUP: the configuration is read again off the loop ([`Reloader`](super::Reloader)).
    pub(super) fn request_reload(&mut self) {
        self.notifier.reloading();
        self.logger.emit(&ConfigMessage::ReReadingConfig {
            path: &self.setup.config_path,
        });
        if let Err(e) = self.reloader.request() {
            self.logger.emit(&ConfigMessage::ReloadFailed {
                error: &format_args!("cannot start reading the configuration: {}", io_message(&e)),
            });
            self.notifier.ready(self.status(), Instant::now());
        }
    }

    /// The reload worker is done: swaps in what it read and, unless another
    /// read follows, tells systemd the reload is over.
    pub(super) fn take_reload(&mut self) {
        if let Some(loading) = self.reloader.take() {
            self.reload(loading);
            if !self.reloader.busy() {
                self.notifier.ready(self.status(), Instant::now());
            }
        }
    }

    /// A reload's configuration was read: a valid one replaces the doors
    /// (in-progress knocks on unchanged doors survive) and the log file is
    /// reopened; an invalid one is reported and the running configuration stays.
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
        self.logger.reopen(settings.log_file);
        if settings.use_syslog {
            self.logger.enable_syslog();
        }
        self.refresh_local_addrs();
        self.engine
            .reconfigure(loaded.engine_doors(), self.local_addrs.clone());
        self.setup.loaded = loaded;
        self.rotate(Instant::now());
    }
}
