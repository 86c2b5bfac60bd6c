//! What `--check` predicts will go wrong: problems that keep knockd from
//! starting, and problems that let it start but break part of what the
//! configuration asks for (a door, a command, the log).

use std::fmt;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use knockd_core::config::Door;
use knockd_core::doors::RuntimeDoor;
use knockd_core::substitution::expand;

use crate::interfaces;
use crate::ledger::trust::{self, TrustError};
use crate::setup::Setup;

/// How bad a problem is, which sets `--check`'s exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// knockd would start, but part of the configuration would not work (exit 2).
    Degraded,
    /// knockd would not start (exit 1).
    Fatal,
}

/// One predicted problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// How bad it is.
    pub severity: Severity,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The knocker a command is expanded for to check it.
const SAMPLE_ADDRESS: &str = "198.51.100.7";

/// Words the shell runs itself, which no `PATH` lookup finds.
const SHELL_BUILTINS: [&str; 20] = [
    ".", ":", "[", "cd", "command", "echo", "eval", "exec", "exit", "export", "false", "kill",
    "printf", "read", "set", "shift", "test", "trap", "true", "unset",
];

/// Everything `--check` can tell without opening the interface.
pub fn predict(setup: &Setup, log_file: Option<&Path>) -> Vec<Problem> {
    let mut problems = Vec::new();
    problems.extend(setup.interfaces.iter().filter_map(|i| missing_interface(i)));
    if let Some(problem) = log_file.and_then(unwritable_log) {
        problems.push(problem);
    }
    problems.extend(untrusted_state_dir(&setup.state_dir()));
    problems.extend(missing_watcher_user(setup));
    let loaded = &setup.loaded;
    for disabled in &loaded.config.disabled {
        problems.push(Problem {
            severity: Severity::Degraded,
            message: format!(
                "{} --> door {} would be disabled",
                disabled.error, disabled.door
            ),
        });
    }
    // A rotating door has no sequence of its own but one every step.
    let enabled = |d: &RuntimeDoor| d.active_sequence().is_some() || d.rotating.is_some();
    if !loaded.doors.iter().any(enabled) {
        problems.push(Problem {
            severity: Severity::Degraded,
            message: "no door is enabled: knockd would watch for nothing".to_owned(),
        });
    }
    for door in loaded.doors.iter().map(|d| &d.door) {
        problems.extend(unrunnable_commands(door));
    }
    problems
}

fn missing_interface(interface: &str) -> Option<Problem> {
    if interface == "any" {
        return None;
    }
    let names = interfaces::names();
    if names.iter().any(|name| name == interface) {
        return None;
    }
    Some(Problem {
        severity: Severity::Fatal,
        message: format!(
            "interface {interface} does not exist (there are: {}); give one with -i or Interface",
            names.join(", ")
        ),
    })
}

/// A log file that cannot be appended to: knockd would run, logging nowhere.
fn unwritable_log(path: &Path) -> Option<Problem> {
    let error = if path.exists() {
        OpenOptions::new().append(true).open(path).err()
    } else {
        // Creating it here would change the machine; its directory says
        // whether knockd could.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let dir = dir.unwrap_or(Path::new("."));
        nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK)
            .err()
            .map(std::io::Error::from)
    }?;
    Some(Problem {
        severity: Severity::Degraded,
        message: format!(
            "log file {}: {} --> knockd would log only to syslog and standard error",
            path.display(),
            knock_proto::io_message(&error)
        ),
    })
}

/// A state directory someone else may change: knockd would run without its
/// ledger. One that does not exist yet is created by knockd, trusted.
fn untrusted_state_dir(dir: &Path) -> Option<Problem> {
    match trust::check(dir) {
        Err(TrustError::Untrusted(untrusted)) => Some(Problem {
            severity: Severity::Degraded,
            message: format!("{untrusted} --> doors opened would not close if knockd died"),
        }),
        _ => None,
    }
}

/// Why knockd could not use `dir` as its state directory (create it, or
/// write in it), if it could not. Creating it here would change the
/// machine: its nearest existing ancestor says whether knockd could.
pub fn unusable_state_dir(dir: &Path) -> Option<std::io::Error> {
    let existing = dir
        .ancestors()
        .map(|a| {
            if a.as_os_str().is_empty() {
                Path::new(".")
            } else {
                a
            }
        })
        .find(|a| a.symlink_metadata().is_ok())?;
    if !existing.is_dir() {
        return Some(std::io::Error::from_raw_os_error(libc::ENOTDIR));
    }
    let flags = nix::unistd::AccessFlags::W_OK | nix::unistd::AccessFlags::X_OK;
    nix::unistd::access(existing, flags)
        .err()
        .map(std::io::Error::from)
}

/// The watcher's user, when knockd would split and cannot find it.
fn missing_watcher_user(setup: &Setup) -> Option<Problem> {
    if !(setup.privsep() && crate::privsep::AVAILABLE) {
        return None;
    }
    let why = crate::privsep::choose_account(setup.watcher_user()).err()?;
    Some(Problem {
        severity: Severity::Fatal,
        message: format!("{why} --> knockd would not start"),
    })
}

/// The door's commands whose program is not found or not executable.
fn unrunnable_commands(door: &Door) -> Vec<Problem> {
    door.commands()
        .into_iter()
        .filter_map(|(label, command)| {
            let sample = SAMPLE_ADDRESS.parse().ok()?;
            let command = expand(command?, sample, door.open_prefix.network(sample));
            let program = command.split_ascii_whitespace().next()?;
            let reason = match program_status(program) {
                ProgramStatus::Runs | ProgramStatus::CannotCheck => return None,
                ProgramStatus::NotFound => "not found",
                ProgramStatus::NotExecutable => "not executable",
            };
            Some(Problem {
                severity: Severity::Degraded,
                message: format!(
                    "door {}: {label}: program {program} is {reason} --> the command would fail at each knock",
                    door.name
                ),
            })
        })
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
enum ProgramStatus {
    Runs,
    NotFound,
    NotExecutable,
    /// A shell built-in or shell syntax: only the shell knows.
    CannotCheck,
}

fn program_status(program: &str) -> ProgramStatus {
    let shell_syntax = program.chars().any(|c| {
        matches!(
            c,
            '$' | '`'
                | '('
                | ')'
                | '{'
                | '}'
                | ';'
                | '|'
                | '&'
                | '<'
                | '>'
                | '='
                | '\''
                | '"'
                | '*'
                | '?'
                | '~'
        )
    });
    if shell_syntax || SHELL_BUILTINS.contains(&program) {
        return ProgramStatus::CannotCheck;
    }
    let candidates: Vec<PathBuf> = if program.contains('/') {
        vec![PathBuf::from(program)]
    } else {
        std::env::var_os("PATH")
            .map(|path| {
                std::env::split_paths(&path)
                    .map(|dir| dir.join(program))
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut found = false;
    for candidate in candidates {
        if candidate.is_file() {
            found = true;
            if nix::unistd::access(&candidate, nix::unistd::AccessFlags::X_OK).is_ok() {
                return ProgramStatus::Runs;
            }
        }
    }
    if found {
        ProgramStatus::NotExecutable
    } else {
        ProgramStatus::NotFound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_path_or_by_their_path() {
        assert_eq!(program_status("sh"), ProgramStatus::Runs);
        assert_eq!(program_status("/bin/sh"), ProgramStatus::Runs);
        assert_eq!(
            program_status("no-such-program-knockd"),
            ProgramStatus::NotFound
        );
        assert_eq!(program_status("/nonexistent/prog"), ProgramStatus::NotFound);
        let dir = tempfile::tempdir().unwrap();
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(
            program_status(plain.to_str().unwrap()),
            ProgramStatus::NotExecutable
        );
    }

    #[test]
    fn built_ins_and_shell_syntax_cannot_be_checked() {
        for word in ["echo", "[", "X=1", "$(which", "{", "true;"] {
            assert_eq!(program_status(word), ProgramStatus::CannotCheck, "{word}");
        }
    }

    #[test]
    fn a_door_names_each_command_that_cannot_run() {
        let mut door = Door::new(
            "ssh",
            knockd_core::config::SequenceSource::Fixed(knock_proto::Sequence::parse("1").unwrap()),
        );
        door.start_command = Some("/usr/sbin/no-such-iptables -A INPUT -s %IP%".into());
        door.stop_command = Some("echo %IP% >> /tmp/x".into());
        let problems = unrunnable_commands(&door);
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].message,
            "door ssh: start_command: program /usr/sbin/no-such-iptables is not found --> the command would fail at each knock"
        );
    }
}
