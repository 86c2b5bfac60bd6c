//! A knockd-compatible server running in the server namespace.

use std::fs::{self, File};
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::conf::{sync_door_name, SYNC_PORT};
use crate::env::KNOCKD_08_DIR;
use crate::frame::Packet;
use crate::net::Net;
use crate::process::wait_child;
use crate::scratch::Scratch;
use crate::wait::{count_lines, read_text, wait_for_count, wait_until, WAIT};

/// The spoofed source of sync probes; floods use other 198.19.0.0/16 addresses.
pub const SYNC_SOURCE: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 254);

/// The `n`-th spoofed flood source in 198.19.0.0/16 (65,534 distinct ones), never [`SYNC_SOURCE`].
pub fn spoofed_v4(n: u32) -> Ipv4Addr {
    let host = n % 0xfffe;
    let addr = Ipv4Addr::new(198, 19, (host >> 8) as u8, host as u8);
    if addr == SYNC_SOURCE {
        Ipv4Addr::new(198, 19, 0, 1)
    } else {
        addr
    }
}

/// How a server is started beyond its arguments.
#[derive(Debug, Default, Clone, Copy)]
pub struct Launch<'a> {
    /// Environment variables the server gets besides the test's own.
    pub env: &'a [(&'a str, &'a str)],
    /// A command line that runs in the server namespace and execs the server, which it gets as
    /// its last arguments: `["sh", "-c", "<set-up>; exec \"$@\"", "sh"]`.
    pub wrapper: &'a [&'a str],
}

/// How long one sync probe may go unanswered before it is sent again.
const SYNC_RETRY: Duration = Duration::from_millis(300);

/// A server process started with `ip netns exec <server ns> <binary> -i <veth> -c <config> -v -g <log>`
/// (`-i <veth>` unless the extra arguments name an interface),
/// plus `--state-dir <scratch>/state` and `--control-socket <scratch>/knockd.sock` for our
/// knockd, so that its door ledger and control socket stay in the test's scratch dir instead
/// of the machine's /var/lib/knockd and /run/knockd.sock (knockd 0.8 has neither).
///
/// Dropping it kills the process (and an adopted daemonised pid) and reaps it.
#[derive(Debug)]
pub struct Daemon {
    child: Child,
    /// The daemonised process found in the pid file, once `-d` has forked away from `child`.
    adopted: Option<Pid>,
    server_ns: String,
    stdout: PathBuf,
    stderr: PathBuf,
    log: PathBuf,
    control_socket: PathBuf,
}

impl Daemon {
    /// Starts `binary` with `config` and `extra` arguments and waits for its `listening on` line.
    pub fn start(
        net: &Net,
        scratch: &Scratch,
        binary: &Path,
        config: &Path,
        extra: &[&str],
    ) -> Daemon {
        Daemon::start_with(net, scratch, binary, config, extra, Launch::default())
    }

    /// [`Daemon::start`] with extra environment variables or under a wrapper ([`Launch`]).
    pub fn start_with(
        net: &Net,
        scratch: &Scratch,
        binary: &Path,
        config: &Path,
        extra: &[&str],
        launch: Launch<'_>,
    ) -> Daemon {
        let daemon = Daemon::spawn_with(net, scratch, binary, config, extra, launch);
        daemon.wait_ready();
        daemon
    }

    /// Starts `binary` without waiting for readiness (for `-d`, whose stdout goes to /dev/null).
    pub fn spawn(
        net: &Net,
        scratch: &Scratch,
        binary: &Path,
        config: &Path,
        extra: &[&str],
    ) -> Daemon {
        Daemon::spawn_with(net, scratch, binary, config, extra, Launch::default())
    }

    /// [`Daemon::spawn`] with extra environment variables or under a wrapper ([`Launch`]).
    pub fn spawn_with(
        net: &Net,
        scratch: &Scratch,
        binary: &Path,
        config: &Path,
        extra: &[&str],
        launch: Launch<'_>,
    ) -> Daemon {
        let stdout = scratch.path("knockd.stdout");
        let stderr = scratch.path("knockd.stderr");
        let log = scratch.path("knockd.log");
        let control_socket = scratch.path("knockd.sock");
        let create = |path: &Path| {
            File::create(path).unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()))
        };
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", net.server_ns()])
            .args(launch.wrapper)
            .arg(binary)
            .envs(launch.env.iter().copied());
        // The server's veth, unless the test names the interface itself.
        if !extra.contains(&"-i") {
            command.args(["-i", net.server_iface()]);
        }
        command.arg("-c").arg(config).arg("-v").arg("-g").arg(&log);
        if !binary.starts_with(KNOCKD_08_DIR) {
            command.arg("--state-dir").arg(scratch.path("state"));
            // A test's own socket unless it names one.
            if !extra.contains(&"--control-socket") {
                command.arg("--control-socket").arg(&control_socket);
            }
        }
        let child = command
            .args(extra)
            .stdin(Stdio::null())
            .stdout(create(&stdout))
            .stderr(create(&stderr))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Daemon {
            child,
            adopted: None,
            server_ns: net.server_ns().to_owned(),
            stdout,
            stderr,
            log,
            control_socket,
        }
    }

    /// Waits for `listening on` on stdout, printed once the capture is set up.
    pub fn wait_ready(&self) {
        if wait_for_count(&self.stdout, "listening on", 1, WAIT).is_none() {
            panic!("the server never printed `listening on`");
        }
    }

    /// The process to signal: the daemonised one if adopted, else the one spawned.
    pub fn pid(&self) -> Pid {
        self.adopted
            .unwrap_or_else(|| Pid::from_raw(self.child.id() as i32))
    }

    /// Sends `signal` to the server.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid(), signal)
            .unwrap_or_else(|e| panic!("cannot send {signal} to the server: {e}"));
    }

    /// Waits (bounded) for the spawned process to exit and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        match wait_child(&mut self.child, WAIT) {
            Some(status) => status,
            None => panic!("the server did not exit within {WAIT:?}"),
        }
    }

    /// Whether the spawned process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Reads the daemon's pid from `pid_file` (waiting for it) and signals that process from now on.
    pub fn adopt_pid_file(&mut self, pid_file: &Path) -> Pid {
        let pid = wait_until(WAIT, || {
            read_text(pid_file)
                .trim()
                .parse::<i32>()
                .ok()
                .map(Pid::from_raw)
        })
        .unwrap_or_else(|| panic!("no pid in {} within {WAIT:?}", pid_file.display()));
        assert!(
            in_namespace(pid, &self.server_ns),
            "pid {pid} from {} is not in {}",
            pid_file.display(),
            self.server_ns
        );
        self.adopted = Some(pid);
        pid
    }

    /// Waits (bounded) until the adopted daemon has exited.
    pub fn wait_gone(&self) {
        let pid = self.pid();
        if wait_until(WAIT, || (!is_alive(pid)).then_some(())).is_none() {
            panic!("the server {pid} is still running after {WAIT:?}");
        }
    }

    /// Whether the adopted (or spawned) process still exists and is not a zombie.
    pub fn is_alive(&self) -> bool {
        is_alive(self.pid())
    }

    /// The control socket given with `--control-socket` (unless the test named another).
    pub fn control_socket(&self) -> &Path {
        &self.control_socket
    }

    /// The log file written through `-g`.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Everything the server printed on stdout so far.
    pub fn stdout(&self) -> String {
        read_text(&self.stdout)
    }

    /// Everything the server printed on stderr so far.
    pub fn stderr(&self) -> String {
        read_text(&self.stderr)
    }

    /// The log file so far.
    pub fn log(&self) -> String {
        read_text(&self.log)
    }

    /// How many log lines contain `pattern`.
    pub fn log_count(&self, pattern: &str) -> usize {
        count_lines(&self.log, pattern)
    }

    /// Waits (bounded) for a log line containing `pattern` and returns it.
    pub fn expect_log(&self, pattern: &str) -> String {
        self.expect_log_count(pattern, 1)
    }

    /// Waits (bounded) until `count` log lines contain `pattern` and returns the last of them.
    pub fn expect_log_count(&self, pattern: &str, count: usize) -> String {
        self.expect_log_within(pattern, count, WAIT)
    }

    /// Like [`Daemon::expect_log_count`] with an explicit bound.
    pub fn expect_log_within(&self, pattern: &str, count: usize, timeout: Duration) -> String {
        wait_for_count(&self.log, pattern, count, timeout)
            .unwrap_or_else(|| panic!("no {count} log line(s) with {pattern:?} after {timeout:?}"))
    }

    /// Waits (bounded) for a stderr line containing `pattern`.
    pub fn expect_stderr(&self, pattern: &str) -> String {
        wait_for_count(&self.stderr, pattern, 1, WAIT)
            .unwrap_or_else(|| panic!("no stderr line with {pattern:?} within {WAIT:?}"))
    }

    /// Returns once the server has processed every packet sent before this call.
    ///
    /// Knocks the sync door on [`SYNC_PORT`] from [`SYNC_SOURCE`] and waits for its `OPEN SESAME`;
    /// the probe is resent while unanswered, so a reload that drops packets only delays it.
    pub fn sync(&self, net: &Net) {
        self.sync_on(net, SYNC_PORT);
    }

    /// [`Daemon::sync`] through the sync door on `port` (a reloaded config may move it).
    pub fn sync_on(&self, net: &Net, port: u16) {
        let pattern = format!("{SYNC_SOURCE}: {}: OPEN SESAME", sync_door_name(port));
        let before = self.log_count(&pattern);
        let synced = wait_until(WAIT, || {
            net.send(&[Packet::udp(SYNC_SOURCE, net.server_v4(), port)]);
            wait_for_count(&self.log, &pattern, before + 1, SYNC_RETRY)
        });
        if synced.is_none() {
            panic!("the sync door on {port} never opened");
        }
    }

    /// stdout, stderr and log of the server; printed when a test fails while the server is alive.
    pub fn diagnostics(&self) -> String {
        format!(
            "--- server stdout ---\n{}--- server stderr ---\n{}--- server log ---\n{}",
            self.stdout(),
            self.stderr(),
            self.log()
        )
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.diagnostics());
        }
        // Only a pid still inside our namespace can be the daemon we adopted (pids get reused).
        if let Some(pid) = self
            .adopted
            .filter(|pid| in_namespace(*pid, &self.server_ns))
        {
            let _ = kill(pid, Signal::SIGKILL);
        }
        let _ = self.child.kill();
        let _ = wait_child(&mut self.child, WAIT);
    }
}

/// Whether `pid` exists and is not a zombie waiting for a reaper that is not us.
fn is_alive(pid: Pid) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .map(|(_, rest)| !rest.starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Whether `pid` lives in the network namespace named `ns`.
fn in_namespace(pid: Pid, ns: &str) -> bool {
    let proc_ns = fs::metadata(format!("/proc/{pid}/ns/net"));
    let named = fs::metadata(Path::new("/run/netns").join(ns));
    match (proc_ns, named) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_reaped_child_is_not() {
        assert!(is_alive(Pid::this()));
        let mut child = Command::new("true").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        child.wait().unwrap();
        assert!(!is_alive(pid));
    }

    #[test]
    fn spoofed_sources_are_distinct_and_never_the_sync_source() {
        let sources: std::collections::HashSet<Ipv4Addr> = (0..0xfffe).map(spoofed_v4).collect();
        assert_eq!(sources.len(), 0xfffe);
        assert!(!sources.contains(&SYNC_SOURCE));
        assert!(sources.iter().all(|a| a.octets()[..2] == [198, 19]));
    }

    #[test]
    fn a_process_is_not_in_a_namespace_that_does_not_exist() {
        assert!(!in_namespace(Pid::this(), "knit-no-such-namespace"));
    }
}
