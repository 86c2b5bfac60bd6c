//! A TCP echo service and the bytes to send it, for `knock --proxy`'s relay.

use std::io::{self, Read, Write};
use std::net::TcpListener;
use std::thread::{self, JoinHandle};

/// Serves one connection on `listener` (bound in a namespace with
/// [`crate::Net::listen_in_server`]): sends back what it reads as it reads
/// it, and closes once the client has half-closed. The thread returns every
/// byte read.
pub fn echo_once(listener: TcpListener) -> JoinHandle<io::Result<Vec<u8>>> {
    thread::spawn(move || {
        let (mut peer, _) = listener.accept()?;
        let mut received = Vec::new();
        let mut buffer = [0; 8192];
        loop {
            let read = match peer.read(&mut buffer) {
                Ok(0) => return Ok(received),
                Ok(read) => read,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let chunk = &buffer[..read];
            received.extend_from_slice(chunk);
            peer.write_all(chunk)?;
        }
    })
}

/// `len` pseudo-random bytes (xorshift32), a different run for each seed.
pub fn pseudo_random(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x.to_le_bytes()[0]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Shutdown, TcpStream};

    #[test]
    fn echoes_until_the_half_close() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = echo_once(listener);
        let mut client = TcpStream::connect(address).unwrap();
        client.write_all(b"hello").unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        client.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"hello");
        assert_eq!(server.join().unwrap().unwrap(), b"hello");
    }

    #[test]
    fn seeds_give_different_bytes() {
        assert_ne!(pseudo_random(64, 1), pseudo_random(64, 2));
        assert_eq!(pseudo_random(64, 3), pseudo_random(64, 3));
    }
}
