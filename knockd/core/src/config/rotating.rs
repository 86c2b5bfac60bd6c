//! The `Rotating_*` keys of a door, collected in any order by either reader
//! and turned into a [`RotatingSource`] once the door is complete.

use std::path::PathBuf;

use knock_proto::rotating::{Label, PortRange, RotatingProtocol, Rotation};

use super::model::RotatingSource;

/// What a door said about rotation so far.
#[derive(Debug, Default)]
pub(super) struct RotatingKeys {
    pub(crate) secret_file: Option<PathBuf>,
    pub(crate) step: Option<u64>,
    pub(crate) range: Option<PortRange>,
    pub(crate) length: Option<usize>,
    pub(crate) protocol: Option<RotatingProtocol>,
    pub(crate) skew: Option<u64>,
}

/// What `Rotating_Range` takes.
pub(super) const RANGE_EXPECTED: &str = "a port range LO-HI with 1 <= LO <= HI <= 65535";
/// What `Rotating_Protocol` takes.
pub(super) const PROTOCOL_EXPECTED: &str = "tcp, udp or mixed";

impl RotatingKeys {
    /// Whether any `Rotating_*` key was given.
    pub(crate) fn any(&self) -> bool {
        self.secret_file.is_some()
            || self.step.is_some()
            || self.range.is_some()
            || self.length.is_some()
            || self.protocol.is_some()
            || self.skew.is_some()
    }

    /// The door's rotating source: `Ok(None)` when no key was given; an
    /// error (the problem, in words) when the keys do not make one.
    /// `has_sequence` says whether the door also has `Sequence` or
    /// `One_Time_Sequences`, which `Rotating_Secret` excludes.
    pub(crate) fn build(
        self,
        door: &str,
        has_sequence: bool,
    ) -> Result<Option<RotatingSource>, String> {
        if !self.any() {
            return Ok(None);
        }
        let Some(secret_file) = self.secret_file else {
            return Err(
                "Rotating_Step, _Range, _Length, _Protocol and _Skew need Rotating_Secret".into(),
            );
        };
        if has_sequence {
            return Err(
                "Rotating_Secret excludes Sequence and One_Time_Sequences (keep one)".into(),
            );
        }
        if Label::new(&crate::bytes::encode(door)).is_none() {
            return Err(format!(
                "a rotating door's name is its label and must be 1 to {} bytes",
                Label::MAX_LEN
            ));
        }
        let defaults = Rotation::default();
        let rotation = Rotation::new(
            self.step.unwrap_or(defaults.step()),
            self.range.unwrap_or(defaults.range()),
            self.length.unwrap_or(defaults.length()),
            self.protocol.unwrap_or(defaults.protocol()),
            self.skew.unwrap_or(defaults.skew()),
        )
        .map_err(|error| format!("rotating settings: {error}"))?;
        Ok(Some(RotatingSource {
            secret_file,
            rotation,
        }))
    }
}
