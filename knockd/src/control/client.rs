//! `knockd status` and `knockd close`: one request to the running daemon
//! over its control socket, its reply printed.
//!
//! The socket is `--control-socket`, else the `ControlSocket` of the
//! configuration named by `-c` (default `/etc/knockd.conf`), else
//! `/run/knockd.sock`: the same precedence the daemon uses, so both agree
//! without being told.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use knock_proto::io_message;
use knockd_core::config::Config;

use super::protocol::{parse_reply, Format, Request};
use crate::cli::{self, Args};
use crate::setup;

/// How long the client waits for the daemon, each way.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest reply read.
const MAX_REPLY: u64 = 64 << 20;

/// Sends `request` and prints the reply: exit 0 on `ok`, 1 otherwise.
pub fn run(args: &Args, request: &cli::Request) -> ExitCode {
    let path = socket_path(args);
    match exchange(&path, &wire(request)) {
        Ok(reply) => match parse_reply(&reply) {
            Ok(body) => {
                print!("{body}");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("knockd: {why}");
                ExitCode::FAILURE
            }
        },
        Err(error) => {
            eprintln!(
                "cannot reach knockd at {}: {} (is it running? its socket is --control-socket \
                 or ControlSocket)",
                path.display(),
                io_message(&error)
            );
            ExitCode::FAILURE
        }
    }
}

/// The control socket `args` lead to.
fn socket_path(args: &Args) -> PathBuf {
    let base = std::env::current_dir().unwrap_or_default();
    // A configuration that cannot be read names no socket: the default is
    // tried, and a failure to connect names the path.
    let config = Config::load(&base.join(&args.config)).ok();
    setup::control_socket(args, &base, config.as_ref())
}

/// The wire request for a subcommand.
fn wire(request: &cli::Request) -> Request {
    match request {
        cli::Request::Status {
            door,
            json,
            prometheus,
        } => Request::Status {
            format: match (json, prometheus) {
                (_, true) => Format::Prometheus,
                (true, false) => Format::Json,
                (false, false) => Format::Text,
            },
            door: door.clone(),
        },
        cli::Request::Close {
            door: Some(door),
            source: Some(source),
            all: false,
        } => Request::Close {
            door: door.clone(),
            source: *source,
        },
        // clap requires DOOR and IP unless --all, which excludes them.
        cli::Request::Close { .. } => Request::CloseAll,
    }
}

fn exchange(path: &std::path::Path, request: &Request) -> std::io::Result<String> {
    let mut stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    stream.write_all(request.to_line().as_bytes())?;
    let mut reply = Vec::new();
    stream.take(MAX_REPLY).read_to_end(&mut reply)?;
    Ok(String::from_utf8_lossy(&reply).into_owned())
}
