//! `knock`: sends a port-knock sequence (see `knock --help`).

mod cli;
mod error;
mod hit;
mod knocker;
mod plan;
mod raw;
mod send;
mod target;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::plan::Plan;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // clap prints help and version to stdout, usage errors to stderr.
            let _ = e.print();
            // clap's own exit status for usage errors is 2; knock has always used 1.
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match Plan::from_cli(cli).and_then(|plan| knocker::knock(&plan)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
