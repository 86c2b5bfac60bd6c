//! The live capture the daemon polls: a thin wrapper over the `pcap` crate,
//! or on Linux a packet socket opened by another process and handed over
//! ([`packet_socket`]), behind the same methods.
//!
//! The live capture is nonblocking and in immediate mode: the daemon polls its
//! descriptor together with signals and timers, and libpcap's read timeout
//! never fires on an idle interface, so a blocking read could hang forever.
//!
//! The capture filter is a classic BPF program knockd generates itself
//! ([`knockd_core::filter::program`]), installed with libpcap's
//! `pcap_setfilter`: libpcap keeps its own copy of it, which it runs in user
//! space where it must (on Linux, for the packets already in the ring when
//! the filter changes), rewrites the offsets for the kernel on cooked (`any`)
//! captures, and attaches it to the socket. Whether the kernel took it is
//! then asked of the socket itself ([`Capture::install_program`]): libpcap
//! falls back to filtering every packet in user space with only a warning on
//! standard error when the kernel refuses a program.

mod packet_socket;

pub use packet_socket::open_packet_socket;

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use pcap::{Activated, Active};

use knockd_core::filter::bpf::Instruction;
use knockd_core::filter::{Program, KERNEL_MAX_INSTRUCTIONS};
use knockd_core::wire::LinkType;

use crate::sys;
use packet_socket::PacketSocket;

/// The longest program worth offering the kernel here, a first guess. On
/// Linux a socket filter is also charged against `net.core.optmem_max` (per
/// network namespace), at 10 to 13 bytes per classic instruction once the
/// kernel has translated it: Linux before 6.9 defaults to 20480 bytes, about
/// 1,600 to 2,000 instructions; later kernels to 131072, more than the 4096
/// allowed. [`kernel_takes`] tells whether a given program fits.
pub fn kernel_budget() -> usize {
    #[cfg(target_os = "linux")]
    {
        /// Kernel bytes per classic instruction, at best.
        const BYTES_PER_INSTRUCTION: usize = 10;
        let optmem = std::fs::read_to_string("/proc/sys/net/core/optmem_max")
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok());
        if let Some(optmem) = optmem {
            return (optmem / BYTES_PER_INSTRUCTION).clamp(256, KERNEL_MAX_INSTRUCTIONS);
        }
    }
    KERNEL_MAX_INSTRUCTIONS
}

/// Whether the kernel takes `instructions` as a socket filter, tried on a
/// throwaway UDP socket: the same checks and the same `optmem_max` charge as
/// on the capture socket, but no fallback to user space (nor libpcap's
/// warning on standard error) when it does not. The instructions are a
/// program's [`kernel_instructions`](knockd_core::filter::kernel_instructions),
/// as libpcap hands them to the kernel. `None` when this cannot be tried
/// (not Linux, no socket).
pub fn kernel_takes(instructions: &[Instruction]) -> Option<bool> {
    #[cfg(target_os = "linux")]
    {
        use socket2::{Domain, Socket, Type};
        const _: () = assert!(
            knockd_core::filter::SKF_AD_PROTOCOL
                == (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32
        );
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).ok()?;
        Some(socket.attach_filter(&sock_filters(instructions)).is_ok())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = instructions;
        None
    }
}

/// `instructions` as the kernel takes them (`struct sock_filter`).
#[cfg(target_os = "linux")]
fn sock_filters(instructions: &[Instruction]) -> Vec<socket2::SockFilter> {
    instructions
        .iter()
        .map(|i| socket2::SockFilter::new(i.code, i.jt, i.jf, i.k))
        .collect()
}

/// Where a capture filter runs once installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the kernel: packets it drops never reach knockd.
    Kernel,
    /// In user space: the kernel refused the program, so libpcap copies every
    /// packet out and filters it in knockd's process. (A packet socket,
    /// which has no filter in user space, keeps its previous program.)
    UserSpace,
}

/// Snap length: headers only. Enough for Ethernet + two VLAN tags + IPv6 with
/// about 130 bytes of extension headers + a TCP header with options. In
/// immediate mode every ring frame is this big, so a small snap length is what
/// lets a small ring hold many packets.
pub const DEFAULT_SNAPLEN: i32 = 256;
/// Kernel ring size: about 6,000 packets of room for bursts (a SYN flood)
/// while the daemon is busy, and no more resident memory than knockd 0.8's
/// default 2 MiB.
pub const DEFAULT_BUFFER_SIZE: i32 = 2 << 20;

/// How a live capture is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// Bytes kept of each packet.
    pub snaplen: i32,
    /// Kernel buffer (ring) size in bytes.
    pub buffer_size: i32,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            snaplen: DEFAULT_SNAPLEN,
            buffer_size: DEFAULT_BUFFER_SIZE,
        }
    }
}

/// Packet counters of a live capture, since it was opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureStats {
    /// Packets that passed the filter.
    pub received: u32,
    /// Packets dropped because the buffer was full.
    pub dropped: u32,
    /// Packets dropped by the interface or its driver.
    pub interface_dropped: u32,
}

/// A capture error, worded for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureError {
    message: String,
    hint: Option<&'static str>,
}

impl CaptureError {
    pub(crate) fn new(message: String) -> Self {
        CaptureError {
            message,
            hint: None,
        }
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(hint) = self.hint {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CaptureError {}

/// libpcap's own text of an error, without the crate's `libpcap error: ` prefix.
fn pcap_text(error: &pcap::Error) -> String {
    match error {
        pcap::Error::PcapError(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The error of opening `interface`, with libpcap's or the system's `text`.
fn open_failed(interface: &str, text: String) -> CaptureError {
    CaptureError {
        hint: open_hint(&text),
        message: format!("could not open {interface}: {text}"),
    }
}

/// A hint for the common reasons an open fails. libpcap reports them only as
/// text (`socket: Operation not permitted`), so the text is what is matched.
fn open_hint(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase();
    if lower.contains("not permitted") || lower.contains("permission") {
        Some("capturing needs privileges: run as root or give knockd CAP_NET_RAW (setcap cap_net_raw+ep)")
    } else if lower.contains("no such device") {
        Some("check the interface name (ip link lists them), or give one with -i")
    } else {
        None
    }
}

/// A live capture (`Capture<Active>`): opened with libpcap
/// ([`Capture::open`]) or a handed-over packet socket
/// ([`Capture::from_packet_socket`]); in tests also a savefile.
pub struct Capture<S: Activated + ?Sized = Active> {
    handle: Handle<S>,
    /// The interface name or file path, for messages.
    source: String,
    /// The program installed last and where it ran, so that installing the
    /// same again (a reload that changed no door) leaves the socket alone:
    /// libpcap's filter change briefly drops every packet.
    installed: Option<(Program, Placement)>,
}

/// What a [`Capture`] reads.
enum Handle<S: Activated + ?Sized> {
    Pcap(pcap::Capture<S>),
    /// Only ever live.
    Socket(PacketSocket),
}

impl Capture<Active> {
    /// Opens `interface` with the default [`CaptureOptions`].
    pub fn open(interface: &str) -> Result<Self, CaptureError> {
        Capture::open_with(interface, CaptureOptions::default())
    }

    /// Opens `interface`: not promiscuous, immediate mode, nonblocking, and with
    /// its descriptor closed on exec so command children never inherit it.
    pub fn open_with(interface: &str, options: CaptureOptions) -> Result<Self, CaptureError> {
        let open_error = |e: pcap::Error| open_failed(interface, pcap_text(&e));
        let handle = pcap::Capture::from_device(interface)
            .map_err(open_error)?
            .promisc(false)
            .immediate_mode(true)
            .snaplen(options.snaplen)
            .buffer_size(options.buffer_size)
            .open()
            .map_err(open_error)?
            .setnonblock()
            .map_err(open_error)?;
        let capture = Capture {
            handle: Handle::Pcap(handle),
            source: interface.to_owned(),
            installed: None,
        };
        capture
            .set_cloexec()
            .map_err(|e| CaptureError::new(format!("could not open {interface}: fcntl: {e}")))?;
        Ok(capture)
    }

    /// The capture of `interface` through `fd`, a packet socket
    /// [`open_packet_socket`] opened for frames of `link`, perhaps in
    /// another process: reading it needs no privilege. It has the default
    /// [`CaptureOptions`]. Fails anywhere but on Linux.
    pub fn from_packet_socket(
        fd: OwnedFd,
        link: LinkType,
        interface: &str,
    ) -> Result<Self, CaptureError> {
        let socket = PacketSocket::adopt(fd, link).map_err(|error| {
            CaptureError::new(format!(
                "could not take over the capture of {interface}: {}",
                knock_proto::io_message(&error)
            ))
        })?;
        Ok(Capture {
            handle: Handle::Socket(socket),
            source: interface.to_owned(),
            installed: None,
        })
    }

    fn set_cloexec(&self) -> nix::Result<()> {
        let fd = self.as_fd();
        let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD)?);
        fcntl(fd, FcntlArg::F_SETFD(flags | FdFlag::FD_CLOEXEC)).map(drop)
    }

    /// Installs `program` ([`Capture::set_program`]) and says where it
    /// runs; the program installed already is not installed again.
    pub fn install_program(&mut self, program: &Program) -> Result<Placement, CaptureError> {
        if let Some((installed, placement)) = &self.installed {
            if installed == program {
                return Ok(*placement);
            }
        }
        self.installed = None;
        let placement = match self.set_program(program)? {
            Some(placement) => placement,
            // libpcap falls back to user space with only a warning: the
            // kernel says whether it took the program.
            None => match self.kernel_filter_len()? {
                Some(len) if len == program.len() => Placement::Kernel,
                Some(_) => Placement::UserSpace,
                // Elsewhere the kernel cannot be asked; KERNEL_MAX_INSTRUCTIONS
                // keeps programs within what it takes.
                None => Placement::Kernel,
            },
        };
        self.installed = Some((program.clone(), placement));
        Ok(placement)
    }

    /// The length of the filter attached to the capture socket (0: none,
    /// libpcap filters in user space; 1 on a packet socket with no program
    /// yet, which passes nothing), or `None` where the kernel cannot be
    /// asked.
    pub fn kernel_filter_len(&self) -> Result<Option<usize>, CaptureError> {
        sys::filter::kernel_filter_len(self.as_fd()).map_err(|error| {
            CaptureError::new(format!(
                "cannot read the capture filter back from the kernel: {}",
                knock_proto::io_message(&error)
            ))
        })
    }

    /// Packet counters since the capture was opened.
    pub fn stats(&mut self) -> Result<CaptureStats, CaptureError> {
        match &mut self.handle {
            Handle::Pcap(handle) => {
                let stat = handle
                    .stats()
                    .map_err(|e| CaptureError::new(format!("pcap_stats: {}", pcap_text(&e))))?;
                Ok(CaptureStats {
                    received: stat.received,
                    dropped: stat.dropped,
                    interface_dropped: stat.if_dropped,
                })
            }
            Handle::Socket(socket) => socket
                .stats()
                .map_err(|e| socket_error("PACKET_STATISTICS", &e, &self.source)),
        }
    }
}

impl AsFd for Capture<Active> {
    /// The descriptor to poll for readability.
    fn as_fd(&self) -> BorrowedFd<'_> {
        match &self.handle {
            Handle::Pcap(handle) => handle.as_fd(),
            Handle::Socket(socket) => socket.as_fd(),
        }
    }
}

impl AsRawFd for Capture<Active> {
    fn as_raw_fd(&self) -> RawFd {
        self.as_fd().as_raw_fd()
    }
}

impl<S: Activated + ?Sized> Capture<S> {
    /// The link type, or an error naming an unsupported one.
    pub fn link_type(&self) -> Result<LinkType, CaptureError> {
        let handle = match &self.handle {
            Handle::Pcap(handle) => handle,
            Handle::Socket(socket) => return Ok(socket.link()),
        };
        let dlt = handle.get_datalink();
        LinkType::from_dlt(dlt.0).ok_or_else(|| {
            let name = dlt
                .get_name()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            CaptureError::new(format!("unsupported link-layer type: {}{name}", dlt.0))
        })
    }

    /// Installs a generated filter program. With libpcap that is
    /// `pcap_setfilter`, so that libpcap's own copy (which it runs in user
    /// space when it must) is this program; on Linux libpcap also attaches
    /// it to the socket, or falls back to user space if the kernel refuses
    /// it, which only the kernel can tell ([`Capture::install_program`]
    /// asks it): this returns `None`. A packet socket gets it attached, or
    /// keeps its filter if the kernel refuses it: this says which.
    pub fn set_program(&mut self, program: &Program) -> Result<Option<Placement>, CaptureError> {
        match &mut self.handle {
            Handle::Pcap(handle) => sys::filter::set_filter(handle, program.instructions())
                .map(|()| None)
                .map_err(|text| CaptureError::new(format!("pcap_setfilter: {text}"))),
            Handle::Socket(socket) => socket
                .set_program(program)
                .map(Some)
                .map_err(|e| socket_error("SO_ATTACH_FILTER", &e, &self.source)),
        }
    }

    /// Reads up to `max_packets` packets that are ready, calling
    /// `on_packet(timestamp, wire_length, captured_bytes)` for each, and
    /// returns how many were read. It stops early when there is nothing more
    /// (nonblocking "no packet yet", or the end of a savefile).
    pub fn read_available<F>(
        &mut self,
        max_packets: usize,
        mut on_packet: F,
    ) -> Result<usize, CaptureError>
    where
        F: FnMut(SystemTime, u32, &[u8]),
    {
        let handle = match &mut self.handle {
            Handle::Pcap(handle) => handle,
            Handle::Socket(socket) => {
                return socket
                    .read_available(max_packets, on_packet)
                    .map_err(|e| socket_error("recvmsg", &e, &self.source))
            }
        };
        let mut read = 0;
        while read < max_packets {
            match handle.next_packet() {
                Ok(packet) => {
                    let header = packet.header;
                    let ts = header.ts;
                    on_packet(
                        timestamp(ts.tv_sec, ts.tv_usec.saturating_mul(1000)),
                        header.len,
                        packet.data,
                    );
                    read += 1;
                }
                Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => break,
                Err(e) => {
                    return Err(CaptureError::new(format!(
                        "pcap: {} ({})",
                        pcap_text(&e),
                        self.source
                    )))
                }
            }
        }
        Ok(read)
    }
}

/// The error of `call` on the packet socket of `source`.
fn socket_error(call: &str, error: &std::io::Error, source: &str) -> CaptureError {
    CaptureError::new(format!(
        "{call}: {} ({source})",
        knock_proto::io_message(error)
    ))
}

/// A capture timestamp as wall-clock time; nonsense values become the epoch.
fn timestamp(seconds: impl TryInto<u64>, nanoseconds: impl TryInto<u64>) -> SystemTime {
    let seconds = seconds.try_into().unwrap_or(0);
    let nanoseconds = nanoseconds.try_into().unwrap_or(0);
    UNIX_EPOCH
        .checked_add(Duration::from_secs(seconds))
        .and_then(|t| t.checked_add(Duration::from_nanos(nanoseconds)))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
