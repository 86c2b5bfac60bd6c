//! Link-layer headers: Ethernet (with VLAN tags), Linux cooked v1/v2 and
//! BSD loopback.

use super::field::{self, Field};
use super::{DecodeError, Layer, LinkType, Unsupported, ETHERTYPE_IPV4, ETHERTYPE_IPV6};

/// The fields of the Ethernet II header.
mod ethernet {
    use super::Field;

    pub(crate) const ETHERTYPE: Field = 12..14;
    pub(crate) const HEADER_LEN: usize = 14;
    const _: () = assert!(ETHERTYPE.end <= HEADER_LEN);
}

/// The fields of an 802.1Q/802.1ad VLAN tag, after its tag protocol id
/// (which stands where the EtherType would).
mod vlan_tag {
    use super::Field;

    /// Priority, drop eligibility and, in the low 12 bits, the VLAN id.
    pub(crate) const TCI: Field = 0..2;
    pub(crate) const ETHERTYPE: Field = 2..4;
    pub(crate) const LEN: usize = 4;
    pub(crate) const VLAN_ID_MASK: u16 = 0x0fff;
    const _: () = assert!(ETHERTYPE.end <= LEN);
}

/// The fields of the Linux cooked (SLL, v1) header.
mod sll {
    use super::Field;

    pub(crate) const PACKET_TYPE: Field = 0..2;
    pub(crate) const PROTOCOL: Field = 14..16;
    pub(crate) const HEADER_LEN: usize = 16;
    const _: () = assert!(PROTOCOL.end <= HEADER_LEN);
}

/// The fields of the Linux cooked v2 (SLL2) header.
mod sll2 {
    use super::Field;

    pub(crate) const PROTOCOL: Field = 0..2;
    pub(crate) const PACKET_TYPE: usize = 10;
    pub(crate) const HEADER_LEN: usize = 20;
    const _: () = assert!(PACKET_TYPE < HEADER_LEN);
}

/// The field of the BSD loopback header.
mod loopback {
    use super::Field;

    pub(crate) const FAMILY: Field = 0..4;
    pub(crate) const HEADER_LEN: usize = 4;
    const _: () = assert!(FAMILY.end <= HEADER_LEN);
}

/// 802.1Q customer VLAN tag.
pub const ETHERTYPE_VLAN: u16 = 0x8100;
/// 802.1ad service VLAN tag (QinQ outer tag).
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
/// Pre-standard QinQ outer tag still emitted by some switches.
const ETHERTYPE_QINQ_LEGACY: u16 = 0x9100;
/// At most an outer and an inner tag; a third is refused rather than walked.
const MAX_VLAN_TAGS: usize = 2;

/// `AF_INET`, the same on every platform.
pub const AF_INET: u32 = 2;
/// `AF_INET6` on Linux, NetBSD/OpenBSD, FreeBSD and macOS: a capture may come
/// from any of them.
pub const AF_INET6: [u32; 4] = [10, 24, 28, 30];

/// Where the IP header starts and what the link layer says it is.
pub(crate) enum Network<'a> {
    /// The link layer says IPv4.
    Ipv4(&'a [u8]),
    /// The link layer says IPv6.
    Ipv6(&'a [u8]),
    /// No link layer: the version nibble decides.
    ByVersion(&'a [u8]),
}

/// Strips the link-layer header of `frame`.
pub(crate) fn network_layer(link: LinkType, frame: &[u8]) -> Result<Network<'_>, DecodeError> {
    match link {
        LinkType::Ethernet => {
            let eth = EthernetFrame::new_checked(frame)?;
            // A frame of a VLAN counts on that VLAN's interface, not on its
            // parent, which also sees it (the kernel drops it when the host
            // has no such VLAN). Priority tags (VLAN 0) are no VLAN.
            if let Some(vlan) = eth.vlan() {
                return Err(DecodeError::Unsupported(Unsupported::Vlan(vlan)));
            }
            by_ethertype(eth.ethertype(), eth.payload())
        }
        // Cooked captures (`-i any`) see the host's own outgoing packets
        // too; only what the host receives can knock.
        LinkType::LinuxSll => {
            let sll = SllHeader::new_checked(frame)?;
            refuse_outgoing(sll.packet_type())?;
            by_ethertype(sll.protocol(), sll.payload())
        }
        LinkType::LinuxSll2 => {
            let sll2 = Sll2Header::new_checked(frame)?;
            refuse_outgoing(sll2.packet_type())?;
            by_ethertype(sll2.protocol(), sll2.payload())
        }
        LinkType::RawIp => Ok(Network::ByVersion(frame)),
        LinkType::Null | LinkType::Loop => {
            let lo = LoopbackHeader::new_checked(link, frame)?;
            match lo.family() {
                AF_INET => Ok(Network::Ipv4(lo.payload())),
                af if AF_INET6.contains(&af) => Ok(Network::Ipv6(lo.payload())),
                af => Err(DecodeError::Unsupported(Unsupported::AddressFamily(af))),
            }
        }
    }
}

/// Linux's packet type of a frame the host sent (`PACKET_OUTGOING`).
const PACKET_OUTGOING: u16 = 4;

fn refuse_outgoing(packet_type: u16) -> Result<(), DecodeError> {
    if packet_type == PACKET_OUTGOING {
        return Err(DecodeError::Unsupported(Unsupported::Outgoing));
    }
    Ok(())
}

fn by_ethertype(ethertype: u16, payload: &[u8]) -> Result<Network<'_>, DecodeError> {
    match ethertype {
        ETHERTYPE_IPV4 => Ok(Network::Ipv4(payload)),
        ETHERTYPE_IPV6 => Ok(Network::Ipv6(payload)),
        other => Err(DecodeError::Unsupported(Unsupported::EtherType(other))),
    }
}

fn is_vlan_tag(ethertype: u16) -> bool {
    matches!(
        ethertype,
        ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_LEGACY
    )
}

/// A checked view of an Ethernet II frame, with up to two VLAN tags walked.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<'a> {
    ethertype: u16,
    vlan_tags: usize,
    vlan: Option<u16>,
    payload: &'a [u8],
}

impl<'a> EthernetFrame<'a> {
    /// Validates the Ethernet header and any VLAN tags of `frame`.
    pub fn new_checked(frame: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, mut payload) = field::header::<{ ethernet::HEADER_LEN }>(frame, Layer::Link)?;
        let mut ethertype = field::read_u16(header, ethernet::ETHERTYPE);
        let mut vlan_tags = 0;
        let mut vlan = None;
        while is_vlan_tag(ethertype) && vlan_tags < MAX_VLAN_TAGS {
            let (tag, rest) = field::header::<{ vlan_tag::LEN }>(payload, Layer::Link)?;
            let id = field::read_u16(tag, vlan_tag::TCI) & vlan_tag::VLAN_ID_MASK;
            if id != 0 {
                vlan = vlan.or(Some(id));
            }
            ethertype = field::read_u16(tag, vlan_tag::ETHERTYPE);
            payload = rest;
            vlan_tags += 1;
        }
        Ok(EthernetFrame {
            ethertype,
            vlan_tags,
            vlan,
            payload,
        })
    }

    /// The EtherType after the VLAN tags.
    pub(crate) fn ethertype(&self) -> u16 {
        self.ethertype
    }

    /// How many VLAN tags were skipped.
    pub fn vlan_tags(&self) -> usize {
        self.vlan_tags
    }

    /// The outermost VLAN id other than 0 (a priority tag) among the tags.
    pub fn vlan(&self) -> Option<u16> {
        self.vlan
    }

    /// The network-layer bytes.
    pub(crate) fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// A checked view of a Linux cooked (SLL, v1) header: 16 bytes, protocol at 14.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SllHeader<'a> {
    header: &'a [u8; sll::HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> SllHeader<'a> {
    /// Validates the 16-byte SLL header of `frame`.
    pub(crate) fn new_checked(frame: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, payload) = field::header::<{ sll::HEADER_LEN }>(frame, Layer::Link)?;
        Ok(SllHeader { header, payload })
    }

    /// The protocol (an EtherType for IP).
    pub(crate) fn protocol(&self) -> u16 {
        field::read_u16(self.header, sll::PROTOCOL)
    }

    /// Linux's packet type: 0 to the host, 4 sent by it, ...
    pub(crate) fn packet_type(&self) -> u16 {
        field::read_u16(self.header, sll::PACKET_TYPE)
    }

    /// The network-layer bytes.
    pub(crate) fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// A checked view of a Linux cooked v2 (SLL2) header: 20 bytes, protocol at 0.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sll2Header<'a> {
    header: &'a [u8; sll2::HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> Sll2Header<'a> {
    /// Validates the 20-byte SLL2 header of `frame`.
    pub(crate) fn new_checked(frame: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, payload) = field::header::<{ sll2::HEADER_LEN }>(frame, Layer::Link)?;
        Ok(Sll2Header { header, payload })
    }

    /// The protocol (an EtherType for IP).
    pub(crate) fn protocol(&self) -> u16 {
        field::read_u16(self.header, sll2::PROTOCOL)
    }

    /// Linux's packet type: 0 to the host, 4 sent by it, ...
    pub(crate) fn packet_type(&self) -> u16 {
        u16::from(field::read_u8(self.header, sll2::PACKET_TYPE))
    }

    /// The network-layer bytes.
    pub(crate) fn payload(&self) -> &'a [u8] {
        self.payload
    }
}

/// A checked view of a BSD loopback header (`DLT_NULL` / `DLT_LOOP`): a 4-byte
/// address family.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopbackHeader<'a> {
    family: u32,
    payload: &'a [u8],
}

impl<'a> LoopbackHeader<'a> {
    /// Validates the 4-byte header of `frame`. `DLT_LOOP` stores the family in
    /// network byte order; `DLT_NULL` in the byte order of the capturing host,
    /// so a family that is unknown in ours is tried byte-swapped (a savefile
    /// written on a host of the other endianness).
    pub(crate) fn new_checked(link: LinkType, frame: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, payload) = field::header::<{ loopback::HEADER_LEN }>(frame, Layer::Link)?;
        let family_bytes = field::read_bytes(header, loopback::FAMILY);
        let family = if link == LinkType::Loop {
            u32::from_be_bytes(family_bytes)
        } else {
            let native = u32::from_ne_bytes(family_bytes);
            let known = |af: u32| af == AF_INET || AF_INET6.contains(&af);
            if known(native) || !known(native.swap_bytes()) {
                native
            } else {
                native.swap_bytes()
            }
        };
        Ok(LoopbackHeader { family, payload })
    }

    /// The address family, in host byte order.
    pub(crate) fn family(&self) -> u32 {
        self.family
    }

    /// The network-layer bytes.
    pub(crate) fn payload(&self) -> &'a [u8] {
        self.payload
    }
}
