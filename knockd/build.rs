//! Generates knockd's shell completions (see packaging/completions.rs).

use clap::CommandFactory;

// Only the clap definition is used here, not the constants or the fields'
// readers, which the daemon uses.
#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

#[path = "../packaging/completions.rs"]
mod completions;

/// The systems whose kernel tells of address changes on a socket
/// (src/address_watch.rs): rtnetlink on Linux, `PF_ROUTE` on the others.
const EVENT_SOCKET_SYSTEMS: &[&str] = &["linux", "freebsd", "openbsd", "netbsd", "macos"];

fn main() -> std::io::Result<()> {
    // `cfg(event_socket)`: one name for that list in the code.
    println!("cargo::rustc-check-cfg=cfg(event_socket)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if EVENT_SOCKET_SYSTEMS.contains(&os.as_str()) {
        println!("cargo::rustc-cfg=event_socket");
    }
    completions::generate(
        cli::Args::command(),
        "knockd",
        &[("interface", completions::Values::Interfaces)],
    )
}
