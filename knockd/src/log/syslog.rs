//! Syslog as knockd sends it: ident `knockd`, no pid, facility daemon (as
//! Debian's 0.8 build). 0.8 sends everything at notice; each message here
//! goes at its own [`Severity`]: errors at err, warnings at warning, the rest
//! at notice, so that `journalctl -p warning` finds what went wrong.

use std::borrow::Cow;
use std::os::unix::ffi::OsStrExt;

use nix::syslog::{syslog, Facility, Priority};

use super::message::Severity;
use crate::sys;

/// The process's connection to syslog (libc keeps it global).
#[derive(Debug)]
pub(super) struct Syslog;

impl Syslog {
    /// Sets the ident and facility for every later message. libc connects to
    /// `/dev/log` lazily and drops messages while there is no syslog daemon.
    pub(super) fn open() -> Self {
        sys::syslog::openlog(c"knockd", libc::LOG_DAEMON);
        Syslog
    }

    /// Sends one message at `severity`; failures are ignored, as a missing
    /// syslog daemon must not stop knockd.
    pub(super) fn send(&self, severity: Severity, text: &str) {
        let priority = Priority::new(level(severity), Facility::LOG_DAEMON);
        let payload = payload(text);
        let bytes = knockd_core::bytes::encode(&payload);
        let _ = syslog(priority, std::ffi::OsStr::from_bytes(&bytes));
    }
}

/// syslog's severity for a message's.
fn level(severity: Severity) -> nix::syslog::Severity {
    use nix::syslog::Severity as Level;
    match severity {
        Severity::Error => Level::LOG_ERR,
        Severity::Warning => Level::LOG_WARNING,
        Severity::Notice => Level::LOG_NOTICE,
        Severity::Info => Level::LOG_INFO,
        Severity::Debug => Level::LOG_DEBUG,
    }
}

/// The datagram payload for a message: its text without trailing newlines (0.8
/// sent some: B17 in docs/differences-from-0.8.md) and without NUL bytes, which
/// C strings cannot carry.
pub(super) fn payload(text: &str) -> Cow<'_, str> {
    let text = text.trim_end_matches('\n');
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', ""))
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_the_message_text() {
        assert_eq!(
            payload("seq3: running command: echo hi"),
            "seq3: running command: echo hi"
        );
        assert!(matches!(payload("shutting down"), Cow::Borrowed(_)));
    }

    #[test]
    fn payload_drops_trailing_newlines_and_nul_bytes() {
        assert_eq!(payload("re-opening log file: \n"), "re-opening log file: ");
        assert_eq!(payload("a\0b\0"), "ab");
    }
}
