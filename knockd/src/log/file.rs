//! The log file: lines (`[YYYY-MM-DD HH:MM] <message>`, or JSON) appended to
//! a path that can be reopened (SIGHUP, logrotate) and that survives being
//! deleted.
//!
//! A log file knockd creates is mode 0640, group `adm` (the group Debian
//! gives log readers), or 0600 when there is no `adm` group: its lines
//! name knockers and doors. A file that exists keeps its owner and mode
//! (logrotate's `create` sets those).

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Most bytes of lines held for one write; more are written at once.
const MAX_PENDING: usize = 64 << 10;

/// An append-only log file at a fixed path.
///
/// Lines are collected and written by [`LogFile::flush`], one `write` for
/// all of them (the server flushes once per wake-up), so a flood of log
/// lines costs one system call per batch of packets rather than two per line.
///
/// Failures never reach the caller as errors beyond [`LogFile::open`]: a line
/// that cannot be written is dropped, so a full disk cannot stop the daemon.
#[derive(Debug)]
pub(super) struct LogFile {
    path: PathBuf,
    file: Option<File>,
    /// Lines not yet written.
    pending: Vec<u8>,
    /// Whether only descriptors handed over are written to (the privilege
    /// split's watcher, which may not open files): never (re)opened here.
    handed: bool,
}

/// The group log readers are in: `adm`, when the system has one.
fn log_group() -> Option<u32> {
    nix::unistd::Group::from_name("adm")
        .ok()
        .flatten()
        .map(|group| group.gid.as_raw())
}

/// A new log file (created 0600, so never readable by others meanwhile)
/// made mode 0640 in group `group`, or left 0600 without one (or when the
/// group cannot be set: not root).
fn give_to_log_readers(file: &File, group: Option<u32>) {
    let Some(group) = group else {
        return;
    };
    if std::os::unix::fs::fchown(file, None, Some(group)).is_ok() {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(0o640));
    }
}

impl Drop for LogFile {
    fn drop(&mut self) {
        self.flush();
    }
}

impl LogFile {
    /// A log file at `path`, not yet opened.
    pub(super) fn new(path: PathBuf) -> Self {
        LogFile {
            path,
            file: None,
            pending: Vec::new(),
            handed: false,
        }
    }

    /// From now on the file is never opened here, only handed over with
    /// [`LogFile::adopt`].
    pub(super) fn hand_over(&mut self) {
        self.handed = true;
    }

    /// Writes to `file` (opened by another process) from now on.
    pub(super) fn adopt(&mut self, file: File) {
        self.flush();
        self.file = Some(file);
    }

    /// The open file, if any.
    pub(super) fn file(&self) -> Option<&File> {
        self.file.as_ref()
    }

    /// The path lines go to.
    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    /// (Re)opens the path for appending, creating it if needed. `O_APPEND`
    /// keeps lines whole next to other writers (and children that inherit a
    /// descriptor to the same file); std adds `O_CLOEXEC`, so commands never
    /// inherit this one.
    pub(super) fn open(&mut self) -> io::Result<()> {
        if self.handed {
            return Err(io::ErrorKind::PermissionDenied.into());
        }
        self.file = None;
        let created = OpenOptions::new()
            .append(true)
            .create_new(true)
            .mode(0o600)
            .open(&self.path);
        let file = match created {
            Ok(file) => {
                give_to_log_readers(&file, log_group());
                file
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                OpenOptions::new().append(true).open(&self.path)?
            }
            Err(e) => return Err(e),
        };
        self.file = Some(file);
        Ok(())
    }

    /// Adds one line (without its newline) to those [`LogFile::flush`]
    /// writes (at once, past [`MAX_PENDING`] bytes).
    /// `prefix` is ASCII; `line` goes out byte for byte as knockd.conf
    /// held it (see [`knockd_core::bytes`]).
    pub(super) fn write_line(&mut self, prefix: &dyn Display, line: &str) {
        let _ = write!(self.pending, "{prefix}");
        self.pending
            .extend_from_slice(&knockd_core::bytes::encode(line));
        self.pending.push(b'\n');
        if self.pending.len() >= MAX_PENDING {
            self.flush();
        }
    }

    /// Writes the pending lines. When the file is not open, or was deleted
    /// under us (no links left), the path is reopened first; when that fails
    /// too the lines are dropped.
    pub(super) fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let deleted = self
            .file
            .as_ref()
            .is_none_or(|f| f.metadata().is_ok_and(|m| m.nlink() == 0));
        if !deleted || self.open().is_ok() {
            if let Some(file) = self.file.as_mut() {
                // One write for whole lines, so a reader never sees half a
                // line; a failure (disk full) costs these lines only.
                let _ = file.write_all(&self.pending);
            }
        }
        self.pending.clear();
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
