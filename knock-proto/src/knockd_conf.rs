//! The knockd.conf reader, hand-written to knockd 0.8's grammar.
//!
//! Lines are trimmed (so CRLF works); blank lines and lines starting with `#`
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

use std::path::{Path, PathBuf};

use crate::config::{
    parse_seconds, Config, ConfigError, ConfigErrorKind, Door, SequenceSource, SECONDS_EXPECTED,
};
use crate::sequence::Sequence;

/// A door being read, with the line of its header for the final check.
struct PendingDoor {
    line: usize,
    name: String,
    sequence: Option<SequenceSource>,
    door: Door,
}

#[derive(Clone, Copy)]
enum Section {
    Options,
    Door,
}

/// Parses knockd.conf text read from `path` (used in error messages).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut config = Config::default();
    let mut doors: Vec<PendingDoor> = Vec::new();
    let mut section = None;

    for (index, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let err = |kind| ConfigError::new(path, Some(line_no), kind);
        let line = std::str::from_utf8(raw)
            .map_err(|_| err(ConfigErrorKind::NotUtf8))?
            .trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.len() >= 2 && line.starts_with('[') && line.ends_with(']') {
            let name = &line[1..line.len() - 1];
            if name.is_empty() {
                return Err(err(ConfigErrorKind::BadSectionName));
            }
            section = Some(if name == "options" {
                Section::Options
            } else {
                // A placeholder sequence until the door's own is read; the
                // final check refuses a door that never gets one.
                let placeholder = SequenceSource::OneTime(PathBuf::new());
                doors.push(PendingDoor {
                    line: line_no,
                    name: name.to_owned(),
                    sequence: None,
                    door: Door::new(name, placeholder),
                });
                Section::Door
            });
            continue;
        }

        let (key_text, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let key = key_text.to_ascii_uppercase();
        let Some(section) = section else {
            return Err(err(ConfigErrorKind::OutsideSection));
        };
        if key == "USESYSLOG" {
            if value.is_some() {
                return Err(err(ConfigErrorKind::SyntaxError(
                    "UseSyslog takes no value (write just UseSyslog)".into(),
                )));
            }
            config.options.use_syslog = true;
            continue;
        }
        let Some(value) = value else {
            return Err(err(ConfigErrorKind::SyntaxError(format!(
                "\"{key_text}\" is not a directive (expected KEY = VALUE)"
            ))));
        };
        let invalid = |expected| {
            err(ConfigErrorKind::InvalidValue {
                key: key_text.to_owned(),
                value: value.to_owned(),
                expected,
            })
        };
        let non_empty = |expected| {
            if value.is_empty() {
                Err(invalid(expected))
            } else {
                Ok(value.to_owned())
            }
        };

        match section {
            Section::Options => match key.as_str() {
                "LOGFILE" => config.options.log_file = Some(non_empty("a file path")?.into()),
                "PIDFILE" => config.options.pid_file = Some(non_empty("a file path")?.into()),
                "INTERFACE" => {
                    let name = non_empty("an interface name")?;
                    // 0.8 keeps the first Interface line it sees.
                    config.options.interface.get_or_insert(name);
                }
                _ if is_door_key(&key) => {
                    return Err(err(ConfigErrorKind::SyntaxError(format!(
                        "{key_text} belongs in a door section, not in [options]"
                    ))))
                }
                _ => return Err(err(unknown_key(key_text))),
            },
            Section::Door => {
                let Some(pending) = doors.last_mut() else {
                    return Err(err(ConfigErrorKind::OutsideSection));
                };
                let door = &mut pending.door;
                match key.as_str() {
                    "SEQUENCE" => {
                        // 0.8 reads ports with atoi, so a trailing comment works there.
                        let text = value.split('#').next().unwrap_or_default();
                        let sequence = Sequence::parse(text).map_err(|error| {
                            err(ConfigErrorKind::Sequence {
                                door: pending.name.clone(),
                                error,
                            })
                        })?;
                        pending.sequence = Some(SequenceSource::Fixed(sequence));
                    }
                    "ONE_TIME_SEQUENCES" => {
                        let file = non_empty("a file path")?;
                        pending.sequence = Some(SequenceSource::OneTime(file.into()));
                    }
                    "SEQ_TIMEOUT" | "TIMEOUT" => {
                        door.seq_timeout =
                            parse_seconds(value).ok_or_else(|| invalid(SECONDS_EXPECTED))?;
                    }
                    "CMD_TIMEOUT" => {
                        door.cmd_timeout =
                            parse_seconds(value).ok_or_else(|| invalid(SECONDS_EXPECTED))?;
                    }
                    "TCPFLAGS" => door
                        .tcp_flags
                        .add(value)
                        .map_err(|e| err(ConfigErrorKind::Flag(e)))?,
                    "START_COMMAND" | "COMMAND" => door.start_command = Some(value.to_owned()),
                    "START_COMMAND_6" | "COMMAND_6" => {
                        door.start_command_6 = Some(value.to_owned())
                    }
                    "STOP_COMMAND" => door.stop_command = Some(value.to_owned()),
                    "STOP_COMMAND_6" => door.stop_command_6 = Some(value.to_owned()),
                    "TARGET" => {
                        door.target = Some(
                            value
                                .parse()
                                .map_err(|_| invalid("an IPv4 or IPv6 address"))?,
                        )
                    }
                    "LOGFILE" | "PIDFILE" | "INTERFACE" => {
                        return Err(err(ConfigErrorKind::SyntaxError(format!(
                            "{key_text} belongs in [options], not in a door section"
                        ))))
                    }
                    _ => return Err(err(unknown_key(key_text))),
                }
            }
        }
    }

    for pending in doors {
        let Some(sequence) = pending.sequence else {
            return Err(ConfigError::new(
                path,
                Some(pending.line),
                ConfigErrorKind::EmptySequence { door: pending.name },
            ));
        };
        let mut door = pending.door;
        door.sequence = sequence;
        config.doors.push(door);
    }
    Ok(config)
}

fn is_door_key(key: &str) -> bool {
    matches!(
        key,
        "SEQUENCE"
            | "ONE_TIME_SEQUENCES"
            | "SEQ_TIMEOUT"
            | "TIMEOUT"
            | "CMD_TIMEOUT"
            | "TCPFLAGS"
            | "START_COMMAND"
            | "COMMAND"
            | "START_COMMAND_6"
            | "COMMAND_6"
            | "STOP_COMMAND"
            | "STOP_COMMAND_6"
            | "TARGET"
    )
}

fn unknown_key(key_text: &str) -> ConfigErrorKind {
    ConfigErrorKind::SyntaxError(format!("unknown directive \"{key_text}\""))
}
