//! Daemon mode: detach from the terminal and keep a pid file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use nix::unistd::{chdir, dup2_stderr, dup2_stdin, dup2_stdout, setsid};

use crate::sys;

/// Forks into the background as `daemon(0, 0)` does: the launching process
/// exits 0, the child becomes a session leader with its working directory at
/// `/` and stdin, stdout and stderr on `/dev/null`.
///
/// Must be called while the process has a single thread.
pub fn detach() -> io::Result<()> {
    sys::process::fork_to_background()?;
    setsid().map_err(io::Error::from)?;
    chdir("/").map_err(io::Error::from)?;
    let null = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    dup2_stdin(&null).map_err(io::Error::from)?;
    dup2_stdout(&null).map_err(io::Error::from)?;
    dup2_stderr(&null).map_err(io::Error::from)?;
    Ok(())
}

/// A pid file that is removed when dropped.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Writes `<pid>\n` to `path` atomically: to a temporary file beside it,
    /// synced, then renamed over `path`, so a reader never sees a partial file.
    pub fn create(path: &Path) -> io::Result<PidFile> {
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        let written = (|| {
            let mut file = fs::File::create(&tmp)?;
            writeln!(file, "{}", std::process::id())?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map(|()| PidFile {
            path: path.to_owned(),
        })
    }
}

impl PidFile {
    /// Forgets the file without removing it: in the privilege split's
    /// watcher, whose parent removes it.
    pub fn leave_to_other_process(self) {
        std::mem::forget(self);
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pid_file_holds_the_pid_and_a_newline_and_is_removed_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knockd.pid");
        let pid = PidFile::create(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
        drop(pid);
        assert!(!path.exists());
    }

    #[test]
    fn an_unwritable_pid_file_is_an_error() {
        assert!(PidFile::create(Path::new("/nonexistent/dir/knockd.pid")).is_err());
    }
}
