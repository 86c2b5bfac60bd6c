//! Reading one value the way its key wants it (a path, seconds, a command,
//! a source list), with errors that name the key as written.

use std::path::PathBuf;

use super::directive::Directive;
use super::pending::PendingDoor;
use crate::config::value::{overlong_command, parse_seconds, PATH_EXPECTED, SECONDS_EXPECTED};
use crate::config::ConfigErrorKind;
use crate::sources::{parse_list, Cidr};

impl Directive<'_> {
    pub(super) fn invalid(&self, value: &str, expected: &'static str) -> ConfigErrorKind {
        ConfigErrorKind::InvalidValue {
            key: self.written.to_owned(),
            value: value.to_owned(),
            expected,
        }
    }

    pub(super) fn non_empty<'v>(
        &self,
        value: &'v str,
        expected: &'static str,
    ) -> Result<&'v str, ConfigErrorKind> {
        if value.is_empty() {
            Err(self.invalid(value, expected))
        } else {
            Ok(value)
        }
    }

    pub(super) fn path(&self, value: &str) -> Result<PathBuf, ConfigErrorKind> {
        self.non_empty(value, PATH_EXPECTED).map(PathBuf::from)
    }

    pub(super) fn seconds(&self, value: &str) -> Result<std::time::Duration, ConfigErrorKind> {
        parse_seconds(value).ok_or_else(|| self.invalid(value, SECONDS_EXPECTED))
    }

    /// A door's seconds as 0.8 reads them (`atoi`): a number followed by
    /// other text (`5s`) is read with a warning; a value 0.8 turns into
    /// something else (`abc` into 0, `-5` into 136 years) disables the door.
    pub(super) fn door_seconds(
        &self,
        door: &mut PendingDoor,
        value: &str,
    ) -> Option<std::time::Duration> {
        if let Some(seconds) = parse_seconds(value) {
            return Some(seconds);
        }
        let text = value.trim_ascii();
        let number_len = text
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        let (number, rest) = text.split_at(number_len);
        match parse_seconds(number) {
            Some(seconds) if !rest.is_empty() => {
                door.warn(self.line, self.trailing_text(value, number));
                Some(seconds)
            }
            _ => {
                door.disable(self.line, self.invalid(value, SECONDS_EXPECTED));
                None
            }
        }
    }

    /// Reads one of knockd's own values (a `Rotating_*` key, a switch, a
    /// count, `Target`) into the door with `set`, or disables the door when
    /// it does not parse.
    pub(super) fn door_value<T>(
        &self,
        door: &mut PendingDoor,
        value: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
        set: impl FnOnce(&mut PendingDoor, T),
    ) {
        match parse(value) {
            Some(v) => set(door, v),
            None => door.disable(self.line, self.invalid(value, expected)),
        }
    }

    pub(super) fn trailing_text(&self, value: &str, read: &str) -> ConfigErrorKind {
        ConfigErrorKind::TrailingTextIgnored {
            key: self.written.to_owned(),
            value: value.to_owned(),
            read: read.to_owned(),
        }
    }

    pub(super) fn command(&self, value: &str) -> Result<String, ConfigErrorKind> {
        match overlong_command(value) {
            Some(len) => Err(ConfigErrorKind::CommandTooLong {
                key: self.written.to_owned(),
                len,
            }),
            None => Ok(value.to_owned()),
        }
    }

    pub(super) fn sources(&self, value: &str) -> Result<Vec<Cidr>, ConfigErrorKind> {
        parse_list(value).map_err(|error| ConfigErrorKind::Sources {
            key: self.written.to_owned(),
            error,
        })
    }
}
