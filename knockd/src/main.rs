//! knockd: the port-knock server.
//!
//! A thin binary over `knockd-core`, which decides everything (configuration,
//! decoding, matching, the capture filter). The modules here are the OS side,
//! private to the binary: the libpcap capture, the command runner, the log,
//! signals, daemon mode and the poll loop that ties them together.

// knockd needs libpcap, poll(2), POSIX signals and /bin/sh. Linux is tested;
// the BSDs and macOS are written for but not tested (see the README).
#[cfg(not(unix))]
compile_error!(
    "knockd runs on Unix systems with libpcap (Linux is tested); this target is not supported"
);

mod address_watch;
mod capture;
mod check;
mod cli;
mod close_all;
mod commands;
mod config_echo;
mod control;
mod counters;
mod daemon;
mod interfaces;
mod ledger;
mod log;
mod nft;
mod notify;
mod opener;
mod privsep;
mod resolver;
mod secret;
mod server;
mod setup;
mod signals;
mod spent_steps;
mod step_windows;
mod sys;
mod throttle;

use std::process::ExitCode;

use clap::Parser;

use crate::server::Server;
use crate::setup::Setup;

fn main() -> ExitCode {
    let args = match cli::Args::try_parse() {
        Ok(args) => args,
        Err(e) => return usage(&e),
    };
    match &args.command {
        Some(cli::Command::Request(request)) => return control::client::run(&args, request),
        Some(cli::Command::Secret(command)) => return secret::run(&args, command),
        None => {}
    }
    if args.close_all {
        return close_all::run(&args);
    }
    let setup = match Setup::read(args) {
        Ok(setup) => setup,
        Err(e) => return fail(&e),
    };
    if setup.args.check {
        return check::run(&setup);
    }
    let privsep = setup.privsep() && privsep::AVAILABLE;
    match Server::start(setup) {
        Ok(server) if privsep => privsep::run(server),
        Ok(server) => server.run(),
        Err(e) => fail(&e),
    }
}

/// Help and version (on stdout) exit 0; usage errors (on stderr) exit 1,
/// where 0.8 exits 0 and clap 2.
fn usage(error: &clap::Error) -> ExitCode {
    let _ = error.print();
    ExitCode::from(u8::from(error.use_stderr()))
}

/// Prints an error on stderr the way knockd always has; exit status 1.
fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("{error}");
    ExitCode::FAILURE
}
