//! `--verify`: whether the door opened, learnt by connecting to the port it
//! guards on the address that was knocked (a knock over IPv4 followed by a
//! connection over IPv6 is a classic way to find a door shut).

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use crate::target::Endpoint;

/// Knocks again after a failed verification, by default.
pub const DEFAULT_RETRIES: u32 = 2;

/// How long one verification may keep trying, by default: long enough for
/// knockd to run a firewall command, short enough to retry soon.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);

/// The pause between connection attempts that were refused: the server may
/// still be running the door's command when the first one arrives.
const REFUSED_PAUSE: Duration = Duration::from_millis(100);

/// How long the first connection attempt waits for an answer; each later one
/// waits twice as long as the one before. A firewall that dropped the first
/// SYN, just before the door opened, would otherwise hold the attempt until
/// the kernel resends it a second later, while a slow link still gets time.
const FIRST_WAIT: Duration = Duration::from_millis(250);

/// What `--verify`, `--retries` and `--verify-timeout` ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verify {
    /// The TCP port that must accept a connection.
    pub port: u16,
    /// How many times to knock again when it does not.
    pub retries: u32,
    /// How long each verification may keep trying.
    pub timeout: Duration,
}

/// `--verify`: no connection succeeded after the last knock.
#[derive(Debug)]
pub struct DoorShut {
    /// The address and port that were tried.
    pub target: SocketAddr,
    /// How many times the whole sequence was sent.
    pub knocks: u32,
    /// How long each verification tried.
    pub timeout: Duration,
    /// Why the last attempt failed.
    pub source: io::Error,
}

impl fmt::Display for DoorShut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let DoorShut {
            target,
            knocks,
            timeout,
            source,
        } = self;
        let target = Endpoint::of(*target);
        write!(
            f,
            "could not connect to {target} after knocking {knocks} time{s}, trying for {ms} ms \
             after each knock: {reason}",
            s = if *knocks == 1 { "" } else { "s" },
            ms = timeout.as_millis(),
            reason = knock_proto::io_message(source)
        )
    }
}

impl std::error::Error for DoorShut {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Connects to `target` until `timeout` has passed: refused attempts are
/// repeated every 100 ms, unanswered ones (a firewall dropping them) are
/// abandoned after 250 ms, then 500 ms, and so on, and tried again. Returns
/// the first connection made: `--verify` closes it at once, `--proxy`
/// relays over it.
pub fn connect(target: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    let start = Instant::now();
    let mut wait = FIRST_WAIT;
    loop {
        // connect_timeout refuses a zero timeout.
        let left = timeout
            .saturating_sub(start.elapsed())
            .max(Duration::from_millis(1));
        let error = match TcpStream::connect_timeout(&target, wait.min(left)) {
            Ok(connection) => return Ok(connection),
            Err(error) => error,
        };
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Err(error);
        }
        if error.kind() == io::ErrorKind::TimedOut {
            wait = wait.saturating_mul(2);
        } else {
            thread::sleep(REFUSED_PAUSE.min(left));
            if start.elapsed() >= timeout {
                return Err(error);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn a_listening_port_verifies() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        connect(listener.local_addr().unwrap(), Duration::from_millis(500)).unwrap();
    }

    #[test]
    fn a_closed_port_fails_after_trying_for_the_whole_timeout() {
        let closed = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let start = Instant::now();
        let e = connect(closed, Duration::from_millis(400)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert!(start.elapsed() >= Duration::from_millis(300));
    }

    #[test]
    fn a_port_that_opens_late_verifies() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let opener = thread::spawn(move || {
            thread::sleep(Duration::from_millis(250));
            TcpListener::bind(addr)
        });
        connect(addr, Duration::from_millis(2000)).unwrap();
        drop(opener.join().unwrap());
    }
}
