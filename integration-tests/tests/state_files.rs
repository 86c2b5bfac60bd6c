//! The files knockd runs commands from as root, end to end: a state
//! directory another user owns is not used (its stop commands could be
//! forged), by the daemon nor by `--close-all`; a FIFO left at a temporary's
//! name does not block the start.
//!
//! | case                                              | outcome                                        |
//! |---------------------------------------------------|------------------------------------------------|
//! | state directory owned by uid 65534, overdue stop  | not run at start nor by `--close-all` (exit 1), |
//! |                                                   | both naming `chown 0`; run once it is fixed    |
//! | a FIFO at `doors.tmp` before the start            | knockd starts and a knock opens the door       |

use std::os::unix::fs::chown;
use std::thread;
use std::time::Duration;

use integration_tests::{config, door, Daemon, Pair, Rig, Scratch};
use nix::sys::signal::Signal;

/// A rig of one door `d` (7000,8000) whose stop appends `stop d %IP%` to
/// `out` a second after its start.
fn door_with_stop() -> Rig {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let stop = format!("stop_command = echo stop d %IP% >> {}", out.display());
    let lines = [stop.as_str(), "cmd_timeout = 1"];
    Rig::start(
        &Pair::ours(),
        scratch,
        &config(&[door("d", "7000,8000", &out, &lines)]),
        &[],
    )
}

/// Knocks door `d` open and kills knockd before its stop is due; returns the
/// knocker.
fn open_and_kill(rig: &mut Rig) -> String {
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    let client = rig.net.client_v4().to_string();
    rig.scratch.expect_lines("out", &format!("d {client}"), 1);
    rig.daemon.signal(Signal::SIGKILL);
    rig.daemon.wait_exit();
    client
}

fn start_again(rig: &mut Rig) {
    let config = rig.config_path();
    rig.daemon = Daemon::start(&rig.net, &rig.scratch, &rig.pair.knockd, &config, &[]);
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_state_directory_another_user_owns_runs_none_of_its_stops() {
    let mut rig = door_with_stop();
    let client = open_and_kill(&mut rig);
    let state = rig.file("state");
    // Now uid 65534 could have written any record; the stop is overdue.
    chown(&state, Some(65534), None).unwrap();
    thread::sleep(Duration::from_millis(1500));
    start_again(&mut rig);
    let fix = format!("not used: run `chown 0 {}`", state.display());
    rig.daemon.expect_log(&fix);
    rig.sync();
    let stop = format!("stop d {client}");
    assert!(!rig.scratch.lines("out").contains(&stop), "ran at start");
    rig.daemon.signal(Signal::SIGKILL);
    rig.daemon.wait_exit();

    let closed = rig.close_all();
    assert_eq!(closed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&closed.stderr).contains(&fix));
    assert!(
        !rig.scratch.lines("out").contains(&stop),
        "run by --close-all"
    );

    chown(&state, Some(0), None).unwrap();
    assert!(rig.close_all().status.success());
    rig.scratch.expect_lines("out", &stop, 1);
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_fifo_at_the_journals_temporary_does_not_block_the_start() {
    let mut rig = door_with_stop();
    rig.daemon.signal(Signal::SIGKILL);
    rig.daemon.wait_exit();
    let fifo = rig.file("state").join("doors.tmp");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Waits (bounded) for `listening on`: before, open(2) blocked on the FIFO.
    start_again(&mut rig);
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    let client = rig.net.client_v4().to_string();
    rig.scratch.expect_lines("out", &format!("d {client}"), 1);
}
