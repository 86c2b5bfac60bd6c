//! TCP and UDP headers.
//!
//! Their checksums are not verified; see the module documentation of
//! [`crate::wire`] for why.

use super::{DecodeError, Layer};

/// A checked view of a TCP header: data offset >= 5 and within the bytes.
#[derive(Debug, Clone, Copy)]
pub struct TcpHeader<'a> {
    header: &'a [u8; 20],
    options: &'a [u8],
}

impl<'a> TcpHeader<'a> {
    /// Validates the start of `bytes` as a TCP header.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, rest) = bytes
            .split_first_chunk::<20>()
            .ok_or(DecodeError::Truncated(Layer::Tcp))?;
        let header_len = usize::from(header[12] >> 4) * 4;
        let options_len = header_len
            .checked_sub(20)
            .ok_or(DecodeError::Malformed(Layer::Tcp, "data offset below 5"))?;
        let options = rest
            .get(..options_len)
            .ok_or(DecodeError::Truncated(Layer::Tcp))?;
        Ok(TcpHeader { header, options })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.header[0], self.header[1]])
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.header[2], self.header[3]])
    }

    /// The flag byte at offset 13 (CWR ECE URG ACK PSH RST SYN FIN).
    pub fn flags(&self) -> u8 {
        self.header[13]
    }

    /// The TCP options (data offset > 5).
    pub fn options(&self) -> &'a [u8] {
        self.options
    }
}

/// A checked view of a UDP header: 8 bytes, length field >= 8.
#[derive(Debug, Clone, Copy)]
pub struct UdpHeader<'a> {
    header: &'a [u8; 8],
}

impl<'a> UdpHeader<'a> {
    /// Validates the start of `bytes` as a UDP header.
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, _) = bytes
            .split_first_chunk::<8>()
            .ok_or(DecodeError::Truncated(Layer::Udp))?;
        if u16::from_be_bytes([header[4], header[5]]) < 8 {
            return Err(DecodeError::Malformed(Layer::Udp, "length below 8"));
        }
        Ok(UdpHeader { header })
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.header[0], self.header[1]])
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.header[2], self.header[3]])
    }
}
