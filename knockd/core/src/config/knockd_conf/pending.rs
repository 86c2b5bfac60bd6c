//! A door being read, and the checks once its section has ended: its
//! rotating keys, its problems and warnings, and whether it has a sequence.

use std::path::{Path, PathBuf};

use crate::config::rotating::RotatingKeys;
use crate::config::{Config, ConfigError, ConfigErrorKind, DisabledDoor, Door, SequenceSource};

/// A door being read, with the line of its header for the final check.
pub(super) struct PendingDoor {
    pub(super) line: usize,
    pub(super) sequence: Option<SequenceSource>,
    /// The `Rotating_*` keys read so far.
    pub(super) rotating: RotatingKeys,
    /// The door with a placeholder sequence until its own is read.
    pub(super) door: Door,
    /// Values 0.8 would turn into something that cannot work as written,
    /// by line: each disables the door.
    pub(super) problems: Vec<(usize, ConfigErrorKind)>,
    /// Values read as 0.8 reads them, though they look like mistakes.
    pub(super) warnings: Vec<(usize, ConfigErrorKind)>,
}

impl PendingDoor {
    pub(super) fn new(line: usize, name: &str) -> Self {
        PendingDoor {
            line,
            sequence: None,
            rotating: RotatingKeys::default(),
            door: Door::new(name, SequenceSource::OneTime(PathBuf::new())),
            problems: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn disable(&mut self, line: usize, kind: ConfigErrorKind) {
        self.problems.push((line, kind));
    }

    pub(super) fn warn(&mut self, line: usize, kind: ConfigErrorKind) {
        self.warnings.push((line, kind));
    }

    /// Adds the door to `config`, or to its disabled doors; an error naming
    /// its header line if it never got a sequence.
    pub(super) fn finish(mut self, path: &Path, config: &mut Config) -> Result<(), ConfigError> {
        let at = |(line, kind)| ConfigError::new(path, Some(line), kind);
        let rotating = std::mem::take(&mut self.rotating);
        match rotating.build(&self.door.name, self.sequence.is_some()) {
            Ok(Some(source)) => self.sequence = Some(SequenceSource::Rotating(source)),
            Ok(None) => {}
            Err(problem) => {
                let door = self.door.name.clone();
                self.disable(self.line, ConfigErrorKind::Rotating { door, problem });
            }
        }
        if let Some(problem) = self.door.nft_problem() {
            let door = self.door.name.clone();
            self.disable(self.line, ConfigErrorKind::Nft { door, problem });
        }
        config.warnings.extend(self.warnings.into_iter().map(at));
        if !self.problems.is_empty() {
            let name = self.door.name;
            config
                .disabled
                .extend(self.problems.into_iter().map(|problem| DisabledDoor {
                    door: name.clone(),
                    error: at(problem),
                }));
            return Ok(());
        }
        let Some(sequence) = self.sequence else {
            return Err(ConfigError::new(
                path,
                Some(self.line),
                ConfigErrorKind::EmptySequence {
                    door: self.door.name,
                },
            ));
        };
        let mut door = Door {
            sequence,
            ..self.door
        };
        door.inherit_options(&config.options);
        config.doors.push(door);
        Ok(())
    }
}
