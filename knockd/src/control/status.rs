//! The status of a running knockd as one value: what `knockd status` prints
//! (in [`super::text`], as JSON, or in [`super::prometheus`]) and SIGUSR1 logs.
//!
//! Its JSON form is a stable interface, documented in knockd(8): fields may
//! be added, never renamed or removed.

use std::collections::BTreeMap;
use std::net::IpAddr;

use knockd_core::config::SequenceSource;
use knockd_core::doors::RuntimeDoor;
use knockd_core::sources::Cidr;
use serde::Serialize;

use crate::counters::DoorCounters;

/// Everything `knockd status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// knockd's version.
    pub version: &'static str,
    /// The daemon's pid.
    pub pid: u32,
    /// Seconds since it started.
    pub uptime_seconds: u64,
    /// The captures, one per interface, in the order given.
    pub interfaces: Vec<InterfaceStatus>,
    /// The addresses knocks to doors without a `Target` are accepted on.
    pub addresses: Vec<IpAddr>,
    /// The doors of the running configuration, in file order (only the one
    /// asked for with `knockd status DOOR`).
    pub doors: Vec<DoorStatus>,
    /// Totals over every door since start.
    pub totals: Totals,
    /// What the captures read since start.
    pub capture: CaptureStatus,
}

/// One capture.
#[derive(Debug, Clone, Serialize)]
pub struct InterfaceStatus {
    /// The interface's name.
    pub name: String,
    /// Its link type (`ethernet`, `linux cooked (SLL)`, ...).
    pub link_type: String,
    /// `false` while the interface is down or gone (retried every second).
    pub capturing: bool,
    /// Its addresses, as last read.
    pub addresses: Vec<IpAddr>,
}

/// Where a door's sequence comes from, as the status shows it.
///
/// The one place a door's sequence is described: a new kind of door adds
/// its variant here and in [`SequenceStatus::of`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SequenceStatus {
    /// A fixed sequence, shown in full (the socket is the operator's only).
    Fixed {
        /// `7000:tcp,8000:udp`.
        knocks: String,
    },
    /// A one-time door: its sequences are not shown, only how many are left.
    OneTime {
        /// Sequences not used yet (0: the door is disabled).
        unused: usize,
    },
    /// A rotating door: its sequences are not shown, only the step now
    /// current (Unix time divided by `Rotating_Step`).
    Rotating {
        /// The current step.
        step: u64,
    },
}

impl SequenceStatus {
    /// The description of `door`'s sequence at Unix time `unix_seconds`.
    pub fn of(door: &RuntimeDoor, unix_seconds: u64) -> SequenceStatus {
        match &door.door.sequence {
            SequenceSource::Fixed(sequence) => SequenceStatus::Fixed {
                knocks: sequence.to_string(),
            },
            SequenceSource::OneTime(_) => SequenceStatus::OneTime {
                unused: door.one_time.as_ref().map_or(0, |file| file.remaining()),
            },
            SequenceSource::Rotating(source) => SequenceStatus::Rotating {
                step: source.rotation.step_at(unix_seconds),
            },
        }
    }
}

impl SequenceStatus {
    /// The kind and length of a fixed sequence (`fixed, 3 knocks`) without
    /// its knocks; the others as displayed, which never show sequences.
    pub fn summary(&self) -> String {
        match self {
            SequenceStatus::Fixed { knocks } => {
                let count = knocks.split(',').filter(|k| !k.is_empty()).count();
                format!("fixed, {count} knock{}", if count == 1 { "" } else { "s" })
            }
            other => other.to_string(),
        }
    }
}

impl std::fmt::Display for SequenceStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SequenceStatus::Fixed { knocks } => f.write_str(knocks),
            SequenceStatus::OneTime { unused } => write!(f, "one-time, {unused} unused"),
            SequenceStatus::Rotating { step } => write!(f, "rotating, step {step}"),
        }
    }
}

/// One door.
#[derive(Debug, Clone, Serialize)]
pub struct DoorStatus {
    /// The section name.
    pub name: String,
    /// Its sequence.
    pub sequence: SequenceStatus,
    /// Attempts in progress: element `s - 1` counts those at stage `s`
    /// (`[3, 1]`: three knockers matched one knock, one matched two).
    pub attempts_by_stage: Vec<usize>,
    /// The knockers it is open for (a scheduled stop command), soonest to close first.
    pub open: Vec<OpenStatus>,
    /// What happened on it since start.
    pub counters: DoorTotals,
}

/// A door open for one knocker, or its network.
#[derive(Debug, Clone, Serialize)]
pub struct OpenStatus {
    /// The knocker.
    pub source: IpAddr,
    /// The network it is open for, in CIDR: the knocker alone (`/32`,
    /// `/128`) unless the door has `Open_Prefix4`/`Open_Prefix6`.
    #[serde(serialize_with = "as_text")]
    pub network: Cidr,
    /// Seconds until its stop command runs; `null` when only at shutdown.
    pub closes_in_seconds: Option<f64>,
    /// For an `Nft_Set` door, the kernel set that holds the knocker
    /// (`inet knockd ssh_v4`); `closes_in_seconds` is then the time the
    /// kernel gives the element. Absent for other doors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nft_set: Option<String>,
}

/// One door's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DoorTotals {
    /// What happened to the knocks on the door (JSON: the same keys, at
    /// this level).
    #[serde(flatten)]
    pub knocks: DoorCounters,
    /// Commands started.
    pub commands_run: u64,
    /// Commands that exited non-zero, were killed, or could not start.
    pub commands_failed: u64,
    /// Start commands never run (too long, or the queue was full).
    pub commands_dropped: u64,
}

/// Totals over every door.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Totals {
    /// Every door's counters added up.
    #[serde(flatten)]
    pub doors: DoorTotals,
    /// TCP knocks ignored as a client's retransmission.
    pub retransmissions: u64,
    /// Knocks ignored while their door cooled down for their source.
    pub cooling_down: u64,
    /// Knocks from sources a door's `Allow_From`/`Deny_From` keep out.
    pub not_allowed: u64,
    /// Knocks from sources that cannot knock (broadcast, spoofed local ...).
    pub refused_sources: u64,
    /// Second captures of one knock, ignored.
    pub copies: u64,
    /// Attempts started.
    pub attempts_started: u64,
    /// Attempts in progress now.
    pub attempts_in_progress: usize,
    /// Doors open now (scheduled stop commands).
    pub doors_open: usize,
}

/// What the captures read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CaptureStatus {
    /// Frames read.
    pub packets: u64,
    /// Frames decoded.
    pub decoded: u64,
    /// Frames that did not decode, by kind (`truncated`, `malformed`,
    /// `bad_checksum`, `fragment`, `unsupported`).
    pub not_decoded: BTreeMap<String, u64>,
    /// libpcap: packets that passed the kernel filter.
    pub received: u64,
    /// libpcap: packets the kernel dropped (ring full).
    pub kernel_dropped: u64,
    /// libpcap: packets dropped by the interface or its driver.
    pub interface_dropped: u64,
}

impl Status {
    /// Keeps only the door named `name`; `false` (and no change) when there is none.
    pub fn only_door(&mut self, name: &str) -> bool {
        if !self.doors.iter().any(|door| door.name == name) {
            return false;
        }
        self.doors.retain(|door| door.name == name);
        true
    }

    /// The JSON object, on one line.
    pub fn to_json(&self) -> String {
        // Serializing plain structs, maps with string keys and numbers cannot fail.
        let mut json = serde_json::to_string(self).unwrap_or_default();
        json.push('\n');
        json
    }
}

/// A network in JSON as its CIDR text (`198.18.1.0/24`).
fn as_text<S: serde::Serializer>(network: &Cidr, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(network)
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A status with one door of each kind, an attempt, an open door and some counts.
    pub fn sample() -> Status {
        let source: IpAddr = "198.18.7.2".parse().unwrap();
        let ssh = DoorStatus {
            name: "openSSH".to_owned(),
            sequence: SequenceStatus::Fixed {
                knocks: "7000:tcp,8000:tcp,9000:tcp".to_owned(),
            },
            attempts_by_stage: vec![0, 1],
            open: vec![OpenStatus {
                source,
                network: Cidr::of(source, 32),
                closes_in_seconds: Some(8.25),
                nft_set: None,
            }],
            counters: DoorTotals {
                knocks: DoorCounters {
                    stage_hits: 5,
                    opens: 1,
                    ..DoorCounters::default()
                },
                commands_run: 1,
                ..DoorTotals::default()
            },
        };
        let smtp = DoorStatus {
            name: "smtp \"x\"".to_owned(),
            sequence: SequenceStatus::OneTime { unused: 2 },
            attempts_by_stage: Vec::new(),
            open: Vec::new(),
            counters: DoorTotals::default(),
        };
        Status {
            version: "0.9.0",
            pid: 42,
            uptime_seconds: 3725,
            interfaces: vec![InterfaceStatus {
                name: "veth0".to_owned(),
                link_type: "ethernet".to_owned(),
                capturing: true,
                addresses: vec!["198.18.7.1".parse().unwrap()],
            }],
            addresses: vec!["198.18.7.1".parse().unwrap()],
            totals: Totals {
                doors: ssh.counters,
                attempts_started: 2,
                attempts_in_progress: 1,
                doors_open: 1,
                ..Totals::default()
            },
            doors: vec![ssh, smtp],
            capture: CaptureStatus {
                packets: 7,
                decoded: 6,
                not_decoded: [("truncated".to_owned(), 1)].into(),
                received: 7,
                ..CaptureStatus::default()
            },
        }
    }

    #[test]
    fn the_json_object_has_the_documented_keys() {
        let json: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(
            keys(&json),
            [
                "addresses",
                "capture",
                "doors",
                "interfaces",
                "pid",
                "totals",
                "uptime_seconds",
                "version"
            ]
        );
        let door = &json["doors"][0];
        assert_eq!(
            keys(door),
            ["attempts_by_stage", "counters", "name", "open", "sequence"]
        );
        assert_eq!(door["sequence"]["kind"], "fixed");
        assert_eq!(door["sequence"]["knocks"], "7000:tcp,8000:tcp,9000:tcp");
        assert_eq!(door["open"][0]["source"], "198.18.7.2");
        assert_eq!(door["open"][0]["closes_in_seconds"], 8.25);
        assert_eq!(json["doors"][1]["sequence"]["kind"], "one-time");
        assert_eq!(json["doors"][1]["sequence"]["unused"], 2);
        assert_eq!(json["totals"]["stage_hits"], 5);
        assert_eq!(json["totals"]["doors_open"], 1);
        assert_eq!(json["capture"]["not_decoded"]["truncated"], 1);
    }

    #[test]
    fn sequences_show_as_the_status_documents_them() {
        let rotating = SequenceStatus::Rotating { step: 29_401_733 };
        assert_eq!(rotating.to_string(), "rotating, step 29401733");
        assert_eq!(
            serde_json::to_string(&rotating).unwrap(),
            r#"{"kind":"rotating","step":29401733}"#
        );
        let one_time = SequenceStatus::OneTime { unused: 3 };
        assert_eq!(one_time.to_string(), "one-time, 3 unused");
        assert_eq!(
            serde_json::to_string(&one_time).unwrap(),
            r#"{"kind":"one-time","unused":3}"#
        );
    }

    #[test]
    fn only_door_keeps_the_named_door_or_nothing_changes() {
        let mut status = sample();
        assert!(!status.only_door("nope"));
        assert_eq!(status.doors.len(), 2);
        assert!(status.only_door("openSSH"));
        assert_eq!(status.doors.len(), 1);
    }
}
