//! What /proc tells about a running server: its executable, memory, children and descriptors.

use std::fs;
use std::path::PathBuf;

use nix::unistd::Pid;

/// The executable `pid` runs (`ip netns exec` execs the server, so this is the server's binary).
pub fn executable(pid: Pid) -> PathBuf {
    fs::read_link(format!("/proc/{pid}/exe"))
        .unwrap_or_else(|e| panic!("cannot read the executable of {pid}: {e}"))
}

/// The resident set size of `pid` in KiB (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_kib(pid: Pid) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("cannot read the status of {pid}: {e}"));
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for {pid} in:\n{status}"))
}

/// The direct children of `pid`, over all its threads; empty once it is gone.
pub fn children(pid: Pid) -> Vec<Pid> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|task| fs::read_to_string(task.path().join("children")).ok())
        .flat_map(|list| {
            list.split_whitespace()
                .filter_map(|child| child.parse().ok())
                .map(Pid::from_raw)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The children of knockd `pid` that run commands: all but its watcher
/// process (knockd(8), PRIVILEGE SEPARATION), which runs knockd's own
/// program. A command between its fork and its exec runs that program for
/// an instant too, and is left out then.
pub fn command_children(pid: Pid) -> Vec<Pid> {
    let knockd = executable(pid);
    children(pid)
        .into_iter()
        .filter(|&child| program_of(child).as_ref() != Some(&knockd))
        .collect()
}

/// The watcher process of knockd `pid`: its child that runs knockd's own
/// program; `None` without one (`--no-privsep`).
pub fn watcher(pid: Pid) -> Option<Pid> {
    let knockd = executable(pid);
    children(pid)
        .into_iter()
        .find(|&child| program_of(child).as_ref() == Some(&knockd))
}

/// The program `pid` runs, unless it has exited meanwhile.
fn program_of(pid: Pid) -> Option<PathBuf> {
    fs::read_link(format!("/proc/{pid}/exe")).ok()
}

/// How many descriptors `pid` has open.
pub fn open_fds(pid: Pid) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("cannot list the descriptors of {pid}: {e}"))
        .count()
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;

    #[test]
    fn sees_this_process_and_a_child() {
        let me = Pid::this();
        assert_eq!(executable(me), std::env::current_exe().unwrap());
        assert!(rss_kib(me) > 0);
        assert!(open_fds(me) >= 3);
        let mut child = Command::new("sleep").arg("5").spawn().unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let seen = children(me).contains(&pid);
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(seen);
        assert!(children(Pid::from_raw(i32::MAX)).is_empty());
    }
}
