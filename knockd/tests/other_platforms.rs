//! The firewall recipes and service files for platforms the tests cannot run on (pf, ipfw,
//! OpenWrt's fw4; FreeBSD's and OpenBSD's rc.d, macOS's launchd, OpenWrt's procd), checked as
//! far as Linux can: each recipe passes `knockd --check`, the fw4 recipe's rules and commands
//! run against a stand-in for fw4's table, each shell script passes `sh -n`, the launchd plist
//! parses, and every knockd option a service file passes is one `knockd --help` lists.
//! None of them has run on its platform: each file says so at its top.

use std::path::{Path, PathBuf};
use std::process::{Command as Process, Output};

use assert_cmd::Command;

/// A path of the repository.
fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs `program args`, failing the test with what to do when the program is missing.
fn run(program: &str, args: &[&str]) -> Output {
    Process::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program}: {e} (`sudo ci/setup` installs what the tests use)")
        })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The firewall recipes for other platforms and the program each one's commands run.
const RECIPES: [(&str, &str); 3] = [
    ("pf.conf", "/sbin/pfctl"),
    ("ipfw.conf", "/sbin/ipfw"),
    ("openwrt-fw4.conf", "nft"),
];

/// Each recipe is a configuration knockd runs: `--check` exits 0, or 2 when the only problems
/// are its firewall program missing here (pfctl and ipfw are not Linux programs).
#[test]
fn each_recipe_for_another_platform_passes_check() {
    for (recipe, program) in RECIPES {
        let path = repo(&format!("examples/{recipe}"));
        let output = Command::cargo_bin("knockd")
            .unwrap()
            .args([
                "-i".as_ref(),
                "lo".as_ref(),
                "-c".as_ref(),
                path.as_os_str(),
            ])
            .arg("--check")
            .output()
            .unwrap();
        let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
        let missing = format!(": program {program} is not found --> ");
        let problems: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.starts_with("warning: ") && !line.contains(&missing))
            .collect();
        assert!(
            matches!(output.status.code(), Some(0 | 2)) && problems.is_empty(),
            "knockd --check {recipe}: {:?}\n{stdout}\n{stderr}",
            output.status
        );
        let commands = read(&format!("examples/{recipe}"));
        for line in commands.lines().filter(|line| line.contains("_command")) {
            let (key, value) = line.split_once('=').unwrap();
            let shown = format!("{}: {}", key.trim(), value.trim());
            assert!(
                stdout.contains(&shown),
                "--check of {recipe} lacks {shown:?}:\n{stdout}"
            );
        }
    }
}

/// The fw4 recipe's two include files, loaded where fw4 includes them into a stand-in for its
/// table (`table inet fw4` with the WAN zone's `input_wan` chain) in a throwaway network
/// namespace, and its start commands run there twice (the second knock refreshes the timeout):
/// both sets then hold the knocker with a 30 s timeout. OpenWrt's fw4 itself is not run.
#[test]
#[ignore = "needs root: loads an nftables ruleset in a throwaway network namespace"]
fn the_fw4_recipe_loads_into_a_stand_in_table_and_adds_the_knocker() {
    let dir = tempfile::tempdir().unwrap();
    let ruleset = dir.path().join("fw4.nft");
    std::fs::write(
        &ruleset,
        format!(
            "table inet fw4 {{\n{}\nchain input_wan {{\n{}\n}}\n}}\n",
            read("examples/openwrt-fw4-sets.nft"),
            read("examples/openwrt-fw4-input_wan.nft")
        ),
    )
    .unwrap();
    let conf = read("examples/openwrt-fw4.conf");
    let command = |key: &str, ip: &str| {
        conf.lines()
            .find_map(|line| {
                let (k, v) = line.split_once('=')?;
                (k.trim() == key).then(|| v.trim().replace("%IP%", ip))
            })
            .unwrap_or_else(|| panic!("openwrt-fw4.conf has no {key}"))
    };
    let (v4, v6) = ("198.18.0.2", "fd00::2");
    // `unshare --net` gives the script a network namespace of its own, gone when it exits.
    let script = "set -eu
        nft -f \"$1\"
        for i in 1 2; do sh -c \"$2\"; sh -c \"$3\"; done
        nft list set inet fw4 knocked
        nft list set inet fw4 knocked6
        nft list chain inet fw4 input_wan";
    let output = run(
        "unshare",
        &[
            "--net",
            "sh",
            "-c",
            script,
            "sh",
            ruleset.to_str().unwrap(),
            &command("start_command", v4),
            &command("start_command_6", v6),
        ],
    );
    let listing = text(&output.stdout);
    assert!(
        output.status.success(),
        "{:?}\n{listing}\n{}",
        output.status,
        text(&output.stderr)
    );
    for shown in [
        format!("{v4} timeout 30s"),
        format!("{v6} timeout 30s"),
        "tcp dport 22 ip saddr @knocked accept".to_owned(),
        "tcp dport 22 ip6 saddr @knocked6 accept".to_owned(),
    ] {
        assert!(listing.contains(&shown), "no {shown:?} in:\n{listing}");
    }
}

/// A service file, whether it must pass `-d` (rc.d scripts) or must not (supervisors), and the
/// marks of its lines that build knockd's command line.
struct Service {
    path: &'static str,
    daemon: bool,
    marks: &'static [&'static str],
}

const SCRIPTS: [Service; 3] = [
    Service {
        path: "packaging/freebsd/knockd",
        daemon: true,
        marks: &["command_args=", "${command} "],
    },
    Service {
        path: "packaging/openbsd/knockd",
        daemon: true,
        marks: &["daemon_flags=", "rc_exec "],
    },
    Service {
        path: "packaging/openwrt/knockd.init",
        daemon: false,
        marks: &["_param command "],
    },
];

#[test]
fn each_service_script_is_valid_sh() {
    for script in SCRIPTS {
        let output = run("sh", &["-n", repo(script.path).to_str().unwrap()]);
        assert!(
            output.status.success(),
            "sh -n {}: {}",
            script.path,
            text(&output.stderr)
        );
    }
}

/// The words of `knockd --help` that name options (`-i,`, `--interface`).
fn help_options() -> Vec<String> {
    let output = Command::cargo_bin("knockd")
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    text(&output.stdout)
        .split_whitespace()
        .map(|word| word.trim_end_matches(','))
        .filter(|word| word.starts_with('-'))
        .map(str::to_owned)
        .collect()
}

/// Asserts that every option in `args` is one of knockd's, and that `-d` is there exactly
/// when the service manager expects knockd to detach.
fn assert_options_exist(file: &str, args: &[String], daemon: bool, help: &[String]) {
    let options: Vec<&String> = args
        .iter()
        .filter(|arg| arg.starts_with('-') && arg.len() > 1)
        .collect();
    assert!(!options.is_empty(), "{file} passes knockd no options");
    for option in &options {
        assert!(
            help.contains(option),
            "{file} passes {option}, which knockd --help does not list"
        );
    }
    let detaches = options.iter().any(|o| *o == "-d" || *o == "--daemon");
    assert_eq!(detaches, daemon, "{file}: -d passed: {detaches}");
}

#[test]
fn each_option_a_service_script_passes_is_one_of_knockd() {
    let help = help_options();
    for script in SCRIPTS {
        let source = read(script.path);
        let lines: Vec<&str> = source
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .filter(|line| script.marks.iter().any(|mark| line.contains(mark)))
            .collect();
        assert!(!lines.is_empty(), "{}: no knockd command line", script.path);
        let args: Vec<String> = lines
            .iter()
            .flat_map(|line| line.split(|c: char| c.is_whitespace() || "\"'=".contains(c)))
            .map(str::to_owned)
            .collect();
        assert_options_exist(script.path, &args, script.daemon, &help);
    }
}

/// The launchd job is a well-formed property list (read by Python's plistlib, as `plutil
/// -lint` is not available here) that runs knockd in the foreground and keeps it alive.
#[test]
fn the_launchd_plist_parses_and_passes_options_of_knockd() {
    let file = "packaging/macos/knockd.plist";
    let parse = "import plistlib, sys
job = plistlib.load(open(sys.argv[1], 'rb'))
assert job['Label'] == 'knockd', job['Label']
assert job['KeepAlive'] and job['RunAtLoad'], job
print('\\n'.join(job['ProgramArguments']))";
    let output = run("python3", &["-c", parse, repo(file).to_str().unwrap()]);
    assert!(
        output.status.success(),
        "{file} does not parse: {}",
        text(&output.stderr)
    );
    let args: Vec<String> = text(&output.stdout).lines().map(str::to_owned).collect();
    assert_eq!(args[0], "/usr/local/sbin/knockd", "{file}: {args:?}");
    assert_options_exist(file, &args[1..], false, &help_options());
}
