//! The generated capture filter: its text, shape for shape against knockd
//! 0.8's, and what libpcap's compiler makes of it on built frames.

use std::net::{IpAddr, SocketAddr};

use knock_proto::{Sequence, TcpFlag, TcpFlags};
use knockd_core::filter::{expression, CaptureFilter, FilterDoor, MATCH_NOTHING};
use knockd_core::wire::LinkType;
use knockd_testkit::PacketBuilder;

/// Whether libpcap compiles `expression` for an Ethernet link, as the daemon's
/// `--check` asks it.
fn validate(expression: &str) -> Result<(), pcap::Error> {
    pcap::Capture::dead(pcap::Linktype::ETHERNET)?
        .compile(expression, true)
        .map(drop)
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn sa(text: &str) -> SocketAddr {
    text.parse().unwrap()
}

/// The reference interface: 198.18.1.1, fd00:1::1 and a link-local, in
/// the kernel order that made 0.8 print the link-local first.
fn kref_a() -> Vec<IpAddr> {
    vec![
        ip("198.18.1.1"),
        ip("fd00:1::1"),
        ip("fe80::7c99:60ff:fe3e:f25d"),
    ]
}

fn door<'a>(sequence: &'a Sequence, flags: &str) -> FilterDoor<'a> {
    FilterDoor {
        name: "door",
        sequence,
        tcp_flags: TcpFlags::parse(flags).unwrap_or(TcpFlags::ANY),
        target: None,
    }
}

fn texts(filter: &CaptureFilter) -> Vec<&str> {
    filter
        .per_door
        .iter()
        .map(|d| d.expression.as_str())
        .collect()
}

const V6_EXTENSIONS: &str =
    "(ip6[6] == 0 or ip6[6] == 43 or ip6[6] == 44 or ip6[6] == 51 or ip6[6] == 60)";

#[test]
fn syn_door_on_the_reference_interface() {
    let sequence = Sequence::parse("7000,8000,9000").unwrap();
    let filter = expression(&[door(&sequence, "syn")], &kref_a(), false);
    assert_eq!(
        texts(&filter),
        [
            "((dst host 198.18.1.1) and (((tcp dst port 7000 or 8000 or 9000) and tcp[tcpflags] & tcp-syn != 0)))".to_owned(),
            format!("((dst host fe80::7c99:60ff:fe3e:f25d or dst host fd00:1::1) and (((tcp dst port 7000 or 8000 or 9000) and ip6[13+40] & tcp-syn != 0) or {V6_EXTENSIONS}))"),
        ]
    );
    assert!(filter.per_door.iter().all(|d| d.door == "door"));
    assert_eq!(filter.whole, texts(&filter).join(" or "));
    validate(&filter.whole).unwrap();
}

#[test]
fn mixed_and_udp_only_doors() {
    let mixed = Sequence::parse("6001:udp,6002:tcp,6003:udp").unwrap();
    let udp = Sequence::parse("5101:udp,5102:udp").unwrap();
    let local = [ip("198.18.1.1")];
    assert_eq!(
        texts(&expression(&[door(&mixed, "")], &local, false)),
        ["((dst host 198.18.1.1) and (((tcp dst port 6002)) or (udp dst port 6001 or 6003)))"]
    );
    assert_eq!(
        texts(&expression(&[door(&udp, "")], &local, false)),
        ["((dst host 198.18.1.1) and ((udp dst port 5101 or 5102)))"]
    );
}

#[test]
fn flag_clauses_come_in_header_order() {
    let sequence = Sequence::parse("7000").unwrap();
    let d = door(&sequence, "Syn,!ack,fin,!rst,psh,!urg");
    let filter = expression(&[d], &[ip("198.18.1.1"), ip("fd00:1::1")], false);
    let clauses = "& tcp-fin != 0 and {F} & tcp-syn != 0 and {F} & tcp-rst == 0 and {F} & tcp-push != 0 and {F} & tcp-ack == 0 and {F} & tcp-urg == 0";
    assert_eq!(
        texts(&filter),
        [
            format!("((dst host 198.18.1.1) and (((tcp dst port 7000) and tcp[tcpflags] {})))", clauses.replace("{F}", "tcp[tcpflags]")),
            format!("((dst host fd00:1::1) and (((tcp dst port 7000) and ip6[13+40] {}) or {V6_EXTENSIONS}))", clauses.replace("{F}", "ip6[13+40]")),
        ]
    );
    validate(&filter.whole).unwrap();
}

#[test]
fn a_target_replaces_the_local_addresses_in_its_family_only() {
    let sequence = Sequence::parse("7000,8000").unwrap();
    let mut d = door(&sequence, "");
    d.target = Some(ip("198.18.1.99"));
    assert_eq!(
        texts(&expression(&[d], &kref_a(), false)),
        ["((dst host 198.18.1.99) and (((tcp dst port 7000 or 8000))))"]
    );
    d.target = Some(ip("fd00:1::99"));
    assert_eq!(
        texts(&expression(&[d], &[ip("198.18.1.1")], false)),
        [format!(
            "((dst host fd00:1::99) and (((tcp dst port 7000 or 8000)) or {V6_EXTENSIONS}))"
        )]
    );
    assert!(expression(&[d], &kref_a(), true).per_door.is_empty());
}

#[test]
fn several_doors_keep_door_then_family_order() {
    let a = Sequence::parse("7000").unwrap();
    let b = Sequence::parse("8000:udp").unwrap();
    let doors = [
        FilterDoor {
            name: "a",
            ..door(&a, "")
        },
        FilterDoor {
            name: "b",
            ..door(&b, "")
        },
    ];
    let filter = expression(&doors, &[ip("198.18.1.1"), ip("fd00:1::1")], false);
    let names: Vec<&str> = filter.per_door.iter().map(|d| d.door.as_str()).collect();
    assert_eq!(names, ["a", "a", "b", "b"]);
    assert!(filter.per_door[0].expression.contains("198.18.1.1"));
    assert!(filter.per_door[1].expression.contains("fd00:1::1"));
}

#[test]
fn ipv4_only_drops_the_ipv6_part() {
    let sequence = Sequence::parse("7000").unwrap();
    let v4_only: Vec<IpAddr> = kref_a().into_iter().filter(IpAddr::is_ipv4).collect();
    let filter = expression(&[door(&sequence, "syn")], &v4_only, true);
    assert_eq!(filter.per_door.len(), 1);
    assert!(!filter.whole.contains("ip6"));
}

#[test]
fn an_interface_without_addresses_gets_a_port_only_filter() {
    let sequence = Sequence::parse("7000").unwrap();
    let filter = expression(&[door(&sequence, "syn")], &[], false);
    assert_eq!(
        texts(&filter),
        [
            "((ip) and (((tcp dst port 7000) and tcp[tcpflags] & tcp-syn != 0)))".to_owned(),
            format!("((ip6) and (((tcp dst port 7000) and ip6[13+40] & tcp-syn != 0) or {V6_EXTENSIONS}))"),
        ]
    );
    assert_eq!(
        expression(&[door(&sequence, "")], &[], true).per_door.len(),
        1
    );
}

#[test]
fn no_doors_match_nothing() {
    let filter = expression(&[], &kref_a(), false);
    assert!(filter.per_door.is_empty());
    assert_eq!(filter.whole, MATCH_NOTHING);
    let program = dead_compile(&filter.whole);
    for frame in sample_frames() {
        assert!(!program.filter(&frame));
    }
}

#[test]
fn invalid_expressions_are_reported() {
    assert!(validate("tcp dst port 70000").is_err());
}

fn dead_compile(expr: &str) -> pcap::BpfProgram {
    pcap::Capture::dead(pcap::Linktype::ETHERNET)
        .unwrap()
        .compile(expr, true)
        .unwrap()
}

fn sample_frames() -> Vec<Vec<u8>> {
    vec![
        PacketBuilder::tcp(sa("198.18.1.2:4000"), sa("198.18.1.1:7000"), SYN)
            .frame(LinkType::Ethernet),
        PacketBuilder::udp(sa("198.18.1.2:4000"), sa("198.18.1.1:7000")).frame(LinkType::Ethernet),
        PacketBuilder::tcp(sa("[fd00:1::2]:4000"), sa("[fd00:1::1]:7000"), SYN)
            .frame(LinkType::Ethernet),
    ]
}

/// The filter for `doors` on the reference interface, compiled for Ethernet.
fn compiled(doors: &[FilterDoor<'_>]) -> pcap::BpfProgram {
    dead_compile(&expression(doors, &kref_a(), false).whole)
}

fn tcp(src: &str, dst: &str, flags: u8) -> PacketBuilder {
    PacketBuilder::tcp(sa(src), sa(dst), flags)
}

fn udp(src: &str, dst: &str) -> PacketBuilder {
    PacketBuilder::udp(sa(src), sa(dst))
}

#[test]
fn ports_protocols_and_flags_select_packets() {
    let sequence = Sequence::parse("7000,8000:udp").unwrap();
    let program = compiled(&[door(&sequence, "syn,!ack")]);
    let pass = |b: PacketBuilder| program.filter(&b.frame(LinkType::Ethernet));
    for (src, dst) in [
        ("198.18.1.2:4000", "198.18.1.1"),
        ("[fd00:1::2]:4000", "[fd00:1::1]"),
        ("[fd00:1::2]:4000", "[fe80::7c99:60ff:fe3e:f25d]"),
    ] {
        let to = |port: u16| format!("{dst}:{port}");
        assert!(pass(tcp(src, &to(7000), SYN)), "{dst}");
        assert!(
            !pass(tcp(src, &to(7000), SYN | ACK)),
            "{dst}: ack forbidden"
        );
        assert!(!pass(tcp(src, &to(7000), ACK)), "{dst}: syn required");
        assert!(!pass(tcp(src, &to(7001), SYN)), "{dst}: other port");
        assert!(!pass(udp(src, &to(7000))), "{dst}: 7000 is tcp");
        assert!(pass(udp(src, &to(8000))), "{dst}");
        assert!(!pass(tcp(src, &to(8000), SYN)), "{dst}: 8000 is udp");
    }
    assert!(
        !pass(tcp("198.18.1.2:4000", "198.18.1.3:7000", SYN)),
        "not local"
    );
    assert!(
        !pass(tcp("[fd00:1::2]:4000", "[fd00:1::3]:7000", SYN)),
        "not local"
    );
}

#[test]
fn ipv4_options_and_ipv6_extension_headers_reach_user_space() {
    let sequence = Sequence::parse("7000").unwrap();
    let program = compiled(&[door(&sequence, "syn")]);
    let pass = |b: PacketBuilder| program.filter(&b.frame(LinkType::Ethernet));
    // Router alert (4 bytes), then the longest options field (IHL 15).
    let v4 = tcp("198.18.1.2:4000", "198.18.1.1:7000", SYN).ipv4_options(&[0x94, 4, 0, 0]);
    assert!(pass(v4));
    let mut longest = vec![7, 39, 4];
    longest.resize(40, 0);
    assert!(pass(
        tcp("198.18.1.2:4000", "198.18.1.1:7000", SYN).ipv4_options(&longest)
    ));
    let wrong_port = tcp("198.18.1.2:4000", "198.18.1.1:7001", SYN).ipv4_options(&longest);
    assert!(!pass(wrong_port));
    let v6 = tcp("[fd00:1::2]:4000", "[fd00:1::1]:7000", SYN).ipv6_destination_options();
    assert!(pass(v6), "0.8 never saw these (§4.2.4)");
    // User space decides about ports and flags behind extension headers;
    // the kernel only checks the destination.
    let elsewhere = tcp("[fd00:1::2]:4000", "[fd00:1::3]:7000", SYN).ipv6_destination_options();
    assert!(!pass(elsewhere));
}

#[test]
fn targets_select_their_destination() {
    let sequence = Sequence::parse("7000").unwrap();
    let mut d = door(&sequence, "");
    d.target = Some(ip("198.18.1.99"));
    let program = compiled(&[d]);
    let pass = |b: PacketBuilder| program.filter(&b.frame(LinkType::Ethernet));
    assert!(pass(tcp("198.18.1.2:4000", "198.18.1.99:7000", SYN)));
    assert!(!pass(tcp("198.18.1.2:4000", "198.18.1.1:7000", SYN)));
    assert!(!pass(tcp("[fd00:1::2]:4000", "[fd00:1::1]:7000", SYN)));
}

#[test]
fn port_only_filters_work_on_cooked_captures() {
    let sequence = Sequence::parse("7000").unwrap();
    let filter = expression(&[door(&sequence, "syn")], &[], false);
    let program = pcap::Capture::dead(pcap::Linktype::LINUX_SLL)
        .unwrap()
        .compile(&filter.whole, true)
        .unwrap();
    let pass = |b: PacketBuilder| program.filter(&b.frame(LinkType::LinuxSll));
    assert!(pass(tcp("198.18.1.2:4000", "198.18.1.7:7000", SYN)));
    assert!(pass(tcp("[fd00:1::2]:4000", "[fd00:1::7]:7000", SYN)));
    assert!(!pass(tcp("[fd00:1::2]:4000", "[fd00:1::7]:7000", ACK)));
    assert!(!pass(tcp("198.18.1.2:4000", "198.18.1.7:7001", SYN)));
}

#[test]
fn one_door_per_flag_constraint_compiles() {
    let sequence = Sequence::parse("1,2:udp").unwrap();
    for flag in TcpFlag::ALL {
        for negated in [false, true] {
            let spec = format!("{}{}", if negated { "!" } else { "" }, flag.name());
            let filter = expression(&[door(&sequence, &spec)], &kref_a(), false);
            validate(&filter.whole).unwrap();
        }
    }
}
