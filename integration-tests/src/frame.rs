//! Frames for the injector: packets a socket API cannot produce (exact TCP
//! flags, byte-identical duplicates, spoofed sources), built by knockd-testkit's
//! frame builder with valid checksums. Tests that want a malformed packet
//! build a valid one and then damage the bytes.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};

use knock_proto::TcpFlag;
use knockd_core::wire::LinkType;
use knockd_testkit::PacketBuilder;

/// A MAC address.
pub type Mac = [u8; 6];

/// Source ports handed out to new packets, so two packets are only identical when one is a clone.
static NEXT_SOURCE_PORT: AtomicU16 = AtomicU16::new(40_000);

/// The TCP flag byte with exactly `flags` set.
pub fn flag_bits(flags: &[TcpFlag]) -> u8 {
    flags.iter().fold(0, |bits, flag| bits | flag.bit())
}

/// One TCP or UDP packet from a fresh source port; clone it for an exact duplicate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet(PacketBuilder);

impl Packet {
    /// A TCP segment with exactly `flags` set.
    pub fn tcp(
        src: impl Into<IpAddr>,
        dst: impl Into<IpAddr>,
        dst_port: u16,
        flags: &[TcpFlag],
    ) -> Packet {
        let (src, dst) = endpoints(src.into(), dst.into(), dst_port);
        Packet(PacketBuilder::tcp(src, dst, flag_bits(flags)))
    }

    /// A UDP datagram carrying one zero byte (what `knock -u` sends).
    pub fn udp(src: impl Into<IpAddr>, dst: impl Into<IpAddr>, dst_port: u16) -> Packet {
        let (src, dst) = endpoints(src.into(), dst.into(), dst_port);
        Packet(PacketBuilder::udp(src, dst))
    }

    /// The packet inside an Ethernet frame from `src_mac` to `dst_mac`.
    pub fn ethernet_frame(&self, src_mac: Mac, dst_mac: Mac) -> Vec<u8> {
        self.0
            .clone()
            .macs(src_mac, dst_mac)
            .frame(LinkType::Ethernet)
    }

    /// The packet inside an Ethernet frame from `src_mac` to `dst_mac` with
    /// 802.1Q tags of the VLAN ids `vlans` (outermost first).
    pub fn ethernet_vlan_frame(&self, src_mac: Mac, dst_mac: Mac, vlans: &[u16]) -> Vec<u8> {
        self.0.clone().macs(src_mac, dst_mac).ethernet_vlan(vlans)
    }
}

fn endpoints(src: IpAddr, dst: IpAddr, dst_port: u16) -> (SocketAddr, SocketAddr) {
    let src_port = NEXT_SOURCE_PORT.fetch_add(1, Ordering::Relaxed).max(1024);
    (
        SocketAddr::new(src, src_port),
        SocketAddr::new(dst, dst_port),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use knock_proto::Protocol;
    use knockd_core::wire::decode;
    use std::net::Ipv4Addr;

    const CLIENT_MAC: Mac = [0x02, 0, 0, 0, 0, 0x0c];
    const SERVER_MAC: Mac = [0x02, 0, 0, 0, 0, 0x05];

    #[test]
    fn frames_carry_the_macs_and_decode_to_the_packet() {
        let src = Ipv4Addr::new(198, 19, 0, 7);
        let dst = Ipv4Addr::new(198, 18, 1, 1);
        let frame = Packet::tcp(src, dst, 7000, &[TcpFlag::Fin, TcpFlag::Ack])
            .ethernet_frame(CLIENT_MAC, SERVER_MAC);
        assert_eq!(frame[..6], SERVER_MAC);
        assert_eq!(frame[6..12], CLIENT_MAC);
        let packet = decode(LinkType::Ethernet, &frame).unwrap();
        assert_eq!((packet.src, packet.dst), (src.into(), dst.into()));
        assert_eq!((packet.protocol, packet.dst_port), (Protocol::Tcp, 7000));
        assert_eq!(packet.tcp_flags, 0x11);
        let udp = Packet::udp(
            "fd00:1::2".parse::<IpAddr>().unwrap(),
            "fd00:1::1".parse::<IpAddr>().unwrap(),
            5555,
        );
        let packet = decode(
            LinkType::Ethernet,
            &udp.ethernet_frame(CLIENT_MAC, SERVER_MAC),
        )
        .unwrap();
        assert_eq!((packet.protocol, packet.dst_port), (Protocol::Udp, 5555));
    }

    #[test]
    fn clones_are_byte_identical_and_new_packets_are_not() {
        let a = Packet::udp(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1);
        let b = Packet::udp(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, 1);
        let frame = |p: &Packet| p.ethernet_frame(CLIENT_MAC, SERVER_MAC);
        assert_eq!(frame(&a), frame(&a.clone()));
        assert_ne!(frame(&a), frame(&b));
    }
}
