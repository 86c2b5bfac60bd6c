//! The control socket's line protocol.
//!
//! A client connects, sends one request line and reads the reply until the
//! daemon closes the connection. The reply's first line is `ok LENGTH`
//! (the body's length in bytes) or `error: <why>`; after `ok LENGTH` come
//! exactly LENGTH bytes of body, printed as is by the client. The length
//! tells a whole reply from one cut short (a client dropped at its
//! deadline, a daemon that died): the client prints nothing of a reply
//! that is not whole.
//!
//! A request line is bytes: a door name that is not UTF-8 is read with
//! [`knockd_core::bytes::decode`], as knockd.conf is, so that it names the
//! door byte for byte.
//!
//! | request | what it does |
//! | --- | --- |
//! | `status text [DOOR]` | the status as a table |
//! | `status json [DOOR]` | the status as one JSON object |
//! | `status prometheus` | the counters in Prometheus' text format |
//! | `close DOOR IP` | runs the door's pending stop command for IP now |
//! | `close-all` | runs every pending stop command now |
//!
//! A door name may hold spaces: `close` takes the last word as the address,
//! an IPv4-mapped IPv6 address (`::ffff:198.18.0.2`) read as the IPv4 one
//! (a knocker's address is recorded so).

use std::fmt;
use std::net::IpAddr;

use knockd_core::bytes;

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
    /// Reads a request line (without its newline): its bytes as
    /// knockd.conf's are read.
    pub fn parse_bytes(line: &[u8]) -> Result<Request, String> {
        Request::parse(&bytes::decode(line))
    }

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
                    .parse::<IpAddr>()
                    .map_err(|_| format!("{source:?} is not an IP address"))?
                    .to_canonical();
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

    /// The request as a line, newline included: a door name's raw bytes
    /// (escape characters of [`knockd_core::bytes`]) as those bytes.
    pub fn to_line(&self) -> Vec<u8> {
        let line = match self {
            Request::Status { format, door } => match door {
                Some(door) => format!("status {} {door}\n", format.word()),
                None => format!("status {}\n", format.word()),
            },
            Request::Close { door, source } => format!("close {door} {source}\n"),
            Request::CloseAll => "close-all\n".to_owned(),
        };
        bytes::encode(&line).into_owned()
    }
}

/// A request quoted in an error: at most 64 characters of it.
fn truncate(line: &str) -> &str {
    line.char_indices()
        .nth(64)
        .map_or(line, |(end, _)| line.get(..end).unwrap_or(line))
}

/// A successful reply carrying `body`, framed by its length.
pub fn ok(body: &str) -> Vec<u8> {
    format!("ok {}\n{body}", body.len()).into_bytes()
}

/// A refusal, saying why.
pub fn error(why: &str) -> Vec<u8> {
    format!("error: {why}\n").into_bytes()
}

/// Why a reply brought no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyError {
    /// knockd refused the request, saying why.
    Refused(String),
    /// The connection closed before any reply: knockd dropped the client
    /// (pushed out by newer ones, or its deadline passed).
    NoReply,
    /// The reply stopped short of its length (or of its first line's end).
    Incomplete {
        /// Bytes of body received.
        got: usize,
        /// Bytes of body announced, when the first line was whole.
        expected: Option<usize>,
    },
    /// Not a reply of this protocol: what was wrong with it.
    Unexpected(String),
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Refused(why) => f.write_str(why),
            ReplyError::NoReply => f.write_str("knockd closed the connection without a reply"),
            ReplyError::Incomplete {
                got,
                expected: Some(expected),
            } => write!(
                f,
                "the reply was incomplete: {got} of {expected} bytes arrived"
            ),
            ReplyError::Incomplete { .. } => {
                f.write_str("the reply was incomplete: it ended within its first line")
            }
            ReplyError::Unexpected(what) => write!(f, "unexpected reply: {what}"),
        }
    }
}

/// Reads a whole reply: the body of an `ok LENGTH` that has exactly LENGTH
/// bytes, or why there is none.
pub fn parse_reply(reply: &[u8]) -> Result<&[u8], ReplyError> {
    let Some(end) = reply.iter().position(|&b| b == b'\n') else {
        return Err(if reply.is_empty() {
            ReplyError::NoReply
        } else if [&b"ok "[..], b"error: "]
            .iter()
            .any(|start| start.starts_with(reply) || reply.starts_with(start))
        {
            ReplyError::Incomplete {
                got: 0,
                expected: None,
            }
        } else {
            ReplyError::Unexpected(format!("{:?}", truncate(&String::from_utf8_lossy(reply))))
        });
    };
    let (first, body) = (
        String::from_utf8_lossy(reply.get(..end).unwrap_or_default()),
        reply.get(end + 1..).unwrap_or_default(),
    );
    if let Some(why) = first.strip_prefix("error: ") {
        return Err(ReplyError::Refused(why.to_owned()));
    }
    if first == "ok" {
        return Err(ReplyError::Unexpected(
            "\"ok\" without a length: a knockd older than this command is running (restart it)"
                .to_owned(),
        ));
    }
    let expected = (first.strip_prefix("ok "))
        .and_then(|length| length.parse::<usize>().ok())
        .ok_or_else(|| ReplyError::Unexpected(format!("{:?}", truncate(&first))))?;
    match body.len() {
        got if got < expected => Err(ReplyError::Incomplete {
            got,
            expected: Some(expected),
        }),
        got if got > expected => Err(ReplyError::Unexpected(format!(
            "{got} bytes of body where {expected} were announced"
        ))),
        _ => Ok(body),
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
            assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "{line:?}");
            let without_newline = line.strip_suffix(b"\n").unwrap();
            assert_eq!(
                Request::parse_bytes(without_newline),
                Ok(request),
                "{line:?}"
            );
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
    fn a_door_name_that_is_not_utf8_travels_byte_for_byte() {
        let door = bytes::decode(b"T\xfcr").into_owned();
        let request = Request::Close {
            door: door.clone(),
            source: "198.18.0.2".parse().unwrap(),
        };
        assert_eq!(request.to_line(), b"close T\xfcr 198.18.0.2\n");
        assert_eq!(
            Request::parse_bytes(b"status text T\xfcr"),
            Ok(Request::Status {
                format: Format::Text,
                door: Some(door)
            })
        );
    }

    #[test]
    fn an_ipv4_mapped_address_names_the_ipv4_knocker() {
        assert_eq!(
            Request::parse("close web ::ffff:198.18.0.2"),
            Ok(Request::Close {
                door: "web".to_owned(),
                source: "198.18.0.2".parse().unwrap(),
            })
        );
    }

    #[test]
    fn replies_are_ok_with_a_body_or_an_error() {
        let ok = ok("a\nb\n");
        assert_eq!(ok, b"ok 4\na\nb\n");
        assert_eq!(parse_reply(&ok), Ok(&b"a\nb\n"[..]));
        assert_eq!(parse_reply(b"ok 0\n"), Ok(&b""[..]));
        let error = error("no door named x");
        assert_eq!(
            parse_reply(&error),
            Err(ReplyError::Refused("no door named x".to_owned()))
        );
        assert_eq!(parse_reply(b""), Err(ReplyError::NoReply));
        let unexpected = parse_reply(b"HTTP/1.1 400\n").unwrap_err().to_string();
        assert!(unexpected.contains("unexpected reply"), "{unexpected}");
        let old = parse_reply(b"ok\n{}\n").unwrap_err().to_string();
        assert!(old.contains("older than this command"), "{old}");
        let longer = parse_reply(b"ok 1\nab").unwrap_err().to_string();
        assert!(longer.contains("2 bytes of body where 1"), "{longer}");
    }

    #[test]
    fn a_reply_cut_short_is_incomplete_wherever_it_is_cut() {
        let whole = ok("{\"doors\":[]}\n");
        for cut in 1..whole.len() {
            let error = parse_reply(&whole[..cut]).unwrap_err();
            assert!(
                matches!(error, ReplyError::Incomplete { .. }),
                "cut at {cut}: {error:?}"
            );
            assert!(error.to_string().contains("incomplete"), "{error}");
        }
        assert_eq!(
            parse_reply(b"ok 100\n{\"version\"")
                .unwrap_err()
                .to_string(),
            "the reply was incomplete: 10 of 100 bytes arrived"
        );
        assert!(matches!(
            parse_reply(b"error: no door"),
            Err(ReplyError::Incomplete { .. })
        ));
    }
}
