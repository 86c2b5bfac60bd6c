//! Privilege separation (knockd(8), PRIVILEGE SEPARATION): the watcher that
//! reads packets runs unprivileged and confined, the opener that runs
//! commands stays root and checks every request, and either one's death
//! takes the other down without losing a door.
//!
//! The forged requests and the `execve` come from the watcher's test hook
//! (`KNOCKD_TEST_WATCHER`, compiled into debug builds only), which makes the
//! confined watcher behave as a compromised one would.

use std::fs;
use std::time::Duration;

use integration_tests::{
    config, door_running, wait_until, watcher, Daemon, Launch, Net, Pair, Rig, Scratch, WAIT,
};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// The uid the watcher takes: `knockd` where that user exists, else `nobody`.
fn watcher_uid() -> u32 {
    let uid = |name: &str| nix::unistd::User::from_name(name).ok().flatten();
    uid("knockd")
        .or_else(|| uid("nobody"))
        .map(|user| user.uid.as_raw())
        .expect("no knockd or nobody user")
}

/// The watcher: the opener's child that runs knockd's own binary.
fn watcher_of(daemon: &Daemon) -> Pid {
    let opener = daemon.pid();
    wait_until(WAIT, || watcher(opener))
        .unwrap_or_else(|| panic!("knockd {opener} has no watcher process"))
}

/// A `/proc/<pid>/status` field's value.
fn status_field(pid: Pid, field: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .map(|value| value.trim().to_owned())
        .unwrap_or_else(|| panic!("no {field} for {pid} in:\n{status}"))
}

/// A door whose command appends the uid it ran as and the knocker to `out`.
fn uid_door(name: &str, sequence: &str, scratch: &Scratch, extra: &[&str]) -> String {
    let out = scratch.path("out");
    door_running(
        name,
        sequence,
        &format!("echo {name} $(id -u) %IP% >> {}", out.display()),
        extra,
    )
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn the_watcher_runs_confined_and_the_opener_runs_commands_as_root() {
    let scratch = Scratch::new();
    let conf = config(&[uid_door("ssh", "7000,8000,9000", &scratch, &[])]);
    let rig = Rig::start(&Pair::ours(), scratch, &conf, &[]);
    let watcher = watcher_of(&rig.daemon);
    let uid = watcher_uid().to_string();
    // Once it says so (-v), the watcher is confined.
    let confined = format!("watcher process {watcher} runs as");
    let said = wait_until(WAIT, || {
        rig.daemon.stdout().contains(&confined).then_some(())
    });
    assert!(said.is_some(), "-v: {confined}");

    assert_eq!(status_field(rig.daemon.pid(), "Uid:"), "0\t0\t0\t0");
    assert_eq!(
        status_field(watcher, "Uid:"),
        [uid.as_str(); 4].join("\t"),
        "the watcher's real, effective, saved and file-system uids"
    );
    for caps in ["CapEff:", "CapPrm:", "CapAmb:", "CapInh:"] {
        assert_eq!(status_field(watcher, caps), "0000000000000000", "{caps}");
    }
    assert_eq!(status_field(watcher, "NoNewPrivs:"), "1");
    assert_eq!(status_field(watcher, "Seccomp:"), "2", "a seccomp filter");

    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    let client = rig.net.client_v4();
    rig.scratch
        .expect_lines("out", &format!("ssh 0 {client}"), 1);
    rig.daemon
        .expect_log(&format!("{client}: ssh: OPEN SESAME"));
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn forged_requests_run_nothing_and_each_kind_is_logged_once() {
    let net = Net::new();
    let scratch = Scratch::new();
    // Door 0 takes the forged flood: --max-open caps it at 3 doors, since
    // it has a stop command. Door 1 is the real one, with none.
    let conf = config(&[
        uid_door(
            "flood",
            "7100",
            &scratch,
            &["stop_command = true", "cmd_timeout = 60"],
        ),
        uid_door("real", "7000,8000,9000", &scratch, &[]),
    ]);
    let config_path = scratch.write("knockd.conf", &conf);
    let daemon = Daemon::start_with(
        &net,
        &scratch,
        &Pair::ours().knockd,
        &config_path,
        &["--max-open", "3"],
        Launch {
            env: &[("KNOCKD_TEST_WATCHER", "forge")],
            wrapper: &[],
        },
    );
    for (why, count) in [
        (
            "a door of configuration 7, which is not the running one (0)",
            1,
        ),
        ("configuration 0 has no door 9999", 1),
        ("from which no knock can come", 1),
        ("a knocker's name that is no DNS name", 1),
        ("unknown request", 1),
        ("a descriptor, which the watcher has none to send", 1),
        ("oversized request", 1),
        ("OPEN SESAME refused: 3 doors are open already", 197),
    ] {
        daemon.expect_log_count(why, count);
    }

    // The opener still serves real knocks.
    let client = net.client_v4();
    let server = net.server_v4().to_string();
    net.knock(&Pair::ours().knock, &[&server, "7000", "8000", "9000"]);
    scratch.expect_lines("out", &format!("real 0 {client}"), 1);
    assert_eq!(
        daemon.log_count("refused the watcher's request"),
        7,
        "one line per reason:\n{}",
        daemon.log()
    );
    // Exactly the three openings the cap allows ran, none for a forged
    // source the opener refused.
    let lines = scratch.lines("out");
    let flood: Vec<_> = lines.iter().filter(|l| l.starts_with("flood")).collect();
    assert_eq!(flood.len(), 3, "{lines:?}");
    let own = net.server_v4().to_string();
    for refused in [
        "0.0.0.0",
        "224.0.0.1",
        "127.0.0.1",
        "198.18.0.99",
        own.as_str(),
    ] {
        assert!(!lines.iter().any(|l| l.ends_with(refused)), "{lines:?}");
    }
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_watcher_that_tries_to_exec_is_killed_by_its_filter() {
    let net = Net::new();
    let scratch = Scratch::new();
    let config_path = scratch.write(
        "knockd.conf",
        &config(&[uid_door("ssh", "7000,8000", &scratch, &[])]),
    );
    let mut daemon = Daemon::spawn_with(
        &net,
        &scratch,
        &Pair::ours().knockd,
        &config_path,
        &[],
        Launch {
            env: &[("KNOCKD_TEST_WATCHER", "exec")],
            wrapper: &[],
        },
    );
    let status = daemon.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", daemon.diagnostics());
    daemon.expect_log("was killed by signal SIGSYS; the opener exits");
    assert!(!scratch.path("out").exists(), "nothing ran");
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_killed_watcher_takes_the_opener_down_and_the_ledger_closes_its_door() {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let conf = config(&[door_running(
        "timed",
        "7000,8000",
        &format!("echo open %IP% >> {}", out.display()),
        &[
            &format!("stop_command = echo close %IP% >> {}", out.display()),
            "cmd_timeout = 3",
        ],
    )]);
    let mut rig = Rig::start(&Pair::ours(), scratch, &conf, &[]);
    let client = rig.net.client_v4();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch
        .expect_lines("out", &format!("open {client}"), 1);

    let watcher = watcher_of(&rig.daemon);
    kill(watcher, Signal::SIGKILL).unwrap();
    let status = rig.daemon.wait_exit();
    assert_eq!(status.code(), Some(1));
    rig.daemon.expect_log(&format!(
        "watcher process {watcher} was killed by signal SIGKILL; the opener exits and leaves open doors to the ledger"
    ));
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("open {client}")],
        "closed nothing early"
    );

    // The next start closes the door on time, from the ledger.
    let config = rig.config_path();
    rig.daemon = Daemon::start(&rig.net, &rig.scratch, &rig.pair.knockd, &config, &[]);
    rig.scratch.expect_lines_within(
        "out",
        &format!("close {client}"),
        1,
        Duration::from_secs(10),
    );
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_killed_opener_takes_the_watcher_down() {
    let scratch = Scratch::new();
    let conf = config(&[uid_door("ssh", "7000,8000", &scratch, &[])]);
    let mut rig = Rig::start(&Pair::ours(), scratch, &conf, &[]);
    let watcher = watcher_of(&rig.daemon);
    rig.daemon.signal(Signal::SIGKILL);
    rig.daemon.wait_exit();
    let gone = wait_until(WAIT, || {
        let status = fs::read_to_string(format!("/proc/{watcher}/status")).ok();
        // Gone, or a zombie waiting for init to reap it.
        (status.is_none_or(|s| s.contains("State:\tZ"))).then_some(())
    });
    assert!(gone.is_some(), "the watcher {watcher} outlived its opener");
    rig.daemon
        .expect_log("the opener process is gone; the watcher exits");
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn no_privsep_runs_one_root_process() {
    let scratch = Scratch::new();
    let conf = config(&[uid_door("ssh", "7000,8000", &scratch, &[])]);
    let rig = Rig::start(&Pair::ours(), scratch, &conf, &["--no-privsep"]);
    let opener = rig.daemon.pid();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    let client = rig.net.client_v4();
    rig.scratch
        .expect_lines("out", &format!("ssh 0 {client}"), 1);
    assert_eq!(watcher(opener), None, "no watcher process");
    assert_eq!(status_field(opener, "Seccomp:"), "0");
    assert!(!rig.daemon.log().contains("watcher process"));
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_user_that_does_not_exist_stops_knockd() {
    let net = Net::new();
    let scratch = Scratch::new();
    let config_path = scratch.write(
        "knockd.conf",
        &config(&[uid_door("ssh", "7000,8000", &scratch, &[])]),
    );
    let mut daemon = Daemon::spawn(
        &net,
        &scratch,
        &Pair::ours().knockd,
        &config_path,
        &["--user", "no-such-user"],
    );
    assert_eq!(daemon.wait_exit().code(), Some(1));
    daemon.expect_log("no user no-such-user for the watcher (User or --user)");
}
