//! A per-test temporary directory for configs, logs and the files commands write.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use crate::wait::{read_text, wait_for_count, WAIT};

/// A temporary directory removed when dropped.
#[derive(Debug)]
pub struct Scratch {
    dir: TempDir,
}

impl Scratch {
    /// Creates an empty directory under the system temp dir.
    pub fn new() -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix("knock-it-")
            .tempdir()
            .unwrap_or_else(|e| panic!("cannot create a temp dir: {e}"));
        Scratch { dir }
    }

    /// The path of `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes (replaces) `name` with `text` and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path(name);
        fs::write(&path, text).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// The text of `name`, empty while it does not exist.
    pub fn read(&self, name: &str) -> String {
        read_text(&self.path(name))
    }

    /// The lines of `name`.
    pub fn lines(&self, name: &str) -> Vec<String> {
        self.read(name).lines().map(str::to_owned).collect()
    }

    /// Waits (bounded) until `name` has `count` lines containing `pattern`; fails the test otherwise.
    pub fn expect_lines(&self, name: &str, pattern: &str, count: usize) -> String {
        self.expect_lines_within(name, pattern, count, WAIT)
    }

    /// Like [`Scratch::expect_lines`] with an explicit bound.
    pub fn expect_lines_within(
        &self,
        name: &str,
        pattern: &str,
        count: usize,
        timeout: Duration,
    ) -> String {
        wait_for_count(&self.path(name), pattern, count, timeout).unwrap_or_else(|| {
            panic!(
                "no {count} line(s) with {pattern:?} in {name} after {timeout:?}; it holds:\n{}",
                self.read(name)
            )
        })
    }

    /// The directory itself.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch::new()
    }
}
