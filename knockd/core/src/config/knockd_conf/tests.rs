use super::*;
use crate::config::{Door, LogFormat, SequenceSource};
use knock_proto::TcpFlags;
use proptest::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

fn read(text: &str) -> Result<Config, ConfigError> {
    parse(Path::new("/etc/knockd.conf"), text.as_bytes())
}

fn error(text: &str) -> (Option<usize>, String) {
    let e = read(text).unwrap_err();
    (e.line, e.kind.to_string())
}

/// The first door `text` disables (it must read), with its line and message.
fn problem(text: &str) -> (Option<usize>, String) {
    let c = read(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    let first = c
        .disabled
        .first()
        .unwrap_or_else(|| panic!("{text:?} disables no door"));
    (first.error.line, first.error.kind.to_string())
}

fn fixed(door: &Door) -> String {
    match &door.sequence {
        SequenceSource::Fixed(s) => s.to_string(),
        SequenceSource::OneTime(p) => format!("file {}", p.display()),
        SequenceSource::Rotating(r) => format!("rotating {}", r.secret_file.display()),
    }
}

#[test]
fn rotating_doors_take_their_keys_in_any_order_with_defaults() {
    let c = read(
        "[openSSH]\nRotating_Step = 60\nRotating_Secret = /etc/knockd/ssh.key\n\
             Rotating_Range = 20000-60000\nRotating_Protocol = MIXED\nstrict = yes\n\
             [plain]\nsequence = 1,2,3\n",
    )
    .unwrap();
    let SequenceSource::Rotating(r) = &c.doors[0].sequence else {
        panic!("{:?}", c.doors[0].sequence)
    };
    assert_eq!(r.secret_file, PathBuf::from("/etc/knockd/ssh.key"));
    let rotation = r.rotation;
    assert_eq!(rotation.step(), 60);
    assert_eq!(rotation.range().to_string(), "20000-60000");
    assert_eq!(rotation.length(), 4);
    assert_eq!(rotation.protocol().to_string(), "mixed");
    assert_eq!(rotation.skew(), 1);
    assert!(c.doors[0].strict);
    assert!(!c.doors[1].strict);
}

#[test]
fn bad_rotating_settings_disable_only_their_door() {
    let cases = [
        (
            "Rotating_Secret = k\nsequence = 1,2",
            "Rotating_Secret excludes Sequence",
        ),
        ("Rotating_Step = 30\nsequence = 1,2", "need Rotating_Secret"),
        (
            "Rotating_Secret = k\nRotating_Step = 0",
            "step of 0 seconds is out of range",
        ),
        (
            "Rotating_Secret = k\nRotating_Range = 5-1",
            "invalid value \"5-1\" for Rotating_Range",
        ),
        (
            "Rotating_Secret = k\nRotating_Range = 1-3\nRotating_Length = 4",
            "length 4 is out of range (1 to 3",
        ),
        (
            "Rotating_Secret = k\nRotating_Skew = 11",
            "skew of 11 steps",
        ),
        (
            "Rotating_Secret = k\nRotating_Protocol = sctp",
            "tcp, udp or mixed",
        ),
        (
            "sequence = 1,2\nStrict = maybe",
            "invalid value \"maybe\" for Strict",
        ),
    ];
    for (keys, message) in cases {
        let text = format!("[bad]\n{keys}\n[good]\nsequence = 7,8,9\n");
        let c = read(&text).unwrap_or_else(|e| panic!("{keys}: {e}"));
        assert_eq!(c.doors.len(), 1, "{keys}");
        assert_eq!(c.doors[0].name, "good");
        let error = c.disabled[0].error.to_string();
        assert!(error.contains(message), "{keys}: {error}");
    }
}

const CLASSIC: &str = "\
[options]
\tUseSyslog
\tLogFile = /var/log/knockd.log

[openSSH]
\tsequence    = 7000,8000,9000
\tseq_timeout = 5
\tcommand     = /sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
\ttcpflags    = syn
";

#[test]
fn the_classic_example_reads_with_0_8_defaults() {
    let c = read(CLASSIC).unwrap();
    assert!(c.options.use_syslog);
    assert_eq!(c.options.log_file, Some("/var/log/knockd.log".into()));
    assert_eq!(c.doors.len(), 1);
    let d = &c.doors[0];
    assert_eq!(d.name, "openSSH");
    assert_eq!(fixed(d), "7000:tcp,8000:tcp,9000:tcp");
    assert_eq!(d.seq_timeout, Duration::from_secs(5));
    assert_eq!(d.cmd_timeout, Duration::from_secs(10));
    assert_eq!(d.tcp_flags, TcpFlags::parse("syn").unwrap());
    assert_eq!(
        d.start_command.as_deref(),
        Some("/sbin/iptables -A INPUT -s %IP% -p tcp --dport 22 -j ACCEPT")
    );
}

#[test]
fn seq_timeout_defaults_to_25_seconds() {
    let c = read("[d]\nsequence = 1\n").unwrap();
    assert_eq!(c.doors[0].seq_timeout, Duration::from_secs(25));
}

#[test]
fn c10_directive_before_any_section() {
    assert_eq!(error("sequence = 1\n").0, Some(1),);
    assert!(error("logfile = x\n")
        .1
        .starts_with("all directives must belong to a section"));
}

#[test]
fn c11_empty_section_name() {
    let (line, msg) = error("[options]\n[]\n");
    assert_eq!(line, Some(2));
    assert!(msg.starts_with("bad section name"), "{msg}");
}

#[test]
fn c12_unknown_and_misplaced_keys_are_syntax_errors() {
    for (text, line, word) in [
        (
            "[d]\nsequence = 1\nfoo = bar\n",
            3,
            "unknown directive \"foo\"",
        ),
        ("[options]\nbar = 1\n", 2, "unknown directive \"bar\""),
        (
            "[d]\nsequence = 1\nLogFile = /x\n",
            3,
            "LogFile belongs in [options]",
        ),
        (
            "[options]\nsequence = 1\n",
            2,
            "sequence belongs in a door section",
        ),
        (
            "[d]\nsequence = 1\ncommand\n",
            3,
            "\"command\" is not a directive",
        ),
    ] {
        let (l, msg) = error(text);
        assert_eq!(l, Some(line), "{text}");
        assert!(
            msg.starts_with("syntax error") && msg.contains(word),
            "{msg}"
        );
    }
}

#[test]
fn c13_bare_usesyslog_is_global_even_in_a_door() {
    let c = read("[d]\nsequence = 1\nUseSyslog\n").unwrap();
    assert!(c.options.use_syslog);
}

#[test]
fn c14_usesyslog_with_a_value_is_a_syntax_error() {
    let (line, msg) = error("[options]\nUseSyslog = yes\n");
    assert_eq!(line, Some(2));
    assert!(msg.contains("UseSyslog takes no value"), "{msg}");
}

#[test]
fn c15_capitalised_options_is_a_door() {
    let (line, msg) = error("[Options]\nlogfile = x\n");
    assert_eq!(line, Some(2));
    assert!(msg.contains("belongs in [options]"), "{msg}");
}

#[test]
fn c16_to_c20_sequences() {
    assert!(error("[d]\nsequence = 7000,70000\n")
        .1
        .starts_with("section d: port 70000 is invalid"));
    assert!(error("[d]\nsequence = 7000:icmp\n")
        .1
        .starts_with("section d: unknown protocol in knock sequence element 7000:icmp"));
    let ports = |n: usize| (1..=n).map(|p| p.to_string()).collect::<Vec<_>>().join(",");
    assert!(read(&format!("[d]\nsequence = {}\n", ports(32))).is_ok());
    assert!(error(&format!("[d]\nsequence = {}\n", ports(33)))
        .1
        .starts_with("section d: too many ports"));
    let c = read("[d]\nsequence = 0,65535, 8000 , 9000:UDP ,10000: tcp\n").unwrap();
    assert_eq!(
        fixed(&c.doors[0]),
        "0:tcp,65535:tcp,8000:tcp,9000:udp,10000:tcp"
    );
}

#[test]
fn c17_c20_values_0_8_mangles_disable_their_door_with_line_and_value() {
    // 0.8 turns -1 into 65535, abc into 0, `sequence =` into 0:tcp and `1,,2,` into 1,0,2,0.
    for (value, what) in [
        ("-1", "port -1 is invalid"),
        ("abc", "port abc is invalid"),
        ("", "empty knock sequence"),
        ("1,,2,", "element 2 of the knock sequence is empty"),
    ] {
        let (line, msg) = problem(&format!("[d]\nsequence = {value}\n"));
        assert_eq!(line, Some(2), "{value}");
        assert!(msg.contains(what), "{value}: {msg}");
    }
}

#[test]
fn a_typo_in_one_door_never_takes_down_the_others() {
    let c =
        read("[ssh]\nsequence = 7000,8000\n[typo]\nsequence = 7000,abc\n[web]\nsequence = 9000\n")
            .unwrap();
    let names: Vec<&str> = c.doors.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["ssh", "web"]);
    assert_eq!(c.disabled.len(), 1);
    assert_eq!(c.disabled[0].door, "typo");
    assert_eq!(
            c.disabled[0].error.to_string(),
            "/etc/knockd.conf: line 4: section typo: port abc is invalid (expected a number from 0 to 65535, optionally followed by :tcp or :udp)"
        );
}

#[test]
fn values_0_8_reads_meaningfully_are_read_alike_with_a_warning() {
    let c =
        read("[d]\nsequence = 7000x,8000:udp\nseq_timeout = 5s\ncmd_timeout = 2.5 secs\n").unwrap();
    assert!(c.disabled.is_empty());
    let d = &c.doors[0];
    assert_eq!(fixed(d), "7000:tcp,8000:udp");
    assert_eq!(d.seq_timeout, Duration::from_secs(5));
    assert_eq!(d.cmd_timeout, Duration::from_millis(2500));
    let warnings: Vec<String> = c.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
            warnings,
            [
                "/etc/knockd.conf: line 2: sequence = 7000x: read as 7000, the text after the number ignored as knockd 0.8 does",
                "/etc/knockd.conf: line 3: seq_timeout = 5s: read as 5, the text after the number ignored as knockd 0.8 does",
                "/etc/knockd.conf: line 4: cmd_timeout = 2.5 secs: read as 2.5, the text after the number ignored as knockd 0.8 does",
            ]
        );
    // What 0.8 refuses, we refuse: a port above 65535, even with text after it.
    assert!(error("[d]\nsequence = 70000x\n")
        .1
        .contains("port 70000x is invalid"));
}

#[test]
fn c21_door_without_sequence_names_door_and_header_line() {
    let (line, msg) = error("[options]\n\n[d]\ncommand = x\n");
    assert_eq!(line, Some(3));
    assert!(
        msg.starts_with("section 'd' has an empty knock sequence"),
        "{msg}"
    );
}

#[test]
fn c22_c23_tcp_flags() {
    let (line, msg) = error("[d]\nsequence = 1\ntcpflags = syn,foo\n");
    assert_eq!(line, Some(3));
    assert!(msg.starts_with("unrecognized flag \"foo\""), "{msg}");
    assert!(error("[d]\nsequence = 1\ntcpflags = syn,\n")
        .1
        .starts_with("unrecognized flag \"\""));
    assert!(error("[d]\nsequence = 1\ntcpflags = push\n")
        .1
        .contains("\"push\""));
    // Deliberate difference: 0.8 refuses the blank in `syn, ack`.
    let c = read("[d]\nsequence = 1\ntcpflags = syn, ack\n").unwrap();
    assert_eq!(c.doors[0].tcp_flags.to_string(), "syn,ack");
    // Several lines accumulate, later tokens override.
    let c = read("[d]\nsequence = 1\ntcpflags = syn,ack\nTCPFlags = !ack,fin\n").unwrap();
    assert_eq!(c.doors[0].tcp_flags.to_string(), "fin,syn,!ack");
}

#[test]
fn c24_crlf_and_indented_comments() {
    let c =
        read("[options]\r\n   # comment\r\n\tlogfile = /l\r\n[d]\r\n sequence = 1,2\r\n").unwrap();
    assert_eq!(c.options.log_file, Some("/l".into()));
    assert_eq!(fixed(&c.doors[0]), "1:tcp,2:tcp");
}

#[test]
fn c25_comments_after_sequences() {
    let c = read("[d]\nsequence = 1,2 # c\n").unwrap();
    assert_eq!(fixed(&c.doors[0]), "1:tcp,2:tcp");
    // Deliberate difference: 0.8 calls the protocol `udp # c` unknown.
    let c = read("[d]\nsequence = 1,2:udp # c\n").unwrap();
    assert_eq!(fixed(&c.doors[0]), "1:tcp,2:udp");
    assert!(error("[d]\nsequence = 1\n; comment\n")
        .1
        .starts_with("syntax error"));
}

#[test]
fn c26_timeouts_aliases_and_junk_that_disables_the_door() {
    let c = read("[d]\nsequence = 1\ntimeout = 7\ncmd_timeout = 2.5\n").unwrap();
    assert_eq!(c.doors[0].seq_timeout, Duration::from_secs(7));
    assert_eq!(c.doors[0].cmd_timeout, Duration::from_millis(2500));
    // 0.8 reads `abc` as 0 and sleeps ~136 years for -5.
    for (key, value) in [
        ("seq_timeout", "abc"),
        ("cmd_timeout", "-5"),
        ("Seq_Timeout", ""),
    ] {
        let (line, msg) = problem(&format!("[d]\nsequence = 1\n{key} = {value}\n"));
        assert_eq!(line, Some(3));
        assert!(
            msg.starts_with(&format!("invalid value \"{value}\" for {key}")),
            "{msg}"
        );
    }
}

#[test]
fn c27_values_keep_everything_after_the_first_equals() {
    let c = read("[d]\nsequence = 1\nstart_command = a=b c==d # not a comment\n").unwrap();
    assert_eq!(
        c.doors[0].start_command.as_deref(),
        Some("a=b c==d # not a comment")
    );
}

#[test]
fn c28_duplicate_door_names_are_two_doors() {
    let c = read("[ssh]\nsequence = 1\n[ssh]\nsequence = 2\n").unwrap();
    assert_eq!(c.doors.len(), 2);
    assert_eq!(fixed(&c.doors[1]), "2:tcp");
}

#[test]
fn c29_section_names_keep_inner_text() {
    let c = read("[  my door  ]\nsequence = 1\n[a]b]\nsequence = 2\n").unwrap();
    assert_eq!(c.doors[0].name, "  my door  ");
    assert_eq!(c.doors[1].name, "a]b");
    // `[options` without the bracket is a directive without `=`.
    assert!(error("[options\n").1.starts_with("all directives"));
    // Deliberate difference: 0.8 cuts door names at 127 bytes.
    let long = "n".repeat(200);
    let c = read(&format!("[{long}]\nsequence = 1\n")).unwrap();
    assert_eq!(c.doors[0].name, long);
}

#[test]
fn c30_long_lines_are_not_split() {
    // Deliberate difference: 0.8 splits lines at 4095 bytes and reports a syntax error.
    // A 4106-byte line whose command, 4090 bytes, knockd can run.
    let command = format!("echo {}", "x".repeat(4085));
    let c = read(&format!("[d]\nsequence = 1\ncommand = {command}\n")).unwrap();
    assert_eq!(c.doors[0].start_command.as_deref(), Some(command.as_str()));
}

#[test]
fn c31_one_time_sequences_path_is_kept() {
    let c = read("[d]\none_time_sequences = /etc/knockd/otp\n").unwrap();
    assert_eq!(fixed(&c.doors[0]), "file /etc/knockd/otp");
    assert!(error("[d]\none_time_sequences =\n")
        .1
        .starts_with("invalid value"));
}

#[test]
fn c32_empty_config_is_valid() {
    assert_eq!(read("").unwrap(), Config::default());
    assert_eq!(
        read("# only comments\n[options]\n").unwrap(),
        Config::default()
    );
}

#[test]
fn sequence_and_one_time_sequences_replace_each_other() {
    let c = read("[d]\none_time_sequences = /o\nsequence = 5\n").unwrap();
    assert_eq!(fixed(&c.doors[0]), "5:tcp");
    let c = read("[d]\nsequence = 5\none_time_sequences = /o\n").unwrap();
    assert_eq!(fixed(&c.doors[0]), "file /o");
}

#[test]
fn global_options_follow_0_8_precedence_within_the_file() {
    let c = read(
        "[options]\nInterface = eth1\nInterface = eth2\nLogFile = /a\nLogFile = /b\nPidFile = /p\n",
    )
    .unwrap();
    assert_eq!(c.options.interface.as_deref(), Some("eth1"));
    assert_eq!(c.options.log_file, Some("/b".into()));
    assert_eq!(c.options.pid_file, Some("/p".into()));
}

#[test]
fn commands_and_their_ipv6_variants_and_target() {
    let c = read(
            "[d]\nsequence = 1\nCommand = a\nCommand_6 = b\nStop_Command = c\nstop_command_6 = \nTarget = FD00:1::1\n",
        )
        .unwrap();
    let d = &c.doors[0];
    assert_eq!(d.start_command.as_deref(), Some("a"));
    assert_eq!(d.start_command_6.as_deref(), Some("b"));
    assert_eq!(d.stop_command.as_deref(), Some("c"));
    assert_eq!(d.stop_command_6.as_deref(), Some(""));
    assert_eq!(d.target, Some("fd00:1::1".parse().unwrap()));
    assert!(problem("[d]\nsequence = 1\ntarget = gateway.example\n")
        .1
        .contains("expected an IPv4 or IPv6 address"));
}

#[test]
fn source_lists_add_up_and_options_give_the_default_of_each() {
    let list = |text| crate::sources::parse_list(text).unwrap();
    let c = read(
        "[own]\nsequence = 1\nAllow_From = 198.51.100.0/24\nallow_from = 2001:db8::/32\n\
             [inherits]\nsequence = 2\nDeny_From = 198.51.100.7\n\
             [options]\nAllow_From = 203.0.113.0/24\nDENY_FROM = 203.0.113.9, 203.0.113.10\n\
             [repeats]\nsequence = 3\nAllow_Repeats = yes\n",
    )
    .unwrap();
    let [own, inherits, repeats] = &c.doors[..] else {
        panic!("{:?}", c.doors)
    };
    assert_eq!(own.sources.allow, list("198.51.100.0/24, 2001:db8::/32"));
    assert_eq!(own.sources.deny, list("203.0.113.9, 203.0.113.10"));
    assert_eq!(inherits.sources.allow, list("203.0.113.0/24"));
    assert_eq!(inherits.sources.deny, list("198.51.100.7"));
    assert!(repeats.allow_repeats && !own.allow_repeats);
    assert_eq!(repeats.sources, c.options.sources);
}

#[test]
fn a_bad_source_list_disables_its_door_and_a_bad_default_is_refused() {
    let (at, msg) = problem("[d]\nsequence = 1\nAllow_From = 198.51.100.7/24\n");
    assert_eq!(at, Some(3));
    assert!(msg.contains("write the network 198.51.100.0/24"), "{msg}");
    let (at, msg) = problem("[d]\nsequence = 1\nDeny_From = everyone\n");
    assert_eq!(at, Some(3));
    assert!(
        msg.starts_with("Deny_From: \"everyone\" is not an address"),
        "{msg}"
    );
    assert!(problem("[d]\nsequence = 1\nAllow_Repeats = twice\n")
        .1
        .contains("expected yes or no"));
    let (at, msg) = error("[options]\nallow_from = 198.51.100.0/33\n[d]\nsequence = 1\n");
    assert_eq!(at, Some(2));
    assert!(msg.contains("198.51.100.0/33"), "{msg}");
}

#[test]
fn log_format_is_text_or_json_in_any_case() {
    let c = read("[options]\nLogFormat = JSON\n[d]\nsequence = 1\n").unwrap();
    assert_eq!(c.options.log_format, Some(LogFormat::Json));
    let c = read("[options]\nlogformat = text\n").unwrap();
    assert_eq!(c.options.log_format, Some(LogFormat::Text));
    assert_eq!(
        read("[d]\nsequence = 1\n").unwrap().options.log_format,
        None
    );
    let (at, msg) = error("[options]\nLogFormat = yaml\n");
    assert_eq!(at, Some(2));
    assert!(msg.contains("text or json"), "{msg}");
    let (_, msg) = error("[d]\nsequence = 1\nLogFormat = json\n");
    assert!(msg.contains("LogFormat belongs in [options]"), "{msg}");
}

#[test]
fn control_socket_is_an_option() {
    let c = read("[options]\ncontrolsocket = /run/k.sock\n[d]\nsequence = 1\n").unwrap();
    assert_eq!(c.options.control_socket, Some("/run/k.sock".into()));
    let (at, msg) = error("[d]\nsequence = 1\nControlSocket = /x\n");
    assert_eq!(at, Some(3));
    assert!(msg.contains("ControlSocket belongs in [options]"), "{msg}");
}

#[test]
fn open_prefixes_per_door_win_over_options_wherever_options_stand() {
    let c = read(
        "[ssh]\nsequence = 1\nOpen_Prefix6 = 56\n[web]\nsequence = 2\n\
         [options]\nopen_prefix4 = 24\nOPEN_PREFIX6 = 64\n",
    )
    .unwrap();
    let prefixes: Vec<_> = (c.doors.iter())
        .map(|d| (d.open_prefix.v4, d.open_prefix.v6))
        .collect();
    assert_eq!(prefixes, [(Some(24), Some(56)), (Some(24), Some(64))]);
    let plain = &read("[d]\nsequence = 1\n").unwrap().doors[0];
    assert_eq!(plain.open_prefix, Default::default());
    for (line, expected) in [
        ("Open_Prefix4 = 33", "a prefix length from 0 to 32"),
        ("Open_Prefix6 = /64", "a prefix length from 0 to 128"),
    ] {
        let (at, msg) = problem(&format!("[d]\nsequence = 1\n{line}\n"));
        assert_eq!(at, Some(3), "{line}");
        assert!(msg.contains(expected), "{line}: {msg}");
    }
    // A bad default would change every door: refused.
    let (at, msg) = error("[options]\nOpen_Prefix4 = 40\n[d]\nsequence = 1\n");
    assert_eq!(at, Some(2));
    assert!(msg.contains("a prefix length from 0 to 32"), "{msg}");
}

#[test]
fn ledger_directives_refresh_cooldown_max_open_and_state_dir() {
    let c = read(
            "[options]\nStateDir = /var/lib/k\n[d]\nsequence = 1\nRefresh = yes\nCooldown = 2.5\nMax_Open = 3\n",
        )
        .unwrap();
    assert_eq!(c.options.state_dir, Some("/var/lib/k".into()));
    let d = &c.doors[0];
    assert!(d.refresh);
    assert_eq!(d.cooldown, Duration::from_millis(2500));
    assert_eq!(d.max_open, Some(3));
    let plain = &read("[d]\nsequence = 1\n").unwrap().doors[0];
    assert_eq!(
        (plain.refresh, plain.cooldown, plain.max_open),
        (false, Duration::ZERO, None)
    );
    for (line, expected) in [
        ("refresh = maybe", "expected yes or no"),
        ("cooldown = -1", "expected a number of seconds"),
        ("max_open = 0", "expected a whole number of at least 1"),
    ] {
        let (at, msg) = problem(&format!("[d]\nsequence = 1\n{line}\n"));
        assert_eq!(at, Some(3), "{line}");
        assert!(msg.contains(expected), "{line}: {msg}");
    }
    let (at, msg) = error("[d]\nsequence = 1\nStateDir = /x\n");
    assert_eq!(at, Some(3));
    assert!(msg.contains("StateDir belongs in [options]"), "{msg}");
    assert!(error("[options]\nrefresh = yes\n")
        .1
        .contains("belongs in a door section"));
}

#[test]
fn commands_too_long_for_an_ipv6_knocker_are_refused_as_0_8_does() {
    // 4061 bytes, 4096 once %IP% is `ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff`.
    let command = format!("echo {} %IP%", "x".repeat(4051));
    let (line, msg) = error(&format!("[d]\nsequence = 1\nstop_command = {command}\n"));
    assert_eq!(line, Some(3));
    assert_eq!(
            msg,
            "stop_command is 4096 bytes once %IP% is the longest (IPv6) address; knockd runs commands of at most 4095 bytes, as 0.8"
        );
    let fits = format!("echo {} %IP%", "x".repeat(4050));
    assert!(read(&format!("[d]\nsequence = 1\nstop_command = {fits}\n")).is_ok());
}

#[test]
fn errors_show_control_and_invisible_characters() {
    let (_, msg) = problem("[d]\nsequence = 1\nseq_timeout = \u{1b}[2J\u{feff}5\n");
    assert_eq!(
            msg,
            "invalid value \"\\u{1b}[2J\\u{feff}5\" for seq_timeout (expected a number of seconds, such as 5 or 2.5)"
        );
}

#[test]
fn errors_name_file_and_line() {
    let e = read("[d]\nsequence = 1\nbogus = 1\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "/etc/knockd.conf: line 3: syntax error: unknown directive \"bogus\""
    );
}

#[test]
fn comments_may_hold_any_bytes() {
    let c = parse(
        Path::new("f"),
        b"# T\xfcr (Latin-1)\n[d]\n  #\xff\xfe\nsequence = 1\n",
    )
    .unwrap();
    assert_eq!(c.doors.len(), 1);
}

#[test]
fn section_names_and_commands_may_hold_any_bytes_but_nul() {
    let c = parse(
        Path::new("f"),
        b"[T\xfcr]\nsequence = 1\ncommand = echo \xff%IP%\xfe\n",
    )
    .unwrap();
    let door = &c.doors[0];
    assert_eq!(&*crate::bytes::encode(&door.name), b"T\xfcr");
    let command = door.start_command.as_deref().unwrap();
    assert_eq!(&*crate::bytes::encode(command), b"echo \xff%IP%\xfe");
    let e = parse(Path::new("f"), b"[d]\nsequence = 1\ncommand = a\0b\n").unwrap_err();
    assert_eq!(e.line, Some(3));
    assert_eq!(e.kind, ConfigErrorKind::Nul);
}

proptest! {
    #[test]
    fn no_text_panics_the_reader(text in "(\\[[a-z ]{0,6}\\]|[A-Za-z_]{0,12} ?= ?[0-9a-z,:!# ]{0,20}|#.*|\r|\n){0,12}") {
        let _ = read(&text);
    }

    #[test]
    fn no_bytes_panic_the_reader(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = parse(Path::new("f"), &bytes);
    }
}
