use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant, SystemTime};

use knock_proto::Sequence;
use knockd_core::config::{Door, SequenceSource};

use super::{CommandRunner, CommandStats, Opening, RunnerLimits};
use crate::ledger::Ledger;
use crate::log::testing::{capture, Captured};
use crate::log::{Logger, Source};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 2));
const V6: IpAddr = IpAddr::V6(Ipv6Addr::new(0xfd00, 1, 0, 0, 0, 0, 0, 2));

fn door(start: Option<&str>, stop: Option<&str>, cmd_timeout: Duration) -> Door {
    let sequence = SequenceSource::Fixed(Sequence::parse("7000").unwrap());
    let mut door = Door::new("d", sequence);
    door.start_command = start.map(str::to_owned);
    door.stop_command = stop.map(str::to_owned);
    door.cmd_timeout = cmd_timeout;
    door
}

fn runner() -> CommandRunner {
    CommandRunner::new(RunnerLimits::default(), None)
}

/// A runner without a ledger, running at most `max_running` commands and
/// queueing at most `max_queued` starts.
fn bounded(max_running: usize, max_queued: usize) -> CommandRunner {
    let limits = RunnerLimits {
        max_running,
        max_queued,
        ..RunnerLimits::default()
    };
    CommandRunner::new(limits, None)
}

fn idle(runner: &CommandRunner) -> bool {
    runner.running() == 0 && runner.pending_stops() == 0 && runner.queued() == 0
}

/// Plays the server's loop until `done`, for at most `limit`.
fn drive(
    runner: &mut CommandRunner,
    log: &mut Logger,
    limit: Duration,
    mut done: impl FnMut(&CommandRunner) -> bool,
) {
    let end = Instant::now() + limit;
    while !done(runner) {
        assert!(Instant::now() < end, "commands did not finish in {limit:?}");
        let now = Instant::now();
        runner.reap(now, log);
        runner.on_timer(now, log);
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn out_file(captured: &Captured) -> String {
    captured.dir.path().join("out").display().to_string()
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn every_ip_token_is_replaced() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let mut runner = runner();
    let d = door(
        Some(&format!("echo %IP% and %IP% > {out}")),
        None,
        Duration::ZERO,
    );
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert_eq!(read(&out), "198.18.1.2 and 198.18.1.2\n");
    assert_eq!(
        captured.log_lines(),
        [format!(
            "d: running command: echo 198.18.1.2 and 198.18.1.2 > {out}"
        )]
    );
}

#[test]
fn ipv6_knockers_get_the_ipv6_command_or_the_ipv4_fallback() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let mut runner = runner();
    let mut d = door(
        Some(&format!("echo v4 %IP% >> {out}")),
        None,
        Duration::ZERO,
    );
    runner.open_door(&d, Source::with_host(V6, None), Instant::now(), &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    d.start_command_6 = Some(format!("echo v6 %IP% >> {out}"));
    runner.open_door(&d, Source::with_host(V6, None), Instant::now(), &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert_eq!(read(&out), "v4 fd00:1::2\nv6 fd00:1::2\nv4 198.18.1.2\n");

    // A present but empty Start_Command_6 disables IPv6 commands.
    d.start_command_6 = Some(String::new());
    d.stop_command = Some(format!("echo stop >> {out}"));
    runner.open_door(&d, Source::with_host(V6, None), Instant::now(), &mut log);
    assert!(idle(&runner));
    assert_eq!(captured.log_lines().len(), 3);
}

#[test]
fn stop_command_alone_runs_nothing() {
    let (mut log, captured) = capture(true, false);
    let mut runner = runner();
    let d = door(None, Some("echo stop"), Duration::ZERO);
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    assert!(idle(&runner));
    assert_eq!(captured.log_lines(), Vec::<String>::new());
}

#[test]
fn start_then_stop_after_cmd_timeout() {
    let (mut log, captured) = capture(true, false);
    let out = out_file(&captured);
    let mut runner = runner();
    let timeout = Duration::from_millis(200);
    let mut d = door(
        Some(&format!("echo start %IP% >> {out}")),
        Some(&format!("echo stop %IP% >> {out}")),
        timeout,
    );
    let opened = Instant::now();
    runner.open_door(&d, Source::with_host(V4, Some("k.test")), opened, &mut log);
    assert_eq!(runner.pending_stops(), 1);
    // The stop runs what the door said when it opened, whatever a reload does to the door.
    d.stop_command = Some("false".to_owned());

    drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
        r.running() == 0
    });
    assert_eq!(runner.next_deadline(), Some(opened + timeout));
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert!(opened.elapsed() >= timeout);

    assert_eq!(read(&out), "start 198.18.1.2\nstop 198.18.1.2\n");
    let expected = [
        format!("d: running command: echo start 198.18.1.2 >> {out}"),
        "198.18.1.2 (k.test): d: command timeout".to_owned(),
        format!("d: running command: echo stop 198.18.1.2 >> {out}"),
    ];
    assert_eq!(captured.log_lines(), expected);
    let stdout = captured.stdout.text();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), expected);
    assert_eq!(runner.next_deadline(), None);
}

#[test]
fn non_zero_status_goes_to_log_and_stderr_only() {
    let (mut log, captured) = capture(true, false);
    let mut runner = runner();
    runner.open_door(
        &door(Some("exit 3"), None, Duration::ZERO),
        Source::with_host(V4, None),
        Instant::now(),
        &mut log,
    );
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    let line = "d: command returned non-zero status code (3)";
    assert_eq!(captured.log_lines(), ["d: running command: exit 3", line]);
    assert_eq!(captured.stderr.text(), format!("{line}\n"));
    assert!(!captured.stdout.text().contains(line));
}

#[test]
fn death_by_signal_is_logged() {
    let (mut log, captured) = capture(false, false);
    let mut runner = runner();
    runner.open_door(
        &door(Some("kill -9 $$"), None, Duration::ZERO),
        Source::with_host(V4, None),
        Instant::now(),
        &mut log,
    );
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert_eq!(
        captured.stderr.text(),
        "d: command killed by signal 9 (SIGKILL)\n"
    );
}

#[test]
fn too_long_commands_run_nothing() {
    let (mut log, captured) = capture(false, false);
    let mut runner = runner();
    let long = format!("true {}", "%IP%".repeat(500));
    runner.open_door(
        &door(Some(&long), None, Duration::ZERO),
        Source::with_host(V4, None),
        Instant::now(),
        &mut log,
    );
    runner.open_door(
        &door(Some("true"), Some(&long), Duration::ZERO),
        Source::with_host(V4, None),
        Instant::now(),
        &mut log,
    );
    assert!(idle(&runner));
    assert_eq!(
        captured.log_lines(),
        [
            "error: parsed start command has been truncated! --> won't execute it",
            "error: parsed stop command has been truncated! --> won't execute start command",
        ]
    );
}

#[test]
fn stop_waits_for_a_slow_start() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    // The start command runs until the test opens its gate (at most 10 s).
    let gate = captured.dir.path().join("gate");
    let start = format!(
        "for i in $(seq 1000); do [ -e {gate} ] && break; sleep 0.01; done; echo start >> {out}",
        gate = gate.display()
    );
    let mut runner = runner();
    let cmd_timeout = Duration::from_millis(50);
    let d = door(
        Some(&start),
        Some(&format!("echo stop >> {out}")),
        cmd_timeout,
    );
    let opened = Instant::now();
    runner.open_door(&d, Source::with_host(V4, None), opened, &mut log);
    // Let the stop fall due while the start still runs.
    std::thread::sleep(cmd_timeout * 2);
    let now = Instant::now();
    runner.reap(now, &mut log);
    runner.on_timer(now, &mut log);
    assert_eq!((runner.running(), runner.pending_stops()), (1, 1));
    assert_eq!(
        runner.next_deadline(),
        None,
        "a blocked stop must not busy-wake the server"
    );
    assert_eq!(read(&out), "", "the stop waits for its start");
    fs::write(&gate, "").unwrap();
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert_eq!(read(&out), "start\nstop\n");
}

#[test]
fn concurrency_is_bounded_and_every_start_runs() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let mut runner = bounded(3, 100);
    let d = door(
        Some(&format!("sleep 0.3; echo x >> {out}")),
        None,
        Duration::ZERO,
    );
    for _ in 0..10 {
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    }
    assert_eq!((runner.running(), runner.queued()), (3, 7));
    let mut most = 0;
    drive(&mut runner, &mut log, Duration::from_secs(20), |r| {
        most = most.max(r.running());
        idle(r)
    });
    assert_eq!(most, 3);
    assert_eq!(read(&out).lines().count(), 10);
}

#[test]
fn starts_beyond_the_queue_are_dropped_but_stops_are_not() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let mut runner = bounded(1, 2);
    let d = door(
        Some(&format!("sleep 0.1; echo start >> {out}")),
        Some(&format!("echo stop >> {out}")),
        Duration::ZERO,
    );
    for _ in 0..5 {
        runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    }
    assert_eq!((runner.running(), runner.queued()), (1, 2));
    let dropped = "198.18.1.2: d: too many commands waiting, start command dropped\n";
    assert_eq!(captured.stderr.text(), dropped.repeat(2));
    drive(&mut runner, &mut log, Duration::from_secs(20), idle);
    // With one slot, each stop goes before the next waiting start.
    assert_eq!(read(&out), "start\nstop\n".repeat(3));
}

#[test]
fn shutdown_runs_pending_stops_at_once() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let mut runner = runner();
    let d = door(
        Some(&format!("echo start >> {out}")),
        Some(&format!("echo stop >> {out}")),
        Duration::from_secs(3600),
    );
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    let begun = Instant::now();
    assert_eq!(runner.shutdown(begun, Duration::from_secs(10), &mut log), 0);
    assert!(begun.elapsed() < Duration::from_secs(5));
    assert_eq!(read(&out), "start\nstop\n");
    assert!(idle(&runner));
}

#[test]
fn shutdown_ends_a_running_start_then_runs_its_stop_and_the_start_never_completes() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let mut runner = runner();
    // The case, shortened: a slow start, a short Cmd_Timeout.
    let d = door(
        Some(&format!("sleep 3; echo start >> {out}")),
        Some(&format!("echo stop >> {out}")),
        Duration::from_secs(1),
    );
    let begun = Instant::now();
    runner.open_door(&d, Source::with_host(V4, None), begun, &mut log);
    let left = runner.shutdown(begun, Duration::from_secs(2), &mut log);
    let took = begun.elapsed();
    assert_eq!(left, 0);
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(read(&out), "stop\n");
    // Past the moment the start would have completed: it never does.
    std::thread::sleep(Duration::from_millis(3500).saturating_sub(begun.elapsed()));
    assert_eq!(read(&out), "stop\n");
    assert_eq!(
        captured.log_lines()[1..3],
        [
            "198.18.1.2: d: start command still running at shutdown: ending it (SIGTERM, then SIGKILL) to run its stop command",
            "d: command killed by signal 15 (SIGTERM)",
        ]
    );
}

#[test]
fn a_start_that_ignores_sigterm_is_killed_and_its_stop_runs_after_it() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let pid_file = captured.dir.path().join("pid");
    let mut runner = runner();
    let d = door(
        Some(&format!(
            "trap '' TERM; echo $$ > {}; while :; do sleep 0.05; done",
            pid_file.display()
        )),
        Some(&format!("echo stop >> {out}")),
        Duration::from_secs(3600),
    );
    let begun = Instant::now();
    runner.open_door(&d, Source::with_host(V4, None), begun, &mut log);
    let left = runner.shutdown(begun, Duration::from_millis(300), &mut log);
    assert_eq!(left, 0);
    assert!(begun.elapsed() < Duration::from_secs(3));
    assert_eq!(read(&out), "stop\n");
    let pid = read(&pid_file.display().to_string());
    let pid = nix::unistd::Pid::from_raw(pid.trim().parse().unwrap());
    assert_eq!(
        nix::sys::signal::kill(pid, None),
        Err(nix::errno::Errno::ESRCH),
        "the start's shell is gone"
    );
    assert!(captured
        .log_lines()
        .contains(&"d: command killed by signal 9 (SIGKILL)".to_owned()));
}

fn ledger_in(dir: &std::path::Path) -> Ledger {
    Ledger::open(dir).unwrap().ledger
}

fn journal(dir: &std::path::Path) -> String {
    dir.join("doors").display().to_string()
}

/// Drops `runner` and checks that its ledger in `state` has no door open.
fn assert_all_closed(runner: CommandRunner, state: &std::path::Path) {
    drop(runner);
    let reopened = Ledger::open(state).unwrap();
    assert!(reopened.pending.is_empty(), "{:?}", reopened.pending);
}

#[test]
fn a_door_is_in_the_ledger_before_its_start_runs_and_leaves_it_after_its_stop() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let state = captured.dir.path().join("state");
    let mut runner = CommandRunner::new(RunnerLimits::default(), Some(ledger_in(&state)));
    let d = door(
        Some(&format!("grep -c '^open' {} > {out}", journal(&state))),
        Some(&format!("echo stop >> {out}")),
        Duration::from_millis(50),
    );
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert_eq!(read(&out), "1\nstop\n");
    assert_all_closed(runner, &state);
}

#[test]
fn close_now_runs_the_chosen_stops_at_once_and_closes_their_records() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let state = captured.dir.path().join("state");
    let mut runner = CommandRunner::new(RunnerLimits::default(), Some(ledger_in(&state)));
    let d = door(
        Some(&format!("echo start %IP% >> {out}")),
        Some(&format!("echo stop %IP% >> {out}")),
        Duration::from_secs(3600),
    );
    let now = Instant::now();
    for addr in [V4, V6] {
        runner.open_door(&d, Source::with_host(addr, None), now, &mut log);
    }
    drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
        r.running() == 0
    });
    let open = runner.open_door_list(Instant::now());
    assert_eq!(open.len(), 2);
    assert!(open
        .iter()
        .all(|o| o.door == "d" && o.closes_in > Some(Duration::from_secs(3590))));
    assert_eq!(
        runner.close_now(Some(("d", V6)), Instant::now(), &mut log),
        1
    );
    assert_eq!(
        runner.close_now(Some(("e", V4)), Instant::now(), &mut log),
        0
    );
    drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
        r.running() == 0
    });
    // The two start commands run at once, in either order.
    let mut lines: Vec<String> = read(&out).lines().map(str::to_owned).collect();
    lines[..2].sort();
    assert_eq!(
        lines,
        ["start 198.18.1.2", "start fd00:1::2", "stop fd00:1::2"]
    );
    assert_eq!(runner.open_door_list(Instant::now())[0].source, V4);
    assert_eq!(runner.close_now(None, Instant::now(), &mut log), 1);
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert!(read(&out).ends_with("stop 198.18.1.2\n"));
    let lines = captured.log_lines();
    assert!(lines.contains(&"fd00:1::2: d: closing on request (knockd close)".to_owned()));
    assert!(
        !lines.iter().any(|l| l.contains("command timeout")),
        "{lines:?}"
    );
    // Door e ran nothing, so it has no share.
    assert_eq!(
        runner.door_stats(),
        [(
            "d".to_owned(),
            CommandStats {
                run: 4,
                failed: 0,
                dropped: 0
            }
        )]
    );
    assert_all_closed(runner, &state);
}

#[test]
fn doors_a_dead_runner_left_open_close_at_the_next_start() {
    let (mut log, captured) = capture(true, false);
    let out = out_file(&captured);
    let state = captured.dir.path().join("state");
    let mut runner = CommandRunner::new(RunnerLimits::default(), Some(ledger_in(&state)));
    let late = door(
        Some("true"),
        Some(&format!("echo late %IP% >> {out}")),
        Duration::from_secs(1),
    );
    let mut early = door(
        Some("true"),
        Some(&format!("echo early >> {out}")),
        Duration::from_secs(3600),
    );
    early.name = "early".into();
    runner.open_door(&late, Source::with_host(V4, None), Instant::now(), &mut log);
    runner.open_door(
        &early,
        Source::with_host(V6, None),
        Instant::now(),
        &mut log,
    );
    drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
        r.running() == 0
    });
    // Killed: no stop ran, no shutdown.
    drop(runner);

    let opened = Ledger::open(&state).unwrap();
    assert_eq!(opened.pending.len(), 2);
    let mut runner = CommandRunner::new(RunnerLimits::default(), Some(opened.ledger));
    let now = Instant::now();
    // Two seconds later: `late` is past its deadline, `early` is not.
    let wall = SystemTime::now() + Duration::from_secs(2);
    runner.recover(opened.pending, now, wall, &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
        r.running() == 0
    });
    assert_eq!(read(&out), "late 198.18.1.2\n");
    let rearmed = runner.next_deadline().unwrap() - now;
    assert!(
        rearmed > Duration::from_secs(3590) && rearmed <= Duration::from_secs(3598),
        "{rearmed:?}"
    );
    let stdout = captured.stdout.text();
    assert!(
        stdout.contains("198.18.1.2: d: closing a door left open by a previous run\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("fd00:1::2: early: a door left open by a previous run closes in 3598s\n"),
        "{stdout}"
    );
    drop(runner);
    let pending = Ledger::open(&state).unwrap().pending;
    assert_eq!(
        pending.iter().map(|e| e.door.as_str()).collect::<Vec<_>>(),
        ["early"]
    );
}

#[test]
fn a_refreshing_door_runs_its_start_once_and_its_stop_once_at_the_new_deadline() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let mut runner = runner();
    let mut d = door(
        Some(&format!("echo start >> {out}")),
        Some(&format!("echo stop >> {out}")),
        Duration::from_millis(300),
    );
    d.refresh = true;
    let first = Instant::now();
    assert_eq!(runner.opening(&d, V4), Opening::Open);
    runner.open_door(&d, Source::with_host(V4, None), first, &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
        r.running() == 0
    });
    assert_eq!(runner.opening(&d, V4), Opening::Extend);
    assert_eq!(runner.opening(&d, V6), Opening::Open, "another knocker");
    let again = first + Duration::from_millis(200);
    runner.extend(&d, V4, again, &mut log);
    assert_eq!(
        runner.next_deadline(),
        Some(again + Duration::from_millis(300))
    );
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert_eq!(read(&out), "start\nstop\n");
    assert_eq!(runner.opening(&d, V4), Opening::Open, "closed again");
    // Without Refresh the door opens again, as in 0.8.
    d.refresh = false;
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    assert_eq!(runner.opening(&d, V4), Opening::Open);
}

#[test]
fn a_prefix_door_opens_for_the_network_and_counts_it_once() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let state = captured.dir.path().join("state");
    let mut runner = CommandRunner::new(RunnerLimits::default(), Some(ledger_in(&state)));
    let mut d = door(
        Some(&format!("echo start %IP% %NET% %PREFIX% >> {out}")),
        Some(&format!("echo stop %NET% >> {out}")),
        Duration::from_millis(300),
    );
    d.refresh = true;
    d.max_open = Some(1);
    d.open_prefix.v4 = Some(24);
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
        r.running() == 0
    });
    let records = read(&journal(&state));
    assert!(records.contains("\t198.18.1.0/24\t"), "{records}");
    // Another address of the /24 extends the one door; Max_Open 1 is not reached.
    let neighbour = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 200));
    assert_eq!(runner.opening(&d, neighbour), Opening::Extend);
    let outside = IpAddr::V4(Ipv4Addr::new(198, 18, 2, 2));
    assert_eq!(runner.opening(&d, outside), Opening::DoorFull { max: 1 });
    let open = runner.open_door_list(Instant::now());
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].network.to_string(), "198.18.1.0/24");
    assert_eq!(open[0].source, V4);
    // knockd close with any address of the network closes it.
    assert_eq!(
        runner.close_now(Some(("d", neighbour)), Instant::now(), &mut log),
        1
    );
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    assert_eq!(
        read(&out),
        "start 198.18.1.2 198.18.1.0/24 24\nstop 198.18.1.0/24\n"
    );
    assert_all_closed(runner, &state);
}

#[test]
fn caps_on_open_doors_refuse_openings_that_would_need_a_stop() {
    let limits = RunnerLimits {
        max_open: 2,
        ..RunnerLimits::default()
    };
    let (mut log, _captured) = capture(false, false);
    let mut runner = CommandRunner::new(limits, None);
    let mut d = door(Some("true"), Some("true"), Duration::from_secs(3600));
    d.max_open = Some(1);
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    assert_eq!(runner.opening(&d, V6), Opening::DoorFull { max: 1 });
    let mut other = door(Some("true"), Some("true"), Duration::from_secs(3600));
    other.name = "other".into();
    runner.open_door(
        &other,
        Source::with_host(V4, None),
        Instant::now(),
        &mut log,
    );
    assert_eq!(runner.opening(&other, V6), Opening::AllFull { max: 2 });
    let no_stop = door(Some("true"), None, Duration::ZERO);
    assert_eq!(
        runner.opening(&no_stop, V6),
        Opening::Open,
        "never closes, never counted"
    );
    drive(&mut runner, &mut log, Duration::from_secs(10), |r| {
        r.running() == 0
    });
    runner.shutdown(Instant::now(), Duration::from_secs(10), &mut log);
    assert_eq!(runner.opening(&other, V6), Opening::Open, "the stops ran");
}

/// Output is inherited, never piped through the daemon, so a command
/// printing megabytes cannot block on it.
#[test]
#[cfg(target_os = "linux")] // reads /proc
fn commands_share_the_daemons_stdout_and_stderr() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    let mut runner = runner();
    let d = door(
        Some(&format!(
            "o=$(readlink /proc/$$/fd/1); e=$(readlink /proc/$$/fd/2); i=$(readlink /proc/$$/fd/0); \
             printf '%s\\n' \"$o\" \"$e\" \"$i\" > {out}"
        )),
        None,
        Duration::ZERO,
    );
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    let ours: Vec<String> = ["/proc/self/fd/1", "/proc/self/fd/2"]
        .iter()
        .map(|p| fs::read_link(p).unwrap().display().to_string())
        .chain(["/dev/null".to_owned()])
        .collect();
    assert_eq!(read(&out).lines().collect::<Vec<_>>(), ours);
}

#[test]
#[cfg(target_os = "linux")] // reads /proc
fn descriptors_do_not_leak_into_commands() {
    let (mut log, captured) = capture(false, false);
    let out = out_file(&captured);
    // A descriptor its owner forgot to mark close-on-exec.
    let leaky_path = captured.dir.path().join("leaky");
    let leaky = fs::File::create(&leaky_path).unwrap();
    let flags = nix::fcntl::fcntl(&leaky, nix::fcntl::FcntlArg::F_GETFD).unwrap();
    let flags = nix::fcntl::FdFlag::from_bits_truncate(flags) - nix::fcntl::FdFlag::FD_CLOEXEC;
    nix::fcntl::fcntl(&leaky, nix::fcntl::FcntlArg::F_SETFD(flags)).unwrap();

    let mut runner = runner();
    let d = door(
        Some(&format!("ls -l /proc/$$/fd > {out}")),
        None,
        Duration::ZERO,
    );
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    drive(&mut runner, &mut log, Duration::from_secs(10), idle);
    let listing = read(&out);
    assert!(listing.contains(" 0 -> "), "{listing}");
    assert!(!listing.contains(leaky_path.to_str().unwrap()), "{listing}");
    assert!(
        !listing.contains(captured.log_path.to_str().unwrap()),
        "{listing}"
    );
    drop(leaky);
}

#[test]
fn unstartable_command_has_no_stop() {
    let (mut log, captured) = capture(false, false);
    let mut runner = runner();
    // std refuses a NUL byte in an argument, which stands in for a fork
    // failure (EAGAIN) that a test cannot provoke safely.
    let d = door(Some("true\0"), Some("true"), Duration::ZERO);
    runner.open_door(&d, Source::with_host(V4, None), Instant::now(), &mut log);
    assert!(idle(&runner));
    let lines = captured.log_lines();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[1].starts_with("d: error: command fork failed! ("),
        "{lines:?}"
    );
}
