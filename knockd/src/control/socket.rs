//! The daemon's end of the control socket: a Unix stream socket served from
//! the poll loop without ever blocking it.
//!
//! Bounds: at most [`MAX_CLIENTS`] connections at once (a new one pushes out
//! the oldest that has not sent its request yet, telling it knockd is busy),
//! a request line of at most [`MAX_REQUEST`] bytes, and [`CLIENT_DEADLINE`]
//! from connecting to the request; a client that is slower, or sends
//! nothing, is dropped. A reply that is being taken is not cut at that
//! deadline: its client is dropped only once it has taken nothing for
//! [`REPLY_IDLE`], or [`REPLY_LIMIT`] after connecting. (A reply is framed
//! by its length, so a client dropped mid-reply knows it is incomplete.)
//!
//! The socket file is created mode 0600 (owned by the daemon's user). A
//! socket file nobody listens on (a knockd that died) is replaced; one a
//! live process listens on is left alone and named in the error. At exit
//! the file is removed if it is still the one this knockd created.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use knock_proto::io_message;
use nix::poll::PollFlags;
use nix::sys::stat::{umask, Mode};

use super::protocol::{Request, MAX_REQUEST};

/// Most clients connected at once.
pub const MAX_CLIENTS: usize = 8;
/// How long a client has, from connecting, to send its request.
pub const CLIENT_DEADLINE: Duration = Duration::from_secs(2);
/// How long a client taking its reply may take nothing before it is dropped.
pub const REPLY_IDLE: Duration = Duration::from_secs(10);
/// How long a client may stay, from connecting, however steadily it reads.
pub const REPLY_LIMIT: Duration = Duration::from_secs(60);
/// What a client pushed out by newer ones is told (if its socket takes it).
const BUSY: &[u8] = b"error: knockd is busy: too many clients at once; try again\n";
/// Most connections accepted per wake-up: a flood of connects cannot hold the loop.
const ACCEPTS_PER_WAKEUP: usize = 64;

/// Why the control socket could not be set up.
#[derive(Debug)]
pub enum SocketError {
    /// A live process listens on the socket already.
    InUse {
        /// The socket.
        path: PathBuf,
        /// That process, when the kernel says.
        pid: Option<i32>,
    },
    /// Something other than a socket is at the path: never removed.
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The socket could not be created (missing directory, no permission).
    Io {
        /// The socket.
        path: PathBuf,
        /// What failed.
        error: io::Error,
    },
}

impl fmt::Display for SocketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SocketError::InUse { path, pid } => {
                write!(f, "control socket {} is in use", path.display())?;
                match pid {
                    Some(pid) => write!(f, " by process {pid} (another knockd?)")?,
                    None => f.write_str(" by another process (another knockd?)")?,
                }
                f.write_str("; give this knockd its own with --control-socket or ControlSocket")
            }
            SocketError::NotASocket { path } => write!(
                f,
                "control socket {}: something other than a socket is there; not removed",
                path.display()
            ),
            SocketError::Io { path, error } => {
                write!(
                    f,
                    "control socket {}: {}",
                    path.display(),
                    io_message(error)
                )
            }
        }
    }
}

/// Identifies a client between [`ControlSocket::serve`] and [`ControlSocket::reply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientId(u64);

/// One connection.
#[derive(Debug)]
struct Client {
    id: ClientId,
    stream: UnixStream,
    /// The request read so far.
    input: Vec<u8>,
    /// Whether its request is complete (it is being answered).
    requested: bool,
    /// The reply, once there is one, and how much of it is written.
    output: Option<(Vec<u8>, usize)>,
    /// When it connected: [`REPLY_LIMIT`] counts from here.
    connected: Instant,
    /// When it is dropped unless it makes progress.
    deadline: Instant,
}

/// The listening socket and its clients.
#[derive(Debug)]
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket file created, to remove only that
    /// one; `None` when another process removes it.
    identity: Option<(u64, u64)>,
    clients: Vec<Client>,
    next_id: u64,
}

impl ControlSocket {
    /// Creates the socket at `path` (mode 0600), replacing a stale one.
    pub fn open(path: &Path) -> Result<ControlSocket, SocketError> {
        let io_error = |error| SocketError::Io {
            path: path.to_owned(),
            error,
        };
        let listener = match bind(path) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                replace_stale(path)?;
                bind(path).map_err(io_error)?
            }
            bound => bound.map_err(io_error)?,
        };
        listener.set_nonblocking(true).map_err(io_error)?;
        let metadata = fs::symlink_metadata(path).map_err(io_error)?;
        Ok(ControlSocket {
            listener,
            path: path.to_owned(),
            identity: Some((metadata.dev(), metadata.ino())),
            clients: Vec::new(),
            next_id: 0,
        })
    }

    /// Leaves the socket file to another process to remove: the privilege
    /// split's watcher serves the socket, its parent removes the file.
    pub fn leave_file_to_other_process(&mut self) {
        self.identity = None;
    }

    /// The descriptors to poll and for what: the listener first, then each
    /// client (readable while its request is coming, writable while its
    /// reply is going). [`ControlSocket::serve`] takes the results in this order.
    pub fn poll_fds(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let clients = self.clients.iter().map(|client| {
            let wanted = if client.output.is_some() {
                PollFlags::POLLOUT
            } else {
                PollFlags::POLLIN
            };
            (client.stream.as_fd(), wanted)
        });
        std::iter::once((self.listener.as_fd(), PollFlags::POLLIN))
            .chain(clients)
            .collect()
    }

    /// When the oldest client must be dropped.
    pub fn deadline(&self) -> Option<Instant> {
        self.clients.iter().map(|client| client.deadline).min()
    }

    /// Serves what `ready` (one flag per [`ControlSocket::poll_fds`] entry)
    /// says is ready: writes pending replies, reads requests, accepts new
    /// clients, and drops clients past their deadline. Returns the requests
    /// that are complete, each to be answered with [`ControlSocket::reply`].
    pub fn serve(
        &mut self,
        ready: &[bool],
        now: Instant,
    ) -> Vec<(ClientId, Result<Request, String>)> {
        let listener_ready = ready.first().copied().unwrap_or(false);
        let mut requests = Vec::new();
        let mut index = 0;
        let mut flags = ready.iter().skip(1);
        while let Some(client) = self.clients.get_mut(index) {
            let ready = flags.next().copied().unwrap_or(false);
            let keep = if client.deadline <= now {
                false
            } else if !ready {
                true
            } else if client.output.is_some() {
                client.write(now)
            } else {
                match client.read() {
                    Received::More => true,
                    Received::Request(request) => {
                        client.requested = true;
                        requests.push((client.id, request));
                        true
                    }
                    Received::Gone => false,
                }
            };
            if keep {
                index += 1;
            } else {
                self.clients.remove(index);
            }
        }
        if listener_ready {
            self.accept(now);
        }
        requests
    }

    /// Sends `reply` to client `id` (if it is still connected), as much as
    /// the socket takes now; the rest goes as it becomes writable.
    pub fn reply(&mut self, id: ClientId, reply: Vec<u8>, now: Instant) {
        let Some(index) = self.clients.iter().position(|client| client.id == id) else {
            return;
        };
        let done = self.clients.get_mut(index).is_none_or(|client| {
            client.output = Some((reply, 0));
            client.deadline = client.deadline.max(client.idle_deadline(now));
            !client.write(now)
        });
        if done {
            self.clients.remove(index);
        }
    }

    fn accept(&mut self, now: Instant) {
        for _ in 0..ACCEPTS_PER_WAKEUP {
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                // WouldBlock: no one else is waiting. Other errors (a
                // client gone before it was accepted, no descriptors
                // left) end this round; the next wake-up tries again.
                Err(_) => return,
            };
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            if self.clients.len() >= MAX_CLIENTS {
                // The oldest still sending its request has had the longest to
                // do so; those being answered stay, and with no such client
                // the newcomer is the one closed.
                match self.clients.iter().position(|client| !client.requested) {
                    Some(oldest) => self.clients.remove(oldest).push_out(),
                    None => {
                        Client::tell_busy(&stream);
                        continue;
                    }
                }
            }
            let id = ClientId(self.next_id);
            self.next_id = self.next_id.wrapping_add(1);
            self.clients.push(Client {
                id,
                stream,
                input: Vec::new(),
                requested: false,
                output: None,
                connected: now,
                deadline: now + CLIENT_DEADLINE,
            });
        }
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        // Only our own file: another knockd may have replaced it meanwhile.
        let ours = fs::symlink_metadata(&self.path)
            .is_ok_and(|m| Some((m.dev(), m.ino())) == self.identity);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// What reading from a client gave.
enum Received {
    /// Not a whole line yet.
    More,
    /// A whole request line (or a bad one, answered with an error).
    Request(Result<Request, String>),
    /// The client left or failed before sending a request.
    Gone,
}

impl Client {
    fn read(&mut self) -> Received {
        let mut buf = [0u8; 512];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    // A client may end its request with EOF instead of a newline.
                    return if self.input.is_empty() {
                        Received::Gone
                    } else {
                        Received::Request(self.request(self.input.len()))
                    };
                }
                Ok(n) => {
                    self.input
                        .extend_from_slice(buf.get(..n).unwrap_or_default());
                    if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                        return Received::Request(self.request(end));
                    }
                    if self.input.len() >= MAX_REQUEST {
                        return Received::Request(Err(format!(
                            "request longer than {MAX_REQUEST} bytes"
                        )));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Received::More,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Received::Gone,
            }
        }
    }

    /// The request in the first `end` bytes of the input.
    fn request(&self, end: usize) -> Result<Request, String> {
        Request::parse_bytes(self.input.get(..end).unwrap_or_default())
    }

    /// When a client taking its reply at `now` is dropped if it takes no more.
    fn idle_deadline(&self, now: Instant) -> Instant {
        (now + REPLY_IDLE).min(self.connected + REPLY_LIMIT)
    }

    /// Closes a client pushed out by newer ones, telling it why first.
    fn push_out(self) {
        Client::tell_busy(&self.stream);
    }

    /// Tells a client knockd will not answer it that knockd is busy: one
    /// write its empty socket buffer takes whole, or nothing. What it sent
    /// is read first (without blocking): closing over unread bytes would
    /// reset the connection, and the client might not see why.
    fn tell_busy(stream: &UnixStream) {
        let mut stream = stream;
        let mut unread = [0u8; MAX_REQUEST];
        let _ = stream.read(&mut unread);
        let _ = stream.write(BUSY);
        let _ = stream.shutdown(Shutdown::Both);
    }

    /// Writes what the socket takes of the reply at `now`, which moves the
    /// deadline on when it takes some; says whether the client stays (more
    /// to write), as opposed to done or gone.
    fn write(&mut self, now: Instant) -> bool {
        let idle_deadline = self.idle_deadline(now);
        let Some((reply, written)) = self.output.as_mut() else {
            return true;
        };
        while let Some(rest) = reply.get(*written..).filter(|rest| !rest.is_empty()) {
            match self.stream.write(rest) {
                Ok(0) => return false,
                Ok(n) => {
                    *written += n;
                    self.deadline = self.deadline.max(idle_deadline);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
        }
        let _ = self.stream.shutdown(Shutdown::Both);
        false
    }
}

/// Binds `path` with a umask that leaves the socket to its owner from the
/// start (there is no window in which others could connect), then sets
/// mode 0600 explicitly as well.
fn bind(path: &Path) -> io::Result<UnixListener> {
    let previous = umask(Mode::from_bits_truncate(0o177));
    let bound = UnixListener::bind(path);
    umask(previous);
    let listener = bound?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Removes the socket file at `path` if no one listens on it any more;
/// says who does otherwise.
fn replace_stale(path: &Path) -> Result<(), SocketError> {
    let metadata = fs::symlink_metadata(path).map_err(|error| SocketError::Io {
        path: path.to_owned(),
        error,
    })?;
    if !metadata.file_type().is_socket() {
        return Err(SocketError::NotASocket {
            path: path.to_owned(),
        });
    }
    match UnixStream::connect(path) {
        Ok(live) => Err(SocketError::InUse {
            path: path.to_owned(),
            pid: peer_pid(&live),
        }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            fs::remove_file(path).map_err(|error| SocketError::Io {
                path: path.to_owned(),
                error,
            })
        }
        Err(error) => Err(SocketError::Io {
            path: path.to_owned(),
            error,
        }),
    }
}

/// The pid of the process listening at the other end of `stream`.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn peer_pid(stream: &UnixStream) -> Option<i32> {
    use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
    getsockopt(stream, PeerCredentials).ok().map(|c| c.pid())
}

/// Elsewhere the peer's pid is not asked for.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn peer_pid(_stream: &UnixStream) -> Option<i32> {
    None
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use super::super::protocol::Format;
    use super::*;

    fn open_in(dir: &tempfile::TempDir) -> (ControlSocket, PathBuf) {
        let path = dir.path().join("knockd.sock");
        (ControlSocket::open(&path).unwrap(), path)
    }

    /// One round of the loop with every descriptor marked ready (reads and
    /// writes that cannot proceed just would block).
    fn serve(socket: &mut ControlSocket, now: Instant) -> Vec<(ClientId, Result<Request, String>)> {
        let ready = vec![true; socket.poll_fds().len()];
        socket.serve(&ready, now)
    }

    #[test]
    fn a_request_line_gets_its_reply_and_the_connection_closes() {
        let dir = tempfile::tempdir().unwrap();
        let (mut socket, path) = open_in(&dir);
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let mut client = UnixStream::connect(&path).unwrap();
        let now = Instant::now();
        assert!(
            serve(&mut socket, now).is_empty(),
            "accepted, nothing read yet"
        );
        client.write_all(b"status json door one\n").unwrap();
        let requests = serve(&mut socket, now);
        let [(id, request)] = requests.as_slice() else {
            panic!("{requests:?}")
        };
        assert_eq!(
            request,
            &Ok(Request::Status {
                format: Format::Json,
                door: Some("door one".to_owned())
            })
        );
        socket.reply(*id, b"ok\nhello\n".to_vec(), now);
        let mut reply = String::new();
        client.read_to_string(&mut reply).unwrap();
        assert_eq!(reply, "ok\nhello\n");
        assert_eq!(socket.poll_fds().len(), 1, "only the listener is left");
    }

    #[test]
    fn an_overlong_request_is_refused_and_a_silent_client_dropped_at_its_deadline() {
        let dir = tempfile::tempdir().unwrap();
        let (mut socket, path) = open_in(&dir);
        let now = Instant::now();
        let mut long = UnixStream::connect(&path).unwrap();
        let _silent = UnixStream::connect(&path).unwrap();
        serve(&mut socket, now);
        long.write_all(&[b'x'; MAX_REQUEST + 10]).unwrap();
        let requests = serve(&mut socket, now);
        let [(_, Err(why))] = requests.as_slice() else {
            panic!("{requests:?}")
        };
        assert!(why.contains("longer than 1024 bytes"), "{why}");
        assert_eq!(socket.poll_fds().len(), 3);
        assert_eq!(socket.deadline(), Some(now + CLIENT_DEADLINE));
        assert!(serve(&mut socket, now + CLIENT_DEADLINE).is_empty());
        assert_eq!(socket.poll_fds().len(), 1, "both dropped");
        assert_eq!(socket.deadline(), None);
    }

    /// A socket (in `dir`) with a client whose request was read at `now`,
    /// answered at `reply_at` with a reply larger than the socket buffer
    /// holds; the reply's length.
    fn answering_large(
        dir: &tempfile::TempDir,
        now: Instant,
        reply_at: Instant,
    ) -> (ControlSocket, UnixStream, usize) {
        let (mut socket, path) = open_in(dir);
        let mut client = UnixStream::connect(&path).unwrap();
        serve(&mut socket, now);
        client.write_all(b"status json\n").unwrap();
        let requests = serve(&mut socket, now);
        let [(id, Ok(_))] = requests.as_slice() else {
            panic!("{requests:?}")
        };
        let body = "x".repeat(4 << 20);
        socket.reply(*id, super::super::protocol::ok(&body), reply_at);
        (socket, client, body.len())
    }

    #[test]
    fn a_reply_being_taken_outlives_the_request_deadline_but_not_idleness() {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        // The part of the reply the socket buffer does not hold waits for the client.
        let (mut socket, mut client, length) = answering_large(&dir, now, now);
        assert_eq!(socket.deadline(), Some(now + REPLY_IDLE));
        let later = now + CLIENT_DEADLINE + Duration::from_secs(1);
        serve(&mut socket, later);
        assert_eq!(socket.poll_fds().len(), 2, "cut at the request deadline");
        // The client takes some: the deadline moves on from then.
        let mut taken = vec![0u8; 64 << 10];
        client.read_exact(&mut taken).unwrap();
        serve(&mut socket, later);
        assert_eq!(socket.deadline(), Some(later + REPLY_IDLE));
        // Idle for REPLY_IDLE: dropped, and what the client has is incomplete.
        serve(&mut socket, later + REPLY_IDLE);
        assert_eq!(socket.poll_fds().len(), 1);
        let mut reply = taken;
        client.read_to_end(&mut reply).unwrap();
        assert!(reply.len() < length, "{}", reply.len());
        let cut = super::super::protocol::parse_reply(&reply).unwrap_err();
        assert!(cut.to_string().contains("incomplete"), "{cut}");
    }

    #[test]
    fn a_steady_reader_is_dropped_at_the_reply_limit() {
        let dir = tempfile::tempdir().unwrap();
        let now = Instant::now();
        let late = now + REPLY_LIMIT - Duration::from_secs(1);
        let (mut socket, mut client, _) = answering_large(&dir, now, late);
        assert_eq!(socket.deadline(), Some(now + REPLY_LIMIT));
        let mut taken = vec![0u8; 64 << 10];
        client.read_exact(&mut taken).unwrap();
        serve(&mut socket, late);
        assert_eq!(socket.deadline(), Some(now + REPLY_LIMIT));
        serve(&mut socket, now + REPLY_LIMIT);
        assert_eq!(socket.poll_fds().len(), 1);
    }

    #[test]
    fn a_new_client_beyond_the_limit_pushes_out_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let (mut socket, path) = open_in(&dir);
        let now = Instant::now();
        let mut clients: Vec<UnixStream> = (0..MAX_CLIENTS + 3)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        serve(&mut socket, now);
        assert_eq!(socket.poll_fds().len(), 1 + MAX_CLIENTS);
        // The first three were closed by knockd, told why.
        for client in clients.iter_mut().take(3) {
            let mut told = Vec::new();
            client.read_to_end(&mut told).unwrap();
            assert_eq!(told, BUSY);
        }
        // The newest is served.
        let newest = clients.last_mut().unwrap();
        newest.write_all(b"close-all\n").unwrap();
        let requests = serve(&mut socket, now);
        let [(answered, Ok(Request::CloseAll))] = requests.as_slice() else {
            panic!("{requests:?}")
        };
        // Being answered, it is not pushed out by the next newcomers, which
        // push out the silent ones instead.
        let answered = *answered;
        let _later: Vec<UnixStream> = (0..MAX_CLIENTS)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        serve(&mut socket, now);
        socket.reply(answered, b"ok\nclosing 0 door(s)\n".to_vec(), now);
        let mut reply = String::new();
        clients
            .last_mut()
            .unwrap()
            .read_to_string(&mut reply)
            .unwrap();
        assert_eq!(reply, "ok\nclosing 0 door(s)\n");
    }

    #[test]
    fn a_stale_socket_is_replaced_a_live_one_named_and_only_ours_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("knockd.sock");
        drop(UnixListener::bind(&path).unwrap());
        let socket = ControlSocket::open(&path).unwrap();
        assert!(UnixStream::connect(&path).is_ok());

        let error = ControlSocket::open(&path).unwrap_err().to_string();
        let expected = format!(
            "control socket {} is in use by process {} (another knockd?)",
            path.display(),
            std::process::id()
        );
        assert!(error.starts_with(&expected), "{error}");
        drop(socket);
        assert!(!path.exists());

        fs::write(&path, "not a socket").unwrap();
        let error = ControlSocket::open(&path).unwrap_err().to_string();
        assert!(error.contains("something other than a socket"), "{error}");
        assert_eq!(fs::read_to_string(&path).unwrap(), "not a socket");

        let missing = dir.path().join("no/such/dir/knockd.sock");
        let error = ControlSocket::open(&missing).unwrap_err().to_string();
        assert!(error.ends_with("No such file or directory"), "{error}");
    }

    #[test]
    fn a_socket_replaced_by_another_knockd_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let (socket, path) = open_in(&dir);
        fs::remove_file(&path).unwrap();
        let _other = UnixListener::bind(&path).unwrap();
        drop(socket);
        assert!(path.exists());
    }
}
