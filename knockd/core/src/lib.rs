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
//!
//! # The public surface
//!
//! Public is what the daemon, the test kit, the tests, the fuzz targets and
//! the benchmarks use; everything else is `pub(crate)`.
//!
//! * [`wire`]: [`wire::decode`] with its errors ([`wire::DecodeError`],
//!   [`wire::DecodeErrorKind`], [`wire::Layer`], [`wire::Unsupported`]),
//!   [`wire::LinkType`], the views the tests check ([`wire::EthernetFrame`],
//!   [`wire::Ipv4Packet`], [`wire::Ipv6Packet`]) and the protocol numbers
//!   the test kit writes frames with.
//! * [`engine`]: [`engine::Engine`], [`engine::EngineDoor`],
//!   [`engine::Limits`], [`engine::Event`], [`engine::Stats`].
//! * [`filter`]: [`filter::program`] and [`filter::fit_program`] (the
//!   program the kernel takes here, found with the daemon's probe), the
//!   [`filter::Program`] and its report, the libpcap expressions of `-D`
//!   ([`filter::expression`], [`filter::door_expressions`]),
//!   [`filter::filter_doors`], the kernel's limits; [`filter::bpf`]'s
//!   [`filter::bpf::Instruction`], [`filter::bpf::validate`] and the opcodes
//!   the daemon and the test kit's interpreter read.
//! * [`config`]: [`Config`] and its parts, [`ConfigError`], the two readers
//!   ([`config::knockd_conf::parse`], [`config::toml::parse`]) and
//!   [`config::settings::Setting`], a door's settings in the order `-D` and
//!   `--check` print them.
//! * [`doors`]: [`doors::load`] and the [`doors::Loaded`] doors as the
//!   daemon runs them; [`sources`]: `Allow_From`/`Deny_From` ranges;
//!   [`bytes`]: knockd.conf's bytes carried in strings; [`Packet`].
//! * [`listening`]: [`listening::Listening`] and the reader of Linux's
//!   `/proc/net` socket tables, for `--check`; [`route_message`]: which
//!   routing-socket messages of the BSDs and macOS say that the host's
//!   addresses changed.
//! * [`substitution`]: what a command's `%IP%`, `%NET%` and `%PREFIX%`
//!   become, and how long that can make it.
//! * [`privsep`]: [`privsep::WatcherRequest`], what knockd's unprivileged
//!   watcher process may ask of its root opener process, and its checked
//!   decoder.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bytes;
pub mod config;
pub mod doors;
pub mod engine;
pub mod filter;
pub mod listening;
pub mod nft;
mod packet;
pub mod privsep;
pub mod route_message;
pub mod sources;
pub mod substitution;
pub mod wire;

pub use config::{Config, ConfigError, Door, SequenceSource};
pub use packet::Packet;
