//! The knockd.conf reader, hand-written to knockd 0.8's grammar.
//!
//! Lines are trimmed of ASCII blanks, as C's `isspace` does (so CRLF works); blank lines and lines starting with `#`
//! are ignored. `[options]` (exactly, case-sensitive) is the global section and
//! every other `[name]` starts a door. A directive is split at its first `=`;
//! keys are case-insensitive, values are kept verbatim. A bare `UseSyslog` is
//! accepted in any section.
//!
//! Deliberate differences from 0.8, all refusals of input 0.8 silently turns
//! into something else: bad ports (`-1`, `abc`, empty elements), junk or
//! negative timeouts, empty paths, and `Target` values that are not IP
//! addresses. Long lines are not split at 4095 bytes, door names are not cut at
//! 127 bytes, a `#` comment after a sequence is always allowed, and
//! `TCPFlags = syn, ack` is accepted.

mod directive;
mod dispatch;
mod door_keys;
mod lines;
mod pending;
#[cfg(test)]
mod tests;
mod values;

use std::path::Path;

use super::{Config, ConfigError, ConfigErrorKind, Options};
use directive::Directive;
use lines::{lex, Line};
use pending::PendingDoor;

/// Parses knockd.conf text read from `path` (used in error messages).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut options = Options::default();
    let mut doors: Vec<PendingDoor> = Vec::new();
    let mut in_options = None;

    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let at = |kind| ConfigError::new(path, Some(line_no), kind);
        let raw = raw.trim_ascii();
        // Comments are bytes, whatever their encoding (`# Tür` in Latin-1).
        if raw.is_empty() || raw.starts_with(b"#") {
            continue;
        }
        if raw.contains(&0) {
            return Err(at(ConfigErrorKind::Nul));
        }
        // Other lines may hold any bytes too: text that is not UTF-8 is
        // carried as escapes and reaches the shell and the log as it was.
        let text = crate::bytes::decode(raw);
        match lex(&text).map_err(at)? {
            Line::Section(name) => {
                let is_options = name == "options";
                if !is_options {
                    doors.push(PendingDoor::new(line_no, name));
                }
                in_options = Some(is_options);
            }
            Line::Directive { key, value } => {
                let directive = Directive::new(line_no, key, value);
                match (in_options, doors.last_mut()) {
                    (None, _) => Err(ConfigErrorKind::OutsideSection),
                    _ if directive.key == "USESYSLOG" => directive.use_syslog(&mut options),
                    (Some(true), _) => directive.apply_option(&mut options),
                    (Some(false), Some(door)) => directive.apply_door(door),
                    (Some(false), None) => Err(ConfigErrorKind::OutsideSection),
                }
                .map_err(at)?;
            }
        }
    }

    let mut config = Config {
        options,
        ..Config::default()
    };
    for pending in doors {
        pending.finish(path, &mut config)?;
    }
    Ok(config)
}
