//! Reloads read off the poll loop: parsing the configuration and reading its
//! one-time sequences files happen on a worker thread, so a reload (of a
//! huge configuration, or from a slow file system) never delays due stop
//! commands or packets. The loop polls [`Reloader::fd`] and swaps the
//! result in when it is ready.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::thread;

use knockd_core::doors::{self, LoadError, Loaded};

/// The worker's answer: the configuration it read, or why it could not.
pub type Loading = Result<Loaded, LoadError>;

/// At most one read under way, and whether another was asked for meanwhile.
#[derive(Debug)]
pub struct Reloader {
    path: PathBuf,
    base: PathBuf,
    /// Readable when a read has finished.
    wake: UnixStream,
    notify: UnixStream,
    pending: Option<Receiver<Loading>>,
    again: bool,
}

impl Reloader {
    /// A reloader for the configuration at `path`, relative paths in it
    /// resolving against `base`.
    pub fn new(path: PathBuf, base: PathBuf) -> io::Result<Self> {
        let (wake, notify) = UnixStream::pair()?;
        wake.set_nonblocking(true)?;
        Ok(Reloader {
            path,
            base,
            wake,
            notify,
            pending: None,
            again: false,
        })
    }

    /// The descriptor to poll: readable when [`Reloader::take`] has a result.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Starts reading the configuration; while a read is under way, another
    /// follows it (the file may have changed after that read began).
    pub fn request(&mut self) -> io::Result<()> {
        if self.pending.is_some() {
            self.again = true;
            return Ok(());
        }
        let (path, base) = (self.path.clone(), self.base.clone());
        let (done, result) = channel();
        let mut notify = self.notify.try_clone()?;
        thread::Builder::new()
            .name("knockd-reload".into())
            .spawn(move || {
                // The loop may have gone (shutdown): then nobody listens.
                let _ = done.send(doors::load(&path, &base, nix::unistd::geteuid().as_raw()));
                let _ = notify.write_all(&[1]);
            })?;
        self.pending = Some(result);
        Ok(())
    }

    /// Whether a read is under way (a reload is not done until it is not).
    pub fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// The finished read, if there is one; starts the read asked for while
    /// it ran.
    pub fn take(&mut self) -> Option<Loading> {
        let mut drained = [0u8; 16];
        while matches!((&self.wake).read(&mut drained), Ok(n) if n > 0) {}
        let result = match self.pending.as_ref()?.try_recv() {
            Ok(result) => result,
            Err(TryRecvError::Empty) => return None,
            Err(TryRecvError::Disconnected) => {
                // Only a panic ends the worker without an answer, and reading
                // a configuration does not panic on any input.
                debug_assert!(false, "the reload worker ended without an answer");
                self.pending = None;
                return None;
            }
        };
        self.pending = None;
        if std::mem::take(&mut self.again) {
            // A failure to start the follow-up read is the same as the
            // next SIGHUP not having come: the running configuration stays.
            let _ = self.request();
        }
        Some(result)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::time::{Duration, Instant};

    use super::*;

    fn wait_for(reloader: &mut Reloader) -> Loading {
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(result) = reloader.take() {
                return result;
            }
            assert!(Instant::now() < end, "no result within 10 s");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_read_runs_off_the_caller_and_its_result_is_taken_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.conf");
        fs::write(&path, "[d]\nsequence = 1\n").unwrap();
        let mut reloader = Reloader::new(path.clone(), dir.path().to_owned()).unwrap();
        assert!(reloader.take().is_none(), "nothing asked for yet");
        assert!(!reloader.busy());
        reloader.request().unwrap();
        assert!(reloader.busy());
        let loaded = wait_for(&mut reloader).unwrap();
        assert!(!reloader.busy());
        assert_eq!(loaded.doors.len(), 1);
        assert!(reloader.take().is_none(), "taken once");

        fs::write(&path, "[d]\nsequence = 70000\n").unwrap();
        reloader.request().unwrap();
        let error = wait_for(&mut reloader).unwrap_err();
        assert!(
            error.to_string().contains("port 70000 is invalid"),
            "{error}"
        );
    }

    #[test]
    fn a_request_during_a_read_reads_again_afterwards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.conf");
        fs::write(&path, "[a]\nsequence = 1\n").unwrap();
        let mut reloader = Reloader::new(path.clone(), dir.path().to_owned()).unwrap();
        reloader.request().unwrap();
        fs::write(&path, "[a]\nsequence = 1\n[b]\nsequence = 2\n").unwrap();
        reloader.request().unwrap();
        let first = wait_for(&mut reloader).unwrap();
        assert!(reloader.busy(), "the follow-up read is under way");
        let second = wait_for(&mut reloader).unwrap();
        assert_eq!(
            second.doors.len(),
            2,
            "the follow-up read sees the new file"
        );
        assert!(first.doors.len() <= 2);
        assert!(reloader.take().is_none());
    }
}
