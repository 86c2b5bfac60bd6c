//! `knock`: sends a port-knock sequence (see `knock --help`).

mod cli;
mod error;
mod exposed;
mod hit;
mod import;
mod knocker;
mod one_time;
mod plan;
mod profile;
mod profile_edit;
mod proxy;
mod raw;
mod rotating;
mod send;
// Compiled for its tests everywhere; used on Windows only.
#[cfg(any(windows, test))]
mod services;
#[cfg(unix)]
mod sys;
mod target;
mod verify;

use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::cli::Cli;
use crate::error::Error;
use crate::plan::Request;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage(&e),
    };
    if let Some(uri) = &cli.import {
        let import = import::Import {
            uri,
            profile: cli.profile.as_deref(),
            config: cli.config.as_deref(),
            force: cli.force,
        };
        return match import::run(&import) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let done = Request::from_cli(cli).and_then(|request| match request {
        Request::Knock(plan) => knocker::run(&plan),
        Request::PrintSequence { door, at } => {
            rotating::print_sequence(&door, at).map_err(Error::from)
        }
    });
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.shows_usage() {
                eprintln!("{}", usage_line());
            }
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Help and version (on stdout) exit 0; usage errors (on stderr) exit 1, as
/// knock always has, where clap's own status is 2.
fn usage(error: &clap::Error) -> ExitCode {
    let _ = error.print();
    ExitCode::from(u8::from(error.use_stderr()))
}

/// The first line of the usage, the one for `knock HOST PORT...` (knock
/// 0.8's only form): `Usage: knock [OPTIONS] <HOST> <PORT[:PROTO]>...`.
fn usage_line() -> String {
    let usage = Cli::command().render_usage().to_string();
    usage.lines().next().unwrap_or_default().to_owned()
}
