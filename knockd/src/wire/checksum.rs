//! The Internet checksum (RFC 1071).

/// Adds `bytes` as big-endian 16-bit words (an odd last byte is padded with
/// zero) to a running one's-complement sum.
pub(crate) fn sum(mut acc: u32, bytes: &[u8]) -> u32 {
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

/// Finishes a running sum into the checksum field value.
pub(crate) fn finish(acc: u32) -> u16 {
    // `fold` keeps acc below 0x1_0000, so the cast is exact.
    !(fold(acc) as u16)
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
    fn odd_length_pads_with_zero() {
        assert_eq!(sum(0, &[0x12]), 0x1200);
    }
}
