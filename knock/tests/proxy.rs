//! `--proxy`: knock, connect, relay standard input and output. Nothing here
//! sends a packet anywhere but to 127.0.0.1.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::thread;

use assert_cmd::Command;
use predicates::str::contains;

use common::{hits, knock_port};

fn knock() -> Command {
    let mut command = Command::cargo_bin("knock").unwrap();
    command.env_remove("XDG_CONFIG_HOME").env_remove("HOME");
    command
}

/// A server on 127.0.0.1 that answers its one connection, once the client
/// has half-closed it, with the bytes it read reversed; returns its port.
fn reversing_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let (mut peer, _) = listener.accept().unwrap();
        let mut request = Vec::new();
        peer.read_to_end(&mut request).unwrap();
        request.reverse();
        peer.write_all(&request).unwrap();
    });
    port
}

#[test]
fn proxy_knocks_then_relays_both_ways_and_talks_on_stderr() {
    let (socket, port) = knock_port();
    let door = reversing_server();
    let sent: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let mut back = sent.clone();
    back.reverse();
    knock()
        .args(["-v", "--proxy", &door.to_string(), "127.0.0.1"])
        .arg(format!("{port}:udp"))
        .write_stdin(sent)
        .assert()
        .success()
        .stdout(back)
        .stderr(format!(
            "hitting udp 127.0.0.1:{port}\nverifying tcp 127.0.0.1:{door}\n"
        ));
    assert_eq!(hits(&socket), 1);
}

#[test]
fn a_door_that_stays_shut_exits_2_with_nothing_on_stdout() {
    let (socket, port) = knock_port();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    knock()
        .args(["--proxy", &closed.to_string(), "--retries", "1"])
        .args(["--verify-timeout", "100", "127.0.0.1"])
        .arg(format!("{port}:udp"))
        .write_stdin("ignored")
        .assert()
        .code(2)
        .stdout("")
        .stderr(format!(
            "error: could not connect to 127.0.0.1:{closed} after knocking 2 times, \
             trying for 100 ms after each knock: Connection refused\n"
        ));
    assert_eq!(hits(&socket), 2);
}

#[test]
fn proxy_refuses_verify_beside_it() {
    knock()
        .args(["--proxy", "22", "--verify", "22", "127.0.0.1", "1"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains(
            "'--proxy <PORT>' cannot be used with '--verify <PORT>'",
        ));
}

/// `ProxyCommand knock --proxy %p %h`: ssh gives the host, which names no
/// profile but is the host of one, whose knock is sent.
#[test]
fn the_host_ssh_gives_finds_its_profile() {
    let (socket, port) = knock_port();
    let door = reversing_server();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[other]\nhost = \"localhost\"\nports = [1]\n\
             [home]\nhost = \"127.0.0.1\"\nports = [\"{port}:udp\", \"{port}:udp\"]\n"
        ),
    )
    .unwrap();
    knock()
        .args(["--proxy", &door.to_string(), "--config"])
        .arg(&config)
        .arg("127.0.0.1")
        .write_stdin("ping")
        .assert()
        .success()
        .stdout("gnip")
        .stderr("");
    assert_eq!(hits(&socket), 2);
}
