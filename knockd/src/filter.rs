//! The kernel capture (BPF) filter: which packets reach user space at all.
//!
//! For IPv4 the expression has exactly knockd 0.8's shape, one sub-expression
//! per door and address family, joined with ` or `:
//!
//! ```text
//! ((dst host A1 or dst host A2) and (((tcp dst port P1 or P2) and tcp[tcpflags] & tcp-syn != 0) or (udp dst port Q1)))
//! ```
//!
//! For IPv6 it differs where 0.8 is wrong. libpcap's `tcp dst port` only looks
//! at the fixed header's next-header field, so a knock carrying an extension
//! header never matched 0.8's filter. The IPv6 part therefore also passes
//! every packet to a local address whose next header is one of the extension
//! headers the decoder walks ([`crate::wire::IPV6_EXTENSION_HEADERS`]); user
//! space then checks port, protocol and flags itself. The flag test keeps
//! 0.8's `ip6[13+40]`, which is right exactly when the fixed header is followed
//! directly by TCP — the only case `tcp dst port` matches for IPv6.
//!
//! Other differences from 0.8: a door with a `Target` gets one sub-expression,
//! for the target's family, listing the target once (0.8 repeats it once per
//! local address and also puts an IPv4 target into the IPv6 part); an
//! interface without any address (or `-i any`) gets a port-only filter instead
//! of none; a configuration without enabled doors gets a filter that matches
//! nothing instead of none.

use std::fmt::Write as _;
use std::net::IpAddr;

use knock_proto::{Protocol, Sequence, TcpFlags};

use crate::wire::IPV6_EXTENSION_HEADERS;

/// A filter that passes nothing: no door is enabled. libpcap's optimizer
/// refuses expressions it can prove empty (`ip and not ip`), but not this one
/// (`len` is unsigned, so it is never below 0).
pub const MATCH_NOTHING: &str = "len < 0";

/// What the filter needs to know about one enabled door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterDoor<'a> {
    /// The door's name, for the debug line.
    pub name: &'a str,
    /// The sequence currently active (for one-time doors: the current line).
    pub sequence: &'a Sequence,
    /// The door's `TCPFlags`.
    pub tcp_flags: TcpFlags,
    /// The door's `Target`: knocks must be addressed to it instead of the
    /// interface's own addresses.
    pub target: Option<IpAddr>,
}

/// One door's sub-expression for one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorExpression {
    /// The door's name.
    pub door: String,
    /// The sub-expression, as printed by `adding pcap expression for door '<door>': <expr>`.
    pub expression: String,
}

/// The generated filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureFilter {
    /// The sub-expressions in 0.8's order: door 1 IPv4, door 1 IPv6, door 2 IPv4, ...
    pub per_door: Vec<DoorExpression>,
    /// All sub-expressions joined with ` or ` ([`MATCH_NOTHING`] if there are none).
    pub whole: String,
}

/// The address families, with what differs between their sub-expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// The address clause when the interface has no address at all.
    fn any_destination(self) -> &'static str {
        match self {
            Family::V4 => "ip",
            Family::V6 => "ip6",
        }
    }

    /// Where the TCP flag byte is. libpcap's `tcp[]` only works for IPv4.
    fn tcp_flags_operand(self) -> &'static str {
        match self {
            Family::V4 => "tcp[tcpflags]",
            Family::V6 => "ip6[13+40]",
        }
    }
}

/// Builds the filter for `doors` on an interface with the addresses `local`
/// (in kernel discovery order, as [`crate::interfaces::local_addresses`] returns
/// them). With `ipv4_only` (`-4`) there is no IPv6 part.
pub fn expression(doors: &[FilterDoor<'_>], local: &[IpAddr], ipv4_only: bool) -> CaptureFilter {
    let families: &[Family] = if ipv4_only {
        &[Family::V4]
    } else {
        &[Family::V4, Family::V6]
    };
    let per_door: Vec<DoorExpression> = doors
        .iter()
        .flat_map(|door| {
            families.iter().filter_map(move |&family| {
                let destinations = destinations(door.target, local, family)?;
                Some(DoorExpression {
                    door: door.name.to_owned(),
                    expression: format!("(({destinations}) and ({}))", body(door, family)),
                })
            })
        })
        .collect();
    let whole = if per_door.is_empty() {
        MATCH_NOTHING.to_owned()
    } else {
        per_door
            .iter()
            .map(|d| d.expression.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    };
    CaptureFilter { per_door, whole }
}

/// Checks that libpcap compiles `expression` (for an Ethernet link), so a
/// configuration can be validated without opening a device.
pub fn validate(expression: &str) -> Result<(), pcap::Error> {
    pcap::Capture::dead(pcap::Linktype::ETHERNET)?
        .compile(expression, true)
        .map(drop)
}

/// The `dst host` clause of one family, or `None` when the door cannot be
/// knocked in that family.
fn destinations(target: Option<IpAddr>, local: &[IpAddr], family: Family) -> Option<String> {
    if let Some(target) = target {
        return (Family::of(&target) == family).then(|| format!("dst host {target}"));
    }
    if local.is_empty() {
        return Some(family.any_destination().to_owned());
    }
    // 0.8 lists the addresses in reverse discovery order.
    let hosts: Vec<String> = local
        .iter()
        .rev()
        .filter(|addr| Family::of(addr) == family)
        .map(|addr| format!("dst host {addr}"))
        .collect();
    (!hosts.is_empty()).then(|| hosts.join(" or "))
}

/// The port/protocol/flag part of a door's sub-expression.
fn body(door: &FilterDoor<'_>, family: Family) -> String {
    let mut alternatives = Vec::with_capacity(3);
    if let Some(ports) = port_list(door.sequence, Protocol::Tcp) {
        let mut tcp = format!("((tcp dst port {ports})");
        for (flag, set) in door.tcp_flags.constraints() {
            let op = if set { "!=" } else { "==" };
            // Writing to a String cannot fail.
            let _ = write!(
                tcp,
                " and {} & tcp-{} {op} 0",
                family.tcp_flags_operand(),
                flag.bpf_name()
            );
        }
        tcp.push(')');
        alternatives.push(tcp);
    }
    if let Some(ports) = port_list(door.sequence, Protocol::Udp) {
        alternatives.push(format!("(udp dst port {ports})"));
    }
    if family == Family::V6 {
        let chain: Vec<String> = IPV6_EXTENSION_HEADERS
            .iter()
            .map(|next| format!("ip6[6] == {next}"))
            .collect();
        alternatives.push(format!("({})", chain.join(" or ")));
    }
    alternatives.join(" or ")
}

/// `P1 or P2 ...` in sequence order, duplicates kept; `None` without such ports.
fn port_list(sequence: &Sequence, protocol: Protocol) -> Option<String> {
    let ports: Vec<String> = sequence.ports(protocol).map(|p| p.to_string()).collect();
    (!ports.is_empty()).then(|| ports.join(" or "))
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use knock_proto::TcpFlag;

    use super::*;
    use crate::wire::build::PacketBuilder;
    use crate::wire::LinkType;

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
            PacketBuilder::udp(sa("198.18.1.2:4000"), sa("198.18.1.1:7000"))
                .frame(LinkType::Ethernet),
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
}
