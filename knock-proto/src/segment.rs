//! The TCP segment writer: a 20-byte header without options, optionally
//! followed by a payload, with its checksum. The client's raw knocks are bare
//! headers; test frames may carry a payload.

use std::net::IpAddr;

/// Length of a TCP header without options, which is all a raw knock carries.
pub const HEADER_LEN: usize = 20;

/// IANA protocol number of TCP, part of the checksum's pseudo-header.
const IPPROTO_TCP: u8 = 6;

/// Data offset of a header without options: 5 words, in the high nibble.
const DATA_OFFSET: u8 = 5 << 4;

/// The fields of a raw knock's TCP header; everything else is zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment {
    /// Source port.
    pub src_port: u16,
    /// Destination port: the knocked port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq_number: u32,
    /// Acknowledgement number (meaningful only with ACK set).
    pub ack_number: u32,
    /// The flag byte (FIN 0x01 ... URG 0x20).
    pub flags: u8,
    /// Advertised receive window.
    pub window: u16,
}

impl TcpSegment {
    /// The bare header as sent from `src` to `dst`, checksum filled in: a raw
    /// knock. Both addresses must be of one family (the pseudo-header's).
    pub fn emit(&self, src: IpAddr, dst: IpAddr) -> [u8; HEADER_LEN] {
        let mut bytes = self.header();
        fill_checksum(src, dst, &mut bytes);
        bytes
    }

    /// The header followed by `payload`, checksum over both.
    pub fn emit_with_payload(&self, src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(&self.header());
        bytes.extend_from_slice(payload);
        fill_checksum(src, dst, &mut bytes);
        bytes
    }

    /// The header with a zero checksum field and urgent pointer.
    fn header(&self) -> [u8; HEADER_LEN] {
        // Fixed offsets into a fixed-size array: none of these can panic.
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        bytes[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        bytes[4..8].copy_from_slice(&self.seq_number.to_be_bytes());
        bytes[8..12].copy_from_slice(&self.ack_number.to_be_bytes());
        bytes[12] = DATA_OFFSET;
        bytes[13] = self.flags;
        bytes[14..16].copy_from_slice(&self.window.to_be_bytes());
        bytes
    }
}

/// Computes the checksum of `segment` (header and payload, its checksum
/// field zero) and writes it into the field.
fn fill_checksum(src: IpAddr, dst: IpAddr, segment: &mut [u8]) {
    let sum = checksum(src, dst, segment);
    if let Some(field) = segment.get_mut(16..18) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
}

/// The TCP checksum of `segment` between `src` and `dst`. Over a segment
/// whose checksum field is already filled in, the result is 0.
pub fn checksum(src: IpAddr, dst: IpAddr, segment: &[u8]) -> u16 {
    crate::checksum::transport(src, dst, IPPROTO_TCP, segment)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const SYN: u8 = 0x02;

    fn known_segment() -> TcpSegment {
        TcpSegment {
            src_port: 40000,
            dst_port: 7000,
            seq_number: 0x0102_0304,
            ack_number: 0,
            flags: SYN,
            window: 64240,
        }
    }

    fn v4() -> (IpAddr, IpAddr) {
        (
            Ipv4Addr::new(192, 0, 2, 1).into(),
            Ipv4Addr::new(198, 51, 100, 2).into(),
        )
    }

    fn v6() -> (IpAddr, IpAddr) {
        let src: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8::2".parse().unwrap();
        (src.into(), dst.into())
    }

    #[test]
    fn header_layout() {
        let s = TcpSegment {
            ack_number: 0xa0b0_c0d0,
            flags: 0x3f,
            ..known_segment()
        };
        let (src, dst) = v4();
        let b = s.emit(src, dst);
        assert_eq!(b[0..2], 40000u16.to_be_bytes());
        assert_eq!(b[2..4], 7000u16.to_be_bytes());
        assert_eq!(b[4..8], [1, 2, 3, 4]);
        assert_eq!(b[8..12], [0xa0, 0xb0, 0xc0, 0xd0]);
        assert_eq!(b[12], 0x50, "20-byte header, no options");
        assert_eq!(b[13], 0x3f);
        assert_eq!(b[14..16], 64240u16.to_be_bytes());
        assert_eq!(b[18..20], [0, 0], "urgent pointer");
    }

    #[test]
    fn checksum_matches_known_vectors() {
        // Values reported by `tcpdump -vv` for the same segment in IPv4 and
        // IPv6 packets between these documentation addresses.
        let (src, dst) = v4();
        assert_eq!(known_segment().emit(src, dst)[16..18], [0x0d, 0x1c]);
        let (src, dst) = v6();
        assert_eq!(known_segment().emit(src, dst)[16..18], [0x9d, 0xde]);
    }

    #[test]
    fn emitted_segments_re_sum_to_zero() {
        let loopback4: IpAddr = Ipv4Addr::LOCALHOST.into();
        let loopback6: IpAddr = Ipv6Addr::LOCALHOST.into();
        for (src, dst) in [v4(), v6(), (loopback4, loopback4), (loopback6, loopback6)] {
            for flags in 0..64 {
                let s = TcpSegment {
                    src_port: 0xffff - u16::from(flags),
                    seq_number: u32::MAX - u32::from(flags),
                    ack_number: u32::from(flags) << 24,
                    flags,
                    ..known_segment()
                };
                let bytes = s.emit(src, dst);
                assert_eq!(checksum(src, dst, &bytes), 0, "{src} {flags:#x}");
                // The checksum covers the addresses: another receiver rejects it.
                assert_ne!(checksum(dst, Ipv4Addr::BROADCAST.into(), &bytes), 0);
            }
        }
    }

    #[test]
    fn a_payload_is_covered_by_the_checksum() {
        let (src, dst) = v4();
        let bare = known_segment().emit(src, dst);
        let bytes = known_segment().emit_with_payload(src, dst, b"knock");
        assert_eq!(bytes[..16], bare[..16], "same header up to the checksum");
        assert_eq!(&bytes[HEADER_LEN..], b"knock");
        assert_eq!(checksum(src, dst, &bytes), 0);
        assert_ne!(bytes[16..18], bare[16..18]);
        assert_eq!(known_segment().emit_with_payload(src, dst, &[]), bare);
    }
}
