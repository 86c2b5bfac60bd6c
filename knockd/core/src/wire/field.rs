//! Reading a header through named field ranges, as smoltcp's `wire` does
//! (`mod field { pub const SRC_PORT: Field = 0..2; ... }` per header).
//!
//! Each view checks the length of its header once, in its constructor
//! ([`header`]), and keeps it as a fixed-size array whose fields a
//! compile-time assertion places inside it. The reads below still go through
//! `get`, so that no bytes can make them panic; their fallback is never
//! taken, and with the array's length known the check compiles away.

use super::{DecodeError, Layer};

/// A field's byte range within its header.
pub(super) type Field = std::ops::Range<usize>;

/// The first `N` bytes of `bytes` as a header, and the bytes after it: the
/// one length check of a view; a shorter input is truncated in `layer`.
#[inline]
pub(super) fn header<const N: usize>(
    bytes: &[u8],
    layer: Layer,
) -> Result<(&[u8; N], &[u8]), DecodeError> {
    bytes
        .split_first_chunk::<N>()
        .ok_or(DecodeError::Truncated(layer))
}

/// The byte at `at` of a checked header.
#[inline]
pub(super) fn read_u8(header: &[u8], at: usize) -> u8 {
    header.get(at).copied().unwrap_or_default()
}

/// The big-endian 16-bit `field` of a checked header.
#[inline]
pub(super) fn read_u16(header: &[u8], field: Field) -> u16 {
    u16::from_be_bytes(read_bytes(header, field))
}

/// The bytes of `field` of a checked header, as an array of its length.
#[inline]
pub(super) fn read_bytes<const M: usize>(header: &[u8], field: Field) -> [u8; M] {
    header
        .get(field)
        .and_then(|bytes| bytes.try_into().ok())
        .unwrap_or([0; M])
}
