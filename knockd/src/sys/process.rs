//! Processes: the daemon's fork into the background, and the descriptors
//! its command children must not inherit.

use std::io;

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
/// included) on every knock, where without one std uses `posix_spawn`, i.e.
/// `vfork`.
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
