//! Rotating sequences, version 1 (`knock-rotating-v1`): a door's sequence
//! derived from a shared secret, the door's name and the clock, so that a
//! sniffed knock is worthless once its time step has passed (and, on the
//! server, once it has opened the door).
//!
//! The derivation is normative and published in `docs/rotating-sequences.md`
//! with test vectors in `docs/rotating-vectors.json`:
//!
//! - `T = floor(unix_time / Step)`;
//! - a byte stream `B_0 || B_1 || …` where `B_i = HMAC-SHA256(key,
//!   "knock-rotating-v1" || 0x00 || u8(len(label)) || label || u64be(Step) ||
//!   u64be(T) || u32be(i))`;
//! - ports drawn as big-endian `u16`s by rejection sampling (no modulo bias),
//!   repeated ports discarded (a retransmission can never pass for the next
//!   knock), and in `mixed` mode one more byte per port whose low bit picks
//!   UDP.

// An input path: any secret file, label or setting gives a value or an error.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::ops::RangeInclusive;
use std::path::Path;
use std::str::FromStr;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::file::{open_regular, read_capped, Exposure, Symlinks};
use crate::sequence::{parse_port, Knock, Protocol, Sequence};

type HmacSha256 = Hmac<Sha256>;

/// The domain-separation prefix of every HMAC input.
const CONTEXT: &[u8] = b"knock-rotating-v1";

/// A shared secret: at least [`Secret::MIN_LEN`] bytes. Its `Debug` shows
/// only its length, so it cannot reach a log by accident.
#[derive(Clone)]
pub struct Secret {
    /// HMAC-SHA256 keyed once; each block clones it.
    keyed: HmacSha256,
    /// The key itself, kept only to hand the secret to knockd's watcher
    /// process (the keyed state cannot be serialized).
    #[cfg(feature = "serde")]
    key: Vec<u8>,
    len: usize,
}

/// The key's bytes, read back through [`Secret::from_bytes`].
#[cfg(feature = "serde")]
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.key)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = <Vec<u8>>::deserialize(deserializer)?;
        Secret::from_bytes(&key).map_err(serde::de::Error::custom)
    }
}

impl Secret {
    /// The fewest decoded bytes a secret may have (128 bits).
    pub const MIN_LEN: usize = 16;

    /// The largest secret file read: a key line plus generous comments.
    const MAX_FILE: u64 = 64 << 10;

    /// A secret from raw key bytes.
    pub fn from_bytes(key: &[u8]) -> Result<Secret, SecretError> {
        if key.len() < Self::MIN_LEN {
            return Err(SecretError::TooShort { bytes: key.len() });
        }
        // HMAC takes keys of any length, so this cannot fail in practice.
        let keyed = HmacSha256::new_from_slice(key)
            .map_err(|_| SecretError::TooShort { bytes: key.len() })?;
        Ok(Secret {
            keyed,
            #[cfg(feature = "serde")]
            key: key.to_vec(),
            len: key.len(),
        })
    }

    /// A secret written in RFC 4648 base32: case-insensitive, blanks and `=`
    /// ignored.
    pub fn from_base32(text: &str) -> Result<Secret, SecretError> {
        Secret::from_bytes(
            &crate::base32::decode(text).map_err(|position| SecretError::NotBase32 { position })?,
        )
    }

    /// Reads a secret file: the first line that is neither empty nor a `#`
    /// comment holds the key in base32. On Unix the file must belong to
    /// `user` (the uid reading it) or root and give group and others no
    /// permission at all: whoever may write it can replace the key. Windows
    /// has no such bits to check (its ACLs are not examined), so there a
    /// symbolic link or junction at the path is refused instead of followed:
    /// the key is read from the file named, not from one a link leads to.
    /// Everywhere the file must be a regular file of at most 64 KiB.
    pub fn read_file(path: &Path, user: u32) -> Result<Secret, SecretError> {
        Secret::from_bytes(&Secret::read_key(path, user)?)
    }

    /// The raw key of a secret file, read and checked as [`Secret::read_file`]
    /// does: for `knockd secret show`, which puts it in a knock URI.
    pub fn read_key(path: &Path, user: u32) -> Result<Vec<u8>, SecretError> {
        let io_error = |error: std::io::Error| SecretError::Unreadable {
            message: crate::io_message(&error),
        };
        let links = if cfg!(unix) {
            Symlinks::Follow
        } else {
            Symlinks::Refuse
        };
        let file = open_regular(path, false, links).map_err(io_error)?;
        // The opened file's own metadata: the path may have changed since.
        check_private(&file, user)?;
        let bytes = read_capped(file, Self::MAX_FILE).map_err(io_error)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| SecretError::NotText)?;
        let line = text
            .lines()
            .map(str::trim_ascii)
            .find(|line| !line.is_empty() && !line.starts_with('#'))
            .ok_or(SecretError::NoKey)?;
        let key =
            crate::base32::decode(line).map_err(|position| SecretError::NotBase32 { position })?;
        Secret::from_bytes(&key)?;
        Ok(key)
    }

    /// The text of a new secret file holding `key`: a comment line, then the
    /// key in base32 (what [`Secret::read_file`] reads back).
    pub fn file_text(key: &[u8]) -> String {
        format!(
            "# knock-rotating-v1 secret (docs/rotating-sequences.md); keep it private\n{}\n",
            crate::base32::encode(key)
        )
    }

    /// How many bytes the key has.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a secret has at least [`Secret::MIN_LEN`] bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.len)
    }
}

#[cfg(unix)]
fn check_private(file: &std::fs::File, user: u32) -> Result<(), SecretError> {
    let meta = file.metadata().map_err(|error| SecretError::Unreadable {
        message: crate::io_message(&error),
    })?;
    match Exposure::of_file(&meta, user, 0o077) {
        Some(exposure) => Err(SecretError::Exposed(exposure)),
        None => Ok(()),
    }
}

#[cfg(not(unix))]
fn check_private(_file: &std::fs::File, _user: u32) -> Result<(), SecretError> {
    Ok(())
}

/// Why a secret was refused. No variant carries any of the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretError {
    /// Fewer than [`Secret::MIN_LEN`] bytes after decoding.
    TooShort {
        /// How many bytes there were.
        bytes: usize,
    },
    /// A character that is not in the base32 alphabet.
    NotBase32 {
        /// 1-based position in the key line (the character itself is not
        /// shown: it is part of the secret).
        position: usize,
    },
    /// The file has no line that holds a key.
    NoKey,
    /// The file is not text.
    NotText,
    /// The file cannot be read.
    Unreadable {
        /// The operating system's message.
        message: String,
    },
    /// Group or others may read or write the file, or another user owns it.
    Exposed(Exposure),
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::TooShort { bytes } => write!(
                f,
                "the secret is {bytes} bytes long; at least {} are needed (generate one with: head -c 20 /dev/urandom | base32)",
                Secret::MIN_LEN
            ),
            SecretError::NotBase32 { position } => write!(
                f,
                "character {position} of the secret is not base32 (A-Z and 2-7; blanks and = are ignored)"
            ),
            SecretError::NoKey => f.write_str(
                "no secret in the file (the first line that is neither empty nor a # comment holds it, in base32)",
            ),
            SecretError::NotText => f.write_str("the secret file is not text (expected base32)"),
            SecretError::Unreadable { message } => f.write_str(message),
            SecretError::Exposed(exposure) => write!(f, "the secret file is not private: {exposure}"),
        }
    }
}

impl std::error::Error for SecretError {}

/// Which transport protocols a rotating door's knocks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum RotatingProtocol {
    /// Every knock is TCP.
    Tcp,
    /// Every knock is UDP.
    Udp,
    /// Each knock's protocol is drawn too.
    Mixed,
}

impl RotatingProtocol {
    /// The name as written in configs and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            RotatingProtocol::Tcp => "tcp",
            RotatingProtocol::Udp => "udp",
            RotatingProtocol::Mixed => "mixed",
        }
    }
}

impl FromStr for RotatingProtocol {
    type Err = ();

    /// `tcp`, `udp` or `mixed`, in any case.
    fn from_str(s: &str) -> Result<Self, ()> {
        let s = s.trim_ascii();
        [
            RotatingProtocol::Tcp,
            RotatingProtocol::Udp,
            RotatingProtocol::Mixed,
        ]
        .into_iter()
        .find(|p| s.eq_ignore_ascii_case(p.as_str()))
        .ok_or(())
    }
}

impl fmt::Display for RotatingProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The ports a rotating door draws from: `lo-hi`, both from 1 to 65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PortRange {
    lo: u16,
    hi: u16,
}

impl PortRange {
    /// `lo..=hi`; `None` unless `1 <= lo <= hi`.
    pub fn new(lo: u16, hi: u16) -> Option<PortRange> {
        (lo >= 1 && lo <= hi).then_some(PortRange { lo, hi })
    }

    /// How many ports the range holds.
    pub fn span(self) -> u32 {
        u32::from(self.hi) - u32::from(self.lo) + 1
    }

    /// The lowest port.
    pub fn lo(self) -> u16 {
        self.lo
    }

    /// The highest port.
    pub fn hi(self) -> u16 {
        self.hi
    }
}

impl FromStr for PortRange {
    type Err = ();

    /// `lo-hi` with blanks allowed around each port.
    fn from_str(s: &str) -> Result<Self, ()> {
        let (lo, hi) = s.split_once('-').ok_or(())?;
        let lo = parse_port(lo.trim_ascii()).ok_or(())?;
        let hi = parse_port(hi.trim_ascii()).ok_or(())?;
        PortRange::new(lo, hi).ok_or(())
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

/// The label of a rotating door: its section name's bytes, 1 to 255 of them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Label(Vec<u8>);

impl Label {
    /// The longest label: its length is one byte of the HMAC input.
    pub const MAX_LEN: usize = 255;

    /// A label of 1 to [`Label::MAX_LEN`] bytes.
    pub fn new(bytes: &[u8]) -> Option<Label> {
        (1..=Self::MAX_LEN)
            .contains(&bytes.len())
            .then(|| Label(bytes.to_vec()))
    }

    /// The label's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The settings of a rotating door (everything but the secret and label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Rotation {
    step: u64,
    range: PortRange,
    length: usize,
    protocol: RotatingProtocol,
    skew: u64,
}

impl Default for Rotation {
    /// The defaults of `knockd.conf` and `knock`: 30 s steps, ports
    /// 1024-65535, 4 TCP knocks, one step of skew.
    fn default() -> Self {
        Rotation {
            step: 30,
            range: PortRange {
                lo: 1024,
                hi: 65535,
            },
            length: 4,
            protocol: RotatingProtocol::Tcp,
            skew: 1,
        }
    }
}

impl Rotation {
    /// Seconds per step allowed.
    pub const STEPS: RangeInclusive<u64> = 1..=86_400;
    /// Steps of skew allowed either side of now.
    pub const SKEWS: RangeInclusive<u64> = 0..=10;

    /// Checked settings.
    pub fn new(
        step: u64,
        range: PortRange,
        length: usize,
        protocol: RotatingProtocol,
        skew: u64,
    ) -> Result<Rotation, RotationError> {
        if !Self::STEPS.contains(&step) {
            return Err(RotationError::Step(step));
        }
        if !Self::SKEWS.contains(&skew) {
            return Err(RotationError::Skew(skew));
        }
        let most = Sequence::MAX_LEN.min(range.span() as usize);
        if !(1..=most).contains(&length) {
            return Err(RotationError::Length { length, most });
        }
        Ok(Rotation {
            step,
            range,
            length,
            protocol,
            skew,
        })
    }

    /// Seconds per step.
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The ports drawn from.
    pub fn range(&self) -> PortRange {
        self.range
    }

    /// Knocks per sequence.
    pub fn length(&self) -> usize {
        self.length
    }

    /// The protocols of the knocks.
    pub fn protocol(&self) -> RotatingProtocol {
        self.protocol
    }

    /// Steps accepted either side of now.
    pub fn skew(&self) -> u64 {
        self.skew
    }

    /// The step number `T` at `unix_seconds`.
    pub fn step_at(&self, unix_seconds: u64) -> u64 {
        unix_seconds / self.step
    }

    /// When step `t` begins, in Unix seconds (saturating).
    pub fn step_start(&self, t: u64) -> u64 {
        t.saturating_mul(self.step)
    }

    /// The steps a server accepts while step `now` is current.
    pub fn acceptable(&self, now: u64) -> RangeInclusive<u64> {
        now.saturating_sub(self.skew)..=now.saturating_add(self.skew)
    }

    /// Bits a guesser faces per attempt: `length × log2(span)`, one bit more per
    /// knock in mixed mode.
    pub fn entropy_bits(&self) -> f64 {
        let per_knock = f64::from(self.range.span()).log2()
            + if self.protocol == RotatingProtocol::Mixed {
                1.0
            } else {
                0.0
            };
        per_knock * self.length as f64
    }

    /// The sequence of step `t` for the door `label` under `secret`.
    pub fn sequence(&self, secret: &Secret, label: &Label, t: u64) -> Sequence {
        let mut stream = Stream::new(secret, label, self.step, t);
        let span = self.range.span();
        let limit = 65_536 - 65_536 % span;
        let mut knocks: Vec<Knock> = Vec::with_capacity(self.length);
        while knocks.len() < self.length {
            let v = u32::from(u16::from_be_bytes([stream.byte(), stream.byte()]));
            if v >= limit {
                continue;
            }
            // lo + (v mod span) <= hi <= 65535.
            let port = (u32::from(self.range.lo) + v % span) as u16;
            if knocks.iter().any(|k| k.port == port) {
                continue;
            }
            let protocol = match self.protocol {
                RotatingProtocol::Tcp => Protocol::Tcp,
                RotatingProtocol::Udp => Protocol::Udp,
                RotatingProtocol::Mixed if stream.byte() & 1 == 1 => Protocol::Udp,
                RotatingProtocol::Mixed => Protocol::Tcp,
            };
            knocks.push(Knock::new(port, protocol));
        }
        Sequence::from_checked(knocks)
    }
}

/// Why rotating settings were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RotationError {
    /// Seconds per step outside [`Rotation::STEPS`].
    Step(u64),
    /// Skew outside [`Rotation::SKEWS`].
    Skew(u64),
    /// A length of 0, above 32 or above the range's span.
    Length {
        /// The length asked for.
        length: usize,
        /// The longest allowed with this range.
        most: usize,
    },
}

impl fmt::Display for RotationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotationError::Step(step) => write!(
                f,
                "step of {step} seconds is out of range (1 to 86400)"
            ),
            RotationError::Skew(skew) => {
                write!(f, "skew of {skew} steps is out of range (0 to 10)")
            }
            RotationError::Length { length, most } => write!(
                f,
                "length {length} is out of range (1 to {most}: at most 32 knocks and no more than the ports in the range)"
            ),
        }
    }
}

impl std::error::Error for RotationError {}

/// The HMAC byte stream of one (door, step).
struct Stream<'a> {
    secret: &'a Secret,
    /// Everything before `u32be(i)`.
    prefix: Vec<u8>,
    counter: u32,
    block: [u8; 32],
    used: usize,
}

impl<'a> Stream<'a> {
    fn new(secret: &'a Secret, label: &Label, step: u64, t: u64) -> Stream<'a> {
        let mut prefix = Vec::with_capacity(CONTEXT.len() + 2 + label.0.len() + 16);
        prefix.extend_from_slice(CONTEXT);
        prefix.push(0);
        // Label::new keeps the length within one byte.
        prefix.push(label.0.len() as u8);
        prefix.extend_from_slice(&label.0);
        prefix.extend_from_slice(&step.to_be_bytes());
        prefix.extend_from_slice(&t.to_be_bytes());
        Stream {
            secret,
            prefix,
            counter: 0,
            block: [0; 32],
            used: 32,
        }
    }

    fn byte(&mut self) -> u8 {
        if self.used == self.block.len() {
            let mut mac = self.secret.keyed.clone();
            mac.update(&self.prefix);
            mac.update(&self.counter.to_be_bytes());
            self.block = mac.finalize().into_bytes().into();
            // Reaching 2^32 blocks would take far more draws than any
            // sequence of at most 32 distinct ports ever needs.
            self.counter = self.counter.wrapping_add(1);
            self.used = 0;
        }
        let byte = self.block.get(self.used).copied().unwrap_or_default();
        self.used += 1;
        byte
    }
}

#[cfg(test)]
mod tests;
