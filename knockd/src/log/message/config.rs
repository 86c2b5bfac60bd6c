//! The configuration: a reload, a door disabled by its settings, a
//! suspicious value, and the `-D` echo of what was read.

use std::fmt::{self, Write as _};
use std::path::Path;

use knock_proto::TcpFlag;

use super::{write_upper, Record, Text, DEBUG, LOG, STDERR, VERBOSE};

/// One `-D` line of the configuration echo (0.8 prints the same).
#[derive(Clone, Copy)]
pub enum ConfigEcho<'a> {
    /// `config: new section: '<name>'`.
    NewSection(&'a str),
    /// `config: usesyslog`.
    UseSyslog,
    /// `config: tcp flag: <FLAG>`, `!<FLAG>` for a flag that must be clear.
    TcpFlag {
        /// The flag.
        flag: TcpFlag,
        /// Whether it must be set (`SYN`) or clear (`!SYN`).
        required: bool,
    },
    /// `config: [<door>: ]<key>: <value>`, e.g. `config: log file: /var/log/knockd.log`
    /// or `config: ssh: seq_timeout: 25`.
    Setting {
        /// The door the setting belongs to; `None` for `[options]`.
        door: Option<&'a str>,
        /// The setting's name as 0.8 echoes it (`log file`, `start_command`).
        key: &'static str,
        /// Its value.
        value: &'a dyn fmt::Display,
    },
}

impl fmt::Display for ConfigEcho<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigEcho::NewSection(name) => write!(f, "config: new section: '{name}'"),
            ConfigEcho::UseSyslog => f.write_str("config: usesyslog"),
            ConfigEcho::TcpFlag { flag, required } => {
                f.write_str("config: tcp flag: ")?;
                if !required {
                    f.write_char('!')?;
                }
                write_upper(f, flag.name())
            }
            ConfigEcho::Setting { door, key, value } => {
                f.write_str("config: ")?;
                if let Some(door) = door {
                    write!(f, "{door}: ")?;
                }
                write!(f, "{key}: {value}")
            }
        }
    }
}

/// About reading the configuration.
#[derive(Clone, Copy)]
pub enum ConfigMessage<'a> {
    /// `re-reading config file: <path>` (log, verbose).
    ReReadingConfig {
        /// The configuration file.
        path: &'a Path,
    },
    /// `<error> --> keeping the previous configuration` (log, stderr). 0.8
    /// exits on a bad reload instead (#26).
    ReloadFailed {
        /// What was wrong with the new configuration.
        error: &'a dyn fmt::Display,
    },
    /// `<error> --> door <door> disabled; the other doors run` (log,
    /// stderr): a value 0.8 would have turned into something that cannot
    /// work as written. Not in 0.8, which runs the door mangled.
    DoorDisabled {
        /// The door's name.
        door: &'a str,
        /// The value at fault, with file and line.
        error: &'a dyn fmt::Display,
    },
    /// `warning: <what was read>` (log, stderr): a value read as 0.8 reads
    /// it, although it looks like a mistake (`seq_timeout = 5s`).
    ConfigWarning(&'a dyn fmt::Display),
    /// A configuration echo line (debug).
    Echo(ConfigEcho<'a>),
}

impl ConfigMessage<'_> {
    /// Its [`Record`] and, when `out` has a sink, its text.
    pub(super) fn describe(&self, out: &mut Text<'_>) -> Result<Record<'_>, fmt::Error> {
        Ok(match self {
            ConfigMessage::ReReadingConfig { path } => {
                write!(out, "re-reading config file: {}", path.display())?;
                Record::new(LOG | VERBOSE, "reload")
            }
            ConfigMessage::ReloadFailed { error } => {
                write!(out, "{error} --> keeping the previous configuration")?;
                Record::new(LOG | STDERR, "reload_failed").error()
            }
            ConfigMessage::DoorDisabled { door, error } => {
                write!(out, "{error} --> door {door} disabled; the other doors run")?;
                Record::new(LOG | STDERR, "door_disabled")
                    .error()
                    .door(door)
            }
            ConfigMessage::ConfigWarning(warning) => {
                write!(out, "warning: {warning}")?;
                Record::new(LOG | STDERR, "config_warning").warning()
            }
            ConfigMessage::Echo(echo) => {
                write!(out, "{echo}")?;
                Record::new(DEBUG, "config")
            }
        })
    }
}
