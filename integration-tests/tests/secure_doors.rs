//! Doors a port sweep cannot open (`Strict`) and a sniffer cannot replay
//! (`Rotating_Secret`), end to end: real nmap sweeps, real established
//! traffic, knocks derived from the secret and the clock.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::{
    config, door, require_tools, wait_child, wait_until, Net, Pair, Rig, Scratch, WAIT,
};
use knock_proto::rotating::{Label, Rotation, Secret};

const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

#[test]
#[ignore = "needs root, network namespaces and nmap: run as root with --ignored"]
fn an_in_order_nmap_sweep_opens_a_plain_door_but_not_a_strict_one() {
    require_tools(&["nmap"]);
    let scratch = Scratch::new();
    let out = scratch.path("out");
    let doors = [
        door("plain", "7000,8000,9000", &out, &["seq_timeout = 60"]),
        door(
            "strict",
            "7000,8000,9000",
            &out,
            &["seq_timeout = 60", "Strict = yes"],
        ),
    ];
    let rig = Rig::start(&Pair::ours(), scratch, &config(&doors), &["-D"]);
    let server = rig.server_v4();
    let client = rig.net.client_v4();
    // A SYN scan of every port from 7000 to 9000, in order (-r).
    let scan = rig.net.run_client(
        Path::new("nmap"),
        &["-n", "-Pn", "-sS", "-r", "-p", "7000-9000", &server],
    );
    assert!(scan.status.success(), "{scan:?}");
    rig.assert_opened("plain", 1);
    // Commands run on their own: wait (bounded) for the line.
    rig.scratch
        .expect_lines_within("out", "plain", 1, Duration::from_secs(10));
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("plain {client}")],
        "{}",
        rig.daemon.log()
    );
    // The sweep broke the strict door's attempt at its second port.
    assert!(
        rig.daemon
            .stdout()
            .contains(&format!("{client}: strict: Stage 1")),
        "{}",
        rig.daemon.stdout()
    );
    rig.assert_opened("strict", 0);
}

/// A TCP connection from the client to a listener in the server's
/// namespace, sending data the whole time it is held.
struct Established {
    listener: Child,
    sender: Child,
}

impl Established {
    /// Opens the connection and returns once data flows on it, so that its
    /// own SYN is long gone before a knock starts.
    fn open(net: &Net, scratch: &Scratch, port: u16) -> Established {
        let in_ns = |ns: &str| {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", ns]);
            command
        };
        let received = scratch.path("received");
        let listener = in_ns(net.server_ns())
            .args(["nc", "-l", "-k", &port.to_string()])
            .stdout(std::fs::File::create(&received).expect("received"))
            .spawn()
            .expect("nc -l");
        // Let the listener bind before connecting (bounded).
        let server = net.server_v4().to_string();
        let connected = (0..50).any(|_| {
            std::thread::sleep(Duration::from_millis(100));
            let probe = in_ns(net.client_ns())
                .args(["nc", "-z", "-w", "1", &server, &port.to_string()])
                .status();
            probe.is_ok_and(|s| s.success())
        });
        assert!(connected, "the listener never accepted a connection");
        let sender = in_ns(net.client_ns())
            .args([
                "sh",
                "-c",
                &format!("while :; do echo data; sleep 0.05; done | nc {server} {port}"),
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("nc sender");
        let flowing = wait_until(WAIT, || {
            let text = std::fs::read_to_string(&received).unwrap_or_default();
            (text.lines().count() >= 3).then_some(())
        });
        assert!(flowing.is_some(), "no data arrived on the held connection");
        Established { listener, sender }
    }
}

impl Drop for Established {
    fn drop(&mut self) {
        for child in [&mut self.sender, &mut self.listener] {
            let _ = child.kill();
            let _ = wait_child(child, Duration::from_secs(5));
        }
    }
}

#[test]
#[ignore = "needs root, network namespaces and nc: run as root with --ignored"]
fn a_strict_door_opens_for_knock_while_established_traffic_flows() {
    require_tools(&["nc"]);
    let rig = Rig::one_door(
        &Pair::ours(),
        "strict",
        "7000,8000,9000",
        &["Strict = yes", "tcpflags = syn"],
        &["-D"],
    );
    let traffic = Established::open(&rig.net, &rig.scratch, 5555);
    let server = rig.server_v4();
    let client = rig.net.client_v4();
    for port in ["7000", "8000", "9000"] {
        rig.knock(&[&server, port]);
        // Data segments of the held connection cross between the knocks.
        std::thread::sleep(Duration::from_millis(300));
    }
    rig.scratch.expect_lines_within(
        "out",
        &format!("strict {client}"),
        1,
        Duration::from_secs(10),
    );
    assert_eq!(
        rig.scratch.lines("out"),
        [format!("strict {client}")],
        "{}",
        rig.daemon.log()
    );
    let received = rig.scratch.read("received").lines().count();
    drop(traffic);
    assert!(
        received >= 10,
        "only {received} lines crossed the held connection"
    );
}

/// The rotating door's settings in these tests.
fn rotation(step: u64) -> Rotation {
    let range = "20000-29999".parse().unwrap();
    Rotation::new(
        step,
        range,
        4,
        knock_proto::rotating::RotatingProtocol::Tcp,
        1,
    )
    .unwrap()
}

/// A config with the rotating door `rot` (secret in `key`, step `step`).
fn rotating_config(scratch: &Scratch, step: u64) -> String {
    let key = scratch.write("door.key", &format!("# test secret\n{SECRET}\n"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = scratch.path("out");
    let text = format!(
        "[rot]\n    Rotating_Secret = {}\n    Rotating_Step = {step}\n    \
         Rotating_Range = 20000-29999\n    Rotating_Length = 4\n    seq_timeout = 10\n    \
         start_command = echo rot %IP% >> {}\n\n",
        key.display(),
        out.display()
    );
    config(&[text])
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// The current step of `rotation`, at least `margin` seconds before it ends
/// (waiting for the next one otherwise).
fn settled_step(rotation: &Rotation, margin: f64) -> u64 {
    let step = rotation.step() as f64;
    let left = step - unix_now() % step;
    if left < margin {
        std::thread::sleep(Duration::from_secs_f64(left + 0.2));
    }
    rotation.step_at(unix_now() as u64)
}

/// The knock arguments of step `t`'s sequence.
fn sequence_args(rotation: &Rotation, t: u64) -> Vec<String> {
    let secret = Secret::from_base32(SECRET).unwrap();
    let label = Label::new(b"rot").unwrap();
    let sequence = rotation.sequence(&secret, &label, t);
    sequence.knocks().iter().map(ToString::to_string).collect()
}

fn knock_step(rig: &Rig, rotation: &Rotation, t: u64) {
    let server = rig.server_v4();
    let mut args = vec![server];
    args.extend(sequence_args(rotation, t));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    rig.knock(&args);
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn a_rotating_door_opens_once_per_step_within_its_skew_and_remembers_across_a_restart() {
    let scratch = Scratch::new();
    let text = rotating_config(&scratch, 30);
    let mut rig = Rig::start(&Pair::ours(), scratch, &text, &["-D"]);
    let rotation = rotation(30);
    let client = rig.net.client_v4();
    let opened = format!("rot {client}");
    // Twelve seconds: the whole test stays inside one step.
    let now = settled_step(&rotation, 12.0);

    knock_step(&rig, &rotation, now);
    rig.scratch
        .expect_lines_within("out", &opened, 1, Duration::from_secs(10));
    // The same knocks replayed two seconds later open nothing.
    std::thread::sleep(Duration::from_secs(2));
    knock_step(&rig, &rotation, now);
    rig.assert_opened("rot", 1);
    // The previous step is within the skew: it opens; two steps back not.
    knock_step(&rig, &rotation, now - 1);
    knock_step(&rig, &rotation, now - 2);
    rig.assert_opened("rot", 2);
    rig.scratch
        .expect_lines_within("out", &opened, 2, Duration::from_secs(10));

    // After a restart the spent steps stay spent.
    rig.restart(&["-D"]);
    knock_step(&rig, &rotation, now);
    knock_step(&rig, &rotation, now - 1);
    rig.sync();
    assert_eq!(rig.scratch.lines("out").len(), 2, "{}", rig.daemon.log());
    let spent = std::fs::read_to_string(rig.scratch.path("state/spent-steps")).unwrap();
    assert!(spent.contains(&format!("{now} 726f74\n")), "{spent}");
}

#[test]
#[ignore = "needs root and network namespaces: run as root with --ignored"]
fn knock_with_the_secret_opens_a_rotating_door_across_step_boundaries() {
    let scratch = Scratch::new();
    // Two-second steps: client and server must agree at every boundary.
    let text = rotating_config(&scratch, 2);
    let rig = Rig::start(&Pair::ours(), scratch, &text, &["-D"]);
    let key = rig.scratch.path("door.key");
    let server = rig.server_v4();
    let client = rig.net.client_v4();
    let args = [
        "--secret-file",
        key.to_str().unwrap(),
        "--door",
        "rot",
        "--step",
        "2",
        "--range",
        "20000-29999",
        "--length",
        "4",
        &server,
    ];
    // Five knocks, 1.3 s apart, land in at least three different steps
    // and some close to a boundary (the client then waits for the next).
    for _ in 0..5 {
        rig.knock(&args);
        std::thread::sleep(Duration::from_millis(1300));
    }
    rig.sync();
    let opens = rig.daemon.log_count("rot: OPEN SESAME");
    // Two knocks in one step open it once: at least three steps, at most five.
    assert!((3..=5).contains(&opens), "{}", rig.daemon.log());
    // No knock broke: every Stage 4 became OPEN SESAME, and each ran the command.
    assert_eq!(
        rig.daemon.log_count("rot: Stage 4"),
        opens,
        "{}",
        rig.daemon.log()
    );
    rig.scratch.expect_lines_within(
        "out",
        &format!("rot {client}"),
        opens,
        Duration::from_secs(10),
    );
}
