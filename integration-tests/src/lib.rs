//! Harness for end-to-end tests of knockd and knock.
//!
//! Each test builds a [`Net`]: a server and a client network namespace joined by
//! a veth pair (198.18.X.0/24, fd00:X::/64). A [`Daemon`] runs a knockd-compatible
//! server in the server namespace; clients run in the client namespace through
//! [`Net::knock`], and hand-built frames ([`Packet`]) go out of the client veth
//! through [`Net::send`]. Tests observe only what users see: log lines, command
//! side effects, exit codes and files. Every wait is bounded, and dropping a
//! `Net`/`Daemon` kills what the test started and deletes the namespaces.
//!
//! The binaries under test are not built by this crate: run
//! `cargo build --workspace` first, then (as root) `cargo test -p integration-tests`.
//! Without root or `ip` the tests print `skipped: ...` and pass, except under
//! `CI=true`, where a missing prerequisite (including Debian's knockd package for
//! the interop tests) fails them.

mod conf;
mod daemon;
mod env;
mod frame;
mod inject;
mod net;
mod process;
mod procfs;
mod rig;
mod scratch;
mod wait;

pub use conf::{
    config, config_with_sync, door, door_running, sync_door, sync_door_name, SYNC_PORT,
};
pub use daemon::{spoofed_v4, Daemon, SYNC_SOURCE};
pub use env::{
    debian_peer, root_and_iproute2, workspace_binary, Pair, DEBIAN_KNOCK, DEBIAN_KNOCKD,
};
pub use frame::{flag_bits, Mac, Packet};
pub use knock_proto::TcpFlag;
pub use net::Net;
pub use process::{run_bounded, run_ok, try_run_bounded};
pub use procfs::{children, executable, open_fds, rss_kib};
pub use rig::Rig;
pub use scratch::Scratch;
pub use wait::{count_lines, read_text, wait_for_count, wait_for_line, wait_until, WAIT};
