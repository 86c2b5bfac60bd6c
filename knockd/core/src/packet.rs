//! What the matching engine sees of one captured packet.

use std::net::IpAddr;

use knock_proto::Protocol;

/// A decoded TCP or UDP packet: addresses, ports and, for TCP, the flag byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Source address (the knocker).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// TCP or UDP.
    pub protocol: Protocol,
    /// Source port.
    pub src_port: u16,
    /// Destination port (the knocked port).
    pub dst_port: u16,
    /// The TCP header's flag byte (offset 13: CWR ECE URG ACK PSH RST SYN FIN); 0 for UDP.
    pub tcp_flags: u8,
}
