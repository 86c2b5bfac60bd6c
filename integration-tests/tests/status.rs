//! The operator's surface, end to end: `knockd status`, `knockd close`,
//! SIGUSR1 and the control socket, against a live knockd in a namespace.
//!
//! | case                                               | outcome                                             |
//! |----------------------------------------------------|-----------------------------------------------------|
//! | a door opened, another at stage 2                  | status (table, `--json`, `--prometheus`) shows the  |
//! |                                                    | open door with its time left, the attempt at stage  |
//! |                                                    | 2 and exactly the knocks sent                       |
//! | SIGUSR1                                            | the same table in the log                           |
//! | `knockd close DOOR IP`, `knockd close --all`       | the stop commands run now; a door not open is an    |
//! |                                                    | error                                               |
//! | a rotating door                                    | shown as `rotating, step N`, its sequences not      |
//! |                                                    | shown                                               |
//! | 50 idle or stalled clients hold connections        | a knock still opens at once; status still answers   |
//! | a stale socket file                                | replaced; mode 0600; removed at exit                |
//! | a socket a live knockd holds                       | left alone, the holder's pid named; the second      |
//! |                                                    | knockd runs without a socket                        |
//! | a socket that cannot be created                    | logged; the doors work                              |

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Output;
use std::time::{Duration, Instant};

use integration_tests::{config, door, Daemon, Pair, Rig, Scratch, SYNC_SOURCE};
use nix::sys::signal::Signal;
use serde_json::Value;

/// The directives of a stop command appending `stop <name> %IP%` to `out` after `seconds`.
fn stop_after(name: &str, out: &std::path::Path, seconds: u32) -> [String; 2] {
    [
        format!("stop_command = echo stop {name} %IP% >> {}", out.display()),
        format!("cmd_timeout = {seconds}"),
    ]
}

/// Door `web` (7000,8000,9000; stop after 60 s) and door `ssh` (7100,7200,7300; 60 s to knock).
fn two_doors(args: &[&str]) -> Rig {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let stop = stop_after("web", &out, 60);
    let web: Vec<&str> = stop.iter().map(String::as_str).collect();
    let doors = [
        door("web", "7000,8000,9000", &out, &web),
        door("ssh", "7100,7200,7300", &out, &["seq_timeout = 60"]),
    ];
    Rig::start(&Pair::ours(), scratch, &config(&doors), args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `knockd <args>` against the rig's socket; fails the test unless it exits 0.
fn control_ok(rig: &Rig, args: &[&str]) -> String {
    let output = rig.control(args);
    assert!(
        output.status.success(),
        "knockd {args:?}: {}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout(&output)
}

fn status_json(rig: &Rig) -> Value {
    let text = control_ok(rig, &["status", "--json"]);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn door_json<'a>(status: &'a Value, name: &str) -> &'a Value {
    let doors = status["doors"].as_array().expect("doors is an array");
    doors
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no door {name} in {status}"))
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn status_shows_the_open_door_the_attempt_at_stage_2_and_exact_counters() {
    let rig = two_doors(&[]);
    let client = rig.net.client_v4().to_string();
    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    rig.knock(&[&rig.server_v4(), "7100", "7200"]);
    rig.sync();
    rig.scratch.expect_lines("out", &format!("web {client}"), 1);

    let status = status_json(&rig);
    for key in [
        "version",
        "pid",
        "uptime_seconds",
        "interfaces",
        "addresses",
        "doors",
        "totals",
        "capture",
    ] {
        assert!(status.get(key).is_some(), "no {key} in {status}");
    }
    assert_eq!(status["pid"], rig.daemon.pid().as_raw());
    assert_eq!(status["interfaces"][0]["name"], rig.net.server_iface());
    assert_eq!(status["interfaces"][0]["link_type"], "ethernet");
    assert_eq!(status["interfaces"][0]["capturing"], true);
    let addresses = status["addresses"].as_array().unwrap();
    assert!(
        addresses.contains(&Value::from(rig.server_v4())),
        "{status}"
    );

    let web = door_json(&status, "web");
    assert_eq!(web["sequence"]["kind"], "fixed");
    assert_eq!(web["sequence"]["knocks"], "7000:tcp,8000:tcp,9000:tcp");
    let open = web["open"].as_array().unwrap();
    assert_eq!(open.len(), 1, "{web}");
    assert_eq!(open[0]["source"], client.as_str());
    let left = open[0]["closes_in_seconds"].as_f64().unwrap();
    assert!(left > 45.0 && left <= 60.0, "time left {left}");
    let counters = &web["counters"];
    assert_eq!(counters["stage_hits"], 3);
    assert_eq!(counters["opens"], 1);
    assert_eq!(counters["timeouts"], 0);
    assert_eq!(counters["invalidated"], 0);
    assert_eq!(counters["commands_run"], 1);
    assert_eq!(counters["commands_failed"], 0);

    let ssh = door_json(&status, "ssh");
    assert_eq!(ssh["attempts_by_stage"], serde_json::json!([0, 1]));
    assert_eq!(ssh["counters"]["stage_hits"], 2);
    assert_eq!(ssh["counters"]["opens"], 0);
    assert_eq!(ssh["open"], serde_json::json!([]));

    // Every knock was one of ours or a sync probe, each seen once.
    let syncs = rig
        .daemon
        .log_count(&format!("{SYNC_SOURCE}: sync-65001: OPEN SESAME"));
    let sync = door_json(&status, "sync-65001");
    assert_eq!(sync["counters"]["opens"], syncs);
    let totals = &status["totals"];
    assert_eq!(totals["stage_hits"], 5 + syncs);
    assert_eq!(totals["opens"], 1 + syncs);
    assert_eq!(totals["attempts_in_progress"], 1);
    assert_eq!(totals["doors_open"], 1);
    assert_eq!(totals["commands_run"], 1);
    let capture = &status["capture"];
    assert_eq!(capture["decoded"], capture["packets"]);
    assert!(capture["packets"].as_u64().unwrap() >= 5 + syncs as u64);
    assert_eq!(capture["kernel_dropped"], 0);

    // The table: the same facts for a person.
    let table = control_ok(&rig, &["status"]);
    let row = |name: &str| {
        table
            .lines()
            .find(|line| line.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no row for {name} in:\n{table}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        row("web")[..6],
        ["web", "7000:tcp,8000:tcp,9000:tcp", "-", "1", "3", "1"],
        "{table}"
    );
    assert_eq!(
        row("ssh")[..6],
        ["ssh", "7100:tcp,7200:tcp,7300:tcp", "s2:1", "0", "2", "0"],
        "{table}"
    );
    let open_row = table
        .lines()
        .find(|line| line.contains(&client) && line.starts_with("web "))
        .unwrap_or_else(|| panic!("no open web for {client} in:\n{table}"));
    let closes_in = open_row.split_whitespace().last().unwrap();
    let seconds = match closes_in {
        "1m00s" => 60,
        _ => closes_in
            .strip_suffix('s')
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("time left {closes_in:?} in {open_row:?}")),
    };
    assert!((46..=60).contains(&seconds), "{open_row}");

    // One door.
    let only = control_ok(&rig, &["status", "ssh", "--json"]);
    let only: Value = serde_json::from_str(&only).unwrap();
    assert_eq!(only["doors"].as_array().unwrap().len(), 1);
    let missing = rig.control(&["status", "nope"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no door named \"nope\""));

    // Prometheus.
    let metrics = control_ok(&rig, &["status", "--prometheus"]);
    for sample in [
        "knockd_stage_hits_total{door=\"web\"} 3\n",
        "knockd_opens_total{door=\"web\"} 1\n",
        "knockd_stage_hits_total{door=\"ssh\"} 2\n",
        "knockd_attempts_in_progress{door=\"ssh\",stage=\"2\"} 1\n",
        "knockd_doors_open{door=\"web\"} 1\n",
        "knockd_commands_run_total{door=\"web\"} 1\n",
        "# TYPE knockd_packets_total counter\n",
    ] {
        assert!(metrics.contains(sample), "{sample} not in:\n{metrics}");
    }

    // SIGUSR1: the same table in the log.
    rig.daemon.signal(Signal::SIGUSR1);
    let logged = rig.daemon.expect_log("status: ssh ");
    assert!(logged.contains("s2:1"), "{logged}");
    rig.daemon
        .expect_log(&format!("status: web        {client}"));
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_rotating_door_shows_its_current_step_and_not_its_sequences() {
    let scratch = Scratch::new();
    let secret = scratch.write("rot.secret", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n");
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o600)).unwrap();
    // A door section of its own: rotating doors have no `sequence` line.
    let rot = format!(
        "[rot]\n    rotating_secret = {}\n    rotating_step = 30\n    start_command = true\n\n",
        secret.display()
    );
    let config = config(&[rot]);
    let rig = Rig::start(&Pair::ours(), scratch, &config, &[]);
    let step = || {
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        unix / 30
    };
    let before = step();
    let status = status_json(&rig);
    let after = step();
    let sequence = &door_json(&status, "rot")["sequence"];
    assert_eq!(sequence["kind"], "rotating", "{sequence}");
    let shown = sequence["step"].as_u64().unwrap();
    assert!(
        (before..=after).contains(&shown),
        "{shown} not in {before}..={after}"
    );
    assert_eq!(sequence.as_object().unwrap().len(), 2, "{sequence}");
    let table = control_ok(&rig, &["status", "rot"]);
    assert!(
        table
            .lines()
            .any(|line| line.starts_with("rot ") && line.contains("rotating, step ")),
        "{table}"
    );
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn close_runs_the_pending_stop_commands_now() {
    let rig = two_doors(&[]);
    let v4 = rig.net.client_v4().to_string();
    let v6 = rig.net.client_v6().to_string();
    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    rig.knock(&["-6", &rig.server_v6(), "7000", "8000", "9000"]);
    rig.scratch.expect_lines("out", &format!("web {v6}"), 1);

    let not_open = rig.control(&["close", "web", "198.18.0.1"]);
    assert_eq!(not_open.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_open.stderr).contains("is not open for 198.18.0.1"));

    let started = Instant::now();
    let said = control_ok(&rig, &["close", "web", &v4]);
    assert_eq!(said, format!("closing web for {v4}\n"));
    rig.scratch
        .expect_lines("out", &format!("stop web {v4}"), 1);
    assert!(started.elapsed() < Duration::from_secs(5), "60 s early");
    rig.daemon
        .expect_log(&format!("{v4}: web: closing on request (knockd close)"));
    assert!(!rig.scratch.read("out").contains(&format!("stop web {v6}")));
    let status = status_json(&rig);
    let open = door_json(&status, "web")["open"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["source"], v6.as_str());

    assert_eq!(control_ok(&rig, &["close", "--all"]), "closing 1 door(s)\n");
    rig.scratch
        .expect_lines("out", &format!("stop web {v6}"), 1);
    // Each stop ran once, and the ledger knows: nothing is left to close.
    assert_eq!(rig.scratch.read("out").matches("stop web").count(), 2);
    assert_eq!(status_json(&rig)["totals"]["doors_open"], 0);
    assert_eq!(control_ok(&rig, &["close", "--all"]), "closing 0 door(s)\n");
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn idle_and_stalled_clients_do_not_delay_a_knock() {
    let rig = two_doors(&[]);
    let client = rig.net.client_v4().to_string();
    let socket = rig.daemon.control_socket().to_owned();
    let mut held = Vec::new();
    for n in 0..50 {
        let mut stream = UnixStream::connect(&socket).expect("connect to the control socket");
        if n % 5 == 0 {
            // A request that never ends.
            let _ = stream.write_all(b"status te");
        }
        held.push(stream);
    }
    let started = Instant::now();
    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    rig.scratch
        .expect_lines_within("out", &format!("web {client}"), 1, Duration::from_secs(5));
    let took = started.elapsed();
    println!("the knock opened in {took:?} with 50 clients connected");
    // A loop that waited on a client would take its 2 s deadline at least.
    assert!(
        took < Duration::from_millis(1500),
        "the knock took {took:?}"
    );
    // The socket still answers, with the idle ones still connected.
    let status = status_json(&rig);
    assert_eq!(door_json(&status, "web")["counters"]["opens"], 1);
    drop(held);
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_stale_socket_is_replaced_a_live_one_refused_and_ours_removed_at_exit() {
    let scratch = Scratch::new();
    let path = scratch.path("knockd.sock");
    // A knockd that died: its socket file is left, nobody listens.
    drop(UnixListener::bind(&path).unwrap());
    assert!(UnixStream::connect(&path).is_err());
    let out = scratch.path("out");
    let mut rig = Rig::start(
        &Pair::ours(),
        scratch,
        &config(&[door("web", "7000,8000,9000", &out, &[])]),
        &[],
    );
    let status = status_json(&rig);
    assert_eq!(status["pid"], rig.daemon.pid().as_raw());
    let metadata = fs::symlink_metadata(&path).unwrap();
    assert!(metadata.file_type().is_socket());
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);

    // A second knockd on the same socket: refused, naming the first; it runs all the same.
    let second = Scratch::new();
    let config2 = second.write("knockd.conf", &config(&[]));
    let socket = path.display().to_string();
    let mut other = Daemon::start(
        &rig.net,
        &second,
        &rig.pair.knockd,
        &config2,
        &["--control-socket", &socket],
    );
    let refused = other.expect_stderr("is in use");
    assert!(
        refused.contains(&format!(
            "control socket {socket} is in use by process {}",
            rig.daemon.pid()
        )),
        "{refused}"
    );
    assert!(
        refused.contains("running without the control socket"),
        "{refused}"
    );
    assert!(other.is_running());
    other.signal(Signal::SIGTERM);
    assert!(other.wait_exit().success());
    // Still the first one's.
    assert_eq!(status_json(&rig)["pid"], rig.daemon.pid().as_raw());

    rig.daemon.signal(Signal::SIGTERM);
    assert!(rig.daemon.wait_exit().success());
    assert!(!path.exists(), "the socket outlived its knockd");
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_socket_that_cannot_be_created_leaves_the_doors_working() {
    let rig = Rig::one_door(
        &Pair::ours(),
        "web",
        "7000,8000",
        &[],
        &["--control-socket", "/nonexistent-knockd-dir/knockd.sock"],
    );
    let line = rig
        .daemon
        .expect_stderr("running without the control socket");
    assert!(
        line.starts_with(
            "control socket /nonexistent-knockd-dir/knockd.sock: No such file or directory"
        ),
        "{line}"
    );
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.assert_opened("web", 1);
}
