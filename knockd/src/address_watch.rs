//! Tells the loop when the host's addresses may have changed, so that the
//! knocks to an address added by DHCP, SLAAC or an admin after start count
//! (0.8 read the list once).
//!
//! A kernel event socket joins the poll loop: rtnetlink subscribed to IPv4
//! and IPv6 address events on Linux ([`netlink`]), the routing socket
//! (`PF_ROUTE`) on FreeBSD, OpenBSD, NetBSD and macOS ([`route`]). Its
//! messages are drained, and when one says an address or interface changed,
//! the addresses are read again. Other systems read them again every 5
//! seconds.

use std::io;
use std::os::fd::BorrowedFd;
#[cfg(not(event_socket))]
use std::time::Duration;
use std::time::Instant;

#[cfg(target_os = "linux")]
mod netlink;
#[cfg(target_os = "linux")]
use netlink as events;
#[cfg(all(event_socket, not(target_os = "linux")))]
mod route;
#[cfg(all(event_socket, not(target_os = "linux")))]
use route as events;

/// How often the addresses are read again where there is no event socket.
#[cfg(not(event_socket))]
pub const REREAD_EVERY: Duration = Duration::from_secs(5);

/// The source of "addresses may have changed" wake-ups.
#[derive(Debug)]
pub struct AddressWatch {
    #[cfg(event_socket)]
    socket: std::os::fd::OwnedFd,
    #[cfg(not(event_socket))]
    next: Instant,
}

#[cfg(event_socket)]
impl AddressWatch {
    /// Subscribes to the kernel's address events.
    pub fn open() -> io::Result<Self> {
        Ok(AddressWatch {
            socket: events::open()?,
        })
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
    /// changed (an event said so, or so many came that the kernel dropped
    /// some).
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
                Ok(n) => changed |= events::is_change(&buffer[..n]),
                Err(Errno::ENOBUFS) => changed = true,
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        changed
    }
}

#[cfg(not(event_socket))]
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

#[cfg(all(test, event_socket))]
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
