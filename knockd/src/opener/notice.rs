//! What the opener tells the watcher: the doors of a configuration
//! generation, a one-time door's next sequence, and the open doors with the
//! commands' counters.
//!
//! The opener is root and the watcher trusts it, so these travel as serde
//! data (JSON on the channel between the two processes); what the watcher
//! sends the other way is checked byte by byte
//! ([`knockd_core::privsep::WatcherRequest`]).

use knock_proto::OneTimeSequences;
use knockd_core::config::LogFormat;
use knockd_core::doors::RuntimeDoor;
use knockd_core::wire::LinkType;
use serde::{Deserialize, Serialize};

use crate::commands::{CommandStats, OpenDoor};

/// A message from the opener to the watcher.
#[derive(Debug, Serialize, Deserialize)]
pub enum Notice {
    /// A reloaded configuration: the watcher matches these doors from now on.
    Generation(Generation),
    /// One-time door `door` of `generation` opened: its sequences file
    /// is now as `sequences` holds it, and it waits for the first unused one
    /// (or for nothing when the file is used up).
    Rearm {
        /// The configuration generation of `door`.
        generation: u32,
        /// The door's index in it.
        door: u32,
        /// The file's unused sequences, as the opener last read them.
        sequences: OneTimeSequences,
    },
    /// The capture of `interface`, opened again: its packet socket comes
    /// with this notice.
    Capture {
        /// The interface's name.
        interface: String,
        /// What its frames start with.
        link: LinkType,
    },
    /// The capture of `interface` could not be opened again (yet): the
    /// watcher asks again after a pause, as it would open it again itself.
    CaptureFailed {
        /// The interface's name.
        interface: String,
    },
    /// The open doors and the commands' counters, asked for `purpose`.
    Report {
        /// The opener's state.
        report: Report,
        /// What the watcher does with it.
        purpose: Purpose,
    },
}

/// A configuration generation as the watcher runs it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Generation {
    /// Its number: requests name doors by index in a generation.
    pub generation: u32,
    /// The doors, without their commands.
    pub doors: Vec<RuntimeDoor>,
    /// The log's format after the reload.
    pub log_format: LogFormat,
    /// Whether `UseSyslog` is on (a reload cannot turn it off, as in 0.8).
    pub use_syslog: bool,
}

/// Why the watcher asked for, or is sent, a [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Purpose {
    /// To answer the control socket's waiting requests.
    Status,
    /// SIGUSR1: the status goes to the log.
    LogStatus,
    /// Shutdown: the watcher prints its counters (`-v`) and exits.
    Final,
}

/// The opener's side of the status.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    /// Each open door and knocker, soonest to close first.
    pub open: Vec<OpenDoor>,
    /// The commands' totals.
    pub stats: CommandStats,
    /// Each door's share of `stats`, by name.
    pub door_stats: Vec<(String, CommandStats)>,
}

impl Report {
    /// Door `door`'s share of the commands' totals.
    pub fn door_stats(&self, door: &str) -> CommandStats {
        (self.door_stats.iter())
            .find(|(name, _)| name == door)
            .map(|(_, stats)| *stats)
            .unwrap_or_default()
    }
}

/// The doors of `doors` as the watcher gets them: no commands, which only
/// the opener runs.
pub fn without_commands(doors: &[RuntimeDoor]) -> Vec<RuntimeDoor> {
    doors
        .iter()
        .map(|runtime| {
            let mut runtime = runtime.clone();
            runtime.door.strip_commands();
            runtime
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rearm_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("otp");
        std::fs::write(&path, "#1,2\n2001,2002:udp\n").unwrap();
        let sequences = OneTimeSequences::load(&path).unwrap();
        let notice = Notice::Rearm {
            generation: 0,
            door: 1,
            sequences: sequences.clone(),
        };
        let bytes = serde_json::to_vec(&notice).unwrap();
        let back: Notice = serde_json::from_slice(&bytes).unwrap();
        let Notice::Rearm {
            sequences: back, ..
        } = back
        else {
            panic!("{back:?}");
        };
        assert_eq!(back, sequences);
    }
}
