//! `--proxy`: after the knock, relay standard input and output over the
//! connection to the door's port, as ssh's `ProxyCommand` expects of its
//! command, until the server closes it.
//!
//! Two directions, each with one fixed buffer: a thread sends what standard
//! input gives to the server and, at the end of input, shuts down the
//! connection's sending side (a half-close: the server still answers what it
//! has read); the calling thread writes what the server sends to standard
//! output until the server closes, then returns. The sending thread is not
//! waited for: it may be blocked reading a standard input that never ends,
//! and the process exits without it.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;

use crate::target::Endpoint;

/// Bytes moved per read in each direction: with two of them, all the memory
/// the relay holds, whatever the traffic.
const BUFFER: usize = 16 * 1024;

/// Why the relay stopped before the server closed the connection.
#[derive(Debug)]
pub enum RelayError {
    /// The connection could not be shared between the two directions, or
    /// the sending thread not started.
    Setup {
        /// The server's address and port.
        peer: SocketAddr,
        /// The kernel's reason.
        source: io::Error,
    },
    /// Reading from the server failed (a reset connection, say).
    Broken {
        /// The server's address and port.
        peer: SocketAddr,
        /// The kernel's reason.
        source: io::Error,
    },
    /// Standard input could not be read, so what it held never reached the
    /// server in full.
    Input {
        /// The server's address and port.
        peer: SocketAddr,
        /// The reason.
        source: io::Error,
    },
    /// What the server sent could not be written to standard output (the
    /// program reading it, ssh, has gone).
    Output(io::Error),
}

impl fmt::Display for RelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RelayError::Setup { peer, source } => write!(
                f,
                "--proxy: cannot relay over the connection to {}: {}",
                Endpoint::of(*peer),
                knock_proto::io_message(source)
            ),
            RelayError::Broken { peer, source } => write!(
                f,
                "--proxy: the connection to {} broke: {}",
                Endpoint::of(*peer),
                knock_proto::io_message(source)
            ),
            RelayError::Input { peer, source } => write!(
                f,
                "--proxy: cannot read standard input to send to {}: {}; the connection was closed",
                Endpoint::of(*peer),
                knock_proto::io_message(source)
            ),
            RelayError::Output(source) => write!(
                f,
                "--proxy: cannot write what the server sent to standard output: {}",
                knock_proto::io_message(source)
            ),
        }
    }
}

impl std::error::Error for RelayError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RelayError::Setup { source, .. }
            | RelayError::Broken { source, .. }
            | RelayError::Input { source, .. }
            | RelayError::Output(source) => Some(source),
        }
    }
}

/// Relays `input` to the server `peer` over `connection` and what the
/// server sends to `output`, flushed as it arrives, until the server closes
/// the connection: then returns `Ok`, whether or not `input` has ended. At
/// the end of `input` the connection's sending side is shut down and the
/// relay goes on receiving. A failed send to the server ends the sending
/// side only: the server has gone, and receiving says how.
pub fn relay(
    connection: TcpStream,
    peer: SocketAddr,
    input: impl Read + Send + 'static,
    mut output: impl Write,
) -> Result<(), RelayError> {
    // ssh writes whole packets; Nagle's algorithm would only hold back the
    // small ones of an interactive session. A refusal changes nothing else.
    let _ = connection.set_nodelay(true);
    let sending = connection
        .try_clone()
        .map_err(|source| RelayError::Setup { peer, source })?;
    let (input_failed, failure) = mpsc::channel();
    thread::Builder::new()
        .name("send".to_owned())
        .spawn(move || {
            if let Err(source) = send(input, &sending) {
                // Said before the shutdown that ends the receiving loop, so
                // the loop finds it.
                let _ = input_failed.send(source);
                let _ = sending.shutdown(Shutdown::Both);
            }
        })
        .map_err(|source| RelayError::Setup { peer, source })?;
    receive(&connection, &mut output).map_err(|e| match e {
        Receive::Network(source) => RelayError::Broken { peer, source },
        Receive::Output(source) => RelayError::Output(source),
    })?;
    match failure.try_recv() {
        Ok(source) => Err(RelayError::Input { peer, source }),
        Err(_) => Ok(()),
    }
}

/// Copies `input` to `connection` until `input` ends, then shuts down the
/// connection's sending side. Only a failure to read `input` is an error:
/// when sending fails, the server has gone, and the receiving side learns
/// how.
fn send(mut input: impl Read, mut connection: &TcpStream) -> io::Result<()> {
    let mut buffer = vec![0; BUFFER];
    loop {
        let read = match input.read(&mut buffer) {
            Ok(0) => {
                let _ = connection.shutdown(Shutdown::Write);
                return Ok(());
            }
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // A reader never claims more than the buffer; get() keeps a broken one harmless.
        let chunk = buffer.get(..read).unwrap_or_default();
        if connection.write_all(chunk).is_err() {
            return Ok(());
        }
    }
}

/// Why receiving stopped.
enum Receive {
    /// Reading from the server failed.
    Network(io::Error),
    /// Writing to the output failed.
    Output(io::Error),
}

/// Copies what `connection` receives to `output`, flushing each piece, until
/// the server closes the connection.
fn receive(mut connection: &TcpStream, output: &mut impl Write) -> Result<(), Receive> {
    let mut buffer = vec![0; BUFFER];
    loop {
        let read = match connection.read(&mut buffer) {
            Ok(0) => return output.flush().map_err(Receive::Output),
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Receive::Network(e)),
        };
        let chunk = buffer.get(..read).unwrap_or_default();
        output
            .write_all(chunk)
            .and_then(|()| output.flush())
            .map_err(Receive::Output)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::net::TcpListener;
    use std::time::Duration;

    /// A server on 127.0.0.1 that runs `serve` on its one connection;
    /// returns the client's end and the server's address. Its reads give up
    /// after 10 s, so a relay that never half-closes fails a test instead of
    /// hanging it.
    fn server(serve: impl FnOnce(TcpStream) + Send + 'static) -> (TcpStream, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            let (peer, _) = listener.accept().unwrap();
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            serve(peer);
        });
        (TcpStream::connect(address).unwrap(), address)
    }

    /// Pseudo-random bytes, a different run for each seed.
    fn bytes(len: usize, seed: u32) -> Vec<u8> {
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

    #[test]
    fn bytes_are_echoed_exactly_through_the_half_close() {
        // The echo server sees the end of input only through the half-close,
        // and closes once it has sent everything back.
        let (connection, address) = server(|mut peer| {
            let mut copy = peer.try_clone().unwrap();
            io::copy(&mut peer, &mut copy).unwrap();
        });
        let data = bytes(300_000, 7);
        let mut output = Vec::new();
        relay(connection, address, Cursor::new(data.clone()), &mut output).unwrap();
        assert!(output == data, "{} bytes came back", output.len());
    }

    #[test]
    fn the_server_may_answer_after_the_end_of_input() {
        let (connection, address) = server(|mut peer| {
            let mut request = Vec::new();
            peer.read_to_end(&mut request).unwrap();
            write!(peer, "{} bytes", request.len()).unwrap();
        });
        let mut output = Vec::new();
        relay(
            connection,
            address,
            Cursor::new(vec![1; 100_000]),
            &mut output,
        )
        .unwrap();
        assert_eq!(output, b"100000 bytes");
    }

    /// Input that never ends, as a terminal's.
    struct Endless;

    impl Read for Endless {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            thread::sleep(Duration::from_secs(3600));
            Ok(0)
        }
    }

    #[test]
    fn the_server_closing_ends_the_relay_while_input_is_still_open() {
        let (connection, address) = server(|mut peer| peer.write_all(b"bye").unwrap());
        let mut output = Vec::new();
        relay(connection, address, Endless, &mut output).unwrap();
        assert_eq!(output, b"bye");
    }

    /// Input that fails.
    struct Failing;

    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("no input"))
        }
    }

    #[test]
    fn a_failed_input_closes_the_connection_and_is_an_error() {
        // The server keeps its end open: only the relay's own shutdown can
        // end the receiving side in time.
        let (connection, address) = server(|mut peer| {
            let _ = peer.read_to_end(&mut Vec::new());
            thread::sleep(Duration::from_secs(10));
        });
        let start = std::time::Instant::now();
        let e = relay(connection, address, Failing, Vec::new()).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(5));
        assert!(matches!(e, RelayError::Input { .. }), "{e}");
        assert!(e.to_string().contains("no input"), "{e}");
    }

    /// Output that refuses everything, as a closed pipe does.
    struct Closed;

    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(io::ErrorKind::BrokenPipe))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_output_is_an_error() {
        let (connection, address) = server(|mut peer| peer.write_all(b"hello").unwrap());
        let e = relay(connection, address, Endless, Closed).unwrap_err();
        assert!(matches!(e, RelayError::Output(_)), "{e}");
    }
}
