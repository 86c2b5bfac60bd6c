//! Several interfaces: `-i` given twice, one capture each in one loop, each
//! with its own link type, and the host's own knocks counted only where the
//! host sees itself.

use std::net::Ipv4Addr;

use integration_tests::{
    config, door, run_bounded, run_ok, Net, Packet, Pair, Rig, Scratch, TcpFlag, WAIT,
};

/// knockd with `options` listening on the server's veth and on `other`,
/// with one door `door` (7000,8000); returns it and the veth's name.
fn start_on_veth_and(options: &[&str], other: &str) -> (Rig, String) {
    let net = Net::new();
    let scratch = Scratch::new();
    let conf = config(&[door("door", "7000,8000", &scratch.path("out"), &[])]);
    let iface = net.server_iface().to_owned();
    let mut args = options.to_vec();
    args.extend(["-i", &iface, "-i", other]);
    let rig = Rig::start_on(&Pair::ours(), net, scratch, &conf, &args);
    (rig, iface)
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn two_interfaces_both_take_knocks() {
    let (rig, iface) = start_on_veth_and(&["-D"], "lo");
    rig.daemon.expect_log(&format!("listening on {iface}, lo"));

    // On the veth, from the client.
    let client = rig.net.client_v4();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch
        .expect_lines("out", &format!("door {client}"), 1);
    // On lo (an Ethernet-less link of its own), the host knocking itself.
    let output = run_bounded(
        std::process::Command::new("ip")
            .args(["netns", "exec", rig.net.server_ns()])
            .arg(&rig.pair.knock)
            .args(["127.0.0.1", "7000", "8000"]),
        WAIT,
    );
    assert!(output.status.success(), "{output:?}");
    rig.scratch.expect_lines("out", "door 127.0.0.1", 1);
    // A loopback source on the veth is spoofed, whatever lo accepts.
    let spoofed = Ipv4Addr::LOCALHOST;
    let syn = |port| Packet::tcp(spoofed, rig.net.server_v4(), port, &[TcpFlag::Syn]);
    rig.net.send(&[syn(7000), syn(8000)]);
    rig.assert_opened("door", 2);
    let stdout = rig.daemon.stdout();
    assert!(
        stdout.contains("from sources that cannot knock")
            && stdout.contains("the last from 127.0.0.1"),
        "{stdout}"
    );
}

/// One of several interfaces that does not exist yet at start (a VPN's) is
/// waited for like a lost one, while the others serve; alone, it is
/// refused as in 0.8.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn an_interface_that_comes_later_is_waited_for() {
    let (rig, _) = start_on_veth_and(&[], "later0");
    rig.daemon
        .expect_log("--> capture on later0 stopped, retrying every second");
    let client = rig.net.client_v4();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch
        .expect_lines("out", &format!("door {client}"), 1);
    run_ok(
        std::process::Command::new("ip").args([
            "-n",
            rig.net.server_ns(),
            "link",
            "add",
            "later0",
            "type",
            "veth",
            "peer",
            "name",
            "later1",
        ]),
        WAIT,
    );
    run_ok(
        std::process::Command::new("ip").args([
            "-n",
            rig.net.server_ns(),
            "link",
            "set",
            "later0",
            "up",
        ]),
        WAIT,
    );
    rig.daemon.expect_log("capture on later0 restored");

    let alone = run_bounded(
        std::process::Command::new("ip")
            .args(["netns", "exec", rig.net.server_ns()])
            .arg(&rig.pair.knockd)
            .args(["-i", "nosuch0", "-c"])
            .arg(rig.config_path()),
        WAIT,
    );
    assert_eq!(alone.status.code(), Some(1), "{alone:?}");
}
