//! The refusal shared by every file that holds secrets (a one-time sequences
//! file, a rotating door's secret file): one that group or others may read
//! or write, or that another user owns.

use std::fmt;
use std::path::PathBuf;

use knock_proto::file::Exposure;

/// A file holding secrets is accessible to group or others, or belongs to
/// another user.
#[derive(Debug)]
pub struct SecretExposed {
    /// What the file is, e.g. `secret file`.
    pub file: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Who else may read or change it.
    pub exposure: Exposure,
}

impl fmt::Display for SecretExposed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SecretExposed {
            file,
            path,
            exposure,
        } = self;
        write!(
            f,
            "{file} {path} holds secrets but {reason}: run `{fix} {path}`",
            path = path.display(),
            reason = exposure.reason(),
            fix = exposure.fix(),
        )
    }
}

impl std::error::Error for SecretExposed {}

/// The user a file holding secrets must belong to (or root): the effective
/// user of this process.
#[cfg(unix)]
pub fn reader_uid() -> u32 {
    crate::sys::effective_uid()
}

/// Other platforms have no owners to check; knock-proto ignores the uid there.
#[cfg(not(unix))]
pub fn reader_uid() -> u32 {
    0
}
