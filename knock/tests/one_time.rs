//! `--one-time-file`: each run knocks the first unused line and marks it
//! used, in knockd's format. Nothing here sends a packet anywhere but to
//! 127.0.0.1.

mod common;

use std::fs;
use std::net::UdpSocket;
use std::path::Path;

use assert_cmd::assert::Assert;
use assert_cmd::Command;
use predicates::str::contains;

use common::{hits, knock_port};

fn knock() -> Command {
    Command::cargo_bin("knock").unwrap()
}

/// `knock OPTIONS --one-time-file FILE HOST`.
fn knock_file(options: &[&str], file: &Path, host: &str) -> Assert {
    knock()
        .args(options)
        .arg("--one-time-file")
        .arg(file)
        .arg(host)
        .assert()
}

/// Writes a secret file with mode 0600.
fn secret(path: &Path, content: &str) {
    fs::write(path, content).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    }
}

#[test]
fn three_runs_walk_three_lines_in_step() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sequences");
    let ports: Vec<(UdpSocket, u16)> = (0..3).map(|_| knock_port()).collect();
    let lines: Vec<String> = ports
        .iter()
        .map(|(_, p)| format!(" {p}:udp,{p}:udp\n"))
        .collect();
    secret(&file, &format!("# knock's copy\n{}", lines.concat()));
    for run in 0..3 {
        let port = ports[run].1;
        knock()
            .args(["-v", "--one-time-file"])
            .arg(&file)
            .arg("127.0.0.1")
            .assert()
            .success()
            .stdout(format!(
                "hitting udp 127.0.0.1:{port}\nhitting udp 127.0.0.1:{port}\n"
            ))
            .stderr("");
        let counts: Vec<usize> = ports.iter().map(|(s, _)| hits(s)).collect();
        let mut expected = [0; 3];
        expected[run] = 2;
        assert_eq!(counts, expected, "run {run}");
        // The first `run + 1` lines now start with `#` in place of their space.
        let marked: String = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                if i <= run {
                    line.replacen(' ', "#", 1)
                } else {
                    line.clone()
                }
            })
            .collect();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            format!("# knock's copy\n{marked}")
        );
    }
    let used_up = fs::read(&file).unwrap();
    knock_file(&[], &file, "127.0.0.1")
        .code(1)
        .stderr(format!(
            "error: one-time sequences file {}: every sequence is used: add new ones, the same on the server\n",
            file.display()
        ));
    assert_eq!(fs::read(&file).unwrap(), used_up);
}

#[cfg(unix)]
#[test]
fn a_file_others_may_read_is_refused_naming_the_fix() {
    use std::os::unix::fs::PermissionsExt;

    let (socket, port) = knock_port();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sequences");
    let content = format!(" {port}:udp\n");
    secret(&file, &content);
    fs::set_permissions(&file, fs::Permissions::from_mode(0o640)).unwrap();
    knock_file(&[], &file, "127.0.0.1")
        .code(1)
        .stderr(contains(format!(
            "holds secrets but group or others may read it (mode 0640): run `chmod 600 {}`",
            file.display()
        )));
    assert_eq!(hits(&socket), 0);
    assert_eq!(fs::read_to_string(&file).unwrap(), content);
}

#[test]
fn nothing_is_marked_when_the_knock_cannot_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sequences");
    secret(&file, " 7101:udp\n");
    knock_file(&[], &file, "nosuchhost.invalid")
        .code(1)
        .stderr(contains("failed to resolve hostname"));
    assert_eq!(fs::read_to_string(&file).unwrap(), " 7101:udp\n");
}

#[test]
fn a_one_time_file_takes_no_ports_and_no_udp_option() {
    knock()
        .args(["--one-time-file", "f", "127.0.0.1", "7101"])
        .assert()
        .code(1)
        .stderr(contains("cannot be used with"));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sequences");
    secret(&file, " 7101:udp\n");
    knock_file(&["-u"], &file, "127.0.0.1")
        .code(1)
        .stderr(contains("-u cannot be used with a one-time sequences file"));
    assert_eq!(fs::read_to_string(&file).unwrap(), " 7101:udp\n");
}

#[test]
fn a_bad_line_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sequences");
    secret(&file, "#used\n 7101,x\n");
    knock_file(&[], &file, "127.0.0.1")
        .code(1)
        .stderr(contains(format!("{}: line 2: ", file.display())));
}
