//! A throwaway systemd, booted as PID 1 of a container in a [`Net`]'s server namespace, so
//! tests run the shipped unit file under the real service manager and its real sandbox.
//!
//! The machines this suite runs on rarely boot systemd themselves (a CI container's PID 1 is
//! something else, and `systemd-run` then fails with "System has not been booted with
//! systemd"), but systemd runs fine as PID 1 of its own PID, mount and cgroup namespaces.
//! The container's root is an overlay over the host's `/` with a tmpfs on top (see
//! `boot-systemd.sh`): tests lay their files over it, and nothing they or the service write
//! reaches the host. It shares the server namespace's network, so a knock from the client
//! namespace reaches a knockd it runs, and its firewall tools change that namespace only.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::env::require_tools;
use crate::net::Net;
use crate::process::{run_bounded, wait_child};
use crate::procfs::children;
use crate::scratch::Scratch;
use crate::wait::{wait_until, WAIT};

/// The script that builds the container and execs systemd in it.
const BOOT: &str = include_str!("boot-systemd.sh");

/// The only target the container's systemd starts: basic.target, no host services.
const TARGET: &str = "[Unit]\nDescription=knockd test container\n\
    Requires=basic.target\nAfter=basic.target\n";

/// How long systemd may take to boot the container on a loaded machine.
const BOOT_WAIT: Duration = Duration::from_secs(60);

/// The bound of one command in the container (starting firewalld takes seconds).
const COMMAND_WAIT: Duration = Duration::from_secs(30);

/// The service manager binary the container runs.
const SYSTEMD: &str = "/usr/lib/systemd/systemd";

/// A file a test lays over the container's root before it boots.
#[derive(Debug, Clone, Copy)]
pub struct Staged<'a> {
    /// Absolute path inside the container, e.g. `/etc/knockd.conf`.
    pub path: &'a str,
    /// The file's bytes.
    pub bytes: &'a [u8],
    /// Its permission bits.
    pub mode: u32,
}

/// A running container with systemd as its PID 1.
///
/// Dropping it kills everything in it (the PID namespace dies with its init) and removes
/// the control groups it lived in; its mounts die with its mount namespace. Drop it before
/// the [`Net`] it runs in.
#[derive(Debug)]
pub struct Systemd {
    boot: Child,
    init: Pid,
    scratch: Scratch,
}

impl Systemd {
    /// Boots systemd in `net`'s server namespace with `files` laid over the root, and waits
    /// (bounded) until it has finished starting up.
    ///
    /// Fails the test, saying what is missing, without systemd, `unshare` or `nsenter`.
    pub fn boot(net: &Net, files: &[Staged]) -> Systemd {
        require_tools(&["unshare", "nsenter", "systemctl"]);
        assert!(
            Path::new(SYSTEMD).is_file(),
            "{SYSTEMD} is missing: this test boots systemd in a container (apt-get install systemd)"
        );
        let scratch = Scratch::new();
        let stage = scratch.path("stage");
        let target = Staged {
            path: "/etc/systemd/system/knockd-test.target",
            bytes: TARGET.as_bytes(),
            mode: 0o644,
        };
        for file in files.iter().chain([&target]) {
            let path = stage.join(file.path.trim_start_matches('/'));
            if let Some(parent) = path.parent() {
                fs::create_dir_all(parent)
                    .unwrap_or_else(|e| panic!("cannot create {}: {e}", parent.display()));
            }
            fs::write(&path, file.bytes)
                .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(file.mode)))
                .unwrap_or_else(|e| panic!("cannot stage {}: {e}", path.display()));
        }
        let script = scratch.write("boot-systemd.sh", BOOT);
        // The control groups' name: unique among the tests of every worktree on the machine.
        let name = format!(
            "knockd-test-{}",
            scratch
                .dir()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let boot = Command::new("nsenter")
            .arg(format!("--net=/run/netns/{}", net.server_ns()))
            .arg("sh")
            .arg(&script)
            .arg("outer")
            .arg(scratch.dir())
            .arg(&name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                fs::File::create(scratch.path("boot.log"))
                    .map_or_else(|e| panic!("cannot create the boot log: {e}"), Stdio::from),
            )
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        // nsenter execs sh, sh execs unshare, whose child execs systemd; until then the
        // outer sh's own children (mkdir, echo) come and go.
        let leader = Pid::from_raw(boot.id() as i32);
        let init = wait_until(BOOT_WAIT, || {
            children(leader).into_iter().find(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm"))
                    .is_ok_and(|comm| comm == "systemd\n")
            })
        });
        let mut systemd = Systemd {
            boot,
            init: init.unwrap_or(leader),
            scratch,
        };
        assert!(
            init.is_some(),
            "the container did not start: {}",
            systemd.scratch.read("boot.log")
        );
        systemd.wait_booted();
        systemd
    }

    /// Waits until `systemctl is-system-running` says the boot has ended.
    fn wait_booted(&mut self) {
        let state = wait_until(BOOT_WAIT, || {
            if let Ok(Some(status)) = self.boot.try_wait() {
                panic!(
                    "the container exited with {status}: {}",
                    self.scratch.read("boot.log")
                );
            }
            // Fails while systemd has not yet opened its bus socket.
            let output = self.run("systemctl is-system-running");
            let state = String::from_utf8_lossy(&output.stdout).trim().to_owned();
            matches!(state.as_str(), "running" | "degraded").then_some(state)
        });
        assert!(
            state.is_some(),
            "systemd in the container did not finish booting within {BOOT_WAIT:?}: {}",
            self.scratch.read("boot.log")
        );
    }

    /// Runs `script` with `sh -c` inside the container (all its namespaces), bounded in time.
    pub fn run(&self, script: &str) -> Output {
        run_bounded(
            Command::new("nsenter")
                .arg("-t")
                .arg(self.init.to_string())
                .args(["-a", "sh", "-c", script]),
            COMMAND_WAIT,
        )
    }

    /// Runs `script` inside the container and fails the test unless it exits 0; its stdout.
    pub fn run_ok(&self, script: &str) -> String {
        let output = self.run(script);
        assert!(
            output.status.success(),
            "`{script}` in the container exited with {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The host's view of `path` inside the container (through `/proc/<init>/root`).
    pub fn path(&self, path: &str) -> PathBuf {
        PathBuf::from(format!("/proc/{}/root", self.init)).join(path.trim_start_matches('/'))
    }

    /// The journal of `unit`, for failure messages.
    pub fn journal(&self, unit: &str) -> String {
        let output = self.run(&format!("journalctl --no-pager -o cat -u {unit}"));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The control groups the container lived in and every group below them, parents first.
    fn cgroups(&self) -> Vec<PathBuf> {
        let mut groups = Vec::new();
        for group in self.scratch.lines("cgroups") {
            collect_dirs(Path::new(&group), &mut groups);
        }
        groups
    }

    /// Kills every process in the container's control groups (what survived its init).
    fn kill_all(&self) {
        for group in self.cgroups() {
            for pid in fs::read_to_string(group.join("cgroup.procs"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|pid| pid.parse().ok())
            {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }

    /// Removes the container's control groups, innermost first; the kernel frees a group a
    /// moment after its last process has exited, so it tries again, within a bound.
    fn remove_cgroups(&self) {
        let removed = wait_until(WAIT, || {
            self.kill_all();
            // Children were collected after their parents: remove in reverse.
            for dir in self.cgroups().iter().rev() {
                if let Err(e) = fs::remove_dir(dir) {
                    if e.kind() != io::ErrorKind::NotFound {
                        return None;
                    }
                }
            }
            Some(())
        });
        if removed.is_none() {
            eprintln!(
                "warning: cannot remove the control groups {:?}",
                self.cgroups()
            );
        }
    }
}

impl Drop for Systemd {
    fn drop(&mut self) {
        // SIGKILL to a PID namespace's init kills every process in the namespace.
        let _ = kill(self.init, Signal::SIGKILL);
        self.kill_all();
        if wait_child(&mut self.boot, WAIT).is_none() {
            let _ = self.boot.kill();
            let _ = self.boot.wait();
        }
        self.remove_cgroups();
    }
}

/// `dir` and every directory below it, parents before their children.
fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    if !dir.is_dir() {
        return;
    }
    out.push(dir.to_path_buf());
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_dirs(&entry.path(), out);
            }
        }
    }
}
