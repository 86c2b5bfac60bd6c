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

use std::path::{Path, PathBuf};

use knock_proto::{Sequence, SequenceError};

use super::rotating::{RotatingKeys, PROTOCOL_EXPECTED, RANGE_EXPECTED};
use super::value::{
    overlong_command, parse_address, parse_count, parse_number, parse_seconds, parse_switch,
    ADDRESS_EXPECTED, COUNT_EXPECTED, LOG_FORMAT_EXPECTED, NUMBER_EXPECTED, PATH_EXPECTED,
    SECONDS_EXPECTED, SWITCH_EXPECTED,
};
use super::{
    Config, ConfigError, ConfigErrorKind, DisabledDoor, Door, LogFormat, Options, SequenceSource,
};
use crate::sources::{parse_list, Cidr};

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

/// One line of knockd.conf that is neither blank nor a comment, trimmed.
enum Line<'a> {
    /// `[name]`: `[options]` or a door.
    Section(&'a str),
    /// `key = value`, or a bare `key`.
    Directive {
        key: &'a str,
        value: Option<&'a str>,
    },
}

fn lex(line: &str) -> Result<Line<'_>, ConfigErrorKind> {
    if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
        if name.is_empty() {
            return Err(ConfigErrorKind::BadSectionName);
        }
        return Ok(Line::Section(name));
    }
    Ok(match line.split_once('=') {
        Some((key, value)) => Line::Directive {
            key: key.trim_ascii(),
            value: Some(value.trim_ascii()),
        },
        None => Line::Directive {
            key: line,
            value: None,
        },
    })
}

/// A directive being applied: its key as written and upper-cased (keys are
/// case-insensitive), and its value verbatim.
struct Directive<'a> {
    line: usize,
    written: &'a str,
    key: String,
    value: Option<&'a str>,
}

impl<'a> Directive<'a> {
    fn new(line: usize, written: &'a str, value: Option<&'a str>) -> Self {
        Directive {
            line,
            written,
            key: written.to_ascii_uppercase(),
            value,
        }
    }

    /// A bare `UseSyslog`, accepted in any section and always global.
    fn use_syslog(&self, options: &mut Options) -> Result<(), ConfigErrorKind> {
        if self.value.is_some() {
            return Err(ConfigErrorKind::SyntaxError(
                "UseSyslog takes no value (write just UseSyslog)".into(),
            ));
        }
        options.use_syslog = true;
        Ok(())
    }

    fn apply_option(&self, options: &mut Options) -> Result<(), ConfigErrorKind> {
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

    fn apply_door(&self, door: &mut PendingDoor) -> Result<(), ConfigErrorKind> {
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
    fn value(&self) -> Result<&'a str, ConfigErrorKind> {
        self.value.ok_or_else(|| {
            ConfigErrorKind::SyntaxError(format!(
                "\"{}\" is not a directive (expected KEY = VALUE)",
                self.written
            ))
        })
    }

    fn invalid(&self, value: &str, expected: &'static str) -> ConfigErrorKind {
        ConfigErrorKind::InvalidValue {
            key: self.written.to_owned(),
            value: value.to_owned(),
            expected,
        }
    }

    fn non_empty<'v>(
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

    fn path(&self, value: &str) -> Result<PathBuf, ConfigErrorKind> {
        self.non_empty(value, PATH_EXPECTED).map(PathBuf::from)
    }

    fn seconds(&self, value: &str) -> Result<std::time::Duration, ConfigErrorKind> {
        parse_seconds(value).ok_or_else(|| self.invalid(value, SECONDS_EXPECTED))
    }

    /// A door's seconds as 0.8 reads them (`atoi`): a number followed by
    /// other text (`5s`) is read with a warning; a value 0.8 turns into
    /// something else (`abc` into 0, `-5` into 136 years) disables the door.
    fn door_seconds(&self, door: &mut PendingDoor, value: &str) -> Option<std::time::Duration> {
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

    /// Reads one `Rotating_*` value into the door's keys, or disables the
    /// door when it does not parse.
    fn rotating_value<T>(
        &self,
        door: &mut PendingDoor,
        value: &str,
        expected: &'static str,
        parse: impl Fn(&str) -> Option<T>,
        set: impl Fn(&mut RotatingKeys, T),
    ) {
        match parse(value) {
            Some(v) => set(&mut door.rotating, v),
            None => door.disable(self.line, self.invalid(value, expected)),
        }
    }

    fn trailing_text(&self, value: &str, read: &str) -> ConfigErrorKind {
        ConfigErrorKind::TrailingTextIgnored {
            key: self.written.to_owned(),
            value: value.to_owned(),
            read: read.to_owned(),
        }
    }

    fn command(&self, value: &str) -> Result<String, ConfigErrorKind> {
        match overlong_command(value) {
            Some(len) => Err(ConfigErrorKind::CommandTooLong {
                key: self.written.to_owned(),
                len,
            }),
            None => Ok(value.to_owned()),
        }
    }

    fn sources(&self, value: &str) -> Result<Vec<Cidr>, ConfigErrorKind> {
        parse_list(value).map_err(|error| ConfigErrorKind::Sources {
            key: self.written.to_owned(),
            error,
        })
    }

    fn misplaced(&self, where_: &str) -> ConfigErrorKind {
        ConfigErrorKind::SyntaxError(format!("{} {where_}", self.written))
    }

    fn unknown(&self) -> ConfigErrorKind {
        ConfigErrorKind::SyntaxError(format!("unknown directive \"{}\"", self.written))
    }
}

/// The keys of `[options]` (besides `UseSyslog`, which any section takes).
const OPTION_KEYS: [&str; 6] = [
    "LOGFILE",
    "PIDFILE",
    "STATEDIR",
    "CONTROLSOCKET",
    "LOGFORMAT",
    "INTERFACE",
];

/// Sets one door key from its value.
type SetDoorKey = fn(&Directive<'_>, &mut PendingDoor, &str) -> Result<(), ConfigErrorKind>;

/// Every door key, upper-cased, with its aliases: the one table both the
/// door sections and the misplaced-key check of `[options]` read.
const DOOR_KEYS: &[(&[&str], SetDoorKey)] = &[
    (&["SEQUENCE"], |d, door, value| {
        // 0.8 reads ports with atoi, so a trailing comment works there.
        let text = value.split('#').next().unwrap_or_default();
        let (text, read) = as_atoi_reads(text);
        for (element, port) in read {
            door.warn(d.line, d.trailing_text(&element, &port));
        }
        let error = match Sequence::parse(&text) {
            Ok(sequence) => {
                door.sequence = Some(SequenceSource::Fixed(sequence));
                return Ok(());
            }
            Err(error) => error,
        };
        let refused_by_0_8 = match &error {
            SequenceError::TooLong { .. } | SequenceError::UnknownProtocol { .. } => true,
            SequenceError::InvalidPort { element } => {
                atoi_port(element).is_some_and(|p| p > 65_535)
            }
            SequenceError::Empty | SequenceError::EmptyElement { .. } => false,
        };
        let kind = ConfigErrorKind::Sequence {
            door: door.door.name.clone(),
            error,
        };
        if refused_by_0_8 {
            return Err(kind);
        }
        door.disable(d.line, kind);
        Ok(())
    }),
    (&["ONE_TIME_SEQUENCES"], |d, door, value| {
        door.sequence = Some(SequenceSource::OneTime(d.path(value)?));
        Ok(())
    }),
    (&["SEQ_TIMEOUT", "TIMEOUT"], |d, door, value| {
        if let Some(seconds) = d.door_seconds(door, value) {
            door.door.seq_timeout = seconds;
        }
        Ok(())
    }),
    (&["CMD_TIMEOUT"], |d, door, value| {
        if let Some(seconds) = d.door_seconds(door, value) {
            door.door.cmd_timeout = seconds;
        }
        Ok(())
    }),
    (&["TCPFLAGS"], |_, door, value| {
        door.door
            .tcp_flags
            .add(value)
            .map_err(ConfigErrorKind::Flag)
    }),
    (&["START_COMMAND", "COMMAND"], |d, door, value| {
        door.door.start_command = Some(d.command(value)?);
        Ok(())
    }),
    (&["START_COMMAND_6", "COMMAND_6"], |d, door, value| {
        door.door.start_command_6 = Some(d.command(value)?);
        Ok(())
    }),
    (&["STOP_COMMAND"], |d, door, value| {
        door.door.stop_command = Some(d.command(value)?);
        Ok(())
    }),
    (&["STOP_COMMAND_6"], |d, door, value| {
        door.door.stop_command_6 = Some(d.command(value)?);
        Ok(())
    }),
    // knockd's own directives: a bad value disables the door.
    (&["REFRESH"], |d, door, value| {
        match parse_switch(value) {
            Some(refresh) => door.door.refresh = refresh,
            None => door.disable(d.line, d.invalid(value, SWITCH_EXPECTED)),
        }
        Ok(())
    }),
    (&["COOLDOWN"], |d, door, value| {
        match d.seconds(value) {
            Ok(cooldown) => door.door.cooldown = cooldown,
            Err(kind) => door.disable(d.line, kind),
        }
        Ok(())
    }),
    (&["ALLOW_REPEATS"], |d, door, value| {
        match parse_switch(value) {
            Some(allow) => door.door.allow_repeats = allow,
            None => door.disable(d.line, d.invalid(value, SWITCH_EXPECTED)),
        }
        Ok(())
    }),
    // Several lines add up. A bad list disables the door, which then
    // opens for nobody rather than for everybody.
    (&["ALLOW_FROM"], |d, door, value| {
        match d.sources(value) {
            Ok(list) => door.door.sources.allow.extend(list),
            Err(kind) => door.disable(d.line, kind),
        }
        Ok(())
    }),
    (&["DENY_FROM"], |d, door, value| {
        match d.sources(value) {
            Ok(list) => door.door.sources.deny.extend(list),
            Err(kind) => door.disable(d.line, kind),
        }
        Ok(())
    }),
    (&["MAX_OPEN"], |d, door, value| {
        match parse_count(value) {
            Some(max) => door.door.max_open = Some(max),
            None => door.disable(d.line, d.invalid(value, COUNT_EXPECTED)),
        }
        Ok(())
    }),
    (&["STRICT"], |d, door, value| {
        match parse_switch(value) {
            Some(strict) => door.door.strict = strict,
            None => door.disable(d.line, d.invalid(value, SWITCH_EXPECTED)),
        }
        Ok(())
    }),
    (&["ROTATING_SECRET"], |d, door, value| {
        door.rotating.secret_file = Some(d.path(value)?);
        Ok(())
    }),
    (&["ROTATING_STEP"], |d, door, value| {
        d.rotating_value(door, value, NUMBER_EXPECTED, parse_number, |r, v| {
            r.step = Some(v)
        });
        Ok(())
    }),
    (&["ROTATING_RANGE"], |d, door, value| {
        let parse = |v: &str| v.parse().ok();
        d.rotating_value(door, value, RANGE_EXPECTED, parse, |r, v| r.range = Some(v));
        Ok(())
    }),
    (&["ROTATING_LENGTH"], |d, door, value| {
        let parse = |v: &str| parse_number(v).and_then(|n| usize::try_from(n).ok());
        d.rotating_value(door, value, NUMBER_EXPECTED, parse, |r, v| {
            r.length = Some(v)
        });
        Ok(())
    }),
    (&["ROTATING_PROTOCOL"], |d, door, value| {
        let parse = |v: &str| v.parse().ok();
        d.rotating_value(door, value, PROTOCOL_EXPECTED, parse, |r, v| {
            r.protocol = Some(v)
        });
        Ok(())
    }),
    (&["ROTATING_SKEW"], |d, door, value| {
        d.rotating_value(door, value, NUMBER_EXPECTED, parse_number, |r, v| {
            r.skew = Some(v)
        });
        Ok(())
    }),
    (&["TARGET"], |d, door, value| {
        // 0.8 turns a name into an address that never matches.
        match parse_address(value) {
            Some(target) => door.door.target = Some(target),
            None => door.disable(d.line, d.invalid(value, ADDRESS_EXPECTED)),
        }
        Ok(())
    }),
];

/// The setter of an upper-cased door key, if it is one.
fn door_key(key: &str) -> Option<SetDoorKey> {
    DOOR_KEYS
        .iter()
        .find(|(names, _)| names.contains(&key))
        .map(|&(_, set)| set)
}

/// A door being read, with the line of its header for the final check.
struct PendingDoor {
    line: usize,
    sequence: Option<SequenceSource>,
    /// The `Rotating_*` keys read so far.
    rotating: RotatingKeys,
    /// The door with a placeholder sequence until its own is read.
    door: Door,
    /// Values 0.8 would turn into something that cannot work as written,
    /// by line: each disables the door.
    problems: Vec<(usize, ConfigErrorKind)>,
    /// Values read as 0.8 reads them, though they look like mistakes.
    warnings: Vec<(usize, ConfigErrorKind)>,
}

impl PendingDoor {
    fn new(line: usize, name: &str) -> Self {
        PendingDoor {
            line,
            sequence: None,
            rotating: RotatingKeys::default(),
            door: Door::new(name, SequenceSource::OneTime(PathBuf::new())),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    fn disable(&mut self, line: usize, kind: ConfigErrorKind) {
        self.problems.push((line, kind));
    }

    fn warn(&mut self, line: usize, kind: ConfigErrorKind) {
        self.warnings.push((line, kind));
    }

    /// Adds the door to `config`, or to its disabled doors; an error naming
    /// its header line if it never got a sequence.
    fn finish(mut self, path: &Path, config: &mut Config) -> Result<(), ConfigError> {
        let at = |(line, kind)| ConfigError::new(path, Some(line), kind);
        let rotating = std::mem::take(&mut self.rotating);
        match rotating.build(&self.door.name, self.sequence.is_some()) {
            Ok(Some(source)) => self.sequence = Some(SequenceSource::Rotating(source)),
            Ok(None) => {}
            Err(problem) => {
                let door = self.door.name.clone();
                self.disable(self.line, ConfigErrorKind::Rotating { door, problem });
            }
        }
        config.warnings.extend(self.warnings.into_iter().map(at));
        if !self.problems.is_empty() {
            let name = self.door.name;
            config
                .disabled
                .extend(self.problems.into_iter().map(|problem| DisabledDoor {
                    door: name.clone(),
                    error: at(problem),
                }));
            return Ok(());
        }
        let Some(sequence) = self.sequence else {
            return Err(ConfigError::new(
                path,
                Some(self.line),
                ConfigErrorKind::EmptySequence {
                    door: self.door.name,
                },
            ));
        };
        let mut door = Door {
            sequence,
            ..self.door
        };
        door.inherit_sources(&config.options.sources);
        config.doors.push(door);
        Ok(())
    }
}

/// `element` with its port's text replaced by what C's `atoi` reads of it
/// when that is a port followed by other text (`7000x` is 7000 to 0.8),
/// and the (element, port) pairs so read, for warnings.
fn as_atoi_reads(text: &str) -> (String, Vec<(String, String)>) {
    let mut read = Vec::new();
    let elements: Vec<String> = text
        .split(',')
        .map(|element| {
            let (port, protocol) = match element.split_once(':') {
                Some((port, protocol)) => (port, Some(protocol)),
                None => (element, None),
            };
            let trimmed = port.trim_ascii();
            let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
            let (number, rest) = trimmed.split_at(digits);
            let port_value = number.parse::<u32>().ok().filter(|&p| p <= 65_535);
            match port_value {
                Some(value) if !rest.is_empty() => {
                    read.push((element.trim_ascii().to_owned(), value.to_string()));
                    match protocol {
                        Some(protocol) => format!("{value}:{protocol}"),
                        None => value.to_string(),
                    }
                }
                _ => element.to_owned(),
            }
        })
        .collect();
    (elements.join(","), read)
}

/// The value C's `atoi` gives a sequence element's port, when it has digits
/// (after blanks and an optional sign): 0.8 refuses only values above 65535.
fn atoi_port(element: &str) -> Option<i64> {
    let port = element.split(':').next().unwrap_or_default().trim_ascii();
    let (negative, digits) = match port.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, port.strip_prefix('+').unwrap_or(port)),
    };
    let digits = digits
        .get(..digits.bytes().take_while(u8::is_ascii_digit).count())
        .unwrap_or_default();
    let value: i64 = digits.parse().unwrap_or(i64::MAX);
    (!digits.is_empty()).then_some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::*;
    use knock_proto::TcpFlags;
    use proptest::prelude::*;
    use std::time::Duration;

    fn read(text: &str) -> Result<Config, ConfigError> {
        parse(Path::new("/etc/knockd.conf"), text.as_bytes())
    }

    fn error(text: &str) -> (Option<usize>, String) {
        let e = read(text).unwrap_err();
        (e.line, e.kind.to_string())
    }

    /// The first door `text` disables (it must read), with its line and message.
    fn problem(text: &str) -> (Option<usize>, String) {
        let c = read(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        let first = c
            .disabled
            .first()
            .unwrap_or_else(|| panic!("{text:?} disables no door"));
        (first.error.line, first.error.kind.to_string())
    }

    fn fixed(door: &Door) -> String {
        match &door.sequence {
            SequenceSource::Fixed(s) => s.to_string(),
            SequenceSource::OneTime(p) => format!("file {}", p.display()),
            SequenceSource::Rotating(r) => format!("rotating {}", r.secret_file.display()),
        }
    }

    #[test]
    fn rotating_doors_take_their_keys_in_any_order_with_defaults() {
        let c = read(
            "[openSSH]\nRotating_Step = 60\nRotating_Secret = /etc/knockd/ssh.key\n\
             Rotating_Range = 20000-60000\nRotating_Protocol = MIXED\nstrict = yes\n\
             [plain]\nsequence = 1,2,3\n",
        )
        .unwrap();
        let SequenceSource::Rotating(r) = &c.doors[0].sequence else {
            panic!("{:?}", c.doors[0].sequence)
        };
        assert_eq!(r.secret_file, PathBuf::from("/etc/knockd/ssh.key"));
        let rotation = r.rotation;
        assert_eq!(rotation.step(), 60);
        assert_eq!(rotation.range().to_string(), "20000-60000");
        assert_eq!(rotation.length(), 4);
        assert_eq!(rotation.protocol().to_string(), "mixed");
        assert_eq!(rotation.skew(), 1);
        assert!(c.doors[0].strict);
        assert!(!c.doors[1].strict);
    }

    #[test]
    fn bad_rotating_settings_disable_only_their_door() {
        let cases = [
            (
                "Rotating_Secret = k\nsequence = 1,2",
                "Rotating_Secret excludes Sequence",
            ),
            ("Rotating_Step = 30\nsequence = 1,2", "need Rotating_Secret"),
            (
                "Rotating_Secret = k\nRotating_Step = 0",
                "step of 0 seconds is out of range",
            ),
            (
                "Rotating_Secret = k\nRotating_Range = 5-1",
                "invalid value \"5-1\" for Rotating_Range",
            ),
            (
                "Rotating_Secret = k\nRotating_Range = 1-3\nRotating_Length = 4",
                "length 4 is out of range (1 to 3",
            ),
            (
                "Rotating_Secret = k\nRotating_Skew = 11",
                "skew of 11 steps",
            ),
            (
                "Rotating_Secret = k\nRotating_Protocol = sctp",
                "tcp, udp or mixed",
            ),
            (
                "sequence = 1,2\nStrict = maybe",
                "invalid value \"maybe\" for Strict",
            ),
        ];
        for (keys, message) in cases {
            let text = format!("[bad]\n{keys}\n[good]\nsequence = 7,8,9\n");
            let c = read(&text).unwrap_or_else(|e| panic!("{keys}: {e}"));
            assert_eq!(c.doors.len(), 1, "{keys}");
            assert_eq!(c.doors[0].name, "good");
            let error = c.disabled[0].error.to_string();
            assert!(error.contains(message), "{keys}: {error}");
        }
    }

    const CLASSIC: &str = "\
[options]
\tUseSyslog
\tLogFile = /var/log/knockd.log

[openSSH]
\tsequence    = 7000,8000,9000
\tseq_timeout = 5
\tcommand     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
\ttcpflags    = syn
";

    #[test]
    fn the_classic_example_reads_with_0_8_defaults() {
        let c = read(CLASSIC).unwrap();
        assert!(c.options.use_syslog);
        assert_eq!(c.options.log_file, Some("/var/log/knockd.log".into()));
        assert_eq!(c.doors.len(), 1);
        let d = &c.doors[0];
        assert_eq!(d.name, "openSSH");
        assert_eq!(fixed(d), "7000:tcp,8000:tcp,9000:tcp");
        assert_eq!(d.seq_timeout, Duration::from_secs(5));
        assert_eq!(d.cmd_timeout, Duration::from_secs(10));
        assert_eq!(d.tcp_flags, TcpFlags::parse("syn").unwrap());
        assert_eq!(
            d.start_command.as_deref(),
            Some("/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT")
        );
    }

    #[test]
    fn seq_timeout_defaults_to_25_seconds() {
        let c = read("[d]\nsequence = 1\n").unwrap();
        assert_eq!(c.doors[0].seq_timeout, Duration::from_secs(25));
    }

    #[test]
    fn c10_directive_before_any_section() {
        assert_eq!(error("sequence = 1\n").0, Some(1),);
        assert!(error("logfile = x\n")
            .1
            .starts_with("all directives must belong to a section"));
    }

    #[test]
    fn c11_empty_section_name() {
        let (line, msg) = error("[options]\n[]\n");
        assert_eq!(line, Some(2));
        assert!(msg.starts_with("bad section name"), "{msg}");
    }

    #[test]
    fn c12_unknown_and_misplaced_keys_are_syntax_errors() {
        for (text, line, word) in [
            (
                "[d]\nsequence = 1\nfoo = bar\n",
                3,
                "unknown directive \"foo\"",
            ),
            ("[options]\nbar = 1\n", 2, "unknown directive \"bar\""),
            (
                "[d]\nsequence = 1\nLogFile = /x\n",
                3,
                "LogFile belongs in [options]",
            ),
            (
                "[options]\nsequence = 1\n",
                2,
                "sequence belongs in a door section",
            ),
            (
                "[d]\nsequence = 1\ncommand\n",
                3,
                "\"command\" is not a directive",
            ),
        ] {
            let (l, msg) = error(text);
            assert_eq!(l, Some(line), "{text}");
            assert!(
                msg.starts_with("syntax error") && msg.contains(word),
                "{msg}"
            );
        }
    }

    #[test]
    fn c13_bare_usesyslog_is_global_even_in_a_door() {
        let c = read("[d]\nsequence = 1\nUseSyslog\n").unwrap();
        assert!(c.options.use_syslog);
    }

    #[test]
    fn c14_usesyslog_with_a_value_is_a_syntax_error() {
        let (line, msg) = error("[options]\nUseSyslog = yes\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("UseSyslog takes no value"), "{msg}");
    }

    #[test]
    fn c15_capitalised_options_is_a_door() {
        let (line, msg) = error("[Options]\nlogfile = x\n");
        assert_eq!(line, Some(2));
        assert!(msg.contains("belongs in [options]"), "{msg}");
    }

    #[test]
    fn c16_to_c20_sequences() {
        assert!(error("[d]\nsequence = 7000,70000\n")
            .1
            .starts_with("section d: port 70000 is invalid"));
        assert!(error("[d]\nsequence = 7000:icmp\n")
            .1
            .starts_with("section d: unknown protocol in knock sequence element 7000:icmp"));
        let ports = |n: usize| (1..=n).map(|p| p.to_string()).collect::<Vec<_>>().join(",");
        assert!(read(&format!("[d]\nsequence = {}\n", ports(32))).is_ok());
        assert!(error(&format!("[d]\nsequence = {}\n", ports(33)))
            .1
            .starts_with("section d: too many ports"));
        let c = read("[d]\nsequence = 0,65535, 8000 , 9000:UDP ,10000: tcp\n").unwrap();
        assert_eq!(
            fixed(&c.doors[0]),
            "0:tcp,65535:tcp,8000:tcp,9000:udp,10000:tcp"
        );
    }

    #[test]
    fn c17_c20_values_0_8_mangles_disable_their_door_with_line_and_value() {
        // 0.8 turns -1 into 65535, abc into 0, `sequence =` into 0:tcp and `1,,2,` into 1,0,2,0.
        for (value, what) in [
            ("-1", "port -1 is invalid"),
            ("abc", "port abc is invalid"),
            ("", "empty knock sequence"),
            ("1,,2,", "element 2 of the knock sequence is empty"),
        ] {
            let (line, msg) = problem(&format!("[d]\nsequence = {value}\n"));
            assert_eq!(line, Some(2), "{value}");
            assert!(msg.contains(what), "{value}: {msg}");
        }
    }

    #[test]
    fn a_typo_in_one_door_never_takes_down_the_others() {
        let c = read(
            "[ssh]\nsequence = 7000,8000\n[typo]\nsequence = 7000,abc\n[web]\nsequence = 9000\n",
        )
        .unwrap();
        let names: Vec<&str> = c.doors.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["ssh", "web"]);
        assert_eq!(c.disabled.len(), 1);
        assert_eq!(c.disabled[0].door, "typo");
        assert_eq!(
            c.disabled[0].error.to_string(),
            "/etc/knockd.conf: line 4: section typo: port abc is invalid (expected a number from 0 to 65535, optionally followed by :tcp or :udp)"
        );
    }

    #[test]
    fn values_0_8_reads_meaningfully_are_read_alike_with_a_warning() {
        let c = read("[d]\nsequence = 7000x,8000:udp\nseq_timeout = 5s\ncmd_timeout = 2.5 secs\n")
            .unwrap();
        assert!(c.disabled.is_empty());
        let d = &c.doors[0];
        assert_eq!(fixed(d), "7000:tcp,8000:udp");
        assert_eq!(d.seq_timeout, Duration::from_secs(5));
        assert_eq!(d.cmd_timeout, Duration::from_millis(2500));
        let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "/etc/knockd.conf: line 2: sequence = 7000x: read as 7000, the text after the number ignored as knockd 0.8 does",
                "/etc/knockd.conf: line 3: seq_timeout = 5s: read as 5, the text after the number ignored as knockd 0.8 does",
                "/etc/knockd.conf: line 4: cmd_timeout = 2.5 secs: read as 2.5, the text after the number ignored as knockd 0.8 does",
            ]
        );
        // What 0.8 refuses, we refuse: a port above 65535, even with text after it.
        assert!(error("[d]\nsequence = 70000x\n")
            .1
            .contains("port 70000x is invalid"));
    }

    #[test]
    fn c21_door_without_sequence_names_door_and_header_line() {
        let (line, msg) = error("[options]\n\n[d]\ncommand = x\n");
        assert_eq!(line, Some(3));
        assert!(
            msg.starts_with("section 'd' has an empty knock sequence"),
            "{msg}"
        );
    }

    #[test]
    fn c22_c23_tcp_flags() {
        let (line, msg) = error("[d]\nsequence = 1\ntcpflags = syn,foo\n");
        assert_eq!(line, Some(3));
        assert!(msg.starts_with("unrecognized flag \"foo\""), "{msg}");
        assert!(error("[d]\nsequence = 1\ntcpflags = syn,\n")
            .1
            .starts_with("unrecognized flag \"\""));
        assert!(error("[d]\nsequence = 1\ntcpflags = push\n")
            .1
            .contains("\"push\""));
        // Deliberate difference: 0.8 refuses the blank in `syn, ack`.
        let c = read("[d]\nsequence = 1\ntcpflags = syn, ack\n").unwrap();
        assert_eq!(c.doors[0].tcp_flags.to_string(), "syn,ack");
        // Several lines accumulate, later tokens override.
        let c = read("[d]\nsequence = 1\ntcpflags = syn,ack\nTCPFlags = !ack,fin\n").unwrap();
        assert_eq!(c.doors[0].tcp_flags.to_string(), "fin,syn,!ack");
    }

    #[test]
    fn c24_crlf_and_indented_comments() {
        let c = read("[options]\r\n   # comment\r\n\tlogfile = /l\r\n[d]\r\n sequence = 1,2\r\n")
            .unwrap();
        assert_eq!(c.options.log_file, Some("/l".into()));
        assert_eq!(fixed(&c.doors[0]), "1:tcp,2:tcp");
    }

    #[test]
    fn c25_comments_after_sequences() {
        let c = read("[d]\nsequence = 1,2 # c\n").unwrap();
        assert_eq!(fixed(&c.doors[0]), "1:tcp,2:tcp");
        // Deliberate difference: 0.8 calls the protocol `udp # c` unknown.
        let c = read("[d]\nsequence = 1,2:udp # c\n").unwrap();
        assert_eq!(fixed(&c.doors[0]), "1:tcp,2:udp");
        assert!(error("[d]\nsequence = 1\n; comment\n")
            .1
            .starts_with("syntax error"));
    }

    #[test]
    fn c26_timeouts_aliases_and_junk_that_disables_the_door() {
        let c = read("[d]\nsequence = 1\ntimeout = 7\ncmd_timeout = 2.5\n").unwrap();
        assert_eq!(c.doors[0].seq_timeout, Duration::from_secs(7));
        assert_eq!(c.doors[0].cmd_timeout, Duration::from_millis(2500));
        // 0.8 reads `abc` as 0 and sleeps ~136 years for -5.
        for (key, value) in [
            ("seq_timeout", "abc"),
            ("cmd_timeout", "-5"),
            ("Seq_Timeout", ""),
        ] {
            let (line, msg) = problem(&format!("[d]\nsequence = 1\n{key} = {value}\n"));
            assert_eq!(line, Some(3));
            assert!(
                msg.starts_with(&format!("invalid value \"{value}\" for {key}")),
                "{msg}"
            );
        }
    }

    #[test]
    fn c27_values_keep_everything_after_the_first_equals() {
        let c = read("[d]\nsequence = 1\nstart_command = a=b c==d # not a comment\n").unwrap();
        assert_eq!(
            c.doors[0].start_command.as_deref(),
            Some("a=b c==d # not a comment")
        );
    }

    #[test]
    fn c28_duplicate_door_names_are_two_doors() {
        let c = read("[ssh]\nsequence = 1\n[ssh]\nsequence = 2\n").unwrap();
        assert_eq!(c.doors.len(), 2);
        assert_eq!(fixed(&c.doors[1]), "2:tcp");
    }

    #[test]
    fn c29_section_names_keep_inner_text() {
        let c = read("[  my door  ]\nsequence = 1\n[a]b]\nsequence = 2\n").unwrap();
        assert_eq!(c.doors[0].name, "  my door  ");
        assert_eq!(c.doors[1].name, "a]b");
        // `[options` without the bracket is a directive without `=`.
        assert!(error("[options\n").1.starts_with("all directives"));
        // Deliberate difference: 0.8 cuts door names at 127 bytes.
        let long = "n".repeat(200);
        let c = read(&format!("[{long}]\nsequence = 1\n")).unwrap();
        assert_eq!(c.doors[0].name, long);
    }

    #[test]
    fn c30_long_lines_are_not_split() {
        // Deliberate difference: 0.8 splits lines at 4095 bytes and reports a syntax error.
        // A 4106-byte line whose command, 4090 bytes, knockd can run.
        let command = format!("echo {}", "x".repeat(4085));
        let c = read(&format!("[d]\nsequence = 1\ncommand = {command}\n")).unwrap();
        assert_eq!(c.doors[0].start_command.as_deref(), Some(command.as_str()));
    }

    #[test]
    fn c31_one_time_sequences_path_is_kept() {
        let c = read("[d]\none_time_sequences = /etc/knockd/otp\n").unwrap();
        assert_eq!(fixed(&c.doors[0]), "file /etc/knockd/otp");
        assert!(error("[d]\none_time_sequences =\n")
            .1
            .starts_with("invalid value"));
    }

    #[test]
    fn c32_empty_config_is_valid() {
        assert_eq!(read("").unwrap(), Config::default());
        assert_eq!(
            read("# only comments\n[options]\n").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn sequence_and_one_time_sequences_replace_each_other() {
        let c = read("[d]\none_time_sequences = /o\nsequence = 5\n").unwrap();
        assert_eq!(fixed(&c.doors[0]), "5:tcp");
        let c = read("[d]\nsequence = 5\none_time_sequences = /o\n").unwrap();
        assert_eq!(fixed(&c.doors[0]), "file /o");
    }

    #[test]
    fn global_options_follow_0_8_precedence_within_the_file() {
        let c = read(
            "[options]\nInterface = eth1\nInterface = eth2\nLogFile = /a\nLogFile = /b\nPidFile = /p\n",
        )
        .unwrap();
        assert_eq!(c.options.interface.as_deref(), Some("eth1"));
        assert_eq!(c.options.log_file, Some("/b".into()));
        assert_eq!(c.options.pid_file, Some("/p".into()));
    }

    #[test]
    fn commands_and_their_ipv6_variants_and_target() {
        let c = read(
            "[d]\nsequence = 1\nCommand = a\nCommand_6 = b\nStop_Command = c\nstop_command_6 = \nTarget = FD00:1::1\n",
        )
        .unwrap();
        let d = &c.doors[0];
        assert_eq!(d.start_command.as_deref(), Some("a"));
        assert_eq!(d.start_command_6.as_deref(), Some("b"));
        assert_eq!(d.stop_command.as_deref(), Some("c"));
        assert_eq!(d.stop_command_6.as_deref(), Some(""));
        assert_eq!(d.target, Some("fd00:1::1".parse().unwrap()));
        assert!(problem("[d]\nsequence = 1\ntarget = gateway.example\n")
            .1
            .contains("expected an IPv4 or IPv6 address"));
    }

    #[test]
    fn source_lists_add_up_and_options_give_the_default_of_each() {
        let list = |text| crate::sources::parse_list(text).unwrap();
        let c = read(
            "[own]\nsequence = 1\nAllow_From = 198.51.100.0/24\nallow_from = 2001:db8::/32\n\
             [inherits]\nsequence = 2\nDeny_From = 198.51.100.7\n\
             [options]\nAllow_From = 203.0.113.0/24\nDENY_FROM = 203.0.113.9, 203.0.113.10\n\
             [repeats]\nsequence = 3\nAllow_Repeats = yes\n",
        )
        .unwrap();
        let [own, inherits, repeats] = &c.doors[..] else {
            panic!("{:?}", c.doors)
        };
        assert_eq!(own.sources.allow, list("198.51.100.0/24, 2001:db8::/32"));
        assert_eq!(own.sources.deny, list("203.0.113.9, 203.0.113.10"));
        assert_eq!(inherits.sources.allow, list("203.0.113.0/24"));
        assert_eq!(inherits.sources.deny, list("198.51.100.7"));
        assert!(repeats.allow_repeats && !own.allow_repeats);
        assert_eq!(repeats.sources, c.options.sources);
    }

    #[test]
    fn a_bad_source_list_disables_its_door_and_a_bad_default_is_refused() {
        let (at, msg) = problem("[d]\nsequence = 1\nAllow_From = 198.51.100.7/24\n");
        assert_eq!(at, Some(3));
        assert!(msg.contains("write the network 198.51.100.0/24"), "{msg}");
        let (at, msg) = problem("[d]\nsequence = 1\nDeny_From = everyone\n");
        assert_eq!(at, Some(3));
        assert!(
            msg.starts_with("Deny_From: \"everyone\" is not an address"),
            "{msg}"
        );
        assert!(problem("[d]\nsequence = 1\nAllow_Repeats = twice\n")
            .1
            .contains("expected yes or no"));
        let (at, msg) = error("[options]\nallow_from = 198.51.100.0/33\n[d]\nsequence = 1\n");
        assert_eq!(at, Some(2));
        assert!(msg.contains("198.51.100.0/33"), "{msg}");
    }

    #[test]
    fn log_format_is_text_or_json_in_any_case() {
        let c = read("[options]\nLogFormat = JSON\n[d]\nsequence = 1\n").unwrap();
        assert_eq!(c.options.log_format, Some(LogFormat::Json));
        let c = read("[options]\nlogformat = text\n").unwrap();
        assert_eq!(c.options.log_format, Some(LogFormat::Text));
        assert_eq!(
            read("[d]\nsequence = 1\n").unwrap().options.log_format,
            None
        );
        let (at, msg) = error("[options]\nLogFormat = yaml\n");
        assert_eq!(at, Some(2));
        assert!(msg.contains("text or json"), "{msg}");
        let (_, msg) = error("[d]\nsequence = 1\nLogFormat = json\n");
        assert!(msg.contains("LogFormat belongs in [options]"), "{msg}");
    }

    #[test]
    fn control_socket_is_an_option() {
        let c = read("[options]\ncontrolsocket = /run/k.sock\n[d]\nsequence = 1\n").unwrap();
        assert_eq!(c.options.control_socket, Some("/run/k.sock".into()));
        let (at, msg) = error("[d]\nsequence = 1\nControlSocket = /x\n");
        assert_eq!(at, Some(3));
        assert!(msg.contains("ControlSocket belongs in [options]"), "{msg}");
    }

    #[test]
    fn ledger_directives_refresh_cooldown_max_open_and_state_dir() {
        let c = read(
            "[options]\nStateDir = /var/lib/k\n[d]\nsequence = 1\nRefresh = yes\nCooldown = 2.5\nMax_Open = 3\n",
        )
        .unwrap();
        assert_eq!(c.options.state_dir, Some("/var/lib/k".into()));
        let d = &c.doors[0];
        assert!(d.refresh);
        assert_eq!(d.cooldown, Duration::from_millis(2500));
        assert_eq!(d.max_open, Some(3));
        let plain = &read("[d]\nsequence = 1\n").unwrap().doors[0];
        assert_eq!(
            (plain.refresh, plain.cooldown, plain.max_open),
            (false, Duration::ZERO, None)
        );
        for (line, expected) in [
            ("refresh = maybe", "expected yes or no"),
            ("cooldown = -1", "expected a number of seconds"),
            ("max_open = 0", "expected a whole number of at least 1"),
        ] {
            let (at, msg) = problem(&format!("[d]\nsequence = 1\n{line}\n"));
            assert_eq!(at, Some(3), "{line}");
            assert!(msg.contains(expected), "{line}: {msg}");
        }
        let (at, msg) = error("[d]\nsequence = 1\nStateDir = /x\n");
        assert_eq!(at, Some(3));
        assert!(msg.contains("StateDir belongs in [options]"), "{msg}");
        assert!(error("[options]\nrefresh = yes\n")
            .1
            .contains("belongs in a door section"));
    }

    #[test]
    fn commands_too_long_for_an_ipv6_knocker_are_refused_as_0_8_does() {
        // 4061 bytes, 4096 once %IP% is `ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff`.
        let command = format!("echo {} %IP%", "x".repeat(4051));
        let (line, msg) = error(&format!("[d]\nsequence = 1\nstop_command = {command}\n"));
        assert_eq!(line, Some(3));
        assert_eq!(
            msg,
            "stop_command is 4096 bytes once %IP% is the longest (IPv6) address; knockd runs commands of at most 4095 bytes, as 0.8"
        );
        let fits = format!("echo {} %IP%", "x".repeat(4050));
        assert!(read(&format!("[d]\nsequence = 1\nstop_command = {fits}\n")).is_ok());
    }

    #[test]
    fn errors_show_control_and_invisible_characters() {
        let (_, msg) = problem("[d]\nsequence = 1\nseq_timeout = \u{1b}[2J\u{feff}5\n");
        assert_eq!(
            msg,
            "invalid value \"\\u{1b}[2J\\u{feff}5\" for seq_timeout (expected a number of seconds, such as 5 or 2.5)"
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = read("[d]\nsequence = 1\nbogus = 1\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "/etc/knockd.conf: line 3: syntax error: unknown directive \"bogus\""
        );
    }

    #[test]
    fn comments_may_hold_any_bytes() {
        let c = parse(
            Path::new("f"),
            b"# T\xfcr (Latin-1)\n[d]\n  #\xff\xfe\nsequence = 1\n",
        )
        .unwrap();
        assert_eq!(c.doors.len(), 1);
    }

    #[test]
    fn section_names_and_commands_may_hold_any_bytes_but_nul() {
        let c = parse(
            Path::new("f"),
            b"[T\xfcr]\nsequence = 1\ncommand = echo \xff%IP%\xfe\n",
        )
        .unwrap();
        let door = &c.doors[0];
        assert_eq!(&*crate::bytes::encode(&door.name), b"T\xfcr");
        let command = door.start_command.as_deref().unwrap();
        assert_eq!(&*crate::bytes::encode(command), b"echo \xff%IP%\xfe");
        let e = parse(Path::new("f"), b"[d]\nsequence = 1\ncommand = a\0b\n").unwrap_err();
        assert_eq!(e.line, Some(3));
        assert_eq!(e.kind, ConfigErrorKind::Nul);
    }

    proptest! {
        #[test]
        fn no_text_panics_the_reader(text in "(\\[[a-z ]{0,6}\\]|[A-Za-z_]{0,12} ?= ?[0-9a-z,:!# ]{0,20}|#.*|\r|\n){0,12}") {
            let _ = read(&text);
        }

        #[test]
        fn no_bytes_panic_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse(Path::new("f"), &bytes);
        }
    }
}
