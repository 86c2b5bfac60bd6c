//! The frame builder: one TCP or UDP packet, wrapped in any link layer.
//!
//! Every frame carries valid checksums (IPv4 header, TCP, UDP) so it looks like
//! a real capture to libpcap filters, to knockd's decoder and to anyone
//! reading a fixture with tcpdump. TCP segments come from knock-proto's
//! segment writer, the same one the client sends raw knocks with.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use knock_proto::segment::TcpSegment;
use knock_proto::{checksum, Protocol};
use knockd_core::wire::{
    LinkType, AF_INET, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
    IPV6_DEST_OPTS, PROTO_TCP, PROTO_UDP,
};
use knockd_core::Packet;

/// Destination MAC of built Ethernet frames (locally administered).
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Source MAC of built Ethernet frames (locally administered).
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
/// The longest IPv4 options field (IHL 15).
const MAX_IPV4_OPTIONS: usize = 40;

/// The transport header of a built packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A TCP segment with this flag byte.
    Tcp {
        /// The flag byte (offset 13).
        flags: u8,
    },
    /// A UDP datagram.
    Udp,
}

/// Builds one TCP or UDP packet and wraps it in any supported link layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PacketBuilder {
    src: SocketAddr,
    dst: SocketAddr,
    transport: Transport,
    payload: Vec<u8>,
    ipv4_options: Vec<u8>,
    ipv6_destination_options: bool,
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
}

impl PacketBuilder {
    /// A TCP segment from `src` to `dst` with the given flag byte.
    pub fn tcp(src: SocketAddr, dst: SocketAddr, flags: u8) -> Self {
        PacketBuilder::new(src, dst, Transport::Tcp { flags })
    }

    /// A UDP datagram from `src` to `dst`, carrying one zero byte like `knock -u`.
    pub fn udp(src: SocketAddr, dst: SocketAddr) -> Self {
        PacketBuilder::new(src, dst, Transport::Udp).payload(&[0])
    }

    /// The packet that decodes to `packet` (UDP with an empty payload).
    pub fn from_packet(packet: &Packet) -> Self {
        let src = SocketAddr::new(packet.src, packet.src_port);
        let dst = SocketAddr::new(packet.dst, packet.dst_port);
        let transport = match packet.protocol {
            Protocol::Tcp => Transport::Tcp {
                flags: packet.tcp_flags,
            },
            Protocol::Udp => Transport::Udp,
        };
        PacketBuilder::new(src, dst, transport)
    }

    fn new(src: SocketAddr, dst: SocketAddr, transport: Transport) -> Self {
        // Mixed families cannot be one packet: widen the IPv4 side to its
        // IPv4-mapped IPv6 form, as `ip()` will.
        let (src, dst) = if src.is_ipv4() == dst.is_ipv4() {
            (src, dst)
        } else {
            (
                SocketAddr::new(IpAddr::V6(widen(src.ip())), src.port()),
                SocketAddr::new(IpAddr::V6(widen(dst.ip())), dst.port()),
            )
        };
        PacketBuilder {
            src,
            dst,
            transport,
            payload: Vec::new(),
            ipv4_options: Vec::new(),
            ipv6_destination_options: false,
            src_mac: SRC_MAC,
            dst_mac: DST_MAC,
        }
    }

    /// Sets the transport payload.
    pub fn payload(mut self, payload: &[u8]) -> Self {
        self.payload = payload.to_vec();
        self
    }

    /// Adds IPv4 options (padded with end-of-list to a multiple of 4 bytes,
    /// cut at 40); ignored for IPv6.
    pub fn ipv4_options(mut self, options: &[u8]) -> Self {
        self.ipv4_options = options.iter().copied().take(MAX_IPV4_OPTIONS).collect();
        while self.ipv4_options.len() % 4 != 0 {
            self.ipv4_options.push(0);
        }
        self
    }

    /// Puts an (empty, padded) destination-options extension header between the
    /// IPv6 header and the transport header; ignored for IPv4.
    pub fn ipv6_destination_options(mut self) -> Self {
        self.ipv6_destination_options = true;
        self
    }

    /// Sets the source and destination MAC addresses of Ethernet frames (and
    /// the source address of Linux cooked headers); locally administered
    /// placeholders by default.
    pub fn macs(mut self, src: [u8; 6], dst: [u8; 6]) -> Self {
        self.src_mac = src;
        self.dst_mac = dst;
        self
    }

    /// What knockd's decoder returns for this packet.
    pub fn packet(&self) -> Packet {
        let (protocol, tcp_flags) = match self.transport {
            Transport::Tcp { flags } => (Protocol::Tcp, flags),
            Transport::Udp => (Protocol::Udp, 0),
        };
        Packet {
            src: self.src.ip(),
            dst: self.dst.ip(),
            protocol,
            src_port: self.src.port(),
            dst_port: self.dst.port(),
            tcp_flags,
        }
    }

    /// The bare IP packet (what `DLT_RAW` carries).
    pub fn ip(&self) -> Vec<u8> {
        match (self.src.ip(), self.dst.ip()) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => self.ipv4(src, dst),
            (src, dst) => self.ipv6(widen(src), widen(dst)),
        }
    }

    /// The packet in a frame of the given link type.
    pub fn frame(&self, link: LinkType) -> Vec<u8> {
        if link == LinkType::Ethernet {
            return self.ethernet_vlan(&[]);
        }
        let ip = self.ip();
        let ethertype = self.ethertype();
        let mut frame = Vec::with_capacity(ip.len() + 20);
        match link {
            LinkType::Ethernet | LinkType::RawIp => {}
            LinkType::LinuxSll => {
                frame.extend_from_slice(&0u16.to_be_bytes()); // sent to us
                frame.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                frame.extend_from_slice(&6u16.to_be_bytes());
                frame.extend_from_slice(&self.src_mac);
                frame.extend_from_slice(&[0, 0]);
                frame.extend_from_slice(&ethertype.to_be_bytes());
            }
            LinkType::LinuxSll2 => {
                frame.extend_from_slice(&ethertype.to_be_bytes());
                frame.extend_from_slice(&[0, 0]);
                frame.extend_from_slice(&1u32.to_be_bytes()); // interface index
                frame.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
                frame.extend_from_slice(&[0, 6]); // sent to us, address length
                frame.extend_from_slice(&self.src_mac);
                frame.extend_from_slice(&[0, 0]);
            }
            LinkType::Null => frame.extend_from_slice(&self.family().to_ne_bytes()),
            LinkType::Loop => frame.extend_from_slice(&self.family().to_be_bytes()),
        }
        frame.extend_from_slice(&ip);
        frame
    }

    /// An Ethernet frame with the given VLAN ids as tags, outermost first; with
    /// two tags the outer one is an 802.1ad service tag.
    pub fn ethernet_vlan(&self, vlan_ids: &[u16]) -> Vec<u8> {
        let ip = self.ip();
        let mut frame = Vec::with_capacity(ip.len() + 14 + 4 * vlan_ids.len());
        frame.extend_from_slice(&self.dst_mac);
        frame.extend_from_slice(&self.src_mac);
        for (i, id) in vlan_ids.iter().enumerate() {
            let tpid = if i + 1 < vlan_ids.len() {
                ETHERTYPE_QINQ
            } else {
                ETHERTYPE_VLAN
            };
            frame.extend_from_slice(&tpid.to_be_bytes());
            frame.extend_from_slice(&(id & 0x0fff).to_be_bytes());
        }
        frame.extend_from_slice(&self.ethertype().to_be_bytes());
        frame.extend_from_slice(&ip);
        frame
    }

    fn ethertype(&self) -> u16 {
        if self.dst.is_ipv4() {
            ETHERTYPE_IPV4
        } else {
            ETHERTYPE_IPV6
        }
    }

    fn family(&self) -> u32 {
        if self.dst.is_ipv4() {
            AF_INET
        } else {
            libc::AF_INET6.unsigned_abs()
        }
    }

    fn protocol_number(&self) -> u8 {
        match self.transport {
            Transport::Tcp { .. } => PROTO_TCP,
            Transport::Udp => PROTO_UDP,
        }
    }

    /// The transport header and payload, checksummed between `src` and `dst`.
    fn segment(&self, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        match self.transport {
            Transport::Tcp { flags } => TcpSegment {
                src_port: self.src.port(),
                dst_port: self.dst.port(),
                seq_number: 1,
                ack_number: 0,
                flags,
                window: 64240,
            }
            .emit_with_payload(src, dst, &self.payload),
            Transport::Udp => {
                let mut segment = Vec::with_capacity(8 + self.payload.len());
                segment.extend_from_slice(&self.src.port().to_be_bytes());
                segment.extend_from_slice(&self.dst.port().to_be_bytes());
                segment.extend_from_slice(&len16(8 + self.payload.len()).to_be_bytes());
                segment.extend_from_slice(&[0, 0]);
                segment.extend_from_slice(&self.payload);
                let mut sum = checksum::transport(src, dst, PROTO_UDP, &segment);
                if sum == 0 {
                    // RFC 768: a computed zero is sent as all ones (zero means "none").
                    sum = 0xffff;
                }
                if let Some(field) = segment.get_mut(6..8) {
                    field.copy_from_slice(&sum.to_be_bytes());
                }
                segment
            }
        }
    }

    fn ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let protocol = self.protocol_number();
        let segment = self.segment(src.into(), dst.into());

        let header_len = 20 + self.ipv4_options.len();
        let mut packet = Vec::with_capacity(header_len + segment.len());
        packet.push(0x40 | (header_len / 4) as u8);
        packet.push(0); // DSCP/ECN
        packet.extend_from_slice(&len16(header_len + segment.len()).to_be_bytes());
        packet.extend_from_slice(&[0, 0, 0x40, 0]); // id 0, don't fragment
        packet.extend_from_slice(&[64, protocol, 0, 0]); // TTL, protocol, checksum
        packet.extend_from_slice(&src.octets());
        packet.extend_from_slice(&dst.octets());
        packet.extend_from_slice(&self.ipv4_options);
        let sum = checksum::finish(checksum::sum(0, &packet));
        if let Some(field) = packet.get_mut(10..12) {
            field.copy_from_slice(&sum.to_be_bytes());
        }
        packet.extend_from_slice(&segment);
        packet
    }

    fn ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
        let protocol = self.protocol_number();
        let segment = self.segment(src.into(), dst.into());

        let extension: &[u8] = if self.ipv6_destination_options {
            // Next header, length 0 (8 bytes), then a PadN option filling the rest.
            &[protocol, 0, 1, 4, 0, 0, 0, 0]
        } else {
            &[]
        };
        let first_next_header = if extension.is_empty() {
            protocol
        } else {
            IPV6_DEST_OPTS
        };
        let mut packet = Vec::with_capacity(40 + extension.len() + segment.len());
        packet.extend_from_slice(&[0x60, 0, 0, 0]);
        packet.extend_from_slice(&len16(extension.len() + segment.len()).to_be_bytes());
        packet.extend_from_slice(&[first_next_header, 64]);
        packet.extend_from_slice(&src.octets());
        packet.extend_from_slice(&dst.octets());
        packet.extend_from_slice(extension);
        packet.extend_from_slice(&segment);
        packet
    }
}

/// A length as a 16-bit header field; builders are for small test packets,
/// so larger values saturate instead of wrapping.
fn len16(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

/// An address as IPv6 (IPv4 as its IPv4-mapped form).
fn widen(addr: IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}
