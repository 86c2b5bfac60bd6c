use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use super::*;

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_log_file_knockd_creates_is_0640_for_log_readers_or_0600() {
    let dir = tempfile::tempdir().unwrap();
    // Whatever the umask, never 0644.
    let path = dir.path().join("knockd.log");
    let mut log = LogFile::new(path.clone());
    log.open().unwrap();
    log.write_line(&"", "line");
    log.flush();
    let metadata = fs::metadata(&path).unwrap();
    let in_log_group = log_group().is_some_and(|gid| metadata.gid() == gid);
    let expected = if in_log_group { 0o640 } else { 0o600 };
    assert_eq!(mode(&path), expected, "gid {}", metadata.gid());

    // Without a log group: 0600.
    let bare = dir.path().join("bare.log");
    let file = OpenOptions::new()
        .append(true)
        .create_new(true)
        .mode(0o600)
        .open(&bare)
        .unwrap();
    give_to_log_readers(&file, None);
    assert_eq!(mode(&bare), 0o600);
    // With one this process may give it to (its own group): 0640, that group.
    let own = nix::unistd::getegid().as_raw();
    give_to_log_readers(&file, Some(own));
    assert_eq!(mode(&bare), 0o640);
    assert_eq!(fs::metadata(&bare).unwrap().gid(), own);
}

#[test]
fn an_existing_log_file_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("knockd.log");
    fs::write(&path, "old\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let mut log = LogFile::new(path.clone());
    log.open().unwrap();
    log.write_line(&"", "new");
    log.flush();
    assert_eq!(mode(&path), 0o644);
    assert_eq!(fs::read_to_string(&path).unwrap(), "old\nnew\n");
}
