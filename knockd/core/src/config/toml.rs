//! The TOML reader: the same model as knockd.conf, in a typed syntax.
//!
//! ```toml
//! [options]
//! use_syslog = true
//! log_file = "/var/log/knockd.log"
//!
//! [[door]]
//! name = "openSSH"
//! sequence = "7000,8000,9000"        # or ["7000", "8000:udp", 9000]
//! seq_timeout = 5
//! tcp_flags = "syn"
//! start_command = "/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"
//! ```
//!
//! Keys are the knockd.conf directive names in lower case (TOML keys are
//! case-sensitive); doors are an array of tables so that order and repeated
//! names are kept as in knockd.conf. Unknown keys are errors.

use std::ops::Range;
use std::path::{Path, PathBuf};

use ::toml::Spanned;
use serde::Deserialize;

use knock_proto::{Sequence, TcpFlags};

use super::open_prefix::{self, OpenPrefix};
use super::rotating::{RotatingKeys, PROTOCOL_EXPECTED, RANGE_EXPECTED};
use super::value::{
    overlong_command, parse_address, parse_seconds, ADDRESS_EXPECTED, COUNT_EXPECTED,
    LOG_FORMAT_EXPECTED, NUMBER_EXPECTED, SECONDS_EXPECTED,
};
use super::{
    Config, ConfigError, ConfigErrorKind, DisabledDoor, Door, LogFormat, Options, SequenceSource,
};
use crate::sources::{parse_list, Cidr, SourceFilter};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    options: OptionsTable,
    #[serde(default)]
    door: Vec<DoorTable>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OptionsTable {
    #[serde(default)]
    use_syslog: bool,
    log_file: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    log_format: Option<Spanned<String>>,
    control_socket: Option<PathBuf>,
    interface: Option<String>,
    user: Option<String>,
    privsep: Option<bool>,
    nft_table: Option<Spanned<String>>,
    allow_from: Option<Spanned<Ranges>>,
    deny_from: Option<Spanned<Ranges>>,
    open_prefix4: Option<Spanned<i64>>,
    open_prefix6: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DoorTable {
    name: Spanned<String>,
    sequence: Option<Spanned<SequenceValue>>,
    one_time_sequences: Option<PathBuf>,
    seq_timeout: Option<Spanned<Seconds>>,
    tcp_flags: Option<Spanned<String>>,
    start_command: Option<String>,
    start_command_6: Option<String>,
    stop_command: Option<String>,
    stop_command_6: Option<String>,
    cmd_timeout: Option<Spanned<Seconds>>,
    /// Another name for `cmd_timeout`, as an `nft_set` door reads.
    open_for: Option<Spanned<Seconds>>,
    nft_set: Option<Spanned<String>>,
    target: Option<Spanned<String>>,
    #[serde(default)]
    refresh: bool,
    cooldown: Option<Spanned<Seconds>>,
    max_open: Option<Spanned<i64>>,
    allow_from: Option<Spanned<Ranges>>,
    deny_from: Option<Spanned<Ranges>>,
    #[serde(default)]
    allow_repeats: bool,
    #[serde(default)]
    strict: bool,
    open_prefix4: Option<Spanned<i64>>,
    open_prefix6: Option<Spanned<i64>>,
    rotating_secret: Option<PathBuf>,
    rotating_step: Option<Spanned<u64>>,
    rotating_range: Option<Spanned<String>>,
    rotating_length: Option<Spanned<u64>>,
    rotating_protocol: Option<Spanned<String>>,
    rotating_skew: Option<Spanned<u64>>,
}

/// `allow_from`/`deny_from`: `"198.51.100.0/24, 2001:db8::/32"` or a list.
#[derive(Deserialize)]
#[serde(untagged)]
enum Ranges {
    Text(String),
    List(Vec<String>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SequenceValue {
    Text(String),
    List(Vec<Element>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Element {
    Port(i64),
    Text(String),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Seconds {
    Integer(i64),
    Float(f64),
    Text(String),
}

impl SequenceValue {
    fn to_text(&self) -> String {
        match self {
            SequenceValue::Text(t) => t.clone(),
            SequenceValue::List(elements) => elements
                .iter()
                .map(|e| match e {
                    Element::Port(p) => p.to_string(),
                    Element::Text(t) => t.clone(),
                })
                .collect::<Vec<_>>()
                .join(","),
        }
    }
}

impl Seconds {
    fn text(&self) -> String {
        match self {
            Seconds::Integer(i) => i.to_string(),
            Seconds::Float(f) => f.to_string(),
            Seconds::Text(t) => t.clone(),
        }
    }
}

/// Builds the error for a value at byte `span`: its line in the file.
type At<'a> = dyn Fn(Range<usize>, ConfigErrorKind) -> ConfigError + 'a;

/// Parses TOML configuration text read from `path` (used in error messages).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Config, ConfigError> {
    let file = read(path, bytes)?;
    let at =
        |span: Range<usize>, kind| ConfigError::new(path, Some(line_of(bytes, span.start)), kind);
    let options = options(file.options, &at)?;
    let mut config = Config {
        options,
        ..Config::default()
    };
    for table in file.door {
        let span = table.name.span();
        let door = door(table, &config.options, &at)?;
        match door.nft_problem() {
            None => config.doors.push(door),
            Some(problem) => {
                let name = door.name;
                let kind = ConfigErrorKind::Nft {
                    door: name.clone(),
                    problem,
                };
                let error = at(span, kind);
                config.disabled.push(DisabledDoor { door: name, error });
            }
        }
    }
    Ok(config)
}

/// The file as UTF-8 text deserialized into its tables.
fn read(path: &Path, bytes: &[u8]) -> Result<File, ConfigError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = line_of(bytes, e.valid_up_to());
        ConfigError::new(path, Some(line), ConfigErrorKind::NotUtf8)
    })?;
    ::toml::from_str(text).map_err(|e| {
        let line = e.span().map(|s| line_of(bytes, s.start));
        ConfigError::new(
            path,
            line,
            ConfigErrorKind::Toml(e.message().trim().to_owned()),
        )
    })
}

/// The `[options]` table.
fn options(table: OptionsTable, at: &At<'_>) -> Result<Options, ConfigError> {
    let log_format = table
        .log_format
        .map(|v| {
            LogFormat::parse(v.get_ref()).ok_or_else(|| {
                invalid(at, v.span(), "log_format", v.get_ref(), LOG_FORMAT_EXPECTED)
            })
        })
        .transpose()?;
    let nft_table = table
        .nft_table
        .map(|v| {
            crate::nft::Table::parse(v.get_ref()).ok_or_else(|| {
                let expected = crate::nft::TABLE_EXPECTED;
                invalid(at, v.span(), "nft_table", v.get_ref(), expected)
            })
        })
        .transpose()?;
    Ok(Options {
        use_syslog: table.use_syslog,
        log_file: table.log_file,
        pid_file: table.pid_file,
        state_dir: table.state_dir,
        log_format,
        control_socket: table.control_socket,
        interface: table.interface,
        user: table.user,
        privsep: table.privsep,
        open_prefix: open_prefix(&table.open_prefix4, &table.open_prefix6, at)?,
        nft_table,
        sources: sources(table.allow_from, table.deny_from, at)?,
    })
}

/// One `[[door]]` table, whose sources and prefix lengths default to
/// those of `options`.
fn door(mut table: DoorTable, options: &Options, at: &At<'_>) -> Result<Door, ConfigError> {
    let name = table.name.get_ref().clone();
    let sequence = sequence_source(&mut table, &name, at)?;
    let mut door = Door::new(name, sequence);
    timing_and_target(&mut door, &table, at)?;
    door.refresh = table.refresh;
    door.allow_repeats = table.allow_repeats;
    door.strict = table.strict;
    door.sources = sources(table.allow_from, table.deny_from, at)?;
    door.open_prefix = open_prefix(&table.open_prefix4, &table.open_prefix6, at)?;
    door.inherit_options(options);
    let commands = [
        ("start_command", &table.start_command),
        ("start_command_6", &table.start_command_6),
        ("stop_command", &table.stop_command),
        ("stop_command_6", &table.stop_command_6),
    ];
    for (key, command) in commands {
        if let Some(len) = command.as_deref().and_then(overlong_command) {
            let key = key.to_owned();
            return Err(at(
                table.name.span(),
                ConfigErrorKind::CommandTooLong { key, len },
            ));
        }
    }
    door.start_command = table.start_command;
    door.start_command_6 = table.start_command_6;
    door.stop_command = table.stop_command;
    door.stop_command_6 = table.stop_command_6;
    Ok(door)
}

/// Where door `name`'s sequences come from: its `rotating_*` keys, its
/// `sequence` or its `one_time_sequences`, exactly one of them.
fn sequence_source(
    table: &mut DoorTable,
    name: &str,
    at: &At<'_>,
) -> Result<SequenceSource, ConfigError> {
    let name_span = table.name.span();
    let rotating = rotating_keys(table, at)?;
    let has_sequence = table.sequence.is_some() || table.one_time_sequences.is_some();
    let rotating = rotating.build(name, has_sequence).map_err(|problem| {
        let door = name.to_owned();
        at(
            name_span.clone(),
            ConfigErrorKind::Rotating { door, problem },
        )
    })?;
    Ok(
        match (
            rotating,
            table.sequence.take(),
            table.one_time_sequences.take(),
        ) {
            (Some(rotating), _, _) => SequenceSource::Rotating(rotating),
            (None, Some(_), Some(_)) => {
                return Err(at(
                    name_span,
                    ConfigErrorKind::SyntaxError(format!(
                        "door {name} has both sequence and one_time_sequences (keep one)"
                    )),
                ))
            }
            (None, None, None) => {
                let door = name.to_owned();
                return Err(at(name_span, ConfigErrorKind::EmptySequence { door }));
            }
            (None, None, Some(file)) => SequenceSource::OneTime(file),
            (None, Some(value), None) => {
                let parsed = Sequence::parse(&value.get_ref().to_text());
                SequenceSource::Fixed(parsed.map_err(|error| {
                    let door = name.to_owned();
                    at(value.span(), ConfigErrorKind::Sequence { door, error })
                })?)
            }
        },
    )
}

/// The door's timeouts, `nft_set`, TCP flags, target, cooldown and `max_open`.
fn timing_and_target(door: &mut Door, table: &DoorTable, at: &At<'_>) -> Result<(), ConfigError> {
    if let Some(v) = &table.seq_timeout {
        door.seq_timeout = seconds(v, "seq_timeout", at)?;
    }
    if let Some(v) = &table.cmd_timeout {
        door.cmd_timeout = seconds(v, "cmd_timeout", at)?;
    }
    if let Some(v) = &table.open_for {
        door.cmd_timeout = seconds(v, "open_for", at)?;
    }
    if let Some(v) = &table.nft_set {
        let name = v.get_ref().trim_ascii();
        if !crate::nft::valid_set_name(name) {
            let expected = crate::nft::SET_EXPECTED;
            return Err(invalid(at, v.span(), "nft_set", v.get_ref(), expected));
        }
        door.nft_set = Some(name.to_owned());
    }
    if let Some(v) = &table.tcp_flags {
        door.tcp_flags =
            TcpFlags::parse(v.get_ref()).map_err(|e| at(v.span(), ConfigErrorKind::Flag(e)))?;
    }
    if let Some(v) = &table.target {
        door.target = Some(
            parse_address(v.get_ref())
                .ok_or_else(|| invalid(at, v.span(), "target", v.get_ref(), ADDRESS_EXPECTED))?,
        );
    }
    if let Some(v) = &table.cooldown {
        door.cooldown = seconds(v, "cooldown", at)?;
    }
    if let Some(v) = &table.max_open {
        let count = usize::try_from(*v.get_ref()).ok().filter(|&n| n >= 1);
        door.max_open = Some(
            count.ok_or_else(|| invalid(at, v.span(), "max_open", v.get_ref(), COUNT_EXPECTED))?,
        );
    }
    Ok(())
}

/// The `open_prefix4` and `open_prefix6` values of a table, each checked
/// for its family's range.
fn open_prefix(
    v4: &Option<Spanned<i64>>,
    v6: &Option<Spanned<i64>>,
    at: &At<'_>,
) -> Result<OpenPrefix, ConfigError> {
    let length = |value: &Option<Spanned<i64>>, key, bits: u8, expected| {
        value
            .as_ref()
            .map(|v| {
                let length = u8::try_from(*v.get_ref()).ok().filter(|&p| p <= bits);
                length.ok_or_else(|| invalid(at, v.span(), key, v.get_ref(), expected))
            })
            .transpose()
    };
    Ok(OpenPrefix {
        v4: length(v4, "open_prefix4", 32, open_prefix::V4_EXPECTED)?,
        v6: length(v6, "open_prefix6", 128, open_prefix::V6_EXPECTED)?,
    })
}

/// The error of `key`'s value at `span`, which is not what `expected` says.
fn invalid(
    at: &At<'_>,
    span: Range<usize>,
    key: &str,
    value: &impl ToString,
    expected: &'static str,
) -> ConfigError {
    at(
        span,
        ConfigErrorKind::InvalidValue {
            key: key.into(),
            value: value.to_string(),
            expected,
        },
    )
}

/// The door's `rotating_*` keys, each checked for its form.
fn rotating_keys(table: &DoorTable, at: &At<'_>) -> Result<RotatingKeys, ConfigError> {
    fn checked<T, V: ToString>(
        value: Option<&Spanned<V>>,
        key: &str,
        expected: &'static str,
        parse: impl Fn(&V) -> Option<T>,
        at: &At<'_>,
    ) -> Result<Option<T>, ConfigError> {
        value
            .map(|v| {
                parse(v.get_ref()).ok_or_else(|| invalid(at, v.span(), key, v.get_ref(), expected))
            })
            .transpose()
    }
    Ok(RotatingKeys {
        secret_file: table.rotating_secret.clone(),
        step: table.rotating_step.as_ref().map(|v| *v.get_ref()),
        range: checked(
            table.rotating_range.as_ref(),
            "rotating_range",
            RANGE_EXPECTED,
            |v| v.parse().ok(),
            at,
        )?,
        length: checked(
            table.rotating_length.as_ref(),
            "rotating_length",
            NUMBER_EXPECTED,
            |v| usize::try_from(*v).ok(),
            at,
        )?,
        protocol: checked(
            table.rotating_protocol.as_ref(),
            "rotating_protocol",
            PROTOCOL_EXPECTED,
            |v| v.parse().ok(),
            at,
        )?,
        skew: table.rotating_skew.as_ref().map(|v| *v.get_ref()),
    })
}

fn seconds(
    value: &Spanned<Seconds>,
    key: &str,
    at: &At<'_>,
) -> Result<std::time::Duration, ConfigError> {
    let text = value.get_ref().text();
    parse_seconds(&text).ok_or_else(|| invalid(at, value.span(), key, &text, SECONDS_EXPECTED))
}

/// The `allow_from` and `deny_from` values of a table.
fn sources(
    allow_from: Option<Spanned<Ranges>>,
    deny_from: Option<Spanned<Ranges>>,
    at: &At<'_>,
) -> Result<SourceFilter, ConfigError> {
    Ok(SourceFilter {
        allow: ranges(allow_from, "allow_from", at)?,
        deny: ranges(deny_from, "deny_from", at)?,
    })
}

/// The ranges of an `allow_from`/`deny_from` value; none when absent.
fn ranges(
    value: Option<Spanned<Ranges>>,
    key: &str,
    at: &At<'_>,
) -> Result<Vec<Cidr>, ConfigError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let text = match value.get_ref() {
        Ranges::Text(text) => text.clone(),
        Ranges::List(items) => items.join(","),
    };
    parse_list(&text).map_err(|error| {
        at(
            value.span(),
            ConfigErrorKind::Sources {
                key: key.into(),
                error,
            },
        )
    })
}

/// The 1-based line holding byte `offset`.
fn line_of(bytes: &[u8], offset: usize) -> usize {
    let before = bytes.get(..offset).unwrap_or(bytes);
    before.iter().filter(|&&b| b == b'\n').count() + 1
}
