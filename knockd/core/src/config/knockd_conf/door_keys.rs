//! The door keys: one setter per key (with its aliases), and the `atoi`
//! readings of a sequence that 0.8 accepts.

use knock_proto::{Sequence, SequenceError};

use super::directive::Directive;
use super::pending::PendingDoor;
use crate::config::open_prefix;
use crate::config::rotating::{PROTOCOL_EXPECTED, RANGE_EXPECTED};
use crate::config::value::{
    parse_address, parse_count, parse_number, parse_switch, ADDRESS_EXPECTED, COUNT_EXPECTED,
    NUMBER_EXPECTED, SWITCH_EXPECTED,
};
use crate::config::{ConfigErrorKind, SequenceSource};

/// Sets one door key from its value.
pub(super) type SetDoorKey =
    fn(&Directive<'_>, &mut PendingDoor, &str) -> Result<(), ConfigErrorKind>;

/// Every door key, upper-cased, with its aliases: the one table both the
/// door sections and the misplaced-key check of `[options]` read.
pub(super) const DOOR_KEYS: &[(&[&str], SetDoorKey)] = &[
    (&["SEQUENCE"], set_sequence),
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
    // Open_For says what Cmd_Timeout means to an Nft_Set door: how long
    // the knocker's element lives in the kernel.
    (&["CMD_TIMEOUT", "OPEN_FOR"], |d, door, value| {
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
        d.door_value(door, value, SWITCH_EXPECTED, parse_switch, |p, v| {
            p.door.refresh = v
        });
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
        d.door_value(door, value, SWITCH_EXPECTED, parse_switch, |p, v| {
            p.door.allow_repeats = v
        });
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
        d.door_value(door, value, COUNT_EXPECTED, parse_count, |p, v| {
            p.door.max_open = Some(v)
        });
        Ok(())
    }),
    (&["STRICT"], |d, door, value| {
        d.door_value(door, value, SWITCH_EXPECTED, parse_switch, |p, v| {
            p.door.strict = v
        });
        Ok(())
    }),
    (&["OPEN_PREFIX4"], |d, door, value| {
        let expected = open_prefix::V4_EXPECTED;
        d.door_value(door, value, expected, open_prefix::parse_v4, |p, v| {
            p.door.open_prefix.v4 = Some(v)
        });
        Ok(())
    }),
    (&["OPEN_PREFIX6"], |d, door, value| {
        let expected = open_prefix::V6_EXPECTED;
        d.door_value(door, value, expected, open_prefix::parse_v6, |p, v| {
            p.door.open_prefix.v6 = Some(v)
        });
        Ok(())
    }),
    (&["ROTATING_SECRET"], |d, door, value| {
        door.rotating.secret_file = Some(d.path(value)?);
        Ok(())
    }),
    (&["ROTATING_STEP"], |d, door, value| {
        d.door_value(door, value, NUMBER_EXPECTED, parse_number, |p, v| {
            p.rotating.step = Some(v)
        });
        Ok(())
    }),
    (&["ROTATING_RANGE"], |d, door, value| {
        let parse = |v: &str| v.parse().ok();
        d.door_value(door, value, RANGE_EXPECTED, parse, |p, v| {
            p.rotating.range = Some(v)
        });
        Ok(())
    }),
    (&["ROTATING_LENGTH"], |d, door, value| {
        let parse = |v: &str| parse_number(v).and_then(|n| usize::try_from(n).ok());
        d.door_value(door, value, NUMBER_EXPECTED, parse, |p, v| {
            p.rotating.length = Some(v)
        });
        Ok(())
    }),
    (&["ROTATING_PROTOCOL"], |d, door, value| {
        let parse = |v: &str| v.parse().ok();
        d.door_value(door, value, PROTOCOL_EXPECTED, parse, |p, v| {
            p.rotating.protocol = Some(v)
        });
        Ok(())
    }),
    (&["ROTATING_SKEW"], |d, door, value| {
        d.door_value(door, value, NUMBER_EXPECTED, parse_number, |p, v| {
            p.rotating.skew = Some(v)
        });
        Ok(())
    }),
    (&["NFT_SET"], |d, door, value| {
        let parse =
            |v: &str| Some(v.trim_ascii().to_owned()).filter(|v| crate::nft::valid_set_name(v));
        d.door_value(door, value, crate::nft::SET_EXPECTED, parse, |p, v| {
            p.door.nft_set = Some(v)
        });
        Ok(())
    }),
    (&["TARGET"], |d, door, value| {
        // 0.8 turns a name into an address that never matches.
        d.door_value(door, value, ADDRESS_EXPECTED, parse_address, |p, v| {
            p.door.target = Some(v)
        });
        Ok(())
    }),
];

/// The setter of an upper-cased door key, if it is one.
pub(super) fn door_key(key: &str) -> Option<SetDoorKey> {
    DOOR_KEYS
        .iter()
        .find(|(names, _)| names.contains(&key))
        .map(|&(_, set)| set)
}

/// `Sequence`: a fixed sequence, with ports read as 0.8's `atoi` reads them
/// (with a warning); a sequence 0.8 refuses is an error, one it would mangle
/// disables the door.
fn set_sequence(
    d: &Directive<'_>,
    door: &mut PendingDoor,
    value: &str,
) -> Result<(), ConfigErrorKind> {
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
        SequenceError::InvalidPort { element } => atoi_port(element).is_some_and(|p| p > 65_535),
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
