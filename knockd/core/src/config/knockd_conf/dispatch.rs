//! Dispatching a directive by its key: `UseSyslog` anywhere, the keys of
//! `[options]`, and the door keys of `door_keys`; a key in the
//! wrong section or no section is a syntax error.

use super::directive::Directive;
use super::door_keys::door_key;
use super::pending::PendingDoor;
use super::ConfigErrorKind;
use crate::config::open_prefix;
use crate::config::value::{parse_switch, LOG_FORMAT_EXPECTED, SWITCH_EXPECTED};
use crate::config::{LogFormat, Options};

impl Directive<'_> {
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
            "USER" => options.user = Some(self.non_empty(value, "a user name")?.to_owned()),
            "PRIVSEP" => {
                let on = parse_switch(value);
                options.privsep = Some(on.ok_or_else(|| self.invalid(value, SWITCH_EXPECTED))?);
            }
            "NFT_TABLE" => {
                let table = crate::nft::Table::parse(value);
                let expected = crate::nft::TABLE_EXPECTED;
                options.nft_table = Some(table.ok_or_else(|| self.invalid(value, expected))?);
            }
            // A bad default would silently change every door: refused.
            "ALLOW_FROM" => options.sources.allow.extend(self.sources(value)?),
            "DENY_FROM" => options.sources.deny.extend(self.sources(value)?),
            "OPEN_PREFIX4" => {
                let v4 = open_prefix::parse_v4(value);
                let expected = open_prefix::V4_EXPECTED;
                options.open_prefix.v4 = Some(v4.ok_or_else(|| self.invalid(value, expected))?);
            }
            "OPEN_PREFIX6" => {
                let v6 = open_prefix::parse_v6(value);
                let expected = open_prefix::V6_EXPECTED;
                options.open_prefix.v6 = Some(v6.ok_or_else(|| self.invalid(value, expected))?);
            }
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
}

/// The keys of `[options]` (besides `UseSyslog`, which any section takes).
pub(super) const OPTION_KEYS: [&str; 9] = [
    "LOGFILE",
    "PIDFILE",
    "STATEDIR",
    "CONTROLSOCKET",
    "LOGFORMAT",
    "INTERFACE",
    "USER",
    "PRIVSEP",
    "NFT_TABLE",
];
