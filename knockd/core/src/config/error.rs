//! Configuration errors: which file, which line, and what is wrong.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use knock_proto::file::Exposure;
use knock_proto::{io_message, FlagError, SequenceError, Visible};

use super::value::MAX_COMMAND_LEN;
use crate::sources::CidrError;

/// A configuration error: which file, which line (when one is to blame), and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file being read.
    pub path: PathBuf,
    /// The 1-based line, when the error is tied to one.
    pub line: Option<usize>,
    /// What is wrong.
    pub(crate) kind: ConfigErrorKind,
}

/// What is wrong with a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigErrorKind {
    /// The file could not be read (the OS's message).
    Io(String),
    /// A line of a TOML file is not valid UTF-8 (TOML is UTF-8 by definition).
    NotUtf8,
    /// A knockd.conf line holds a NUL byte, which no command or name can carry.
    Nul,
    /// `[]`.
    BadSectionName,
    /// A directive before the first section.
    OutsideSection,
    /// A key that is not known in this section, or a key without `=` other than `UseSyslog`.
    SyntaxError(String),
    /// A bad `TCPFlags` token.
    Flag(FlagError),
    /// A bad sequence in a door.
    Sequence {
        /// The door's name.
        door: String,
        /// What is wrong with its sequence.
        error: SequenceError,
    },
    /// A door with neither `Sequence` nor `One_Time_Sequences`.
    EmptySequence {
        /// The door's name.
        door: String,
    },
    /// A value that does not fit its key.
    InvalidValue {
        /// The key as written.
        key: String,
        /// The value as written.
        value: String,
        /// What the key wants.
        expected: &'static str,
    },
    /// A value read as 0.8's `atoi` reads it, the text after the number
    /// ignored (a warning, not an error).
    TrailingTextIgnored {
        /// The key (or sequence element) as written.
        key: String,
        /// The value as written.
        value: String,
        /// What was read of it.
        read: String,
    },
    /// A command longer than knockd can run once `%IP%` is an IPv6 address.
    CommandTooLong {
        /// The key as written.
        key: String,
        /// Its length with the longest address in every `%IP%`.
        len: usize,
    },
    /// A bad `Allow_From` or `Deny_From` list.
    Sources {
        /// The key as written.
        key: String,
        /// What is wrong with the list.
        error: CidrError,
    },
    /// A TOML syntax or type error (toml's message).
    Toml(String),
    /// Someone other than knockd's user or root may change the
    /// configuration, which holds the commands knockd runs (a warning: 0.8
    /// reads it all the same).
    Exposed(Exposure),
    /// The `Nft_Set` of a door cannot work (see [`super::Door::nft_problem`]).
    Nft {
        /// The door's name.
        door: String,
        /// What is wrong.
        problem: String,
    },
    /// The `Rotating_*` settings of a door do not make a rotating door.
    Rotating {
        /// The door's name.
        door: String,
        /// What is wrong.
        problem: String,
    },
}

impl ConfigError {
    pub(crate) fn new(path: &Path, line: Option<usize>, kind: ConfigErrorKind) -> Self {
        ConfigError {
            path: path.to_owned(),
            line,
            kind,
        }
    }

    pub(super) fn io(path: &Path, error: &io::Error) -> Self {
        ConfigError::new(path, None, ConfigErrorKind::Io(io_message(error)))
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", Visible(&self.path.to_string_lossy()))?;
        if let Some(line) = self.line {
            write!(f, ": line {line}")?;
        }
        write!(f, ": {}", self.kind)
    }
}

impl fmt::Display for ConfigErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigErrorKind::Io(message) => f.write_str(message),
            ConfigErrorKind::NotUtf8 => f.write_str("line is not valid UTF-8"),
            ConfigErrorKind::Nul => f.write_str("line holds a NUL byte (remove it)"),
            ConfigErrorKind::BadSectionName => {
                f.write_str("bad section name (expected [options] or [door name])")
            }
            ConfigErrorKind::OutsideSection => f.write_str(
                "all directives must belong to a section (start the file with [options] or [door name])",
            ),
            ConfigErrorKind::SyntaxError(detail) => write!(f, "syntax error: {}", Visible(detail)),
            ConfigErrorKind::Flag(e) => write!(f, "{e}"),
            ConfigErrorKind::Sequence { door, error } => {
                write!(f, "section {}: {error}", Visible(door))
            }
            ConfigErrorKind::EmptySequence { door } => write!(
                f,
                "section '{}' has an empty knock sequence (give it a Sequence or One_Time_Sequences)",
                Visible(door)
            ),
            ConfigErrorKind::InvalidValue {
                key,
                value,
                expected,
            } => write!(
                f,
                "invalid value \"{}\" for {} (expected {expected})",
                Visible(value),
                Visible(key)
            ),
            ConfigErrorKind::TrailingTextIgnored { key, value, read } => write!(
                f,
                "{} = {}: read as {}, the text after the number ignored as knockd 0.8 does",
                Visible(key),
                Visible(value),
                Visible(read)
            ),
            ConfigErrorKind::CommandTooLong { key, len } => write!(
                f,
                "{} is {len} bytes once %IP% is the longest (IPv6) address; knockd runs commands of at most {MAX_COMMAND_LEN} bytes, as 0.8",
                Visible(key)
            ),
            ConfigErrorKind::Sources { key, error } => write!(f, "{}: {error}", Visible(key)),
            ConfigErrorKind::Toml(message) => f.write_str(message),
            ConfigErrorKind::Exposed(exposure) => write!(
                f,
                "holds the commands knockd runs, but {}; still used, as knockd 0.8 does: run {} on it",
                exposure.reason(),
                exposure.fix()
            ),
            ConfigErrorKind::Rotating { door, problem } | ConfigErrorKind::Nft { door, problem } => {
                write!(f, "section {}: {problem}", Visible(door))
            }
        }
    }
}

impl std::error::Error for ConfigError {}
