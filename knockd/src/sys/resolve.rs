//! Reverse DNS: the one libc call std has no safe form of.

use std::ffi::CStr;
use std::net::{IpAddr, SocketAddr};

/// `getnameinfo` with `NI_NAMEREQD`: `addr`'s name, or `None` when it has
/// none or the lookup fails. It blocks for as long as the lookup takes.
pub fn name_of(addr: IpAddr) -> Option<String> {
    let sock: socket2::SockAddr = SocketAddr::new(addr, 0).into();
    let mut host = [0 as libc::c_char; 1025];
    // socklen_t on Linux, NetBSD and macOS, size_t on FreeBSD and OpenBSD;
    // 1025 fits either.
    let host_len = host.len() as _;
    // SAFETY: the address pointer and length come from a valid SockAddr, and
    // the host buffer's length is passed with it; no service is requested.
    let rc = unsafe {
        libc::getnameinfo(
            sock.as_ptr().cast(),
            sock.len(),
            host.as_mut_ptr(),
            host_len,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo NUL-terminates the host buffer on success.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}
