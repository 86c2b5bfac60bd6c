//! `knockd secret show FILE`: the knock URI and the current step's sequence
//! of the door whose `Rotating_Secret` is FILE, read from the configuration
//! (`-c`) as the daemon reads it, so the sequence is the one knockd expects
//! now.

use std::ffi::OsStr;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use knock_proto::io_message;
use knock_proto::rotating::{Label, Secret};
use knock_proto::uri::KnockUri;
use knockd_core::bytes;
use knockd_core::config::{RotatingSource, SequenceSource};
use knockd_core::doors::{self, RuntimeDoor};

use crate::cli::Args;

/// Finds the door, prints its URI and sequence.
pub fn run(
    args: &Args,
    file: &Path,
    door: Option<&OsStr>,
    host: Option<&str>,
    qr: bool,
) -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("secret show reads the secret as knockd does: run it as root".to_owned());
    }
    let base = std::env::current_dir()
        .map_err(|e| format!("cannot read the current directory: {}", io_message(&e)))?;
    let config = base.join(&args.config);
    let loaded = doors::load(&config, &base, 0).map_err(|e| e.to_string())?;
    let wanted = same_file(&base.join(file));
    let matching: Vec<&RuntimeDoor> = loaded
        .doors
        .iter()
        .filter(|d| matches!(&d.door.sequence, SequenceSource::Rotating(RotatingSource { secret_file, .. }) if same_file(secret_file) == wanted))
        .filter(|d| door.is_none_or(|name| bytes::encode(&d.door.name).as_ref() == name.as_bytes()))
        .collect();
    let found = match matching.as_slice() {
        [one] => *one,
        [] => return Err(none_found(file, &config, &loaded.config.disabled)),
        several => {
            let names: Vec<String> = several
                .iter()
                .map(|d| format!("[{}]", d.door.name))
                .collect();
            return Err(format!(
                "doors {} all use {}: choose one with --door NAME",
                names.join(", "),
                file.display()
            ));
        }
    };
    let (Some(rotating), SequenceSource::Rotating(source)) =
        (&found.rotating, &found.door.sequence)
    else {
        return Err("the door is not a rotating door".to_owned());
    };
    let key = Secret::read_key(&source.secret_file, 0)
        .map_err(|e| format!("secret file {}: {e}", source.secret_file.display()))?;
    let label =
        Label::new(&bytes::encode(&found.door.name)).ok_or("the door's name cannot be a label")?;
    let host = super::host_or_own(host)?;
    let uri =
        KnockUri::new(&host, label, &key, rotating.rotation).map_err(|e| format!("--host: {e}"))?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| "the system clock is set before 1970".to_owned())?
        .as_secs();
    let rotation = &rotating.rotation;
    let step = rotation.step_at(now);
    let left = rotation
        .step_start(step.saturating_add(1))
        .saturating_sub(now);
    let mut out = io::stdout().lock();
    super::output::print_uri(&mut out, &uri, qr)
        .and_then(|()| {
            writeln!(
                out,
                "step {step} ({left} s left, skew {}): {}",
                rotation.skew(),
                rotating.sequence_at(now)
            )
        })
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to standard output: {}", io_message(&e)))
}

/// A path as it names a file: its canonical form where it exists.
fn same_file(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned())
}

/// Why no door was found: none names the file, or the one that does is
/// disabled (its secret cannot be used), with knockd's own message.
fn none_found(
    file: &Path,
    config: &Path,
    disabled: &[knockd_core::config::DisabledDoor],
) -> String {
    let mut message = format!(
        "no door of {} with Rotating_Secret = {} (give the configuration with -c FILE, \
         and the door with --door NAME)",
        config.display(),
        file.display()
    );
    for d in disabled {
        message.push_str(&format!("\ndoor [{}] is disabled: {}", d.door, d.error));
    }
    message
}
