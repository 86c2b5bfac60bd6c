//! A capture read from a Linux packet socket instead of libpcap, for a
//! process that may not open one: libpcap cannot adopt a socket it did not
//! open itself, so a privileged process opens the socket
//! ([`open_packet_socket`]), hands the descriptor over, and the
//! unprivileged one reads it ([`Capture::from_packet_socket`]).
//!
//! [`Capture::from_packet_socket`]: super::Capture::from_packet_socket
//!
//! It reads what a libpcap capture of the same interface reads on Linux
//! (not promiscuous, both directions):
//!
//! - frames of libpcap's link type for the interface: Ethernet and loopback
//!   with their Ethernet header; links without one (tun, WireGuard, PPP, raw
//!   IP modems) from the IP header, through a datagram socket, which strips
//!   any link-layer header the driver may still add (libpcap runs PPP in
//!   cooked mode for the same reason, so there it reads a cooked link type);
//! - not the outgoing copy of a packet on loopback, which comes in again
//!   and which libpcap drops so as not to show each packet twice;
//! - an Ethernet frame's VLAN tag, which the kernel takes out of the frame
//!   before any socket sees it, put back as libpcap puts it back (from
//!   `PACKET_AUXDATA`), so that a frame of a VLAN still reads as one;
//! - the counters of `pcap_stats`, from the same kernel counters.
//!
//! Where it differs:
//!
//! - the socket is opened with a filter that passes nothing, so that no
//!   unfiltered packet queues up before the reader installs its program;
//! - installing a program leaves the packets already queued, which passed
//!   the previous program (libpcap runs the new program over the ones in
//!   its ring): the decoder and engine check every packet again anyway;
//! - a program the kernel refuses is not run in user space: the socket
//!   keeps the previous one, and [`Placement::UserSpace`] tells the caller
//!   to try a coarser program, as it does for libpcap.
//!
//! [`Placement::UserSpace`]: super::Placement::UserSpace

use std::os::fd::OwnedFd;

use knockd_core::wire::LinkType;

use super::CaptureError;
#[cfg(target_os = "linux")]
pub(super) use linux::PacketSocket;
#[cfg(not(target_os = "linux"))]
pub(super) use other::PacketSocket;

/// Opens a packet socket on `interface`, for a capture of it by a process
/// that may not ([`Capture::from_packet_socket`](super::Capture::from_packet_socket)),
/// and says what link type its frames have. It needs `CAP_NET_RAW`. The
/// socket is nonblocking, closed on exec, has libpcap's buffer size
/// ([`CaptureOptions`](super::CaptureOptions)) and a filter that passes
/// nothing until a program is installed. `any` is refused: a packet socket
/// of all interfaces reads frames of different link types.
pub fn open_packet_socket(interface: &str) -> Result<(OwnedFd, LinkType), CaptureError> {
    #[cfg(target_os = "linux")]
    {
        linux::open(interface)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(other::needs_linux(interface))
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io::{self, IoSliceMut};
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
    use std::time::SystemTime;

    use nix::errno::Errno;
    use nix::sys::socket::{recvmsg, setsockopt, sockopt, ControlMessageOwned, LinkAddr, MsgFlags};
    use nix::sys::time::TimeSpec;
    use socket2::{Domain, SockFilter, SockRef, Socket, Type};

    use knockd_core::filter::{kernel_instructions, Program};
    use knockd_core::wire::LinkType;

    use super::super::{open_failed, sock_filters, timestamp};
    use super::super::{CaptureError, CaptureOptions, CaptureStats, Placement};
    use crate::sys;

    /// Linux's `ARPHRD_RAWIP`, which the libc crate lacks: raw IP modems.
    const ARPHRD_RAWIP: u16 = 519;

    /// The length of a VLAN tag: its protocol id and control information.
    const VLAN_TAG_LEN: usize = 4;
    /// Where a VLAN tag goes in an Ethernet frame: after the two addresses.
    const VLAN_OFFSET: usize = 12;

    /// The link type of the frames a packet socket reads on an interface of
    /// hardware type `hatype`, and the socket type that reads them so.
    fn link_of(hatype: u16) -> Option<(LinkType, Type)> {
        match hatype {
            libc::ARPHRD_ETHER | libc::ARPHRD_LOOPBACK => Some((LinkType::Ethernet, Type::RAW)),
            libc::ARPHRD_NONE | libc::ARPHRD_PPP | ARPHRD_RAWIP => {
                Some((LinkType::RawIp, Type::DGRAM))
            }
            _ => None,
        }
    }

    /// [`open_packet_socket`](super::open_packet_socket).
    pub(super) fn open(interface: &str) -> Result<(OwnedFd, LinkType), CaptureError> {
        let failed = |call: &str, error: io::Error| {
            open_failed(
                interface,
                format!("{call}: {}", knock_proto::io_message(&error)),
            )
        };
        if interface == "any" {
            return Err(CaptureError::new(
                "could not open any: a packet socket captures one interface, and `any` is not one"
                    .to_owned(),
            ));
        }
        let index = nix::net::if_::if_nametoindex(interface)
            .map_err(|e| failed("if_nametoindex", e.into()))?;
        // Protocol 0: a packet socket receives nothing until it is bound.
        let probe =
            Socket::new(Domain::PACKET, Type::DGRAM, None).map_err(|e| failed("socket", e))?;
        let hatype = sys::packet_socket::hardware_type(probe.as_fd(), interface)
            .map_err(|e| failed("SIOCGIFHWADDR", e))?;
        let (link, kind) = link_of(hatype).ok_or_else(|| {
            CaptureError::new(format!(
                "could not open {interface}: unsupported hardware type {hatype} \
                 (ARPHRD_*): knockd reads Ethernet, loopback and header-less links \
                 (tun, WireGuard, PPP, raw IP)"
            ))
        })?;
        // The probe is already the socket a header-less link is read with.
        let socket = if kind == Type::DGRAM {
            probe
        } else {
            Socket::new(Domain::PACKET, kind, None).map_err(|e| failed("socket", e))?
        };
        socket
            .set_nonblocking(true)
            .map_err(|e| failed("fcntl", e))?;
        // Before binding: nothing unfiltered queues up before the program.
        let nothing = SockFilter::new((libc::BPF_RET | libc::BPF_K) as u16, 0, 0, 0);
        socket
            .attach_filter(&[nothing])
            .map_err(|e| failed("SO_ATTACH_FILTER", e))?;
        let size = CaptureOptions::default().buffer_size as usize;
        // Past net.core.rmem_max where allowed (CAP_NET_ADMIN), as libpcap's
        // ring is.
        setsockopt(&socket, sockopt::RcvBufForce, &size)
            .or_else(|_| setsockopt(&socket, sockopt::RcvBuf, &size))
            .map_err(|e| failed("SO_RCVBUF", e.into()))?;
        // Asked here, where SOL_PACKET options may be set: the watcher's
        // system-call filter allows it no other than PACKET_RX_RING.
        setsockopt(&socket, sockopt::ReceiveTimestampns, &true)
            .map_err(|e| failed("SO_TIMESTAMPNS", e.into()))?;
        sys::packet_socket::enable_auxdata(socket.as_fd())
            .map_err(|e| failed("PACKET_AUXDATA", e))?;
        sys::packet_socket::bind_to_interface(socket.as_fd(), index)
            .map_err(|e| failed("bind", e))?;
        // Binding an interface that is down leaves ENETDOWN pending, which
        // libpcap reports as a failed open.
        if let Some(error) = socket.take_error().map_err(|e| failed("SO_ERROR", e))? {
            return Err(failed("bind", error));
        }
        Ok((socket.into(), link))
    }

    /// A packet socket opened by [`open`], read by the process it was
    /// handed to.
    pub struct PacketSocket {
        fd: OwnedFd,
        link: LinkType,
        /// The counters so far: the kernel's start again from zero each
        /// time they are read.
        received: u32,
        dropped: u32,
        /// A VLAN tag's length, then one frame, snap length long.
        frame: Vec<u8>,
        /// Room for a frame's timestamp (`SCM_TIMESTAMPNS`) and auxiliary
        /// data (`PACKET_AUXDATA`).
        control: Vec<u8>,
    }

    /// A frame just received into [`PacketSocket::frame`].
    struct Received {
        timestamp: SystemTime,
        /// Its length on the wire.
        len: usize,
        /// The outgoing copy of a loopback packet.
        looped: bool,
        /// The VLAN tag the kernel took out, as it goes in a frame.
        vlan_tag: Option<[u8; VLAN_TAG_LEN]>,
    }

    /// The VLAN tag of a frame, from its auxiliary data (`struct
    /// tpacket_auxdata`), as libpcap reads it: a frame has one if the
    /// kernel says so or its control information is not zero; the tag
    /// protocol id is 802.1Q's unless the kernel gives another.
    fn vlan_tag_of(auxdata: &[u8]) -> Option<[u8; VLAN_TAG_LEN]> {
        use std::mem::offset_of;
        let word = |at: usize| {
            Some(u32::from_ne_bytes(
                auxdata.get(at..at + 4)?.try_into().ok()?,
            ))
        };
        let half = |at: usize| {
            Some(u16::from_ne_bytes(
                auxdata.get(at..at + 2)?.try_into().ok()?,
            ))
        };
        let status = word(offset_of!(libc::tpacket_auxdata, tp_status))?;
        let tci = half(offset_of!(libc::tpacket_auxdata, tp_vlan_tci))?;
        let tpid = half(offset_of!(libc::tpacket_auxdata, tp_vlan_tpid))?;
        if tci == 0 && status & libc::TP_STATUS_VLAN_VALID == 0 {
            return None;
        }
        let tpid = if tpid != 0 || status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
            tpid
        } else {
            libc::ETH_P_8021Q as u16
        };
        let ([a, b], [c, d]) = (tpid.to_be_bytes(), tci.to_be_bytes());
        Some([a, b, c, d])
    }

    impl PacketSocket {
        /// Takes over `fd`, opened by [`open`] for frames of `link`, which
        /// asked the kernel for each frame's timestamp and VLAN tag.
        pub fn adopt(fd: OwnedFd, link: LinkType) -> io::Result<Self> {
            let snaplen = CaptureOptions::default().snaplen as usize;
            Ok(PacketSocket {
                fd,
                link,
                received: 0,
                dropped: 0,
                frame: vec![0; VLAN_TAG_LEN + snaplen],
                control: nix::cmsg_space!(TimeSpec, libc::tpacket_auxdata),
            })
        }

        /// The link type of the frames.
        pub fn link(&self) -> LinkType {
            self.link
        }

        /// Reads up to `max_packets` frames that are ready, as
        /// [`Capture::read_available`](super::super::Capture::read_available).
        pub fn read_available<F>(
            &mut self,
            max_packets: usize,
            mut on_packet: F,
        ) -> io::Result<usize>
        where
            F: FnMut(SystemTime, u32, &[u8]),
        {
            let mut read = 0;
            while read < max_packets {
                let Some(received) = self.receive()? else {
                    break;
                };
                if received.looped {
                    continue;
                }
                let snaplen = self.frame.len() - VLAN_TAG_LEN;
                let captured = received.len.min(snaplen);
                let (frame, len) = match received.vlan_tag {
                    Some(tag) if self.link == LinkType::Ethernet && captured >= VLAN_OFFSET => {
                        // The tag goes where it was, the addresses moving
                        // into the room before them; the snap length
                        // holds, as in libpcap.
                        self.frame
                            .copy_within(VLAN_TAG_LEN..VLAN_TAG_LEN + VLAN_OFFSET, 0);
                        self.frame[VLAN_OFFSET..VLAN_OFFSET + VLAN_TAG_LEN].copy_from_slice(&tag);
                        let end = (captured + VLAN_TAG_LEN).min(snaplen);
                        (&self.frame[..end], received.len + VLAN_TAG_LEN)
                    }
                    _ => (
                        &self.frame[VLAN_TAG_LEN..VLAN_TAG_LEN + captured],
                        received.len,
                    ),
                };
                let len = u32::try_from(len).unwrap_or(u32::MAX);
                on_packet(received.timestamp, len, frame);
                read += 1;
            }
            Ok(read)
        }

        /// Receives one frame into `self.frame`, after the room for a VLAN
        /// tag; `None` when none is ready.
        fn receive(&mut self) -> io::Result<Option<Received>> {
            let mut iov = [IoSliceMut::new(&mut self.frame[VLAN_TAG_LEN..])];
            // MSG_TRUNC: the length on the wire, not what fitted. The
            // kernel trims nothing before, as knockd's programs pass
            // whole packets (libpcap rewrites any other accept value into
            // the biggest on sockets without a ring, for the same reason).
            let flags = MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_TRUNC;
            let message = match recvmsg::<LinkAddr>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut self.control),
                flags,
            ) {
                Ok(message) => message,
                Err(Errno::EAGAIN | Errno::EINTR) => return Ok(None),
                Err(error) => return Err(error.into()),
            };
            let (mut stamped, mut vlan_tag) = (None, None);
            // Too little room (MSG_CTRUNC) cannot be, but would lose both.
            for control in message.cmsgs().into_iter().flatten() {
                match control {
                    ControlMessageOwned::ScmTimestampns(at) => {
                        stamped = Some(timestamp(at.tv_sec(), at.tv_nsec()));
                    }
                    ControlMessageOwned::Unknown(unknown)
                        if unknown.cmsg_header.cmsg_level == libc::SOL_PACKET
                            && unknown.cmsg_header.cmsg_type == libc::PACKET_AUXDATA =>
                    {
                        vlan_tag = vlan_tag_of(&unknown.data_bytes);
                    }
                    _ => {}
                }
            }
            let looped = message.address.is_some_and(|from| {
                from.pkttype() == libc::PACKET_OUTGOING && from.hatype() == libc::ARPHRD_LOOPBACK
            });
            Ok(Some(Received {
                timestamp: stamped.unwrap_or_else(SystemTime::now),
                len: message.bytes,
                looped,
                vlan_tag,
            }))
        }

        /// The counters since the socket was opened: what passed the
        /// filter (the dropped included, and on loopback both copies of a
        /// packet), and what was dropped for want of room, as libpcap
        /// counts them on Linux. Not promiscuous, libpcap counts no drops
        /// by the interface either.
        pub fn stats(&mut self) -> io::Result<CaptureStats> {
            let since = sys::packet_socket::statistics(self.fd.as_fd())?;
            self.received = self.received.wrapping_add(since.tp_packets);
            self.dropped = self.dropped.wrapping_add(since.tp_drops);
            Ok(CaptureStats {
                received: self.received,
                dropped: self.dropped,
                interface_dropped: 0,
            })
        }

        /// Attaches `program` to the socket. When the kernel refuses it
        /// (invalid, or beyond `optmem_max`) the socket keeps its filter
        /// and this says [`Placement::UserSpace`].
        pub fn set_program(&mut self, program: &Program) -> io::Result<Placement> {
            let filters = sock_filters(&kernel_instructions(program));
            match SockRef::from(&self.fd).attach_filter(&filters) {
                Ok(()) => Ok(Placement::Kernel),
                Err(error) if matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOMEM)) => {
                    Ok(Placement::UserSpace)
                }
                Err(error) => Err(error),
            }
        }
    }

    impl AsFd for PacketSocket {
        fn as_fd(&self) -> BorrowedFd<'_> {
            self.fd.as_fd()
        }
    }
}

/// Elsewhere there are no packet sockets: there is nothing to open, and no
/// [`PacketSocket`] to read.
#[cfg(not(target_os = "linux"))]
mod other {
    use std::io;
    use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
    use std::time::SystemTime;

    use knockd_core::filter::Program;
    use knockd_core::wire::LinkType;

    use super::super::{CaptureError, CaptureStats, Placement};

    /// The error of opening or adopting a packet socket here.
    pub(super) fn needs_linux(interface: &str) -> CaptureError {
        CaptureError::new(format!(
            "could not open {interface}: reopening a capture after start needs Linux's packet sockets"
        ))
    }

    /// No packet socket: it cannot be made.
    pub enum PacketSocket {}

    impl PacketSocket {
        pub fn adopt(_fd: OwnedFd, _link: LinkType) -> io::Result<Self> {
            Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "packet sockets are Linux's",
            ))
        }

        pub fn link(&self) -> LinkType {
            match *self {}
        }

        pub fn read_available<F>(&mut self, _max_packets: usize, _on_packet: F) -> io::Result<usize>
        where
            F: FnMut(SystemTime, u32, &[u8]),
        {
            match *self {}
        }

        pub fn stats(&mut self) -> io::Result<CaptureStats> {
            match *self {}
        }

        pub fn set_program(&mut self, _program: &Program) -> io::Result<Placement> {
            match *self {}
        }
    }

    impl AsFd for PacketSocket {
        fn as_fd(&self) -> BorrowedFd<'_> {
            match *self {}
        }
    }
}
