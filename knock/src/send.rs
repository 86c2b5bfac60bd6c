//! Plain hits, sent through the ordinary socket API without privileges.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// Puts exactly one SYN on the wire towards `target`.
///
/// The connection attempt is started without blocking and the socket closed
/// at once: closing a socket in SYN-SENT sends nothing and cancels the
/// retransmissions a kept-open socket would produce (several SYNs per hit
/// would spoil a knock against a dropping firewall).
pub fn tcp_syn(target: SocketAddr) -> io::Result<()> {
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    match socket.connect(&target.into()) {
        Ok(()) => Ok(()),
        Err(e) if syn_was_sent(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether a failed non-blocking `connect` still sent its SYN: the handshake
/// is under way, or an answer (RST) already came back.
fn syn_was_sent(e: &io::Error) -> bool {
    #[cfg(unix)]
    if e.raw_os_error() == Some(libc::EINPROGRESS) {
        return true;
    }
    // Windows reports a started handshake as WSAEWOULDBLOCK.
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::ConnectionRefused
    )
}

/// Sends one UDP datagram carrying a single zero byte, as knock 0.8 does.
pub fn udp_datagram(target: SocketAddr) -> io::Result<()> {
    let local: SocketAddr = match target {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    let sent = socket.send_to(&[0], target)?;
    if sent == 1 {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "the datagram was not sent",
        ))
    }
}
