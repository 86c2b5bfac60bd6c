//! Generates knockd's shell completions (see packaging/completions.rs).

use clap::CommandFactory;

// Only the clap definition is used here, not the constants or the fields'
// readers, which the daemon uses.
#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

#[path = "../packaging/completions.rs"]
mod completions;

fn main() -> std::io::Result<()> {
    completions::generate(
        cli::Args::command(),
        "knockd",
        &[("interface", completions::Values::Interfaces)],
    )
}
