//! `knockd status` and `knockd close`: one request to the running daemon
//! over its control socket, its reply printed.
//!
//! The socket is `--control-socket`, else the `ControlSocket` of the
//! configuration named by `-c` (default `/etc/knockd.conf`), else
//! `/run/knockd.sock`: the same precedence the daemon uses, so both agree
//! without being told.

use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use knock_proto::io_message;
use knockd_core::bytes;
use knockd_core::config::Config;

use super::protocol::{parse_reply, Format, ReplyError, Request};
use crate::cli::{self, Args};
use crate::setup;

/// How long the client waits for the daemon, each way, per read or write:
/// a reply still arriving is read to its end however long it takes.
const TIMEOUT: Duration = Duration::from_secs(10);
/// The longest reply read.
const MAX_REPLY: u64 = 64 << 20;

/// Why a request brought no output.
#[derive(Debug)]
pub enum Failure {
    /// The socket could not be reached.
    Unreachable(io::Error),
    /// knockd pushed this client out or reset the connection: it is busy.
    Busy,
    /// The reply was refused, cut short or not understood.
    Reply(ReplyError),
    /// Reading or writing the socket failed with the reply incomplete.
    Io(io::Error, ReplyError),
}

/// Sends `request` and prints the reply: exit 0 on a whole `ok` reply,
/// 1 otherwise. Nothing is printed of a reply that is not whole, so that
/// `knockd status > file.tmp && mv file.tmp file` never publishes part of one.
pub fn run(args: &Args, request: &cli::Request) -> ExitCode {
    let path = socket_path(args);
    let failure = match fetch(&path, &wire(request)) {
        Ok(body) => match write_stdout(&body) {
            Ok(()) => return ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("knockd: cannot write the reply: {}", io_message(&error));
                return ExitCode::FAILURE;
            }
        },
        Err(failure) => failure,
    };
    match failure {
        Failure::Unreachable(error) => eprintln!(
            "cannot reach knockd at {}: {} (is it running? its socket is --control-socket \
             or ControlSocket)",
            path.display(),
            io_message(&error)
        ),
        Failure::Busy => eprintln!(
            "knockd at {} is busy (too many clients at once) and closed the connection: \
             try again",
            path.display()
        ),
        Failure::Reply(why @ ReplyError::Incomplete { .. }) => {
            eprintln!("knockd: {why}; nothing printed: try again");
        }
        Failure::Reply(why) => eprintln!("knockd: {why}"),
        Failure::Io(error, ReplyError::NoReply) => {
            eprintln!("knockd did not answer: {}", io_message(&error));
        }
        Failure::Io(error, why) => {
            eprintln!(
                "knockd: {why} ({}); nothing printed: try again",
                io_message(&error)
            );
        }
    }
    ExitCode::FAILURE
}

/// The whole body, written and flushed: a failure (a full disk) is an error.
fn write_stdout(body: &[u8]) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(body)?;
    out.flush()
}

/// The control socket `args` lead to.
fn socket_path(args: &Args) -> PathBuf {
    let base = std::env::current_dir().unwrap_or_default();
    // A configuration that cannot be read names no socket: the default is
    // tried, and a failure to connect names the path.
    let config = Config::load(&base.join(&args.config)).ok();
    setup::control_socket(args, &base, config.as_ref())
}

/// A door named on the command line: its bytes, as knockd.conf's are read.
fn door_name(door: &std::ffi::OsStr) -> String {
    bytes::decode(door.as_bytes()).into_owned()
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
            door: door.as_deref().map(door_name),
        },
        cli::Request::Close {
            door: Some(door),
            source: Some(source),
            all: false,
        } => Request::Close {
            door: door_name(door),
            source: *source,
        },
        // clap requires DOOR and IP unless --all, which excludes them.
        cli::Request::Close { .. } => Request::CloseAll,
    }
}

/// Sends `request` to the socket at `path` and reads the reply to its end:
/// the body of a whole `ok` reply, or why there is none.
pub fn fetch(path: &Path, request: &Request) -> Result<Vec<u8>, Failure> {
    let mut stream = UnixStream::connect(path).map_err(Failure::Unreachable)?;
    let mut reply = Vec::new();
    let failed = exchange(&mut stream, request, &mut reply).err();
    match (parse_reply(&reply), failed) {
        (Ok(body), _) => Ok(body.to_vec()),
        // A refusal read whole stands, whatever came after it.
        (Err(why @ ReplyError::Refused(_)), _) => Err(Failure::Reply(why)),
        (Err(ReplyError::NoReply), Some(error)) if is_reset(&error) => Err(Failure::Busy),
        (Err(ReplyError::NoReply), None) => Err(Failure::Busy),
        (Err(why), Some(error)) => Err(Failure::Io(error, why)),
        (Err(why), None) => Err(Failure::Reply(why)),
    }
}

/// Writes the request and reads into `reply` until the daemon closes the
/// connection (or [`MAX_REPLY`] bytes); what was read stays in `reply` on
/// an error.
fn exchange(stream: &mut UnixStream, request: &Request, reply: &mut Vec<u8>) -> io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    // A daemon that pushed this client out may have closed before the
    // request went: its reason may still be there to read.
    let written = stream.write_all(&request.to_line());
    let read = Read::by_ref(stream)
        .take(MAX_REPLY)
        .read_to_end(reply)
        .map(drop);
    match written {
        Err(error) if reply.is_empty() => Err(error),
        _ => read,
    }
}

/// Whether `error` is the daemon closing on this client (pushed out).
fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
