//! `--close-all`: runs the stop command of every door the ledger holds open,
//! then exits. For `ExecStopPost=` (after a crash or `kill -9`) and for
//! operators; it refuses while a running knockd owns the state directory.
//!
//! It needs no valid configuration: a broken file must not keep doors open.
//! The configuration only supplies `StateDir` and the log's sinks, when it
//! can be read.

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use knockd_core::config::Config;

use crate::cli::Args;
use crate::commands::{CommandRunner, RunnerLimits};
use crate::ledger::{Ledger, LedgerError};
use crate::log::Logger;
use crate::setup;

/// How long `--close-all` waits for the stop commands.
const GRACE: Duration = Duration::from_secs(30);

/// Closes every door in the ledger; exit 0 when every stop command ran and
/// exited 0, 1 otherwise.
pub fn run(args: &Args) -> ExitCode {
    let base = std::env::current_dir().unwrap_or_default();
    let config = Config::load(&base.join(&args.config));
    if let Err(error) = &config {
        eprintln!("{error} --> using the command line's settings only");
    }
    let config = config.ok();
    let mut logger = Logger::new(&setup::log_settings(args, &base, config.as_ref()));
    let dir = setup::state_dir(args, &base, config.as_ref());
    let opened = match Ledger::open(&dir) {
        Ok(opened) => opened,
        Err(error @ LedgerError::Busy { .. }) => {
            eprintln!("{error}: stop it first (its SIGTERM closes its doors)");
            return ExitCode::FAILURE;
        }
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::FAILURE;
        }
    };
    opened.report(&mut logger);
    let wall = SystemTime::now();
    let mut pending = opened.pending;
    for entry in &mut pending {
        entry.deadline = entry.deadline.min(wall);
    }
    let doors = pending.len();
    let limits = RunnerLimits::default();
    let mut runner = CommandRunner::new(limits, Some(opened.ledger));
    let now = Instant::now();
    runner.recover(pending, now, wall, &mut logger);
    let left = runner.shutdown(now, GRACE, &mut logger);
    println!("closed {doors} door(s) left open in {}", dir.display());
    if left == 0 && runner.stats().failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use clap::Parser;

    use super::*;

    /// A ledger in `dir` holding one open door whose stop command creates
    /// `marker`.
    fn ledger_with_a_stop(dir: &Path, marker: &Path) {
        let stop = format!("touch {}", marker.display());
        let mut ledger = Ledger::open(dir).unwrap().ledger;
        let source = knockd_core::sources::Cidr::parse("198.18.1.2").unwrap();
        ledger
            .record_open("ssh", source, &stop, SystemTime::now())
            .unwrap();
    }

    fn close_all(dir: &Path) -> ExitCode {
        let args = Args::try_parse_from([
            "knockd".as_ref(),
            "--close-all".as_ref(),
            "-c".as_ref(),
            dir.join("no-such-knockd.conf").as_os_str(),
            "--state-dir".as_ref(),
            dir.as_os_str(),
        ])
        .unwrap();
        run(&args)
    }

    #[test]
    fn a_state_directory_others_may_write_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let state = dir.path().join("state");
        ledger_with_a_stop(&state, &marker);
        // Anyone may now have forged the ledger's records.
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(close_all(&state), ExitCode::FAILURE);
        assert!(!marker.exists(), "the stop command ran");

        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(close_all(&state), ExitCode::SUCCESS);
        assert!(marker.exists(), "once fixed, the stop command runs");
    }

    /// A state directory owned by another user (uid 65534), who could forge
    /// its records.
    #[test]
    #[ignore = "needs root (gives a directory away): run with --ignored"]
    fn a_state_directory_another_user_owns_runs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let state = dir.path().join("state");
        ledger_with_a_stop(&state, &marker);
        std::os::unix::fs::chown(&state, Some(65534), None).unwrap();
        assert_eq!(close_all(&state), ExitCode::FAILURE);
        assert!(!marker.exists(), "the stop command ran");
    }
}
