//! The command line: options, exit statuses and error messages. Nothing here
//! sends a packet anywhere but over the loopback interface (127.0.0.1, ::1).

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn knock() -> Command {
    Command::cargo_bin("knock").unwrap()
}

/// Runs `knock ARGS`, expecting exit status 1, nothing on stdout and `needle` on stderr.
fn fails_with(args: &[&str], needle: &str) {
    knock()
        .args(args)
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains(needle));
}

#[test]
fn help_exits_zero_with_usage_on_stdout() {
    for flag in ["-h", "--help"] {
        knock()
            .arg(flag)
            .assert()
            .success()
            .stdout(contains("Usage: knock [OPTIONS] <HOST> <PORT[:PROTO]>..."))
            .stdout(contains("--flags <LIST>"))
            .stderr("");
    }
}

#[test]
fn version_exits_zero() {
    for flag in ["-V", "--version"] {
        knock()
            .arg(flag)
            .assert()
            .success()
            .stdout(format!("knock {}\n", env!("CARGO_PKG_VERSION")));
    }
}

#[test]
fn missing_arguments_are_usage_errors() {
    // Checklist 87: exit 1, not clap's 2.
    knock().assert().code(1).stderr(contains("Usage: knock"));
}

#[test]
fn a_host_without_ports_is_read_as_a_profile_name() {
    // Without PORT the argument names a profile; the error names the file
    // searched, so a forgotten port list is plain to see.
    let config = tempfile::tempdir().unwrap();
    let searched = config.path().join("knock/config.toml");
    knock()
        .env("XDG_CONFIG_HOME", config.path())
        .arg("127.0.0.1")
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains(format!(
            "the profile file {} cannot be read",
            searched.display()
        )));
}

#[test]
fn unknown_option_is_a_usage_error() {
    // Checklist 88.
    fails_with(&["--bogus", "127.0.0.1", "1"], "'--bogus'");
    fails_with(&["-x", "127.0.0.1", "1"], "'-x'");
}

#[test]
fn ipv4_and_ipv6_together_are_refused() {
    fails_with(&["-4", "-6", "127.0.0.1", "1"], "cannot be used with");
}

#[test]
fn delay_must_be_a_non_negative_number() {
    // Checklist 89.
    fails_with(&["-d", "-5", "127.0.0.1", "1"], "delay cannot be negative");
    fails_with(
        &["--delay=-1", "127.0.0.1", "1"],
        "delay cannot be negative",
    );
    fails_with(&["-d", "abc", "127.0.0.1", "1"], "milliseconds");
    fails_with(&["127.0.0.1", "1", "-d"], "a value is required");
}

#[test]
fn out_of_range_ports_are_errors_naming_the_port() {
    fails_with(&["127.0.0.1", "1", "99999"], "'99999'");
    fails_with(&["127.0.0.1", "70000:udp"], "'70000:udp'");
    fails_with(&["127.0.0.1", "-5"], "'-5'");
    fails_with(&["127.0.0.1", "--", "-5"], "invalid port in '-5'");
    fails_with(&["127.0.0.1", "0"], "'0'");
    fails_with(&["127.0.0.1", ":udp"], "':udp'");
}

#[test]
fn validation_errors_come_before_any_hit() {
    // `-v` announces each hit before sending it: none may be announced when
    // a later argument is bad (checklist 91 sent the first one).
    fails_with(&["-v", "127.0.0.1", "7101", "99999"], "'99999'");
    fails_with(
        &["-v", "127.0.0.1", "7101", "nosuchservice", "7102"],
        "nosuchservice",
    );
    fails_with(&["-v", "127.0.0.1", "7101", "7102:icmp"], "'7102:icmp'");
}

#[test]
fn unknown_protocol_is_an_error() {
    fails_with(
        &["127.0.0.1", "7000:icmp"],
        "unknown protocol in '7000:icmp'",
    );
    fails_with(&["127.0.0.1", "7000:"], "unknown protocol");
}

#[test]
fn unknown_service_is_an_error() {
    fails_with(
        &["127.0.0.1", "nosuchservice:udp"],
        "unknown udp service 'nosuchservice'",
    );
}

#[test]
fn bad_flag_lists_are_refused() {
    fails_with(&["--flags", "push", "127.0.0.1", "1"], "\"push\"");
    fails_with(
        &["--flags", "syn,", "127.0.0.1", "1"],
        "unrecognized flag \"\"",
    );
    fails_with(&["--flags", "syn,!ack", "127.0.0.1", "1"], "negated flags");
    fails_with(
        &["--flags", "syn", "-u", "127.0.0.1", "1"],
        "cannot be used with",
    );
    fails_with(&["--flags"], "a value is required");
}

#[test]
fn unresolvable_host_is_named() {
    // Checklist 90. The reserved .invalid TLD cannot resolve anywhere.
    fails_with(
        &["-v", "nosuchhost.invalid", "7101"],
        "failed to resolve hostname 'nosuchhost.invalid'",
    );
}

#[test]
fn address_family_must_match_a_literal() {
    // Checklist 94.
    fails_with(&["-6", "127.0.0.1", "7101"], "no IPv6 address");
    fails_with(&["-4", "::1", "7101"], "no IPv4 address");
}

#[test]
fn verbose_announces_each_hit_as_typed() {
    // Checklists 92 and 93, with `:UDP` now meaning UDP.
    knock()
        .args([
            "-v",
            "127.0.0.1",
            "7101",
            "ssh",
            "7102:UDP",
            "7103:udp",
            "7104:Tcp",
        ])
        .assert()
        .success()
        .stdout(
            "hitting tcp 127.0.0.1:7101\n\
             hitting tcp 127.0.0.1:ssh\n\
             hitting udp 127.0.0.1:7102\n\
             hitting udp 127.0.0.1:7103\n\
             hitting tcp 127.0.0.1:7104\n",
        )
        .stderr("");
}

#[test]
fn verbose_brackets_an_ipv6_address() {
    // Issue 26: `hitting tcp ::1:7101` reads as an address ending in :7101.
    knock()
        .args(["-v", "::1", "7101", "ssh", "7102:udp"])
        .assert()
        .success()
        .stdout(
            "hitting tcp [::1]:7101\n\
             hitting tcp [::1]:ssh\n\
             hitting udp [::1]:7102\n",
        )
        .stderr("");
}

#[test]
#[cfg(target_os = "linux")]
fn verbose_keeps_an_ipv6_zone_by_name() {
    // lo has no link-local route, so the hit is refused before it leaves the
    // host; where it is sent, it goes out on lo.
    knock()
        .args(["-v", "fe80::1%lo", "7101:udp"])
        .assert()
        .stdout("hitting udp [fe80::1%lo]:7101\n")
        .stderr(
            predicate::str::is_empty().or(predicate::str::contains("hit to [fe80::1%lo]:7101: ")),
        );
}

#[test]
fn udp_option_sends_every_hit_as_udp() {
    // knock 0.8's manual: -u makes every hit UDP, `:tcp` included.
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    knock()
        .args(["-v", "-u", "127.0.0.1", "7101", &format!("{port}:tcp")])
        .assert()
        .success()
        .stdout(format!(
            "hitting udp 127.0.0.1:7101\nhitting udp 127.0.0.1:{port}\n"
        ));
    let mut datagram = [0xff; 8];
    let (len, _) = socket.recv_from(&mut datagram).unwrap();
    assert_eq!(&datagram[..len], [0]);
}

#[test]
fn quiet_knock_prints_nothing() {
    knock()
        .args(["127.0.0.1", "7101", "7102:udp"])
        .assert()
        .success()
        .stdout("")
        .stderr("");
}

#[test]
fn delay_applies_after_every_hit() {
    // Checklist 96: two hits and a 150 ms delay take at least 300 ms.
    let start = std::time::Instant::now();
    knock()
        .args(["-d", "150", "127.0.0.1", "7101:udp", "7102:udp"])
        .assert()
        .success();
    assert!(start.elapsed() >= std::time::Duration::from_millis(300));
}

#[test]
fn options_may_follow_the_arguments() {
    knock()
        .args(["127.0.0.1", "7101:udp", "--verbose", "-4"])
        .assert()
        .success()
        .stdout(predicate::eq("hitting udp 127.0.0.1:7101\n"));
}
