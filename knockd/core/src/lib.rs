//! knockd's pure core: everything the daemon decides, with none of its I/O.
//!
//! The daemon (the `knockd` binary) owns the capture, the commands, the log,
//! signals and the poll loop; it feeds this crate bytes and times and acts on
//! what comes back. Nothing here opens a socket, reads a clock, spawns a
//! process or logs, so all of it is tested with plain values and savefiles,
//! without root. Reading files is the one exception: [`config`] reads the
//! configuration and [`doors`] the one-time sequences files it names.
//!
//! From the wire up:
//!
//! * [`wire`] decodes a captured frame of any supported link type into a
//!   [`Packet`], bounds-checked, never panicking;
//! * [`engine`] is the matching state machine: packets and the current time
//!   in, door [`engine::Event`]s out, with bounded per-source state;
//! * [`filter`] generates the kernel capture filter that lets only possible
//!   knocks reach user space;
//! * [`config`] is the configuration model with its knockd.conf and TOML
//!   readers, [`sources`] the address ranges of `Allow_From`/`Deny_From`,
//!   and [`doors`] the doors as the daemon runs them.
//!
//! What the client shares with the server (sequences, TCP flag specs,
//! one-time sequences files, the Internet checksum) is in `knock-proto`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bytes;
pub mod config;
pub mod doors;
pub mod engine;
pub mod filter;
mod packet;
pub mod sources;
pub mod wire;

pub use config::{Config, ConfigError, Door, SequenceSource};
pub use packet::Packet;
