//! The JSON log format (`LogFormat = json`, `--log-format json`): one object
//! per line, for log shippers that would otherwise parse 0.8's text.
//!
//! ```json
//! {"time":"2026-11-28T19:10:00.123456+01:00","event":"stage","level":"notice","door":"ssh","source":"198.18.1.2","stage":1,"message":"198.18.1.2: ssh: Stage 1"}
//! ```
//!
//! Keys, in this order: `time` (local time, RFC 3339 with microseconds and
//! the UTC offset), `event`, `level` (syslog's severity name), then `door`,
//! `source`, `host` (`-l`'s name of the source) and `stage` when the message
//! is about one, and `message`, the exact text of 0.8's line. Strings are
//! UTF-8 (the configuration must be UTF-8; a file path's other bytes show as
//! U+FFFD, as in the text lines) and escaped as JSON requires: `"` and `\`,
//! and every control character as `\n`, `\r`, `\t` or `\u00XX`; U+007F,
//! U+2028 and U+2029 are escaped too, so that a line is safe to paste into
//! JavaScript. Written by hand: a fixed, flat object needs no serializer.

use std::fmt::Write as _;

use chrono::{DateTime, Local};

use super::message::Record;

/// RFC 3339 with microseconds and the offset (`+01:00`, `+00:00`).
const TIME: &str = "%Y-%m-%dT%H:%M:%S%.6f%:z";

/// Writes the JSON line of a message (without the newline) into `out`.
pub(super) fn write_line(out: &mut String, time: DateTime<Local>, record: &Record<'_>, text: &str) {
    let _ = write!(out, "{{\"time\":\"{}\",\"event\":", time.format(TIME));
    write_string(out, record.event);
    let _ = write!(out, ",\"level\":\"{}\"", record.severity.name());
    if let Some(door) = record.door {
        out.push_str(",\"door\":");
        write_string(out, door);
    }
    if let Some(source) = record.source {
        let _ = write!(out, ",\"source\":\"{}\"", source.addr);
        if let Some(host) = source.host {
            out.push_str(",\"host\":");
            write_string(out, host);
        }
    }
    if let Some(stage) = record.stage {
        let _ = write!(out, ",\"stage\":{stage}");
    }
    out.push_str(",\"message\":");
    write_string(out, text);
    out.push('}');
}

/// Writes `text` as a JSON string.
fn write_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0'..='\u{1f}' | '\u{7f}' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            // A byte of knockd.conf that is not UTF-8, which JSON text
            // cannot hold: written as the four characters \xHH.
            c => match knockd_core::bytes::raw_byte(c) {
                Some(b) => {
                    let _ = write!(out, "\\\\x{b:02x}");
                }
                None => out.push(c),
            },
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use chrono::TimeZone;

    use super::*;
    use crate::log::{CommandMessage, KnockMessage, Message, Source};

    fn line<'a>(message: &(impl Into<Message<'a>> + Copy)) -> String {
        let message: Message<'a> = (*message).into();
        let time = Local
            .with_ymd_and_hms(2026, 11, 28, 19, 10, 0)
            .single()
            .unwrap();
        let mut out = String::new();
        write_line(&mut out, time, &message.record(), &message.to_string());
        out
    }

    fn offset() -> String {
        let time = Local
            .with_ymd_and_hms(2026, 11, 28, 19, 10, 0)
            .single()
            .unwrap();
        time.format("%:z").to_string()
    }

    #[test]
    fn a_stage_line_has_every_field_in_order() {
        let source = Source::with_host(IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)), None);
        let message = KnockMessage::Stage {
            source,
            door: "ssh",
            stage: 2,
        };
        assert_eq!(
            line(&message),
            format!(
                "{{\"time\":\"2026-11-28T19:10:00.000000{}\",\"event\":\"stage\",\"level\":\"notice\",\
                 \"door\":\"ssh\",\"source\":\"198.18.1.2\",\"stage\":2,\
                 \"message\":\"198.18.1.2: ssh: Stage 2\"}}",
                offset()
            )
        );
    }

    #[test]
    fn a_host_name_follows_the_source_and_errors_say_err() {
        let source = Source::with_host(
            IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2)),
            Some("knocker.test"),
        );
        let open = line(&KnockMessage::OpenSesame { source, door: "d" });
        assert!(
            open.contains(
                "\"event\":\"open\",\"level\":\"notice\",\"door\":\"d\",\
                 \"source\":\"198.18.1.2\",\"host\":\"knocker.test\",\"message\":"
            ),
            "{open}"
        );
        let failed = line(&CommandMessage::NonZeroStatus { door: "d", code: 3 });
        assert!(
            failed.contains("\"event\":\"command_failed\",\"level\":\"err\",\"door\":\"d\",\"message\":\"d: command returned non-zero status code (3)\"}"),
            "{failed}"
        );
    }

    #[test]
    fn strings_are_escaped() {
        let mut out = String::new();
        write_string(&mut out, "a\"b\\c\nd\te\u{1}f\u{7f}g\u{2028}é€😀");
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\te\\u0001f\\u007fg\\u2028é€😀\"");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_written_as_backslash_x() {
        let mut out = String::new();
        write_string(&mut out, &knockd_core::bytes::decode(b"T\xfcr"));
        assert_eq!(out, r#""T\\xfcr""#);
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed, "T\\xfcr");
    }
}
