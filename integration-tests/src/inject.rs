//! Sends raw Ethernet frames out of an interface inside a named network namespace.
//!
//! Network namespaces are per thread, so a short-lived thread joins the
//! namespace, opens an `AF_PACKET` socket there and writes the frames; the
//! test thread itself never changes namespace.

#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::thread;

use nix::sched::{setns, CloneFlags};

/// Sends `frames` in order on `iface` of the network namespace `netns` (a name under /run/netns).
pub fn send_frames(netns: &str, iface: &str, frames: &[Vec<u8>]) -> io::Result<()> {
    let ns_path = Path::new("/run/netns").join(netns);
    thread::scope(|scope| {
        scope
            .spawn(|| {
                let ns = File::open(&ns_path)?;
                setns(&ns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                let socket = PacketSocket::open(iface)?;
                frames.iter().try_for_each(|frame| socket.send(frame))
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("frame sender thread panicked")))
    })
}

/// An `AF_PACKET`/`SOCK_RAW` socket that transmits complete frames on one interface.
struct PacketSocket {
    fd: OwnedFd,
    address: libc::sockaddr_ll,
}

impl PacketSocket {
    fn open(iface: &str) -> io::Result<PacketSocket> {
        let index = nix::net::if_::if_nametoindex(iface).map_err(io::Error::from)?;
        // SAFETY: plain socket(2) call; the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a freshly created descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: sockaddr_ll is plain old data; all-zero is a valid value.
        let mut address: libc::sockaddr_ll = unsafe { mem::zeroed() };
        address.sll_family = libc::AF_PACKET as u16;
        address.sll_ifindex = i32::try_from(index).map_err(io::Error::other)?;
        Ok(PacketSocket { fd, address })
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the buffer and the address are valid for the given lengths during the call.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&self.address as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        match usize::try_from(sent) {
            Ok(n) if n == frame.len() => Ok(()),
            Ok(n) => Err(io::Error::other(format!(
                "short send: {n} of {} bytes",
                frame.len()
            ))),
            Err(_) => Err(io::Error::last_os_error()),
        }
    }
}
