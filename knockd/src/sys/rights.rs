//! Descriptors received with `SCM_RIGHTS`: the privilege split's watcher
//! gets its new log file from the opener this way.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Takes ownership of `fd`, a descriptor `recvmsg` just received in an
/// `SCM_RIGHTS` control message.
///
/// The caller must pass each received descriptor exactly once, straight
/// from the control message, so that it is closed exactly once.
pub fn adopt_received(fd: RawFd) -> OwnedFd {
    // SAFETY: the kernel installed `fd` in this process's table for this
    // recvmsg call alone (SCM_RIGHTS); nothing else holds or closes it, and
    // the caller hands each one here once, so the OwnedFd is its only owner.
    unsafe { OwnedFd::from_raw_fd(fd) }
}
