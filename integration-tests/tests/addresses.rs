//! Addresses that follow the host: knocks to an address added after start
//! count without a reload, and an interface that has no address yet waits
//! for one (0.8 read the addresses once).

use std::net::IpAddr;

use integration_tests::{
    config, door, run_ok, wait_until, Net, Packet, Pair, Rig, Scratch, TcpFlag, WAIT,
};

/// `ip -n <server ns> addr <verb> <addr> dev <server iface> [extra]`.
fn server_addr(net: &Net, verb: &str, addr: &str, extra: &[&str]) {
    run_ok(
        std::process::Command::new("ip")
            .args(["-n", net.server_ns(), "addr", verb, addr, "dev"])
            .arg(net.server_iface())
            .args(extra),
        WAIT,
    );
}

/// Waits for the `-v` line saying the server's addresses now include `addr`.
fn wait_for_change(rig: &Rig, addr: IpAddr) {
    let changed = format!("addresses of {} changed:", rig.net.server_iface());
    let addr = addr.to_string();
    wait_until(WAIT, || {
        let stdout = rig.daemon.stdout();
        let mut lines = stdout.lines();
        lines
            .any(|line| line.contains(&changed) && line.contains(&addr))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no `{changed}` line with {addr}: {}", rig.daemon.stdout()));
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn an_address_added_after_start_is_knocked_without_a_reload() {
    let rig = Rig::one_door(&Pair::ours(), "ssh", "7000,8000", &[], &[]);
    let (v4, v6) = (rig.net.host_v4(77), rig.net.host_v6(77));
    server_addr(&rig.net, "add", &format!("{v4}/24"), &[]);
    wait_for_change(&rig, v4.into());
    server_addr(&rig.net, "add", &format!("{v6}/64"), &["nodad"]);
    wait_for_change(&rig, v6.into());

    rig.knock(&[&v4.to_string(), "7000", "8000"]);
    rig.knock(&[&v6.to_string(), "7000", "8000"]);
    let (client, client6) = (rig.net.client_v4(), rig.net.client_v6());
    rig.scratch.expect_lines("out", &format!("ssh {client}"), 1);
    rig.scratch
        .expect_lines("out", &format!("ssh {client6}"), 1);
    assert_eq!(rig.daemon.log_count("re-reading config"), 0, "no reload");
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn an_interface_without_an_address_waits_for_its_first_one() {
    let net = Net::new();
    run_ok(
        std::process::Command::new("ip")
            .args(["-n", net.server_ns(), "addr", "flush", "dev"])
            .arg(net.server_iface()),
        WAIT,
    );
    let scratch = Scratch::new();
    let conf = config(&[door("ssh", "7000,8000", &scratch.path("out"), &[])]);
    let rig = Rig::start_on(&Pair::ours(), net, scratch, &conf, &[]);
    let iface = rig.net.server_iface().to_owned();
    rig.daemon
        .expect_log(&format!("{iface} has no address yet: waiting for one"));
    // Frames to the address the interface does not have yet: no knock.
    let (client, server) = (rig.net.client_v4(), rig.net.server_v4());
    let syn = |port| Packet::tcp(client, server, port, &[TcpFlag::Syn]);
    rig.net.send(&[syn(7000), syn(8000)]);

    server_addr(&rig.net, "add", &format!("{server}/24"), &[]);
    wait_for_change(&rig, server.into());
    rig.knock(&[&server.to_string(), "7000", "8000"]);
    rig.scratch.expect_lines("out", &format!("ssh {client}"), 1);
    rig.assert_opened("ssh", 1);
}
