//! RFC 4648 base32 (alphabet `A-Z2-7`), as secret files and knock URIs
//! write a rotating door's key (`docs/rotating-sequences.md` §3).

// An input path: any text must give bytes or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

/// The alphabet, one character per 5-bit value.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `bytes` in upper-case base32 without padding: what [`decode`] reads back.
pub fn encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut bits: u32 = 0;
    let mut held: u32 = 0;
    let mut push = |value: u32| {
        let index = (value & 31) as usize;
        out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'A')));
    };
    for &byte in bytes {
        bits = (bits << 8 | u32::from(byte)) & 0xfff;
        held += 8;
        while held >= 5 {
            held -= 5;
            push(bits >> held);
        }
    }
    if held > 0 {
        // The last character's low bits are zero.
        push(bits << (5 - held));
    }
    out
}

/// Decodes base32: letters in either case, blanks (space, tab) and `=`
/// ignored, leftover bits (fewer than 8) discarded. An error gives the
/// 1-based position of the first character outside the alphabet (never the
/// character: it is part of a secret).
pub fn decode(text: &str) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut bits: u32 = 0;
    let mut held: u32 = 0;
    for (index, ch) in text.chars().enumerate() {
        let value = match ch.to_ascii_uppercase() {
            ' ' | '\t' | '=' => continue,
            c @ 'A'..='Z' => c as u32 - 'A' as u32,
            c @ '2'..='7' => c as u32 - '2' as u32 + 26,
            _ => return Err(index + 1),
        };
        bits = (bits << 5 | value) & 0xffff;
        held += 5;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc_4648_vectors_without_padding() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "MY"),
            (b"fo", "MZXQ"),
            (b"foo", "MZXW6"),
            (b"foob", "MZXW6YQ"),
            (b"fooba", "MZXW6YTB"),
            (b"foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(encode(bytes), text);
            assert_eq!(decode(text).unwrap(), bytes);
        }
    }

    #[test]
    fn a_bad_character_is_given_by_position() {
        assert_eq!(decode("MZ1W"), Err(3));
    }

    proptest! {
        #[test]
        fn encode_reads_back(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            prop_assert_eq!(decode(&encode(&bytes)).unwrap(), bytes);
        }
    }
}
