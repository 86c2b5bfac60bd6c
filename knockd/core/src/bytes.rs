//! knockd.conf text that is not UTF-8, carried in Rust strings.
//!
//! knockd 0.8 reads its configuration as bytes: a section name or a command
//! may hold a Latin-1 `Tür`, and the command reaches `/bin/sh` byte for
//! byte. knockd keeps such text in `String`s by storing each byte that is
//! not part of valid UTF-8 as one private-use character, U+10FF00 + byte
//! ([`decode`]), and turns those back into the same bytes wherever the text
//! leaves knockd: the command given to the shell, the log lines, a rotating
//! door's label ([`encode`]). Inside knockd the text compares, hashes and
//! prints like any other.
//!
//! The mapping is exact both ways: a file that literally holds one of those
//! private-use characters has its bytes stored one by one too, so
//! `encode(decode(bytes)) == bytes` for any bytes.

// An input path: any bytes must give a value, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::borrow::Cow;

/// The first of the 256 characters that stand for raw bytes.
const BASE: u32 = 0x10_FF00;

/// The character standing for the raw `byte`.
fn escaped(byte: u8) -> char {
    // BASE + 0xFF = U+10FFFF, the last valid scalar value.
    char::from_u32(BASE + u32::from(byte)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

/// The raw byte `c` stands for, if it is one of the escape characters.
pub fn raw_byte(c: char) -> Option<u8> {
    u32::from(c)
        .checked_sub(BASE)
        .and_then(|b| u8::try_from(b).ok())
}

/// `bytes` as a string: valid UTF-8 as it is, every other byte (and every
/// byte of a literal escape character) as its escape character. Borrows
/// when there is nothing to escape.
pub fn decode(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) if !text.chars().any(|c| raw_byte(c).is_some()) => Cow::Borrowed(text),
        _ => Cow::Owned(decode_slow(bytes)),
    }
}

fn decode_slow(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    while !bytes.is_empty() {
        let (valid, rest) = match std::str::from_utf8(bytes) {
            Ok(text) => (text, &[][..]),
            Err(error) => {
                let (valid, rest) = bytes.split_at(error.valid_up_to());
                // `valid_up_to` marks where the valid prefix ends.
                (std::str::from_utf8(valid).unwrap_or_default(), rest)
            }
        };
        for c in valid.chars() {
            if raw_byte(c).is_some() {
                let mut buf = [0; 4];
                for &b in c.encode_utf8(&mut buf).as_bytes() {
                    out.push(escaped(b));
                }
            } else {
                out.push(c);
            }
        }
        // The byte that is not UTF-8, escaped; go on after it.
        if let Some((&bad, after)) = rest.split_first() {
            out.push(escaped(bad));
            bytes = after;
        } else {
            bytes = rest;
        }
    }
    out
}

/// The bytes `text` stands for: escape characters back to their raw bytes.
/// Borrows when there are none.
pub fn encode(text: &str) -> Cow<'_, [u8]> {
    if !text.chars().any(|c| raw_byte(c).is_some()) {
        return Cow::Borrowed(text.as_bytes());
    }
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match raw_byte(c) {
            Some(b) => out.push(b),
            None => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn utf8_is_borrowed_and_latin1_round_trips() {
        assert!(matches!(decode(b"T\xc3\xbcr"), Cow::Borrowed("Tür")));
        let latin1 = b"echo T\xfcr %IP%";
        let text = decode(latin1);
        assert_eq!(text.chars().count(), latin1.len());
        assert!(text.starts_with("echo T") && text.ends_with("r %IP%"));
        assert_eq!(text.chars().find_map(raw_byte), Some(0xfc));
        assert_eq!(&*encode(&text), latin1);
        assert!(matches!(encode("plain"), Cow::Borrowed(b"plain")));
    }

    #[test]
    fn a_literal_escape_character_is_kept_byte_for_byte() {
        let literal = "a\u{10FF41}b".as_bytes();
        let text = decode(literal);
        assert_eq!(text.chars().count(), 6, "{text:?}");
        assert_eq!(&*encode(&text), literal);
    }

    proptest! {
        #[test]
        fn any_bytes_round_trip(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let text = decode(&bytes);
            prop_assert_eq!(&*encode(&text), &bytes[..]);
        }
    }
}
