//! knockd: a port-knock server, drop-in compatible with knockd 0.8.
//!
//! The binary is a thin `main` over this library. The pieces, from the wire up:
//! [`wire`] decodes captured frames into [`packet::Packet`]s, [`engine`] is the
//! pure matching state machine, [`filter`] builds the kernel capture filter,
//! [`capture`] drives libpcap, [`commands`] runs door commands, [`log`] writes
//! knockd 0.8's log lines, and [`server`] ties them together in one poll loop.

pub mod capture;
pub mod cli;
pub mod commands;
pub mod daemon;
pub mod doors;
pub mod engine;
pub mod filter;
pub mod interfaces;
pub mod log;
pub mod packet;
pub mod resolver;
pub mod server;
pub mod signals;
pub mod wire;
