//! Whether the state directory may be trusted: its ledger holds stop
//! commands that knockd (and `--close-all`) run as its own user, usually
//! root, and its checksum is no signature. So the directory and every file
//! in it must belong to the user knockd runs as (or root) and be writable
//! by nobody else; and the temporaries knockd writes there are created
//! afresh, never opened where something was left.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use knock_proto::file::Exposure;

/// The permission bits group and others must not have on the state
/// directory or its files: any write.
const NOT_WRITABLE: u32 = 0o022;

/// A state directory, or a file in it, that someone other than knockd's
/// user or root may change.
#[derive(Debug)]
pub struct Untrusted {
    /// The directory or file.
    pub path: PathBuf,
    /// Who else may change it, and the fix.
    pub exposure: Exposure,
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Untrusted { path, exposure } = self;
        write!(
            f,
            "state directory: {path}: {reason}, so the stop commands in it could be forged and run as knockd's user; not used: run `{fix} {path}`",
            path = path.display(),
            reason = exposure.reason(),
            fix = exposure.fix(),
        )
    }
}

/// Why the state directory is not used: it is untrusted, or cannot be examined.
#[derive(Debug)]
pub enum TrustError {
    /// Someone else may change it.
    Untrusted(Untrusted),
    /// The directory could not be listed or a file in it examined.
    Io {
        /// The directory or file.
        path: PathBuf,
        /// What went wrong.
        error: io::Error,
    },
}

/// Checks that `dir` and every entry in it belong to the effective user
/// (or root) and that group and others may not write them.
pub fn check(dir: &Path) -> Result<(), TrustError> {
    let user = nix::unistd::geteuid().as_raw();
    let io_error = |path: &Path| {
        let path = path.to_owned();
        move |error| TrustError::Io { path, error }
    };
    check_one(dir, &fs::metadata(dir).map_err(io_error(dir))?, user)?;
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let meta = entry.metadata().map_err(io_error(&path))?;
        check_one(&path, &meta, user)?;
    }
    Ok(())
}

fn check_one(path: &Path, meta: &fs::Metadata, user: u32) -> Result<(), TrustError> {
    // A symbolic link's own mode is always 0777 and means nothing; its
    // owner still counts. knockd never follows one in the directory.
    let forbidden = if meta.file_type().is_symlink() {
        0
    } else {
        NOT_WRITABLE
    };
    match Exposure::of_file(meta, user, forbidden) {
        None => Ok(()),
        Some(exposure) => Err(TrustError::Untrusted(Untrusted {
            path: path.to_owned(),
            exposure,
        })),
    }
}

/// Creates the temporary `path` (mode 0600) for writing: whatever was left
/// there (a file of a crashed run, a FIFO, a link) is removed first, never
/// opened, and the file is made with `O_CREAT|O_EXCL|O_NOFOLLOW|O_NONBLOCK`,
/// so nothing put there in between is written through or blocks.
pub fn create_temporary(path: &Path) -> io::Result<File> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
}

#[cfg(test)]
mod tests;
