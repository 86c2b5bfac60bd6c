//! `--verify`: connect after knocking, knock again when that fails. Nothing
//! here sends a packet anywhere but to the loopback addresses.

mod common;

use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::str::contains;

use common::{hits, knock_port};

fn knock() -> Command {
    Command::cargo_bin("knock").unwrap()
}

/// A TCP port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_open_port_verifies_after_one_knock() {
    let (socket, port) = knock_port();
    let door = TcpListener::bind("127.0.0.1:0").unwrap();
    let door_port = door.local_addr().unwrap().port();
    knock()
        .args(["-v", "--verify", &door_port.to_string(), "127.0.0.1"])
        .arg(format!("{port}:udp"))
        .assert()
        .success()
        .stdout(format!(
            "hitting udp 127.0.0.1:{port}\nverifying tcp 127.0.0.1:{door_port}\n"
        ))
        .stderr("");
    assert_eq!(hits(&socket), 1);
    // The connection was made, not merely attempted.
    door.set_nonblocking(true).unwrap();
    door.accept().unwrap();
}

#[test]
fn a_shut_door_is_knocked_retries_plus_one_times_then_exits_2() {
    let (socket, port) = knock_port();
    let closed = closed_port();
    let start = Instant::now();
    knock()
        .args(["--verify", &closed.to_string(), "--retries", "2"])
        .args(["--verify-timeout", "200", "127.0.0.1"])
        .args([format!("{port}:udp"), format!("{port}:udp")])
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "error: could not connect to 127.0.0.1:{closed} after knocking 3 times, \
             trying for 200 ms after each knock: Connection refused\n"
        ));
    // Three knocks of two hits each, each knock verified for about 200 ms.
    assert_eq!(hits(&socket), 6);
    assert!(start.elapsed() >= Duration::from_millis(500));
}

#[test]
fn retries_default_to_two_and_zero_means_one_knock() {
    let (socket, port) = knock_port();
    let closed = closed_port().to_string();
    let sequence = format!("{port}:udp");
    knock()
        .args(["--verify", &closed, "--verify-timeout", "50"])
        .args(["127.0.0.1", &sequence])
        .assert()
        .code(2)
        .stderr(contains("after knocking 3 times"));
    assert_eq!(hits(&socket), 3);
    knock()
        .args([
            "--verify",
            &closed,
            "--retries",
            "0",
            "--verify-timeout",
            "50",
        ])
        .args(["127.0.0.1", &sequence])
        .assert()
        .code(2)
        .stderr(contains("after knocking 1 time, trying for 50 ms"));
    assert_eq!(hits(&socket), 1);
}

#[test]
fn the_knocked_address_is_the_one_verified() {
    // The door listens on IPv4 only: knocking ::1 must verify ::1, and fail.
    let (socket, port) = knock_port();
    let door = TcpListener::bind("127.0.0.1:0").unwrap();
    let door_port = door.local_addr().unwrap().port().to_string();
    let v6_knock = UdpSocket::bind("[::1]:0").unwrap();
    let v6_port = v6_knock.local_addr().unwrap().port();
    knock()
        .args([
            "--verify",
            &door_port,
            "--retries",
            "0",
            "--verify-timeout",
            "50",
        ])
        .args(["::1", &format!("{v6_port}:udp")])
        .assert()
        .code(2)
        .stderr(contains(format!("could not connect to [::1]:{door_port}")));
    knock()
        .args(["--verify", &door_port, "127.0.0.1", &format!("{port}:udp")])
        .assert()
        .success();
    assert_eq!(hits(&socket), 1);
}

#[test]
fn verify_options_are_checked_before_any_hit() {
    let (socket, port) = knock_port();
    let sequence = format!("{port}:udp");
    for (args, message) in [
        (
            &["--retries", "1"][..],
            "--retries needs a port to verify: add --verify PORT",
        ),
        (&["--verify-timeout", "10"], "--verify-timeout needs a port"),
        (
            &["--verify", "22", "--verify-timeout", "0"],
            "--verify-timeout must be at least 1 millisecond",
        ),
        (&["--verify", "99999"], "invalid port in '99999'"),
    ] {
        knock()
            .args(args)
            .args(["127.0.0.1", &sequence])
            .assert()
            .code(1)
            .stderr(contains(message));
    }
    assert_eq!(hits(&socket), 0);
}
