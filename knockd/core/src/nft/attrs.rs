//! Netlink messages and attributes: a writer that lays out headers,
//! attributes and nests with their lengths and padding, and a bounds-checked
//! reader of attributes.

// An input path: any bytes the kernel (or a fuzzer) sends must give a
// value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use super::consts::{NLA_F_NESTED, NLA_TYPE_MASK};

/// The length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;
/// The length of `struct nfgenmsg`, which follows it in nfnetlink messages.
pub const NFGENMSG_LEN: usize = 4;

/// `len` rounded up to netlink's 4-byte alignment.
pub fn align(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// Writes netlink messages one after another into one buffer.
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
    /// Where the message being written starts.
    message: usize,
    /// Where each open nest's header starts.
    nests: Vec<usize>,
}

impl Writer {
    /// Starts a message: its header (length filled in by [`Writer::end_message`])
    /// and its `nfgenmsg` with `family` and `res_id` (big-endian, as nfnetlink reads it).
    pub fn begin_message(&mut self, kind: u16, flags: u16, seq: u32, family: u8, res_id: u16) {
        self.message = self.buf.len();
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(&flags.to_ne_bytes());
        self.buf.extend_from_slice(&seq.to_ne_bytes());
        self.buf.extend_from_slice(&0u32.to_ne_bytes());
        self.buf.push(family);
        self.buf.push(0); // NFNETLINK_V0
        self.buf.extend_from_slice(&res_id.to_be_bytes());
    }

    /// Ends the message begun last: writes its length.
    pub fn end_message(&mut self) {
        let len = self.buf.len() - self.message;
        self.patch_u32(self.message, len);
    }

    /// Adds an attribute holding `value`, padded.
    pub fn attr(&mut self, kind: u16, value: &[u8]) {
        let len = 4 + value.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(value);
        self.pad();
    }

    /// Adds a string attribute, with its terminating zero as the kernel wants.
    pub fn attr_str(&mut self, kind: u16, value: &str) {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.attr(kind, &bytes);
    }

    /// Adds a big-endian 32-bit attribute.
    pub fn attr_be32(&mut self, kind: u16, value: u32) {
        self.attr(kind, &value.to_be_bytes());
    }

    /// Adds a big-endian 64-bit attribute.
    pub fn attr_be64(&mut self, kind: u16, value: u64) {
        self.attr(kind, &value.to_be_bytes());
    }

    /// Opens a nested attribute; [`Writer::end_nest`] closes it.
    pub fn begin_nest(&mut self, kind: u16) {
        self.nests.push(self.buf.len());
        self.buf.extend_from_slice(&0u16.to_ne_bytes());
        self.buf
            .extend_from_slice(&(kind | NLA_F_NESTED).to_ne_bytes());
    }

    /// Closes the nest opened last.
    pub fn end_nest(&mut self) {
        if let Some(start) = self.nests.pop() {
            let len = (self.buf.len() - start) as u16;
            if let Some(slot) = self.buf.get_mut(start..start + 2) {
                slot.copy_from_slice(&len.to_ne_bytes());
            }
        }
    }

    /// The messages written.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }

    fn pad(&mut self) {
        self.buf.resize(align(self.buf.len()), 0);
    }

    fn patch_u32(&mut self, at: usize, value: usize) {
        if let Some(slot) = self.buf.get_mut(at..at + 4) {
            slot.copy_from_slice(&(value as u32).to_ne_bytes());
        }
    }
}

/// Why bytes from the kernel could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// A header or attribute runs past the bytes received.
    Truncated,
    /// An attribute's value has the wrong length for its type.
    BadLength {
        /// The attribute's type.
        kind: u16,
    },
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParseError::Truncated => f.write_str("a netlink message or attribute is cut short"),
            ParseError::BadLength { kind } => {
                write!(f, "netlink attribute {kind} has an unexpected length")
            }
        }
    }
}

/// One attribute: its type (without the flag bits) and its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type, without `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER`.
    pub kind: u16,
    /// The value, without padding.
    pub value: &'a [u8],
}

impl<'a> Attr<'a> {
    /// The attributes nested in this one.
    pub fn nested(&self) -> Attrs<'a> {
        Attrs::new(self.value)
    }

    /// The value as a string, without its terminating zero.
    pub fn string(&self) -> String {
        let text = self.value.split(|&b| b == 0).next().unwrap_or_default();
        String::from_utf8_lossy(text).into_owned()
    }

    /// The value as a big-endian 32-bit number.
    pub fn be32(&self) -> Result<u32, ParseError> {
        let bytes: [u8; 4] = self
            .value
            .try_into()
            .map_err(|_| ParseError::BadLength { kind: self.kind })?;
        Ok(u32::from_be_bytes(bytes))
    }

    /// The value as a big-endian 64-bit number.
    pub fn be64(&self) -> Result<u64, ParseError> {
        let bytes: [u8; 8] = self
            .value
            .try_into()
            .map_err(|_| ParseError::BadLength { kind: self.kind })?;
        Ok(u64::from_be_bytes(bytes))
    }
}

/// The attributes in a byte range, one after another.
#[derive(Debug, Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    /// The attributes laid out in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Attrs<'a> {
        Attrs { rest: bytes }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Result<Attr<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let header = self.rest.get(..4).and_then(|h| {
            let len = usize::from(u16::from_ne_bytes([*h.first()?, *h.get(1)?]));
            let kind = u16::from_ne_bytes([*h.get(2)?, *h.get(3)?]) & NLA_TYPE_MASK;
            Some((len, kind))
        });
        let Some((len, kind)) = header.filter(|&(len, _)| len >= 4) else {
            self.rest = &[];
            return Some(Err(ParseError::Truncated));
        };
        let Some(value) = self.rest.get(4..len) else {
            self.rest = &[];
            return Some(Err(ParseError::Truncated));
        };
        self.rest = self.rest.get(align(len)..).unwrap_or_default();
        Some(Ok(Attr { kind, value }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_nests_carry_their_lengths_and_padding() {
        let mut w = Writer::default();
        w.begin_message(0x0a09, 0x0405, 7, 1, 0);
        w.attr_str(1, "knockd");
        w.begin_nest(3);
        w.attr_be32(1, 0x10);
        w.end_nest();
        w.end_message();
        let bytes = w.finish();
        assert_eq!(bytes.len(), 16 + 4 + 12 + 4 + 8);
        assert_eq!(u32::from_ne_bytes(bytes[..4].try_into().unwrap()), 44);
        assert_eq!(u16::from_ne_bytes(bytes[4..6].try_into().unwrap()), 0x0a09);
        assert_eq!(u32::from_ne_bytes(bytes[8..12].try_into().unwrap()), 7);
        assert_eq!(&bytes[16..20], &[1, 0, 0, 0]);
        // "knockd\0" is 7 bytes: attribute length 11, padded to 12.
        assert_eq!(u16::from_ne_bytes(bytes[20..22].try_into().unwrap()), 11);
        assert_eq!(&bytes[24..31], b"knockd\0");
        assert_eq!(bytes[31], 0);
        let attrs: Vec<_> = Attrs::new(&bytes[20..]).map(Result::unwrap).collect();
        assert_eq!(attrs[0].string(), "knockd");
        assert_eq!(attrs[1].kind, 3);
        let inner: Vec<_> = attrs[1].nested().map(Result::unwrap).collect();
        assert_eq!(inner[0].be32(), Ok(0x10));
        assert_eq!(&bytes[40..44], &[0, 0, 0, 0x10]);
    }

    #[test]
    fn cut_or_lying_attributes_are_errors_not_panics() {
        for bytes in [
            &[5u8, 0][..],
            &[8, 0, 1, 0, 1],
            &[2, 0, 1, 0],
            &[255, 255, 1, 0, 0],
        ] {
            let first = Attrs::new(bytes).next().unwrap();
            assert_eq!(first, Err(ParseError::Truncated), "{bytes:?}");
        }
        let short = Attr {
            kind: 4,
            value: &[1, 2],
        };
        assert_eq!(short.be32(), Err(ParseError::BadLength { kind: 4 }));
        assert_eq!(short.be64(), Err(ParseError::BadLength { kind: 4 }));
    }
}
