//! Test scaffolding for knockd, kept out of the production crates: frames
//! with valid checksums in every link type knockd decodes, for unit tests,
//! savefile fixtures, benchmarks, fuzz checks and end-to-end injection; and
//! a classic BPF interpreter ([`bpf`]) that runs the generated capture filter
//! over them.
//!
//! ```
//! use knockd_core::wire::{decode, LinkType};
//! use knockd_testkit::PacketBuilder;
//!
//! let knock = PacketBuilder::tcp(
//!     "198.18.1.2:40000".parse().unwrap(),
//!     "198.18.1.1:7000".parse().unwrap(),
//!     0x02,
//! );
//! let frame = knock.frame(LinkType::Ethernet);
//! assert_eq!(decode(LinkType::Ethernet, &frame), Ok(knock.packet()));
//! ```

#![warn(missing_docs)]

pub mod bpf;
mod frame;

pub use frame::{PacketBuilder, Transport};
