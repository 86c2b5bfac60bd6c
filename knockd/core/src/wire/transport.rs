//! TCP and UDP headers.
//!
//! Their checksums are not verified; see the module documentation of
//! [`crate::wire`] for why.

use super::field::{self, Field};
use super::{DecodeError, Layer};

/// The fields of the TCP header (RFC 9293).
mod tcp {
    use super::Field;

    pub(crate) const SRC_PORT: Field = 0..2;
    pub(crate) const DST_PORT: Field = 2..4;
    /// The data offset, in 4-byte words, is the high nibble.
    pub(crate) const DATA_OFFSET: usize = 12;
    /// CWR ECE URG ACK PSH RST SYN FIN.
    pub(crate) const FLAGS: usize = 13;
    /// The fixed header, without options.
    pub(crate) const HEADER_LEN: usize = 20;
    const _: () = assert!(FLAGS < HEADER_LEN && DST_PORT.end <= HEADER_LEN);
}

/// The fields of the UDP header (RFC 768).
mod udp {
    use super::Field;

    pub(crate) const SRC_PORT: Field = 0..2;
    pub(crate) const DST_PORT: Field = 2..4;
    pub(crate) const LENGTH: Field = 4..6;
    pub(crate) const HEADER_LEN: usize = 8;
    const _: () = assert!(LENGTH.end <= HEADER_LEN);
}

/// A checked view of a TCP header: data offset >= 5 and within the bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TcpHeader<'a> {
    header: &'a [u8; tcp::HEADER_LEN],
}

impl<'a> TcpHeader<'a> {
    /// Validates the start of `bytes` as a TCP header.
    pub(crate) fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, rest) = field::header::<{ tcp::HEADER_LEN }>(bytes, Layer::Tcp)?;
        let header_len = usize::from(field::read_u8(header, tcp::DATA_OFFSET) >> 4) * 4;
        let options_len = header_len
            .checked_sub(tcp::HEADER_LEN)
            .ok_or(DecodeError::Malformed(Layer::Tcp, "data offset below 5"))?;
        // The options are checked to be there, never read.
        rest.get(..options_len)
            .ok_or(DecodeError::Truncated(Layer::Tcp))?;
        Ok(TcpHeader { header })
    }

    /// Source port.
    pub(crate) fn src_port(&self) -> u16 {
        field::read_u16(self.header, tcp::SRC_PORT)
    }

    /// Destination port.
    pub(crate) fn dst_port(&self) -> u16 {
        field::read_u16(self.header, tcp::DST_PORT)
    }

    /// The flag byte at offset 13 (CWR ECE URG ACK PSH RST SYN FIN).
    pub(crate) fn flags(&self) -> u8 {
        field::read_u8(self.header, tcp::FLAGS)
    }
}

/// A checked view of a UDP header: 8 bytes, length field >= 8.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UdpHeader<'a> {
    header: &'a [u8; udp::HEADER_LEN],
}

impl<'a> UdpHeader<'a> {
    /// Validates the start of `bytes` as a UDP header.
    pub(crate) fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, _) = field::header::<{ udp::HEADER_LEN }>(bytes, Layer::Udp)?;
        if usize::from(field::read_u16(header, udp::LENGTH)) < udp::HEADER_LEN {
            return Err(DecodeError::Malformed(Layer::Udp, "length below 8"));
        }
        Ok(UdpHeader { header })
    }

    /// Source port.
    pub(crate) fn src_port(&self) -> u16 {
        field::read_u16(self.header, udp::SRC_PORT)
    }

    /// Destination port.
    pub(crate) fn dst_port(&self) -> u16 {
        field::read_u16(self.header, udp::DST_PORT)
    }
}
