//! Profiles: named knocks in the user's TOML file, so `knock NAME` needs no
//! ports on the command line.
//!
//! ```toml
//! [home]
//! host = "myserver.example.com"
//! ports = [7000, "8000:udp", 9000]
//! verify = "ssh"
//!
//! [rotating]
//! host = "myserver.example.com"
//! secret_file = "openssh.key"
//! door = "openSSH"
//! ```
//!
//! Every top-level table is a profile. The whole file is checked when it is
//! read, so a typo in one profile is reported even when another is used: it
//! would otherwise surface only on the day that profile is needed.

// An input path: any file must give a profile or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::collections::BTreeMap;
use std::env;
#[cfg(unix)]
use std::ffi::OsString;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use knock_proto::file::{read_regular, Symlinks, MAX_FILE_SIZE};
use knock_proto::{io_message, Visible};
use serde::Deserialize;

use crate::rotating::RotatingArgs;
use crate::target::Family;

/// A port, an address family or the like, written either as a number or as
/// text (`verify = 22`, `verify = "ssh"`); checked later, as the command
/// line's text is.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Number(i64),
    Text(String),
}

impl fmt::Display for Scalar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scalar::Number(n) => write!(f, "{n}"),
            Scalar::Text(t) => f.write_str(t),
        }
    }
}

/// One profile as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    host: Option<String>,
    ports: Option<Vec<Scalar>>,
    one_time_file: Option<PathBuf>,
    secret_file: Option<PathBuf>,
    door: Option<String>,
    step: Option<u64>,
    range: Option<String>,
    length: Option<usize>,
    protocol: Option<String>,
    udp: Option<bool>,
    delay: Option<u64>,
    family: Option<Scalar>,
    flags: Option<String>,
    verify: Option<Scalar>,
    retries: Option<u32>,
    verify_timeout: Option<u64>,
}

/// What a profile knocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Knocks {
    /// `ports`: the hits, each `PORT[:PROTO]` as on the command line.
    Ports(Vec<String>),
    /// `one_time_file`: a one-time sequences file.
    OneTimeFile(PathBuf),
    /// `secret_file` and `door` (with `step`, `range`, `length`,
    /// `protocol`): a rotating door, checked as the command line's options
    /// are.
    Rotating(RotatingArgs),
}

/// One profile, complete (a host, and ports, a one-time file or a rotating
/// door's secret file); its ports, rotating settings,
/// flags and verify port are checked as the command line's are, by
/// [`crate::plan::Plan`], which also lets the command line override them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The host to knock on.
    pub host: String,
    /// What to knock.
    pub knocks: Knocks,
    /// `udp = true`: as `-u`.
    pub udp: bool,
    /// `delay`: as `-d`, in milliseconds.
    pub delay: Option<u64>,
    /// `family = 4` or `6`: as `-4` or `-6`.
    pub family: Family,
    /// `flags`: as `--flags`.
    pub flags: Option<String>,
    /// `verify`: as `--verify`.
    pub verify: Option<String>,
    /// `retries`: as `--retries`.
    pub retries: Option<u32>,
    /// `verify_timeout`: as `--verify-timeout`, in milliseconds.
    pub verify_timeout: Option<u64>,
}

/// Why no profile could be read.
#[derive(Debug)]
pub enum ProfileError {
    /// Neither `--config` nor the environment ([`default_file`]) says where
    /// the file is.
    NoConfigHome,
    /// The file could not be read (a missing file included).
    Read {
        /// The file.
        path: PathBuf,
        /// The reason.
        source: io::Error,
    },
    /// The file is not valid TOML or not made of profiles (an unknown key included).
    Syntax {
        /// The file.
        path: PathBuf,
        /// The TOML reader's message, which names the line and the key.
        message: String,
    },
    /// The profile lacks something or has a value out of its range.
    Invalid {
        /// The profile's name.
        name: String,
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: &'static str,
    },
    /// The file has no profile of that name.
    Missing {
        /// The name asked for.
        name: String,
        /// The file searched.
        path: PathBuf,
    },
    /// No profile has that name, and several have it as their host.
    AmbiguousHost {
        /// The host asked for.
        host: String,
        /// The profiles whose host it is.
        names: Vec<String>,
        /// The file searched.
        path: PathBuf,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::NoConfigHome => write!(
                f,
                "no PORT given, so the argument names a profile, but {NO_DEFAULT}: \
                 give --config FILE, or the host's ports"
            ),
            ProfileError::Read { path, source } => write!(
                f,
                "no PORT given, so the argument names a profile, but the profile file {} \
                 cannot be read: {}",
                path.display(),
                io_message(source)
            ),
            ProfileError::Syntax { path, message } => write!(f, "{}: {message}", path.display()),
            ProfileError::Invalid { name, path, reason } => write!(
                f,
                "profile [{}] in {}: {reason}",
                Visible(name),
                path.display()
            ),
            ProfileError::Missing { name, path } => write!(
                f,
                "no profile [{}] in {}: add it there, or give the host's ports",
                Visible(name),
                path.display()
            ),
            ProfileError::AmbiguousHost { host, names, path } => {
                write!(
                    f,
                    "no profile [{}] in {}, and more than one has it as its host:",
                    Visible(host),
                    path.display()
                )?;
                for name in names {
                    write!(f, " [{}]", Visible(name))?;
                }
                f.write_str("; give the name of the one to knock instead of the host")
            }
        }
    }
}

impl std::error::Error for ProfileError {}

/// Where profiles are read from: `--config`, else the platform's default
/// file ([`default_file`]).
pub fn config_path(explicit: Option<&Path>) -> Result<PathBuf, ProfileError> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    default_file().ok_or(ProfileError::NoConfigHome)
}

/// Why there is no default file, for [`ProfileError::NoConfigHome`].
#[cfg(unix)]
const NO_DEFAULT: &str = "neither XDG_CONFIG_HOME nor HOME is set";

/// Why there is no default file, for [`ProfileError::NoConfigHome`].
#[cfg(windows)]
const NO_DEFAULT: &str = "APPDATA is not set to an absolute path";

/// The default profile file on Unix, by the XDG base directory convention:
/// `$XDG_CONFIG_HOME/knock/config.toml`, else `$HOME/.config/knock/config.toml`.
#[cfg(unix)]
fn default_file() -> Option<PathBuf> {
    default_path(env::var_os("XDG_CONFIG_HOME"), env::var_os("HOME"))
}

/// The default profile file on Windows, in the folder where Windows keeps a
/// user's (roaming) settings: `%APPDATA%\knock\config.toml`. A relative or
/// empty `APPDATA` is ignored, as a relative `XDG_CONFIG_HOME` is on Unix.
#[cfg(windows)]
fn default_file() -> Option<PathBuf> {
    let appdata = PathBuf::from(env::var_os("APPDATA")?);
    appdata
        .is_absolute()
        .then(|| appdata.join("knock").join("config.toml"))
}

/// The default file for the given `XDG_CONFIG_HOME` and `HOME`.
#[cfg(unix)]
fn default_path(xdg_config_home: Option<OsString>, home: Option<OsString>) -> Option<PathBuf> {
    // The XDG base directory specification says to ignore a relative value.
    let config_home = xdg_config_home
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| {
            home.filter(|home| !home.is_empty())
                .map(|home| PathBuf::from(home).join(".config"))
        })?;
    Some(config_home.join("knock").join("config.toml"))
}

/// Reads profile `name` from `path`, else the one profile whose host is
/// `name` (see [`by_host`]); it must have a host and one of ports, a one-time
/// file or a secret file (files taken relative to `path`'s directory).
pub fn load(path: &Path, name: &str) -> Result<Profile, ProfileError> {
    // A profile file managed as a link (dotfiles) is common and harmless.
    let bytes = read_regular(path, MAX_FILE_SIZE, Symlinks::Follow).map_err(|source| {
        ProfileError::Read {
            path: path.to_owned(),
            source,
        }
    })?;
    let mut profiles = parse(path, &bytes)?;
    let (name, raw) = match profiles.remove_entry(name) {
        Some(named) => named,
        None => by_host(profiles, name, path)?,
    };
    let invalid = |reason| ProfileError::Invalid {
        name: name.clone(),
        path: path.to_owned(),
        reason,
    };
    let host = raw.host.ok_or_else(|| invalid("it has no host"))?;
    // Relative to the profile file, so the profile means the same wherever
    // knock runs.
    let beside = |file: PathBuf| match path.parent() {
        Some(dir) => dir.join(file),
        None => file,
    };
    let rotating = RotatingArgs {
        secret_file: raw.secret_file.map(beside),
        door: raw.door.map(String::into_bytes),
        step: raw.step,
        range: raw.range,
        length: raw.length,
        protocol: raw.protocol,
    };
    let one_time_file = raw.one_time_file.map(beside);
    let knocks = knocks(raw.ports, one_time_file, rotating).map_err(invalid)?;
    let family = match raw.family.as_ref().map(Scalar::to_string).as_deref() {
        None => Family::Any,
        Some("4") => Family::V4,
        Some("6") => Family::V6,
        Some(_) => return Err(invalid("family must be 4 or 6")),
    };
    Ok(Profile {
        host,
        knocks,
        udp: raw.udp.unwrap_or(false),
        delay: raw.delay,
        family,
        flags: raw.flags,
        verify: raw.verify.as_ref().map(Scalar::to_string),
        retries: raw.retries,
        verify_timeout: raw.verify_timeout,
    })
}

/// The one profile whose `host` is `host`, ASCII case ignored as in host
/// names (ssh may lower-case the host it gives as `%h`): so `ProxyCommand knock --proxy %p %h`
/// finds the profile of the host ssh connects to.
fn by_host(
    profiles: BTreeMap<String, RawProfile>,
    host: &str,
    path: &Path,
) -> Result<(String, RawProfile), ProfileError> {
    let mut matching: Vec<(String, RawProfile)> = profiles
        .into_iter()
        .filter(|(_, raw)| {
            raw.host
                .as_deref()
                .is_some_and(|own| own.eq_ignore_ascii_case(host))
        })
        .collect();
    if matching.len() > 1 {
        return Err(ProfileError::AmbiguousHost {
            host: host.to_owned(),
            names: matching.into_iter().map(|(name, _)| name).collect(),
            path: path.to_owned(),
        });
    }
    matching.pop().ok_or_else(|| ProfileError::Missing {
        name: host.to_owned(),
        path: path.to_owned(),
    })
}

/// What a profile knocks: exactly one of its ports, its one-time file and
/// its rotating door; or, as an error, what is wrong with them.
fn knocks(
    ports: Option<Vec<Scalar>>,
    one_time_file: Option<PathBuf>,
    rotating: RotatingArgs,
) -> Result<Knocks, &'static str> {
    if rotating.secret_file.is_none() && rotating.first_given().is_some() {
        return Err(
            "door, step, range, length and protocol describe a rotating door: add secret_file",
        );
    }
    match (ports, one_time_file, rotating.secret_file.is_some()) {
        (Some(_), Some(_), _) | (Some(_), _, true) | (_, Some(_), true) => {
            Err("it has more than one of ports, one_time_file and secret_file: keep one")
        }
        (None, None, false) => Err("it has none of ports, one_time_file and secret_file"),
        (Some(ports), None, false) if ports.is_empty() => Err("its ports list is empty"),
        (Some(ports), None, false) => {
            Ok(Knocks::Ports(ports.iter().map(Scalar::to_string).collect()))
        }
        (None, Some(file), false) => Ok(Knocks::OneTimeFile(file)),
        (None, None, true) if rotating.door.is_none() => {
            Err("it has a secret_file but no door: add the door's label")
        }
        (None, None, true) => Ok(Knocks::Rotating(rotating)),
    }
}

/// Parses a whole profile file.
fn parse(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, RawProfile>, ProfileError> {
    let syntax = |message: String| ProfileError::Syntax {
        path: path.to_owned(),
        message,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| syntax("not valid UTF-8".to_owned()))?;
    // toml's message names the line and the offending key.
    toml::from_str(text).map_err(|e| syntax(e.to_string().trim_end().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const FILE: &str = r#"
[home]
host = "myserver.example.com"
ports = [7000, "8000:udp", "ssh"]
udp = false
delay = 200
family = 6
flags = "syn"
verify = "ssh"
retries = 4
verify_timeout = 500

[otp]
host = "h"
one_time_file = "otp/sequences"

[rot]
host = "h"
secret_file = "keys/openssh.key"
door = "openSSH"
step = 60
range = "20000-60000"
length = 6
protocol = "mixed"
"#;

    fn write(content: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        fs::write(&path, content).unwrap();
        (dir, path)
    }

    #[test]
    fn every_key_is_read() {
        let (_dir, path) = write(FILE);
        let p = load(&path, "home").unwrap();
        assert_eq!(
            p,
            Profile {
                host: "myserver.example.com".into(),
                knocks: Knocks::Ports(vec!["7000".into(), "8000:udp".into(), "ssh".into()]),
                udp: false,
                delay: Some(200),
                family: Family::V6,
                flags: Some("syn".into()),
                verify: Some("ssh".into()),
                retries: Some(4),
                verify_timeout: Some(500),
            }
        );
    }

    #[test]
    fn a_rotating_door_is_read_with_its_secret_file_beside_the_profile() {
        let (dir, path) = write(FILE);
        let p = load(&path, "rot").unwrap();
        assert_eq!(
            p.knocks,
            Knocks::Rotating(RotatingArgs {
                secret_file: Some(dir.path().join("keys/openssh.key")),
                door: Some(b"openSSH".to_vec()),
                step: Some(60),
                range: Some("20000-60000".into()),
                length: Some(6),
                protocol: Some("mixed".into()),
            })
        );
    }

    #[test]
    fn absent_options_stay_unset() {
        let (_dir, path) = write("[a]\nhost = \"h\"\nports = [\"1\"]\nfamily = \"4\"\n");
        let p = load(&path, "a").unwrap();
        assert!(!p.udp);
        assert_eq!(p.family, Family::V4);
        assert_eq!((p.delay, p.flags, p.verify), (None, None, None));
        assert_eq!((p.retries, p.verify_timeout), (None, None));
    }

    #[test]
    fn a_relative_one_time_file_is_relative_to_the_profile_file() {
        let (dir, path) = write(FILE);
        let p = load(&path, "otp").unwrap();
        assert_eq!(
            p.knocks,
            Knocks::OneTimeFile(dir.path().join("otp/sequences"))
        );
        let (_dir, path) = write("[a]\nhost = \"h\"\none_time_file = \"/abs/otp\"\n");
        let p = load(&path, "a").unwrap();
        assert_eq!(p.knocks, Knocks::OneTimeFile(PathBuf::from("/abs/otp")));
    }

    #[test]
    fn an_unknown_key_is_named_with_the_file() {
        let (_dir, path) = write("[a]\nhost = \"h\"\nprots = [1]\n");
        let e = load(&path, "a").unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: ", path.display())), "{e}");
        assert!(e.contains("prots"), "{e}");
        assert!(e.contains("line 3"), "{e}");
    }

    #[test]
    fn a_typo_in_another_profile_is_still_reported() {
        let (_dir, path) = write("[a]\nhost = \"h\"\nports = [1]\n[b]\nhots = \"h\"\n");
        let e = load(&path, "a").unwrap_err();
        assert!(matches!(e, ProfileError::Syntax { .. }), "{e}");
    }

    #[test]
    fn wrong_types_and_bad_toml_are_syntax_errors() {
        for text in [
            "[a]\ndelay = \"x\"\n",
            "[a]\nudp = 1\n",
            "host = \"h\"\n",
            "[a\n",
            "[a]\nretries = -1\n",
            "[a]\nports = [true]\n",
        ] {
            let (_dir, path) = write(text);
            let e = load(&path, "a").unwrap_err();
            assert!(matches!(e, ProfileError::Syntax { .. }), "{text}: {e}");
        }
    }

    #[test]
    fn an_incomplete_profile_says_what_it_lacks() {
        for (text, reason) in [
            ("ports = [1]", "it has no host"),
            (
                "host = \"h\"",
                "it has none of ports, one_time_file and secret_file",
            ),
            ("host = \"h\"\nports = []", "its ports list is empty"),
            (
                "host = \"h\"\nports = [1]\none_time_file = \"f\"",
                "it has more than one of ports, one_time_file and secret_file: keep one",
            ),
            (
                "host = \"h\"\nports = [1]\nsecret_file = \"f\"\ndoor = \"d\"",
                "it has more than one of ports, one_time_file and secret_file: keep one",
            ),
            (
                "host = \"h\"\nsecret_file = \"f\"",
                "it has a secret_file but no door: add the door's label",
            ),
            (
                "host = \"h\"\nports = [1]\nstep = 30",
                "door, step, range, length and protocol describe a rotating door: add secret_file",
            ),
            (
                "host = \"h\"\nports = [1]\nfamily = 5",
                "family must be 4 or 6",
            ),
        ] {
            let (_dir, path) = write(&format!("[a]\n{text}\n"));
            let e = load(&path, "a").unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("profile [a] in {}: {reason}", path.display())
            );
        }
    }

    #[test]
    fn a_missing_profile_names_the_file_searched() {
        let (_dir, path) = write(FILE);
        let e = load(&path, "work").unwrap_err();
        assert!(matches!(e, ProfileError::Missing { .. }));
        assert_eq!(
            e.to_string(),
            format!(
                "no profile [work] in {}: add it there, or give the host's ports",
                path.display()
            )
        );
    }

    #[test]
    fn a_host_names_the_one_profile_it_is_the_host_of() {
        let (_dir, path) = write(
            "[a]\nhost = \"Server.example\"\nports = [1]\n[b]\nhost = \"h\"\nports = [2]\n\
             [h]\nhost = \"other\"\nports = [3]\n[c]\nhost = \"h\"\nports = [4]\n",
        );
        // Case is ignored, as in host names.
        let p = load(&path, "server.EXAMPLE").unwrap();
        assert_eq!(p.knocks, Knocks::Ports(vec!["1".into()]));
        // A profile's name comes first, whatever the hosts.
        let p = load(&path, "h").unwrap();
        assert_eq!(p.knocks, Knocks::Ports(vec!["3".into()]));
        // Two profiles with the host: both named, none knocked.
        let (_dir, path) =
            write("[b]\nhost = \"h\"\nports = [2]\n[c]\nhost = \"H\"\nports = [4]\n");
        let e = load(&path, "h").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "no profile [h] in {}, and more than one has it as its host: [b] [c]; \
                 give the name of the one to knock instead of the host",
                path.display()
            )
        );
        assert!(matches!(
            load(&path, "x"),
            Err(ProfileError::Missing { .. })
        ));
    }

    #[test]
    fn a_profile_found_by_host_is_named_in_its_errors() {
        let (_dir, path) = write("[a]\nhost = \"h\"\n");
        let e = load(&path, "h").unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "profile [a] in {}: it has none of ports, one_time_file and secret_file",
                path.display()
            )
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let e = load(Path::new("/nonexistent/knock.toml"), "a").unwrap_err();
        assert!(matches!(e, ProfileError::Read { .. }));
        assert!(
            e.to_string()
                .contains("/nonexistent/knock.toml cannot be read: No such file or directory"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn the_default_file_follows_xdg_then_home() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            default_path(os("/x"), os("/home/u")),
            Some(PathBuf::from("/x/knock/config.toml"))
        );
        assert_eq!(
            default_path(None, os("/home/u")),
            Some(PathBuf::from("/home/u/.config/knock/config.toml"))
        );
        // Relative and empty XDG_CONFIG_HOME are ignored, as the spec says.
        assert_eq!(
            default_path(os("rel"), os("/home/u")),
            Some(PathBuf::from("/home/u/.config/knock/config.toml"))
        );
        assert_eq!(
            default_path(os(""), os("/home/u")),
            Some(PathBuf::from("/home/u/.config/knock/config.toml"))
        );
        assert_eq!(default_path(None, os("")), None);
        assert_eq!(default_path(None, None), None);
    }

    #[test]
    fn an_explicit_file_wins() {
        assert_eq!(
            config_path(Some(Path::new("/etc/k.toml"))).unwrap(),
            PathBuf::from("/etc/k.toml")
        );
    }

    #[test]
    fn parse_never_panics_on_odd_bytes() {
        for bytes in [&b"\xff\xfe"[..], b"[a]\n[a]\n", b"[[a]]\n", b"a = {}\n"] {
            let _ = parse(Path::new("p"), bytes);
        }
    }
}
