//! The netfilter netlink socket that `Nft_Set` doors talk to the kernel
//! through: one request out, its answers in, with a bounded wait. The
//! bytes are built and read by `knockd_core::nft`; nix wraps every call
//! here, so this module needs no `unsafe`.

use std::io;

use knockd_core::nft::attrs::ParseError;
use knockd_core::nft::request::Request;

/// What went wrong with one request.
#[derive(Debug)]
pub enum NetlinkError {
    /// The socket failed, or the kernel did not answer in time.
    Io(io::Error),
    /// The kernel refused the request's message `index` (0: the first
    /// change of a batch, or the request itself) with this `errno`.
    Kernel {
        /// The error number.
        errno: i32,
        /// Which message it answers.
        index: u32,
    },
    /// The kernel's answer could not be read. (Only a socket reads
    /// answers, and there is none where there is no nftables.)
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    Parse(ParseError),
}

impl std::fmt::Display for NetlinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetlinkError::Io(e) => write!(f, "netlink: {}", knock_proto::io_message(e)),
            NetlinkError::Kernel { errno, .. } => {
                let e = io::Error::from_raw_os_error(*errno);
                let hint = match *errno {
                    libc::EPERM => " (knockd needs CAP_NET_ADMIN: run it as root)",
                    _ => "",
                };
                write!(f, "nftables: {}{hint}", knock_proto::io_message(&e))
            }
            NetlinkError::Parse(e) => write!(f, "netlink: {e}"),
        }
    }
}

#[cfg(target_os = "linux")]
pub use linux::Netlink;

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::time::Duration;

    use knockd_core::nft::reply::{Replies, Reply};
    use nix::sys::socket::{
        connect, recv, send, setsockopt, socket, sockopt, AddressFamily, MsgFlags, NetlinkAddr,
        SockFlag, SockProtocol, SockType,
    };
    use nix::sys::time::TimeVal;

    use super::*;

    /// How long one `recv` waits for the kernel, which answers netlink
    /// requests at once: a lost answer costs the opener at most this.
    const ANSWER_WAIT: Duration = Duration::from_secs(2);
    /// Most `recv`s one request reads: a dump of a set of 100,000 elements
    /// fits many times over.
    const MAX_READS: usize = 100_000;

    /// A `NETLINK_NETFILTER` socket connected to the kernel.
    #[derive(Debug)]
    pub struct Netlink {
        fd: OwnedFd,
        seq: u32,
        buf: Vec<u8>,
    }

    impl Netlink {
        /// Opens the socket (which needs no privilege; the requests that
        /// change the ruleset need `CAP_NET_ADMIN`).
        pub fn open() -> io::Result<Netlink> {
            let fd = socket(
                AddressFamily::Netlink,
                SockType::Raw,
                SockFlag::SOCK_CLOEXEC,
                SockProtocol::NetlinkNetFilter,
            )?;
            connect(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
            let wait = TimeVal::new(ANSWER_WAIT.as_secs() as _, 0);
            setsockopt(&fd, sockopt::ReceiveTimeout, &wait)?;
            let seq = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs() as u32);
            Ok(Netlink {
                fd,
                seq,
                buf: vec![0; 1 << 17],
            })
        }

        /// The sequence number for the next request, which numbers its
        /// messages from it on.
        pub fn next_seq(&mut self, messages: u32) -> u32 {
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(messages.max(1)).wrapping_add(1);
            seq
        }

        /// Sends `request` and reads its answers, handing each data
        /// message (command, attributes) to `data`, until every message
        /// has been acknowledged, a dump has ended, or the kernel refused
        /// one message (which, in a batch, undoes the whole batch).
        /// Answers to earlier requests, left unread after an error, are
        /// skipped by their sequence numbers.
        pub fn transact(
            &mut self,
            request: &Request,
            mut data: impl FnMut(u16, &[u8]) -> Result<(), ParseError>,
        ) -> Result<(), NetlinkError> {
            send(self.fd.as_raw_fd(), &request.bytes, MsgFlags::empty())
                .map_err(|e| NetlinkError::Io(e.into()))?;
            // A batch's begin message (one before the first change) is
            // answered only when it fails, as without CAP_NET_ADMIN.
            let before = request.first_seq.wrapping_sub(1);
            let ours = |seq: u32| seq.wrapping_sub(before) <= request.acks.saturating_add(1);
            let mut acked = 0;
            for _ in 0..MAX_READS {
                let len = recv(self.fd.as_raw_fd(), &mut self.buf, MsgFlags::empty())
                    .map_err(|e| NetlinkError::Io(e.into()))?;
                for reply in Replies::new(self.buf.get(..len).unwrap_or_default()) {
                    match reply.map_err(NetlinkError::Parse)? {
                        Reply::Ack { seq } if ours(seq) => acked += 1,
                        Reply::Error { seq, errno } if ours(seq) => {
                            let index = seq.wrapping_sub(request.first_seq).min(request.acks);
                            return Err(NetlinkError::Kernel { errno, index });
                        }
                        Reply::Done { seq } if ours(seq) => return Ok(()),
                        Reply::Data {
                            command,
                            seq,
                            attrs,
                        } if ours(seq) => data(command, attrs).map_err(NetlinkError::Parse)?,
                        _ => {}
                    }
                }
                if request.acks > 0 && acked >= request.acks {
                    return Ok(());
                }
            }
            Err(NetlinkError::Io(io::Error::other(
                "the kernel's answer did not end",
            )))
        }
    }
}

/// Where there is no nftables, no socket can be opened, so none exists.
#[cfg(not(target_os = "linux"))]
#[derive(Debug)]
pub enum Netlink {}

#[cfg(not(target_os = "linux"))]
impl Netlink {
    /// Always fails: this system has no nftables.
    pub fn open() -> io::Result<Netlink> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "nftables exists on Linux only",
        ))
    }

    /// Never called: no `Netlink` exists.
    pub fn next_seq(&mut self, _messages: u32) -> u32 {
        match *self {}
    }

    /// Never called: no `Netlink` exists.
    pub fn transact(
        &mut self,
        _request: &Request,
        _data: impl FnMut(u16, &[u8]) -> Result<(), ParseError>,
    ) -> Result<(), NetlinkError> {
        match *self {}
    }
}
