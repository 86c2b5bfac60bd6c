//! Bounded polling: every wait in the suite ends after a deadline.

use std::fs;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

/// The default bound for one wait: long enough for a loaded 2-core CI box, short enough to fail fast.
pub const WAIT: Duration = Duration::from_secs(10);

const POLL: Duration = Duration::from_millis(20);

/// Polls `probe` until it yields a value or `timeout` passes.
pub fn wait_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL);
    }
}

/// The file's text, or an empty string while it does not exist yet.
pub fn read_text(path: &Path) -> String {
    fs::read(path)
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default()
}

/// How many lines of `path` contain `pattern`.
pub fn count_lines(path: &Path, pattern: &str) -> usize {
    read_text(path)
        .lines()
        .filter(|line| line.contains(pattern))
        .count()
}

/// Waits until `path` has a line containing `pattern` and returns that line.
pub fn wait_for_line(path: &Path, pattern: &str, timeout: Duration) -> Option<String> {
    wait_for_count(path, pattern, 1, timeout)
}

/// Waits until `path` has at least `count` lines containing `pattern` and returns the `count`-th.
pub fn wait_for_count(
    path: &Path,
    pattern: &str,
    count: usize,
    timeout: Duration,
) -> Option<String> {
    wait_until(timeout, || {
        read_text(path)
            .lines()
            .filter(|line| line.contains(pattern))
            .nth(count.checked_sub(1)?)
            .map(str::to_owned)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_nth_matching_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        fs::write(&path, "a: Stage 1\nb: OPEN SESAME\nc: OPEN SESAME\n").unwrap();
        assert_eq!(count_lines(&path, "OPEN SESAME"), 2);
        assert_eq!(
            wait_for_count(&path, "OPEN", 2, Duration::ZERO).as_deref(),
            Some("c: OPEN SESAME")
        );
        assert_eq!(
            wait_for_line(&path, "Stage", Duration::ZERO).as_deref(),
            Some("a: Stage 1")
        );
    }

    #[test]
    fn gives_up_at_the_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing");
        let started = Instant::now();
        assert_eq!(wait_for_line(&path, "x", Duration::from_millis(100)), None);
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(wait_for_count(&path, "x", 0, Duration::ZERO), None);
    }

    #[test]
    fn sees_lines_written_while_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("late");
        let writer = {
            let path = path.clone();
            thread::spawn(move || {
                thread::sleep(Duration::from_millis(100));
                fs::write(path, "listening on veth...\n").unwrap();
            })
        };
        assert!(wait_for_line(&path, "listening on", WAIT).is_some());
        writer.join().unwrap();
    }
}
