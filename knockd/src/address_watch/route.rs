//! FreeBSD, OpenBSD, NetBSD and macOS: the routing socket (`PF_ROUTE`),
//! which gets every routing message of every address family. Those that
//! say an address or interface changed are told from route changes by
//! [`knockd_core::route_message`], with this system's [`LAYOUT`].

use std::io;
use std::os::fd::OwnedFd;

use knockd_core::route_message::Layout;
use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};

/// This system's routing messages.
#[cfg(target_os = "freebsd")]
const LAYOUT: Layout = knockd_core::route_message::FREEBSD;
#[cfg(target_os = "freebsd")]
const _: () = assert!(LAYOUT.is(
    libc::RTM_VERSION,
    &[
        libc::RTM_NEWADDR,
        libc::RTM_DELADDR,
        libc::RTM_IFINFO,
        libc::RTM_IFANNOUNCE
    ]
));

/// This system's routing messages.
#[cfg(target_os = "openbsd")]
const LAYOUT: Layout = knockd_core::route_message::OPENBSD;
#[cfg(target_os = "openbsd")]
const _: () = assert!(LAYOUT.is(
    libc::RTM_VERSION,
    &[
        libc::RTM_NEWADDR,
        libc::RTM_DELADDR,
        libc::RTM_IFINFO,
        libc::RTM_IFANNOUNCE,
        libc::RTM_DESYNC
    ]
));

/// This system's routing messages.
#[cfg(target_os = "netbsd")]
const LAYOUT: Layout = knockd_core::route_message::NETBSD;
#[cfg(target_os = "netbsd")]
const _: () = assert!(LAYOUT.is(
    libc::RTM_VERSION,
    &[
        libc::RTM_NEWADDR,
        libc::RTM_DELADDR,
        libc::RTM_IFINFO,
        libc::RTM_IFANNOUNCE
    ]
));

/// This system's routing messages.
#[cfg(target_os = "macos")]
const LAYOUT: Layout = knockd_core::route_message::MACOS;
#[cfg(target_os = "macos")]
const _: () = assert!(LAYOUT.is(
    libc::RTM_VERSION,
    &[libc::RTM_NEWADDR, libc::RTM_DELADDR, libc::RTM_IFINFO]
));

/// Opens a routing socket for every address family, close-on-exec (set
/// after the fact: macOS has no `SOCK_CLOEXEC`; knockd forks no child
/// meanwhile). It is read with `MSG_DONTWAIT`, so it may stay blocking.
pub fn open() -> io::Result<OwnedFd> {
    // Protocol 0, AF_UNSPEC: the messages of every address family.
    let socket = socket(AddressFamily::Route, SockType::Raw, SockFlag::empty(), None)?;
    fcntl(&socket, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))?;
    Ok(socket)
}

/// Whether one read says the addresses may have changed.
pub fn is_change(read: &[u8]) -> bool {
    LAYOUT.addresses_changed(read)
}
