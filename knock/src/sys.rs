#![allow(unsafe_code)]
//! The one place where `knock` calls into libc directly: everything else in
//! the crate denies `unsafe_code` (the workspace lints) and calls the safe
//! functions here.

use std::ffi::{CStr, CString};
use std::sync::{Mutex, PoisonError};

/// The port the services database gives `name` for `protocol` (`c"tcp"` or
/// `c"udp"`), as 0.8's getaddrinfo call found it; `None` for a name it does
/// not know, one with a NUL byte, or one whose port is 0.
pub fn service_port(name: &str, protocol: &CStr) -> Option<u16> {
    // getservbyname answers in static storage shared by all threads.
    static LOOKUP: Mutex<()> = Mutex::new(());

    let c_name = CString::new(name).ok()?;
    let _guard = LOOKUP.lock().unwrap_or_else(PoisonError::into_inner);
    // SAFETY: both arguments are NUL-terminated strings that outlive the call;
    // a non-null result points to a servent that stays valid until the next
    // lookup, which the lock holds off until we have copied the port.
    let port = unsafe {
        let entry = libc::getservbyname(c_name.as_ptr(), protocol.as_ptr());
        if entry.is_null() {
            return None;
        }
        (*entry).s_port
    };
    // s_port carries the port in network byte order in its low 16 bits.
    let port = u16::from_be(port as u16);
    (port != 0).then_some(port)
}

/// The name of the network interface with this index (an IPv6 zone's scope
/// id), as `if_indextoname` gives it; `None` for an index no interface has.
pub fn interface_name(index: u32) -> Option<String> {
    let mut name = [0u8; libc::IF_NAMESIZE];
    // SAFETY: the buffer holds IF_NAMESIZE bytes, the most if_indextoname
    // writes (the name and its NUL); the result is only tested for null.
    let found = unsafe { libc::if_indextoname(index, name.as_mut_ptr().cast()) };
    if found.is_null() {
        return None;
    }
    let name = CStr::from_bytes_until_nul(&name).ok()?;
    Some(name.to_string_lossy().into_owned())
}

/// The effective uid of this process: the user a secret file must belong to
/// (or root).
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid takes no arguments, touches no memory of ours and
    // cannot fail (POSIX).
    unsafe { libc::geteuid() }
}
