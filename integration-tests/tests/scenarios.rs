//! End-to-end scenarios: our knockd in the server namespace, our knock (or hand-built frames)
//! in the client namespace. Where our knockd deliberately differs from 0.8 (timeouts logged on
//! time, one-time exhaustion, concurrent attempts, SIGTERM with pending stop commands) the
//! scenario asserts our behaviour and says so.

mod common;

use std::fs;
use std::time::{Duration, Instant};

use common::scenario_tests;
use integration_tests::{
    config, config_with_sync, door, wait_until, Daemon, Net, Packet, Pair, Rig, Scratch, TcpFlag,
    WAIT,
};
use nix::sys::signal::Signal;

// The scenarios shared with the interop tests, with our knockd and our knock.
scenario_tests! {
    "needs root and network namespaces: run as root with --ignored",
    Pair::ours() =>
    basic_three_port_open: common::basic_open,
    mixed_udp_tcp_sequence: common::mixed_protocols,
    wrong_port_resets: common::wrong_port_resets,
    mismatching_tcp_flags_are_ignored: common::mismatching_flags_ignored,
    negated_flags_with_knock_flags: common::negated_flags,
    duplicate_knock_resets: common::duplicate_knock_resets,
    ipv6_start_command_6_and_fallback: common::ipv6_commands,
    target_door: common::target_door,
    only_ipv4: common::only_ipv4,
}

/// The timeout is logged when it expires, with no further traffic (0.8 waits for the next packet),
/// and the expired attempt cannot be completed afterwards.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn timeout_fires_without_traffic_and_is_logged_on_time() {
    let rig = Rig::one_door(
        &Pair::ours(),
        "slow",
        "7000,8000,9000",
        &["seq_timeout = 2"],
        &[],
    );
    let client = rig.net.client_v4();

    let knocked = Instant::now();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.daemon.expect_log_within(
        &format!("{client}: slow: sequence timeout (stage 2)"),
        1,
        Duration::from_secs(6),
    );
    let elapsed = knocked.elapsed();
    assert!(
        (Duration::from_secs(1)..=Duration::from_millis(4500)).contains(&elapsed),
        "timeout of 2 s logged after {elapsed:?}"
    );

    rig.knock(&[&rig.server_v4(), "9000"]);
    rig.assert_opened("slow", 0);
    assert_eq!(rig.scratch.read("out"), "");
}

/// Start command at the knock, `command timeout` and the stop command `cmd_timeout` seconds later;
/// at SIGTERM, `-v` prints the counters, which count both commands.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn start_cmd_timeout_stop() {
    let pair = Pair::ours();
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let stop = format!("stop_command = echo stop %IP% >> {}", out.display());
    let mut rig = Rig::start(
        &pair,
        scratch,
        &config(&[door(
            "cycle",
            "7000,8000",
            &out,
            &["cmd_timeout = 2", &stop],
        )]),
        &[],
    );
    let client = rig.net.client_v4();

    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch
        .expect_lines("out", &format!("cycle {client}"), 1);
    let started = Instant::now();
    rig.scratch
        .expect_lines("out", &format!("stop {client}"), 1);
    let elapsed = started.elapsed();

    assert!(
        (Duration::from_millis(1500)..=Duration::from_millis(4500)).contains(&elapsed),
        "cmd_timeout of 2 s, stop command after {elapsed:?}"
    );
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("cycle {client}"), format!("stop {client}")]
    );
    rig.daemon
        .expect_log(&format!("{client}: cycle: command timeout"));
    rig.daemon.expect_log(&format!(
        "cycle: running command: echo stop {client} >> {}",
        out.display()
    ));

    rig.daemon.signal(Signal::SIGTERM);
    assert_eq!(
        rig.daemon.wait_exit().code(),
        Some(0),
        "{}",
        rig.daemon.diagnostics()
    );
    let stdout = rig.daemon.stdout();
    let counters: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("counters: "))
        .collect();
    let topics: Vec<&str> = counters
        .iter()
        .map(|line| line.split(": ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        topics,
        ["packets", "capture", "knocks", "commands"],
        "{stdout}"
    );
    let opened = format!(
        "started, {} opened",
        rig.daemon.log_count("cycle: OPEN SESAME")
    );
    assert!(counters[2].contains(&opened), "not {opened:?}: {stdout}");
    assert_eq!(
        counters[3],
        format!(
            "commands: {} run, 0 failed, 0 dropped",
            rig.scratch.lines("out").len()
        ),
        "{stdout}"
    );
}

/// An open door and a close door with the reversed sequence, used one after the other.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn open_close_pair_of_doors() {
    let pair = Pair::ours();
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let doors = [
        door("openSSH", "7000,8000,9000", &out, &["tcpflags = syn"]),
        door("closeSSH", "9000,8000,7000", &out, &["tcpflags = syn"]),
    ];
    let rig = Rig::start(&pair, scratch, &config(&doors), &[]);
    let client = rig.net.client_v4();

    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    rig.scratch.expect_lines("out", "openSSH", 1);
    rig.knock(&[&rig.server_v4(), "9000", "8000", "7000"]);
    rig.scratch.expect_lines("out", "closeSSH", 1);

    assert_eq!(
        rig.scratch.lines("out"),
        [format!("openSSH {client}"), format!("closeSSH {client}")]
    );
}

/// One-time sequences: a used line is marked with `#`, replays are refused, the next line works,
/// a restart resumes at the first unused line, and exhaustion disables the door while the daemon
/// keeps running (0.8 aborts with a double free).
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn one_time_sequences() {
    let pair = Pair::ours();
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let otp = scratch.write(
        "otp",
        " 1001,1002,1003\n 2001,2002:udp,2003\n# a comment\n\n 3001,3002\n",
    );
    let otp_door = format!(
        "[otp]\n    one_time_sequences = {}\n    seq_timeout = 5\n    start_command = echo otp %IP% >> {}\n\n",
        otp.display(),
        out.display()
    );
    let mut rig = Rig::start(&pair, scratch, &config(&[otp_door]), &[]);
    let host = rig.server_v4();
    let expect_otp = |text: &str| {
        if wait_until(WAIT, || {
            (fs::read_to_string(&otp).ok()? == text).then_some(())
        })
        .is_none()
        {
            panic!(
                "one-time file is {:?}, expected {text:?}",
                fs::read_to_string(&otp)
            );
        }
    };

    rig.knock(&[&host, "1001", "1002", "1003"]);
    rig.scratch.expect_lines("out", "otp", 1);
    expect_otp("#1001,1002,1003\n 2001,2002:udp,2003\n# a comment\n\n 3001,3002\n");

    rig.knock(&[&host, "1001", "1002", "1003"]);
    rig.assert_opened("otp", 1); // the replay did not open

    rig.knock(&[&host, "2001", "2002:udp", "2003"]);
    rig.scratch.expect_lines("out", "otp", 2);
    expect_otp("#1001,1002,1003\n#2001,2002:udp,2003\n# a comment\n\n 3001,3002\n");

    rig.restart(&[]);
    rig.knock(&[&host, "2001", "2002:udp", "2003"]);
    rig.assert_opened("otp", 2); // nor the replay after the restart
    rig.knock(&[&host, "3001", "3002"]);
    rig.scratch.expect_lines("out", "otp", 3);
    expect_otp("#1001,1002,1003\n#2001,2002:udp,2003\n# a comment\n\n#3001,3002\n");

    rig.daemon.expect_log(
        "no more sequences left in the one time sequences file for door otp --> disabling the door",
    );
    rig.knock(&[&host, "3001", "3002"]);
    rig.assert_opened("otp", 3);
    assert!(rig.daemon.is_running(), "{}", rig.daemon.diagnostics());
    assert_eq!(rig.scratch.lines("out").len(), 3);
}

/// SIGHUP with an edited config: the new door works (once its filter is in place), the removed one not.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn sighup_with_changed_config() {
    let rig = Rig::one_door(&Pair::ours(), "before", "7000,8000,9000", &[], &[]);
    let host = rig.server_v4();
    // The new config moves the sync door, so a sync through it proves the new filter is active.
    let new_sync = 65002;
    fs::write(
        rig.config_path(),
        config_with_sync(&[door("after", "4444,5555", &rig.out(), &[])], new_sync),
    )
    .unwrap();

    rig.daemon.signal(Signal::SIGHUP);
    rig.daemon.expect_log(&format!(
        "re-reading config file: {}",
        rig.config_path().display()
    ));
    rig.daemon.sync_on(&rig.net, new_sync);

    rig.knock(&[&host, "4444", "5555"]);
    rig.scratch
        .expect_lines("out", &format!("after {}", rig.net.client_v4()), 1);
    rig.knock(&[&host, "7000", "8000", "9000"]);
    rig.daemon.sync_on(&rig.net, new_sync);
    assert_eq!(
        rig.daemon.log_count("before: OPEN SESAME"),
        0,
        "{}",
        rig.daemon.log()
    );
    assert_eq!(rig.scratch.lines("out").len(), 1);
}

/// SIGHUP with a broken config: the error is reported on stderr and in the log, and the daemon
/// keeps running with the previous doors (0.8 exits with status 1 instead, knockd issue #26).
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn sighup_with_broken_config() {
    let mut rig = Rig::one_door(&Pair::ours(), "door", "7000,8000", &[], &[]);
    let good = fs::read_to_string(rig.config_path()).unwrap();
    let broken_line = good.lines().count() + 1;
    fs::write(rig.config_path(), format!("{good}bogus line\n")).unwrap();

    rig.daemon.signal(Signal::SIGHUP);
    let error = format!("line {broken_line}: syntax error");
    rig.daemon.expect_stderr(&error);
    rig.daemon.expect_log(&error);

    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch
        .expect_lines("out", &format!("door {}", rig.net.client_v4()), 1);
    assert!(rig.daemon.is_running());
}

/// `-d -p`: the launcher exits 0, the pid file names the daemon, SIGTERM runs the pending stop
/// command at once (0.8 blocks until `cmd_timeout`), removes the pid file and logs `shutting down`.
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn daemon_mode_pid_file_and_sigterm_closes_open_doors() {
    let pair = Pair::ours();
    let net = Net::new();
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let pid_file = scratch.path("knockd.pid");
    let stop = format!("stop_command = echo stop %IP% >> {}", out.display());
    let conf = scratch.write(
        "knockd.conf",
        &config(&[door(
            "daemon",
            "7000,8000",
            &out,
            &["cmd_timeout = 60", &stop],
        )]),
    );
    let pid_arg = pid_file.to_string_lossy().into_owned();
    let mut daemon = Daemon::spawn(&net, &scratch, &pair.knockd, &conf, &["-d", "-p", &pid_arg]);
    let client = net.client_v4();

    assert!(
        daemon.wait_exit().success(),
        "launcher: {}",
        daemon.diagnostics()
    );
    let pid = daemon.adopt_pid_file(&pid_file);
    assert_eq!(fs::read_to_string(&pid_file).unwrap(), format!("{pid}\n"));
    daemon.expect_log("listening on");

    net.knock(&pair.knock, &[&net.server_v4().to_string(), "7000", "8000"]);
    scratch.expect_lines("out", &format!("daemon {client}"), 1);

    daemon.signal(Signal::SIGTERM);
    scratch.expect_lines("out", &format!("stop {client}"), 1);
    daemon.wait_gone();
    assert!(!pid_file.exists(), "pid file left behind");
    daemon.expect_log("shutting down");
}

/// Two sources knocking interleaved both open (0.8 loses the second one's progress).
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn two_knockers_at_once() {
    let rig = Rig::one_door(&Pair::ours(), "both", "7000,8000,9000", &[], &[]);
    let (a, b, server) = (
        rig.net.client_v4(),
        rig.net.add_client_v4(3),
        rig.net.server_v4(),
    );
    let syn = |src, port| Packet::tcp(src, server, port, &[TcpFlag::Syn]);

    rig.net.send(&[
        syn(a, 7000),
        syn(b, 7000),
        syn(a, 8000),
        syn(a, 9000),
        syn(b, 8000),
        syn(b, 9000),
    ]);

    rig.scratch.expect_lines("out", &format!("both {a}"), 1);
    rig.scratch.expect_lines("out", &format!("both {b}"), 1);
}

/// Two doors sharing the first port: each opens for its own sequence (0.8 never opens the second).
#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn two_doors_sharing_a_first_port() {
    let pair = Pair::ours();
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let doors = [
        door("d1", "7000,8000,9000", &out, &[]),
        door("d2", "7000,8001,9001", &out, &[]),
    ];
    let rig = Rig::start(&pair, scratch, &config(&doors), &[]);
    let client = rig.net.client_v4();

    rig.knock(&[&rig.server_v4(), "7000", "8001", "9001"]);
    rig.scratch.expect_lines("out", "d2", 1);
    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    rig.scratch.expect_lines("out", "d1", 1);

    rig.sync();
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("d2 {client}"), format!("d1 {client}")]
    );
}
