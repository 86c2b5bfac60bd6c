//! Doors as the daemon runs them: the configuration read from disk plus, for
//! one-time doors, the state of their sequences file and, for rotating
//! doors, their secret.

// An input path: any bytes must give a value or an error, never a panic.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

use std::fmt;
use std::path::Path;

use knock_proto::file::Exposure;
use knock_proto::rotating::{Label, Rotation, Secret};
use knock_proto::{OneTimeError, OneTimeSequences, Sequence};

use crate::config::{
    Config, ConfigError, ConfigErrorKind, DisabledDoor, Door, RotatingSource, SequenceSource,
};
use crate::engine::EngineDoor;

/// One configured door and where its current sequence comes from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RuntimeDoor {
    /// The door as configured.
    pub door: Door,
    /// The sequences file of a one-time door, as last read.
    pub one_time: Option<OneTimeSequences>,
    /// A rotating door's secret and settings.
    pub rotating: Option<RotatingDoor>,
}

/// What a rotating door derives its sequences from.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct RotatingDoor {
    /// The shared secret, read from `Rotating_Secret`.
    pub(crate) secret: Secret,
    /// The door's name as the derivation's label.
    pub(crate) label: Label,
    /// Step, range, length, protocol and skew.
    pub rotation: Rotation,
}

impl RotatingDoor {
    /// The sequence of the step current at `unix_seconds`.
    pub fn sequence_at(&self, unix_seconds: u64) -> Sequence {
        let step = self.rotation.step_at(unix_seconds);
        self.rotation.sequence(&self.secret, &self.label, step)
    }

    /// The sequences of the steps acceptable at `unix_seconds` that `spent`
    /// does not exclude, nearest to now first (the step a first knock
    /// binds to when two sequences share it). A step whose sequence `known`
    /// gives (derived from this door's secret before) is not derived again:
    /// at a step boundary, all but one step of the window are known.
    pub fn window(
        &self,
        unix_seconds: u64,
        spent: impl Fn(u64) -> bool,
        known: impl Fn(u64) -> Option<Sequence>,
    ) -> Vec<(u64, Sequence)> {
        let now = self.rotation.step_at(unix_seconds);
        let mut steps: Vec<u64> = self.rotation.acceptable(now).collect();
        steps.sort_by_key(|&t| (t.abs_diff(now), t));
        steps
            .into_iter()
            .filter(|&t| !spent(t))
            .map(|t| {
                let sequence = known(t)
                    .unwrap_or_else(|| self.rotation.sequence(&self.secret, &self.label, t));
                (t, sequence)
            })
            .collect()
    }
}

impl RuntimeDoor {
    /// The sequence to knock now; `None` for a one-time door whose file is used up.
    pub fn active_sequence(&self) -> Option<&Sequence> {
        match (&self.door.sequence, &self.one_time) {
            (SequenceSource::Fixed(sequence), _) => Some(sequence),
            (SequenceSource::OneTime(_), Some(file)) => file.active(),
            (SequenceSource::OneTime(_), None) | (SequenceSource::Rotating(_), _) => None,
        }
    }
}

impl From<&RuntimeDoor> for EngineDoor {
    /// What the engine matches of a door: its current sequence and settings.
    fn from(d: &RuntimeDoor) -> Self {
        EngineDoor {
            name: d.door.name.clone(),
            sequence: d.active_sequence().cloned(),
            seq_timeout: d.door.seq_timeout,
            tcp_flags: d.door.tcp_flags,
            target: d.door.target,
            cooldown: d.door.cooldown,
            sources: d.door.sources.clone(),
            allow_repeats: d.door.allow_repeats,
            strict: d.door.strict,
            rotating: d.rotating.is_some(),
            open_prefix: d.door.open_prefix,
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

impl Loaded {
    /// The doors as the engine matches them, in order.
    pub fn engine_doors(&self) -> Vec<EngineDoor> {
        self.doors.iter().map(EngineDoor::from).collect()
    }
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
///
/// A rotating door whose secret cannot be used is disabled (moved to
/// [`Config::disabled`]), not fatal: it is knockd's own directive, and one
/// bad door must not take down the others. A secret must belong to `user`
/// (the uid knockd runs as) or root and give group and others no permission.
/// A configuration someone else may change is a warning in
/// [`Config::warnings`].
pub fn load(path: &Path, base: &Path, user: u32) -> Result<Loaded, LoadError> {
    let mut config = Config::load(path).map_err(LoadError::Config)?;
    config.resolve_paths(base);
    config.warnings.extend(exposed(path, user));
    let mut secrets = Vec::new();
    let mut kept = Vec::with_capacity(config.doors.len());
    for door in std::mem::take(&mut config.doors) {
        match read_secret(&door, user) {
            Ok(rotating) => {
                secrets.push(rotating);
                kept.push(door);
            }
            Err(error) => config.disabled.push(DisabledDoor {
                door: door.name.clone(),
                error,
            }),
        }
    }
    config.doors = kept;
    let doors = config
        .doors
        .iter()
        .zip(secrets)
        .map(|(door, rotating)| {
            let one_time = match &door.sequence {
                SequenceSource::OneTime(file) => {
                    let sequences = OneTimeSequences::load(file).map_err(LoadError::OneTime)?;
                    // 0.8 refuses a file it cannot mark at start; so do we,
                    // rather than find out at the first knock.
                    sequences.check_writable().map_err(LoadError::OneTime)?;
                    Some(sequences)
                }
                SequenceSource::Fixed(_) | SequenceSource::Rotating(_) => None,
            };
            Ok(RuntimeDoor {
                door: door.clone(),
                one_time,
                rotating,
            })
        })
        .collect::<Result<_, LoadError>>()?;
    Ok(Loaded { config, doors })
}

/// The warning for a configuration that someone other than `user` or root
/// may change: it holds the commands knockd runs as `user`.
#[cfg(unix)]
fn exposed(path: &Path, user: u32) -> Option<ConfigError> {
    let meta = std::fs::metadata(path).ok()?;
    let exposure = Exposure::of_file(&meta, user, 0o022)?;
    Some(ConfigError::new(
        path,
        None,
        ConfigErrorKind::Exposed(exposure),
    ))
}

/// Other platforms have no owners and modes to check.
#[cfg(not(unix))]
fn exposed(_path: &Path, _user: u32) -> Option<ConfigError> {
    None
}

/// A rotating door's secret, read and checked; `None` for other doors.
fn read_secret(door: &Door, user: u32) -> Result<Option<RotatingDoor>, ConfigError> {
    let SequenceSource::Rotating(RotatingSource {
        secret_file,
        rotation,
    }) = &door.sequence
    else {
        return Ok(None);
    };
    let problem = |problem: String| {
        ConfigError::new(
            secret_file,
            None,
            ConfigErrorKind::Rotating {
                door: door.name.clone(),
                problem,
            },
        )
    };
    let secret = Secret::read_file(secret_file, user).map_err(|e| problem(e.to_string()))?;
    // The config readers have checked the name's length. The label is the
    // name's bytes as written in the file.
    let label = Label::new(&crate::bytes::encode(&door.name))
        .ok_or_else(|| problem("the door's name cannot be a label".into()))?;
    Ok(Some(RotatingDoor {
        secret,
        label,
        rotation: *rotation,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    /// The effective uid of this process: the owner of a file it creates.
    fn own_uid(dir: &Path) -> u32 {
        use std::os::unix::fs::MetadataExt;
        let probe = dir.join("probe");
        fs::write(&probe, "").unwrap();
        fs::metadata(&probe).unwrap().uid()
    }

    /// Writes `key` as a private secret file in `dir`.
    fn secret_file(dir: &Path, key: &str) -> std::path::PathBuf {
        let path = dir.join("door.key");
        fs::write(&path, format!("# a test key\n{key}\n")).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    #[test]
    fn every_published_vector_comes_out_of_a_knockd_conf_door() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/rotating-vectors.json"
        );
        let json: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(path).unwrap()).unwrap();
        let vectors = json["vectors"].as_array().unwrap();
        assert!(vectors.len() >= 13);
        for v in vectors {
            let dir = tempfile::tempdir().unwrap();
            let key = secret_file(dir.path(), v["secret"].as_str().unwrap());
            let (label, step) = (v["label"].as_str().unwrap(), v["step"].as_u64().unwrap());
            let conf = dir.path().join("knockd.conf");
            let text = format!(
                "[{label}]\nRotating_Secret = {}\nRotating_Step = {step}\nRotating_Range = {}\n\
                 Rotating_Length = {}\nRotating_Protocol = {}\n",
                key.display(),
                v["range"].as_str().unwrap(),
                v["length"],
                v["protocol"].as_str().unwrap()
            );
            fs::write(&conf, text).unwrap();
            let loaded = load(&conf, dir.path(), own_uid(dir.path())).unwrap();
            let rotating = loaded.doors[0].rotating.as_ref().unwrap();
            let t = v["t"].as_u64().unwrap();
            // Any moment of the step: its first second and its last.
            for at in [t * step, t * step + step - 1] {
                assert_eq!(
                    rotating.sequence_at(at).to_string(),
                    v["sequence"].as_str().unwrap(),
                    "{label} at {at}"
                );
            }
        }
    }

    #[test]
    fn a_secret_others_may_read_disables_only_its_door() {
        let dir = tempfile::tempdir().unwrap();
        let key = secret_file(dir.path(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        let conf = dir.path().join("knockd.conf");
        let text = "[rot]\nRotating_Secret = door.key\n[plain]\nsequence = 7,8,9\n";
        fs::write(&conf, text).unwrap();
        let loaded = load(&conf, dir.path(), own_uid(dir.path())).unwrap();
        assert_eq!(loaded.doors.len(), 1);
        assert_eq!(loaded.doors[0].door.name, "plain");
        let error = loaded.config.disabled[0].error.to_string();
        assert_eq!(
            error,
            format!(
                "{}: section rot: the secret file is not private: group or others may read it (mode 0644); run chmod 600 on it",
                key.display()
            )
        );
        assert!(!error.contains("GEZD"), "{error}");
    }

    #[test]
    fn a_configuration_others_may_write_is_used_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("knockd.conf");
        fs::write(&conf, "[d]\nsequence = 7\n").unwrap();
        let user = own_uid(dir.path());
        for mode in [0o644, 0o640, 0o600] {
            fs::set_permissions(&conf, fs::Permissions::from_mode(mode)).unwrap();
            assert!(load(&conf, dir.path(), user)
                .unwrap()
                .config
                .warnings
                .is_empty());
        }
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o664)).unwrap();
        let loaded = load(&conf, dir.path(), user).unwrap();
        assert_eq!(loaded.doors.len(), 1, "still used");
        let warnings: Vec<String> = loaded
            .config
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            warnings,
            [format!(
                "{}: holds the commands knockd runs, but group or others may write it (mode 0664); still used, as knockd 0.8 does: run chmod go-w on it",
                conf.display()
            )]
        );
        // Owned by a user other than root and the reader: as root, give the
        // file away; otherwise read it as another user.
        fs::set_permissions(&conf, fs::Permissions::from_mode(0o644)).unwrap();
        let (owner, reader) = if user == 0 {
            std::os::unix::fs::chown(&conf, Some(65534), None).unwrap();
            (65534, 0)
        } else {
            (user, user + 1)
        };
        let warnings = load(&conf, dir.path(), reader).unwrap().config.warnings;
        let said = warnings[0].to_string();
        assert!(
            said.contains(&format!(
                "its owner (uid {owner}) is neither root nor the user reading it (uid {reader})"
            )),
            "{said}"
        );
        assert!(
            said.ends_with(&format!("run chown {reader} on it")),
            "{said}"
        );
    }

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
        let loaded = load(&conf, dir.path(), own_uid(dir.path())).unwrap();
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
        let err = load(&conf, dir.path(), own_uid(dir.path())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/nonexistent/otp: No such file or directory"
        );
    }
}
