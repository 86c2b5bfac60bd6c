//! Knock URIs: everything a client needs to knock a rotating door, in one
//! line that `knockd secret new` prints (also as a QR code) and
//! `knock --import` reads:
//!
//! ```text
//! knock://HOST/DOOR?secret=BASE32&step=30&range=20000-60000&length=4&protocol=tcp&v=1&check=8c1f0a2e
//! ```
//!
//! The grammar, the escaping of door names and the check value are
//! specified in `docs/rotating-sequences.md` §11, with vectors. Decoding is
//! strict: a parameter unknown, repeated or missing, a value out of range,
//! or a URI whose `check` does not match the text before it (a mistyped or
//! altered URI) is refused with a message that names what is wrong and never
//! shows the secret.

// An input path: any text must give a URI or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::net::Ipv6Addr;

use sha2::{Digest, Sha256};

use crate::rotating::{Label, PortRange, RotatingProtocol, Rotation, Secret};
use crate::Visible;

/// The scheme, with its `://`.
const SCHEME: &str = "knock://";
/// The parameters of version 1, in the order [`KnockUri`] writes them;
/// `check` must come last.
const PARAMETERS: [&str; 7] = [
    "secret", "step", "range", "length", "protocol", "v", "check",
];
/// Hex digits of the check value.
const CHECK_LEN: usize = 8;

/// A rotating door as a client knocks it: host, label, key and settings
/// (`Rotating_Skew` is the server's alone and is not carried). Its `Debug`
/// leaves the key out.
#[derive(Clone, PartialEq, Eq)]
pub struct KnockUri {
    /// The host as `knock` takes it: a name, an IPv4 address or an IPv6
    /// address without brackets.
    host: String,
    label: Label,
    key: Vec<u8>,
    rotation: Rotation,
}

/// Why a knock URI (or the parts of a new one) was refused: what is wrong
/// and what to do, never any of the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriError(String);

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UriError {}

fn error(message: impl Into<String>) -> UriError {
    UriError(message.into())
}

impl KnockUri {
    /// The longest URI read: a 255-byte label escaped, a 253-character host
    /// and a long key fit well within it.
    pub const MAX_LEN: usize = 4096;

    /// A URI for these parts: `host` a DNS name or an IP address (an IPv6
    /// one without brackets), `key` at least [`Secret::MIN_LEN`] bytes.
    pub fn new(
        host: &str,
        label: Label,
        key: &[u8],
        rotation: Rotation,
    ) -> Result<KnockUri, UriError> {
        let host = match host.parse::<Ipv6Addr>() {
            Ok(v6) => v6.to_string(),
            Err(_) => check_name(host)?.to_owned(),
        };
        Secret::from_bytes(key).map_err(|e| error(format!("secret: {e}")))?;
        Ok(KnockUri {
            host,
            label,
            key: key.to_vec(),
            rotation,
        })
    }

    /// Reads a URI, checking everything: see the module's documentation.
    pub fn parse(text: &str) -> Result<KnockUri, UriError> {
        if text.len() > Self::MAX_LEN {
            return Err(error(format!(
                "the URI is {} bytes long, more than a knock URI's {}: copy it again",
                text.len(),
                Self::MAX_LEN
            )));
        }
        if let Some((index, _)) = text.char_indices().find(|&(_, c)| !c.is_ascii_graphic()) {
            return Err(error(format!(
                "character {} of the URI is a blank or not ASCII, which a URI cannot hold: \
                 copy it again, without line breaks",
                text.get(..index).map_or(0, |head| head.chars().count()) + 1
            )));
        }
        let rest = strip_prefix_ignore_case(text, SCHEME).ok_or_else(|| {
            error("not a knock URI: it must begin with knock:// (as knockd secret new prints it)")
        })?;
        if rest.contains('#') {
            return Err(error("a knock URI has no #fragment: remove it"));
        }
        let (authority, rest) = rest
            .split_once('/')
            .filter(|(authority, _)| !authority.contains('?'))
            .ok_or_else(|| error("the URI names no door: write knock://HOST/DOOR?..."))?;
        let host = parse_host(authority)?;
        let (path, query) = rest
            .split_once('?')
            .ok_or_else(|| error("the URI has no parameters (?secret=...&v=1&check=...)"))?;
        let label = parse_door(path)?;
        let params = Parameters::parse(query)?;
        let version = params.get("v");
        if version != "1" {
            return Err(error(format!(
                "the URI is of version v={}, which this program does not read (it reads v=1): \
                 upgrade it, or make a v=1 URI with knockd secret show",
                Visible(version)
            )));
        }
        // `check` is last: the text before `&check=` is what it covers.
        let covered = text
            .len()
            .checked_sub(params.get("check").len() + "&check=".len())
            .and_then(|end| text.get(..end))
            .unwrap_or_default();
        if !params
            .get("check")
            .eq_ignore_ascii_case(&check_value(covered))
        {
            return Err(error(
                "the URI's check value does not match the rest of it: it was mistyped, cut short \
                 or altered; copy it again exactly as knockd secret new or show printed it",
            ));
        }
        let key = parse_secret(params.get("secret"))?;
        let rotation = parse_rotation(&params)?;
        Ok(KnockUri {
            host,
            label,
            key,
            rotation,
        })
    }

    /// The host, as `knock` takes it (an IPv6 address without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The door's label.
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// The raw key, for writing a secret file ([`Secret::file_text`]).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// Step, range, length and protocol (the skew is the default's).
    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    /// The text before `&check=`.
    fn covered(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let r = &self.rotation;
        format!(
            "{SCHEME}{host}/{}?secret={}&step={}&range={}&length={}&protocol={}&v=1",
            escape_door(self.label.as_bytes()),
            crate::base32::encode(&self.key),
            r.step(),
            r.range(),
            r.length(),
            r.protocol()
        )
    }
}

impl fmt::Display for KnockUri {
    /// The URI text, which [`KnockUri::parse`] reads back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let covered = self.covered();
        write!(f, "{covered}&check={}", check_value(&covered))
    }
}

impl fmt::Debug for KnockUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KnockUri")
            .field("host", &self.host)
            .field("label", &self.label)
            .field("key", &format_args!("{} bytes", self.key.len()))
            .field("rotation", &self.rotation)
            .finish()
    }
}

/// The check value of the text it covers: the first 4 bytes of its SHA-256,
/// in lower-case hex. It catches a mistyped or truncated URI (a wrong
/// character passes unnoticed once in 2^32); it is not a signature, since
/// whoever alters a URI can compute it again.
fn check_value(covered: &str) -> String {
    let digest = Sha256::digest(covered.as_bytes());
    digest
        .iter()
        .take(CHECK_LEN / 2)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// A DNS name or IPv4 address: letters, digits, `.`, `-` and `_`, 1 to 253.
fn check_name(host: &str) -> Result<&str, UriError> {
    let valid = (1..=253).contains(&host.len())
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if valid {
        Ok(host)
    } else {
        Err(error(format!(
            "host '{}' is neither an IP address nor a DNS name (letters, digits, '.', '-'; \
             an internationalized name in its xn-- form)",
            Visible(host)
        )))
    }
}

/// The authority: a name, an IPv4 address or `[IPv6]`; no user, no port.
fn parse_host(authority: &str) -> Result<String, UriError> {
    if authority.contains('@') {
        return Err(error("a knock URI's host has no user@ part: remove it"));
    }
    if let Some(inner) = authority.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or_else(|| {
            error("the host's IPv6 address must be in brackets with nothing after them: [2001:db8::1]")
        })?;
        return inner
            .parse::<Ipv6Addr>()
            .map(|a| a.to_string())
            .map_err(|_| error(format!("host [{}] is not an IPv6 address", Visible(inner))));
    }
    if authority.contains(':') {
        return Err(error(
            "a knock URI has no port (a knock uses many); an IPv6 address goes in brackets",
        ));
    }
    check_name(authority).map(str::to_owned)
}

/// `bytes` as a door in a URI path: letters, digits and `-._~` as they are,
/// every other byte as `%XX` (upper-case hex), UTF-8 or not.
fn escape_door(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &byte in bytes {
        if is_unreserved(byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// The door's label from the URI path: unreserved characters and `%XX`
/// escapes (either case) only.
fn parse_door(path: &str) -> Result<Label, UriError> {
    let mut bytes = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes().iter().copied().enumerate();
    while let Some((index, byte)) = rest.next() {
        if byte == b'%' {
            let mut hex = || rest.next().and_then(|(_, b)| char::from(b).to_digit(16));
            match (hex(), hex()) {
                (Some(hi), Some(lo)) => bytes.push((hi * 16 + lo) as u8),
                _ => {
                    return Err(error(format!(
                        "character {} of the door name: % must be followed by two hex digits",
                        index + 1
                    )))
                }
            }
        } else if is_unreserved(byte) {
            bytes.push(byte);
        } else {
            return Err(error(format!(
                "character {} of the door name ('{}') must be written %{byte:02X}",
                index + 1,
                char::from(byte)
            )));
        }
    }
    Label::new(&bytes).ok_or_else(|| {
        error(format!(
            "the door name is {} bytes long; a door's name is 1 to {} bytes",
            bytes.len(),
            Label::MAX_LEN
        ))
    })
}

/// The query's parameters, each known one exactly once, `check` last.
struct Parameters<'a>([&'a str; PARAMETERS.len()]);

impl<'a> Parameters<'a> {
    fn parse(query: &'a str) -> Result<Parameters<'a>, UriError> {
        let mut values: [Option<&str>; PARAMETERS.len()] = [None; PARAMETERS.len()];
        let mut last = "";
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = PARAMETERS
                .iter()
                .position(|known| *known == name)
                .and_then(|index| values.get_mut(index))
                .ok_or_else(|| {
                    error(format!(
                        "unknown parameter '{}' (a knock URI of v=1 has {}): remove it, \
                         or upgrade this program if a newer knockd made the URI",
                        Visible(name),
                        PARAMETERS.join(", ")
                    ))
                })?;
            if slot.replace(value).is_some() {
                return Err(error(format!(
                    "parameter '{name}' is given twice: keep one"
                )));
            }
            last = name;
        }
        let missing: Vec<&str> = PARAMETERS
            .iter()
            .zip(values)
            .filter(|(_, value)| value.is_none())
            .map(|(name, _)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(error(format!(
                "the URI lacks parameter{} {}: copy it again, whole",
                if missing.len() > 1 { "s" } else { "" },
                missing.join(", ")
            )));
        }
        if last != "check" {
            return Err(error(
                "parameter 'check' must come last: it covers the text before it",
            ));
        }
        Ok(Parameters(values.map(Option::unwrap_or_default)))
    }

    /// The value of a parameter of [`PARAMETERS`] (empty for another).
    fn get(&self, name: &str) -> &'a str {
        PARAMETERS
            .iter()
            .position(|known| *known == name)
            .and_then(|index| self.0.get(index))
            .copied()
            .unwrap_or_default()
    }
}

/// The key from `secret=`: base32 letters and digits only (no padding).
fn parse_secret(value: &str) -> Result<Vec<u8>, UriError> {
    if let Some(position) = value.bytes().position(|b| !b.is_ascii_alphanumeric()) {
        return Err(error(format!(
            "character {} of the secret is not base32 (A-Z and 2-7)",
            position + 1
        )));
    }
    let key = crate::base32::decode(value).map_err(|position| {
        error(format!(
            "character {position} of the secret is not base32 (A-Z and 2-7)"
        ))
    })?;
    Secret::from_bytes(&key).map_err(|e| error(format!("secret: {e}")))?;
    Ok(key)
}

/// Step, range, length and protocol, checked as knockd checks its door's.
fn parse_rotation(params: &Parameters<'_>) -> Result<Rotation, UriError> {
    let number = |name: &str| -> Result<u64, UriError> {
        let value = params.get(name);
        value
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| value.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| {
                error(format!(
                    "parameter {name}='{}' is not a whole number",
                    Visible(value)
                ))
            })
    };
    let step = number("step")?;
    let length = usize::try_from(number("length")?).unwrap_or(usize::MAX);
    let range_text = params.get("range");
    let range = range_text
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'-')
        .then(|| range_text.parse::<PortRange>().ok())
        .flatten()
        .ok_or_else(|| {
            error(format!(
                "parameter range='{}' is not LO-HI, two ports from 1 to 65535 with LO <= HI",
                Visible(range_text)
            ))
        })?;
    let protocol_text = params.get("protocol");
    let protocol = protocol_text
        .bytes()
        .all(|b| b.is_ascii_alphabetic())
        .then(|| protocol_text.parse::<RotatingProtocol>().ok())
        .flatten()
        .ok_or_else(|| {
            error(format!(
                "parameter protocol='{}' is not tcp, udp or mixed",
                Visible(protocol_text)
            ))
        })?;
    let skew = Rotation::default().skew();
    Rotation::new(step, range, length, protocol, skew).map_err(|e| error(format!("the door's {e}")))
}

#[cfg(test)]
mod tests;
