//! Generates knock's shell completions (see packaging/completions.rs).

use clap::CommandFactory;

// Only the clap definition is used here, not the fields' readers, which the
// client uses.
#[allow(dead_code)]
#[path = "src/cli.rs"]
mod cli;

#[path = "../packaging/completions.rs"]
mod completions;

fn main() -> std::io::Result<()> {
    // knock-proto's own names: the completion offers exactly what --flags accepts.
    let flags = knock_proto::TcpFlag::ALL.map(knock_proto::TcpFlag::name);
    completions::generate(
        cli::Cli::command(),
        "knock",
        &[("flags", completions::Values::CommaList(&flags))],
    )
}
