//! SIGHUP with the opener in this process: asking the
//! [`Reloader`](super::Reloader) to read the configuration again, and
//! swapping in what it read. (With the privilege split, the opener process
//! does this and sends the watcher the new generation.)

use super::{OpenerSide, Server};

impl Server {
    /// SIGHUP: the configuration is read again off the loop ([`Reloader`](super::Reloader)).
    pub(super) fn request_reload(&mut self) {
        if let OpenerSide::Here(here) = &mut self.side {
            here.request_reload(&self.setup.config_path, &mut self.logger);
        }
    }

    /// The reload worker is done: a valid configuration becomes the
    /// opener's next generation and replaces the doors here (in-progress
    /// knocks on unchanged doors survive); then, unless another read
    /// follows, systemd hears the reload is over.
    pub(super) fn take_reload(&mut self) {
        let OpenerSide::Here(here) = &mut self.side else {
            return;
        };
        let Some(generation) = here.take_reload(&self.setup, &mut self.logger) else {
            return;
        };
        self.adopt(generation);
        if let OpenerSide::Here(here) = &mut self.side {
            here.reload_settled();
        }
    }
}
