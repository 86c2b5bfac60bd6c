//! A thin wrapper over the `pcap` crate: the live capture the daemon polls.
//!
//! The live capture is nonblocking and in immediate mode: the daemon polls its
//! descriptor together with signals and timers, and libpcap's read timeout
//! never fires on an idle interface, so a blocking read could hang forever.

use std::fmt;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::fcntl::{fcntl, FcntlArg, FdFlag};
use pcap::{Activated, Active};

use knockd_core::wire::LinkType;

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
    fn new(message: String) -> Self {
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

    /// Compiles (optimized) and installs a filter expression.
    pub fn set_filter(&mut self, expression: &str) -> Result<(), CaptureError> {
        // Compile first on its own so the two failures read as in 0.8.
        self.handle
            .compile(expression, true)
            .map_err(|e| CaptureError::new(format!("pcap_compile: {}", pcap_text(&e))))?;
        self.handle
            .filter(expression, true)
            .map_err(|e| CaptureError::new(format!("pcap_setfilter: {}", pcap_text(&e))))
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

/// Checks that libpcap compiles `expression` (for an Ethernet link), so a
/// configuration can be validated without opening a device.
pub fn compile_filter(expression: &str) -> Result<(), pcap::Error> {
    pcap::Capture::dead(pcap::Linktype::ETHERNET)?
        .compile(expression, true)
        .map(drop)
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
