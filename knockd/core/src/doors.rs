//! Doors as the daemon runs them: the configuration read from disk plus, for
//! one-time doors, the state of their sequences file.

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::path::Path;

use knock_proto::{OneTimeError, OneTimeSequences, Sequence};

use crate::config::{Config, ConfigError, Door, SequenceSource};

/// One configured door and where its current sequence comes from.
#[derive(Debug, Clone)]
pub struct RuntimeDoor {
    /// The door as configured.
    pub door: Door,
    /// The sequences file of a one-time door, as last read.
    pub one_time: Option<OneTimeSequences>,
}

impl RuntimeDoor {
    /// The sequence to knock now; `None` for a one-time door whose file is used up.
    pub fn active_sequence(&self) -> Option<&Sequence> {
        match (&self.door.sequence, &self.one_time) {
            (SequenceSource::Fixed(sequence), _) => Some(sequence),
            (SequenceSource::OneTime(_), Some(file)) => file.active(),
            (SequenceSource::OneTime(_), None) => None,
        }
    }
}

/// A loaded configuration with its doors ready to run.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration, with relative paths made absolute.
    pub config: Config,
    /// One entry per door of `config`, in order.
    pub doors: Vec<RuntimeDoor>,
}

/// Why a configuration could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The configuration file itself.
    Config(ConfigError),
    /// A one-time sequences file.
    OneTime(OneTimeError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Config(e) => e.fmt(f),
            LoadError::OneTime(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {}

/// Reads the configuration at `path` and every one-time sequences file it
/// names, which must be writable (the mark of a used sequence). Relative paths inside it are resolved against `base` (the
/// directory knockd started in), so a reload after `-d` changed to `/` reads
/// the same files: 0.8 dies on that reload.
pub fn load(path: &Path, base: &Path) -> Result<Loaded, LoadError> {
    let mut config = Config::load(path).map_err(LoadError::Config)?;
    config.resolve_paths(base);
    let doors = config
        .doors
        .iter()
        .map(|door| {
            let one_time = match &door.sequence {
                SequenceSource::OneTime(file) => {
                    let sequences = OneTimeSequences::load(file).map_err(LoadError::OneTime)?;
                    // 0.8 refuses a file it cannot mark at start; so do we,
                    // rather than find out at the first knock.
                    sequences.check_writable().map_err(LoadError::OneTime)?;
                    Some(sequences)
                }
                SequenceSource::Fixed(_) => None,
            };
            Ok(RuntimeDoor {
                door: door.clone(),
                one_time,
            })
        })
        .collect::<Result<_, LoadError>>()?;
    Ok(Loaded { config, doors })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn one_time_doors_are_armed_with_their_first_unused_line_relative_to_the_base() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("otp"), "#1,2\n 3,4\n").unwrap();
        let conf = dir.path().join("knockd.conf");
        fs::write(
            &conf,
            "[fixed]\nsequence = 7\n[otp]\none_time_sequences = otp\n",
        )
        .unwrap();
        let loaded = load(&conf, dir.path()).unwrap();
        assert_eq!(
            loaded.doors[0].active_sequence().unwrap().to_string(),
            "7:tcp"
        );
        assert_eq!(
            loaded.doors[1].active_sequence().unwrap().to_string(),
            "3:tcp,4:tcp"
        );
    }

    #[test]
    fn a_missing_one_time_file_is_a_load_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("knockd.conf");
        fs::write(&conf, "[otp]\none_time_sequences = /nonexistent/otp\n").unwrap();
        let err = load(&conf, dir.path()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/nonexistent/otp: No such file or directory"
        );
    }
}
