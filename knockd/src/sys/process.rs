//! Processes: the daemon's fork into the background, the descriptors its
//! command children must not inherit, and the start commands that must not
//! outlive it.

use std::io;
use std::process::Command;

use nix::unistd::{fork, ForkResult};

/// Forks, and the launching process exits 0 at once: only the child returns,
/// as the first half of `daemon(0, 0)`.
///
/// Contract: call it while the process has a single thread (knockd calls it
/// at start, before the resolver, control or any other thread exists). A
/// thread started before would not exist in the child, and a lock it held
/// would stay held there forever.
pub fn fork_to_background() -> io::Result<()> {
    // SAFETY: the contract above: the process is single-threaded, so the
    // child is a complete copy of it, and no lock is held by a thread that
    // the child lacks.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { .. } => std::process::exit(0),
        ForkResult::Child => Ok(()),
    }
}

/// Forks the privilege split's watcher: `None` in the child, the child's
/// pid in the parent.
///
/// Contract: as [`fork_to_background`], the process has a single thread.
pub fn fork_watcher() -> io::Result<Option<nix::unistd::Pid>> {
    // SAFETY: the contract above: the process is single-threaded, so the
    // child is a complete copy of it, and no lock is held by a thread that
    // the child lacks.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { child } => Ok(Some(child)),
        ForkResult::Child => Ok(None),
    }
}

/// In the privilege split's watcher: SIGHUP, SIGINT, SIGTERM and SIGUSR1
/// are the opener's (a Ctrl-C reaches the whole process group; systemd
/// may signal every process of the unit), so the watcher ignores them, and
/// SIGCHLD gets its default action back (the handler inherited from the
/// opener would write to the opener's wake-up pipe).
pub fn leave_signals_to_parent() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    for (sig, handler) in [
        (Signal::SIGHUP, SigHandler::SigIgn),
        (Signal::SIGINT, SigHandler::SigIgn),
        (Signal::SIGTERM, SigHandler::SigIgn),
        (Signal::SIGUSR1, SigHandler::SigIgn),
        (Signal::SIGCHLD, SigHandler::SigDfl),
    ] {
        // SAFETY: SIG_IGN and SIG_DFL install no handler code, so no
        // function of ours runs in signal context; `signal` fails only for
        // an invalid signal, and these are valid.
        let _ = unsafe { signal(sig, handler) };
    }
}

/// Marks every descriptor above stderr close-on-exec, so that no child
/// inherits one whatever its owner (libpcap, the resolver) forgot.
///
/// This runs in the daemon, which never execs, rather than in a `pre_exec`
/// hook: a hook forces `fork`, which copies the page tables (capture ring
/// included), where without one std uses `posix_spawn`, i.e. `vfork`. Only
/// start commands pay for a hook ([`die_with_daemon`]); stop commands keep
/// `posix_spawn`. For the same reason it marks and does not close:
/// `closefrom(2)` (FreeBSD, OpenBSD, NetBSD) would close the daemon's own
/// capture, sockets and ledger.
///
/// One system call where there is one (`close_range` with
/// `CLOSE_RANGE_CLOEXEC`: Linux 5.11, FreeBSD 13.1), else one `fcntl` per
/// descriptor that may be open ([`mark_each_close_on_exec`]).
pub fn close_inherited_descriptors() {
    if !mark_all_close_on_exec() {
        mark_each_close_on_exec();
    }
}

/// Linux's `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`; whether it worked
/// (kernels before 5.11 fail with EINVAL or ENOSYS).
#[cfg(target_os = "linux")]
fn mark_all_close_on_exec() -> bool {
    // SAFETY: a single system call on no memory of ours.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    rc == 0
}

/// FreeBSD's `close_range(3, ~0, CLOSE_RANGE_CLOEXEC)`; whether it worked
/// (FreeBSD 13.0 has no `CLOSE_RANGE_CLOEXEC` and fails with EINVAL).
#[cfg(target_os = "freebsd")]
fn mark_all_close_on_exec() -> bool {
    // SAFETY: a single system call on no memory of ours.
    let rc = unsafe { libc::close_range(3, libc::c_uint::MAX, libc::CLOSE_RANGE_CLOEXEC as _) };
    rc == 0
}

/// No system call marks a range here (OpenBSD, NetBSD, macOS, ...).
#[cfg(not(any(target_os = "linux", target_os = "freebsd")))]
fn mark_all_close_on_exec() -> bool {
    false
}

/// The most descriptors [`mark_each_close_on_exec`] looks at: a limit of
/// open files in the millions would cost as many system calls per command.
const SCAN_AT_MOST: libc::c_int = 65_536;

/// Sets `FD_CLOEXEC` on each open descriptor from 3 up to the soft limit of
/// open files (at most [`SCAN_AT_MOST`]); descriptors are allocated lowest
/// first, so only one inherited above that stays as its owner made it.
fn mark_each_close_on_exec() {
    use nix::sys::resource::{getrlimit, Resource};
    let limit = getrlimit(Resource::RLIMIT_NOFILE).map_or(1024, |(soft, _)| soft);
    // rlim_t is unsigned on Linux and macOS, signed on the BSDs.
    let end = libc::c_int::try_from(limit).map_or(SCAN_AT_MOST, |l| l.min(SCAN_AT_MOST));
    for fd in 3..end {
        // SAFETY: F_GETFD and F_SETFD read and set one descriptor's flags and
        // touch no memory; on a descriptor that is not open they fail with
        // EBADF and change nothing.
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
                libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
            }
        }
    }
}

/// Makes the command SIGKILLed when the daemon dies (Linux: the
/// `PR_SET_PDEATHSIG` of the child that execs it), so that a start command
/// of a knockd killed with SIGKILL cannot complete after the next knockd ran
/// its stop command from the ledger. If the daemon is gone already when the
/// child gets there (the signal would then never come), the child does not
/// exec and the spawn fails.
///
/// Contract: the command is spawned from the thread that lives as long as
/// the daemon (knockd's main thread): the kernel sends the signal when the
/// thread that forked the child exits, not the process.
#[cfg(target_os = "linux")]
pub fn die_with_daemon(command: &mut Command) {
    use std::os::unix::process::CommandExt;
    // Taken before the fork: in the child, getpid() is the child's own.
    let daemon = std::process::id();
    let hook = move || {
        // SAFETY: prctl and getppid are async-signal-safe system calls on no
        // memory of ours, as a hook between fork and exec requires, and
        // neither the success path nor an `io::Error` from an errno allocates.
        unsafe {
            let signal = libc::SIGKILL as libc::c_ulong;
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal, 0, 0, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            // Reparented already: the daemon died before the prctl.
            if libc::getppid() as u32 != daemon {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child, where only async-signal-safe
    // calls are allowed: it makes two system calls and touches no lock or
    // allocator (see above).
    unsafe {
        command.pre_exec(hook);
    }
}

/// Elsewhere no system call ties a child's life to its parent's: a start
/// command of a knockd killed with SIGKILL runs on (knockd(8) says so).
#[cfg(not(target_os = "linux"))]
pub fn die_with_daemon(_command: &mut Command) {}

#[cfg(test)]
mod tests {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};

    use super::*;

    fn close_on_exec(fd: &std::os::fd::OwnedFd) -> bool {
        let flags = fcntl(fd, FcntlArg::F_GETFD).unwrap();
        FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC)
    }

    #[test]
    fn both_ways_mark_a_descriptor_a_child_would_inherit() {
        let file = std::fs::File::open("/dev/null").unwrap();
        // dup(2) leaves FD_CLOEXEC clear: a child would inherit this one.
        let first = nix::unistd::dup(&file).unwrap();
        assert!(!close_on_exec(&first));
        mark_each_close_on_exec();
        assert!(close_on_exec(&first));

        let second = nix::unistd::dup(&file).unwrap();
        assert!(!close_on_exec(&second));
        close_inherited_descriptors();
        assert!(close_on_exec(&second));
    }
}
