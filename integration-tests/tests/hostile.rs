//! Hostile traffic against our knockd: spoofed floods and malformed frames must neither stop a
//! real knock nor the daemon. Spoofed sources come from 198.19.0.0/16 and are framed to the
//! server's MAC; the server's replies have no route out of its namespace.

use std::net::Ipv4Addr;

use integration_tests::{spoofed_v4, Packet, Pair, Rig, TcpFlag};

/// How many distinct spoofed sources hit the first port before the real knock.
const FLOOD: u32 = 20_000;
/// How many spoofed first-port hits arrive between two stages of the real knock.
const BETWEEN_STAGES: u32 = 500;

fn syn_from(src: Ipv4Addr, rig: &Rig, port: u16) -> Packet {
    Packet::tcp(src, rig.net.server_v4(), port, &[TcpFlag::Syn])
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn spoofed_first_port_flood_does_not_stop_a_real_knock() {
    let rig = Rig::one_door(
        &Pair::ours(),
        "flooded",
        "7000,8000,9000",
        &["tcpflags = syn"],
        &[],
    );
    let client = rig.net.client_v4();
    let flood = |range: std::ops::Range<u32>| -> Vec<Packet> {
        range.map(|n| syn_from(spoofed_v4(n), &rig, 7000)).collect()
    };

    for chunk in (0..FLOOD).step_by(2_000) {
        rig.net.send(&flood(chunk..chunk + 2_000));
    }
    rig.sync();

    // The real knock, with spoofed first-port hits between its stages.
    let mut packets = vec![syn_from(client, &rig, 7000)];
    packets.extend(flood(FLOOD..FLOOD + BETWEEN_STAGES));
    packets.push(syn_from(client, &rig, 8000));
    packets.extend(flood(FLOOD + BETWEEN_STAGES..FLOOD + 2 * BETWEEN_STAGES));
    packets.push(syn_from(client, &rig, 9000));
    rig.net.send(&packets);
    rig.scratch
        .expect_lines("out", &format!("flooded {client}"), 1);

    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    rig.scratch
        .expect_lines("out", &format!("flooded {client}"), 2);
    // No spoofed source may open.
    rig.assert_opened("flooded", 2);
}

/// Truncated and inconsistent frames from other sources, between the stages of a real knock.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn malformed_frames_do_not_disturb_a_knock() {
    let rig = Rig::one_door(&Pair::ours(), "sturdy", "7000,8000,9000", &[], &[]);
    let (client, mac_src, mac_dst) = (
        rig.net.client_v4(),
        rig.net.client_mac(),
        rig.net.server_mac(),
    );
    let frame = |packet: Packet| packet.ethernet_frame(mac_src, mac_dst);
    let v4 = |port| frame(syn_from(spoofed_v4(7), &rig, port));
    let v6 = |port| {
        frame(Packet::tcp(
            rig.net.host_v6(7),
            rig.net.server_v6(),
            port,
            &[TcpFlag::Syn],
        ))
    };

    let mut malformed = Vec::new();
    for port in [7000, 8000, 9000] {
        malformed.push(v4(port)[..14].to_vec()); // Ethernet header only
        malformed.push(v4(port)[..14 + 10].to_vec()); // IPv4 header cut short
        malformed.push(v4(port)[..14 + 20 + 6].to_vec()); // TCP header cut short
        malformed.push(v6(port)[..14 + 30].to_vec()); // IPv6 header cut short
        malformed.push(v6(port)[..14 + 40 + 4].to_vec()); // TCP over IPv6 cut short
        let mut bad_ihl = v4(port);
        bad_ihl[14] = 0x4f; // IHL of 60 bytes in a 40-byte packet
        malformed.push(bad_ihl);
        let mut long_total = v4(port);
        long_total[16..18].copy_from_slice(&1500u16.to_be_bytes()); // total length beyond the frame
        malformed.push(long_total);
        let mut bad_offset = v4(port);
        bad_offset[14 + 20 + 12] = 0xf0; // TCP data offset of 60 bytes in a 20-byte segment
        malformed.push(bad_offset);
        let mut bad_version = v4(port);
        bad_version[14] = 0x55; // version 5 under the IPv4 EtherType
        malformed.push(bad_version);
        let mut short_udp = frame(Packet::udp(spoofed_v4(8), rig.net.server_v4(), port));
        short_udp[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&2u16.to_be_bytes()); // UDP length below its header
        malformed.push(short_udp);
    }

    let real = |port| frame(syn_from(client, &rig, port));
    let mut frames = vec![real(7000)];
    frames.extend(malformed.iter().cloned());
    frames.push(real(8000));
    frames.extend(malformed.iter().cloned());
    frames.push(real(9000));
    rig.net.send_frames(&frames);

    rig.scratch
        .expect_lines("out", &format!("sturdy {client}"), 1);
    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    rig.scratch
        .expect_lines("out", &format!("sturdy {client}"), 2);
}

/// Knocks whose source cannot be a knocker, injected from the wire: they open nothing and
/// never become `%IP%`; the host's own address knocking over the wire is spoofed too.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn sources_that_cannot_knock_open_nothing() {
    let rig = Rig::one_door(&Pair::ours(), "one", "5000:udp", &[], &["-D"]);
    let server = rig.net.server_v4();
    let sources: [std::net::IpAddr; 6] = [
        Ipv4Addr::UNSPECIFIED.into(),
        Ipv4Addr::BROADCAST.into(),
        Ipv4Addr::new(224, 0, 0, 1).into(),
        Ipv4Addr::LOCALHOST.into(),
        server.into(),
        "::".parse().unwrap(),
    ];
    let packets: Vec<Packet> = sources
        .iter()
        .map(|&src| match src {
            std::net::IpAddr::V4(_) => Packet::udp(src, server, 5000),
            std::net::IpAddr::V6(_) => Packet::udp(src, rig.net.server_v6(), 5000),
        })
        .collect();
    rig.net.send(&packets);
    let refused = "ignored 1 knock(s) from sources that cannot knock (unspecified, broadcast, \
                   multicast, or loopback and local addresses from the wire), the last from 0.0.0.0";
    integration_tests::wait_until(integration_tests::WAIT, || {
        rig.daemon.stdout().contains(refused).then_some(())
    })
    .unwrap_or_else(|| panic!("-D says why: {}", rig.daemon.stdout()));
    rig.assert_opened("one", 0);
    assert_eq!(rig.scratch.read("out"), "", "no command ran");
    // A real knocker still opens.
    rig.knock(&["-u", &rig.server_v4(), "5000"]);
    rig.assert_opened("one", 1);
}

/// A reload naming a FIFO or /dev/zero as a one-time sequences file used to block the loop in
/// open() (or grow without bound): now it is refused, the running doors stay, and a pending
/// stop command still runs on time.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_reload_naming_a_fifo_or_dev_zero_keeps_serving_and_stops_on_time() {
    let scratch = integration_tests::Scratch::new();
    let out = scratch.path("out");
    let stop = format!("stop_command = echo stop %IP% >> {}", out.display());
    let door = integration_tests::door("d", "7000,8000", &out, &[&stop, "cmd_timeout = 2"]);
    let config = integration_tests::config(std::slice::from_ref(&door));
    let rig = Rig::start(&Pair::ours(), scratch, &config, &[]);
    let fifo = rig.file("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let client = rig.net.client_v4();

    for (round, one_time) in [fifo.display().to_string(), "/dev/zero".to_owned()]
        .into_iter()
        .enumerate()
    {
        let knocked = std::time::Instant::now();
        rig.knock(&[&rig.server_v4(), "7000", "8000"]);
        let bad = format!("[otp]\n    one_time_sequences = {one_time}\n\n");
        rig.scratch.write(
            "knockd.conf",
            &integration_tests::config(&[door.clone(), bad]),
        );
        rig.daemon.signal(nix::sys::signal::Signal::SIGHUP);
        rig.daemon.expect_stderr(&format!(
            "{one_time}: not a regular file --> keeping the previous configuration"
        ));
        rig.scratch
            .expect_lines("out", &format!("stop {client}"), round + 1);
        let took = knocked.elapsed();
        assert!(
            took < std::time::Duration::from_secs(4),
            "the 2 s stop came after {took:?}"
        );
    }
    rig.assert_opened("d", 2);
}

/// Knocks in flight across a storm of reloads are all seen: a reload that changes no door
/// leaves the capture and its kernel filter alone (0.8 lost 1 of 1604 at 85 reloads/s).
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn no_knock_is_lost_across_a_storm_of_reloads() {
    const KNOCKS: u32 = 1000;
    let rig = Rig::one_door(&Pair::ours(), "one", "5000:udp", &[], &[]);
    let server = rig.net.server_v4();
    for chunk in 0..KNOCKS / 5 {
        let packets: Vec<Packet> = (chunk * 5..chunk * 5 + 5)
            .map(|n| Packet::udp(spoofed_v4(n), server, 5000))
            .collect();
        rig.net.send(&packets);
        rig.daemon.signal(nix::sys::signal::Signal::SIGHUP);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    rig.daemon
        .expect_log_count("one: OPEN SESAME", KNOCKS as usize);
    rig.sync();
    assert!(
        rig.daemon.log_count("re-reading config file") > 10,
        "reloads happened meanwhile"
    );
}
