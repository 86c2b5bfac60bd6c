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

/// Marks every descriptor above stderr close-on-exec, so that no child
/// inherits one whatever its owner (libpcap, the resolver) forgot.
///
/// This runs in the daemon, which never execs, rather than in a `pre_exec`
/// hook: a hook forces `fork`, which copies the page tables (capture ring
/// included), where without one std uses `posix_spawn`, i.e. `vfork`. Only
/// start commands pay for a hook ([`die_with_daemon`]); stop commands keep
/// `posix_spawn`.
#[cfg(target_os = "linux")]
pub fn close_inherited_descriptors() {
    // SAFETY: a single system call on no memory of ours. Kernels before 5.11
    // fail with EINVAL or ENOSYS; the descriptors are then as safe as their
    // owners made them.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3 as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
}

/// Elsewhere descriptors rely on their owners' close-on-exec flags.
#[cfg(not(target_os = "linux"))]
pub fn close_inherited_descriptors() {}

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
