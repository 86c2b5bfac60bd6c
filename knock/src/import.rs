//! `knock --import URI`: a rotating door from the knock URI that `knockd
//! secret new` printed, saved as a secret file and a profile, so that
//! `knock NAME` knocks it. The secret file goes beside the profile file
//! (profiles name it relative to their own file), named after the profile.
//! Nothing is overwritten without `--force`, and a refusal leaves both
//! files as they were.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use knock_proto::file::{create_private, replace_private};
use knock_proto::io_message;
use knock_proto::profile_text::{profile_toml, secret_file_name, shell_word};
use knock_proto::rotating::Secret;
use knock_proto::uri::{KnockUri, UriError};
use knock_proto::Visible;

use crate::profile::{self, ProfileError};
use crate::profile_edit::{private_dirs, EditError, ProfileFile};

/// What `--import` was given.
pub struct Import<'a> {
    /// The URI.
    pub uri: &'a str,
    /// `--profile`: the profile's name (default: the door's).
    pub profile: Option<&'a str>,
    /// `--config`: the profile file (default: the platform's).
    pub config: Option<&'a Path>,
    /// `--force`: replace an existing profile and secret file.
    pub force: bool,
}

/// Why nothing was imported.
#[derive(Debug)]
pub enum ImportError {
    /// The URI is refused.
    Uri(UriError),
    /// The door's name is not UTF-8, which a profile cannot hold.
    NotUtf8,
    /// `--profile` is empty or holds a control character.
    BadName,
    /// No profile file to write to.
    Profile(ProfileError),
    /// The profile file cannot take the profile.
    Edit(EditError),
    /// The secret file exists, and `--force` was not given.
    SecretExists(PathBuf),
    /// The secret file cannot be written.
    Secret {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::Uri(e) => write!(f, "--import: {e}"),
            ImportError::NotUtf8 => f.write_str(
                "--import: the door's name is not UTF-8, which a profile cannot hold: \
                 knock it with --secret-file FILE --door NAME instead",
            ),
            ImportError::BadName => f.write_str(
                "--profile: a profile's name is not empty and has no control characters",
            ),
            ImportError::Profile(ProfileError::NoConfigHome) => f.write_str(
                "--import: no profile file: give --config FILE (or set HOME, or APPDATA on Windows)",
            ),
            ImportError::Profile(e) => write!(f, "--import: {e}"),
            ImportError::Edit(e) => write!(f, "--import: {e}"),
            ImportError::SecretExists(path) => write!(
                f,
                "--import: the secret file {} exists: give --force to replace it (the door it \
                 belongs to stops working), or --profile NAME for another name",
                path.display()
            ),
            ImportError::Secret { path, source } => write!(
                f,
                "--import: cannot write the secret file {}: {}",
                path.display(),
                io_message(source)
            ),
        }
    }
}

impl std::error::Error for ImportError {}

/// Imports the URI; prints where the files went and how to knock.
pub fn run(import: &Import<'_>) -> Result<(), ImportError> {
    let uri = KnockUri::parse(import.uri).map_err(ImportError::Uri)?;
    let door = std::str::from_utf8(uri.label().as_bytes()).map_err(|_| ImportError::NotUtf8)?;
    let name = import.profile.unwrap_or(door);
    if name.is_empty() || name.chars().any(char::is_control) {
        return Err(ImportError::BadName);
    }
    let profile_path = profile::config_path(import.config).map_err(ImportError::Profile)?;
    let file = ProfileFile::read(&profile_path).map_err(ImportError::Edit)?;
    file.check_free(name, import.force)
        .map_err(ImportError::Edit)?;
    let key_name = secret_file_name(name);
    // Beside the profile file as profile.rs finds it: through a link at
    // its path, not beside the file the link leads to.
    let key_path = match profile_path.parent() {
        Some(dir) => dir.join(&key_name),
        None => PathBuf::from(&key_name),
    };
    if !import.force && fs::symlink_metadata(&key_path).is_ok() {
        return Err(ImportError::SecretExists(key_path));
    }
    // Both checked: now write, the secret first (the profile names it).
    let table = profile_toml(name, &uri, &key_name).ok_or(ImportError::NotUtf8)?;
    write_secret(&key_path, uri.key(), import.force)?;
    let profile_file = file.path().to_owned();
    if let Err(e) = file.put(name, &table) {
        if !import.force {
            // Ours alone: no profile names it.
            let _ = fs::remove_file(&key_path);
        }
        return Err(ImportError::Edit(e));
    }
    println!(
        "knock: wrote the secret to {} and profile [{}] to {}; knock it with: knock {}",
        key_path.display(),
        Visible(name),
        profile_file.display(),
        shell_word(name)
    );
    Ok(())
}

/// Writes the secret file new (mode 0600); with `force`, beside it first and
/// renamed over the old one, so a failure leaves the old one whole.
fn write_secret(path: &Path, key: &[u8], force: bool) -> Result<(), ImportError> {
    let failed = |source| ImportError::Secret {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        private_dirs(dir).map_err(failed)?;
    }
    let text = Secret::file_text(key);
    if !force {
        return create_private(path, text.as_bytes()).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                ImportError::SecretExists(path.to_owned())
            } else {
                failed(e)
            }
        });
    }
    replace_private(path, text.as_bytes(), |_| Ok(())).map_err(failed)
}
