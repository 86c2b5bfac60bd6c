//! The message catalogue: every line knockd prints, with where it goes.
//!
//! The messages are grouped by the part of knockd that prints them, one enum
//! per file: knocks ([`KnockMessage`]) and the knocks left out
//! ([`IgnoredMessage`]), commands ([`CommandMessage`]), the door ledger
//! ([`LedgerMessage`]), the capture ([`CaptureMessage`]), the configuration
//! ([`ConfigMessage`]), the control socket ([`ControlMessage`]), the
//! daemon's own life ([`DaemonMessage`]) and its two processes
//! ([`PrivsepMessage`]), and `Nft_Set` doors ([`NftMessage`]); [`Message`] is any of them. Each
//! variant's text and its [`Record`] (sinks, event name, severity, door,
//! knocker, stage) are written side by side in one `match` arm of its enum's
//! `describe`, so a message is defined in exactly one place. The texts are
//! knockd 0.8's (docs/differences-from-0.8.md lists where they differ); the few
//! messages 0.8 does not have say so on their variant.

mod capture;
mod command;
mod config;
mod control;
mod daemon;
mod ignored;
mod knock;
mod ledger;
mod nft;
mod privsep;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::IpAddr;
use std::ops::BitOr;

pub use capture::CaptureMessage;
pub use command::{CommandKind, CommandMessage};
pub use config::{ConfigEcho, ConfigMessage};
pub use control::ControlMessage;
pub use daemon::DaemonMessage;
pub use ignored::IgnoredMessage;
pub use knock::{KnockMessage, OpenCap};
pub use ledger::LedgerMessage;
pub use nft::NftMessage;
pub use privsep::PrivsepMessage;

/// A set of destinations for a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sinks(u8);

impl Sinks {
    /// Nowhere.
    pub const NONE: Sinks = Sinks(0);
    /// The log: the log file (`LogFile`, `-g`) and syslog (`UseSyslog`).
    pub const LOG: Sinks = Sinks(1);
    /// Standard output without a timestamp, with `-v` only.
    pub const VERBOSE: Sinks = Sinks(2);
    /// Standard error, always.
    pub const STDERR: Sinks = Sinks(4);
    /// Standard output without a timestamp, with `-D` only.
    pub const DEBUG: Sinks = Sinks(8);

    /// Whether every sink of `other` is in `self`.
    pub const fn contains(self, other: Sinks) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Sinks {
    type Output = Sinks;

    fn bitor(self, rhs: Sinks) -> Sinks {
        Sinks(self.0 | rhs.0)
    }
}

const LOG: Sinks = Sinks::LOG;
const VERBOSE: Sinks = Sinks::VERBOSE;
const STDERR: Sinks = Sinks::STDERR;
const DEBUG: Sinks = Sinks::DEBUG;

/// How bad a message is: syslog's severity for log lines, and `level` in
/// JSON lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Something failed: a command, a door that cannot open, the capture,
    /// a reload (`LOG_ERR`).
    Error,
    /// Something was refused or dropped, or looks wrong (`LOG_WARNING`).
    Warning,
    /// Everything else that goes to the log, as 0.8 logs it (`LOG_NOTICE`).
    Notice,
    /// A `-v` line that never goes to the log (`LOG_INFO`).
    Info,
    /// A `-D` line (`LOG_DEBUG`).
    Debug,
}

impl Severity {
    /// syslog's name for it: `err`, `warning`, `notice`, `info`, `debug`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "err",
            Severity::Warning => "warning",
            Severity::Notice => "notice",
            Severity::Info => "info",
            Severity::Debug => "debug",
        }
    }
}

/// What a message is, beyond its text: where it goes, its event name and
/// severity, and the door, knocker and stage it is about, where it has them.
/// The JSON log writes these fields; syslog uses the severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Where the message goes.
    pub sinks: Sinks,
    /// The kind of message, one word (`stage`, `open`, `command_failed`).
    pub event: &'static str,
    /// How bad it is.
    pub severity: Severity,
    /// The door it is about.
    pub door: Option<&'a str>,
    /// The knocker it is about.
    pub source: Option<Source<'a>>,
    /// The stage a knock reached.
    pub stage: Option<usize>,
}

impl<'a> Record<'a> {
    /// A record about nothing in particular, of the severity its sinks
    /// suggest: notice for log lines, info for `-v` ones, debug for the rest.
    const fn new(sinks: Sinks, event: &'static str) -> Self {
        let severity = if sinks.contains(Sinks::LOG) || sinks.contains(Sinks::STDERR) {
            Severity::Notice
        } else if sinks.contains(Sinks::VERBOSE) {
            Severity::Info
        } else {
            Severity::Debug
        };
        Record {
            sinks,
            event,
            severity,
            door: None,
            source: None,
            stage: None,
        }
    }

    const fn error(self) -> Self {
        Record {
            severity: Severity::Error,
            ..self
        }
    }

    const fn warning(self) -> Self {
        Record {
            severity: Severity::Warning,
            ..self
        }
    }

    fn door(self, door: &'a str) -> Self {
        Record {
            door: Some(door),
            ..self
        }
    }

    fn source(self, source: Source<'a>) -> Self {
        Record {
            source: Some(source),
            ..self
        }
    }

    /// About `door` and the knocker `source`.
    fn about(self, door: &'a str, source: Source<'a>) -> Self {
        self.door(door).source(source)
    }

    fn stage(self, stage: usize) -> Self {
        Record {
            stage: Some(stage),
            ..self
        }
    }
}

/// A knocker as log lines show it: `198.18.1.2`, or with `-l`
/// `198.18.1.2 (knocker.example)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source<'a> {
    /// The knocker's address.
    pub addr: IpAddr,
    /// Its reverse-resolved name, when `-l` found one.
    pub host: Option<&'a str>,
}

impl<'a> Source<'a> {
    /// A knocker shown by address and, when known, host name.
    pub fn with_host(addr: IpAddr, host: Option<&'a str>) -> Self {
        Source { addr, host }
    }
}

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.addr)?;
        if let Some(host) = self.host {
            write!(f, " ({host})")?;
        }
        Ok(())
    }
}

/// Where `describe` writes a message's text: nowhere when only the record
/// is asked for, so that a line no sink wants is never formatted.
struct Text<'w>(Option<&'w mut dyn fmt::Write>);

impl Text<'_> {
    /// Runs `write` only when the text has somewhere to go: for a text that
    /// takes more work to build than one `write!`.
    fn with(&mut self, write: impl FnOnce(&mut dyn fmt::Write) -> fmt::Result) -> fmt::Result {
        match &mut self.0 {
            Some(out) => write(&mut **out),
            None => Ok(()),
        }
    }
}

impl fmt::Write for Text<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.with(|out| out.write_str(s))
    }

    fn write_fmt(&mut self, args: fmt::Arguments<'_>) -> fmt::Result {
        self.with(|out| out.write_fmt(args))
    }
}

/// Declares [`Message`], one variant per subsystem enum, with the `From`
/// conversions that let [`crate::log::Logger::emit`] take any of them.
macro_rules! subsystems {
    ($($(#[$doc:meta])* $variant:ident($kind:ident),)*) => {
        /// Every message knockd prints, by subsystem. Render it with
        /// [`Message::write`] or `Display` (the text without timestamp or
        /// newline) and hand it, or the subsystem's message, to
        /// [`crate::log::Logger::emit`], which sends it to its sinks.
        #[derive(Clone, Copy)]
        pub enum Message<'a> {
            $($(#[$doc])* $variant($kind<'a>),)*
        }

        $(impl<'a> From<$kind<'a>> for Message<'a> {
            fn from(message: $kind<'a>) -> Self {
                Message::$variant(message)
            }
        })*

        impl Message<'_> {
            fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
                match self {
                    $(Message::$variant(message) => message.describe(out),)*
                }
            }
        }
    };
}

subsystems! {
    /// A knock's progress on a door.
    Knock(KnockMessage),
    /// A knock left out.
    Ignored(IgnoredMessage),
    /// A door's commands.
    Command(CommandMessage),
    /// The door ledger.
    Ledger(LedgerMessage),
    /// The capture.
    Capture(CaptureMessage),
    /// The configuration.
    Config(ConfigMessage),
    /// The control socket.
    Control(ControlMessage),
    /// knockd's start, stop and log file.
    Daemon(DaemonMessage),
    /// The privilege split's two processes.
    Privsep(PrivsepMessage),
    /// `Nft_Set` doors' kernel set elements.
    Nft(NftMessage),
}

impl Message<'_> {
    /// Its sinks, event name, severity and subject. Formats nothing: a line
    /// no sink wants is never rendered.
    pub fn record(&self) -> Record<'_> {
        self.describe(&mut Text(None))
            .unwrap_or(Record::new(Sinks::NONE, "none"))
    }

    /// Writes the message text (no timestamp, no newline).
    pub fn write(&self, out: &mut dyn fmt::Write) -> fmt::Result {
        self.describe(&mut Text(Some(out))).map(drop)
    }
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f)
    }
}

fn write_upper(out: &mut dyn fmt::Write, name: &str) -> fmt::Result {
    name.chars()
        .try_for_each(|c| out.write_char(c.to_ascii_uppercase()))
}
