//! The control plane says exactly what it knows: whole replies or an error,
//! door names that are not UTF-8, logs that leak less, a busy daemon.
//!
//! | case                                                  | outcome                                          |
//! |-------------------------------------------------------|--------------------------------------------------|
//! | a reply of ~700 kB to a client that waits 3 s to read | it arrives whole, framed by its length           |
//! | a reply cut short (a fake socket)                     | `knockd status` exits 1 saying it is incomplete; |
//! |                                                       | `> f.tmp && mv f.tmp f` publishes nothing        |
//! | a Latin-1 door `[T\xfc r]`                            | status (table, JSON, Prometheus) shows `T\xfcr`; |
//! |                                                       | close takes the raw bytes or `T\xfcr`, and       |
//! |                                                       | `::ffff:` + the knocker's IPv4 address           |
//! | the log file knockd creates; SIGUSR1                  | mode 0640 group adm (0600 without); the status   |
//! |                                                       | lines show `fixed, 2 knocks`, not the knocks     |
//! | a client pushed out by a flood of connections         | says knockd is busy and to try again             |

use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use integration_tests::{
    config, door, run_bounded, wait_child, watcher, workspace_binary, Pair, Rig, Scratch, WAIT,
};
use nix::sys::signal::{kill, Signal};
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(rig: &Rig, args: &[&str]) -> String {
    let output = rig.control(args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_large_reply_to_a_slow_reader_arrives_whole() {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let doors: Vec<String> = (0..600)
        .map(|n| {
            door(
                &format!("d{n}-{}", "x".repeat(1000)),
                "7000,8000",
                &out,
                &[],
            )
        })
        .collect();
    let rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &[]);
    let mut stream = UnixStream::connect(rig.daemon.control_socket()).unwrap();
    stream.write_all(b"status json\n").unwrap();
    // Longer than the 2 s a client has to send its request.
    thread::sleep(Duration::from_secs(3));
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let end = reply.iter().position(|&b| b == b'\n').unwrap();
    let first = text(&reply[..end]);
    let body = &reply[end + 1..];
    assert_eq!(first, format!("ok {}", body.len()), "{} bytes", reply.len());
    let status: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(status["doors"].as_array().unwrap().len(), 601);
}

/// A socket that answers one client with `reply`, then closes.
fn fake_knockd(path: &std::path::Path, reply: &'static [u8]) -> thread::JoinHandle<()> {
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut request = [0u8; 64];
        let _ = stream.read(&mut request);
        let _ = stream.write_all(reply);
    })
}

#[test]
fn a_reply_cut_short_exits_1_and_the_recipe_publishes_nothing() {
    let knockd = workspace_binary("knockd");
    let scratch = Scratch::new();
    let cut_replies: [(&str, &'static [u8]); 2] = [
        ("unframed", b"ok\n{\"version\":\"0.9.0\",\"doors\":[{\"na"),
        (
            "framed",
            b"ok 6500000\n{\"version\":\"0.9.0\",\"doors\":[{\"na",
        ),
    ];
    for (kind, reply) in cut_replies {
        let socket = scratch.path(&format!("{kind}.sock"));
        let server = fake_knockd(&socket, reply);
        let published = scratch.path(&format!("{kind}.prom"));
        let recipe = format!(
            "{} status --json --control-socket {} > {p}.tmp && mv {p}.tmp {p}",
            knockd.display(),
            socket.display(),
            p = published.display()
        );
        let output = run_bounded(Command::new("/bin/sh").args(["-c", &recipe]), WAIT);
        server.join().unwrap();
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{kind}: {stderr}");
        assert!(!published.exists(), "{kind}: a partial reply was published");
        assert_eq!(
            fs::read(format!("{}.tmp", published.display())).unwrap(),
            b""
        );
        if kind == "framed" {
            assert!(
                stderr.contains("the reply was incomplete: 32 of 6500000 bytes arrived"),
                "{stderr}"
            );
        }
    }
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_latin1_door_shows_as_backslash_x_and_closes_by_either_name() {
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let door = format!(
        "[T\u{fc}r]\n    sequence = 7000,8000\n    start_command = true\n    \
         stop_command = echo stop %IP% >> {}\n    cmd_timeout = 60\n\n",
        out.display()
    );
    // The file holds ü in Latin-1 (0xfc), not in UTF-8.
    let mut bytes: Vec<u8> = door.chars().map(|c| c as u32 as u8).collect();
    bytes.extend_from_slice(config(&[]).as_bytes());
    let rig = Rig::start_bytes(&Pair::ours(), scratch, &bytes, &[]);
    let client = rig.net.client_v4().to_string();
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.sync();

    let table = ok(&rig, &["status"]);
    assert!(table.lines().any(|l| l.starts_with("T\\xfcr ")), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("T\\xfcr ") && l.contains(&client)),
        "{table}"
    );
    let json: Value = serde_json::from_str(&ok(&rig, &["status", "--json"])).unwrap();
    assert_eq!(json["doors"][0]["name"], "T\\xfcr", "{json}");
    let metrics = ok(&rig, &["status", "--prometheus"]);
    assert!(
        metrics.contains("knockd_opens_total{door=\"T\\\\xfcr\"} 1\n"),
        "{metrics}"
    );
    // One door, named as printed.
    let only = ok(&rig, &["status", "T\\xfcr", "--json"]);
    assert!(only.contains("\"name\":\"T\\\\xfcr\""), "{only}");

    // close: the raw bytes, the knocker as an IPv4-mapped IPv6 address.
    let mapped = format!("::ffff:{client}");
    let raw = OsStr::from_bytes(b"T\xfcr");
    let closed = rig.control(&[OsStr::new("close"), raw, OsStr::new(&mapped)]);
    assert!(closed.status.success(), "{}", text(&closed.stderr));
    assert_eq!(
        text(&closed.stdout),
        format!("closing T\\xfcr for {client}\n")
    );
    rig.scratch
        .expect_lines("out", &format!("stop {client}"), 1);

    // Again, named as printed.
    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.sync();
    ok(&rig, &["close", "T\\xfcr", &client]);
    rig.scratch
        .expect_lines("out", &format!("stop {client}"), 2);

    // A UTF-8 Tür is another name: said so, with how to write this one.
    let other = rig.control(&["close", "Tür", &client]);
    assert_eq!(other.status.code(), Some(1));
    assert!(
        text(&other.stderr).contains("no door named \"Tür\""),
        "{}",
        text(&other.stderr)
    );
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn the_log_file_is_0640_and_sigusr1_shows_no_sequence() {
    let rig = Rig::one_door(&Pair::ours(), "web", "7000,8000", &[], &[]);
    let log = fs::metadata(rig.daemon.log_path()).unwrap();
    let adm = nix::unistd::Group::from_name("adm").unwrap();
    match adm {
        Some(adm) => {
            assert_eq!(log.permissions().mode() & 0o7777, 0o640);
            assert_eq!(log.gid(), adm.gid.as_raw());
        }
        None => assert_eq!(log.permissions().mode() & 0o7777, 0o600),
    }
    rig.daemon.signal(Signal::SIGUSR1);
    let row = rig.daemon.expect_log("status: web ");
    assert!(row.contains("fixed, 2 knocks"), "{row}");
    assert!(
        !rig.daemon.log().contains("7000:tcp"),
        "{}",
        rig.daemon.log()
    );
    // The socket, which only root reaches, still shows the sequence.
    assert!(ok(&rig, &["status", "web"]).contains("7000:tcp,8000:tcp"));
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_client_pushed_out_by_a_flood_is_told_to_try_again() {
    let rig = Rig::one_door(&Pair::ours(), "web", "7000,8000", &[], &[]);
    let socket = rig.daemon.control_socket().to_owned();
    // Stopped, knockd's watcher (which serves the socket) accepts nobody:
    // the client and the flood queue up in the listen backlog and are
    // accepted in order when it goes on.
    let watcher = watcher(rig.daemon.pid()).expect("a watcher process");
    kill(watcher, Signal::SIGSTOP).unwrap();
    let mut status = Command::new(&rig.pair.knockd)
        .args(["status", "--control-socket"])
        .arg(&socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    thread::sleep(Duration::from_millis(500));
    let flood: Vec<UnixStream> = (0..8)
        .map(|_| UnixStream::connect(&socket).unwrap())
        .collect();
    kill(watcher, Signal::SIGCONT).unwrap();
    let exit = wait_child(&mut status, WAIT).expect("knockd status hung");
    let mut stderr = String::new();
    status
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(exit.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("busy") && stderr.contains("try again"),
        "{stderr}"
    );
    assert!(!stderr.contains("is it running"), "{stderr}");
    drop(flood);
}
