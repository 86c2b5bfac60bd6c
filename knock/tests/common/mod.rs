//! Helpers shared by the client's test files: knock ports on 127.0.0.1 whose
//! hits can be counted.

use std::io;
use std::net::UdpSocket;
use std::time::Duration;

/// A UDP socket that stands for a knock port, so the hits can be counted.
pub fn knock_port() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    (socket, port)
}

/// How many datagrams have arrived on `socket`.
pub fn hits(socket: &UdpSocket) -> usize {
    let mut count = 0;
    let mut buffer = [0; 8];
    loop {
        match socket.recv(&mut buffer) {
            Ok(_) => count += 1,
            // A signal (another test's child ending) cut the wait short.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return count
            }
            Err(e) => panic!("{e}"),
        }
    }
}
