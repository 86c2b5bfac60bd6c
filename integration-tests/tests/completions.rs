//! The bash completions the build scripts generate (packaging/completions.rs), as bash runs
//! them: `-i` completes interface names and `--flags` TCP flag names, never file names,
//! while the other options still complete what clap's generator gives them.

use std::path::PathBuf;
use std::process::Command;

use integration_tests::{require_tools, run_bounded, workspace_binary, Scratch, WAIT};

/// The bash completion script generated next to the debug binary `program`.
fn script(program: &str) -> PathBuf {
    let binary = workspace_binary(program);
    let script = binary
        .with_file_name("completions")
        .join(format!("{program}.bash"));
    assert!(
        script.is_file(),
        "{} is missing: the build script of {program} writes it",
        script.display()
    );
    script
}

/// What bash offers for the last of `words` (the word being completed) on a `program`
/// command line, in `dir`: the function `complete -p` names, run as bash would.
fn complete(program: &str, words: &[&str], dir: &Scratch) -> Vec<String> {
    require_tools(&["bash"]);
    let shell = r#"
        source "$1"; shift
        function=$(complete -p "$1" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
        COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
        "$function" "$1" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let output = run_bounded(
        Command::new("bash")
            .current_dir(dir.dir())
            .args(["-c", shell, "bash"])
            .arg(script(program))
            .arg(program)
            .args(words),
        WAIT,
    );
    assert!(
        output.status.success(),
        "bash failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut offered: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    offered.sort();
    offered
}

#[test]
fn knock_flags_completes_tcp_flag_names_in_a_comma_list() {
    let dir = Scratch::new();
    dir.write("synfile", "");
    assert_eq!(
        complete("knock", &["--flags", ""], &dir),
        ["ack", "fin", "psh", "rst", "syn", "urg"]
    );
    assert_eq!(complete("knock", &["--flags", "sy"], &dir), ["syn"]);
    assert_eq!(complete("knock", &["--flags", "syn,a"], &dir), ["syn,ack"]);
    assert_eq!(complete("knock", &["--flags", "fin,u"], &dir), ["fin,urg"]);
}

#[cfg(target_os = "linux")]
#[test]
fn knockd_interface_completes_interface_names_not_files() {
    let dir = Scratch::new();
    dir.write("lofile", "");
    for option in ["-i", "--interface"] {
        assert_eq!(
            complete("knockd", &[option, "lo"], &dir),
            ["lo"],
            "{option}"
        );
    }
    let interfaces: Vec<String> = std::fs::read_dir("/sys/class/net")
        .map(|entries| {
            let mut names: Vec<String> = entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        })
        .unwrap_or_default();
    assert_eq!(complete("knockd", &["-i", ""], &dir), interfaces);
}

#[test]
fn other_options_still_complete_file_names() {
    let dir = Scratch::new();
    dir.write("knockd.conf", "");
    assert_eq!(
        complete("knockd", &["-c", "knockd."], &dir),
        ["knockd.conf"]
    );
}
