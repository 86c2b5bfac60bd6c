//! The refusal shared by every file that holds secrets (a one-time sequences
//! file, a rotating door's secret file): one that group or others may access.

use std::fmt;
use std::path::PathBuf;

/// A file holding secrets is accessible to group or others.
#[derive(Debug)]
pub struct SecretExposed {
    /// What the file is, e.g. `secret file`.
    pub file: &'static str,
    /// The file.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
}

impl fmt::Display for SecretExposed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SecretExposed { file, path, mode } = self;
        write!(
            f,
            "{file} {path} holds secrets but group or others may access it \
             (mode {mode:04o}): run `chmod 600 {path}`",
            path = path.display()
        )
    }
}

impl std::error::Error for SecretExposed {}
