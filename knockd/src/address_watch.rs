//! Tells the loop when the host's addresses may have changed, so that the
//! knocks to an address added by DHCP, SLAAC or an admin after start count
//! (0.8 read the list once).
//!
//! On Linux an rtnetlink socket subscribed to IPv4 and IPv6 address events
//! joins the poll loop; the messages are not parsed, only drained, and the
//! addresses are read again. Elsewhere they are read again every 5 seconds.

use std::io;
use std::os::fd::BorrowedFd;
#[cfg(not(target_os = "linux"))]
use std::time::Duration;
use std::time::Instant;

/// How often the addresses are read again where there is no rtnetlink.
#[cfg(not(target_os = "linux"))]
pub const REREAD_EVERY: Duration = Duration::from_secs(5);

/// The source of "addresses may have changed" wake-ups.
#[derive(Debug)]
pub struct AddressWatch {
    #[cfg(target_os = "linux")]
    socket: std::os::fd::OwnedFd,
    #[cfg(not(target_os = "linux"))]
    next: Instant,
}

#[cfg(target_os = "linux")]
impl AddressWatch {
    /// Subscribes to the kernel's address events.
    pub fn open() -> io::Result<Self> {
        use nix::sys::socket::{
            bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType,
        };
        let groups = (libc::RTMGRP_IPV4_IFADDR | libc::RTMGRP_IPV6_IFADDR) as u32;
        let socket = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )?;
        bind(
            std::os::fd::AsRawFd::as_raw_fd(&socket),
            &NetlinkAddr::new(0, groups),
        )?;
        Ok(AddressWatch { socket })
    }

    /// The descriptor to poll.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        Some(self.socket.as_fd())
    }

    /// When to read the addresses again without an event: never.
    pub fn deadline(&self) -> Option<Instant> {
        None
    }

    /// Drains the pending events; says whether the addresses may have
    /// changed (an event came, or so many that the kernel dropped some).
    pub fn take(&mut self, _now: Instant) -> bool {
        use nix::errno::Errno;
        use nix::sys::socket::{recv, MsgFlags};
        use std::os::fd::AsRawFd;
        let mut buffer = [0u8; 8192];
        let mut changed = false;
        // Bounded: a burst is drained over several wake-ups at worst.
        for _ in 0..64 {
            match recv(self.socket.as_raw_fd(), &mut buffer, MsgFlags::MSG_DONTWAIT) {
                Ok(0) | Err(Errno::EAGAIN) => break,
                Ok(_) | Err(Errno::ENOBUFS) => changed = true,
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        changed
    }
}

#[cfg(not(target_os = "linux"))]
impl AddressWatch {
    /// A timer: there is no address event socket here.
    pub fn open() -> io::Result<Self> {
        Ok(AddressWatch {
            next: Instant::now() + REREAD_EVERY,
        })
    }

    /// Nothing to poll.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        None
    }

    /// When to read the addresses again.
    pub fn deadline(&self) -> Option<Instant> {
        Some(self.next)
    }

    /// Whether it is time to read the addresses again.
    pub fn take(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + REREAD_EVERY;
        true
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn opens_without_privileges_and_is_quiet_when_nothing_changed() {
        let mut watch = AddressWatch::open().unwrap();
        assert!(watch.fd().is_some());
        assert_eq!(watch.deadline(), None);
        assert!(!watch.take(Instant::now()));
    }
}
