//! Doors close on every kind of shutdown (issue 26, section 2), end to end:
//! a start command still running when knockd stops never completes after
//! its stop command ran.
//!
//! | case                                             | outcome                                           |
//! |--------------------------------------------------|---------------------------------------------------|
//! | SIGTERM while a 3 s start runs, `cmd_timeout = 1` | exit 0 within 5 s; the start is ended, the stop   |
//! |                                                  | runs; the start never completes                   |
//! | SIGKILL while a 3 s start runs                   | the start dies with knockd (Linux); the next      |
//! |                                                  | start runs the stop, and nothing opens after it   |
//! | a rotating door, the state directory unusable    | a warning at start: knocks replay across restarts |

use std::os::unix::fs::PermissionsExt;
use std::thread;
use std::time::{Duration, Instant};

use integration_tests::{config, door_running, Daemon, Pair, Rig, Scratch};
use nix::sys::signal::Signal;

/// A rig of one door `d` (7000,8000) whose start command writes `begin`,
/// takes 3 s, then writes `start`; its stop writes `stop` 1 s after.
fn slow_start() -> Rig {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let out = out.display();
    let start = format!("echo begin %IP% >> {out}; sleep 3; echo start %IP% >> {out}");
    let stop = format!("stop_command = echo stop %IP% >> {out}");
    let doors = [door_running(
        "d",
        "7000,8000",
        &start,
        &[&stop, "cmd_timeout = 1"],
    )];
    Rig::start(&Pair::ours(), scratch, &config(&doors), &[])
}

/// Knocks door `d` and waits until its start command runs; returns the
/// knocker and when the knock was sent.
fn knock_until_begun(rig: &Rig) -> (String, Instant) {
    let knocked = Instant::now();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    let client = rig.net.client_v4().to_string();
    rig.scratch
        .expect_lines("out", &format!("begin {client}"), 1);
    (client, knocked)
}

/// Sleeps until 4 s after `knocked`: past the moment the start command
/// would have completed.
fn past_the_start(knocked: Instant) {
    thread::sleep(Duration::from_secs(4).saturating_sub(knocked.elapsed()));
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn sigterm_ends_a_running_start_runs_its_stop_and_exits_within_5_s() {
    let mut rig = slow_start();
    let (client, knocked) = knock_until_begun(&rig);
    let signalled = Instant::now();
    rig.daemon.signal(Signal::SIGTERM);
    let status = rig.daemon.wait_exit();
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(5), "exit took {took:?}");
    past_the_start(knocked);
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("begin {client}"), format!("stop {client}")],
        "the stop ran and the start never completed"
    );
    rig.daemon.expect_log(&format!(
        "{client}: d: start command still running at shutdown: ending it"
    ));
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_start_dies_with_a_sigkilled_knockd_and_the_next_start_closes_the_door() {
    let mut rig = slow_start();
    let (client, knocked) = knock_until_begun(&rig);
    rig.daemon.signal(Signal::SIGKILL);
    rig.daemon.wait_exit();
    past_the_start(knocked);
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("begin {client}")],
        "the orphaned start did not complete"
    );
    let config = rig.config_path();
    rig.daemon = Daemon::start(&rig.net, &rig.scratch, &rig.pair.knockd, &config, &[]);
    rig.scratch
        .expect_lines("out", &format!("stop {client}"), 1);
    rig.sync();
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("begin {client}"), format!("stop {client}")]
    );
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_rotating_door_without_a_usable_state_directory_is_warned_about_at_start() {
    let scratch = Scratch::new();
    // A file where the state directory should be.
    scratch.write("state", "");
    let key = scratch.write("door.key", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let door = format!(
        "[rot]\n    Rotating_Secret = {}\n    Rotating_Range = 20000-29999\n    \
         start_command = true\n\n",
        key.display()
    );
    let rig = Rig::start(&Pair::ours(), scratch, &config(&[door]), &[]);
    rig.daemon.expect_log(
        "no usable state directory: 1 rotating door(s) keep their spent steps in memory only \
         --> a knock sniffed or replayed before a restart opens its door again after it",
    );
}
