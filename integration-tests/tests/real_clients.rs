//! Knocks from real clients on a host whose firewall drops the knock ports,
//! as a real host's does (real-clients issue): clients that get no answer
//! resend their SYN, and the resend must not break the knock.

use std::time::Duration;

use integration_tests::{require_tools, run_bounded, wait_until, Pair, Rig, WAIT};

/// Drops TCP to the knock ports in the server's namespace, so clients get no answer.
fn drop_knock_ports(rig: &Rig, ports: &str) {
    let ruleset = rig.scratch.write(
        "drop.nft",
        &format!(
            "table inet knockdrop {{\n  chain input {{\n    type filter hook input priority 0;\n    \
             tcp dport {{ {ports} }} drop\n  }}\n}}\n"
        ),
    );
    let loaded = run_bounded(
        std::process::Command::new("ip")
            .args(["netns", "exec", rig.net.server_ns(), "nft", "-f"])
            .arg(&ruleset),
        WAIT,
    );
    assert!(loaded.status.success(), "{loaded:?}");
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn a_client_that_resends_its_syn_still_opens_the_door() {
    require_tools(&["nft", "nc"]);
    let rig = Rig::one_door(
        &Pair::ours(),
        "ssh",
        "7000,8000,9000",
        &["tcpflags = syn"],
        &["-D"],
    );
    drop_knock_ports(&rig, "7000, 8000, 9000");
    let server = rig.server_v4();
    let client = rig.net.client_v4();
    rig.knock(&[&server, "7000"]);
    // Unanswered, nc's connect resends its SYN after a second, from the
    // same source port.
    rig.net.run_client(
        std::path::Path::new("nc"),
        &["-z", "-w", "3", &server, "8000"],
    );
    wait_until(WAIT, || {
        rig.daemon
            .stdout()
            .contains(&format!("{client}: ssh: resent knock ignored"))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no resend seen: {}", rig.daemon.stdout()));
    rig.knock(&[&server, "9000"]);
    rig.scratch
        .expect_lines_within("out", &format!("ssh {client}"), 1, Duration::from_secs(10));
    rig.assert_opened("ssh", 1);
    assert_eq!(
        rig.daemon.log_count("ssh: Stage 2"),
        1,
        "{}",
        rig.daemon.log()
    );
}

/// A client that knocks every port twice, each time with a new connection
/// (as some phone apps do), opens a door with `Allow_Repeats` and, as in
/// 0.8, breaks the attempt on a door without it.
#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn allow_repeats_opens_for_a_client_that_knocks_each_port_twice() {
    require_tools(&["nft"]);
    use integration_tests::{config, door, Scratch};
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let doors = [
        door("repeats", "7000,8000,9000", &out, &["Allow_Repeats = yes"]),
        door("strict", "7100,8100,9100", &out, &[]),
    ];
    let rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &[]);
    drop_knock_ports(&rig, "7000, 8000, 9000, 7100, 8100, 9100");
    let server = rig.server_v4();
    let client = rig.net.client_v4();
    rig.knock(&[&server, "7000", "7000", "8000", "8000", "9000", "9000"]);
    rig.knock(&[&server, "7100", "7100", "8100", "8100", "9100", "9100"]);
    rig.assert_opened("repeats", 1);
    rig.assert_opened("strict", 0);
    assert_eq!(rig.scratch.lines("out"), [format!("repeats {client}")]);
}

/// What the server sends (its own knock towards another host) and what it
/// only forwards (a knock addressed through it to a host behind it) never
/// opens its doors, on its interface and on `any`.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn outgoing_and_forwarded_knocks_never_count() {
    for interface in [None, Some("any")] {
        let args: &[&str] = match interface {
            Some(name) => &["-i", name],
            None => &[],
        };
        let rig = Rig::one_door(&Pair::ours(), "door", "7000,8000", &[], args);
        let output = run_bounded(
            std::process::Command::new("ip")
                .args(["netns", "exec", rig.net.server_ns()])
                .arg(&rig.pair.knock)
                .args([&rig.net.client_v4().to_string(), "7000", "8000"]),
            WAIT,
        );
        assert!(output.status.success(), "{output:?}");
        let behind = rig.net.host_v4(50);
        rig.net.route_to_server_mac(behind.into());
        rig.knock(&[&behind.to_string(), "7000", "8000"]);
        rig.assert_opened("door", 0);
        // The door works: a knock to the server itself opens it.
        rig.knock(&[&rig.server_v4(), "7000", "8000"]);
        rig.assert_opened("door", 1);
    }
}

/// A knock in frames tagged for VLAN 100, which the server does not have: the kernel drops
/// them, so they must not count on the parent interface either; priority-tagged frames
/// (VLAN 0) and untagged ones do.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn frames_of_a_vlan_the_host_does_not_have_are_no_knock() {
    use integration_tests::{Packet, TcpFlag};
    let rig = Rig::one_door(&Pair::ours(), "vlan", "7000,8000", &[], &[]);
    let (client, server) = (rig.net.client_v4(), rig.net.server_v4());
    let (src_mac, dst_mac) = (rig.net.client_mac(), rig.net.server_mac());
    let knock = |vlans: &[u16]| -> Vec<Vec<u8>> {
        [7000, 8000]
            .into_iter()
            .map(|port| {
                Packet::tcp(client, server, port, &[TcpFlag::Syn])
                    .ethernet_vlan_frame(src_mac, dst_mac, vlans)
            })
            .collect()
    };
    rig.net.send_frames(&knock(&[100]));
    rig.assert_opened("vlan", 0);
    rig.net.send_frames(&knock(&[0]));
    rig.assert_opened("vlan", 1);
}

/// On `-i any` the host's own outgoing knock towards another host does not open its door
/// (the cooked header says it is outgoing, and its destination is not the host's), while a
/// knock to the host opens once, from the client and from the host itself over `lo`.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn on_any_only_knocks_the_host_receives_count() {
    let rig = Rig::one_door(
        &Pair::ours(),
        "any",
        "7000:udp,8000:udp",
        &[],
        &["-i", "any"],
    );
    let knock_in_server = |host: &str| {
        let output = run_bounded(
            std::process::Command::new("ip")
                .args(["netns", "exec", rig.net.server_ns()])
                .arg(&rig.pair.knock)
                .args(["-u", host, "7000", "8000"]),
            WAIT,
        );
        assert!(output.status.success(), "{output:?}");
    };
    // Outgoing, to the client: no door of the server's opens.
    knock_in_server(&rig.net.client_v4().to_string());
    rig.assert_opened("any", 0);
    // From the client: once (one OPEN SESAME, one command).
    let client = rig.net.client_v4();
    rig.knock(&["-u", &rig.server_v4(), "7000", "8000"]);
    rig.scratch.expect_lines("out", &format!("any {client}"), 1);
    rig.assert_opened("any", 1);
    // The host knocking itself: over lo, seen leaving and arriving, counted once.
    knock_in_server("127.0.0.1");
    rig.scratch.expect_lines("out", "any 127.0.0.1", 1);
    rig.assert_opened("any", 2);
}

/// On `-i any`, a knock through a bridge is captured twice, on the bridge port and on the
/// bridge: the copies must not count as wrong knocks (three UDP knocks opened nothing
/// before), and the door opens once.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn on_any_a_knock_through_a_bridge_opens_once() {
    let scratch = integration_tests::Scratch::new();
    let out = scratch.path("out");
    let net = integration_tests::Net::new();
    let in_server = |args: &[&str]| {
        let output = run_bounded(
            std::process::Command::new("ip")
                .args(["netns", "exec", net.server_ns(), "ip"])
                .args(args),
            WAIT,
        );
        assert!(output.status.success(), "ip {args:?}: {output:?}");
    };
    let (veth, address) = (
        net.server_iface().to_owned(),
        format!("{}/24", net.server_v4()),
    );
    in_server(&["link", "add", "kbr0", "type", "bridge"]);
    in_server(&["addr", "del", &address, "dev", &veth]);
    in_server(&["link", "set", &veth, "master", "kbr0"]);
    in_server(&["addr", "add", &address, "dev", "kbr0"]);
    in_server(&["link", "set", "kbr0", "up"]);
    let config = integration_tests::config(&[integration_tests::door(
        "bridged",
        "7000:udp,8000:udp,9000:udp",
        &out,
        &[],
    )]);
    let rig = Rig::start_on(&Pair::ours(), net, scratch, &config, &["-i", "any"]);
    let client = rig.net.client_v4();
    rig.knock(&["-u", &rig.server_v4(), "7000", "8000", "9000"]);
    rig.scratch
        .expect_lines("out", &format!("bridged {client}"), 1);
    rig.assert_opened("bridged", 1);
    assert_eq!(rig.scratch.lines("out").len(), 1, "one command");
}

/// `knock --verify`: against a wrong sequence the guarded port stays
/// firewalled, so knock exits 2 after 1 + `--retries` knocks; against the
/// door's sequence, whose command lifts the firewall, it exits 0.
#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn knock_verify_succeeds_once_the_door_opens_and_fails_on_a_wrong_sequence() {
    require_tools(&["nft"]);
    use integration_tests::{config, door_running, Scratch};
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let guard = scratch.write(
        "guard.nft",
        "table inet guard {\n  chain input {\n    type filter hook input priority 0;\n    \
         tcp dport 2222 drop\n  }\n}\n",
    );
    let command = format!(
        "nft delete table inet guard && echo ssh %IP% >> {}",
        out.display()
    );
    let doors = [door_running("ssh", "7000,8000,9000", &command, &[])];
    let rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &[]);
    let loaded = run_bounded(
        std::process::Command::new("ip")
            .args(["netns", "exec", rig.net.server_ns(), "nft", "-f"])
            .arg(&guard),
        WAIT,
    );
    assert!(loaded.status.success(), "{loaded:?}");
    let _service = rig.net.listen_in_server((rig.net.server_v4(), 2222).into());
    let server = rig.server_v4();
    let client = rig.net.client_v4();

    let verify = [
        "--verify",
        "2222",
        "--retries",
        "1",
        "--verify-timeout",
        "500",
    ];
    let wrong = rig.net.run_client(
        &rig.pair.knock,
        &[&verify[..], &[&server, "7001", "8001", "9001"]].concat(),
    );
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "could not connect to {server}:2222 after knocking 2 times, trying for 500 ms"
        )),
        "{stderr}"
    );
    rig.assert_opened("ssh", 0);

    rig.knock(&[&verify[..], &[&server, "7000", "8000", "9000"]].concat());
    rig.assert_opened("ssh", 1);
    assert_eq!(rig.scratch.lines("out"), [format!("ssh {client}")]);
}

/// `--one-time-file` on both sides: the client and the server each hold a
/// copy of one file, and three knocks walk it in step, line by line; a
/// fourth finds the client's copy used up and sends nothing.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn one_time_files_on_client_and_server_walk_in_step() {
    use integration_tests::{config, Scratch};
    use std::os::unix::fs::PermissionsExt;
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let lines = [" 1001,1002,1003\n", " 2001,2002:udp,2003\n", " 3001,3002\n"];
    let server_file = scratch.write("otp-server", &lines.concat());
    let client_file = scratch.write("otp-client", &lines.concat());
    std::fs::set_permissions(&client_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let otp_door = format!(
        "[otp]\n    one_time_sequences = {}\n    start_command = echo otp %IP% >> {}\n\n",
        server_file.display(),
        out.display()
    );
    let rig = Rig::start(&Pair::ours(), scratch, &config(&[otp_door]), &[]);
    let server = rig.server_v4();
    let client_path = client_file.to_str().expect("UTF-8 scratch path");
    for knocked in 1..=lines.len() {
        rig.knock(&["--one-time-file", client_path, &server]);
        rig.scratch.expect_lines("out", "otp", knocked);
        let expected: String = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                if i < knocked {
                    line.replacen(' ', "#", 1)
                } else {
                    (*line).to_owned()
                }
            })
            .collect();
        assert_eq!(std::fs::read_to_string(&client_file).unwrap(), expected);
        wait_until(WAIT, || {
            (std::fs::read_to_string(&server_file).ok()? == expected).then_some(())
        })
        .unwrap_or_else(|| panic!("server's copy is not {expected:?}"));
    }
    let used_up = rig
        .net
        .run_client(&rig.pair.knock, &["--one-time-file", client_path, &server]);
    assert_eq!(used_up.status.code(), Some(1), "{used_up:?}");
    assert!(String::from_utf8_lossy(&used_up.stderr).contains("every sequence is used"));
    rig.assert_opened("otp", 3);
}

/// `knock NAME`: the profile in `$XDG_CONFIG_HOME/knock/config.toml` gives
/// the host, the sequence and the address family, and the door opens.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn knock_with_a_profile_name_opens_the_door() {
    let rig = Rig::one_door(&Pair::ours(), "ssh", "7000,8000:udp,9000", &[], &[]);
    let server = rig.server_v6();
    let client = rig.net.client_v6();
    std::fs::create_dir_all(rig.file("knock")).unwrap();
    rig.scratch.write(
        "knock/config.toml",
        &format!(
            "[home]\nhost = \"{server}\"\nports = [7000, \"8000:udp\", \"9000\"]\nfamily = 6\n"
        ),
    );
    let config_home = format!("XDG_CONFIG_HOME={}", rig.dir().display());
    let knock = rig.pair.knock.to_str().expect("UTF-8 binary path");
    let output = rig.net.run_client(
        std::path::Path::new("env"),
        &[&config_home, knock, "-v", "home"],
    );
    assert!(output.status.success(), "{output:?}");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        format!(
            "hitting tcp [{server}]:7000\nhitting udp [{server}]:8000\nhitting tcp [{server}]:9000\n"
        )
    );
    rig.scratch.expect_lines("out", &format!("ssh {client}"), 1);
    rig.assert_opened("ssh", 1);
}
