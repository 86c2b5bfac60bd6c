//! The configuration model shared by the knockd.conf and TOML readers.

use std::fmt;
use std::io;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::flags::{FlagError, TcpFlags};
use crate::sequence::{Sequence, SequenceError};

/// knockd 0.8's default `Seq_Timeout`.
pub const DEFAULT_SEQ_TIMEOUT: Duration = Duration::from_secs(25);
/// knockd 0.8's default `Cmd_Timeout`.
pub const DEFAULT_CMD_TIMEOUT: Duration = Duration::from_secs(10);

/// A whole configuration: global options and doors in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// The `[options]` section.
    pub options: Options,
    /// Every door, in file order. Names may repeat: each is its own door, as in 0.8.
    pub doors: Vec<Door>,
}

/// Global settings (`[options]`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    /// `UseSyslog`: log to syslog as well.
    pub use_syslog: bool,
    /// `LogFile`: append log lines to this file.
    pub log_file: Option<PathBuf>,
    /// `PidFile`: where `-d` writes the daemon's pid.
    pub pid_file: Option<PathBuf>,
    /// `Interface`: capture interface when `-i` is not given.
    pub interface: Option<String>,
}

/// Where a door's sequence comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceSource {
    /// `Sequence = ...`: a fixed sequence.
    Fixed(Sequence),
    /// `One_Time_Sequences = path`: the first unused line of this file, consumed on use.
    OneTime(PathBuf),
}

/// One door: a knock sequence and what to do when it is knocked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Door {
    /// The section name.
    pub name: String,
    /// The sequence, fixed or from a one-time sequences file.
    pub sequence: SequenceSource,
    /// `Seq_Timeout`: the whole sequence must be knocked within this time of its first knock.
    pub seq_timeout: Duration,
    /// `TCPFlags`: what TCP knocks' flags must look like.
    pub tcp_flags: TcpFlags,
    /// `Start_Command` (alias `Command`): run for IPv4 knockers.
    pub start_command: Option<String>,
    /// `Start_Command_6` (alias `Command_6`): run for IPv6 knockers.
    pub start_command_6: Option<String>,
    /// `Stop_Command`: run `cmd_timeout` after the start command.
    pub stop_command: Option<String>,
    /// `Stop_Command_6`: the IPv6 stop command.
    pub stop_command_6: Option<String>,
    /// `Cmd_Timeout`: delay between the start and the stop command.
    pub cmd_timeout: Duration,
    /// `Target`: match knocks to this address instead of the interface's own.
    pub target: Option<IpAddr>,
}

impl Door {
    /// A door with 0.8's defaults and no commands.
    pub fn new(name: impl Into<String>, sequence: SequenceSource) -> Self {
        Door {
            name: name.into(),
            sequence,
            seq_timeout: DEFAULT_SEQ_TIMEOUT,
            tcp_flags: TcpFlags::ANY,
            start_command: None,
            start_command_6: None,
            stop_command: None,
            stop_command_6: None,
            cmd_timeout: DEFAULT_CMD_TIMEOUT,
            target: None,
        }
    }

    /// The start command for a knocker of the given family, as 0.8 chooses it:
    /// an IPv6 knocker gets `Start_Command_6`, falling back to `Start_Command`
    /// only when `Start_Command_6` was never set. An empty command is none.
    pub fn start_command_for(&self, ipv6: bool) -> Option<&str> {
        pick(ipv6, &self.start_command, &self.start_command_6)
    }

    /// The stop command for a knocker of the given family, chosen like the start
    /// command. It runs only when a start command ran.
    pub fn stop_command_for(&self, ipv6: bool) -> Option<&str> {
        self.start_command_for(ipv6)?;
        pick(ipv6, &self.stop_command, &self.stop_command_6)
    }
}

fn pick<'a>(ipv6: bool, v4: &'a Option<String>, v6: &'a Option<String>) -> Option<&'a str> {
    let chosen = if ipv6 && v6.is_some() { v6 } else { v4 };
    chosen.as_deref().filter(|c| !c.trim_ascii().is_empty())
}

impl Config {
    /// Reads a configuration file, choosing the reader by extension: `.toml`
    /// files are TOML, everything else is knockd.conf syntax.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| ConfigError::io(path, &e))?;
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"))
        {
            crate::toml_config::parse(path, &bytes)
        } else {
            crate::knockd_conf::parse(path, &bytes)
        }
    }

    /// Makes every relative path in the configuration (log file, pid file,
    /// one-time sequences files) absolute against `base`, so that a daemon that
    /// later changes directory still finds them.
    pub fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        if let Some(p) = self.options.log_file.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.options.pid_file.as_mut() {
            resolve(p);
        }
        for door in &mut self.doors {
            if let SequenceSource::OneTime(p) = &mut door.sequence {
                resolve(p);
            }
        }
    }
}

/// A configuration error: which file, which line (when one is to blame), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file being read.
    pub path: PathBuf,
    /// The 1-based line, when the error is tied to one.
    pub line: Option<usize>,
    /// What is wrong.
    pub kind: ConfigErrorKind,
}

/// What is wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read (the OS's message).
    Io(String),
    /// A line is not valid UTF-8.
    NotUtf8,
    /// `[]`.
    BadSectionName,
    /// A directive before the first section.
    OutsideSection,
    /// A key that is not known in this section, or a key without `=` other than `UseSyslog`.
    SyntaxError(String),
    /// A bad `TCPFlags` token.
    Flag(FlagError),
    /// A bad sequence in a door.
    Sequence {
        /// The door's name.
        door: String,
        /// What is wrong with its sequence.
        error: SequenceError,
    },
    /// A door with neither `Sequence` nor `One_Time_Sequences`.
    EmptySequence {
        /// The door's name.
        door: String,
    },
    /// A value that does not fit its key.
    InvalidValue {
        /// The key as written.
        key: String,
        /// The value as written.
        value: String,
        /// What the key wants.
        expected: &'static str,
    },
    /// A TOML syntax or type error (toml's message).
    Toml(String),
}

impl ConfigError {
    pub(crate) fn new(path: &Path, line: Option<usize>, kind: ConfigErrorKind) -> Self {
        ConfigError {
            path: path.to_owned(),
            line,
            kind,
        }
    }

    pub(crate) fn io(path: &Path, error: &io::Error) -> Self {
        ConfigError::new(path, None, ConfigErrorKind::Io(io_message(error)))
    }
}

/// The OS's message for an I/O error without Rust's ` (os error N)` suffix, as C's `strerror` gives it.
pub fn io_message(error: &io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigErrorKind::Io(message) => f.write_str(message),
            ConfigErrorKind::NotUtf8 => f.write_str("line is not valid UTF-8"),
            ConfigErrorKind::BadSectionName => {
                f.write_str("bad section name (expected [options] or [door name])")
            }
            ConfigErrorKind::OutsideSection => f.write_str(
                "all directives must belong to a section (start the file with [options] or [door name])",
            ),
            ConfigErrorKind::SyntaxError(detail) => write!(f, "syntax error: {detail}"),
            ConfigErrorKind::Flag(e) => write!(f, "{e}"),
            ConfigErrorKind::Sequence { door, error } => write!(f, "section {door}: {error}"),
            ConfigErrorKind::EmptySequence { door } => write!(
                f,
                "section '{door}' has an empty knock sequence (give it a Sequence or One_Time_Sequences)"
            ),
            ConfigErrorKind::InvalidValue {
                key,
                value,
                expected,
            } => write!(f, "invalid value \"{value}\" for {key} (expected {expected})"),
            ConfigErrorKind::Toml(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Parses a duration in seconds: a non-negative decimal number, fractions allowed (`2.5`).
pub(crate) fn parse_seconds(text: &str) -> Option<Duration> {
    let text = text.trim_ascii();
    let valid = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|&b| b == b'.').count() <= 1
        && text.bytes().any(|b| b.is_ascii_digit());
    if !valid {
        return None;
    }
    let secs: f64 = text.parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

/// Words for the error messages of [`parse_seconds`] values.
pub(crate) const SECONDS_EXPECTED: &str = "a number of seconds, such as 5 or 2.5";

#[cfg(test)]
mod tests {
    use super::*;

    fn door() -> Door {
        Door::new("d", SequenceSource::Fixed(Sequence::parse("1").unwrap()))
    }

    #[test]
    fn ipv6_knockers_fall_back_to_the_ipv4_command_only_when_the_6_key_is_absent() {
        // Checklist 65.
        let mut d = door();
        d.start_command = Some("v4 %IP%".into());
        assert_eq!(d.start_command_for(true), Some("v4 %IP%"));
        d.start_command_6 = Some("v6 %IP%".into());
        assert_eq!(d.start_command_for(true), Some("v6 %IP%"));
        assert_eq!(d.start_command_for(false), Some("v4 %IP%"));
        d.start_command_6 = Some(String::new());
        assert_eq!(d.start_command_for(true), None);
    }

    #[test]
    fn no_stop_command_without_a_start_command() {
        // Checklist 66.
        let mut d = door();
        d.stop_command = Some("stop".into());
        assert_eq!(d.stop_command_for(false), None);
        d.start_command = Some("start".into());
        assert_eq!(d.stop_command_for(false), Some("stop"));
        assert_eq!(d.stop_command_for(true), Some("stop"));
        d.stop_command_6 = Some("stop6".into());
        assert_eq!(d.stop_command_for(true), Some("stop6"));
    }

    #[test]
    fn seconds_accept_integers_and_fractions_only() {
        assert_eq!(parse_seconds("25"), Some(Duration::from_secs(25)));
        assert_eq!(parse_seconds(" 2.5 "), Some(Duration::from_millis(2500)));
        assert_eq!(parse_seconds("0"), Some(Duration::ZERO));
        for bad in ["", "abc", "-5", "1.2.3", ".", "5s", "1e3"] {
            assert_eq!(parse_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn relative_paths_resolve_against_the_base() {
        let mut c = Config::default();
        c.options.log_file = Some("log".into());
        c.options.pid_file = Some("/run/k.pid".into());
        let mut d = door();
        d.sequence = SequenceSource::OneTime("otp".into());
        c.doors.push(d);
        c.resolve_paths(Path::new("/etc/knockd"));
        assert_eq!(c.options.log_file, Some("/etc/knockd/log".into()));
        assert_eq!(c.options.pid_file, Some("/run/k.pid".into()));
        assert_eq!(
            c.doors[0].sequence,
            SequenceSource::OneTime("/etc/knockd/otp".into())
        );
    }
}
