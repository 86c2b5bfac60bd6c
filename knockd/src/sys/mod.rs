#![allow(unsafe_code)]
//! Every call of the knockd binary that Rust cannot check: the system and
//! libpcap functions the safe crates (std, nix, pcap, socket2) do not wrap.
//!
//! Each function here is safe to call: its contract is in its documentation,
//! and each `unsafe` block inside says in a `// SAFETY:` comment why the call
//! keeps to what the C function requires. The rest of the binary denies
//! `unsafe_code` (the workspace lints of the root Cargo.toml), so reviewing
//! these files reviews all of it.

pub mod confine;
pub mod filter;
pub mod netlink;
#[cfg(target_os = "linux")]
pub mod packet_socket;
pub mod process;
pub mod resolve;
pub mod rights;
pub mod syslog;
