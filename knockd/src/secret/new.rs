//! `knockd secret new FILE`: a fresh 32-byte key from the system's random
//! source, written where knockd's `Rotating_Secret` reads it, and the
//! lines that set the door up on both sides.

use std::io::{self, Read};
use std::path::Path;

use knock_proto::file::create_private;
use knock_proto::io_message;
use knock_proto::rotating::{Label, PortRange, RotatingProtocol, Rotation, Secret};
use knock_proto::uri::KnockUri;

use crate::cli::NewSecret;

/// Bytes of a new key: 256 bits, twice the minimum a secret may have.
const KEY_LEN: usize = 32;

/// Checks everything, writes the file, prints the lines.
pub fn run(new: &NewSecret) -> Result<(), String> {
    let NewSecret {
        file,
        door,
        step,
        range,
        length,
        protocol,
        host,
        qr,
    } = new;
    let label = label(file, door.as_deref())?;
    let range: PortRange = range.parse().map_err(|()| {
        format!("--range '{range}': write LO-HI, two ports from 1 to 65535 with LO <= HI")
    })?;
    let protocol: RotatingProtocol = protocol
        .parse()
        .map_err(|()| format!("--protocol '{protocol}': write tcp, udp or mixed"))?;
    let rotation = Rotation::new(*step, range, *length, protocol, Rotation::default().skew())
        .map_err(|e| e.to_string())?;
    let host = super::host_or_own(host.as_deref())?;
    let key = random_key()?;
    // Every check before the file exists: a refused option leaves nothing.
    let uri = KnockUri::new(&host, label, &key, rotation).map_err(|e| format!("--host: {e}"))?;
    write_secret(file, &key)?;
    let path = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
    warn_if_not_root(&path);
    super::output::print_new(&path, &uri, &rotation, *qr)
        .map_err(|e| format!("cannot write to standard output: {}", io_message(&e)))
}

/// The door's label: `--door`, else the file's name without its extension.
/// A name knockd.conf cannot hold as a section is refused.
fn label(file: &Path, door: Option<&std::ffi::OsStr>) -> Result<Label, String> {
    use std::os::unix::ffi::OsStrExt;
    let name = match door {
        Some(door) => door.as_bytes(),
        None => file
            .file_stem()
            .map(OsStrExt::as_bytes)
            .ok_or_else(|| format!("{} names no file: give FILE", file.display()))?,
    };
    if name.iter().any(|&b| matches!(b, b'\n' | b'\r' | 0)) || name == b"options" {
        return Err(
            "--door: a door's name is a knockd.conf section: no line break or NUL, not \"options\""
                .to_owned(),
        );
    }
    Label::new(name).ok_or_else(|| {
        format!(
            "--door: a door's name is 1 to {} bytes, not {}",
            Label::MAX_LEN,
            name.len()
        )
    })
}

/// A key from the kernel's random source.
fn random_key() -> Result<Vec<u8>, String> {
    let mut key = vec![0; KEY_LEN];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut key))
        .map_err(|e| format!("cannot read /dev/urandom: {}", io_message(&e)))?;
    Ok(key)
}

/// Creates `file` with the key; an existing file, a link or a failure
/// leaves what was there untouched.
fn write_secret(file: &Path, key: &[u8]) -> Result<(), String> {
    create_private(file, Secret::file_text(key).as_bytes()).map_err(|e| {
        if e.kind() == io::ErrorKind::AlreadyExists {
            format!(
                "{} exists: a secret is never overwritten (its doors and clients use it); \
                 remove it first to replace it, or choose another FILE",
                file.display()
            )
        } else {
            format!("cannot create {}: {}", file.display(), io_message(&e))
        }
    })
}

/// knockd reads a secret as the user it runs as, and refuses one another
/// user (but root) owns: a file made by another user needs a `chown`.
fn warn_if_not_root(path: &Path) {
    let uid = nix::unistd::geteuid().as_raw();
    if uid != 0 {
        eprintln!(
            "note: {} belongs to uid {uid}, not root: a knockd running as root refuses it \
             until you run chown root on it",
            path.display()
        );
    }
}
