//! Running short-lived helper processes (`ip`, clients) with a time bound.

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::Duration;

use crate::wait::wait_until;

/// Runs `command` to completion within `timeout`, capturing stdout and stderr.
///
/// Panics (failing the test) when it cannot start or overruns.
pub fn run_bounded(command: &mut Command, timeout: Duration) -> Output {
    try_run_bounded(command, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`run_bounded`] but reports failure as text; for use in `Drop`, which must not panic.
pub fn try_run_bounded(command: &mut Command, timeout: Duration) -> Result<Output, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let Some(status) = wait_child(&mut child, timeout) else {
        // The child is ours; kill and reap it so nothing outlives the test.
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{command:?} did not finish within {timeout:?}"));
    };
    // Outputs are small (a few lines), so the pipes never filled up while we waited.
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_end(&mut stdout);
    }
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_end(&mut stderr);
    }
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Runs `command` within `timeout` and panics with its stderr unless it exits 0.
pub fn run_ok(command: &mut Command, timeout: Duration) -> Output {
    let output = run_bounded(command, timeout);
    assert!(
        output.status.success(),
        "{command:?} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Runs `command` within `timeout` with `input` on its stdin, written while
/// its stdout and stderr are read, so that no amount of either fills a pipe;
/// its stdin closes once `input` is written (or the program has exited
/// without reading it all: its output then says why). Panics (failing the
/// test) when it cannot start or overruns.
pub fn run_with_input(command: &mut Command, input: Vec<u8>, timeout: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let writer = thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).map(|_| bytes)
        })
    };
    let (stdout, stderr) = (read_all(Box::new(stdout)), read_all(Box::new(stderr)));
    let status = wait_child(&mut child, timeout);
    if status.is_none() {
        // Killing it closes the pipes, which ends the threads.
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = stdout.join().expect("stdout reader").unwrap_or_default();
    let stderr = stderr.join().expect("stderr reader").unwrap_or_default();
    let Some(status) = status else {
        panic!(
            "{command:?} did not finish within {timeout:?}; stderr: {}",
            String::from_utf8_lossy(&stderr)
        )
    };
    writer.join().expect("stdin writer");
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Waits up to `timeout` for `child` to exit.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    wait_until(timeout, || child.try_wait().ok().flatten())
}
