//! The socket between the opener and the watcher: an `AF_UNIX`
//! `SOCK_SEQPACKET` pair, so messages keep their boundaries, a descriptor
//! can travel with one (`SCM_RIGHTS`), and each side sees the other's death
//! at once (the socket hangs up).
//!
//! A message longer than one datagram goes in chunks of at most [`CHUNK`]
//! bytes; the first byte of each says whether more follow. Neither side
//! ever blocks on the other: sends queue and go out as the socket takes
//! them ([`Channel::flush`], polled for writing while any wait), and a
//! receiver takes what is there. Each side caps what it accepts: the
//! opener, messages of one datagram of at most
//! [`MAX_REQUEST`](knockd_core::privsep::MAX_REQUEST) bytes; the watcher,
//! what the opener may send it.

use std::collections::VecDeque;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::poll::PollFlags;
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
#[cfg(not(target_vendor = "apple"))]
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};

use crate::sys;

/// The most bytes of a message in one datagram.
pub const CHUNK: usize = 32 << 10;
/// First byte of a datagram: the message ends here.
const LAST: u8 = 0;
/// First byte of a datagram: more of the message follows.
const MORE: u8 = 1;
/// No SIGPIPE for a peer gone: the receiving side reports it.
#[cfg(not(target_vendor = "apple"))]
const SEND_FLAGS: MsgFlags = MsgFlags::MSG_NOSIGNAL;
/// macOS has no split ([`Channel::pair`]): the flags only type-check.
#[cfg(target_vendor = "apple")]
const SEND_FLAGS: MsgFlags = MsgFlags::empty();
/// Received descriptors are close-on-exec at once; never wait.
#[cfg(not(target_vendor = "apple"))]
const RECEIVE_FLAGS: MsgFlags = MsgFlags::MSG_CMSG_CLOEXEC.union(MsgFlags::MSG_DONTWAIT);
/// macOS has no split ([`Channel::pair`]): the flags only type-check.
#[cfg(target_vendor = "apple")]
const RECEIVE_FLAGS: MsgFlags = MsgFlags::MSG_DONTWAIT;
/// Most datagrams one [`Channel::receive`] reads: the loop has other work.
const DATAGRAMS_PER_CALL: usize = 256;

/// One end of the pair.
#[derive(Debug)]
pub struct Channel {
    socket: OwnedFd,
    /// The longest message this end accepts.
    limit: usize,
    /// Datagrams waiting for the socket, each with the descriptor it carries.
    outbox: VecDeque<(Vec<u8>, Option<OwnedFd>)>,
    /// The message being put together.
    partial: Partial,
}

/// What a [`Channel::receive`] brought.
#[derive(Debug, Default)]
pub struct Received {
    /// Whole messages, each with the descriptor that came with it.
    pub messages: Vec<(Vec<u8>, Option<OwnedFd>)>,
    /// Messages dropped for being longer than this end accepts.
    pub oversized: usize,
    /// The other end is gone.
    pub gone: bool,
}

impl Channel {
    /// A connected pair: the first end accepts messages of at most
    /// `first_limit` bytes, the second of at most `second_limit`.
    #[cfg(not(target_vendor = "apple"))]
    pub fn pair(first_limit: usize, second_limit: usize) -> io::Result<(Channel, Channel)> {
        let (a, b) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
        )?;
        let end = |socket, limit| Channel {
            socket,
            limit,
            outbox: VecDeque::new(),
            partial: Partial::Empty,
        };
        Ok((end(a, first_limit), end(b, second_limit)))
    }

    /// macOS has no `SOCK_SEQPACKET` for local sockets: no split there
    /// ([`super::AVAILABLE`]).
    #[cfg(target_vendor = "apple")]
    pub fn pair(_first_limit: usize, _second_limit: usize) -> io::Result<(Channel, Channel)> {
        Err(io::ErrorKind::Unsupported.into())
    }

    /// What to poll: readable always, writable while datagrams wait.
    pub fn poll_fd(&self) -> (BorrowedFd<'_>, PollFlags) {
        let mut events = PollFlags::POLLIN;
        if !self.outbox.is_empty() {
            events |= PollFlags::POLLOUT;
        }
        (self.socket.as_fd(), events)
    }

    /// Queues `message`, with `fd` riding on its first chunk, and sends what
    /// the socket takes now. A socket error other than a full buffer drops
    /// the queue: the other end is gone, which [`Channel::receive`] reports.
    pub fn send(&mut self, message: &[u8], fd: Option<BorrowedFd<'_>>) {
        let mut fd = fd.and_then(|fd| fd.try_clone_to_owned().ok());
        let mut chunks = message.chunks(CHUNK).peekable();
        if chunks.peek().is_none() {
            self.outbox.push_back((vec![LAST], fd.take()));
        }
        while let Some(chunk) = chunks.next() {
            let mut datagram = Vec::with_capacity(chunk.len() + 1);
            datagram.push(if chunks.peek().is_some() { MORE } else { LAST });
            datagram.extend_from_slice(chunk);
            self.outbox.push_back((datagram, fd.take()));
        }
        self.flush();
    }

    /// Sends queued datagrams until the socket's buffer is full.
    pub fn flush(&mut self) {
        while let Some((datagram, fd)) = self.outbox.front() {
            let raw = fd.as_ref().map(AsRawFd::as_raw_fd);
            let rights = raw.map(|fd| [fd]);
            let cmsgs: Vec<ControlMessage<'_>> = rights
                .as_ref()
                .map(|fds| ControlMessage::ScmRights(fds))
                .into_iter()
                .collect();
            let sent = sendmsg::<()>(
                self.socket.as_raw_fd(),
                &[IoSlice::new(datagram)],
                &cmsgs,
                SEND_FLAGS,
                None,
            );
            match sent {
                Ok(_) => {
                    self.outbox.pop_front();
                }
                Err(Errno::EAGAIN | Errno::EINTR) => return,
                Err(_) => {
                    self.outbox.clear();
                    return;
                }
            }
        }
    }

    /// Reads the datagrams waiting (at most [`DATAGRAMS_PER_CALL`]) and
    /// returns the whole messages among them.
    pub fn receive(&mut self) -> Received {
        let mut received = Received::default();
        // One byte more than a chunk, so that a longer datagram shows as truncated.
        let mut buffer = vec![0u8; (self.limit + 1).min(CHUNK) + 2];
        for _ in 0..DATAGRAMS_PER_CALL {
            let mut cmsg = nix::cmsg_space!([std::os::fd::RawFd; 4]);
            let mut iov = [IoSliceMut::new(&mut buffer)];
            let read = recvmsg::<()>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                RECEIVE_FLAGS,
            );
            let (bytes, truncated, fds) = match read {
                Ok(msg) => {
                    let mut fds = Vec::new();
                    for cmsg in msg.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(raw) = cmsg {
                            fds.extend(raw.into_iter().map(sys::rights::adopt_received));
                        }
                    }
                    (msg.bytes, msg.flags.contains(MsgFlags::MSG_TRUNC), fds)
                }
                Err(Errno::EAGAIN | Errno::EINTR) => break,
                Err(_) => {
                    received.gone = true;
                    break;
                }
            };
            if bytes == 0 && !truncated {
                // SOCK_SEQPACKET: a zero-length read is the peer's hang-up.
                received.gone = true;
                break;
            }
            let datagram = buffer.get(..bytes).unwrap_or_default();
            self.take_datagram(datagram, truncated, fds, &mut received);
        }
        received
    }

    /// Adds one datagram to the message being put together.
    fn take_datagram(
        &mut self,
        datagram: &[u8],
        truncated: bool,
        mut fds: Vec<OwnedFd>,
        received: &mut Received,
    ) {
        let (flag, payload) = datagram
            .split_first()
            .map_or((LAST, &[][..]), |(f, p)| (*f, p));
        let partial = std::mem::replace(&mut self.partial, Partial::Empty);
        let (mut message, fd) = match partial {
            Partial::Empty => (Vec::new(), None),
            Partial::Collecting(message, fd) => (message, fd),
            // The rest of an oversized message goes with it.
            Partial::Skipping => {
                if flag == MORE {
                    self.partial = Partial::Skipping;
                }
                return;
            }
        };
        // One descriptor per message; extra ones are closed (dropped) here.
        let fd = fd.or_else(|| (!fds.is_empty()).then(|| fds.swap_remove(0)));
        drop(fds);
        let too_long = message.len() + payload.len() > self.limit;
        if datagram.is_empty() || truncated || flag > MORE || too_long {
            received.oversized += 1;
            if flag == MORE {
                self.partial = Partial::Skipping;
            }
            return;
        }
        message.extend_from_slice(payload);
        if flag == MORE {
            self.partial = Partial::Collecting(message, fd);
        } else {
            received.messages.push((message, fd));
        }
    }
}

/// The message being put together from its chunks.
#[derive(Debug, Default)]
enum Partial {
    /// None: the next datagram starts a message.
    #[default]
    Empty,
    /// The chunks so far, and the descriptor the first brought.
    Collecting(Vec<u8>, Option<OwnedFd>),
    /// A message found too long: its remaining chunks are dropped.
    Skipping,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn pair() -> (Channel, Channel) {
        Channel::pair(100, 1 << 20).unwrap()
    }

    #[test]
    fn messages_keep_their_boundaries_and_their_order() {
        let (mut opener, mut watcher) = pair();
        watcher.send(b"one", None);
        watcher.send(b"", None);
        watcher.send(b"three", None);
        let received = opener.receive();
        let messages: Vec<_> = received
            .messages
            .iter()
            .map(|(m, _)| m.as_slice())
            .collect();
        assert_eq!(messages, [&b"one"[..], b"", b"three"]);
        assert!(!received.gone);
    }

    #[test]
    fn a_long_message_goes_in_chunks_and_arrives_whole() {
        let (mut opener, mut watcher) = pair();
        let long: Vec<u8> = (0..(3 * CHUNK + 17)).map(|i| i as u8).collect();
        opener.send(&long, None);
        let mut got = Vec::new();
        for _ in 0..100 {
            opener.flush();
            got.extend(watcher.receive().messages);
            if !got.is_empty() {
                break;
            }
        }
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].0, long);
    }

    #[test]
    fn a_message_over_the_limit_is_dropped_and_counted() {
        let (mut opener, mut watcher) = pair();
        watcher.send(&[7; 101], None);
        watcher.send(&[7; 100], None);
        let received = opener.receive();
        assert_eq!(received.oversized, 1);
        assert_eq!(received.messages.len(), 1);
        assert_eq!(received.messages[0].0.len(), 100);
    }

    #[test]
    fn a_descriptor_rides_with_its_message() {
        let (mut opener, mut watcher) = pair();
        let dir = tempfile::tempdir().unwrap();
        let file = std::fs::File::create(dir.path().join("log")).unwrap();
        opener.send(b"log", Some(file.as_fd()));
        let mut received = watcher.receive();
        let (message, fd) = received.messages.pop().unwrap();
        assert_eq!(message, b"log");
        let mut handed = std::fs::File::from(fd.unwrap());
        handed.write_all(b"line\n").unwrap();
        assert_eq!(std::fs::read(dir.path().join("log")).unwrap(), b"line\n");
    }

    #[test]
    fn the_other_end_closing_is_seen() {
        let (mut opener, watcher) = pair();
        drop(watcher);
        assert!(opener.receive().gone);
    }
}
