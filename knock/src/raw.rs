//! Raw knocks (`--flags`): TCP segments with chosen flags, sent on a raw
//! socket so the kernel adds only the IP header (no `IP_HDRINCL`, which would
//! bring byte-order differences between Unix systems).
//!
//! Windows refuses TCP on raw sockets, so there `--flags` is an error.

#[cfg(unix)]
pub use unix::RawSender;

#[cfg(not(unix))]
pub use unsupported::RawSender;

#[cfg(unix)]
mod unix {
    use std::io;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
    use std::ops::RangeInclusive;

    use knock_proto::{TcpFlag, TcpFlags};
    use rand::RngExt;
    use socket2::{Domain, Protocol, Socket, Type};

    use crate::error::Error;
    use knock_proto::segment::TcpSegment;

    /// Source ports are drawn from Linux's default ephemeral range, where an
    /// ordinary client's would be.
    const SOURCE_PORTS: RangeInclusive<u16> = 32768..=60999;

    /// The window a current Linux advertises in its SYN.
    const WINDOW: u16 = 64240;

    /// A raw socket towards one target, opened before the first hit so that
    /// missing privileges stop the knock before anything is sent.
    #[derive(Debug)]
    pub struct RawSender {
        socket: Socket,
        source: SocketAddr,
        flags: TcpFlags,
    }

    impl RawSender {
        /// Opens a raw TCP socket for `target`'s family and learns the source
        /// address the checksum must cover. Every segment will carry `flags`.
        pub fn open(target: SocketAddr, flags: TcpFlags) -> Result<RawSender, Error> {
            let socket = Socket::new(Domain::for_address(target), Type::RAW, Some(Protocol::TCP))
                .map_err(|e| match e.kind() {
                io::ErrorKind::PermissionDenied => Error::RawPermission(e),
                _ => Error::Send {
                    protocol: knock_proto::Protocol::Tcp,
                    target,
                    source: e,
                },
            })?;
            let route_error = |source| Error::NoRoute { target, source };
            let source = source_for(target).map_err(route_error)?;
            // Pinning the source keeps the kernel from choosing another
            // address than the one the checksum was computed with.
            socket.bind(&source.into()).map_err(route_error)?;
            Ok(RawSender {
                socket,
                source,
                flags,
            })
        }

        /// Sends one segment to `target` (port included) with the flags given
        /// to [`RawSender::open`], a random source port and sequence number.
        pub fn send(&self, target: SocketAddr) -> io::Result<()> {
            let mut rng = rand::rng();
            let flags = self.flags.required();
            let segment = TcpSegment {
                src_port: rng.random_range(SOURCE_PORTS),
                dst_port: target.port(),
                seq_number: rng.random(),
                ack_number: if flags & TcpFlag::Ack.bit() != 0 {
                    rng.random()
                } else {
                    0
                },
                flags,
                window: WINDOW,
            };
            let bytes = segment.emit(self.source.ip(), target.ip());
            // Raw sockets take the protocol, not a port, from the address:
            // the port must be 0 (the scope id of a link-local target stays).
            let mut destination = target;
            destination.set_port(0);
            let sent = self.socket.send_to(&bytes, &destination.into())?;
            if sent == bytes.len() {
                Ok(())
            } else {
                Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "the segment was only partly sent",
                ))
            }
        }
    }

    /// The local address the kernel would send from to reach `target`:
    /// connecting a UDP socket picks the route without sending anything.
    fn source_for(target: SocketAddr) -> io::Result<SocketAddr> {
        let local: SocketAddr = match target {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let probe = UdpSocket::bind(local)?;
        let mut discard = target;
        // Any non-zero port will do; 9 is "discard".
        discard.set_port(9);
        probe.connect(discard)?;
        let mut source = probe.local_addr()?;
        source.set_port(0);
        Ok(source)
    }
}

#[cfg(not(unix))]
mod unsupported {
    use std::convert::Infallible;
    use std::io;
    use std::net::SocketAddr;

    use knock_proto::TcpFlags;

    use crate::error::Error;

    /// Stands in for the Unix raw sender; it can never be opened.
    #[derive(Debug)]
    pub struct RawSender(Infallible);

    impl RawSender {
        /// Always refuses: this platform cannot send raw TCP segments.
        pub fn open(_target: SocketAddr, _flags: TcpFlags) -> Result<RawSender, Error> {
            Err(Error::RawUnsupported)
        }

        /// Cannot be called, as no `RawSender` exists.
        pub fn send(&self, _target: SocketAddr) -> io::Result<()> {
            match self.0 {}
        }
    }
}
