//! knockd's command line as a user meets it: options, `--check`, and every
//! way a configuration can be refused. None of these captures packets.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn knockd() -> Command {
    Command::cargo_bin("knockd").unwrap()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    path
}

/// Runs `knockd ARGS -c CONF --check`, which must exit 0; its stdout and stderr.
fn check_ok(conf: &Path, args: &[&str]) -> (String, String) {
    let output = knockd()
        .args(args)
        .arg("-c")
        .arg(conf)
        .arg("--check")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (text(output.stdout), text(output.stderr))
}

const DOOR: &str = "[seq3]\nsequence = 7000,8000,9000\ntcpflags = syn\ncommand = echo %IP%\n";

#[test]
fn version_prints_the_name_and_exits_0() {
    knockd()
        .arg("-V")
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "knockd {}",
            env!("CARGO_PKG_VERSION")
        )));
}

#[test]
fn help_lists_every_0_8_option_and_exits_0() {
    let assert = knockd().arg("-h").assert().success();
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    for option in [
        "--interface",
        "--daemon",
        "--config",
        "--debug",
        "--lookup",
        "--pidfile",
        "--logfile",
        "--verbose",
        "--only-ip-v4",
        "--version",
        "--help",
        "--check",
    ] {
        assert!(out.contains(option), "{option} missing from:\n{out}");
    }
}

#[test]
fn unknown_options_and_missing_arguments_exit_1() {
    // knockd 0.8 exits 0 here (checklist 3); a script cannot tell that from success.
    for args in [&["-x"][..], &["--bogus"], &["-i"], &["-c"]] {
        knockd()
            .args(args)
            .assert()
            .code(1)
            .stderr(contains("error:"));
    }
}

#[test]
fn a_missing_config_file_names_it_and_exits_1() {
    knockd()
        .args(["-c", "/nonexistent/knockd.conf", "--check"])
        .assert()
        .code(1)
        .stderr("/nonexistent/knockd.conf: No such file or directory\n");
}

#[test]
fn every_config_error_names_file_line_and_value() {
    // What 0.8 refuses stops knockd (exit 1); a value 0.8 would mangle
    // disables its door only (exit 2: knockd would run the others).
    let dir = tempfile::tempdir().unwrap();
    for (text, line, words, code) in [
        (
            "sequence = 1\n",
            1,
            "all directives must belong to a section",
            1,
        ),
        ("[]\n", 1, "bad section name", 1),
        (
            "[d]\nsequence = 1\nfoo = 1\n",
            3,
            "unknown directive \"foo\"",
            1,
        ),
        (
            "[options]\nUseSyslog = yes\n",
            2,
            "UseSyslog takes no value",
            1,
        ),
        (
            "[d]\nsequence = 7000,70000\n",
            2,
            "port 70000 is invalid",
            1,
        ),
        ("[d]\nsequence = -1\n", 2, "port -1 is invalid", 2),
        ("[d]\nsequence = 7000:icmp\n", 2, "unknown protocol", 1),
        (
            "[d]\ntcpflags = syn,foo\nsequence = 1\n",
            2,
            "unrecognized flag \"foo\"",
            1,
        ),
        (
            "[d]\nsequence = 1\nseq_timeout = abc\n",
            3,
            "invalid value \"abc\" for seq_timeout",
            2,
        ),
        (
            "[d]\ncommand = x\n",
            1,
            "section 'd' has an empty knock sequence",
            1,
        ),
    ] {
        let conf = write(dir.path(), "knockd.conf", text);
        knockd()
            .args([
                "-i".as_ref(),
                "any".as_ref(),
                "-c".as_ref(),
                conf.as_os_str(),
                "--check".as_ref(),
            ])
            .assert()
            .code(code)
            .stderr(contains(format!("{}: line {line}: ", conf.display())))
            .stderr(contains(words));
    }
}

#[test]
fn files_that_are_not_regular_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    // A FIFO as the configuration or a one-time sequences file used to block
    // in open(); /dev/zero used to grow without bound.
    knockd()
        .timeout(std::time::Duration::from_secs(10))
        .args(["-c".as_ref(), fifo.as_os_str(), "--check".as_ref()])
        .assert()
        .code(1)
        .stderr(contains(format!("{}: not a regular file", fifo.display())));
    for one_time in [fifo.display().to_string(), "/dev/zero".to_owned()] {
        let conf = write(
            dir.path(),
            "k.conf",
            &format!("[otp]\none_time_sequences = {one_time}\n"),
        );
        knockd()
            .timeout(std::time::Duration::from_secs(10))
            .args(["-c".as_ref(), conf.as_os_str(), "--check".as_ref()])
            .assert()
            .code(1)
            .stderr(contains(format!("{one_time}: not a regular file")));
    }
}

#[test]
fn a_bad_one_time_sequences_file_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "otp", " 1,2\n 3,abc\n");
    let conf = write(dir.path(), "k.conf", "[otp]\none_time_sequences = otp\n");
    knockd()
        .current_dir(dir.path())
        .args(["-c", "k.conf", "--check"])
        .assert()
        .code(1)
        .stderr(contains(format!(
            "{}: line 2: ",
            dir.path().join("otp").display()
        )))
        .stderr(contains("port abc is invalid"));
    let _ = conf;
}

#[test]
#[cfg(target_os = "linux")] // Linux calls loopback `lo`
fn check_warns_of_a_config_others_may_write_and_of_an_untrusted_state_directory() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "k.conf", DOOR);
    fs::set_permissions(&conf, fs::Permissions::from_mode(0o666)).unwrap();
    let state = dir.path().join("state");
    let (stdout, stderr) = check_ok(&conf, &["-i", "lo", "--state-dir", state.to_str().unwrap()]);
    assert!(stdout.contains("[seq3]"), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "warning: {}: holds the commands knockd runs, but group or others may write it (mode 0666); still used, as knockd 0.8 does: run chmod go-w on it",
            conf.display()
        )),
        "{stderr}"
    );

    // A state directory others may write is a problem: exit 2.
    fs::create_dir(&state).unwrap();
    fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
    knockd()
        .args(["-i".as_ref(), "lo".as_ref(), "--state-dir".as_ref(), state.as_os_str()])
        .args(["-c".as_ref(), conf.as_os_str(), "--check".as_ref()])
        .assert()
        .code(2)
        .stderr(contains(format!(
            "group or others may write it (mode 0777), so the stop commands in it could be forged and run as knockd's user; not used: run `chmod go-w {}` --> doors opened would not close if knockd died",
            state.display()
        )));
}

#[test]
#[cfg(target_os = "linux")] // Linux calls loopback `lo`
fn check_prints_each_door_and_the_filter_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "k.conf", DOOR);
    knockd()
        .args(["-i".as_ref(), "lo".as_ref(), "-c".as_ref(), conf.as_os_str(), "--check".as_ref()])
        .assert()
        .success()
        .stdout(contains("interface: lo"))
        .stdout(contains("[seq3]"))
        .stdout(contains("sequence: 7000:tcp,8000:tcp,9000:tcp"))
        .stdout(contains("seq_timeout: 25s"))
        .stdout(contains("tcpflags: syn"))
        .stdout(contains("start_command: echo %IP%"))
        .stdout(contains(
            "((dst host 127.0.0.1) and (((tcp dst port 7000 or 8000 or 9000) and tcp[tcpflags] & tcp-syn != 0)))",
        ))
        .stdout(contains("dst host ::1"));
}

#[test]
#[cfg(target_os = "linux")] // Linux calls loopback `lo`
fn check_with_only_ipv4_has_no_ipv6_part() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "k.conf", DOOR);
    knockd()
        .args([
            "-4".as_ref(),
            "-i".as_ref(),
            "lo".as_ref(),
            "-c".as_ref(),
            conf.as_os_str(),
            "--check".as_ref(),
        ])
        .assert()
        .success()
        .stdout(contains("dst host 127.0.0.1"))
        .stdout(contains("::1").not())
        .stdout(contains("ip6").not());
}

#[test]
fn check_reads_toml_configurations() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    knockd()
        .args([
            "-i".as_ref(),
            "lo".as_ref(),
            "-c".as_ref(),
            examples.join("knockd.toml").as_os_str(),
            "--check".as_ref(),
        ])
        .assert()
        // 0 where iptables is installed, 2 where the examples' /usr/sbin/iptables is missing.
        .code(predicate::in_iter([0, 2]))
        .stdout(contains("[openSSH]"))
        .stdout(contains("[closeSSH]"))
        .stdout(contains("sequence: 9000:tcp,8000:tcp,7000:tcp"));
}

#[test]
fn check_shows_the_active_one_time_line() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "otp", "#1001,1002\n 2001,2002:udp\n 3001\n");
    let conf = write(dir.path(), "k.conf", "[otp]\none_time_sequences = otp\n");
    knockd()
        .current_dir(dir.path())
        .args(["-i", "lo", "-c", "k.conf", "--check"])
        .assert()
        .success()
        .stdout(contains(format!(
            "sequence: 2001:tcp,2002:udp (line 2 of {}, 2 unused)",
            dir.path().join("otp").display()
        )));
    let _ = conf;
}

#[test]
fn interface_option_wins_over_the_config_and_logfile_in_the_config_wins_over_g() {
    // Checklist 6 and 8: 0.8's precedence, kept.
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        &format!("[options]\nInterface = nosuchif0\nLogFile = /var/log/from-config.log\nPidFile = /run/from-config.pid\n{DOOR}"),
    );
    knockd()
        .args([
            "-i".as_ref(),
            "lo".as_ref(),
            "-g".as_ref(),
            "/tmp/from-g.log".as_ref(),
            "-p".as_ref(),
            "/tmp/from-p.pid".as_ref(),
            "-c".as_ref(),
            conf.as_os_str(),
            "--check".as_ref(),
        ])
        .assert()
        .success()
        .stdout(contains("interface: lo"))
        .stdout(contains("log file: /var/log/from-config.log"))
        .stdout(contains("pid file (with -d): /run/from-config.pid"));
}

#[test]
fn log_format_comes_from_the_config_unless_the_option_says_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        &format!("[options]\nLogFormat = json\n{DOOR}"),
    );
    let check = |extra: &[&str]| check_ok(&conf, &[&["-i", "lo"], extra].concat()).0;
    assert!(check(&[]).contains("\nlog format: json\n"));
    assert!(!check(&["--log-format", "text"]).contains("log format"));
    knockd()
        .args(["--log-format", "yaml", "--check"])
        .assert()
        .code(1)
        .stderr(contains("possible values: text, json"));
}

#[test]
fn the_config_interface_is_used_without_i() {
    // Checklist 7.
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        &format!("[options]\nInterface = nosuchif0\n{DOOR}"),
    );
    knockd()
        .args(["-c".as_ref(), conf.as_os_str()])
        .assert()
        .code(1)
        .stderr(contains("could not open nosuchif0"));
}

#[test]
fn an_empty_config_is_valid_and_filters_everything_out() {
    // Checklist 32; 0.8 installs no filter at all and decodes every packet.
    // knockd would start and watch for nothing, which --check calls a problem.
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "k.conf", "");
    knockd()
        .args([
            "-i".as_ref(),
            "lo".as_ref(),
            "-c".as_ref(),
            conf.as_os_str(),
            "--check".as_ref(),
        ])
        .assert()
        .code(2)
        .stderr(contains(
            "no door is enabled: knockd would watch for nothing",
        ))
        .stdout(contains("capture filter: len < 0"));
}

#[test]
fn tuning_limits_must_be_positive() {
    for flag in ["--max-attempts", "--max-commands"] {
        knockd().args([flag, "0", "--check"]).assert().code(1);
    }
}

#[test]
fn check_exits_2_for_a_door_that_would_be_disabled_and_shows_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        "[ssh]\nsequence = 7000,8000\nseq_timeout = 5s\n[typo]\nsequence = 7000,abc\n",
    );
    knockd()
        .args(["-i".as_ref(), "any".as_ref(), "-c".as_ref(), conf.as_os_str(), "--check".as_ref()])
        .assert()
        .code(2)
        .stdout(contains("[ssh]"))
        .stdout(contains("[typo]").not())
        .stderr(contains(format!(
            "{}: line 3: seq_timeout = 5s: read as 5, the text after the number ignored as knockd 0.8 does",
            conf.display()
        )))
        .stderr(contains(format!(
            "{}: line 5: section typo: port abc is invalid",
            conf.display()
        )))
        .stderr(contains("--> door typo would be disabled"));
}

#[test]
fn check_predicts_a_missing_interface_a_missing_program_and_an_unwritable_log() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        "[options]\nLogFile = /nonexistent/dir/knockd.log\n\
         [d]\nsequence = 7000\nstart_command = /nonexistent/fw add %IP%\n",
    );
    knockd()
        .args([
            "-i".as_ref(),
            "any".as_ref(),
            "-c".as_ref(),
            conf.as_os_str(),
            "--check".as_ref(),
        ])
        .assert()
        .code(2)
        .stderr(contains(
            "door d: start_command: program /nonexistent/fw is not found",
        ))
        .stderr(contains(
            "log file /nonexistent/dir/knockd.log: No such file or directory",
        ));
    knockd()
        .args([
            "-i".as_ref(),
            "nosuchif0".as_ref(),
            "-c".as_ref(),
            conf.as_os_str(),
            "--check".as_ref(),
        ])
        .assert()
        .code(1)
        .stderr(contains("interface nosuchif0 does not exist (there are: "));
}

#[test]
#[cfg(target_os = "linux")] // Linux calls loopback `lo`
fn several_interfaces_from_interface_or_repeated_i() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        &format!("[options]\n    Interface = lo, any lo\n{DOOR}"),
    );
    let check = |args: &[&str]| {
        check_ok(&conf, args)
            .0
            .lines()
            .filter(|line| line.starts_with("interface: "))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // Each once, in order; -i wins over Interface as a whole.
    assert_eq!(check(&[]), ["interface: lo", "interface: any"]);
    assert_eq!(
        check(&["-i", "any", "-i", "lo"]),
        ["interface: any", "interface: lo"]
    );
    assert_eq!(check(&["-i", "lo"]), ["interface: lo"]);
}

#[test]
#[cfg(target_os = "linux")] // Linux calls loopback `lo`
fn check_names_the_watchers_account_and_refuses_a_missing_user() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(dir.path(), "k.conf", "[d]\nsequence = 8153,2261,29870\n");
    let (stdout, _) = check_ok(&conf, &["-i", "lo", "--no-privsep"]);
    assert!(
        stdout.contains("privilege separation: off (Privsep = no or --no-privsep: one process)\n"),
        "{stdout}"
    );
    let output = knockd()
        .args(["-i", "lo", "--user", "no-such-user-here", "--check", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if nix::unistd::geteuid().is_root() {
        // Only root switches users: the daemon would stop at the split.
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert!(
            stderr.contains(
                "no user no-such-user-here for the watcher (User or --user) --> knockd would not start"
            ),
            "{stderr}"
        );
    } else {
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains("the watcher would keep this account"),
            "{stdout}"
        );
    }
}

#[test]
#[cfg(target_os = "linux")] // Linux calls loopback `lo`
fn check_shows_a_prefix_doors_substitution_and_warns_of_wide_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        "[options]\nopen_prefix4 = 16\n[ssh]\nsequence = 8153,2261:udp,29870\ntcpflags = syn\n\
         open_prefix6 = 64\nstart_command = echo %NET%\n",
    );
    let (stdout, stderr) = check_ok(&conf, &["-i", "lo"]);
    assert!(
        stdout.contains(
            "  open_prefix4: 16 (a knock from 198.51.100.7 opens 198.51.0.0/16: %IP% \
             198.51.100.7, %NET% 198.51.0.0/16, %PREFIX% 16)\n  open_prefix6: 64 (a knock from \
             2001:db8:1:2:a:b:c:d opens 2001:db8:1:2::/64: %IP% 2001:db8:1:2:a:b:c:d, %NET% \
             2001:db8:1:2::/64, %PREFIX% 64)\n"
        ),
        "{stdout}"
    );
    let wide: Vec<&str> = (stderr.lines())
        .filter(|line| line.contains("Open_Prefix"))
        .collect();
    assert_eq!(
        wide,
        [
            "warning: door ssh: Open_Prefix4 /16 opens the door for every host of the knocker's \
          network (shorter than /24 for IPv4 or /48 for IPv6 is many hosts); a longer prefix \
          lets fewer in"
        ]
    );
}

#[test]
#[cfg(target_os = "linux")] // Linux calls loopback `lo` and lists sockets in /proc/net
fn check_warns_about_guessable_doors_and_still_exits_0() {
    // A service listening on every address, on a port a door knocks.
    let service = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = service.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        &format!(
            "[sweepable]\nsequence = 7000,8000,9000\ntcpflags = syn\ncommand = true\n\
             [short]\nsequence = 20000\ntcpflags = syn\ncommand = true\n\
             [services]\nsequence = {port},22,20001\ntcpflags = syn\ncommand = true\n\
             [flagless]\nsequence = 7000,9000,8000\ncommand = true\n\
             [fine]\nsequence = 8153,2261:udp,29870\ntcpflags = syn\ncommand = true\n"
        ),
    );
    let (stdout, stderr) = check_ok(&conf, &["-i", "lo"]);
    assert!(
        stdout.contains(
            "[fine]\n  sequence: 8153:tcp,2261:udp,29870:tcp\n  guessing space: 48.0 bits \
             (3 knocks of 65535 ports each) against a blind guess; far less against port sweeps, \
             whose misses knockd never sees (Strict = yes stops them)\n"
        ),
        "{stdout}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|line| line.starts_with("warning: "))
        .collect();
    let expected = [
        "warning: door sweepable: sequence 7000:tcp,8000:tcp,9000:tcp is in ascending order: a \
         single port sweep in that order (nmap -r) knocks it; put its ports out of order",
        "warning: door short: only 1 knock: easy to guess and to hit by chance; use at least 3",
        &format!(
            "warning: door services: knock {port}:tcp is a port a local service listens on: its \
             clients' connections count as knocks, and scanners that find it open probe it; use a \
             port nothing listens on"
        ),
        "warning: door services: knock 22:tcp is a well-known service port (below 1024), which \
         scanners try first; use a port above 1023",
        "warning: door flagless: no TCPFlags: any TCP segment to its ports counts as a knock (a \
         stray ACK or RST, a scanner's FIN or Xmas probe); add TCPFlags = syn, which knock sends",
        "warning: doors sweepable and flagless both begin with 7000:tcp but with different \
         TCPFlags (syn; any): which door a knock starts hangs on its flags, and the looser \
         TCPFlags lets more segments to that port through; give them different first knocks or \
         the same TCPFlags",
    ];
    // This machine's own services may listen on a knock port (22 among
    // them): only the test's listener is certain.
    let ours = format!("knock {port}:tcp is a port a local service listens on");
    let others =
        |w: &&str| w.contains("is a port a local service listens on") && !w.contains(&ours);
    let warnings: Vec<&str> = warnings.into_iter().filter(|w| !others(w)).collect();
    let without_22: Vec<&str> = warnings
        .iter()
        .copied()
        .filter(|w| !w.starts_with("warning: door services: knock 22:tcp is a "))
        .collect();
    let expected_without_22: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|w| !w.starts_with("warning: door services: knock 22:tcp is a "))
        .collect();
    assert_eq!(without_22, expected_without_22);
    assert!(warnings.len() >= expected.len() - 1, "{warnings:#?}");
    drop(service);
}

#[test]
fn control_socket_option_wins_over_the_config_and_the_subcommands_find_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let conf = write(
        dir.path(),
        "k.conf",
        &format!("[options]\nControlSocket = /nonexistent/from-config.sock\n{DOOR}"),
    );
    knockd()
        .args([
            "-i".as_ref(),
            "lo".as_ref(),
            "-c".as_ref(),
            conf.as_os_str(),
        ])
        .arg("--check")
        .assert()
        .success()
        .stdout(contains("control socket: /nonexistent/from-config.sock\n"));
    knockd()
        .current_dir(dir.path())
        .args([
            "-i",
            "lo",
            "-c",
            "k.conf",
            "--control-socket",
            "my.sock",
            "--check",
        ])
        .assert()
        .success()
        .stdout(contains(format!(
            "control socket: {}\n",
            dir.path().join("my.sock").display()
        )));
    // `knockd status` asks where the daemon listens: ControlSocket of -c's file.
    knockd()
        .args(["-c".as_ref(), conf.as_os_str(), "status".as_ref()])
        .assert()
        .code(1)
        .stdout("")
        .stderr(contains(
            "cannot reach knockd at /nonexistent/from-config.sock: No such file or directory",
        ));
    knockd()
        .current_dir(dir.path())
        .args([
            "close",
            "--all",
            "-c",
            "k.conf",
            "--control-socket",
            "my.sock",
        ])
        .assert()
        .code(1)
        .stderr(contains(format!(
            "cannot reach knockd at {}",
            dir.path().join("my.sock").display()
        )));
}

#[test]
fn subcommands_check_their_arguments() {
    for args in [
        &["close", "web"][..],
        &["close", "web", "not-an-ip"],
        &["close", "--all", "web"],
        &["status", "--json", "--prometheus"],
        &["status", "web", "--prometheus"],
    ] {
        knockd()
            .args(args)
            .assert()
            .code(1)
            .stderr(contains("error:"));
    }
}

/// `k.conf` in `dir`: a rotating door `[rot]` with a private secret file,
/// then `rest`.
fn rotating_conf(dir: &Path, rest: &str) -> PathBuf {
    let key = write(dir, "door.key", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n");
    fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let text = format!(
        "[rot]\nRotating_Secret = {}\nRotating_Range = 20000-29999\ntcpflags = syn\n\
         command = true\n{rest}",
        key.display()
    );
    write(dir, "k.conf", &text)
}

#[test]
fn check_warns_that_rotating_doors_replay_across_restarts_without_a_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let conf = rotating_conf(dir.path(), DOOR);
    // A regular file where the state directory should be: unusable even by root.
    let state = write(dir.path(), "state", "");
    let state_arg = state.to_str().unwrap();
    let (_, stderr) = check_ok(&conf, &["-i", "lo", "--state-dir", state_arg]);
    assert!(
        stderr.contains(&format!(
            "warning: state directory {state_arg}: Not a directory: 1 rotating door(s) keep \
             their spent steps in memory only --> a knock sniffed or replayed before a restart \
             opens its door again after it"
        )),
        "{stderr}"
    );
    let usable = dir.path().join("usable");
    let (_, stderr) = check_ok(
        &conf,
        &["-i", "lo", "--state-dir", usable.to_str().unwrap()],
    );
    assert!(!stderr.contains("spent steps"), "{stderr}");
}

#[test]
fn check_counts_a_rotating_door_as_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let conf = rotating_conf(dir.path(), "");
    let state = dir.path().join("state");
    let (stdout, stderr) = check_ok(&conf, &["-i", "lo", "--state-dir", state.to_str().unwrap()]);
    assert!(!stderr.contains("no door is enabled"), "{stdout}{stderr}");
}
