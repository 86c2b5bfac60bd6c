//! Dispatching a directive by its key: `UseSyslog` anywhere, the keys of
//! `[options]`, and the door keys of `door_keys`; a key in the
//! wrong section or no section is a syntax error.

use super::door_keys::door_key;
use super::pending::PendingDoor;
use super::ConfigErrorKind;
use crate::config::value::LOG_FORMAT_EXPECTED;
use crate::config::{LogFormat, Options};

/// A directive being applied: its key as written and upper-cased (keys are
/// case-insensitive), and its value verbatim.
pub(super) struct Directive<'a> {
    pub(super) line: usize,
    pub(super) written: &'a str,
    pub(super) key: String,
    pub(super) value: Option<&'a str>,
}

impl<'a> Directive<'a> {
    pub(super) fn new(line: usize, written: &'a str, value: Option<&'a str>) -> Self {
        Directive {
            line,
            written,
            key: written.to_ascii_uppercase(),
            value,
        }
    }

    /// A bare `UseSyslog`, accepted in any section and always global.
    pub(super) fn use_syslog(&self, options: &mut Options) -> Result<(), ConfigErrorKind> {
        if self.value.is_some() {
            return Err(ConfigErrorKind::SyntaxError(
                "UseSyslog takes no value (write just UseSyslog)".into(),
            ));
        }
        options.use_syslog = true;
        Ok(())
    }

    pub(super) fn apply_option(&self, options: &mut Options) -> Result<(), ConfigErrorKind> {
        let value = self.value()?;
        match self.key.as_str() {
            "LOGFILE" => options.log_file = Some(self.path(value)?),
            "PIDFILE" => options.pid_file = Some(self.path(value)?),
            "STATEDIR" => options.state_dir = Some(self.path(value)?),
            "LOGFORMAT" => {
                let format = LogFormat::parse(value);
                options.log_format =
                    Some(format.ok_or_else(|| self.invalid(value, LOG_FORMAT_EXPECTED))?);
            }
            "CONTROLSOCKET" => options.control_socket = Some(self.path(value)?),
            // A bad default would silently change every door: refused.
            "ALLOW_FROM" => options.sources.allow.extend(self.sources(value)?),
            "DENY_FROM" => options.sources.deny.extend(self.sources(value)?),
            "INTERFACE" => {
                let name = self.non_empty(value, "an interface name")?;
                // 0.8 keeps the first Interface line it sees.
                options.interface.get_or_insert_with(|| name.to_owned());
            }
            key if door_key(key).is_some() => {
                return Err(self.misplaced("belongs in a door section, not in [options]"))
            }
            _ => return Err(self.unknown()),
        }
        Ok(())
    }

    pub(super) fn apply_door(&self, door: &mut PendingDoor) -> Result<(), ConfigErrorKind> {
        let value = self.value()?;
        match door_key(&self.key) {
            Some(set) => set(self, door, value),
            None if OPTION_KEYS.contains(&self.key.as_str()) => {
                Err(self.misplaced("belongs in [options], not in a door section"))
            }
            None => Err(self.unknown()),
        }
    }

    /// The value; only `UseSyslog` may come without one.
    pub(super) fn value(&self) -> Result<&'a str, ConfigErrorKind> {
        self.value.ok_or_else(|| {
            ConfigErrorKind::SyntaxError(format!(
                "\"{}\" is not a directive (expected KEY = VALUE)",
                self.written
            ))
        })
    }

    pub(super) fn misplaced(&self, where_: &str) -> ConfigErrorKind {
        ConfigErrorKind::SyntaxError(format!("{} {where_}", self.written))
    }

    pub(super) fn unknown(&self) -> ConfigErrorKind {
        ConfigErrorKind::SyntaxError(format!("unknown directive \"{}\"", self.written))
    }
}

/// The keys of `[options]` (besides `UseSyslog`, which any section takes).
pub(super) const OPTION_KEYS: [&str; 6] = [
    "LOGFILE",
    "PIDFILE",
    "STATEDIR",
    "CONTROLSOCKET",
    "LOGFORMAT",
    "INTERFACE",
];
