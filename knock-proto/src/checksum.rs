//! The Internet checksum (RFC 1071) and the TCP/UDP pseudo-header, shared by
//! the client's raw knocks and the server's IPv4 header check and frame builders.

use std::net::IpAddr;

/// Adds `bytes` as big-endian 16-bit words (an odd last byte is padded with
/// zero on the right) to a running one's-complement sum, folded to 16 bits.
pub fn sum(mut acc: u32, bytes: &[u8]) -> u32 {
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        if let [hi, lo] = word {
            acc = fold(acc + u32::from(u16::from_be_bytes([*hi, *lo])));
        }
    }
    if let [last] = words.remainder() {
        acc = fold(acc + (u32::from(*last) << 8));
    }
    acc
}

/// Finishes a running sum into the value of a checksum field. Over data whose
/// checksum field is already filled in, the result is 0: that is how a
/// receiver verifies it.
pub fn finish(acc: u32) -> u16 {
    !u16::try_from(fold(acc)).expect("fold leaves at most 16 bits")
}

/// The running sum of the TCP/UDP pseudo-header for a segment of `len` bytes.
///
/// The IPv4 (RFC 793) and IPv6 (RFC 8200) pseudo-headers differ in layout
/// only: both add the two addresses, the protocol number and the length, and
/// a length below 65536 sums the same in 16 bits or 32.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> u32 {
    let address = |acc, addr: IpAddr| match addr {
        IpAddr::V4(a) => sum(acc, &a.octets()),
        IpAddr::V6(a) => sum(acc, &a.octets()),
    };
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    let acc = address(address(0, src), dst);
    let acc = sum(acc, &[0, protocol]);
    sum(acc, &len.to_be_bytes())
}

/// The checksum of a TCP or UDP `segment` (its checksum field zero) from `src` to `dst`.
pub fn transport(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> u16 {
    finish(sum(
        pseudo_header(src, dst, protocol, segment.len()),
        segment,
    ))
}

fn fold(mut acc: u32) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(finish(sum(0, &bytes)), !0xddf2);
    }

    #[test]
    fn an_odd_last_byte_is_padded_on_the_right() {
        assert_eq!(sum(0, &[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
    }

    #[test]
    fn a_filled_in_segment_verifies_to_zero_for_both_families() {
        for (src, dst) in [("198.18.1.2", "198.18.1.1"), ("fd00:1::2", "fd00:1::1")] {
            let (src, dst): (IpAddr, IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
            let mut segment = vec![
                0x9c, 0x40, 0x1b, 0x58, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0,
                7,
            ];
            let value = transport(src, dst, 6, &segment);
            segment[16..18].copy_from_slice(&value.to_be_bytes());
            assert_eq!(transport(src, dst, 6, &segment), 0, "{src}");
        }
    }
}
