//! What `knockd` and `knock` share: knock sequences and their syntax, TCP
//! flag specs, one-time sequences files, rotating sequences, the Internet
//! checksum and the TCP segment writer both programs put on (or check in)
//! packets, and knock URIs with the profile lines of a rotating door.
//!
//! Portable by construction: std only, no networking and no platform-specific
//! code, so the client that depends on it builds wherever Rust does.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod base32;
pub mod checksum;
pub mod file;
pub mod flags;
pub mod one_time;
pub mod profile_text;
pub mod rotating;
pub mod segment;
pub mod sequence;
pub mod uri;
pub mod visible;

pub use flags::{FlagError, TcpFlag, TcpFlags};
pub use one_time::{OneTimeError, OneTimeErrorKind, OneTimeSequences};
pub use sequence::{Knock, Protocol, Sequence, SequenceError};
pub use visible::Visible;

/// The OS's message for an I/O error without Rust's ` (os error N)` suffix,
/// as C's `strerror` gives it and knockd 0.8 printed it.
pub fn io_message(error: &std::io::Error) -> String {
    let mut text = error.to_string();
    if let Some(suffix) = text.rfind(" (os error ") {
        text.truncate(suffix);
    }
    text
}
