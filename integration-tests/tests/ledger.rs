//! Doors that always close (door-ledger issue), end to end: our knockd is
//! killed with SIGKILL and restarted, `knockd --close-all` runs with no
//! daemon, and nftables closes a kernel-owned door by itself.
//!
//! | case                                         | outcome                                               |
//! |----------------------------------------------|-------------------------------------------------------|
//! | killed, restarted after the deadline         | the stop runs once, at start, logged as left open     |
//! | killed, restarted before the deadline        | the stop runs at the deadline, not before             |
//! | killed, `--close-all`                        | every pending stop runs, exit 0; refused while a      |
//! |                                              | daemon owns the state directory                       |
//! | a corrupt ledger line                        | skipped with its line number; the others still close  |
//! | the door's section removed before restart    | its stop still runs (the ledger holds the command)    |
//! | `Refresh = yes`, knocked again while open    | start once, stop once at the new deadline             |
//! | `Cooldown`                                   | repeats from the knocker are ignored                  |
//! | `Max_Open = 1`                               | a second knocker is refused, logged                   |
//! | nftables set with a timeout, SIGKILL         | the kernel drops the knocker with no knockd running   |

use std::fs::OpenOptions;
use std::io::Write;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use integration_tests::{
    config, door, require_tools, run_bounded, wait_until, Daemon, Pair, Rig, WAIT,
};
use nix::sys::signal::Signal;

/// The directives of a stop command that appends `stop <name> %IP%` to `out`,
/// `cmd_timeout` seconds after the start command.
fn stop_line(name: &str, out: &std::path::Path, cmd_timeout: u32) -> [String; 2] {
    [
        format!("stop_command = echo stop {name} %IP% >> {}", out.display()),
        format!("cmd_timeout = {cmd_timeout}"),
    ]
}

/// A rig of one door `d` (7000,8000) whose stop runs `cmd_timeout` seconds after its start.
fn door_with_stop(cmd_timeout: u32, extra: &[&str]) -> Rig {
    let scratch = integration_tests::Scratch::new();
    let out = scratch.path("out");
    let stop = stop_line("d", &out, cmd_timeout);
    let mut lines: Vec<&str> = stop.iter().map(String::as_str).collect();
    lines.extend_from_slice(extra);
    Rig::start(
        &Pair::ours(),
        scratch,
        &config(&[door("d", "7000,8000", &out, &lines)]),
        &[],
    )
}

/// Kills knockd without giving it a chance to close anything.
fn kill_9(rig: &mut Rig) {
    rig.daemon.signal(Signal::SIGKILL);
    rig.daemon.wait_exit();
}

/// Starts our knockd again on the rig's files.
fn start_again(rig: &mut Rig) {
    let config = rig.config_path();
    rig.daemon = Daemon::start(&rig.net, &rig.scratch, &rig.pair.knockd, &config, &[]);
}

/// When door `d`'s stop command for `client` has run (waits at most 10 s).
fn when_stopped(rig: &Rig, client: &str) -> Instant {
    wait_until(Duration::from_secs(10), || {
        rig.scratch
            .lines("out")
            .contains(&format!("stop d {client}"))
            .then(Instant::now)
    })
    .expect("the stop ran within 10 s")
}

fn knock_d(rig: &Rig) -> String {
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    let client = rig.net.client_v4().to_string();
    rig.scratch.expect_lines("out", &format!("d {client}"), 1);
    client
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_killed_knockd_closes_its_door_at_the_next_start_after_the_deadline() {
    // Killed well within the 3 s; restarted past them.
    let mut rig = door_with_stop(3, &[]);
    let client = knock_d(&rig);
    kill_9(&mut rig);
    thread::sleep(Duration::from_millis(3500));
    // Past the deadline with no knockd running: the door is still open.
    assert_eq!(rig.scratch.lines("out"), [format!("d {client}")]);
    start_again(&mut rig);
    rig.daemon.expect_log(&format!(
        "{client}: d: closing a door left open by a previous run"
    ));
    rig.scratch
        .expect_lines("out", &format!("stop d {client}"), 1);
    rig.sync();
    assert_eq!(rig.scratch.lines("out").len(), 2, "the stop ran once");
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn before_the_deadline_a_recovered_stop_runs_at_the_deadline_not_before() {
    let mut rig = door_with_stop(4, &[]);
    let opened = Instant::now();
    let client = knock_d(&rig);
    kill_9(&mut rig);
    start_again(&mut rig);
    rig.daemon.expect_log(&format!(
        "{client}: d: a door left open by a previous run closes in"
    ));
    assert_eq!(rig.scratch.lines("out").len(), 1, "not run at start");
    let stopped = when_stopped(&rig, &client);
    // The knock's start command ran just before `opened`'s end of the knock;
    // allow for the clocks of two processes.
    let waited = stopped - opened;
    assert!(
        waited >= Duration::from_millis(3500),
        "stop after {waited:?}"
    );
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn close_all_runs_every_pending_stop_and_refuses_while_a_daemon_runs() {
    let mut rig = door_with_stop(3600, &[]);
    let client = knock_d(&rig);
    let refused = rig.close_all();
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("is in use by knockd (pid {})", rig.daemon.pid())),
        "{stderr}"
    );
    assert_eq!(
        rig.scratch.lines("out").len(),
        1,
        "nothing closed meanwhile"
    );

    kill_9(&mut rig);
    let closed = rig.close_all();
    assert!(closed.status.success(), "{closed:?}");
    let stdout = String::from_utf8_lossy(&closed.stdout);
    assert!(
        stdout.starts_with("closed 1 door(s) left open in "),
        "{stdout}"
    );
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("d {client}"), format!("stop d {client}")]
    );
    let again = rig.close_all();
    assert!(String::from_utf8_lossy(&again.stdout).starts_with("closed 0 door(s)"));
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_corrupt_ledger_line_is_skipped_with_a_message_and_the_rest_still_closes() {
    let mut rig = door_with_stop(3600, &[]);
    let client = knock_d(&rig);
    kill_9(&mut rig);
    let mut journal = OpenOptions::new()
        .append(true)
        .open(rig.file("state").join("doors"))
        .unwrap();
    journal.write_all(b"open\t99\tgarbage\n").unwrap();
    drop(journal);
    let closed = rig.close_all();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(
        stderr.contains("skipped line(s) 3 that are not records"),
        "{stderr}"
    );
    assert!(closed.status.success());
    rig.scratch
        .expect_lines("out", &format!("stop d {client}"), 1);
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_door_removed_from_the_config_before_the_restart_still_gets_its_stop() {
    let mut rig = door_with_stop(3, &[]);
    let client = knock_d(&rig);
    kill_9(&mut rig);
    rig.scratch.write("knockd.conf", &config(&[]));
    thread::sleep(Duration::from_millis(3500));
    assert_eq!(rig.scratch.lines("out").len(), 1, "killed before its stop");
    start_again(&mut rig);
    rig.scratch
        .expect_lines("out", &format!("stop d {client}"), 1);
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_refreshed_door_runs_its_start_once_and_its_stop_once_at_the_new_deadline() {
    let rig = door_with_stop(3, &["refresh = yes"]);
    let client = knock_d(&rig);
    thread::sleep(Duration::from_millis(1500));
    let again = Instant::now();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.daemon.expect_log(&format!(
        "{client}: d: OPEN SESAME (door already open, extended)"
    ));
    let stopped = when_stopped(&rig, &client);
    let waited = stopped - again;
    assert!(
        waited >= Duration::from_millis(2500),
        "stop {waited:?} after the second knock"
    );
    rig.sync();
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("d {client}"), format!("stop d {client}")],
        "one start, one stop"
    );
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_cooling_door_ignores_repeated_knocks_from_its_knocker() {
    let rig = Rig::one_door(&Pair::ours(), "udp1", "5000:udp", &["cooldown = 60"], &[]);
    for _ in 0..3 {
        rig.knock(&["-u", &rig.server_v4(), "5000"]);
    }
    rig.assert_opened("udp1", 1);
    assert_eq!(rig.scratch.lines("out").len(), 1);
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn max_open_refuses_a_second_knocker() {
    let rig = door_with_stop(3600, &["max_open = 1"]);
    let first = knock_d(&rig);
    rig.knock(&[&rig.server_v6(), "7000", "8000"]);
    let second = rig.net.client_v6();
    rig.daemon.expect_log(&format!(
        "{second}: d: OPEN SESAME refused: the door is open for 1 knocker(s) already (Max_Open)"
    ));
    rig.sync();
    assert_eq!(rig.scratch.lines("out"), [format!("d {first}")]);
}

fn nft(rig: &Rig, args: &str) -> String {
    let output = run_bounded(
        Command::new("ip")
            .args(["netns", "exec", rig.net.server_ns(), "nft"])
            .args(args.split(' ')),
        WAIT,
    );
    assert!(output.status.success(), "nft {args}: {output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
#[ignore = "needs root, network namespaces and nft: run as root with --ignored"]
fn a_kernel_owned_door_closes_after_kill_9_with_no_knockd_running() {
    require_tools(&["nft"]);
    let scratch = integration_tests::Scratch::new();
    let ruleset = scratch.write(
        "knockd.nft",
        "table inet knockd {\n  set allowed4 { type ipv4_addr; flags timeout; }\n}\n",
    );
    let add = "nft 'add element inet knockd allowed4 { %IP% }; delete element inet knockd allowed4 { %IP% }; add element inet knockd allowed4 { %IP% timeout 3s }'";
    let doors = [integration_tests::door_running(
        "ssh",
        "7000,8000",
        add,
        &[],
    )];
    let mut rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &[]);
    nft(&rig, &format!("-f {}", ruleset.display()));
    let client = rig.net.client_v4().to_string();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    wait_until(WAIT, || {
        nft(&rig, "list set inet knockd allowed4")
            .contains(&client)
            .then_some(())
    })
    .expect("the knocker is in the set");
    kill_9(&mut rig);
    let gone = wait_until(Duration::from_secs(10), || {
        (!nft(&rig, "list set inet knockd allowed4").contains(&client)).then_some(())
    });
    assert!(gone.is_some(), "the kernel dropped the knocker by itself");
}
