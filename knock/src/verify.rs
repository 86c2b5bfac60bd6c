//! `--verify`: whether the door opened, learnt by connecting to the port it
//! guards on the address that was knocked (a knock over IPv4 followed by a
//! connection over IPv6 is a classic way to find a door shut).

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

/// Knocks again after a failed verification, by default.
pub const DEFAULT_RETRIES: u32 = 2;

/// How long one verification may keep trying, by default: long enough for
/// knockd to run a firewall command, short enough to retry soon.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(2000);

/// The pause between connection attempts that were refused: the server may
/// still be running the door's command when the first one arrives.
const REFUSED_PAUSE: Duration = Duration::from_millis(100);

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

/// Connects to `target`, trying again every 100 ms while attempts are
/// refused, until `timeout` has passed; a firewall that drops the attempt
/// uses up the time in one. The connection is closed at once.
pub fn connect(target: SocketAddr, timeout: Duration) -> io::Result<()> {
    let start = Instant::now();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        // connect_timeout refuses a zero timeout.
        let error = match TcpStream::connect_timeout(&target, left.max(Duration::from_millis(1))) {
            Ok(_connection) => return Ok(()),
            Err(error) => error,
        };
        if timeout.saturating_sub(start.elapsed()) <= REFUSED_PAUSE {
            return Err(error);
        }
        thread::sleep(REFUSED_PAUSE);
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
