//! `knockd secret new` and `knockd secret show`: provisioning a rotating
//! door. `new` makes a secret file and prints everything both sides need
//! (the door's knockd.conf lines, the client's profile, the knock URI);
//! `show` prints a configured door's URI and current sequence again, for
//! debugging. Neither needs a running daemon, and neither logs the secret:
//! it reaches standard output only, where the operator asked for it.

mod new;
mod output;
mod qr;
mod show;

use std::process::ExitCode;

use crate::cli::{Args, SecretCommand};

/// Runs `knockd secret ...`: exit 0, or 1 with the reason on stderr.
pub fn run(args: &Args, command: &SecretCommand) -> ExitCode {
    let done = match command {
        SecretCommand::New(secret) => new::run(secret),
        SecretCommand::Show {
            file,
            door,
            host,
            qr,
        } => show::run(args, file, door.as_deref(), host.as_deref(), *qr),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("knockd secret: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The host clients knock on: `--host`, else this host's name.
fn host_or_own(host: Option<&str>) -> Result<String, String> {
    if let Some(host) = host {
        return Ok(host.to_owned());
    }
    let name = nix::unistd::gethostname()
        .map_err(|e| format!("cannot read this host's name ({e}): give --host HOST"))?;
    name.into_string()
        .map_err(|_| "this host's name is not UTF-8: give --host HOST".to_owned())
}
