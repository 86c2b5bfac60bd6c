//! The capture.

use super::*;

#[test]
fn capture_lines() {
    check(
        CaptureMessage::Listening {
            interface: "kref-va",
        },
        "listening on kref-va...",
        VERBOSE,
    );
    check(
        CaptureMessage::InterfaceFromDefaultRoute { interface: "ens3" },
        "no interface configured and no eth0: listening on ens3, the interface of the default route",
        LOG | VERBOSE,
    );
    check(
        CaptureMessage::CaptureLost {
            interface: "eth0",
            error: &"pcap: The interface disappeared (eth0)",
        },
        "pcap: The interface disappeared (eth0) --> capture on eth0 stopped, retrying every second",
        LOG | STDERR,
    );
    check(
        CaptureMessage::CaptureRestored { interface: "eth0" },
        "capture on eth0 restored",
        LOG,
    );
    let addrs = [
        IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)),
        IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 1)),
    ];
    check(
        CaptureMessage::AddressesChanged {
            interface: "eth0",
            addrs: &addrs,
        },
        "addresses of eth0 changed: 198.18.1.1, fd00:1::1",
        VERBOSE,
    );
    check(
        CaptureMessage::AddressesChanged {
            interface: "eth0",
            addrs: &[],
        },
        "addresses of eth0 changed: none",
        VERBOSE,
    );
    check(
        CaptureMessage::WaitingForAddress { interface: "wg0" },
        "wg0 has no address yet: waiting for one; until then only doors with a Target can be knocked",
        LOG | VERBOSE,
    );
    check(CaptureMessage::LocalIp(v4()), "local IP: 198.18.1.2", DEBUG);
    check(
        CaptureMessage::PcapExpression {
            door: "seq3",
            expression: "((dst host 198.18.1.1))",
        },
        "adding pcap expression for door 'seq3': ((dst host 198.18.1.1))",
        DEBUG,
    );
}

/// 0.8 printed November as `-10-` (B16 in docs/differences-from-0.8.md); the
/// month must be the real one.
#[test]
fn packet_line_has_the_real_month() {
    let local = Local
        .with_ymd_and_hms(2026, 11, 24, 17, 46, 30)
        .single()
        .unwrap();
    let time = SystemTime::from(local) + Duration::from_millis(250);
    let packet = Packet {
        src: v4(),
        dst: IpAddr::V4(Ipv4Addr::new(198, 18, 1, 1)),
        protocol: Protocol::Tcp,
        src_port: 32820,
        dst_port: 7000,
        tcp_flags: 0x02,
    };
    let message = CaptureMessage::Packet {
        time,
        packet: &packet,
        wire_len: 74,
    };
    assert_eq!(local.month(), 11);
    check(
        message,
        "2026-11-24 17:46:30: tcp: 198.18.1.2:32820 -> 198.18.1.1:7000 74 bytes",
        DEBUG,
    );
    let january = Local
        .with_ymd_and_hms(2027, 1, 5, 8, 0, 1)
        .single()
        .unwrap();
    let datagram = Packet {
        protocol: Protocol::Udp,
        tcp_flags: 0,
        ..packet
    };
    let udp = Message::from(CaptureMessage::Packet {
        time: january.into(),
        packet: &datagram,
        wire_len: 43,
    });
    assert!(
        udp.to_string().starts_with("2027-01-05 08:00:01: udp: "),
        "{udp}"
    );
}
