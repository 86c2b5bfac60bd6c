//! A thin wrapper over the `pcap` crate: the live capture the daemon polls.
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

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use pcap::{Activated, Active};

use knockd_core::filter::bpf::Instruction;
use knockd_core::filter::{Program, KERNEL_MAX_INSTRUCTIONS};
use knockd_core::wire::LinkType;

use crate::sys;

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
        use socket2::{Domain, SockFilter, Socket, Type};
        const _: () = assert!(
            knockd_core::filter::SKF_AD_PROTOCOL
                == (libc::SKF_AD_OFF + libc::SKF_AD_PROTOCOL) as u32
        );
        let filters: Vec<SockFilter> = instructions
            .iter()
            .map(|i| SockFilter::new(i.code, i.jt, i.jf, i.k))
            .collect();
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, None).ok()?;
        Some(socket.attach_filter(&filters).is_ok())
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = instructions;
        None
    }
}

/// Where a capture filter runs once installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// In the kernel: packets it drops never reach knockd.
    Kernel,
    /// In user space: the kernel refused the program, so libpcap copies every
    /// packet out and filters it in knockd's process.
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

/// A libpcap capture: live (`Capture<Active>`, from [`Capture::open`]), or
/// in tests a savefile.
pub struct Capture<S: Activated + ?Sized = Active> {
    handle: pcap::Capture<S>,
    /// The interface name or file path, for messages.
    source: String,
    /// The program installed last and where it ran, so that installing the
    /// same again (a reload that changed no door) leaves the socket alone:
    /// libpcap's filter change briefly drops every packet.
    installed: Option<(Program, Placement)>,
}

impl Capture<Active> {
    /// Opens `interface` with the default [`CaptureOptions`].
    pub fn open(interface: &str) -> Result<Self, CaptureError> {
        Capture::open_with(interface, CaptureOptions::default())
    }

    /// Opens `interface`: not promiscuous, immediate mode, nonblocking, and with
    /// its descriptor closed on exec so command children never inherit it.
    pub fn open_with(interface: &str, options: CaptureOptions) -> Result<Self, CaptureError> {
        let open_error = |e: pcap::Error| {
            let text = pcap_text(&e);
            CaptureError {
                hint: open_hint(&text),
                message: format!("could not open {interface}: {text}"),
            }
        };
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
            handle,
            source: interface.to_owned(),
            installed: None,
        };
        capture
            .set_cloexec()
            .map_err(|e| CaptureError::new(format!("could not open {interface}: fcntl: {e}")))?;
        Ok(capture)
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
        self.set_program(program)?;
        let placement = match self.kernel_filter_len()? {
            Some(len) if len == program.len() => Placement::Kernel,
            Some(_) => Placement::UserSpace,
            // Elsewhere the kernel cannot be asked; KERNEL_MAX_INSTRUCTIONS
            // keeps programs within what it takes.
            None => Placement::Kernel,
        };
        self.installed = Some((program.clone(), placement));
        Ok(placement)
    }

    /// The length of the filter attached to the capture socket (0: none,
    /// libpcap filters in user space), or `None` where the kernel cannot be
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
        let stat = self
            .handle
            .stats()
            .map_err(|e| CaptureError::new(format!("pcap_stats: {}", pcap_text(&e))))?;
        Ok(CaptureStats {
            received: stat.received,
            dropped: stat.dropped,
            interface_dropped: stat.if_dropped,
        })
    }
}

impl AsFd for Capture<Active> {
    /// The descriptor to poll for readability.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.handle.as_fd()
    }
}

impl AsRawFd for Capture<Active> {
    fn as_raw_fd(&self) -> RawFd {
        self.handle.as_raw_fd()
    }
}

impl<S: Activated + ?Sized> Capture<S> {
    /// The link type, or an error naming an unsupported one.
    pub fn link_type(&self) -> Result<LinkType, CaptureError> {
        let dlt = self.handle.get_datalink();
        LinkType::from_dlt(dlt.0).ok_or_else(|| {
            let name = dlt
                .get_name()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            CaptureError::new(format!("unsupported link-layer type: {}{name}", dlt.0))
        })
    }

    /// Installs a generated filter program with `pcap_setfilter`, so that
    /// libpcap's own copy (which it runs in user space when it must) is this
    /// program. On Linux libpcap also attaches it to the socket, or falls back
    /// to user space if the kernel refuses it: see [`Capture::install_program`].
    pub fn set_program(&mut self, program: &Program) -> Result<(), CaptureError> {
        sys::filter::set_filter(&mut self.handle, program.instructions())
            .map_err(|text| CaptureError::new(format!("pcap_setfilter: {text}")))
    }

    /// Reads up to `max_packets` packets that are ready, calling
    /// `on_packet(timestamp, wire_length, captured_bytes)` for each, and
    /// returns how many were read. It stops early when libpcap has nothing more
    /// (nonblocking "no packet yet", or the end of a savefile).
    pub fn read_available<F>(
        &mut self,
        max_packets: usize,
        mut on_packet: F,
    ) -> Result<usize, CaptureError>
    where
        F: FnMut(SystemTime, u32, &[u8]),
    {
        let mut read = 0;
        while read < max_packets {
            match self.handle.next_packet() {
                Ok(packet) => {
                    let header = packet.header;
                    on_packet(timestamp(&header.ts), header.len, packet.data);
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

/// A capture timestamp as wall-clock time; nonsense values become the epoch.
fn timestamp(ts: &libc::timeval) -> SystemTime {
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let micros = u64::try_from(ts.tv_usec).unwrap_or(0);
    UNIX_EPOCH
        .checked_add(Duration::from_secs(secs))
        .and_then(|t| t.checked_add(Duration::from_micros(micros)))
        .unwrap_or(UNIX_EPOCH)
}

#[cfg(test)]
mod tests;
