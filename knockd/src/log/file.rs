//! The log file: `[YYYY-MM-DD HH:MM] <message>` lines appended to a path that
//! can be reopened (SIGHUP, logrotate) and that survives being deleted.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Local};

/// An append-only log file at a fixed path.
///
/// Failures never reach the caller as errors beyond [`LogFile::open`]: a line
/// that cannot be written is dropped, so a full disk cannot stop the daemon.
#[derive(Debug)]
pub(super) struct LogFile {
    path: PathBuf,
    file: Option<File>,
}

impl LogFile {
    /// A log file at `path`, not yet opened.
    pub(super) fn new(path: PathBuf) -> Self {
        LogFile { path, file: None }
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

    /// Appends one line stamped with `now`. When the file is not open, or was
    /// deleted under us (no links left), the path is reopened first; when that
    /// fails too the line is dropped.
    pub(super) fn write_line(&mut self, now: DateTime<Local>, text: &str) {
        let deleted = self
            .file
            .as_ref()
            .is_none_or(|f| f.metadata().is_ok_and(|m| m.nlink() == 0));
        if deleted && self.open().is_err() {
            return;
        }
        let line = format!("[{}] {text}\n", now.format("%Y-%m-%d %H:%M"));
        if let Some(file) = self.file.as_mut() {
            // One write per line, so a reader never sees half a line; a
            // failure (disk full) costs this line only.
            let _ = file.write_all(line.as_bytes());
        }
    }
}
