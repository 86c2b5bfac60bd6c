//! The control socket's line protocol.
//!
//! A client connects, sends one request line and reads the reply until the
//! daemon closes the connection. The reply's first line is `ok` or
//! `error: <why>`; after `ok` comes the body, printed as is by the client.
//!
//! | request | what it does |
//! | --- | --- |
//! | `status text [DOOR]` | the status as a table |
//! | `status json [DOOR]` | the status as one JSON object |
//! | `status prometheus` | the counters in Prometheus' text format |
//! | `close DOOR IP` | runs the door's pending stop command for IP now |
//! | `close-all` | runs every pending stop command now |
//!
//! A door name may hold spaces: `close` takes the last word as the address.

use std::net::IpAddr;

/// The longest request line, newline included; a longer one is refused.
pub const MAX_REQUEST: usize = 1024;

/// How `status` is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// The human table.
    Text,
    /// One JSON object (its schema is in knockd(8)).
    Json,
    /// Prometheus' text exposition format.
    Prometheus,
}

impl Format {
    fn word(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Prometheus => "prometheus",
        }
    }
}

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// The status, of one door or of all.
    Status {
        /// How to print it.
        format: Format,
        /// Only this door.
        door: Option<String>,
    },
    /// Close `door` for `source` now.
    Close {
        /// The door's name.
        door: String,
        /// The knocker it is open for.
        source: IpAddr,
    },
    /// Close every open door now.
    CloseAll,
}

impl Request {
    /// Reads a request line (without its newline).
    pub fn parse(line: &str) -> Result<Request, String> {
        let line = line.trim_end_matches('\r');
        let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
        match verb {
            "status" => {
                let (word, door) = rest.split_once(' ').unwrap_or((rest, ""));
                let format = [Format::Text, Format::Json, Format::Prometheus]
                    .into_iter()
                    .find(|f| f.word() == word)
                    .ok_or_else(|| format!("unknown status format {word:?}"))?;
                let door = (!door.is_empty()).then(|| door.to_owned());
                if format == Format::Prometheus && door.is_some() {
                    return Err("status prometheus takes no door".to_owned());
                }
                Ok(Request::Status { format, door })
            }
            "close" => {
                let (door, source) = rest
                    .rsplit_once(' ')
                    .ok_or("close needs a door and an address")?;
                let source = source
                    .parse()
                    .map_err(|_| format!("{source:?} is not an IP address"))?;
                if door.is_empty() {
                    return Err("close needs a door and an address".to_owned());
                }
                Ok(Request::Close {
                    door: door.to_owned(),
                    source,
                })
            }
            "close-all" if rest.is_empty() => Ok(Request::CloseAll),
            _ => Err(format!("unknown request {:?}", truncate(line))),
        }
    }

    /// The request as a line, newline included.
    pub fn to_line(&self) -> String {
        match self {
            Request::Status { format, door } => match door {
                Some(door) => format!("status {} {door}\n", format.word()),
                None => format!("status {}\n", format.word()),
            },
            Request::Close { door, source } => format!("close {door} {source}\n"),
            Request::CloseAll => "close-all\n".to_owned(),
        }
    }
}

/// A request quoted in an error: at most 64 characters of it.
fn truncate(line: &str) -> &str {
    line.char_indices()
        .nth(64)
        .map_or(line, |(end, _)| line.get(..end).unwrap_or(line))
}

/// A successful reply carrying `body`.
pub fn ok(body: &str) -> Vec<u8> {
    format!("ok\n{body}").into_bytes()
}

/// A refusal, saying why.
pub fn error(why: &str) -> Vec<u8> {
    format!("error: {why}\n").into_bytes()
}

/// Reads a reply: the body of an `ok`, or the reason of an `error`.
pub fn parse_reply(reply: &str) -> Result<&str, String> {
    if let Some(body) = reply.strip_prefix("ok\n") {
        return Ok(body);
    }
    match reply.strip_prefix("error: ") {
        Some(why) => Err(why.trim_end().to_owned()),
        None if reply.is_empty() => Err("knockd closed the connection without a reply".to_owned()),
        None => Err(format!("unexpected reply {:?}", truncate(reply))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_through_their_lines() {
        let source: IpAddr = "fd00:1::2".parse().unwrap();
        for request in [
            Request::Status {
                format: Format::Text,
                door: None,
            },
            Request::Status {
                format: Format::Json,
                door: Some("open SSH".to_owned()),
            },
            Request::Status {
                format: Format::Prometheus,
                door: None,
            },
            Request::Close {
                door: "open web".to_owned(),
                source,
            },
            Request::CloseAll,
        ] {
            let line = request.to_line();
            assert_eq!(line.matches('\n').count(), 1, "{line:?}");
            assert_eq!(Request::parse(line.trim_end()), Ok(request), "{line:?}");
        }
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        for (line, words) in [
            ("", "unknown request"),
            ("open sesame", "unknown request \"open sesame\""),
            ("status yaml", "unknown status format \"yaml\""),
            ("status prometheus d", "takes no door"),
            ("close web", "needs a door and an address"),
            (
                "close web 198.18.0.256",
                "\"198.18.0.256\" is not an IP address",
            ),
            ("close  198.18.0.2", "needs a door"),
            ("close-all now", "unknown request"),
        ] {
            let error = Request::parse(line).unwrap_err();
            assert!(error.contains(words), "{line:?}: {error}");
        }
        let long = "x".repeat(500);
        assert!(Request::parse(&long).unwrap_err().len() < 100);
    }

    #[test]
    fn replies_are_ok_with_a_body_or_an_error() {
        let ok = String::from_utf8(ok("a\nb\n")).unwrap();
        assert_eq!(parse_reply(&ok), Ok("a\nb\n"));
        let error = String::from_utf8(error("no door named x")).unwrap();
        assert_eq!(parse_reply(&error), Err("no door named x".to_owned()));
        assert!(parse_reply("").unwrap_err().contains("without a reply"));
        assert!(parse_reply("HTTP/1.1 400")
            .unwrap_err()
            .contains("unexpected"));
    }
}
