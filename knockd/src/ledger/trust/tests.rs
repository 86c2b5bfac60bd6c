use std::os::unix::fs::{chown, PermissionsExt};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime};

use super::*;
use crate::ledger::{Ledger, LedgerError};
use crate::spent_steps::SpentSteps;

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `work` on a thread and waits at most 5 s for it: a call blocked in
/// `open` fails the test instead of hanging it.
fn within_5s<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = mpsc::channel();
    thread::spawn(move || done.send(work()));
    result
        .recv_timeout(Duration::from_secs(5))
        .expect("blocked for 5 s")
}

/// The refusal of `Ledger::open(dir)`, as printed.
fn refusal(dir: &Path) -> String {
    match Ledger::open(dir) {
        Err(error @ LedgerError::Untrusted(_)) => error.to_string(),
        other => panic!("not refused as untrusted: {other:?}"),
    }
}

#[test]
fn a_state_directory_others_may_write_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    set_mode(dir.path(), 0o777);
    let said = refusal(dir.path());
    let path = dir.path().display();
    assert_eq!(
        said,
        format!(
            "state directory: {path}: group or others may write it (mode 0777), so the stop commands in it could be forged and run as knockd's user; not used: run `chmod go-w {path}`"
        )
    );
    assert!(
        fs::read_dir(dir.path()).unwrap().next().is_none(),
        "nothing is written in it"
    );
    set_mode(dir.path(), 0o755);
    assert!(Ledger::open(dir.path()).is_ok(), "fixed, it is used");
}

#[test]
fn a_ledger_file_others_may_write_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    ledger
        .record_open(
            "ssh",
            "198.18.1.2".parse().unwrap(),
            "stop",
            SystemTime::now(),
        )
        .unwrap();
    drop(ledger);
    for name in ["doors", "lock"] {
        let file = dir.path().join(name);
        set_mode(&file, 0o620);
        let said = refusal(dir.path());
        assert!(
            said.ends_with(&format!("run `chmod go-w {}`", file.display())),
            "{said}"
        );
        set_mode(&file, 0o600);
    }
    let spent = dir.path().join("spent-steps");
    fs::write(&spent, "# knockd spent rotating steps, v1\n").unwrap();
    set_mode(&spent, 0o646);
    assert!(refusal(dir.path()).contains("spent-steps: group or others may write it (mode 0646)"));
}

/// Files given to another user (uid 65534, nobody).
#[test]
#[ignore = "needs root (gives files away): run with --ignored"]
fn a_state_directory_or_file_another_user_owns_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    drop(Ledger::open(dir.path()).unwrap());
    let journal = dir.path().join("doors");
    chown(&journal, Some(65534), None).unwrap();
    let said = refusal(dir.path());
    assert!(
        said.contains(
            "doors: its owner (uid 65534) is neither root nor the user reading it (uid 0)"
        ),
        "{said}"
    );
    assert!(
        said.ends_with(&format!("run `chown 0 {}`", journal.display())),
        "{said}"
    );
    chown(&journal, Some(0), None).unwrap();
    chown(dir.path(), Some(65534), None).unwrap();
    let said = refusal(dir.path());
    assert!(
        said.ends_with(&format!("run `chown 0 {}`", dir.path().display())),
        "{said}"
    );
}

#[test]
fn a_fifo_left_at_a_temporary_neither_blocks_nor_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("doors.tmp");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let state = dir.path().to_owned();
    let opened = within_5s(move || Ledger::open(&state).map(|_| ()));
    assert!(opened.is_ok(), "{opened:?}");
    assert!(!fifo.exists(), "the temporary was renamed over the journal");
    assert!(fs::metadata(dir.path().join("doors")).unwrap().is_file());

    let fifo = dir.path().join("spent-steps.tmp");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let state = dir.path().to_owned();
    let spent = within_5s(move || SpentSteps::load(Some(&state)).0.spend("rot", 7).is_ok());
    assert!(spent);
    let (again, _) = SpentSteps::load(Some(dir.path()));
    assert!(again.contains("rot", 7));
}

#[test]
fn a_temporary_replaces_whatever_was_left_and_is_private() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    fs::write(&elsewhere, "kept").unwrap();
    let temporary = dir.path().join("x.tmp");
    std::os::unix::fs::symlink(&elsewhere, &temporary).unwrap();
    let file = create_temporary(&temporary).unwrap();
    assert!(file.metadata().unwrap().is_file());
    assert_eq!(file.metadata().unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(
        fs::read_to_string(&elsewhere).unwrap(),
        "kept",
        "not written through"
    );
}
