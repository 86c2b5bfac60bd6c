//! The opener's own checks of an opening, made whatever the watcher says:
//! the knocker must be an address a knock can come from, its name (for the
//! log) a plausible DNS name, and the door not cooling down for it. A sound
//! watcher never asks for anything these refuse; a compromised one gets a
//! log line per reason and nothing run.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use knockd_core::config::Door;
use knockd_core::privsep::RequestError;
use knockd_core::sources::{may_knock, Cidr};

use crate::interfaces;
use crate::log::{Logger, PrivsepMessage};

/// How long the host's addresses are taken as read: a flood of openings
/// reads them once a second, not once per opening.
const ADDRESSES_FRESH: Duration = Duration::from_secs(1);
/// Most (door, knocker) pairs cooling down that are remembered; past it the
/// whole table is pruned of pairs whose cooldown is over.
const MAX_COOLING: usize = 65_536;
/// The longest DNS name.
const MAX_HOST: usize = 253;

/// Why the opener refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes were not a request.
    Unreadable(RequestError),
    /// A request before the watcher said it was ready.
    BeforeReady,
    /// A request with a descriptor attached.
    Descriptor,
    /// A door of a configuration generation that is not the running one.
    OldGeneration {
        /// The generation named.
        generation: u32,
        /// The running one.
        current: u32,
    },
    /// A door index the generation does not have.
    NoSuchDoor {
        /// The generation named.
        generation: u32,
        /// The index named.
        door: u32,
    },
    /// A source no knock can come from (unspecified, broadcast, multicast,
    /// or loopback or the host's own without a loopback capture).
    CannotKnock(IpAddr),
    /// A host name with bytes no DNS name has.
    BadHostName,
    /// The door opened for this knocker less than its `Cooldown` ago.
    CoolingDown {
        /// The door's name.
        door: String,
        /// The knocker.
        source: IpAddr,
    },
    /// A capture of an interface knockd does not listen on.
    NotAnInterface(String),
    /// A spent step for a door that does not rotate.
    NotRotating {
        /// The door's index.
        door: u32,
    },
    /// A spent step the door does not accept now.
    StepOutsideWindow {
        /// The door's index.
        door: u32,
        /// The step named.
        step: u64,
    },
}

impl Refusal {
    /// The reason, without the particulars: each is logged once.
    fn reason(&self) -> &'static str {
        match self {
            Refusal::Unreadable(why) => why.name(),
            Refusal::BeforeReady => "before ready",
            Refusal::Descriptor => "descriptor",
            Refusal::OldGeneration { .. } => "old generation",
            Refusal::NoSuchDoor { .. } => "no such door",
            Refusal::CannotKnock(_) => "source cannot knock",
            Refusal::BadHostName => "bad host name",
            Refusal::CoolingDown { .. } => "cooling down",
            Refusal::NotAnInterface(_) => "not an interface",
            Refusal::NotRotating { .. } => "not rotating",
            Refusal::StepOutsideWindow { .. } => "step outside window",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Unreadable(why) => write!(f, "{why}"),
            Refusal::BeforeReady => f.write_str("a request before the watcher was confined"),
            Refusal::Descriptor => f.write_str("a descriptor, which the watcher has none to send"),
            Refusal::OldGeneration {
                generation,
                current,
            } => write!(
                f,
                "a door of configuration {generation}, which is not the running one ({current})"
            ),
            Refusal::NoSuchDoor { generation, door } => {
                write!(f, "configuration {generation} has no door {door}")
            }
            Refusal::CannotKnock(source) => {
                write!(f, "an opening for {source}, from which no knock can come")
            }
            Refusal::BadHostName => f.write_str("a knocker's name that is no DNS name"),
            Refusal::CoolingDown { door, source } => {
                write!(f, "{door} opened for {source} within its Cooldown")
            }
            Refusal::NotAnInterface(interface) => {
                write!(
                    f,
                    "a capture of {interface:?}, which knockd does not listen on"
                )
            }
            Refusal::NotRotating { door } => {
                write!(f, "a spent step for door {door}, which does not rotate")
            }
            Refusal::StepOutsideWindow { door, step } => {
                write!(f, "spent step {step} of door {door}, outside its window")
            }
        }
    }
}

/// The state of the checks.
#[derive(Debug)]
pub struct Checks {
    /// Whether the capture is on loopback, where loopback sources knock.
    loopback_capture: bool,
    /// The host's addresses and when they were read.
    host_addrs: Option<(Instant, Vec<IpAddr>)>,
    /// When each door opened for each knocker's network (the knocker alone
    /// without `Open_Prefix4`/`6`), for doors with a `Cooldown`.
    opened: HashMap<(String, Cidr), (Instant, Duration)>,
    /// The reasons logged already.
    logged: HashSet<&'static str>,
}

impl Checks {
    /// Checks for a capture on loopback or not.
    pub fn new(loopback_capture: bool) -> Checks {
        Checks {
            loopback_capture,
            host_addrs: None,
            opened: HashMap::new(),
            logged: HashSet::new(),
        }
    }

    /// A reload: cooldowns start over, as the engine's do.
    pub fn forget_cooldowns(&mut self) {
        self.opened.clear();
    }

    /// Whether `door` may open for `source` (named `host`) at `now`; if so,
    /// its cooldown starts.
    pub fn may_open(
        &mut self,
        door: &Door,
        source: IpAddr,
        host: Option<&str>,
        now: Instant,
    ) -> Result<(), Refusal> {
        if host.is_some_and(|host| !is_host_name(host)) {
            return Err(Refusal::BadHostName);
        }
        if !may_knock(source, self.loopback_capture, self.host_addrs(now)) {
            return Err(Refusal::CannotKnock(source));
        }
        if door.cooldown.is_zero() {
            return Ok(());
        }
        let key = (door.name.clone(), door.open_prefix.network(source));
        if let Some(&(at, cooldown)) = self.opened.get(&key) {
            if now.saturating_duration_since(at) < cooldown {
                return Err(Refusal::CoolingDown {
                    door: door.name.clone(),
                    source,
                });
            }
        }
        if self.opened.len() >= MAX_COOLING {
            self.opened
                .retain(|_, &mut (at, cooldown)| now.saturating_duration_since(at) < cooldown);
        }
        if self.opened.len() < MAX_COOLING {
            self.opened.insert(key, (now, door.cooldown));
        }
        Ok(())
    }

    /// Logs `refusal` the first time its reason comes up.
    pub fn log_refusal(&mut self, refusal: &Refusal, log: &mut Logger) {
        if self.logged.insert(refusal.reason()) {
            log.emit(&PrivsepMessage::Refused { why: refusal });
        }
    }

    /// The host's addresses, read again when older than [`ADDRESSES_FRESH`].
    fn host_addrs(&mut self, now: Instant) -> &[IpAddr] {
        let fresh = (self.host_addrs.as_ref())
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) < ADDRESSES_FRESH);
        if !fresh {
            // `any`: the addresses of every interface.
            let addrs = interfaces::local_addresses("any", false).unwrap_or_default();
            self.host_addrs = Some((now, addrs));
        }
        self.host_addrs
            .as_ref()
            .map_or(&[], |(_, addrs)| addrs.as_slice())
    }
}

/// Whether `host` looks like a DNS name: letters, digits, `-`, `_` and `.`,
/// at most 253 bytes. It only goes to the log, but the log is read by people
/// and parsers.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= MAX_HOST
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use knock_proto::Sequence;
    use knockd_core::config::SequenceSource;

    fn door(cooldown: u64) -> Door {
        let mut door = Door::new("d", SequenceSource::Fixed(Sequence::parse("7000").unwrap()));
        door.cooldown = Duration::from_secs(cooldown);
        door
    }

    #[test]
    fn sources_no_knock_comes_from_are_refused() {
        let mut checks = Checks::new(false);
        let now = Instant::now();
        for source in [
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "127.0.0.1",
            "::",
            "ff02::1",
            "::1",
        ] {
            let source: IpAddr = source.parse().unwrap();
            assert_eq!(
                checks.may_open(&door(0), source, None, now),
                Err(Refusal::CannotKnock(source))
            );
        }
        assert_eq!(
            checks.may_open(&door(0), "198.18.0.2".parse().unwrap(), None, now),
            Ok(())
        );
    }

    #[test]
    fn a_loopback_capture_lets_loopback_knock() {
        let mut checks = Checks::new(true);
        let now = Instant::now();
        assert_eq!(
            checks.may_open(&door(0), "127.0.0.1".parse().unwrap(), None, now),
            Ok(())
        );
    }

    #[test]
    fn a_second_opening_within_the_cooldown_is_refused() {
        let mut checks = Checks::new(false);
        let now = Instant::now();
        let source: IpAddr = "198.18.0.2".parse().unwrap();
        assert_eq!(checks.may_open(&door(10), source, None, now), Ok(()));
        assert!(matches!(
            checks.may_open(&door(10), source, None, now + Duration::from_secs(9)),
            Err(Refusal::CoolingDown { .. })
        ));
        assert_eq!(
            checks.may_open(&door(10), source, None, now + Duration::from_secs(10)),
            Ok(())
        );
    }

    #[test]
    fn host_names_are_dns_names() {
        assert!(is_host_name("client-1.example.org"));
        for bad in ["", "a b", "a\nb", "x;rm", &"a".repeat(254)] {
            assert!(!is_host_name(bad), "{bad:?}");
        }
    }
}
