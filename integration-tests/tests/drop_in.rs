//! A drop-in that never locks an admin out (drop-in issue): a configuration
//! knockd 0.8 runs keeps running, and a typo in one door does not take the
//! others down.

use integration_tests::{config, door, wait_until, Daemon, Net, Pair, Rig, Scratch, WAIT};

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_door_0_8_would_mangle_is_disabled_and_the_others_run() {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let doors = [
        door("ssh", "7000,8000", &out, &["seq_timeout = 5s"]),
        door("typo", "7000,abc", &out, &[]),
    ];
    let rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &[]);
    rig.daemon
        .expect_stderr("--> door typo disabled; the other doors run");
    rig.daemon
        .expect_stderr("seq_timeout = 5s: read as 5, the text after the number ignored");
    let client = rig.net.client_v4();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch.expect_lines("out", &format!("ssh {client}"), 1);
    rig.assert_opened("ssh", 1);
    assert_eq!(
        rig.daemon.log_count("typo"),
        1,
        "only the line saying it is disabled"
    );
}

/// knockd issue #44: with no interface configured on a host without `eth0`, knockd listens on
/// the interface of the default route instead of failing to open `eth0`.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn without_eth0_the_default_route_names_the_interface() {
    let net = integration_tests::Net::new();
    let scratch = Scratch::new();
    let conf = scratch.write(
        "knockd.conf",
        &config(&[door("d", "7000", &scratch.path("out"), &[])]),
    );
    let in_server = |args: &[&str]| {
        integration_tests::run_bounded(
            std::process::Command::new("ip")
                .args(["netns", "exec", net.server_ns()])
                .args(args),
            integration_tests::WAIT,
        )
    };
    let gateway = net.client_v4().to_string();
    let route = in_server(&[
        "ip",
        "route",
        "add",
        "default",
        "via",
        &gateway,
        "dev",
        net.server_iface(),
    ]);
    assert!(route.status.success(), "{route:?}");
    let knockd = integration_tests::workspace_binary("knockd");
    let check = in_server(&[
        knockd.to_str().unwrap(),
        "--check",
        "-c",
        conf.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        stdout.contains(&format!(
            "interface: {} (the default route's: no interface is configured and there is no eth0)",
            net.server_iface()
        )),
        "{stdout}"
    );
    assert_eq!(check.status.code(), Some(0), "{check:?}");
}

/// The file is bytes: a Latin-1 section name and command (as an old
/// knockd.conf may hold) run, the command reaches `/bin/sh` byte for byte,
/// and the log carries the name as knockd 0.8 writes it: the same bytes
/// from both.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn latin1_names_and_commands_reach_the_shell_and_the_log_byte_for_byte() {
    for pair in [Pair::ours(), Pair::debian_server()] {
        let scratch = Scratch::new();
        let out = scratch.path("out");
        let door = format!(
            "[T\u{fc}r]\n    sequence = 7000,8000\n    start_command = echo T\u{fc}r %IP% >> {}\n\n",
            out.display()
        );
        // The file holds ü in Latin-1 (0xfc), not in UTF-8.
        let mut text: Vec<u8> = door.chars().map(|c| c as u32 as u8).collect();
        assert!(door.chars().all(|c| (c as u32) < 0x100));
        text.extend_from_slice(config(&[]).as_bytes());
        let path = scratch.path("knockd.conf");
        std::fs::write(&path, &text).unwrap();
        let net = Net::new();
        let daemon = Daemon::start(&net, &scratch, &pair.knockd, &path, &[]);
        let rig = Rig {
            daemon,
            net,
            scratch,
            pair,
        };
        let client = rig.net.client_v4();
        rig.knock(&[&rig.server_v4(), "7000", "8000"]);
        // The command runs on its own: wait (bounded) for its line.
        let opened = wait_until(WAIT, || {
            std::fs::read(&out)
                .ok()
                .filter(|bytes| bytes.ends_with(b"\n"))
        })
        .unwrap_or_default();
        let expected = [b"T\xfcr ", client.to_string().as_bytes(), b"\n"].concat();
        assert_eq!(opened, expected, "{}", rig.daemon.log());
        let log = std::fs::read(rig.daemon.log_path()).unwrap();
        let line = log
            .split(|&b| b == b'\n')
            .find(|line| line.windows(11).any(|w| w == b"OPEN SESAME"))
            .unwrap_or_else(|| panic!("no OPEN SESAME: {}", String::from_utf8_lossy(&log)))
            .to_vec();
        // Without the `[date time] ` prefix, which differs between the runs.
        let line = line[line.iter().position(|&b| b == b']').unwrap() + 2..].to_vec();
        let expected = [client.to_string().as_bytes(), b": T\xfcr: OPEN SESAME"].concat();
        assert_eq!(line, expected, "{}", String::from_utf8_lossy(&log));
    }
}
