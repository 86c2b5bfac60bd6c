//! The log file: lines (`[YYYY-MM-DD HH:MM] <message>`, or JSON) appended to
//! a path that can be reopened (SIGHUP, logrotate) and that survives being
//! deleted.

use std::fmt::Display;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
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
        }
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
        self.file = None;
        self.file = Some(
            OpenOptions::new()
                .append(true)
                .create(true)
                .open(&self.path)?,
        );
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
