use std::time::Duration;

use std::path::PathBuf;

use super::*;

impl Ledger {
    /// Doors open now, by the ledger.
    fn open_doors(&self) -> usize {
        self.open.len()
    }
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_300_000 + secs)
}

fn knocker() -> Cidr {
    Cidr::parse("198.18.1.2").unwrap()
}

fn journal_lines(dir: &Path) -> Vec<String> {
    fs::read_to_string(journal_path(dir))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_door_left_open_by_a_dead_process_is_pending_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let opened = Ledger::open(&state).unwrap();
    assert!(opened.pending.is_empty() && opened.skipped.is_empty());
    let mut ledger = opened.ledger;
    let id = ledger
        .record_open("ssh", knocker(), "close 198.18.1.2", at(30))
        .unwrap();
    let closed = ledger
        .record_open("web", knocker(), "close web", at(10))
        .unwrap();
    ledger.record_close(closed).unwrap();
    // The process dies: nothing but what was written remains.
    drop(ledger);

    let reopened = Ledger::open(&state).unwrap();
    let expected = Entry {
        id,
        door: "ssh".into(),
        source: knocker(),
        stop: "close 198.18.1.2".into(),
        deadline: at(30),
    };
    assert_eq!(reopened.pending, [expected]);
    assert!(reopened.skipped.is_empty());
    // Reopening compacts: the header and the one open door.
    assert_eq!(journal_lines(&state).len(), 2);
    let mode = fs::metadata(&state).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o700
    );
}

#[test]
fn an_extended_door_keeps_its_latest_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    let id = ledger
        .record_open("ssh", knocker(), "stop", at(30))
        .unwrap();
    ledger.record_extend(id, at(90)).unwrap();
    drop(ledger);
    let pending = Ledger::open(dir.path()).unwrap().pending;
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].deadline, at(90));
}

#[test]
fn ids_stay_unique_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    let first = ledger.record_open("a", knocker(), "stop a", at(1)).unwrap();
    drop(ledger);
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    let second = ledger.record_open("b", knocker(), "stop b", at(2)).unwrap();
    assert_ne!(first, second);
    ledger.record_close(first).unwrap();
    drop(ledger);
    let pending = Ledger::open(dir.path()).unwrap().pending;
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), [second]);
}

#[test]
fn corrupt_and_torn_lines_are_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    ledger.record_open("a", knocker(), "stop a", at(1)).unwrap();
    ledger.record_open("b", knocker(), "stop b", at(2)).unwrap();
    drop(ledger);
    let path = journal_path(dir.path());
    let text = fs::read_to_string(&path).unwrap();
    // Line 2 edited, then a record torn in the middle by a crash.
    let edited = text.replacen("stop a", "stop A", 1);
    fs::write(&path, format!("{edited}open\t9\t17")).unwrap();
    let opened = Ledger::open(dir.path()).unwrap();
    assert_eq!(opened.skipped, [2, 4]);
    assert_eq!(opened.lost, 2, "both were doors opened");
    assert_eq!(
        opened
            .pending
            .iter()
            .map(|e| e.door.as_str())
            .collect::<Vec<_>>(),
        ["b"]
    );
}

#[test]
fn the_journal_stays_within_the_open_doors_and_a_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    let kept = ledger
        .record_open("kept", knocker(), "stop", at(1))
        .unwrap();
    for i in 0..1000 {
        let id = ledger.record_open("d", knocker(), "stop", at(i)).unwrap();
        ledger.record_close(id).unwrap();
        assert!(journal_lines(dir.path()).len() <= 1 + 1 + TAIL + 1);
    }
    assert_eq!(ledger.open_doors(), 1);
    drop(ledger);
    let pending = Ledger::open(dir.path()).unwrap().pending;
    assert_eq!(pending.iter().map(|e| e.id).collect::<Vec<_>>(), [kept]);
}

#[test]
fn two_owners_never_share_a_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let first = Ledger::open(dir.path()).unwrap();
    let error = Ledger::open(dir.path()).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "state directory {} is in use by knockd (pid {})",
            dir.path().display(),
            std::process::id()
        )
    );
    drop(first);
    assert!(
        Ledger::open(dir.path()).is_ok(),
        "free again once the owner is gone"
    );
}

#[test]
fn a_journal_that_is_not_a_regular_file_is_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    nix::unistd::mkfifo(&journal_path(dir.path()), nix::sys::stat::Mode::S_IRWXU).unwrap();
    let error = Ledger::open(dir.path()).unwrap_err();
    assert!(error.to_string().ends_with("not a regular file"), "{error}");

    let other = tempfile::tempdir().unwrap();
    let target = other.path().join("elsewhere");
    fs::write(&target, "").unwrap();
    let linked = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&target, journal_path(linked.path())).unwrap();
    assert!(
        Ledger::open(linked.path()).is_err(),
        "a symlink is not followed"
    );
    assert_eq!(
        fs::read_to_string(&target).unwrap(),
        "",
        "nor written through"
    );
}

#[test]
fn a_journal_of_4400_doors_with_4_kb_stops_is_read_back_whole() {
    // The ledger: past the 16 MiB that used to cap a whole-file read.
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    let stop = "x".repeat(4000);
    for i in 0..4400 {
        ledger.record_open("d", knocker(), &stop, at(i)).unwrap();
    }
    drop(ledger);
    assert!(fs::metadata(journal_path(dir.path())).unwrap().len() > 16 << 20);
    let opened = Ledger::open(dir.path()).unwrap();
    assert_eq!(opened.pending.len(), 4400);
    assert!(opened.skipped.is_empty());
}

#[test]
fn no_record_is_written_that_the_reader_would_not_take() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    let error = ledger
        .record_open("d", knocker(), &"x".repeat(MAX_RECORD), at(1))
        .unwrap_err();
    assert_eq!(error.to_string(), "record longer than 65536 bytes");
    // Escaping doubles a command of tabs: the longest knockd runs still fits.
    let tabs = "\t".repeat(knockd_core::config::MAX_COMMAND_LEN);
    ledger.record_open("d", knocker(), &tabs, at(1)).unwrap();
    drop(ledger);
    let opened = Ledger::open(dir.path()).unwrap();
    assert_eq!(opened.pending.len(), 1);
    assert!(opened.skipped.is_empty());
}

#[test]
fn a_line_longer_than_any_record_is_skipped_and_the_rest_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut ledger = Ledger::open(dir.path()).unwrap().ledger;
    ledger.record_open("a", knocker(), "stop a", at(1)).unwrap();
    drop(ledger);
    let path = journal_path(dir.path());
    let mut text = fs::read_to_string(&path).unwrap();
    text.insert_str(
        text.find('\n').unwrap() + 1,
        &format!("open{}\n", "x".repeat(200_000)),
    );
    fs::write(&path, text).unwrap();
    let opened = Ledger::open(dir.path()).unwrap();
    assert_eq!(
        (opened.skipped.as_slice(), opened.lost),
        ([2].as_slice(), 0)
    );
    assert_eq!(opened.pending.len(), 1);
}

/// A tmpfs of `size` mounted on a temporary directory, in a mount namespace
/// of the test's thread only (the mount never shows outside it); unmounted
/// when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn new(size: &str) -> SmallDisk {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).expect("unshare: needs root");
        // Else a shared / would carry the mount back to the host.
        mount(&["--make-rprivate", "/"]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_str().unwrap();
        mount(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size}"),
            "knockd-test",
            path,
        ]);
        SmallDisk { dir }
    }

    /// Fills the disk to its last page; returns the file that fills it.
    fn fill(&self) -> PathBuf {
        let path = self.dir.path().join("filler");
        let mut file = File::create(&path).unwrap();
        let page = [0u8; 4096];
        for _ in 0..100_000 {
            if let Err(error) = file.write_all(&page) {
                assert_eq!(error.kind(), io::ErrorKind::StorageFull);
                return path;
            }
        }
        panic!("the disk did not fill up");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

fn mount(args: &[&str]) {
    let status = std::process::Command::new("mount").args(args).status();
    assert!(status.unwrap().success(), "mount {args:?}");
}

#[test]
#[ignore = "needs root (a tmpfs in a mount namespace): run with --ignored"]
fn a_record_torn_by_a_full_disk_is_cut_off_and_the_next_one_is_read_back() {
    let disk = SmallDisk::new("256k");
    let state = disk.dir.path().join("state");
    let mut ledger = Ledger::open(&state).unwrap().ledger;
    let filler = disk.fill();
    // Longer than what is left of the journal's page: written in part.
    let error = ledger
        .record_open("a", knocker(), &"x".repeat(6000), at(1))
        .unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::StorageFull);
    assert_eq!(journal_lines(&state), [HEADER], "the torn part is cut off");
    fs::remove_file(filler).unwrap();
    let id = ledger.record_open("b", knocker(), "stop b", at(2)).unwrap();
    drop(ledger);
    let opened = Ledger::open(&state).unwrap();
    assert!(opened.skipped.is_empty(), "{:?}", opened.skipped);
    assert_eq!(
        opened.pending.iter().map(|e| e.id).collect::<Vec<_>>(),
        [id]
    );
}

#[test]
#[ignore = "needs root (a tmpfs in a mount namespace): run with --ignored"]
fn on_a_full_disk_the_doors_of_a_previous_run_are_still_read_and_recorded() {
    let disk = SmallDisk::new("256k");
    let state = disk.dir.path().join("state");
    let mut ledger = Ledger::open(&state).unwrap().ledger;
    let id = ledger.record_open("a", knocker(), "stop a", at(1)).unwrap();
    drop(ledger);
    // Cut short by a crash: the next record must not be glued to it.
    let mut journal = OpenOptions::new()
        .append(true)
        .open(journal_path(&state))
        .unwrap();
    journal.write_all(b"open\t7\t17").unwrap();
    let filler = disk.fill();
    // No room to compact: the journal is kept as it is.
    let opened = Ledger::open(&state).unwrap();
    assert_eq!(
        opened.pending.iter().map(|e| e.id).collect::<Vec<_>>(),
        [id]
    );
    assert_eq!(journal_lines(&state).len(), 3, "not compacted");
    let mut ledger = opened.ledger;
    fs::remove_file(filler).unwrap();
    ledger.record_close(id).unwrap();
    drop(ledger);
    let opened = Ledger::open(&state).unwrap();
    assert!(opened.pending.is_empty(), "{:?}", opened.pending);
    assert_eq!(opened.skipped, [3]);
}
