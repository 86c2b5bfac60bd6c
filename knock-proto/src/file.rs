//! Opening the files knockd and knock read (configuration, one-time
//! sequences, the door ledger) so that no file can hang or exhaust the
//! reader: never blocking in `open` (a FIFO), never following a symlink
//! where none is expected, only regular files, and at most a size cap.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The largest file knockd reads: far beyond any real configuration,
/// one-time sequences file or door ledger.
pub const MAX_FILE_SIZE: u64 = 16 << 20;

/// Whether a symlink at the path itself is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Symlinks {
    /// Follow it (a configuration file managed as a link).
    Follow,
    /// Refuse it (a file knockd writes to, which a link could redirect).
    Refuse,
}

/// Opens `path` for reading (and writing with `write`), refusing anything
/// but a regular file without blocking on a FIFO or a device.
pub fn open_regular(path: &Path, write: bool, symlinks: Symlinks) -> io::Result<File> {
    let is_link = || {
        path.symlink_metadata()
            .is_ok_and(|meta| meta.file_type().is_symlink())
    };
    let link_refused = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "is a symbolic link, which is not followed",
        )
    };
    // Where O_NOFOLLOW exists it makes this check race-free.
    if symlinks == Symlinks::Refuse && is_link() {
        return Err(link_refused());
    }
    let mut options = OpenOptions::new();
    options.read(true).write(write);
    no_block(&mut options, symlinks);
    let file = options.open(path).map_err(|error| {
        // A link swapped in after the check: O_NOFOLLOW's ELOOP.
        if symlinks == Symlinks::Refuse && is_link() {
            link_refused()
        } else {
            error
        }
    })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(file)
}

/// Reads a whole regular file of at most `cap` bytes, opened as [`open_regular`] does.
pub fn read_regular(path: &Path, cap: u64, symlinks: Symlinks) -> io::Result<Vec<u8>> {
    read_capped(open_regular(path, false, symlinks)?, cap)
}

/// Reads an opened file to its end, refusing one larger than `cap` bytes.
pub fn read_capped(file: File, cap: u64) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    file.take(cap.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("larger than {cap} bytes"),
        ));
    }
    Ok(bytes)
}

#[cfg(unix)]
fn no_block(options: &mut OpenOptions, symlinks: Symlinks) {
    use std::os::unix::fs::OpenOptionsExt;
    let no_follow = match symlinks {
        Symlinks::Follow => 0,
        Symlinks::Refuse => libc::O_NOFOLLOW,
    };
    options.custom_flags(libc::O_NONBLOCK | no_follow);
}

/// Elsewhere a FIFO cannot be made by accident, and a link at the path was
/// refused before opening.
#[cfg(not(unix))]
fn no_block(_options: &mut OpenOptions, _symlinks: Symlinks) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn regular_files_read_whole_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "1234").unwrap();
        assert_eq!(read_regular(&path, 4, Symlinks::Refuse).unwrap(), b"1234");
        let error = read_regular(&path, 3, Symlinks::Refuse).unwrap_err();
        assert_eq!(error.to_string(), "larger than 3 bytes");
    }

    #[cfg(unix)]
    #[test]
    fn fifos_devices_and_directories_are_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|status| status.success()));
        for path in [fifo.as_path(), Path::new("/dev/zero"), dir.path()] {
            let error = read_regular(path, MAX_FILE_SIZE, Symlinks::Follow).unwrap_err();
            assert_eq!(
                error.to_string(),
                "not a regular file",
                "{}",
                path.display()
            );
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_followed_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "secret\n").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert_eq!(
            read_regular(&link, 100, Symlinks::Follow).unwrap(),
            b"secret\n"
        );
        let error = read_regular(&link, 100, Symlinks::Refuse).unwrap_err();
        assert_eq!(
            error.to_string(),
            "is a symbolic link, which is not followed"
        );
        assert!(open_regular(&link, true, Symlinks::Refuse).is_err());
    }
}
