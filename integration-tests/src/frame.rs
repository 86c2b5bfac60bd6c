//! Hand-built Ethernet frames: IPv4/IPv6 carrying one TCP segment or UDP datagram.
//!
//! The injector needs frames a socket API cannot produce (exact TCP flags,
//! byte-identical duplicates, spoofed sources, broken headers), so they are
//! assembled here byte by byte with correct checksums; tests that want a
//! malformed packet build a valid one and then damage the bytes.

use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};

use knock_proto::TcpFlag;

/// A MAC address.
pub type Mac = [u8; 6];

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_UDP: u8 = 17;
const ETHERNET_LEN: usize = 14;
const IPV4_LEN: usize = 20;
const IPV6_LEN: usize = 40;
const TCP_LEN: usize = 20;
const UDP_LEN: usize = 8;

/// Source ports handed out to new packets, so two packets are only identical when one is a clone.
static NEXT_SOURCE_PORT: AtomicU16 = AtomicU16::new(40_000);

/// What rides on top of IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A TCP segment without payload.
    Tcp {
        /// The flag byte (offset 13 of the TCP header).
        flags: u8,
        /// The sequence number.
        seq: u32,
    },
    /// A UDP datagram.
    Udp {
        /// The datagram payload.
        payload: Vec<u8>,
    },
}

/// One IP packet to be framed; both addresses must be of the same family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Source address (may be spoofed).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// TCP or UDP part.
    pub transport: Transport,
}

/// Why a packet cannot be framed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Source and destination are of different address families.
    MixedFamilies,
    /// The payload does not fit in one IP packet.
    TooLong,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::MixedFamilies => f.write_str("source and destination families differ"),
            FrameError::TooLong => f.write_str("payload too long for one IP packet"),
        }
    }
}

impl std::error::Error for FrameError {}

/// The TCP flag byte with exactly `flags` set.
pub fn flag_bits(flags: &[TcpFlag]) -> u8 {
    flags.iter().fold(0, |bits, flag| bits | flag.bit())
}

impl Packet {
    /// A TCP segment with exactly `flags` set, from a fresh source port.
    pub fn tcp(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        dst_port: u16,
        flags: &[TcpFlag],
    ) -> Packet {
        let src_port = next_source_port();
        Packet {
            src: src.into(),
            dst: dst.into(),
            src_port,
            dst_port,
            transport: Transport::Tcp {
                flags: flag_bits(flags),
                seq: u32::from(src_port).wrapping_mul(0x9e37_79b9),
            },
        }
    }

    /// A UDP datagram carrying one zero byte (what `knock -u` sends), from a fresh source port.
    pub fn udp(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, dst_port: u16) -> Packet {
        Packet {
            src: src.into(),
            dst: dst.into(),
            src_port: next_source_port(),
            dst_port,
            transport: Transport::Udp { payload: vec![0] },
        }
    }

    /// The packet inside an Ethernet frame from `src_mac` to `dst_mac`.
    pub fn ethernet_frame(&self, src_mac: Mac, dst_mac: Mac) -> Result<Vec<u8>, FrameError> {
        let transport = self.transport_bytes();
        let (ethertype, ip) = match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => (
                ETHERTYPE_IPV4,
                ipv4_header(src.octets(), dst.octets(), self.protocol(), transport.len())?,
            ),
            (IpAddr::V6(src), IpAddr::V6(dst)) => (
                ETHERTYPE_IPV6,
                ipv6_header(src.octets(), dst.octets(), self.protocol(), transport.len())?,
            ),
            _ => return Err(FrameError::MixedFamilies),
        };
        let mut transport = transport;
        let checksum = transport_checksum(self.src, self.dst, self.protocol(), &transport);
        let offset = match self.transport {
            Transport::Tcp { .. } => 16,
            Transport::Udp { .. } => 6,
        };
        transport[offset..offset + 2].copy_from_slice(&checksum.to_be_bytes());

        let mut frame = Vec::with_capacity(ETHERNET_LEN + ip.len() + transport.len());
        frame.extend_from_slice(&dst_mac);
        frame.extend_from_slice(&src_mac);
        frame.extend_from_slice(&ethertype.to_be_bytes());
        frame.extend_from_slice(&ip);
        frame.extend_from_slice(&transport);
        Ok(frame)
    }

    fn protocol(&self) -> u8 {
        match self.transport {
            Transport::Tcp { .. } => IPPROTO_TCP,
            Transport::Udp { .. } => IPPROTO_UDP,
        }
    }

    /// The TCP or UDP header (+ payload) with a zero checksum field.
    fn transport_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&self.src_port.to_be_bytes());
        bytes.extend_from_slice(&self.dst_port.to_be_bytes());
        match &self.transport {
            Transport::Tcp { flags, seq } => {
                bytes.extend_from_slice(&seq.to_be_bytes());
                bytes.extend_from_slice(&0u32.to_be_bytes()); // ack number
                bytes.push((TCP_LEN as u8 / 4) << 4); // data offset, no options
                bytes.push(*flags);
                bytes.extend_from_slice(&64_240u16.to_be_bytes()); // window
                bytes.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
            }
            Transport::Udp { payload } => {
                let len = u16::try_from(UDP_LEN + payload.len()).unwrap_or(u16::MAX);
                bytes.extend_from_slice(&len.to_be_bytes());
                bytes.extend_from_slice(&[0, 0]); // checksum
                bytes.extend_from_slice(payload);
            }
        }
        bytes
    }
}

fn next_source_port() -> u16 {
    // Stay within 40000..=60000 so hand-built sources look like ephemeral ports.
    let port = NEXT_SOURCE_PORT.fetch_add(1, Ordering::Relaxed);
    40_000 + port % 20_000
}

fn ipv4_header(
    src: [u8; 4],
    dst: [u8; 4],
    protocol: u8,
    payload_len: usize,
) -> Result<Vec<u8>, FrameError> {
    let total = u16::try_from(IPV4_LEN + payload_len).map_err(|_| FrameError::TooLong)?;
    let mut header = Vec::with_capacity(IPV4_LEN);
    header.push(0x45); // version 4, IHL 5
    header.push(0);
    header.extend_from_slice(&total.to_be_bytes());
    header.extend_from_slice(&[0, 0, 0x40, 0]); // id 0, DF, offset 0
    header.push(64); // TTL
    header.push(protocol);
    header.extend_from_slice(&[0, 0]); // checksum
    header.extend_from_slice(&src);
    header.extend_from_slice(&dst);
    let checksum = finish(sum_words(0, &header));
    header[10..12].copy_from_slice(&checksum.to_be_bytes());
    Ok(header)
}

fn ipv6_header(
    src: [u8; 16],
    dst: [u8; 16],
    next: u8,
    payload_len: usize,
) -> Result<Vec<u8>, FrameError> {
    let len = u16::try_from(payload_len).map_err(|_| FrameError::TooLong)?;
    let mut header = Vec::with_capacity(IPV6_LEN);
    header.extend_from_slice(&[0x60, 0, 0, 0]); // version 6, no class/flow
    header.extend_from_slice(&len.to_be_bytes());
    header.push(next);
    header.push(64); // hop limit
    header.extend_from_slice(&src);
    header.extend_from_slice(&dst);
    Ok(header)
}

/// The TCP/UDP checksum over the pseudo-header and `segment` (whose checksum field is zero).
fn transport_checksum(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> u16 {
    let mut pseudo = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, protocol]);
            pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
        }
        _ => {
            pseudo.extend_from_slice(&ip_octets(src));
            pseudo.extend_from_slice(&ip_octets(dst));
            pseudo.extend_from_slice(&(segment.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, protocol]);
        }
    }
    let checksum = finish(sum_words(sum_words(0, &pseudo), segment));
    // UDP sends a computed zero as all ones (zero means "no checksum").
    if protocol == IPPROTO_UDP && checksum == 0 {
        0xffff
    } else {
        checksum
    }
}

fn ip_octets(addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

/// Adds `bytes` as big-endian 16-bit words (odd tail padded with zero) to `sum`.
fn sum_words(sum: u32, bytes: &[u8]) -> u32 {
    bytes.chunks(2).fold(sum, |sum, pair| {
        let word = match pair {
            [hi, lo] => u16::from_be_bytes([*hi, *lo]),
            [hi] => u16::from_be_bytes([*hi, 0]),
            _ => 0,
        };
        let sum = sum + u32::from(word);
        (sum & 0xffff) + (sum >> 16)
    })
}

fn finish(sum: u32) -> u16 {
    let folded = (sum & 0xffff) + (sum >> 16);
    !(folded as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: Mac = [2, 0, 0, 0, 0, 1];
    const B: Mac = [2, 0, 0, 0, 0, 2];

    #[test]
    fn ipv4_header_checksum_matches_known_vector() {
        let header =
            ipv4_header([192, 168, 0, 1], [192, 168, 0, 199], IPPROTO_UDP, 0x73 - 20).unwrap();
        // The classic example header differs only in id/flags; recompute with them zeroed.
        assert_eq!(finish(sum_words(0, &header)), 0);
        let mut example = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let checksum = finish(sum_words(0, &example));
        assert_eq!(checksum, 0xb861);
        example[10..12].copy_from_slice(&checksum.to_be_bytes());
        assert_eq!(header, example);
    }

    #[test]
    fn ipv4_tcp_frame_layout_and_checksums() {
        let packet = Packet::tcp(
            Ipv4Addr::new(198, 18, 1, 2),
            Ipv4Addr::new(198, 18, 1, 1),
            7000,
            &[TcpFlag::Fin, TcpFlag::Ack],
        );
        let frame = packet.ethernet_frame(A, B).unwrap();
        assert_eq!(frame.len(), ETHERNET_LEN + IPV4_LEN + TCP_LEN);
        assert_eq!(&frame[0..6], &B);
        assert_eq!(&frame[6..12], &A);
        assert_eq!(&frame[12..14], &[0x08, 0x00]);
        let ip = &frame[ETHERNET_LEN..ETHERNET_LEN + IPV4_LEN];
        assert_eq!(finish(sum_words(0, ip)), 0);
        assert_eq!(ip[9], IPPROTO_TCP);
        let tcp = &frame[ETHERNET_LEN + IPV4_LEN..];
        assert_eq!(u16::from_be_bytes([tcp[2], tcp[3]]), 7000);
        assert_eq!(tcp[13], 0x11);
        // A correct checksum makes the sum over pseudo-header + segment fold to zero.
        let mut pseudo = vec![
            198,
            18,
            1,
            2,
            198,
            18,
            1,
            1,
            0,
            IPPROTO_TCP,
            0,
            TCP_LEN as u8,
        ];
        pseudo.extend_from_slice(tcp);
        assert_eq!(finish(sum_words(0, &pseudo)), 0);
    }

    #[test]
    fn ipv6_udp_frame_layout_and_checksum() {
        let src: Ipv6Addr = "fd00:1::2".parse().unwrap();
        let dst: Ipv6Addr = "fd00:1::1".parse().unwrap();
        let frame = Packet::udp(src, dst, 2222).ethernet_frame(A, B).unwrap();
        assert_eq!(frame.len(), ETHERNET_LEN + IPV6_LEN + UDP_LEN + 1);
        assert_eq!(&frame[12..14], &[0x86, 0xdd]);
        let ip = &frame[ETHERNET_LEN..ETHERNET_LEN + IPV6_LEN];
        assert_eq!(ip[0] >> 4, 6);
        assert_eq!(u16::from_be_bytes([ip[4], ip[5]]), 9);
        assert_eq!(ip[6], IPPROTO_UDP);
        let udp = &frame[ETHERNET_LEN + IPV6_LEN..];
        assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 2222);
        assert_ne!(u16::from_be_bytes([udp[6], udp[7]]), 0);
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&[0, 0, 0, 9, 0, 0, 0, IPPROTO_UDP]);
        pseudo.extend_from_slice(udp);
        assert_eq!(finish(sum_words(0, &pseudo)), 0);
    }

    #[test]
    fn mixed_families_are_refused() {
        let packet = Packet::udp(Ipv4Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 1);
        assert_eq!(packet.ethernet_frame(A, B), Err(FrameError::MixedFamilies));
    }

    #[test]
    fn oversized_payload_is_refused() {
        let mut packet = Packet::udp(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1);
        packet.transport = Transport::Udp {
            payload: vec![0; 70_000],
        };
        assert_eq!(packet.ethernet_frame(A, B), Err(FrameError::TooLong));
    }

    #[test]
    fn clones_are_byte_identical_and_new_packets_are_not() {
        let first = Packet::tcp(
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::LOCALHOST,
            8000,
            &[TcpFlag::Syn],
        );
        let second = Packet::tcp(
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::LOCALHOST,
            8000,
            &[TcpFlag::Syn],
        );
        assert_eq!(
            first.ethernet_frame(A, B),
            first.clone().ethernet_frame(A, B)
        );
        assert_ne!(first.ethernet_frame(A, B), second.ethernet_frame(A, B));
    }
}
