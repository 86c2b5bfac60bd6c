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
use knockd_core::config::SequenceSource;
use knockd_core::doors::{self, Loaded, RotatingDoor, RuntimeDoor};

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
    let (found, rotating, secret_file) =
        find(&loaded, &base.join(file), door).map_err(|found| match found {
            Found::None => none_found(file, &config, &loaded.config.disabled),
            Found::Several(names) => format!(
                "doors {} all use {}: choose one with --door NAME",
                names.join(", "),
                file.display()
            ),
        })?;
    let key = Secret::read_key(secret_file, 0)
        .map_err(|e| format!("secret file {}: {e}", secret_file.display()))?;
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

/// Why no one door was found.
enum Found {
    /// No door uses the file.
    None,
    /// Several do: their names, as `[name]`.
    Several(Vec<String>),
}

/// The one rotating door whose secret file is `file` (and whose name is
/// `door`, when given), with its secret and its configured secret file.
fn find<'a>(
    loaded: &'a Loaded,
    file: &Path,
    door: Option<&OsStr>,
) -> Result<(&'a RuntimeDoor, &'a RotatingDoor, &'a Path), Found> {
    let wanted = same_file(file);
    let named = |d: &RuntimeDoor| {
        door.is_none_or(|name| bytes::encode(&d.door.name).as_ref() == name.as_bytes())
    };
    let matching: Vec<_> = loaded
        .doors
        .iter()
        .filter(|d| named(d))
        .filter_map(|d| match (&d.rotating, &d.door.sequence) {
            (Some(rotating), SequenceSource::Rotating(source))
                if same_file(&source.secret_file) == wanted =>
            {
                Some((d, rotating, source.secret_file.as_path()))
            }
            _ => None,
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(*one),
        [] => Err(Found::None),
        several => Err(Found::Several(
            several
                .iter()
                .map(|(d, ..)| format!("[{}]", d.door.name))
                .collect(),
        )),
    }
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
