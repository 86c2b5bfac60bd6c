//! packaging/knock_helper_ipt.sh, the iptables helper the package ships under Debian's name:
//! its arguments (without root), the rules it makes in a network namespace's real iptables
//! and ip6tables, and a knockd door that opens and closes with it.

use std::path::PathBuf;
use std::process::{Command, Output};

use integration_tests::{
    config, door_running, require_tools, run_bounded, wait_until, Net, Pair, Rig, Scratch, WAIT,
};

/// The helper as the package installs it into /usr/sbin.
fn helper() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../packaging/knock_helper_ipt.sh"
    ))
}

/// Runs the helper here (no namespace) with `args`.
fn run(args: &[&str]) -> Output {
    run_bounded(Command::new(helper()).args(args), WAIT)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The helper with `args` exits 0 and prints exactly `expected` (a -t run).
fn assert_test_run(args: &[&str], expected: &str) {
    let output = run(args);
    assert!(output.status.success(), "{args:?}: {output:?}");
    assert_eq!(text(&output.stdout), format!("{expected}\n"), "{args:?}");
}

#[test]
fn a_test_run_prints_the_rule_of_each_action() {
    assert_test_run(
        &["-a", "-f", "198.18.0.2", "-d", "22", "-t"],
        "iptables -A INPUT -s 198.18.0.2 -p tcp --dport 22 -m comment --comment 'by knockd' -j ACCEPT",
    );
    assert_test_run(
        &["--insert", "--srcaddr", "198.18.0.2", "--dstport=53", "--proto", "udp", "--chain", "FORWARD", "--test"],
        "iptables -I FORWARD -s 198.18.0.2 -p udp --dport 53 -m comment --comment 'by knockd' -j ACCEPT",
    );
    // An IPv6 knocker's rule goes to ip6tables; -m's text is attached.
    assert_test_run(
        &["-x", "-f", "fd00::2", "-d", "443", "-mssh door", "-t"],
        "ip6tables -D INPUT -s fd00::2 -p tcp --dport 443 -m comment --comment 'ssh door' -j ACCEPT",
    );
    // -m without a text is the default comment; the last action counts.
    assert_test_run(
        &["-a", "-x", "--comment", "-f", "198.18.0.2", "-d", "22", "-t"],
        "iptables -D INPUT -s 198.18.0.2 -p tcp --dport 22 -m comment --comment 'by knockd' -j ACCEPT",
    );
}

#[test]
fn usage_errors_exit_1_with_the_reason_and_the_usage() {
    let cases: [(&[&str], &str); 4] = [
        (&["-f", "198.18.0.2", "-d", "22"], "an action is required"),
        (&["-a", "-d", "22"], "a source address is required"),
        (
            &["-a", "-f", "198.18.0.2"],
            "a destination port is required",
        ),
        (
            &["-a", "-f", "198.18.0.2", "-d", "22", "-q"],
            "invalid arguments",
        ),
    ];
    for (args, reason) in cases {
        let output = run(args);
        let stderr = text(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {output:?}");
        assert!(stderr.contains(reason), "{args:?}: {stderr}");
        assert!(
            stderr.contains("Usage: knock_helper_ipt.sh -a|-i|-x"),
            "{args:?}: {stderr}"
        );
        assert!(output.stdout.is_empty(), "{args:?}: {output:?}");
    }
}

#[test]
fn words_after_the_options_are_ignored_with_a_warning() {
    let output = run(&["-a", "-f", "198.18.0.2", "-d", "22", "-t", "stray"]);
    assert!(output.status.success(), "{output:?}");
    assert!(text(&output.stdout).starts_with("iptables -A INPUT -s 198.18.0.2 "));
    assert!(
        text(&output.stderr).contains("warning: ignoring the arguments after the options: stray")
    );
}

#[test]
fn help_lists_every_option_the_man_page_documents() {
    let output = run(&["-h"]);
    assert!(output.status.success(), "{output:?}");
    let usage = text(&output.stdout);
    let man = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../man/knock_helper_ipt.sh.8"
    ))
    .unwrap_or_else(|e| panic!("cannot read the man page: {e}"));
    let options: Vec<&str> = usage
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter_map(|word| word.split_once("|--").map(|(_, long)| long))
        .collect();
    assert_eq!(options.len(), 11, "{usage}");
    for long in options {
        let documented = format!("\\-\\-{}", long.replace('-', "\\-"));
        assert!(man.contains(&documented), "the man page lacks --{long}");
    }
}

/// The helper in the server namespace of `net`; fails the test unless it exits `code`.
fn helper_in(net: &Net, args: &[&str], code: i32) -> Output {
    let helper = helper();
    let output = net.run_server(&helper.to_string_lossy(), args);
    assert_eq!(output.status.code(), Some(code), "{args:?}: {output:?}");
    output
}

/// The rules of `chain` in the server namespace, as `iptables -S` (or ip6tables) prints them.
fn rules(net: &Net, iptables: &str, chain: &str) -> Vec<String> {
    let output = net.run_server(iptables, &["-S", chain]);
    assert!(output.status.success(), "{iptables} -S {chain}: {output:?}");
    text(&output.stdout)
        .lines()
        .filter(|line| !line.starts_with("-P ") && !line.starts_with("-N "))
        .map(str::to_owned)
        .collect()
}

#[test]
#[ignore = "needs root, network namespaces and iptables: run as root with --ignored"]
fn rules_are_added_once_inserted_on_top_and_deleted_in_a_real_iptables() {
    require_tools(&["iptables", "ip6tables"]);
    let net = Net::new();
    let client = net.client_v4().to_string();
    let ssh = format!("-A INPUT -s {client}/32 -p tcp -m tcp --dport 22 -m comment --comment \"by knockd\" -j ACCEPT");

    helper_in(&net, &["-a", "-f", &client, "-d", "22"], 0);
    let again = helper_in(&net, &["-a", "-f", &client, "-d", "22", "-v"], 0);
    assert!(
        text(&again.stdout).contains("already in INPUT: nothing to do"),
        "{again:?}"
    );
    assert_eq!(rules(&net, "iptables", "INPUT"), std::slice::from_ref(&ssh));

    helper_in(
        &net,
        &["-i", "-f", &client, "-d", "53", "-p", "udp", "-mdns"],
        0,
    );
    let dns = format!(
        "-A INPUT -s {client}/32 -p udp -m udp --dport 53 -m comment --comment dns -j ACCEPT"
    );
    assert_eq!(rules(&net, "iptables", "INPUT"), [dns.clone(), ssh]);

    helper_in(&net, &["-x", "-f", &client, "-d", "22"], 0);
    assert_eq!(rules(&net, "iptables", "INPUT"), [dns]);
    let absent = helper_in(&net, &["-x", "-f", &client, "-d", "22", "-v"], 0);
    assert!(
        text(&absent.stdout).contains("not in INPUT: nothing to do"),
        "{absent:?}"
    );
    // The comment is part of the rule.
    helper_in(&net, &["-x", "-f", &client, "-d", "53", "-p", "udp"], 0);
    assert_eq!(rules(&net, "iptables", "INPUT").len(), 1);
    helper_in(
        &net,
        &[
            "-x",
            "-f",
            &client,
            "-d",
            "53",
            "-p",
            "udp",
            "--comment=dns",
        ],
        0,
    );
    assert!(rules(&net, "iptables", "INPUT").is_empty());

    let client6 = net.client_v6().to_string();
    helper_in(&net, &["-a", "-f", &client6, "-d", "22"], 0);
    assert_eq!(
        rules(&net, "ip6tables", "INPUT"),
        [format!("-A INPUT -s {client6}/128 -p tcp -m tcp --dport 22 -m comment --comment \"by knockd\" -j ACCEPT")]
    );
    assert!(rules(&net, "iptables", "INPUT").is_empty());

    let no_chain = helper_in(
        &net,
        &["-a", "-f", &client, "-d", "22", "-c", "NOSUCHCHAIN"],
        1,
    );
    assert!(
        text(&no_chain.stderr).contains("NOSUCHCHAIN is not a valid NetFilter chain"),
        "{no_chain:?}"
    );
}

#[test]
#[ignore = "needs root, network namespaces and iptables: run as root with --ignored"]
fn a_door_opens_and_closes_with_the_helper() {
    require_tools(&["iptables"]);
    let helper = helper();
    let helper = helper.display();
    let door = door_running(
        "ssh",
        "7000,8000,9000",
        &format!("{helper} -a -f %IP% -d 22"),
        &[
            "cmd_timeout = 2",
            &format!("stop_command = {helper} -x -f %IP% -d 22"),
        ],
    );
    let rig = Rig::start(&Pair::ours(), Scratch::new(), &config(&[door]), &[]);
    let client = rig.net.client_v4().to_string();
    let opened = format!("-A INPUT -s {client}/32 -p tcp -m tcp --dport 22 -m comment --comment \"by knockd\" -j ACCEPT");
    rig.knock(&[&rig.server_v4(), "7000", "8000", "9000"]);
    wait_until(WAIT, || {
        (rules(&rig.net, "iptables", "INPUT") == [opened.clone()]).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "the knock did not open port 22: {:?}",
            rules(&rig.net, "iptables", "INPUT")
        )
    });
    wait_until(WAIT, || {
        rules(&rig.net, "iptables", "INPUT")
            .is_empty()
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "cmd_timeout did not close port 22: {:?}",
            rules(&rig.net, "iptables", "INPUT")
        )
    });
}
