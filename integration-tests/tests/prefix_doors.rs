//! Doors for a prefix (`Open_Prefix4`/`Open_Prefix6`): a knock opens the
//! door for the knocker's network, as knockd.conf(5)'s nftables recipe with
//! an interval set lets it, so a client whose address changes inside its
//! /64 between the knock and the connection still gets in.

use std::process::Command;

use integration_tests::{
    config, door_running, require_tools, run_bounded, wait_until, Pair, Rig, Scratch, WAIT,
};

/// The recipe's ruleset: port 2222 accepts the networks in the door's
/// interval sets and drops everyone else.
const GUARD: &str = "table inet knockd {
  set allowed4 { type ipv4_addr; flags interval, timeout; }
  set allowed6 { type ipv6_addr; flags interval, timeout; }
  chain input {
    type filter hook input priority 0;
    tcp dport 2222 ip saddr @allowed4 accept
    tcp dport 2222 ip6 saddr @allowed6 accept
    tcp dport 2222 drop
  }
}
";

/// Whether the client, sending from `source`, reaches port 2222 of the server within 2 s.
fn reaches(rig: &Rig, source: &str) -> bool {
    let server = (rig.net.server_v6(), 2222).into();
    rig.net.client_connects(server, source.parse().ok(), 2)
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn a_door_for_a_64_lets_in_another_address_of_the_knockers_64() {
    require_tools(&["nft", "nc"]);
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let guard = scratch.write("guard.nft", GUARD);
    let start = format!(
        "nft add element inet knockd allowed6 {{ %NET% timeout 60s }} && echo %IP% %NET% %PREFIX% >> {}",
        out.display()
    );
    let stop = "nft delete element inet knockd allowed6 { %NET% }".to_owned();
    let stop_line = format!("stop_command_6 = {stop}");
    let doors = [door_running(
        "ssh",
        "7000,8000,9000",
        "true",
        &[
            &format!("start_command_6 = {start}"),
            &stop_line,
            "cmd_timeout = 60",
            "refresh = yes",
            "open_prefix6 = 64",
        ],
    )];
    let rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &[]);
    let loaded = run_bounded(
        Command::new("ip")
            .args(["netns", "exec", rig.net.server_ns(), "nft", "-f"])
            .arg(&guard),
        WAIT,
    );
    assert!(loaded.status.success(), "{loaded:?}");
    let _service = rig.net.listen_in_server((rig.net.server_v6(), 2222).into());
    let knocker = rig.net.client_v6().to_string();
    let roaming = rig.net.add_client_v6(0x99).to_string();
    assert!(
        !reaches(&rig, &roaming),
        "the guard lets the client in before any knock"
    );

    rig.knock(&[&rig.server_v6(), "7000", "8000", "9000"]);
    rig.assert_opened("ssh", 1);
    let network = format!("{}/64", rig.net.host_v6(0));
    rig.scratch
        .expect_lines_within("out", &format!("{knocker} {network} 64"), 1, WAIT);
    assert!(
        reaches(&rig, &roaming),
        "the other address of the /64 is kept out"
    );

    let status = rig.control(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains(&format!("{knocker} ({network})")), "{text}");
    let closed = rig.control(&["close", "ssh", &roaming]);
    assert!(closed.status.success(), "{closed:?}");
    rig.daemon.expect_log(&format!(
        "{knocker}: ssh: closing on request (knockd close)"
    ));
    let shut = wait_until(WAIT, || (!reaches(&rig, &roaming)).then_some(()));
    assert!(shut.is_some(), "the stop command left the /64 in");
}
