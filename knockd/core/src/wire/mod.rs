//! Decoding captured frames into [`Packet`]s.
//!
//! Hand-written, smoltcp-`wire`-style views: each header type has a
//! `new_checked` constructor that validates lengths (and, for IPv4, the header
//! checksum) once, after which its accessors read the header's named field
//! ranges (`mod field`-style constants per header, read through `field.rs`)
//! out of a fixed-size array and cannot fail. Nothing here trusts a length field
//! without checking it against the bytes that were actually captured, so any
//! byte string yields either a [`Packet`] or a [`DecodeError`], never a panic.
//!
//! TCP and UDP checksums are deliberately *not* verified: with checksum
//! offload (veth, `lo`, most NICs) the kernel hands the capture a segment whose
//! checksum field has not been filled in yet, so a check would drop genuine
//! locally generated or forwarded knocks. The IPv4 header checksum is always
//! computed in software on Linux and is therefore checked, except on BSD
//! loopback links (`DLT_NULL`, `DLT_LOOP`), where lo0's checksum offload can
//! hand BPF a header whose checksum was never computed
//! (`ipv4_header_checksum`).

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

mod field;
mod ip;
mod link;
mod transport;

use std::fmt;

use crate::packet::Packet;

pub(crate) use ip::{
    HeaderChecksum, IPV6_AUTH, IPV6_EXTENSION_HEADERS, IPV6_FRAGMENT, IPV6_HOP_BY_HOP, IPV6_ROUTING,
};
pub use ip::{Ipv4Packet, Ipv6Packet, IPV6_DEST_OPTS};
pub use link::{EthernetFrame, AF_INET, AF_INET6, ETHERTYPE_QINQ, ETHERTYPE_VLAN};

/// The link-layer encapsulations knockd can decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum LinkType {
    /// `DLT_EN10MB`: Ethernet II, also used by Linux `lo` and veth.
    Ethernet,
    /// `DLT_LINUX_SLL` (113): Linux cooked capture v1, e.g. `-i any`.
    LinuxSll,
    /// `DLT_LINUX_SLL2` (276): Linux cooked capture v2.
    LinuxSll2,
    /// `DLT_RAW`, `DLT_IPV4`, `DLT_IPV6`: a bare IP packet (tun, WireGuard, ppp).
    RawIp,
    /// `DLT_NULL` (0): BSD loopback, 4-byte address family in host byte order.
    Null,
    /// `DLT_LOOP` (108): OpenBSD loopback, 4-byte address family in network byte order.
    Loop,
}

impl LinkType {
    /// Every supported link type.
    pub const ALL: [LinkType; 6] = [
        LinkType::Ethernet,
        LinkType::LinuxSll,
        LinkType::LinuxSll2,
        LinkType::RawIp,
        LinkType::Null,
        LinkType::Loop,
    ];

    /// Maps a libpcap `DLT_*` value (as returned by `pcap_datalink`) to a link type.
    pub fn from_dlt(dlt: i32) -> Option<LinkType> {
        match dlt {
            0 => Some(LinkType::Null),
            1 => Some(LinkType::Ethernet),
            // OpenBSD numbers DLT_LOOP 12 and DLT_RAW 14; elsewhere DLT_RAW is 12
            // (14 on some BSDs) and 101 is its savefile LINKTYPE_RAW value.
            #[cfg(target_os = "openbsd")]
            12 => Some(LinkType::Loop),
            #[cfg(not(target_os = "openbsd"))]
            12 => Some(LinkType::RawIp),
            14 | 101 | 228 | 229 => Some(LinkType::RawIp),
            108 => Some(LinkType::Loop),
            113 => Some(LinkType::LinuxSll),
            276 => Some(LinkType::LinuxSll2),
            _ => None,
        }
    }

    /// Whether IPv4 header checksums on this link were computed before the
    /// capture saw them: not on BSD loopback, whose checksum offload leaves
    /// them to nobody (the packet never leaves the host).
    pub(crate) fn ipv4_header_checksum(self) -> HeaderChecksum {
        match self {
            LinkType::Null | LinkType::Loop => HeaderChecksum::Ignore,
            LinkType::Ethernet | LinkType::LinuxSll | LinkType::LinuxSll2 | LinkType::RawIp => {
                HeaderChecksum::Verify
            }
        }
    }

    /// The `DLT_*` value libpcap uses for this link type on this platform.
    pub fn dlt(self) -> i32 {
        match self {
            LinkType::Null => 0,
            LinkType::Ethernet => 1,
            #[cfg(target_os = "openbsd")]
            LinkType::RawIp => 14,
            #[cfg(not(target_os = "openbsd"))]
            LinkType::RawIp => 12,
            LinkType::Loop => 108,
            LinkType::LinuxSll => 113,
            LinkType::LinuxSll2 => 276,
        }
    }
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkType::Ethernet => "ethernet",
            LinkType::LinuxSll => "linux cooked (SLL)",
            LinkType::LinuxSll2 => "linux cooked v2 (SLL2)",
            LinkType::RawIp => "raw IP",
            LinkType::Null => "BSD loopback (NULL)",
            LinkType::Loop => "OpenBSD loopback (LOOP)",
        })
    }
}

/// The header a [`DecodeError`] was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The link-layer header (Ethernet, VLAN tag, SLL, SLL2, NULL/LOOP).
    Link,
    /// The IPv4 header.
    Ipv4,
    /// The fixed IPv6 header.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Extension,
    /// The TCP header.
    Tcp,
    /// The UDP header.
    Udp,
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Layer::Link => "link-layer",
            Layer::Ipv4 => "IPv4",
            Layer::Ipv6 => "IPv6",
            Layer::Ipv6Extension => "IPv6 extension",
            Layer::Tcp => "TCP",
            Layer::Udp => "UDP",
        })
    }
}

/// Something knockd does not decode (not an error in the packet itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Unsupported {
    /// An EtherType / SLL protocol other than IPv4 and IPv6 (or a third VLAN tag).
    EtherType(u16),
    /// A NULL/LOOP address family other than AF_INET and AF_INET6.
    AddressFamily(u32),
    /// An IP version nibble other than 4 and 6.
    IpVersion(u8),
    /// A transport protocol other than TCP and UDP (ICMP, ESP, "no next header", ...).
    Protocol(u8),
    /// A frame tagged for this VLAN, captured on the VLAN's parent interface.
    Vlan(u16),
    /// A packet the host sent (a cooked capture's packet type says so).
    Outgoing,
}

/// Why a frame did not decode into a [`Packet`]. Each variant is a distinct
/// kind the daemon can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeError {
    /// The frame ends inside a header.
    Truncated(Layer),
    /// A header's fields contradict each other or the RFCs (e.g. IHL < 5).
    Malformed(Layer, &'static str),
    /// The IPv4 header checksum is wrong: a corrupt or hand-forged packet.
    BadChecksum,
    /// A non-first IP fragment, which carries no ports.
    Fragment,
    /// Something knockd does not look at.
    Unsupported(Unsupported),
}

impl DecodeError {
    /// The kind of error, for counters.
    pub fn kind(&self) -> DecodeErrorKind {
        match self {
            DecodeError::Truncated(_) => DecodeErrorKind::Truncated,
            DecodeError::Malformed(..) => DecodeErrorKind::Malformed,
            DecodeError::BadChecksum => DecodeErrorKind::BadChecksum,
            DecodeError::Fragment => DecodeErrorKind::Fragment,
            DecodeError::Unsupported(_) => DecodeErrorKind::Unsupported,
        }
    }
}

/// The kinds of [`DecodeError`], without their details: what a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    /// [`DecodeError::Truncated`].
    Truncated,
    /// [`DecodeError::Malformed`].
    Malformed,
    /// [`DecodeError::BadChecksum`].
    BadChecksum,
    /// [`DecodeError::Fragment`].
    Fragment,
    /// [`DecodeError::Unsupported`].
    Unsupported,
}

impl DecodeErrorKind {
    /// Every kind, in the order of [`DecodeErrorKind::index`].
    pub const ALL: [DecodeErrorKind; 5] = [
        DecodeErrorKind::Truncated,
        DecodeErrorKind::Malformed,
        DecodeErrorKind::BadChecksum,
        DecodeErrorKind::Fragment,
        DecodeErrorKind::Unsupported,
    ];

    /// The kind's position in [`DecodeErrorKind::ALL`], to index an array of counters.
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short fixed name.
    pub fn name(self) -> &'static str {
        match self {
            DecodeErrorKind::Truncated => "truncated",
            DecodeErrorKind::Malformed => "malformed",
            DecodeErrorKind::BadChecksum => "bad checksum",
            DecodeErrorKind::Fragment => "fragment",
            DecodeErrorKind::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated(layer) => write!(f, "truncated {layer} header"),
            DecodeError::Malformed(layer, why) => write!(f, "malformed {layer} header: {why}"),
            DecodeError::BadChecksum => f.write_str("bad IPv4 header checksum"),
            DecodeError::Fragment => f.write_str("non-first IP fragment"),
            DecodeError::Unsupported(Unsupported::EtherType(t)) => {
                write!(f, "unsupported link-layer protocol 0x{t:04x}")
            }
            DecodeError::Unsupported(Unsupported::AddressFamily(af)) => {
                write!(f, "unsupported loopback address family {af}")
            }
            DecodeError::Unsupported(Unsupported::IpVersion(v)) => {
                write!(f, "packet is not IPv4 or IPv6 (version {v})")
            }
            DecodeError::Unsupported(Unsupported::Protocol(p)) => {
                write!(f, "unsupported IP protocol {p}")
            }
            DecodeError::Unsupported(Unsupported::Outgoing) => {
                f.write_str("a packet this host sent")
            }
            DecodeError::Unsupported(Unsupported::Vlan(id)) => {
                write!(
                    f,
                    "frame of VLAN {id}, which counts on that VLAN's own interface"
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}

/// EtherType of IPv4.
pub const ETHERTYPE_IPV4: u16 = 0x0800;
/// EtherType of IPv6.
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
/// IP protocol number of TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number of UDP.
pub const PROTO_UDP: u8 = 17;

/// Decodes one captured frame of the given link type into a TCP/UDP [`Packet`].
pub fn decode(link: LinkType, frame: &[u8]) -> Result<Packet, DecodeError> {
    let network = link::network_layer(link, frame)?;
    let ipv4 = |bytes| Ipv4Packet::new_checked_with(bytes, link.ipv4_header_checksum());
    let datagram = match network {
        link::Network::Ipv4(bytes) => ipv4(bytes)?.datagram()?,
        link::Network::Ipv6(bytes) => Ipv6Packet::new_checked(bytes)?.datagram()?,
        link::Network::ByVersion(bytes) => match bytes.first().map(|b| b >> 4) {
            Some(4) => ipv4(bytes)?.datagram()?,
            Some(6) => Ipv6Packet::new_checked(bytes)?.datagram()?,
            Some(v) => return Err(DecodeError::Unsupported(Unsupported::IpVersion(v))),
            None => return Err(DecodeError::Truncated(Layer::Ipv4)),
        },
    };
    datagram.into_packet()
}
