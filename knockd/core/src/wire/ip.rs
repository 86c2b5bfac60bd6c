//! IPv4 and IPv6 headers, and the walk to the transport header.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use knock_proto::Protocol;

use super::field::{self, Field};
use super::transport::{TcpHeader, UdpHeader};
use super::{DecodeError, Layer, Unsupported, PROTO_TCP, PROTO_UDP};
use crate::packet::Packet;
use knock_proto::checksum;

/// IPv6 extension header: hop-by-hop options.
pub(crate) const IPV6_HOP_BY_HOP: u8 = 0;
/// IPv6 extension header: routing.
pub(crate) const IPV6_ROUTING: u8 = 43;
/// IPv6 extension header: fragment.
pub(crate) const IPV6_FRAGMENT: u8 = 44;
/// IPv6 extension header: authentication header.
pub(crate) const IPV6_AUTH: u8 = 51;
/// IPv6 extension header: destination options.
pub const IPV6_DEST_OPTS: u8 = 60;

/// The IPv6 extension headers the decoder walks to reach TCP/UDP (hop-by-hop,
/// routing, fragment, AH, destination options), by protocol number.
pub(crate) const IPV6_EXTENSION_HEADERS: [u8; 5] = [
    IPV6_HOP_BY_HOP,
    IPV6_ROUTING,
    IPV6_FRAGMENT,
    IPV6_AUTH,
    IPV6_DEST_OPTS,
];

/// The fields of the IPv4 header (RFC 791).
mod ipv4 {
    use super::Field;

    /// The version is the high nibble, the header length in 4-byte words
    /// (IHL) the low one.
    pub(crate) const VER_IHL: usize = 0;
    pub(crate) const LENGTH: Field = 2..4;
    /// Flags (3 bits) and fragment offset (13 bits).
    pub(crate) const FLG_OFF: Field = 6..8;
    pub(crate) const PROTOCOL: usize = 9;
    pub(crate) const SRC_ADDR: Field = 12..16;
    pub(crate) const DST_ADDR: Field = 16..20;
    /// The fixed header, without options.
    pub(crate) const HEADER_LEN: usize = 20;
    const _: () = assert!(DST_ADDR.end <= HEADER_LEN);
}

/// The fields of the fixed IPv6 header (RFC 8200).
mod ipv6 {
    use super::Field;

    /// The version is the high nibble.
    pub(crate) const VER_TC_FLOW: usize = 0;
    pub(crate) const LENGTH: Field = 4..6;
    pub(crate) const NXT_HDR: usize = 6;
    pub(crate) const SRC_ADDR: Field = 8..24;
    pub(crate) const DST_ADDR: Field = 24..40;
    pub(crate) const HEADER_LEN: usize = 40;
    const _: () = assert!(DST_ADDR.end <= HEADER_LEN);
}

/// The fields every IPv6 extension header starts with, and those of the
/// fragment header (RFC 8200).
mod ext_header {
    use super::Field;

    pub(crate) const NXT_HDR: usize = 0;
    /// The length, in units that depend on the header.
    pub(crate) const LENGTH: usize = 1;
    /// What every extension header has.
    pub(crate) const MIN_LEN: usize = 2;
    /// The fragment offset (13 bits) and flags (3 bits) of a fragment header.
    pub(crate) const FRAGMENT_OFF_FLG: Field = 2..4;
    /// A fragment header's fixed length.
    pub(crate) const FRAGMENT_LEN: usize = 8;
    const _: () = assert!(LENGTH < MIN_LEN && FRAGMENT_OFF_FLG.end <= FRAGMENT_LEN);
}

/// A chain longer than this is refused: real packets carry at most a handful,
/// and the bound keeps a crafted chain from costing more than a few steps.
const MAX_EXTENSION_HEADERS: usize = 8;

/// An IP packet reduced to what the transport decoder needs.
pub(crate) struct Datagram<'a> {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    /// The transport header and payload, cut to the IP length and the captured bytes.
    payload: &'a [u8],
}

impl Datagram<'_> {
    /// Decodes the TCP or UDP header and assembles the [`Packet`].
    pub(crate) fn into_packet(self) -> Result<Packet, DecodeError> {
        let (protocol, src_port, dst_port, tcp_flags) = match self.protocol {
            PROTO_TCP => {
                let tcp = TcpHeader::new_checked(self.payload)?;
                (Protocol::Tcp, tcp.src_port(), tcp.dst_port(), tcp.flags())
            }
            PROTO_UDP => {
                let udp = UdpHeader::new_checked(self.payload)?;
                (Protocol::Udp, udp.src_port(), udp.dst_port(), 0)
            }
            other => return Err(DecodeError::Unsupported(Unsupported::Protocol(other))),
        };
        Ok(Packet {
            src: self.src,
            dst: self.dst,
            protocol,
            src_port,
            dst_port,
            tcp_flags,
        })
    }
}

/// Whether an IPv4 header checksum can be trusted to have been computed
/// (smoltcp's per-device checksum capabilities, reduced to the one knockd needs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderChecksum {
    /// The sender's kernel computed it: a wrong one marks a corrupt or forged packet.
    Verify,
    /// It may never have been computed (checksum offload on BSD loopback,
    /// where BPF sees the packet first), so it is not looked at.
    Ignore,
}

/// A checked view of an IPv4 packet: version 4, IHL >= 5 and within the
/// captured bytes, total length >= header length, header checksum correct.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<'a> {
    header: &'a [u8; ipv4::HEADER_LEN],
    options: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Ipv4Packet<'a> {
    /// Validates `bytes` as an IPv4 packet (possibly cut short by the snap length
    /// after its header).
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Ipv4Packet::new_checked_with(bytes, HeaderChecksum::Verify)
    }

    /// Validates `bytes` as [`Ipv4Packet::new_checked`] does, checking the
    /// header checksum only when `checksum` says the kernel computed it.
    pub(crate) fn new_checked_with(
        bytes: &'a [u8],
        checksum: HeaderChecksum,
    ) -> Result<Self, DecodeError> {
        let (header, rest) = field::header::<{ ipv4::HEADER_LEN }>(bytes, Layer::Ipv4)?;
        let ver_ihl = field::read_u8(header, ipv4::VER_IHL);
        if ver_ihl >> 4 != 4 {
            return Err(DecodeError::Malformed(Layer::Ipv4, "version is not 4"));
        }
        let header_len = usize::from(ver_ihl & 0x0f) * 4;
        let options_len = header_len
            .checked_sub(ipv4::HEADER_LEN)
            .ok_or(DecodeError::Malformed(Layer::Ipv4, "IHL below 5"))?;
        let options = rest
            .get(..options_len)
            .ok_or(DecodeError::Truncated(Layer::Ipv4))?;
        let total_len = usize::from(field::read_u16(header, ipv4::LENGTH));
        let payload_len = total_len
            .checked_sub(header_len)
            .ok_or(DecodeError::Malformed(
                Layer::Ipv4,
                "total length shorter than the header",
            ))?;
        if checksum == HeaderChecksum::Verify
            && checksum::finish(checksum::sum(checksum::sum(0, header), options)) != 0
        {
            return Err(DecodeError::BadChecksum);
        }
        let after_options = rest.get(options_len..).unwrap_or_default();
        // Ethernet pads short frames and the snap length may cut long ones: keep
        // what the IP length covers, as far as it was captured.
        let payload = after_options.get(..payload_len).unwrap_or(after_options);
        Ok(Ipv4Packet {
            header,
            options,
            payload,
        })
    }

    /// Source address.
    pub(crate) fn src(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::read_bytes::<4>(self.header, ipv4::SRC_ADDR))
    }

    /// Destination address.
    pub(crate) fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::from(field::read_bytes::<4>(self.header, ipv4::DST_ADDR))
    }

    /// The protocol number of the payload.
    pub(crate) fn protocol(&self) -> u8 {
        field::read_u8(self.header, ipv4::PROTOCOL)
    }

    /// Fragment offset in 8-byte units; non-zero for every fragment but the first.
    pub(crate) fn fragment_offset(&self) -> u16 {
        field::read_u16(self.header, ipv4::FLG_OFF) & 0x1fff
    }

    /// The options between the fixed header and the payload (IHL > 5).
    pub fn options(&self) -> &'a [u8] {
        self.options
    }

    /// The transport-layer view; non-first fragments carry no ports.
    pub(crate) fn datagram(&self) -> Result<Datagram<'a>, DecodeError> {
        if self.fragment_offset() != 0 {
            return Err(DecodeError::Fragment);
        }
        Ok(Datagram {
            src: IpAddr::V4(self.src()),
            dst: IpAddr::V4(self.dst()),
            protocol: self.protocol(),
            payload: self.payload,
        })
    }
}

/// A checked view of an IPv6 packet: version 6 and a complete fixed header.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<'a> {
    header: &'a [u8; ipv6::HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> Ipv6Packet<'a> {
    /// Validates `bytes` as an IPv6 packet (possibly cut short by the snap length
    /// after its fixed header).
    pub fn new_checked(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let (header, rest) = field::header::<{ ipv6::HEADER_LEN }>(bytes, Layer::Ipv6)?;
        if field::read_u8(header, ipv6::VER_TC_FLOW) >> 4 != 6 {
            return Err(DecodeError::Malformed(Layer::Ipv6, "version is not 6"));
        }
        let payload_len = usize::from(field::read_u16(header, ipv6::LENGTH));
        let next_header = field::read_u8(header, ipv6::NXT_HDR);
        let payload = if payload_len == 0 && next_header == IPV6_HOP_BY_HOP {
            // A jumbogram: the real length is in a hop-by-hop option.
            rest
        } else {
            rest.get(..payload_len).unwrap_or(rest)
        };
        Ok(Ipv6Packet { header, payload })
    }

    /// Source address.
    pub(crate) fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(field::read_bytes::<16>(self.header, ipv6::SRC_ADDR))
    }

    /// Destination address.
    pub(crate) fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(field::read_bytes::<16>(self.header, ipv6::DST_ADDR))
    }

    /// The fixed header's next-header field.
    pub fn next_header(&self) -> u8 {
        field::read_u8(self.header, ipv6::NXT_HDR)
    }

    /// Walks the extension-header chain (hop-by-hop, routing, fragment,
    /// destination options, AH) to the transport header.
    pub(crate) fn datagram(&self) -> Result<Datagram<'a>, DecodeError> {
        let mut next = self.next_header();
        let mut rest = self.payload;
        let mut walked = 0;
        while IPV6_EXTENSION_HEADERS.contains(&next) {
            if walked == MAX_EXTENSION_HEADERS {
                return Err(DecodeError::Malformed(
                    Layer::Ipv6Extension,
                    "too many extension headers",
                ));
            }
            walked += 1;
            let (ext, _) = field::header::<{ ext_header::MIN_LEN }>(rest, Layer::Ipv6Extension)?;
            let following = field::read_u8(ext, ext_header::NXT_HDR);
            let len = field::read_u8(ext, ext_header::LENGTH);
            let header_len = match next {
                IPV6_FRAGMENT => {
                    let (fragment, _) =
                        field::header::<{ ext_header::FRAGMENT_LEN }>(rest, Layer::Ipv6Extension)?;
                    if field::read_u16(fragment, ext_header::FRAGMENT_OFF_FLG) >> 3 != 0 {
                        return Err(DecodeError::Fragment);
                    }
                    ext_header::FRAGMENT_LEN
                }
                // RFC 4302: AH counts 4-byte units, minus 2.
                IPV6_AUTH => (usize::from(len) + 2) * 4,
                // RFC 8200: 8-byte units, not counting the first 8 bytes.
                _ => (usize::from(len) + 1) * 8,
            };
            rest = rest
                .get(header_len..)
                .ok_or(DecodeError::Truncated(Layer::Ipv6Extension))?;
            next = following;
        }
        Ok(Datagram {
            src: IpAddr::V6(self.src()),
            dst: IpAddr::V6(self.dst()),
            protocol: next,
            payload: rest,
        })
    }
}
