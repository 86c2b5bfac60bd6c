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
//! Every test that needs root is `#[ignore = "needs root ..."]`, so that a plain
//! `cargo test --workspace` lists it as ignored rather than counting it as passed.
//! The binaries under test are not built by this crate; run
//!
//! ```sh
//! sudo ci/setup    # iproute2, nftables, nc, setpriv, systemd and the firewall tools of the
//!                  # recipes, OpenSSH's ssh and sshd, and Debian's knockd 0.8 for the interop tests
//! cargo build --workspace --bins
//! sudo cargo test -p integration-tests -- --include-ignored
//! ```
//!
//! A test run that way fails, saying what to do, when a prerequisite is missing: root,
//! a tool ([`require_namespaces`], [`require_tools`]), a binary not built yet
//! ([`workspace_binary`]), or for the interop tests the private copy of Debian's knockd
//! 0.8 that `ci/setup` extracts into [`KNOCKD_08_DIR`] ([`debian_knockd`]), or for the
//! arm64 client's test the binary `ci/cross-linux --build` makes ([`cross_binary`]); it never
//! passes without having run.

mod conf;
mod daemon;
mod echo;
mod env;
mod frame;
mod inject;
mod net;
mod process;
mod procfs;
mod rig;
mod scratch;
mod systemd;
mod wait;

pub use conf::{
    config, config_with_sync, door, door_running, sync_door, sync_door_name, SYNC_PORT,
};
pub use daemon::{spoofed_v4, Daemon, Launch, SYNC_SOURCE};
pub use echo::{echo_once, pseudo_random};
pub use env::{
    cross_binary, debian_knock, debian_knockd, require_namespaces, require_tools, workspace_binary,
    Pair, KNOCKD_08_DIR,
};
pub use frame::{flag_bits, Mac, Packet};
pub use knock_proto::TcpFlag;
pub use net::Net;
pub use process::{run_bounded, run_ok, run_with_input, try_run_bounded, wait_child};
pub use procfs::{children, command_children, executable, open_fds, rss_kib, watcher};
pub use rig::Rig;
pub use scratch::Scratch;
pub use systemd::{Staged, Systemd};
pub use wait::{count_lines, read_text, wait_for_count, wait_for_line, wait_until, WAIT};
