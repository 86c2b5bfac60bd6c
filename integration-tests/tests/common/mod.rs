//! Core scenarios shared by our own pair and the interop pairs with Debian's knockd/knock 0.8.
//!
//! Each one only uses behaviour both implementations share; in particular the
//! sync barrier comes last, because knockd 0.8 can lose an attempt that was
//! created right after a sync (its list-head removal bug, B5 in
//! docs/differences-from-0.8.md).

#![allow(dead_code)] // each test binary uses a different subset

use integration_tests::{config, door, Net, Packet, Pair, Rig, Scratch, TcpFlag};

/// `-i`, `-c`, `-v`, `-g` are always passed; these are scenario-specific extras.
const NO_ARGS: &[&str] = &[];

/// One `#[test]` per `name: scenario`, running the scenario with `pair`; each is
/// `#[ignore = reason]`, because it needs root (see the crate docs).
macro_rules! scenario_tests {
    ($reason:literal, $pair:expr => $($name:ident: $scenario:path),+ $(,)?) => {
        $(
            #[test]
            #[ignore = $reason]
            fn $name() {
                $scenario(&$pair);
            }
        )+
    };
}
pub(crate) use scenario_tests;

/// A door of three TCP ports opens for a plain knock: Stage 1..3, OPEN SESAME, the command ran with `%IP%`.
pub fn basic_open(pair: &Pair) {
    let rig = Rig::one_door(
        pair,
        "basic",
        "7000,8000,9000",
        &["tcpflags = syn"],
        NO_ARGS,
    );
    let client = rig.net.client_v4();

    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);

    rig.scratch
        .expect_lines("out", &format!("basic {client}"), 1);
    for stage in 1..=3 {
        rig.daemon
            .expect_log(&format!("{client}: basic: Stage {stage}"));
    }
    rig.daemon
        .expect_log(&format!("{client}: basic: OPEN SESAME"));
    rig.daemon.expect_log(&format!(
        "basic: running command: echo basic {client} >> {}",
        rig.out().display()
    ));
    assert!(
        rig.daemon
            .stdout()
            .contains(&format!("{client}: basic: OPEN SESAME")),
        "verbose stdout"
    );
    assert!(rig
        .daemon
        .log()
        .lines()
        .next()
        .unwrap_or_default()
        .ends_with(&format!(
            "starting up, listening on {}",
            rig.net.server_iface()
        )));
}

/// `2222:udp,3333:tcp,4444:udp` opens when each element uses its own protocol, and only then.
pub fn mixed_protocols(pair: &Pair) {
    let rig = Rig::one_door(pair, "mixed", "2222:udp,3333:tcp,4444:udp", &[], NO_ARGS);
    let client = rig.net.client_v4();

    rig.knock(&["-u", &rig.server_v4(), "2222", "3333", "4444"]);
    rig.knock(&[&rig.server_v4(), "2222:udp", "3333", "4444:udp"]);

    rig.scratch
        .expect_lines("out", &format!("mixed {client}"), 1);
    rig.assert_opened("mixed", 1);
    assert_eq!(rig.scratch.lines("out").len(), 1);
}

/// A sequence port out of order resets the attempt; a clean knock then opens, and ports outside
/// every sequence between correct knocks change nothing.
pub fn wrong_port_resets(pair: &Pair) {
    let rig = Rig::one_door(pair, "reset", "7000,8000,9000", &[], NO_ARGS);
    let host = rig.server_v4();

    rig.knock(&[&host, "7000", "9000", "8000", "9000"]);
    rig.knock(&[&host, "7000", "8000", "9000"]);
    rig.scratch.expect_lines("out", "reset", 1);
    rig.knock(&[&host, "7000", "8000", "1234", "9000"]);
    rig.scratch.expect_lines("out", "reset", 2);

    rig.assert_opened("reset", 2);
    assert_eq!(rig.scratch.lines("out").len(), 2);
}

/// IPv6 knocks: `start_command_6` runs for its door, the IPv4 command is the fallback for the other.
pub fn ipv6_commands(pair: &Pair) {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let v6_command = format!("start_command_6 = echo v6cmd %IP% >> {}", out.display());
    let doors = [
        door("v6door", "7000,8000", &out, &[&v6_command]),
        door("fallback", "7100,7200", &out, &[]),
    ];
    let rig = Rig::start(pair, scratch, &config(&doors), NO_ARGS);
    let client = rig.net.client_v6();

    rig.knock(&["-6", &rig.server_v6(), "7000", "8000"]);
    rig.scratch
        .expect_lines("out", &format!("v6cmd {client}"), 1);
    rig.knock(&["-6", &rig.server_v6(), "7100", "7200"]);
    rig.scratch
        .expect_lines("out", &format!("fallback {client}"), 1);

    rig.daemon.expect_log(&format!("{client}: v6door: Stage 2"));
    assert!(
        !rig.scratch.read("out").contains("v6door"),
        "{}",
        rig.scratch.read("out")
    );
}

/// `TCPFlags = fin,!ack`: SYN and FIN+ACK knocks are not counted, FIN knocks (`knock --flags fin`) open.
pub fn negated_flags(pair: &Pair) {
    let rig = Rig::one_door(
        pair,
        "finonly",
        "7000,8000,9000",
        &["tcpflags = fin,!ack"],
        NO_ARGS,
    );
    let host = rig.server_v4();

    rig.knock(&[&host, "7000", "8000", "9000"]);
    rig.knock(&["--flags", "fin,ack", &host, "7000", "8000", "9000"]);
    rig.knock(&["--flags", "fin", &host, "7000", "8000", "9000"]);

    rig.scratch
        .expect_lines("out", &format!("finonly {}", rig.net.client_v4()), 1);
    rig.assert_opened("finonly", 1);
    assert_eq!(
        rig.daemon.log_count("finonly: Stage 1"),
        1,
        "{}",
        rig.daemon.log()
    );
}

/// A TCP packet whose flags do not match the door is ignored: it neither advances nor resets
/// (hand-built frames; door `other` lists 8000 without flags so the ACK is not filtered away).
pub fn mismatching_flags_ignored(pair: &Pair) {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let doors = [
        door("synonly", "7000,8000,9000", &out, &["tcpflags = syn"]),
        door("other", "8000,1111", &out, &[]),
    ];
    let rig = Rig::start(pair, scratch, &config(&doors), NO_ARGS);
    let (client, server) = (rig.net.client_v4(), rig.net.server_v4());
    let syn = |port| Packet::tcp(client, server, port, &[TcpFlag::Syn]);

    rig.net.send(&[
        syn(7000),
        Packet::tcp(client, server, 8000, &[TcpFlag::Ack]),
        syn(8000),
        syn(9000),
    ]);

    rig.scratch
        .expect_lines("out", &format!("synonly {client}"), 1);
    rig.daemon
        .expect_log(&format!("{client}: synonly: OPEN SESAME"));
}

/// A second knock of a matched port (a new connection) resets the attempt; a clean knock then opens.
pub fn duplicate_knock_resets(pair: &Pair) {
    let rig = Rig::one_door(pair, "dup", "7000,8000,9000", &[], NO_ARGS);
    let (client, server) = (rig.net.client_v4(), rig.net.server_v4());
    let syn = |port| Packet::tcp(client, server, port, &[TcpFlag::Syn]);

    // Two connections to 8000 (each packet its own source port): a second,
    // wrong knock for both. A resent SYN (the same source port) is where they
    // differ: knockd-rs ignores it (real_clients.rs), 0.8 resets.
    rig.net.send(&[syn(7000), syn(8000), syn(8000), syn(9000)]);
    rig.net.send(&[syn(7000), syn(8000), syn(9000)]);

    rig.scratch.expect_lines("out", &format!("dup {client}"), 1);
    rig.assert_opened("dup", 1);
}

/// A door with `Target` opens for knocks to that address (delivered to the server's MAC) and
/// ignores knocks to the interface's own address.
pub fn target_door(pair: &Pair) {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let net = Net::new();
    let target = net.host_v4(99);
    let config = config(&[door(
        "vip",
        "7000,8000",
        &out,
        &[&format!("target = {target}")],
    )]);
    let rig = Rig::start_on(pair, net, scratch, &config, NO_ARGS);
    rig.net.route_to_server_mac(target.into());

    rig.knock(&[&target.to_string(), "7000", "8000"]);
    rig.scratch
        .expect_lines("out", &format!("vip {}", rig.net.client_v4()), 1);
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);

    rig.assert_opened("vip", 1);
}

/// With `-4` IPv6 knocks are never seen while IPv4 knocks work.
pub fn only_ipv4(pair: &Pair) {
    let rig = Rig::one_door(pair, "four", "7000,8000", &[], &["-4"]);

    rig.knock(&["-6", &rig.server_v6(), "7000", "8000"]);
    rig.knock(&["-4", &rig.server_v4(), "7000", "8000"]);

    rig.scratch
        .expect_lines("out", &format!("four {}", rig.net.client_v4()), 1);
    rig.assert_opened("four", 1);
    assert!(
        !rig.daemon.log().contains(&rig.net.client_v6().to_string()),
        "{}",
        rig.daemon.log()
    );
}
