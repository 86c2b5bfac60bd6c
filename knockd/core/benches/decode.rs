//! Cost of decoding one captured frame into a [`knockd_core::Packet`], by
//! the shape of the frame: the common SYN over Ethernet, IPv6, VLAN tags, IP
//! options and extension headers, the cooked link types, and the error path
//! of a truncated frame.
//!
//! `cargo bench --bench decode -- --quick` runs in well under a minute.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use knockd_core::wire::{decode, LinkType};
use knockd_testkit::PacketBuilder;

mod common;

const SYN: u8 = 0x02;

fn v4(last: u8, port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 1, last)), port)
}

fn v6(last: u16, port: u16) -> SocketAddr {
    SocketAddr::new(
        IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, last)),
        port,
    )
}

fn decoding(c: &mut Criterion) {
    let syn4 = PacketBuilder::tcp(v4(2, 40000), v4(1, 7000), SYN);
    let syn6 = PacketBuilder::tcp(v6(2, 40000), v6(1, 7000), SYN);
    let mut truncated = syn4.frame(LinkType::Ethernet);
    truncated.truncate(14 + 20 + 10);
    let frames: [(&str, LinkType, Vec<u8>); 7] = [
        (
            "ethernet_ipv4_syn",
            LinkType::Ethernet,
            syn4.frame(LinkType::Ethernet),
        ),
        (
            "ethernet_ipv6_syn",
            LinkType::Ethernet,
            syn6.frame(LinkType::Ethernet),
        ),
        // Priority tags (VLAN 0): a frame of a real VLAN is refused at its
        // tag, as it counts on that VLAN's own interface.
        (
            "ethernet_2_vlan_tags_ipv4_syn",
            LinkType::Ethernet,
            syn4.ethernet_vlan(&[0, 0]),
        ),
        (
            "ethernet_ipv4_options_syn",
            LinkType::Ethernet,
            syn4.clone()
                .ipv4_options(&[1; 40])
                .frame(LinkType::Ethernet),
        ),
        (
            "ethernet_ipv6_destination_options_syn",
            LinkType::Ethernet,
            syn6.clone()
                .ipv6_destination_options()
                .frame(LinkType::Ethernet),
        ),
        (
            "sll2_ipv4_udp",
            LinkType::LinuxSll2,
            PacketBuilder::udp(v4(2, 40000), v4(1, 9000)).frame(LinkType::LinuxSll2),
        ),
        ("ethernet_truncated_tcp", LinkType::Ethernet, truncated),
    ];

    // Measure the paths named, not an early error.
    for (name, link, frame) in &frames {
        let truncated = name.ends_with("truncated_tcp");
        assert_eq!(decode(*link, frame).is_err(), truncated, "{name}");
    }

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(1));
    for (name, link, frame) in &frames {
        group.bench_function(*name, |b| {
            b.iter(|| decode(black_box(*link), black_box(frame)))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::short_runs();
    targets = decoding
}
criterion_main!(benches);
