//! knockd without root (hostile-input issue, part 5).
//!
//! knockd needs CAP_NET_RAW for its capture and nothing else; CAP_NET_ADMIN is for the door
//! commands (nft, iptables), which inherit it as an ambient capability. These tests run knockd
//! as `nobody` through `setpriv` in the server namespace: with both capabilities a knock opens
//! and its nft command works; without any, knockd exits 1 naming the interface, root and
//! CAP_NET_RAW. packaging/knockd.service keeps these two too, and CAP_SETUID and CAP_SETGID for
//! the switch to its unprivileged watcher's user.

use std::fs;
use std::os::unix::fs::{chown, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use integration_tests::{
    config, door_running, executable, require_namespaces, require_tools, run_bounded,
    workspace_binary, Daemon, Net, Pair, Rig, Scratch, WAIT,
};

/// `nobody`/`nogroup` on Debian.
const NOBODY: u32 = 65534;
/// CAP_NET_RAW (13) as a capability mask.
const NET_RAW: u64 = 1 << 13;
/// CAP_NET_ADMIN (12) and CAP_NET_RAW as a capability mask.
const NET_ADMIN_AND_RAW: u64 = (1 << 12) | NET_RAW;

/// A scratch dir that `nobody` owns, so knockd can create its log and commands their files.
fn nobodys_scratch() -> Scratch {
    let scratch = Scratch::new();
    chown(scratch.dir(), Some(NOBODY), Some(NOBODY))
        .unwrap_or_else(|e| panic!("cannot give {} to nobody: {e}", scratch.dir().display()));
    scratch
}

/// A script that runs knockd as `nobody` with exactly `caps` (e.g. `+net_raw,+net_admin`, or
/// none), through `setpriv`; it execs, so the server's pid stays knockd's.
fn as_nobody(scratch: &Scratch, caps: Option<&str>) -> PathBuf {
    require_tools(&["setpriv"]);
    let caps = match caps {
        Some(caps) => {
            format!("--inh-caps=-all,{caps} --ambient-caps={caps} --bounding-set=-all,{caps}")
        }
        None => "--inh-caps=-all --bounding-set=-all".to_owned(),
    };
    let script = scratch.write(
        "knockd-as-nobody",
        &format!(
            "#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups {caps} {} \"$@\"\n",
            workspace_binary("knockd").display()
        ),
    );
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// The `Uid:` and `CapEff:` lines of /proc/<pid>/status, parsed.
fn uid_and_effective_caps(pid: nix::unistd::Pid) -> (u32, u64) {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .map(str::trim)
            .unwrap_or_else(|| panic!("no {name} in {status}"))
            .to_owned()
    };
    let uid = field("Uid:")
        .split_whitespace()
        .next()
        .and_then(|uid| uid.parse().ok())
        .unwrap();
    let caps = u64::from_str_radix(&field("CapEff:"), 16).unwrap();
    (uid, caps)
}

fn nft_table_exists(net: &Net, table: &str) -> bool {
    run_bounded(
        Command::new("ip").args([
            "netns",
            "exec",
            net.server_ns(),
            "nft",
            "list",
            "table",
            "inet",
            table,
        ]),
        WAIT,
    )
    .status
    .success()
}

/// A rig whose knockd runs as `nobody` with `caps`; its door `fw` (7000,8000) writes who runs
/// it to `out`, then adds nft table `knocktest` (which needs CAP_NET_ADMIN) and writes `nft-ok`.
fn firewall_rig(caps: &str) -> Rig {
    require_namespaces();
    require_tools(&["nft"]);
    let scratch = nobodys_scratch();
    let out = scratch.path("out");
    let pair = Pair {
        knockd: as_nobody(&scratch, Some(caps)),
        ..Pair::ours()
    };
    let command = format!(
        "echo \"$(id -u) %IP%\" >> {o}; nft add table inet knocktest && echo nft-ok >> {o}",
        o = out.display()
    );
    let rig = Rig::start(
        &pair,
        scratch,
        &config(&[door_running("fw", "7000,8000", &command, &[])]),
        &[],
    );
    assert!(executable(rig.daemon.pid())
        .to_string_lossy()
        .contains("knockd"));
    assert_eq!(
        owner(rig.daemon.log_path()),
        NOBODY,
        "the log file is nobody's"
    );
    assert!(!nft_table_exists(&rig.net, "knocktest"));
    rig
}

fn owner(path: &Path) -> u32 {
    fs::metadata(path).unwrap().uid()
}

#[test]
#[ignore = "needs root, network namespaces, setpriv and nft: run as root with --ignored"]
fn net_raw_and_net_admin_suffice_as_nobody() {
    let rig = firewall_rig("+net_raw,+net_admin");
    assert_eq!(
        uid_and_effective_caps(rig.daemon.pid()),
        (NOBODY, NET_ADMIN_AND_RAW)
    );

    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch.expect_lines("out", "nft-ok", 1);
    assert_eq!(
        rig.scratch.lines("out"),
        [
            format!("{NOBODY} {}", rig.net.client_v4()),
            "nft-ok".to_owned()
        ]
    );
    assert!(nft_table_exists(&rig.net, "knocktest"));
}

/// knockd itself needs CAP_NET_RAW only; a firewall command then fails, and says so.
#[test]
#[ignore = "needs root, network namespaces, setpriv and nft: run as root with --ignored"]
fn net_raw_alone_captures_but_firewall_commands_fail() {
    let rig = firewall_rig("+net_raw");
    assert_eq!(uid_and_effective_caps(rig.daemon.pid()), (NOBODY, NET_RAW));

    rig.knock(&[&rig.server_v4(), "7000", "8000"]);
    rig.scratch
        .expect_lines("out", &format!("{NOBODY} {}", rig.net.client_v4()), 1);
    rig.daemon
        .expect_log("fw: command returned non-zero status code (1)");
    assert!(!rig.scratch.read("out").contains("nft-ok"));
    assert!(!nft_table_exists(&rig.net, "knocktest"));
}

#[test]
#[ignore = "needs root, network namespaces and setpriv: run as root with --ignored"]
fn without_capabilities_knockd_exits_naming_root_and_cap_net_raw() {
    let net = Net::new();
    let scratch = nobodys_scratch();
    let knockd = as_nobody(&scratch, None);
    let conf = scratch.write(
        "knockd.conf",
        &config(&[door_running("fw", "7000,8000", "true", &[])]),
    );
    let mut daemon = Daemon::spawn(&net, &scratch, &knockd, &conf, &[]);

    let status = daemon.wait_exit();
    assert_eq!(status.code(), Some(1), "{}", daemon.diagnostics());
    let stderr = daemon.stderr();
    println!("{stderr}");
    assert!(
        stderr.contains(&format!("could not open {}: ", net.server_iface())),
        "{stderr}"
    );
    assert!(stderr.contains("root"), "{stderr}");
    assert!(stderr.contains("CAP_NET_RAW"), "{stderr}");
    assert!(!daemon.stdout().contains("listening on"));
}
