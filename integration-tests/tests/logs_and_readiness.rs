//! What an operator's tools read: JSON log lines, syslog priorities, and
//! systemd's readiness, reload, stop and watchdog notifications.
//!
//! | set-up                                   | observed                                                |
//! |------------------------------------------|---------------------------------------------------------|
//! | `LogFormat = json`, a knock, a timeout   | every log file and stdout line is a JSON object whose   |
//! |                                          | fields (event, door, source, stage) match the knock and |
//! |                                          | whose `message` is 0.8's text, escapes included         |
//! | then a reload without `LogFormat`        | the reopened log file gets 0.8's text lines again       |
//! | `UseSyslog`, a failing command, `/dev/log` | `<27>` (daemon.err) for the failure, `<29>`           |
//! | a test socket in a private mount ns      | (daemon.notice) for its Stage and OPEN SESAME lines     |
//! | `NOTIFY_SOCKET`, `WATCHDOG_USEC`         | READY, then on SIGHUP RELOADING with MONOTONIC_USEC,    |
//! |                                          | then READY; STATUS with the open door; pings at half    |
//! |                                          | the interval; STOPPING at SIGTERM; commands do not      |
//! |                                          | inherit `NOTIFY_SOCKET`                                 |

use std::fs;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use integration_tests::{
    config, door_running, require_tools, Daemon, Launch, Net, Pair, Rig, Scratch, WAIT,
};
use nix::sys::signal::Signal;
use serde_json::Value;

/// `time`: RFC 3339 with microseconds and an offset, `2026-11-28T19:10:00.123456+01:00`.
fn is_rfc3339_micros(time: &str) -> bool {
    let pattern = "dddd-dd-ddTdd:dd:dd.dddddd+dd:dd";
    time.len() == pattern.len()
        && time.bytes().zip(pattern.bytes()).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            b'+' => c == b'+' || c == b'-',
            _ => c == p,
        })
}

/// Every line of `text`, parsed; fails the test on a line that is not a JSON object with a
/// well-formed `time`, an `event`, a `level` and a `message`.
fn objects(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| {
            let value: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            let time = value["time"].as_str().unwrap_or_default();
            assert!(is_rfc3339_micros(time), "time {time:?} in {line}");
            for key in ["event", "level", "message"] {
                assert!(value[key].is_string(), "no {key} in {line}");
            }
            value
        })
        .collect()
}

/// The one object of `objects` whose message is `message`.
fn with_message<'a>(objects: &'a [Value], message: &str) -> &'a Value {
    let found: Vec<_> = objects.iter().filter(|o| o["message"] == message).collect();
    assert_eq!(
        found.len(),
        1,
        "lines with message {message:?}: {objects:#?}"
    );
    found[0]
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn json_log_lines_carry_the_fields_of_a_knock_a_command_and_a_timeout() {
    let pair = Pair::ours();
    let scratch = Scratch::new();
    let out = scratch.path("out");
    // A tab, a quote and non-ASCII text in the command: its line must escape them.
    let command = format!("echo \"é\t\\\"x\" %IP% >> {}", out.display());
    let doors = [
        door_running("web", "7000,8000,9000", &command, &[]),
        door_running("slow", "7100,7200", "true", &["seq_timeout = 1"]),
    ];
    let text = format!("[options]\n    LogFormat = json\n\n{}", config(&doors));
    let rig = Rig::start(&pair, scratch, &text, &[]);
    let client = rig.net.client_v4().to_string();

    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    rig.scratch
        .expect_lines("out", &format!("é\t\"x {client}"), 1);
    rig.knock(&[&rig.server_v4(), "7100"]);
    rig.daemon
        .expect_log(&format!("{client}: slow: sequence timeout (stage 1)"));
    rig.sync();

    let log = objects(&rig.daemon.log());
    for stage in 1..=3u64 {
        let line = with_message(&log, &format!("{client}: web: Stage {stage}"));
        assert_eq!(line["event"], "stage");
        assert_eq!(line["level"], "notice");
        assert_eq!(line["door"], "web");
        assert_eq!(line["source"], client.as_str());
        assert_eq!(line["stage"], stage);
    }
    let open = with_message(&log, &format!("{client}: web: OPEN SESAME"));
    assert_eq!(open["event"], "open");
    assert_eq!(open["door"], "web");
    assert_eq!(open["source"], client.as_str());
    assert!(open.get("stage").is_none(), "{open}");
    let expanded = command.replace("%IP%", &client);
    let run = with_message(&log, &format!("web: running command: {expanded}"));
    assert_eq!(run["event"], "command");
    assert_eq!(run["door"], "web");
    let timeout = with_message(&log, &format!("{client}: slow: sequence timeout (stage 1)"));
    assert_eq!(timeout["event"], "timeout");
    assert_eq!(timeout["door"], "slow");
    assert_eq!(timeout["source"], client.as_str());
    assert_eq!(timeout["stage"], 1);
    let start = log.first().expect("a first line");
    assert_eq!(start["event"], "start", "{start}");
    // The escaped characters are in the file as escapes, never raw.
    let raw = rig.daemon.log();
    assert!(raw.contains(r#"echo \"é\t\\\"x\" "#), "{raw}");
    assert!(!raw.contains('\t'), "{raw}");

    // -v lines on stdout are JSON too, the same messages.
    let stdout = objects(&rig.daemon.stdout());
    assert_eq!(
        with_message(&stdout, &format!("{client}: web: OPEN SESAME"))["event"],
        "open"
    );

    // A reload back to text: the reopened file's lines are 0.8's again.
    let lines_before = rig.daemon.log().lines().count();
    fs::write(rig.config_path(), config(&doors)).expect("rewrite the config");
    rig.daemon.signal(Signal::SIGHUP);
    rig.daemon.expect_log("] re-opening log file: ");
    let log = rig.daemon.log();
    let after: Vec<&str> = log.lines().skip(lines_before).collect();
    assert!(after[0].starts_with("{\"time\""), "{after:#?}");
    assert_eq!(objects(after[0])[0]["event"], "reload");
    assert!(after[1..].iter().all(|l| l.starts_with('[')), "{after:#?}");
}

/// The `<PRI>` of syslog's daemon facility at `severity` (err 3, notice 5).
fn daemon_priority(severity: u8) -> String {
    format!("<{}>", 3 * 8 + severity)
}

#[test]
#[ignore = "needs root, network and mount namespaces: run as root with --ignored"]
fn a_failing_command_reaches_syslog_at_err_and_a_knock_at_notice() {
    require_tools(&["sh", "mount", "mknod", "ln"]);
    let pair = Pair::ours();
    let scratch = Scratch::new();
    let socket = scratch.path("log.sock");
    let listener = UnixDatagram::bind(&socket).expect("bind the fake /dev/log");
    listener
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    let doors = [door_running("fails", "7000,8000", "exit 3", &[])];
    let text = format!("[options]\n    UseSyslog\n\n{}", config(&doors));
    let path = scratch.write("knockd.conf", &text);
    // `ip netns exec` gives knockd a mount namespace of its own; in it, a fresh /dev holds
    // /dev/null (for commands' stdin) and /dev/log, a link to the test's socket.
    let set_up = format!(
        "mount -t tmpfs tmpfs /dev && mknod -m 666 /dev/null c 1 3 && ln -s {} /dev/log && exec \"$@\"",
        socket.display()
    );
    let wrapper = ["sh", "-c", set_up.as_str(), "sh"];
    let net = Net::new();
    let daemon = Daemon::start_with(
        &net,
        &scratch,
        &pair.knockd,
        &path,
        &[],
        Launch {
            wrapper: &wrapper,
            ..Launch::default()
        },
    );

    net.knock(&pair.knock, &[&net.server_v4().to_string(), "7000", "8000"]);
    daemon.expect_log("fails: command returned non-zero status code (3)");

    let client = net.client_v4();
    let wanted = [
        (
            daemon_priority(5),
            format!("knockd: {client}: fails: Stage 1"),
        ),
        (
            daemon_priority(5),
            format!("knockd: {client}: fails: OPEN SESAME"),
        ),
        (
            daemon_priority(3),
            "knockd: fails: command returned non-zero status code (3)".to_owned(),
        ),
    ];
    let mut received = Vec::new();
    let deadline = Instant::now() + WAIT;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline
        && !wanted
            .iter()
            .all(|(_, text)| received.iter().any(|r: &String| r.ends_with(text.as_str())))
    {
        if let Ok(n) = listener.recv(&mut buf) {
            received.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    for (priority, text) in &wanted {
        let datagram = received
            .iter()
            .find(|r| r.ends_with(text.as_str()))
            .unwrap_or_else(|| panic!("no syslog datagram ending in {text:?}: {received:#?}"));
        assert!(
            datagram.starts_with(priority.as_str()),
            "{datagram:?} is not at {priority}"
        );
    }
}

/// The notifications a [`Daemon`] sends to a socket in the test's scratch dir.
struct Manager {
    socket: UnixDatagram,
    /// Everything received so far, in order.
    received: Vec<String>,
}

impl Manager {
    fn bind(scratch: &Scratch) -> (Manager, String) {
        let path = scratch.path("notify");
        let socket = UnixDatagram::bind(&path).expect("bind the fake NOTIFY_SOCKET");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("read timeout");
        let manager = Manager {
            socket,
            received: Vec::new(),
        };
        (manager, path.display().to_string())
    }

    /// Receives for `window`, keeping what arrives.
    fn listen(&mut self, window: Duration) {
        let end = Instant::now() + window;
        let mut buf = [0u8; 512];
        while Instant::now() < end {
            if let Ok(n) = self.socket.recv(&mut buf) {
                self.received
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }

    /// Receives until a notification from index `from` on satisfies `wanted` (bounded by
    /// [`WAIT`]); returns its index.
    fn until(&mut self, from: usize, what: &str, wanted: impl Fn(&str) -> bool) -> usize {
        let end = Instant::now() + WAIT;
        loop {
            if let Some(at) = self.received[from..].iter().position(|n| wanted(n)) {
                return from + at;
            }
            assert!(
                Instant::now() < end,
                "no {what} within {WAIT:?}: {:#?}",
                self.received
            );
            self.listen(Duration::from_millis(50));
        }
    }

    /// The notifications after index `from` that are not watchdog pings or status updates.
    fn states(&self, from: usize) -> Vec<&str> {
        self.received[from..]
            .iter()
            .map(String::as_str)
            .filter(|n| *n != "WATCHDOG=1" && !n.starts_with("STATUS="))
            .collect()
    }
}

/// `CLOCK_MONOTONIC` in microseconds, as knockd reports it in `MONOTONIC_USEC`.
fn monotonic_usec() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("clock");
    now.tv_sec() as u64 * 1_000_000 + now.tv_nsec() as u64 / 1_000
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn systemd_hears_ready_reloading_status_stopping_and_watchdog_pings() {
    let pair = Pair::ours();
    let scratch = Scratch::new();
    let (mut manager, socket) = Manager::bind(&scratch);
    let env_out = scratch.path("env");
    // The command records whether it inherited NOTIFY_SOCKET; the stop keeps the door open.
    let command = format!("echo \"[$NOTIFY_SOCKET]\" >> {}", env_out.display());
    let doors = [door_running(
        "door",
        "7000,8000",
        &command,
        &["stop_command = true", "cmd_timeout = 60"],
    )];
    let path = scratch.write("knockd.conf", &config(&doors));
    let net = Net::new();
    // A ping every 200 ms.
    let env = [
        ("NOTIFY_SOCKET", socket.as_str()),
        ("WATCHDOG_USEC", "400000"),
    ];
    let mut daemon = Daemon::start_with(
        &net,
        &scratch,
        &pair.knockd,
        &path,
        &[],
        Launch {
            env: &env,
            ..Launch::default()
        },
    );

    let ready = manager.until(0, "READY=1", |n| n.starts_with("READY=1\n"));
    assert_eq!(
        manager.received[ready],
        "READY=1\nSTATUS=0 door(s) open, 0 attempt(s) in progress"
    );
    assert_eq!(ready, 0, "READY=1 comes first: {:#?}", manager.received);

    // Watchdog pings over a bounded window: WATCHDOG_USEC / 2 apart, so about 15 in 3 s; a
    // loaded machine may delay some, never add any.
    let before = manager.received.len();
    manager.listen(Duration::from_secs(3));
    let pings = manager.received[before..]
        .iter()
        .filter(|n| *n == "WATCHDOG=1")
        .count();
    assert!(
        (8..=16).contains(&pings),
        "{pings} pings in 3 s at a 200 ms period"
    );

    // A reload: RELOADING=1 with the monotonic time of the request, then READY=1.
    let from = manager.received.len();
    let asked = monotonic_usec();
    daemon.signal(Signal::SIGHUP);
    manager.until(from, "READY=1 after the reload", |n| {
        n.starts_with("READY=1\n")
    });
    let answered = monotonic_usec();
    let states = manager.states(from);
    assert!(states.len() >= 2, "{states:#?}");
    let usec: u64 = states[0]
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .and_then(|usec| usec.parse().ok())
        .unwrap_or_else(|| panic!("RELOADING=1 first: {states:#?}"));
    assert!(
        (asked..=answered).contains(&usec),
        "MONOTONIC_USEC={usec} not between {asked} and {answered}"
    );
    assert!(states[1].starts_with("READY=1\nSTATUS="), "{states:#?}");
    daemon.expect_log("re-reading config file");

    // A door opens and stays open: STATUS= says so within its one-second interval.
    let from = manager.received.len();
    net.knock(&pair.knock, &[&net.server_v4().to_string(), "7000", "8000"]);
    manager.until(from, "STATUS= with the open door", |n| {
        n.contains("STATUS=1 door(s) open, 0 attempt(s) in progress")
    });
    // The command did not inherit NOTIFY_SOCKET.
    assert_eq!(scratch.read("env"), "[]\n");

    // SIGTERM: STOPPING=1, then a clean exit.
    let from = manager.received.len();
    daemon.signal(Signal::SIGTERM);
    assert_eq!(
        daemon.wait_exit().code(),
        Some(0),
        "{}",
        daemon.diagnostics()
    );
    manager.listen(Duration::from_millis(200));
    assert_eq!(manager.states(from), ["STOPPING=1"]);
}
