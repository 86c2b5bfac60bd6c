//! The ledger's records: one line each, tab-separated, with a checksum.
//!
//! ```text
//! knockd door ledger 1
//! open    <id> <deadline> <network> <door> <stop command> <check>
//! extend  <id> <deadline> <check>
//! close   <id> <check>
//! ```
//!
//! `<deadline>` is Unix time in milliseconds; `<network>` is the knocker's
//! address, or the network in CIDR for a door with `Open_Prefix4`/`6` (so a
//! ledger of doors without those keys is as it was); `<door>` and `<stop command>`
//! escape backslash, tab, line feed and carriage return as `\\`, `\t`, `\n`
//! and `\r`; `<check>` is the FNV-1a 64-bit hash of everything before the
//! tab that precedes it, in 16 hex digits. A line whose check does not match
//! (a torn write, an edit) is not a record.

use std::fmt::Write as _;

use knockd_core::sources::Cidr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The first line of every ledger file.
pub const HEADER: &str = "knockd door ledger 1";

/// One ledger record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A door opened: its stop command runs at `deadline`.
    Open {
        /// The record's id, unique in the file.
        id: u64,
        /// When the stop command is due (wall clock).
        deadline: SystemTime,
        /// The network the door opened for.
        source: Cidr,
        /// The door's name.
        door: String,
        /// The stop command, `%IP%` already replaced.
        stop: String,
    },
    /// A refreshed door's stop command moved to `deadline`.
    Extend {
        /// The id of the door's `Open` record.
        id: u64,
        /// The new deadline.
        deadline: SystemTime,
    },
    /// The door's stop command has run.
    Close {
        /// The id of the door's `Open` record.
        id: u64,
    },
}

impl Record {
    /// The record as one line, without its newline.
    pub fn encode(&self) -> String {
        let mut line = String::new();
        // Writing to a String cannot fail.
        let _ = match self {
            Record::Open {
                id,
                deadline,
                source,
                door,
                stop,
            } => write!(
                line,
                "open\t{id}\t{}\t{}\t{}\t{}",
                millis(*deadline),
                source.brief(),
                escape(door),
                escape(stop)
            ),
            Record::Extend { id, deadline } => {
                write!(line, "extend\t{id}\t{}", millis(*deadline))
            }
            Record::Close { id } => write!(line, "close\t{id}"),
        };
        let check = fnv1a(line.as_bytes());
        let _ = write!(line, "\t{check:016x}");
        line
    }

    /// Reads one line (without its newline); `None` if it is not a record.
    pub fn decode(line: &str) -> Option<Record> {
        let (body, check) = line.rsplit_once('\t')?;
        if check.len() != 16 || u64::from_str_radix(check, 16).ok()? != fnv1a(body.as_bytes()) {
            return None;
        }
        let mut fields = body.split('\t');
        let kind = fields.next()?;
        let id = fields.next()?.parse().ok()?;
        let record = match kind {
            "open" => Record::Open {
                id,
                deadline: from_millis(fields.next()?)?,
                source: Cidr::parse(fields.next()?).ok()?,
                door: unescape(fields.next()?)?,
                stop: unescape(fields.next()?)?,
            },
            "extend" => Record::Extend {
                id,
                deadline: from_millis(fields.next()?)?,
            },
            "close" => Record::Close { id },
            _ => return None,
        };
        fields.next().is_none().then_some(record)
    }
}

fn millis(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn from_millis(text: &str) -> Option<SystemTime> {
    let millis: u64 = text.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::from_millis(millis))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next()? {
            '\\' => '\\',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            _ => return None,
        });
    }
    Some(out)
}

/// FNV-1a, 64 bits: enough to tell a torn or edited line from a written one.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open() -> Record {
        Record::Open {
            id: 7,
            deadline: UNIX_EPOCH + Duration::from_millis(1_764_300_000_123),
            source: Cidr::parse("fd00:1::2").unwrap(),
            door: "my\tdoor\\".into(),
            stop: "nft delete element inet knockd allowed6 { fd00:1::2 }\nexit 0".into(),
        }
    }

    #[test]
    fn records_round_trip_with_any_door_name_and_command() {
        for record in [
            open(),
            Record::Extend {
                id: 7,
                deadline: UNIX_EPOCH + Duration::from_secs(1),
            },
            Record::Close { id: u64::MAX },
        ] {
            let line = record.encode();
            assert!(!line.contains('\n'), "{line}");
            assert_eq!(Record::decode(&line), Some(record));
        }
    }

    #[test]
    fn the_format_is_as_documented() {
        let line = Record::Close { id: 3 }.encode();
        let (body, check) = line.rsplit_once('\t').unwrap();
        assert_eq!(body, "close\t3");
        assert_eq!(check, format!("{:016x}", fnv1a(b"close\t3")));
        assert!(open()
            .encode()
            .starts_with("open\t7\t1764300000123\tfd00:1::2\tmy\\tdoor\\\\\tnft delete element"));
    }

    #[test]
    fn torn_edited_and_foreign_lines_are_not_records() {
        let line = open().encode();
        for cut in [1, 10, line.len() - 1] {
            assert_eq!(Record::decode(&line[..cut]), None, "cut at {cut}");
        }
        let edited = line.replacen("fd00:1::2", "fd00:1::3", 1);
        assert_eq!(Record::decode(&edited), None);
        for foreign in ["", HEADER, "open", "close\t3\tzz", "\u{feff}close\t3"] {
            assert_eq!(Record::decode(foreign), None, "{foreign:?}");
        }
        let unknown = "reopen\t3";
        let line = format!("{unknown}\t{:016x}", fnv1a(unknown.as_bytes()));
        assert_eq!(Record::decode(&line), None);
    }
}
