//! What knockd's unprivileged watcher process may ask of its root opener
//! process, and the bytes each request travels as.
//!
//! The watcher reads packets from anyone, so the opener treats everything it
//! receives as hostile: [`WatcherRequest::decode`] takes any bytes and gives
//! a request or an error, never a panic, and checks every length and tag.
//! A request names a door by its index in a configuration generation and a
//! knocker by address, never by command text or path; whether that door
//! exists, and whether the address may knock, the opener decides against its
//! own configuration.
//!
//! One request is one datagram of at most [`MAX_REQUEST`] bytes: a tag byte,
//! then fixed fields in network byte order. An address is a family byte (4
//! or 6) and its octets; a string a length byte and at most 255 bytes.

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The longest request: a tag, a generation, a door, an address and a
/// string (see [`WatcherRequest::encode`]).
pub const MAX_REQUEST: usize = 1 + 4 + 4 + 17 + 1 + 255;

/// A request from the watcher to the opener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatcherRequest {
    /// The watcher has dropped its privileges and is serving: the opener
    /// may report the pair ready.
    Ready,
    /// Door `door` of configuration generation `generation` was knocked
    /// open by `source`; `host` is its name when `-l` found one (for the
    /// log only).
    Open {
        /// The configuration generation the door index belongs to.
        generation: u32,
        /// The door's index in that generation.
        door: u32,
        /// The knocker.
        source: IpAddr,
        /// The knocker's DNS name, for the log.
        host: Option<String>,
    },
    /// A rotating door opened with the sequence of `step`, now spent.
    Spent {
        /// The configuration generation the door index belongs to.
        generation: u32,
        /// The door's index in that generation.
        door: u32,
        /// The spent time step.
        step: u64,
    },
    /// `knockd close`: the door named `door` closes for `source` now.
    Close {
        /// The door's name, as its pending stop command has it.
        door: String,
        /// The knocker it is open for.
        source: IpAddr,
    },
    /// `knockd close --all`.
    CloseAll,
    /// The open doors and the commands' counters, please (for `knockd
    /// status`).
    Report,
    /// How many knock attempts are in progress (systemd's `STATUS=` line).
    Attempts(u32),
    /// The capture of `interface`, one of knockd's, was lost or never
    /// opened: open it again and hand it over, please.
    OpenCapture {
        /// The interface's name.
        interface: String,
    },
}

/// Why bytes are not a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// No bytes, or a tag no request has.
    UnknownTag,
    /// The bytes end inside a field.
    Truncated,
    /// Bytes follow the request's last field.
    TrailingBytes,
    /// An address family other than 4 or 6.
    BadFamily,
    /// A string that is not UTF-8.
    NotUtf8,
    /// More bytes than [`MAX_REQUEST`].
    Oversized,
}

impl RequestError {
    /// A short name for the log.
    pub fn name(self) -> &'static str {
        match self {
            RequestError::UnknownTag => "unknown request",
            RequestError::Truncated => "truncated request",
            RequestError::TrailingBytes => "trailing bytes",
            RequestError::BadFamily => "bad address family",
            RequestError::NotUtf8 => "string not UTF-8",
            RequestError::Oversized => "oversized request",
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for RequestError {}

const READY: u8 = 1;
const OPEN: u8 = 2;
const SPENT: u8 = 3;
const CLOSE: u8 = 4;
const CLOSE_ALL: u8 = 5;
const REPORT: u8 = 6;
const ATTEMPTS: u8 = 7;
const OPEN_CAPTURE: u8 = 8;

impl WatcherRequest {
    /// The request's bytes. A host name or door name longer than 255 bytes
    /// is cut at a character boundary: names are for the log and for
    /// matching, and no door name the configuration readers accept is that
    /// long.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        match self {
            WatcherRequest::Ready => out.push(READY),
            WatcherRequest::Open {
                generation,
                door,
                source,
                host,
            } => {
                out.push(OPEN);
                out.extend_from_slice(&generation.to_be_bytes());
                out.extend_from_slice(&door.to_be_bytes());
                put_addr(&mut out, *source);
                put_str(&mut out, host.as_deref().unwrap_or(""));
            }
            WatcherRequest::Spent {
                generation,
                door,
                step,
            } => {
                out.push(SPENT);
                out.extend_from_slice(&generation.to_be_bytes());
                out.extend_from_slice(&door.to_be_bytes());
                out.extend_from_slice(&step.to_be_bytes());
            }
            WatcherRequest::Close { door, source } => {
                out.push(CLOSE);
                put_addr(&mut out, *source);
                put_str(&mut out, door);
            }
            WatcherRequest::CloseAll => out.push(CLOSE_ALL),
            WatcherRequest::Report => out.push(REPORT),
            WatcherRequest::Attempts(count) => {
                out.push(ATTEMPTS);
                out.extend_from_slice(&count.to_be_bytes());
            }
            WatcherRequest::OpenCapture { interface } => {
                out.push(OPEN_CAPTURE);
                put_str(&mut out, interface);
            }
        }
        out
    }

    /// The request `bytes` hold, checked field by field.
    pub fn decode(bytes: &[u8]) -> Result<WatcherRequest, RequestError> {
        if bytes.len() > MAX_REQUEST {
            return Err(RequestError::Oversized);
        }
        let mut reader = Reader(bytes);
        let request = match reader.u8().map_err(|_| RequestError::UnknownTag)? {
            READY => WatcherRequest::Ready,
            OPEN => {
                let generation = reader.u32()?;
                let door = reader.u32()?;
                let source = reader.addr()?;
                let host = reader.string()?;
                WatcherRequest::Open {
                    generation,
                    door,
                    source,
                    host: (!host.is_empty()).then_some(host),
                }
            }
            SPENT => WatcherRequest::Spent {
                generation: reader.u32()?,
                door: reader.u32()?,
                step: reader.u64()?,
            },
            CLOSE => {
                let source = reader.addr()?;
                let door = reader.string()?;
                WatcherRequest::Close { door, source }
            }
            CLOSE_ALL => WatcherRequest::CloseAll,
            REPORT => WatcherRequest::Report,
            ATTEMPTS => WatcherRequest::Attempts(reader.u32()?),
            OPEN_CAPTURE => WatcherRequest::OpenCapture {
                interface: reader.string()?,
            },
            _ => return Err(RequestError::UnknownTag),
        };
        if !reader.0.is_empty() {
            return Err(RequestError::TrailingBytes);
        }
        Ok(request)
    }
}

fn put_addr(out: &mut Vec<u8>, addr: IpAddr) {
    match addr {
        IpAddr::V4(v4) => {
            out.push(4);
            out.extend_from_slice(&v4.octets());
        }
        IpAddr::V6(v6) => {
            out.push(6);
            out.extend_from_slice(&v6.octets());
        }
    }
}

/// Writes at most 255 bytes of `text`, cut at a character boundary.
fn put_str(out: &mut Vec<u8>, text: &str) {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let bytes = text.as_bytes().get(..end).unwrap_or_default();
    out.push(bytes.len() as u8);
    out.extend_from_slice(bytes);
}

/// The unread rest of a request.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RequestError> {
        if self.0.len() < n {
            return Err(RequestError::Truncated);
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RequestError> {
        self.take(N)?
            .try_into()
            .map_err(|_| RequestError::Truncated)
    }

    fn u8(&mut self) -> Result<u8, RequestError> {
        Ok(u8::from_be_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, RequestError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, RequestError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn addr(&mut self) -> Result<IpAddr, RequestError> {
        match self.u8()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.array::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.array::<16>()?))),
            _ => Err(RequestError::BadFamily),
        }
    }

    fn string(&mut self) -> Result<String, RequestError> {
        let len = usize::from(self.u8()?);
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| RequestError::NotUtf8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_kind() -> Vec<WatcherRequest> {
        vec![
            WatcherRequest::Ready,
            WatcherRequest::Open {
                generation: 7,
                door: 3,
                source: "198.18.0.2".parse().unwrap(),
                host: Some("client.example".into()),
            },
            WatcherRequest::Open {
                generation: u32::MAX,
                door: 0,
                source: "fd00::2".parse().unwrap(),
                host: None,
            },
            WatcherRequest::Spent {
                generation: 1,
                door: 2,
                step: u64::MAX,
            },
            WatcherRequest::Close {
                door: "ssh door".into(),
                source: "198.18.0.2".parse().unwrap(),
            },
            WatcherRequest::CloseAll,
            WatcherRequest::Report,
            WatcherRequest::Attempts(12),
            WatcherRequest::OpenCapture {
                interface: "wg0".into(),
            },
        ]
    }

    #[test]
    fn every_request_reads_back_as_itself() {
        for request in every_kind() {
            let bytes = request.encode();
            assert!(bytes.len() <= MAX_REQUEST);
            assert_eq!(WatcherRequest::decode(&bytes), Ok(request));
        }
    }

    #[test]
    fn every_prefix_is_truncated_and_every_extension_trailing() {
        for request in every_kind() {
            let bytes = request.encode();
            for cut in 1..bytes.len() {
                assert_eq!(
                    WatcherRequest::decode(&bytes[..cut]),
                    Err(RequestError::Truncated),
                    "{request:?} cut at {cut}"
                );
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(
                WatcherRequest::decode(&longer),
                Err(RequestError::TrailingBytes)
            );
        }
    }

    #[test]
    fn garbage_is_refused_by_kind() {
        assert_eq!(WatcherRequest::decode(&[]), Err(RequestError::UnknownTag));
        assert_eq!(WatcherRequest::decode(&[0]), Err(RequestError::UnknownTag));
        assert_eq!(
            WatcherRequest::decode(&[99, 1]),
            Err(RequestError::UnknownTag)
        );
        assert_eq!(
            WatcherRequest::decode(&[CLOSE, 5, 1, 2, 3, 4, 0]),
            Err(RequestError::BadFamily)
        );
        assert_eq!(
            WatcherRequest::decode(&[CLOSE, 4, 1, 2, 3, 4, 1, 0xff]),
            Err(RequestError::NotUtf8)
        );
        assert_eq!(
            WatcherRequest::decode(&vec![READY; MAX_REQUEST + 1]),
            Err(RequestError::Oversized)
        );
    }

    #[test]
    fn long_names_are_cut_at_a_character_boundary() {
        let request = WatcherRequest::Close {
            door: "é".repeat(200),
            source: "198.18.0.2".parse().unwrap(),
        };
        let Ok(WatcherRequest::Close { door, .. }) = WatcherRequest::decode(&request.encode())
        else {
            panic!("a long name must still encode");
        };
        assert_eq!(door, "é".repeat(127));
    }
}
