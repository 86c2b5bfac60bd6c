//! The frame decoder against built frames of every link type, truncations
//! and corruptions at every layer, and arbitrary bytes.

use std::net::{IpAddr, SocketAddr};

use knock_proto::{checksum, Protocol};
use knockd_core::wire::*;
use knockd_core::Packet;
use knockd_testkit::PacketBuilder;
use proptest::prelude::*;

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn sa(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// TCP and UDP, IPv4 and IPv6, with empty payloads: every byte is header.
fn header_only_samples() -> Vec<PacketBuilder> {
    let tcp4 = PacketBuilder::tcp(sa("198.18.1.2:40000"), sa("198.18.1.1:7000"), SYN);
    let tcp6 = PacketBuilder::tcp(sa("[fd00:1::2]:40000"), sa("[fd00:1::1]:7000"), SYN | ACK);
    let udp4 = PacketBuilder::udp(sa("198.18.1.2:40001"), sa("198.18.1.1:6001")).payload(&[]);
    let udp6 = PacketBuilder::udp(sa("[fd00:1::2]:40001"), sa("[fd00:1::1]:6001")).payload(&[]);
    vec![
        tcp4.clone().ipv4_options(&[0x94, 0x04, 0, 0]),
        tcp6.clone().ipv6_destination_options(),
        tcp4,
        tcp6,
        udp4,
        udp6,
    ]
}

/// Rewrites the IPv4 header checksum of a raw IPv4 packet after a test edited it.
fn fix_ipv4_checksum(ip: &mut [u8]) {
    let header_len = usize::from(ip[0] & 0x0f) * 4;
    ip[10] = 0;
    ip[11] = 0;
    let sum = checksum::finish(checksum::sum(0, &ip[..header_len.min(ip.len())]));
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
}

fn tcp4() -> PacketBuilder {
    PacketBuilder::tcp(sa("198.18.1.2:40000"), sa("198.18.1.1:7000"), SYN)
}

fn tcp6() -> PacketBuilder {
    PacketBuilder::tcp(sa("[fd00:1::2]:40000"), sa("[fd00:1::1]:7000"), SYN)
}

#[test]
fn every_link_type_decodes_tcp_and_udp_of_both_families() {
    let samples = [
        tcp4(),
        tcp6(),
        PacketBuilder::udp(sa("198.18.1.2:5000"), sa("198.18.1.1:6001")),
        PacketBuilder::udp(sa("[fd00:1::2]:5000"), sa("[fd00:1::1]:6001")),
    ];
    for link in LinkType::ALL {
        for sample in &samples {
            let frame = sample.frame(link);
            assert_eq!(
                decode(link, &frame),
                Ok(sample.packet()),
                "{link}: {frame:02x?}"
            );
        }
    }
}

#[test]
fn decoded_fields_are_the_wire_fields() {
    let packet = decode(LinkType::Ethernet, &tcp4().frame(LinkType::Ethernet)).unwrap();
    assert_eq!(packet.src, "198.18.1.2".parse::<IpAddr>().unwrap());
    assert_eq!(packet.dst, "198.18.1.1".parse::<IpAddr>().unwrap());
    assert_eq!(packet.protocol, Protocol::Tcp);
    assert_eq!((packet.src_port, packet.dst_port), (40000, 7000));
    assert_eq!(packet.tcp_flags, SYN);
    let udp = PacketBuilder::udp(sa("[fd00:1::2]:5000"), sa("[fd00:1::1]:6001"));
    let packet = decode(LinkType::RawIp, &udp.ip()).unwrap();
    assert_eq!(packet.protocol, Protocol::Udp);
    assert_eq!(packet.tcp_flags, 0);
}

#[test]
fn dlt_values_map_to_link_types() {
    assert_eq!(LinkType::from_dlt(1), Some(LinkType::Ethernet));
    assert_eq!(LinkType::from_dlt(113), Some(LinkType::LinuxSll));
    assert_eq!(LinkType::from_dlt(276), Some(LinkType::LinuxSll2));
    for raw in [14, 101, 228, 229] {
        assert_eq!(LinkType::from_dlt(raw), Some(LinkType::RawIp), "{raw}");
    }
    assert_eq!(LinkType::from_dlt(0), Some(LinkType::Null));
    assert_eq!(LinkType::from_dlt(108), Some(LinkType::Loop));
    assert_eq!(LinkType::from_dlt(105), None); // 802.11
    assert_eq!(LinkType::from_dlt(-1), None);
    for link in LinkType::ALL {
        assert_eq!(LinkType::from_dlt(link.dlt()), Some(link));
    }
}

#[test]
fn one_and_two_vlan_tags_are_walked_a_third_is_refused() {
    for sample in [tcp4(), tcp6()] {
        for tags in [&[7][..], &[100, 7], &[0, 7]] {
            let frame = sample.ethernet_vlan(tags);
            let view = EthernetFrame::new_checked(&frame).unwrap();
            assert_eq!(view.vlan_tags(), tags.len());
            assert_eq!(view.vlan(), tags.iter().copied().find(|&id| id != 0));
        }
        // Priority tags (VLAN 0) carry no VLAN: the frame counts.
        for tags in [&[0][..], &[0, 0]] {
            let frame = sample.ethernet_vlan(tags);
            assert_eq!(decode(LinkType::Ethernet, &frame), Ok(sample.packet()));
        }
        // A third tag is not walked (priority tags, so no VLAN decides first).
        let frame = sample.ethernet_vlan(&[0, 0, 0]);
        assert_eq!(
            decode(LinkType::Ethernet, &frame),
            Err(DecodeError::Unsupported(Unsupported::EtherType(0x8100)))
        );
    }
}

#[test]
fn ethernet_padding_and_snaplen_cut_payloads_are_fine() {
    let mut frame = tcp4().frame(LinkType::Ethernet);
    frame.resize(60, 0); // minimum Ethernet frame, padded after the IP packet
    assert_eq!(decode(LinkType::Ethernet, &frame), Ok(tcp4().packet()));

    let big = tcp4().payload(&[0xab; 1400]);
    let frame = big.frame(LinkType::Ethernet);
    assert_eq!(decode(LinkType::Ethernet, &frame[..512]), Ok(big.packet()));
}

#[test]
fn ipv4_options_are_skipped() {
    // Record-route option (7), padded to 40 bytes of options: IHL 15.
    let mut options = vec![7, 39, 4];
    options.resize(39, 0);
    let sample = tcp4().ipv4_options(&options);
    let ip = sample.ip();
    assert_eq!(ip[0], 0x4f);
    assert_eq!(Ipv4Packet::new_checked(&ip).unwrap().options().len(), 40);
    assert_eq!(decode(LinkType::RawIp, &ip), Ok(sample.packet()));
}

#[test]
fn ipv6_destination_options_are_walked() {
    let sample = tcp6().ipv6_destination_options();
    let ip = sample.ip();
    assert_eq!(Ipv6Packet::new_checked(&ip).unwrap().next_header(), 60);
    for link in LinkType::ALL {
        assert_eq!(
            decode(link, &sample.frame(link)),
            Ok(sample.packet()),
            "{link}"
        );
    }
}

/// An IPv6 TCP packet with the given extension headers (each given as its
/// type and body after the next-header byte) in front of the TCP header.
fn ipv6_with_chain(chain: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let plain = tcp6().ip();
    let (fixed, tcp) = plain.split_at(40);
    let mut extensions = Vec::new();
    for (i, (_, body)) in chain.iter().enumerate() {
        let next = chain.get(i + 1).map_or(6, |(kind, _)| *kind);
        extensions.push(next);
        extensions.extend_from_slice(body);
    }
    let mut packet = fixed.to_vec();
    packet[6] = chain.first().map_or(6, |(kind, _)| *kind);
    let len = u16::try_from(extensions.len() + tcp.len()).unwrap();
    packet[4..6].copy_from_slice(&len.to_be_bytes());
    packet.extend_from_slice(&extensions);
    packet.extend_from_slice(tcp);
    packet
}

/// An 8-byte hop-by-hop / routing / destination-options header body.
fn options_body() -> Vec<u8> {
    vec![0, 1, 4, 0, 0, 0, 0]
}

fn fragment_body(offset: u16, more: bool) -> Vec<u8> {
    let field = (offset << 3) | u16::from(more);
    let mut body = vec![0];
    body.extend_from_slice(&field.to_be_bytes());
    body.extend_from_slice(&[0, 0, 0, 1]);
    body
}

/// AH with a 12-byte ICV: length field 4 → (4 + 2) * 4 = 24 bytes.
fn auth_body() -> Vec<u8> {
    let mut body = vec![4, 0, 0];
    body.resize(23, 0);
    body
}

#[test]
fn a_full_extension_chain_is_walked() {
    let chain = [
        (0, options_body()),
        (43, vec![0, 4, 0, 0, 0, 0, 0]), // routing type 4 (SRH) with no segments left
        (44, fragment_body(0, true)),
        (51, auth_body()),
        (60, options_body()),
    ];
    let ip = ipv6_with_chain(&chain);
    assert_eq!(decode(LinkType::RawIp, &ip), Ok(tcp6().packet()));
    // Longer hop-by-hop header: length 1 → 16 bytes.
    let mut long = vec![1];
    long.resize(15, 0);
    assert_eq!(
        decode(LinkType::RawIp, &ipv6_with_chain(&[(0, long)])),
        Ok(tcp6().packet())
    );
}

#[test]
fn ipv6_chain_errors() {
    let non_first = ipv6_with_chain(&[(44, fragment_body(185, false))]);
    assert_eq!(
        decode(LinkType::RawIp, &non_first),
        Err(DecodeError::Fragment)
    );

    let endless: Vec<(u8, Vec<u8>)> = (0..9).map(|_| (60, options_body())).collect();
    assert!(matches!(
        decode(LinkType::RawIp, &ipv6_with_chain(&endless)),
        Err(DecodeError::Malformed(Layer::Ipv6Extension, _))
    ));
    let eight: Vec<(u8, Vec<u8>)> = (0..8).map(|_| (60, options_body())).collect();
    assert_eq!(
        decode(LinkType::RawIp, &ipv6_with_chain(&eight)),
        Ok(tcp6().packet())
    );

    // An extension length pointing past the end.
    let mut past_end = ipv6_with_chain(&[(60, options_body())]);
    past_end[41] = 200;
    assert_eq!(
        decode(LinkType::RawIp, &past_end),
        Err(DecodeError::Truncated(Layer::Ipv6Extension))
    );

    // ICMPv6 and "no next header" are not knocks.
    let mut icmp = tcp6().ip();
    icmp[6] = 58;
    assert_eq!(
        decode(LinkType::RawIp, &icmp),
        Err(DecodeError::Unsupported(Unsupported::Protocol(58)))
    );
}

#[test]
fn every_prefix_of_a_header_only_frame_is_an_error() {
    for link in LinkType::ALL {
        for sample in header_only_samples() {
            let frame = sample.frame(link);
            assert_eq!(decode(link, &frame), Ok(sample.packet()));
            for len in 0..frame.len() {
                assert!(
                    decode(link, &frame[..len]).is_err(),
                    "{link}: prefix {len} of {frame:02x?}"
                );
            }
        }
    }
}

#[test]
fn cooked_captures_refuse_what_the_host_sent() {
    // `-i any` sees the host's outgoing packets too; Linux's packet type 4.
    let knock = tcp4();
    for (link, at) in [(LinkType::LinuxSll, 1), (LinkType::LinuxSll2, 10)] {
        let mut frame = knock.frame(link);
        assert_eq!(
            decode(link, &frame),
            Ok(knock.packet()),
            "{link}: to the host"
        );
        frame[at] = 4;
        assert_eq!(
            decode(link, &frame),
            Err(DecodeError::Unsupported(Unsupported::Outgoing)),
            "{link}"
        );
    }
}

#[test]
fn a_frame_of_a_vlan_counts_on_its_own_interface_not_on_the_parent() {
    // On the parent the kernel drops it when the host has no such VLAN.
    for tags in [&[7][..], &[100, 7], &[0, 42]] {
        let frame = tcp4().ethernet_vlan(tags);
        let vlan = tags.iter().copied().find(|&id| id != 0).unwrap();
        assert_eq!(
            decode(LinkType::Ethernet, &frame),
            Err(DecodeError::Unsupported(Unsupported::Vlan(vlan))),
            "{tags:?}"
        );
    }
}

#[test]
fn every_prefix_of_a_vlan_frame_is_an_error() {
    let frame = tcp6().ethernet_vlan(&[100, 7]);
    for len in 0..frame.len() {
        assert!(decode(LinkType::Ethernet, &frame[..len]).is_err(), "{len}");
    }
}

#[test]
fn malformed_ipv4_headers() {
    let ip = tcp4().ip();
    let check = |edit: &dyn Fn(&mut Vec<u8>), fix: bool| {
        let mut bad = ip.clone();
        edit(&mut bad);
        if fix {
            fix_ipv4_checksum(&mut bad);
        }
        decode(LinkType::RawIp, &bad)
    };
    for ihl in 0..5 {
        assert_eq!(
            check(&|p| p[0] = 0x40 | ihl, false),
            Err(DecodeError::Malformed(Layer::Ipv4, "IHL below 5")),
            "IHL {ihl}"
        );
    }
    // IHL 15 claims 60 header bytes; the packet is 40 bytes long.
    assert_eq!(
        check(&|p| p[0] = 0x4f, false),
        Err(DecodeError::Truncated(Layer::Ipv4))
    );
    assert_eq!(
        check(&|p| p[2..4].copy_from_slice(&19u16.to_be_bytes()), true),
        Err(DecodeError::Malformed(
            Layer::Ipv4,
            "total length shorter than the header"
        ))
    );
    // A total length that leaves no room for TCP.
    assert_eq!(
        check(&|p| p[2..4].copy_from_slice(&24u16.to_be_bytes()), true),
        Err(DecodeError::Truncated(Layer::Tcp))
    );
    assert_eq!(check(&|p| p[8] ^= 1, false), Err(DecodeError::BadChecksum));
    assert_eq!(check(&|p| p[15] ^= 1, false), Err(DecodeError::BadChecksum));
    // Fragment offset 1 (8 bytes), and the last fragment of a series.
    assert_eq!(
        check(&|p| p[6..8].copy_from_slice(&[0, 1]), true),
        Err(DecodeError::Fragment)
    );
    assert_eq!(
        check(&|p| p[6..8].copy_from_slice(&[0, 0xb9]), true),
        Err(DecodeError::Fragment)
    );
    // A first fragment (more-fragments set, offset 0) still carries the ports.
    assert_eq!(
        check(&|p| p[6..8].copy_from_slice(&[0x20, 0]), true),
        Ok(tcp4().packet())
    );
    // Not TCP/UDP.
    assert_eq!(
        check(&|p| p[9] = 1, true),
        Err(DecodeError::Unsupported(Unsupported::Protocol(1)))
    );
    // Ethernet says IPv4, the header says 6.
    let mut frame = tcp6().frame(LinkType::Ethernet);
    frame[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::Ethernet, &frame),
        Err(DecodeError::Malformed(Layer::Ipv4, "version is not 4"))
    );
}

#[test]
fn malformed_transport_headers() {
    for sample in [tcp4(), tcp6()] {
        let frame = sample.frame(LinkType::Ethernet);
        let tcp_at = frame.len() - 20;
        for offset in 0..5u8 {
            let mut bad = frame.clone();
            bad[tcp_at + 12] = offset << 4;
            assert_eq!(
                decode(LinkType::Ethernet, &bad),
                Err(DecodeError::Malformed(Layer::Tcp, "data offset below 5")),
                "data offset {offset}"
            );
        }
        let mut bad = frame.clone();
        bad[tcp_at + 12] = 6 << 4;
        assert_eq!(
            decode(LinkType::Ethernet, &bad),
            Err(DecodeError::Truncated(Layer::Tcp))
        );
    }
    let udp = PacketBuilder::udp(sa("198.18.1.2:5000"), sa("198.18.1.1:6001"));
    let mut bad = udp.ip();
    bad[20 + 4..20 + 6].copy_from_slice(&7u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::RawIp, &bad),
        Err(DecodeError::Malformed(Layer::Udp, "length below 8"))
    );
}

#[test]
fn unsupported_link_payloads() {
    let mut arp = tcp4().frame(LinkType::Ethernet);
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::Ethernet, &arp),
        Err(DecodeError::Unsupported(Unsupported::EtherType(0x0806)))
    );
    let mut sll = tcp4().frame(LinkType::LinuxSll);
    sll[14..16].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(
        decode(LinkType::LinuxSll, &sll),
        Err(DecodeError::Unsupported(Unsupported::EtherType(0x0806)))
    );
    let mut raw = tcp4().ip();
    raw[0] = 0x55;
    assert_eq!(
        decode(LinkType::RawIp, &raw),
        Err(DecodeError::Unsupported(Unsupported::IpVersion(5)))
    );
    let mut null = tcp4().frame(LinkType::Loop);
    null[..4].copy_from_slice(&17u32.to_be_bytes());
    assert_eq!(
        decode(LinkType::Loop, &null),
        Err(DecodeError::Unsupported(Unsupported::AddressFamily(17)))
    );
}

#[test]
fn loopback_families_of_every_bsd_are_ipv6() {
    for af in [10u32, 24, 28, 30] {
        let mut frame = tcp6().frame(LinkType::Loop);
        frame[..4].copy_from_slice(&af.to_be_bytes());
        assert_eq!(
            decode(LinkType::Loop, &frame),
            Ok(tcp6().packet()),
            "LOOP {af}"
        );
        // NULL from a host of the other byte order.
        frame[..4].copy_from_slice(&af.swap_bytes().to_ne_bytes());
        assert_eq!(
            decode(LinkType::Null, &frame),
            Ok(tcp6().packet()),
            "NULL {af}"
        );
    }
}

#[test]
fn errors_name_their_kind() {
    assert_eq!(
        DecodeError::Truncated(Layer::Tcp).to_string(),
        "truncated TCP header"
    );
    assert_eq!(DecodeError::Fragment.kind().name(), "fragment");
    for (index, kind) in DecodeErrorKind::ALL.into_iter().enumerate() {
        assert_eq!(kind.index(), index, "{kind:?}");
    }
    assert_eq!(
        DecodeError::Unsupported(Unsupported::IpVersion(5)).to_string(),
        "packet is not IPv4 or IPv6 (version 5)"
    );
}

fn arb_link() -> impl Strategy<Value = LinkType> {
    proptest::sample::select(LinkType::ALL.to_vec())
}

fn arb_packet() -> impl Strategy<Value = Packet> {
    let v4 =
        (any::<[u8; 4]>(), any::<[u8; 4]>()).prop_map(|(s, d)| (IpAddr::from(s), IpAddr::from(d)));
    let v6 = (any::<[u8; 16]>(), any::<[u8; 16]>())
        .prop_map(|(s, d)| (IpAddr::from(s), IpAddr::from(d)));
    (
        prop_oneof![v4, v6],
        any::<bool>(),
        any::<u16>(),
        any::<u16>(),
        any::<u8>(),
    )
        .prop_map(|((src, dst), tcp, src_port, dst_port, flags)| Packet {
            src,
            dst,
            protocol: if tcp { Protocol::Tcp } else { Protocol::Udp },
            src_port,
            dst_port,
            tcp_flags: if tcp { flags } else { 0 },
        })
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(link in arb_link(), bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(link, &bytes);
    }

    #[test]
    fn mutated_frames_never_panic(
        link in arb_link(),
        packet in arb_packet(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut frame = PacketBuilder::from_packet(&packet).ipv6_destination_options().frame(link);
        for (at, value) in edits {
            let len = frame.len();
            frame[at % len] = value;
        }
        let _ = decode(link, &frame);
    }

    #[test]
    fn built_packets_decode_to_themselves(link in arb_link(), packet in arb_packet()) {
        prop_assert_eq!(decode(link, &PacketBuilder::from_packet(&packet).frame(link)), Ok(packet));
    }
}

#[test]
fn bsd_loopback_ipv4_header_checksums_are_not_checked() {
    // lo0's checksum offload may hand BPF a header whose checksum nobody computed.
    let knock = tcp4();
    for link in [LinkType::Null, LinkType::Loop] {
        let mut frame = knock.frame(link);
        frame[4 + 10] ^= 0xff;
        assert_eq!(decode(link, &frame), Ok(knock.packet()), "{link}");
    }
    let mut frame = knock.frame(LinkType::RawIp);
    frame[10] ^= 0xff;
    assert_eq!(
        decode(LinkType::RawIp, &frame),
        Err(DecodeError::BadChecksum)
    );
}
