//! The matching engine: a pure state machine from packets to door events.
//!
//! Decoded packets and the current time go in, [`Event`]s come out; nothing
//! here reads a clock, does I/O or logs. Time is whatever [`Instant`] the
//! caller passes, with exact sub-second arithmetic; an instant earlier than
//! one already seen is taken as the latest one (time stands still, it never
//! runs backwards).
//!
//! The model is knockd 0.8's with its state bugs fixed (the tags `B4`, ...
//! are in docs/differences-from-0.8.md):
//!
//! * **Visibility**: a packet counts only if, for at least one door, its
//!   destination passes that door's destination check, its (protocol, port) is
//!   in that door's sequence and, for TCP, its flags satisfy that door's
//!   `TCPFlags`. Anything else changes nothing, whether or not the kernel
//!   filter let it through.
//! * **Per door**, a visible packet from source S: doors whose destination
//!   check fails are skipped; a TCP packet violating the door's flags is
//!   ignored for it ([`Event::FlagsIgnored`]). If S has an attempt on the door,
//!   the packet either matches the next knock (port and protocol) and advances
//!   it, or invalidates it and is then reconsidered as a first knock (0.8
//!   drops it: B4). Without an attempt, the door's first knock starts one,
//!   even while S is in the middle of another door (0.8: B6). Doors and
//!   sources never disturb each other's attempts (0.8: B5).
//! * **A knock is used once**: a packet that advances (or completes) one of
//!   S's attempts starts no new attempt on any door, as in 0.8. Otherwise the
//!   last knock of an opening door would start its closing twin (`9000` of
//!   `7000,8000,9000` starting `9000,8000,7000`) and log a spurious stage and
//!   timeout.
//! * **Timeouts** run from the first knock: an attempt is dead at
//!   `first knock + seq_timeout`. [`Engine::on_timer`] reports them on time
//!   without traffic (0.8 only notices at the next packet: #71, B2).
//! * **Retransmissions** ([`Event::Retransmission`]): a TCP knock resent with
//!   the source port of the knock that last advanced the attempt is the
//!   client's SYN retransmission (the firewall drops knocks, so clients that
//!   wait resend): it is ignored, where 0.8 counted it as a wrong knock and
//!   broke the attempt (knockd issue #92). A door with `Allow_Repeats`
//!   ignores any repeat of the knock just matched the same way (a client
//!   that knocks each port twice, an app that resends its datagram), unless
//!   the next knock of the sequence is that same one.
//! * **Source lists** ([`Event::NotAllowed`]): a source outside a door's
//!   `Allow_From` or inside its `Deny_From` creates no state on that door.
//! * **Copies**: where one packet may be captured twice (`-i any` sees a
//!   frame on a bridge port and on the bridge), a packet equal to one of the
//!   last few knocks within a short window is a copy and is ignored
//!   ([`Engine::set_copies_within`]).
//! * **Cooldown**: after a door opens for a source, that source's knocks on
//!   that door are ignored for the door's `Cooldown` ([`Event::CoolingDown`]):
//!   no attempt, no second opening (knockd issue #86).
//! * **Sources that cannot knock** ([`Event::SourceRefused`]): unspecified,
//!   broadcast and multicast sources never knock, and neither do loopback
//!   and local addresses unless the capture is on loopback
//!   ([`Engine::set_loopback_capture`]): from the wire they are spoofed.
//! * **Strict doors** ([`EngineDoor::strict`]): while a source has an
//!   attempt on a strict door, any connection-opening packet from it to
//!   this host (a TCP segment with SYN and without ACK, or a UDP datagram)
//!   other than the door's next knock, with the door's flags, or a resend of
//!   the last one, ends the attempt: a port sweep cannot open the door.
//! * **Rotating doors** ([`EngineDoor::rotating`]): the door's sequences are
//!   those of the time steps the caller installs with [`Engine::rotate`]
//!   (all doors due at a step boundary at once, one index rebuild); a
//!   first knock binds the attempt to the step whose sequence it matched, a
//!   step leaving the window keeps serving the attempts bound to it for the
//!   door's timeout, and a step that opens the door is spent
//!   ([`Event::Spent`]) and opens it for nobody else.
//! * **Bounded state**: at most [`Limits::max_attempts`] attempts, O(1) work
//!   per packet whatever the number of sources; when full, the least advanced,
//!   oldest attempt is evicted (0.8 grows without bound: B7).

mod attempts;
mod cooldowns;
mod copies;
mod events;
mod steps;

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use knock_proto::{Knock, Protocol, Sequence, TcpFlag, TcpFlags};

use crate::config::open_prefix::OpenPrefix;
use crate::packet::Packet;
use crate::sources::SourceFilter;
use attempts::{AttemptId, Attempts};
use cooldowns::Cooldowns;
use copies::RecentKnocks;
pub use events::{Event, Stats};
use steps::StepSequence;

/// What the engine needs to know about one door.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineDoor {
    /// The section name (only compared on reload; events carry the door's index).
    pub name: String,
    /// The knock sequence; `None` disables the door (an exhausted one-time file).
    pub sequence: Option<Sequence>,
    /// How long after its first knock an attempt may be completed.
    pub seq_timeout: Duration,
    /// What TCP knocks' flags must look like.
    pub tcp_flags: TcpFlags,
    /// `Target`: accept knocks to this address instead of the local ones.
    pub target: Option<IpAddr>,
    /// `Cooldown`: after the door opens for a source, that source's knocks
    /// on it are ignored this long ([`Event::CoolingDown`]).
    pub cooldown: Duration,
    /// `Allow_From`/`Deny_From`: who may knock ([`Event::NotAllowed`]).
    pub sources: SourceFilter,
    /// `Allow_Repeats`: a repeat of the knock just matched is ignored
    /// ([`Event::Retransmission`]) rather than breaking the attempt.
    pub allow_repeats: bool,
    /// `Strict`: any other connection-opening packet from a source to this
    /// host breaks its attempt on the door. The caller's capture must show
    /// such packets (the filter widens when a door is strict).
    pub strict: bool,
    /// `Rotating_Secret`: the door's sequences come from
    /// [`Engine::rotate`], and `sequence` is not used.
    pub rotating: bool,
    /// `Open_Prefix4`/`Open_Prefix6`: the door cools down for the
    /// knocker's network, not its address alone.
    pub open_prefix: OpenPrefix,
}

/// Resource limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most attempts tracked at once, over all sources and doors (at least
    /// 1); also the most (source, door) pairs cooling down at once.
    pub max_attempts: usize,
}

impl Default for Limits {
    /// 100 000 attempts: about 10 MB at most (see the attempt table).
    fn default() -> Self {
        Limits {
            max_attempts: 100_000,
        }
    }
}

/// The matching state machine for all doors and sources.
#[derive(Debug)]
pub struct Engine {
    doors: Vec<EngineDoor>,
    local_addrs: Vec<IpAddr>,
    /// Each (knock, door) whose sequences contain the knock, packed by
    /// [`knock_entry`] and sorted (by knock, then door), each pair once: the
    /// visibility test, and the whole cost of a packet that is not a knock.
    /// The table changes only with the doors' sequences, so a binary search
    /// beats hashing; one flat vector of integers (no list per knock, no
    /// tuples) keeps a rebuild to one fast sort: a step boundary of 10,000
    /// rotating doors sorts some 160,000 entries.
    doors_by_knock: Vec<u64>,
    attempts: Attempts,
    cooldowns: Cooldowns,
    /// The latest time seen; time never runs backwards inside the engine.
    clock: Option<Instant>,
    stats: Stats,
    /// Scratch list of the doors a packet may start, kept to avoid allocating per packet.
    startable: Vec<usize>,
    /// Whether knocks may come from loopback and local addresses: the
    /// capture is on a loopback interface (or `any`), where a host knocking
    /// itself is seen.
    loopback_capture: bool,
    /// Knocks seen lately, on a capture that may see one packet twice.
    recent: Option<RecentKnocks>,
    /// Per door, the step sequences of a rotating door (empty for the others).
    steps: Vec<Vec<StepSequence>>,
    /// The strict doors, whose attempts any other opening packet breaks.
    strict: Vec<usize>,
}

/// What a visible packet did to the door's attempt by its source.
enum Progress {
    /// The door ignores the packet: disabled, wrong destination or wrong flags.
    Ignored,
    /// The packet advanced (or completed) the source's attempt.
    Advanced,
    /// The packet resent the knock that last advanced the attempt.
    Repeated,
    /// The source has no attempt on the door (any more): the packet may start one.
    Free,
}

impl Engine {
    /// An engine for `doors`, accepting knocks to `local_addrs` for doors
    /// without a target (none while the interface has no address, as in 0.8).
    pub fn new(doors: Vec<EngineDoor>, local_addrs: Vec<IpAddr>, limits: Limits) -> Self {
        let mut engine = Engine {
            attempts: Attempts::new(doors.len(), limits.max_attempts),
            cooldowns: Cooldowns::new(limits.max_attempts),
            doors,
            local_addrs,
            doors_by_knock: Vec::new(),
            clock: None,
            stats: Stats::default(),
            startable: Vec::new(),
            loopback_capture: false,
            recent: None,
            steps: Vec::new(),
            strict: Vec::new(),
        };
        engine.index_doors();
        engine
    }

    /// Feeds one captured packet seen at `now`, appending what happened to `events`.
    pub fn on_packet(&mut self, packet: &Packet, now: Instant, events: &mut Vec<Event>) {
        let now = self.tick(now);
        let knock = Knock::new(packet.dst_port, packet.protocol);
        let visible = self.is_visible(packet, knock);
        let strict = !self.strict.is_empty() && opens_connection(packet);
        if !visible && !strict {
            return;
        }
        if !self.may_knock(packet.src) {
            if visible {
                self.stats.refused_sources += 1;
                events.push(Event::SourceRefused { source: packet.src });
            }
            return;
        }
        if self
            .recent
            .as_mut()
            .is_some_and(|recent| recent.is_copy(packet, now))
        {
            self.stats.copies += 1;
            return;
        }
        if strict {
            self.enforce_strict(packet, knock, now, events);
        }
        if !visible {
            return;
        }
        let mut startable = std::mem::take(&mut self.startable);
        let mut advanced = false;
        for door in 0..self.doors.len() {
            match self.continue_attempt(door, packet, knock, now, events) {
                Progress::Ignored => {}
                Progress::Advanced | Progress::Repeated => advanced = true,
                Progress::Free => startable.push(door),
            }
        }
        if !advanced {
            for &door in &startable {
                self.start_attempt(door, packet, knock, now, events);
            }
        }
        startable.clear();
        self.startable = startable;
    }

    /// Ends every attempt whose timeout is due at or before `now`, earliest first.
    pub fn on_timer(&mut self, now: Instant, events: &mut Vec<Event>) {
        let now = self.tick(now);
        while let Some((door, deadline)) = self.earliest_deadline() {
            if deadline > now {
                break;
            }
            let Some(ended) = self.attempts.pop_expired(door, now) else {
                break;
            };
            self.stats.timed_out += 1;
            events.push(Event::Timeout {
                source: ended.source,
                door: ended.door,
                stage: ended.stage,
            });
        }
    }

    /// When [`Engine::on_timer`] next has something to do, if ever.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.earliest_deadline().map(|(_, deadline)| deadline)
    }

    /// Replaces door `door`'s sequence (a one-time door after use; `None`
    /// disables it) and drops its attempts. An unknown index is ignored.
    pub fn set_sequence(&mut self, door: usize, sequence: Option<Sequence>) {
        if let Some(entry) = self.doors.get_mut(door) {
            entry.sequence = sequence;
            self.attempts.clear_door(door);
            self.index_doors();
        }
    }

    /// Installs a reloaded configuration. Attempts on doors that are unchanged
    /// (equal name, sequence, flags, target and timeout) carry over to the new
    /// door; the others are dropped silently. 0.8 drops every attempt.
    pub fn reconfigure(&mut self, doors: Vec<EngineDoor>, local_addrs: Vec<IpAddr>) {
        let mut new_door_of: Vec<Option<usize>> = vec![None; self.doors.len()];
        for (new, door) in doors.iter().enumerate() {
            if door.sequence.is_none() && !door.rotating {
                continue;
            }
            // Duplicate doors pair up in order, each old door at most once.
            let old = self
                .doors
                .iter()
                .zip(&new_door_of)
                .position(|(old, taken)| taken.is_none() && old == door);
            if let Some(slot) = old.and_then(|old| new_door_of.get_mut(old)) {
                *slot = Some(new);
            }
        }
        self.attempts.renumber_doors(&new_door_of, doors.len());
        self.cooldowns.renumber(&new_door_of);
        let mut steps = vec![Vec::new(); doors.len()];
        for (old, new) in new_door_of.iter().enumerate() {
            if let (Some(kept), Some(new)) =
                (self.steps.get_mut(old), new.and_then(|n| steps.get_mut(n)))
            {
                *new = std::mem::take(kept);
            }
        }
        self.steps = steps;
        self.doors = doors;
        self.local_addrs = local_addrs;
        self.index_doors();
    }

    /// Says whether the capture is on a loopback interface (or `any`), where
    /// knocks from loopback and local addresses are the host knocking itself
    /// rather than spoofed packets from the wire. Off by default.
    pub fn set_loopback_capture(&mut self, loopback: bool) {
        self.loopback_capture = loopback;
    }

    /// Says whether the capture may see one packet twice (`-i any` on a host
    /// with a bridge): then a packet equal to one of the last few knocks and
    /// seen within `window` of it is a copy, and ignored.
    pub fn set_copies_within(&mut self, window: Option<Duration>) {
        self.recent = window.map(RecentKnocks::new);
    }

    /// Replaces the local addresses that doors without a target accept.
    pub fn set_local_addrs(&mut self, local_addrs: Vec<IpAddr>) {
        self.local_addrs = local_addrs;
    }

    /// Number of attempts in progress.
    pub fn attempts(&self) -> usize {
        self.attempts.len()
    }

    /// How many attempts on door `door` are at each stage: element `s - 1`
    /// counts the attempts that have matched `s` knocks, up to the highest
    /// stage reached (empty for a door without attempts or an unknown index).
    /// Linear in the door's attempts: for status requests, not per packet.
    pub fn attempts_by_stage(&self, door: usize) -> Vec<usize> {
        self.attempts.stages_of(door)
    }

    /// Running totals.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    fn tick(&mut self, now: Instant) -> Instant {
        let now = self.clock.map_or(now, |clock| clock.max(now));
        self.clock = Some(now);
        now
    }

    /// Rebuilds what depends on the doors themselves: the strict list, the
    /// rotating steps' slots and the knock index.
    fn index_doors(&mut self) {
        self.strict = (0..self.doors.len())
            .filter(|&d| self.doors.get(d).is_some_and(|door| door.strict))
            .collect();
        self.steps.resize_with(self.doors.len(), Vec::new);
        for (door, steps) in self.doors.iter().zip(&mut self.steps) {
            if !door.rotating {
                steps.clear();
            }
        }
        self.index_knocks();
    }

    /// Rebuilds the knock index from every door's sequences: one sort of all
    /// their knocks, so once per change, never once per door of a change.
    fn index_knocks(&mut self) {
        self.stats.knock_index_builds += 1;
        let mut entries = std::mem::take(&mut self.doors_by_knock);
        entries.clear();
        for (index, (door, steps)) in self.doors.iter().zip(&self.steps).enumerate() {
            let fixed = door.sequence.iter().filter(|_| !door.rotating);
            let rotating = steps.iter().map(|s| &s.sequence);
            for sequence in fixed.chain(rotating) {
                let knocks = sequence.knocks().iter();
                entries.extend(knocks.map(|&knock| knock_entry(knock, index)));
            }
        }
        entries.sort_unstable();
        entries.dedup();
        self.doors_by_knock = entries;
    }

    fn is_visible(&self, packet: &Packet, knock: Knock) -> bool {
        let first = knock_entry(knock, 0);
        let start = self.doors_by_knock.partition_point(|&e| e < first);
        let entries = self.doors_by_knock.get(start..).unwrap_or_default();
        let doors = entries.iter().take_while(|&&e| e >> 32 == first >> 32);
        doors
            .filter_map(|&e| self.doors.get(entry_door(e)))
            .any(|door| {
                self.accepts_destination(door, packet.dst)
                    && (packet.protocol != Protocol::Tcp
                        || door.tcp_flags.matches(packet.tcp_flags))
            })
    }

    /// Whether `source` can be a knocker: never an unspecified, broadcast or
    /// multicast address; a loopback or local one only on a loopback capture.
    fn may_knock(&self, source: IpAddr) -> bool {
        crate::sources::may_knock(source, self.loopback_capture, &self.local_addrs)
    }

    fn accepts_destination(&self, door: &EngineDoor, dst: IpAddr) -> bool {
        match door.target {
            Some(target) => target == dst,
            None => self.local_addrs.contains(&dst),
        }
    }

    /// First phase of a packet for one door: flags, timeout, advance or invalidate.
    fn continue_attempt(
        &mut self,
        index: usize,
        packet: &Packet,
        knock: Knock,
        now: Instant,
        events: &mut Vec<Event>,
    ) -> Progress {
        let Some(allow_repeats) = self.admits(index, packet, now, events) else {
            return Progress::Ignored;
        };
        let source = packet.src;
        let Some(id) = self.attempts.find(source, index) else {
            return Progress::Free;
        };
        let stage = self.attempts.stage(id);
        if self.attempts.is_expired(id, now) {
            self.attempts.remove(id);
            self.stats.timed_out += 1;
            events.push(Event::Timeout {
                source,
                door: index,
                stage,
            });
            return Progress::Free;
        }
        let Some(place) = self.place(index, id) else {
            // The step the attempt was bound to is spent (or long gone).
            self.invalidate(id, source, index, events);
            return Progress::Free;
        };
        // A client that got no answer resends its SYN with the same source
        // port; a new knock, even of the same port, comes from a new one
        // and counts, unless the door allows repeats of a knock that is not
        // also the next one.
        let again = place.last == Some(knock);
        let resent =
            packet.protocol == Protocol::Tcp && self.attempts.src_port(id) == Some(packet.src_port);
        let repeat = allow_repeats && place.next != Some(knock);
        if again && (resent || repeat) {
            events.push(Event::Retransmission {
                source,
                door: index,
            });
            return Progress::Repeated;
        }
        if place.next != Some(knock) {
            self.invalidate(id, source, index, events);
            return Progress::Free;
        }
        let stage = if stage + 1 < place.len {
            self.attempts.advance(id, packet.src_port)
        } else {
            self.attempts.remove(id);
            place.len
        };
        events.push(Event::Stage {
            source,
            door: index,
            stage,
        });
        if stage == place.len {
            self.open(source, index, place.step, now, events);
        }
        Progress::Advanced
    }

    /// Whether door `index` looks at `packet` at all: enabled, addressed to
    /// it, from a source it permits, with the TCP flags it wants and not
    /// cooling down for the source (the last three refusals are reported).
    /// If it does, the door's `Allow_Repeats`.
    fn admits(
        &mut self,
        index: usize,
        packet: &Packet,
        now: Instant,
        events: &mut Vec<Event>,
    ) -> Option<bool> {
        if !self.is_enabled(index) {
            return None;
        }
        let door = self.doors.get(index)?;
        if !self.accepts_destination(door, packet.dst) {
            return None;
        }
        let source = packet.src;
        if !door.sources.permits(source) {
            events.push(Event::NotAllowed {
                source,
                door: index,
            });
            return None;
        }
        if packet.protocol == Protocol::Tcp {
            if let Some((flag, must_be_set)) = door.tcp_flags.first_violation(packet.tcp_flags) {
                events.push(Event::FlagsIgnored {
                    source,
                    door: index,
                    flag,
                    must_be_set,
                });
                return None;
            }
        }
        let network = door.open_prefix.network(source).network();
        if !door.cooldown.is_zero() && self.cooldowns.is_cooling(network, index, now) {
            events.push(Event::CoolingDown {
                source,
                door: index,
            });
            return None;
        }
        Some(door.allow_repeats)
    }

    /// Second phase, for a door the source has no attempt on: its first knock
    /// starts one (and opens a one-knock door at once).
    fn start_attempt(
        &mut self,
        index: usize,
        packet: &Packet,
        knock: Knock,
        now: Instant,
        events: &mut Vec<Event>,
    ) {
        let source = packet.src;
        let Some(door) = self.doors.get(index) else {
            return;
        };
        let started = if door.rotating {
            self.steps.get(index).and_then(|steps| {
                steps
                    .iter()
                    .filter(|s| s.retired_until.is_none())
                    .find(|s| s.sequence.get(0) == Some(knock))
                    .map(|s| (s.tag(), s.sequence.len(), Some(s.step)))
            })
        } else {
            door.sequence
                .as_ref()
                .filter(|sequence| sequence.get(0) == Some(knock))
                .map(|sequence| (0, sequence.len(), None))
        };
        let Some((tag, len, step)) = started else {
            return;
        };
        if len == 1 {
            events.push(Event::Stage {
                source,
                door: index,
                stage: 1,
            });
            self.open(source, index, step, now, events);
            return;
        }
        let deadline = now.checked_add(door.seq_timeout);
        if let Some(evicted) = self
            .attempts
            .insert(source, (index, tag), deadline, packet.src_port)
        {
            self.stats.evicted += 1;
            events.push(Event::Evicted {
                source: evicted.source,
                door: evicted.door,
                stage: evicted.stage,
            });
        }
        self.stats.created += 1;
        events.push(Event::Stage {
            source,
            door: index,
            stage: 1,
        });
    }

    /// On a strict door, a connection-opening packet from a source with an
    /// attempt that is neither the door's next knock (with its flags) nor a
    /// resend of the last one ends the attempt. Expired attempts are left
    /// for their timeout to report.
    fn enforce_strict(
        &mut self,
        packet: &Packet,
        knock: Knock,
        now: Instant,
        events: &mut Vec<Event>,
    ) {
        for at in 0..self.strict.len() {
            let Some(&index) = self.strict.get(at) else {
                break;
            };
            let Some(door) = self.doors.get(index) else {
                continue;
            };
            if !self.accepts_destination(door, packet.dst) {
                continue;
            }
            let Some(id) = self.attempts.find(packet.src, index) else {
                continue;
            };
            if self.attempts.is_expired(id, now) {
                continue;
            }
            let Some(place) = self.place(index, id) else {
                continue;
            };
            let flags_ok =
                packet.protocol != Protocol::Tcp || door.tcp_flags.matches(packet.tcp_flags);
            let resent = packet.protocol == Protocol::Tcp
                && self.attempts.src_port(id) == Some(packet.src_port);
            let expected = place.next == Some(knock) && flags_ok;
            let repeated = place.last == Some(knock) && (resent || door.allow_repeats);
            if !expected && !repeated {
                self.invalidate(id, packet.src, index, events);
            }
        }
    }

    /// Ends attempt `id` of `source` on door `index` for a wrong knock.
    fn invalidate(&mut self, id: AttemptId, source: IpAddr, index: usize, events: &mut Vec<Event>) {
        self.attempts.remove(id);
        self.stats.invalidated += 1;
        events.push(Event::Invalidated {
            source,
            door: index,
        });
    }

    /// Whether door `index` can be knocked at all: a sequence (an exhausted
    /// one-time door has none), or on a rotating door some step.
    fn is_enabled(&self, index: usize) -> bool {
        match self.doors.get(index) {
            Some(door) if door.rotating => self.steps.get(index).is_some_and(|s| !s.is_empty()),
            Some(door) => door.sequence.is_some(),
            None => false,
        }
    }

    /// Where attempt `id` on door `index` stands in the sequence it follows:
    /// the door's own or, on a rotating door, that of the step it is bound
    /// to (`None` once that step is gone).
    fn place(&self, index: usize, id: AttemptId) -> Option<Place> {
        let door = self.doors.get(index)?;
        let (sequence, step) = if door.rotating {
            let tag = self.attempts.tag(id);
            let bound = self.steps.get(index)?.iter().find(|s| s.tag() == tag)?;
            (&bound.sequence, Some(bound.step))
        } else {
            (door.sequence.as_ref()?, None)
        };
        let stage = self.attempts.stage(id);
        Some(Place {
            last: stage.checked_sub(1).and_then(|last| sequence.get(last)),
            next: sequence.get(stage),
            len: sequence.len(),
            step,
        })
    }

    /// `source` completed door `index`'s sequence (of time step `step`, on a
    /// rotating door, which is then spent): it opens, and cools down.
    fn open(
        &mut self,
        source: IpAddr,
        index: usize,
        step: Option<u64>,
        now: Instant,
        events: &mut Vec<Event>,
    ) {
        if let Some(step) = step {
            if let Some(steps) = self.steps.get_mut(index) {
                steps.retain(|s| s.step != step);
            }
            self.index_knocks();
            events.push(Event::Spent { door: index, step });
        }
        self.stats.opened += 1;
        events.push(Event::Open {
            source,
            door: index,
        });
        let Some(door) = self.doors.get(index) else {
            return;
        };
        if let Some(until) = now
            .checked_add(door.cooldown)
            .filter(|_| !door.cooldown.is_zero())
        {
            let network = door.open_prefix.network(source).network();
            self.cooldowns.start(network, index, until);
        }
    }

    fn earliest_deadline(&self) -> Option<(usize, Instant)> {
        (0..self.doors.len())
            .filter_map(|door| Some((door, self.attempts.next_deadline(door)?)))
            .min_by_key(|&(_, deadline)| deadline)
    }
}

/// Where an attempt stands in the sequence it follows.
struct Place {
    /// The knock matched last.
    last: Option<Knock>,
    /// The knock expected next.
    next: Option<Knock>,
    /// The sequence's length.
    len: usize,
    /// The time step of a rotating door's sequence.
    step: Option<u64>,
}

/// A TCP segment that opens a connection (SYN without ACK) or any UDP
/// datagram: what a port sweep sends, and what strict doors watch.
fn opens_connection(packet: &Packet) -> bool {
    match packet.protocol {
        Protocol::Udp => true,
        Protocol::Tcp => {
            packet.tcp_flags & TcpFlag::Syn.bit() != 0 && packet.tcp_flags & TcpFlag::Ack.bit() == 0
        }
    }
}

/// An entry of the knock index: the knock (protocol, then port) in the high
/// 32 bits, the door's index in the low 32, so that entries sort by knock,
/// then door. Door indexes past `u32::MAX` cannot occur: each door is a
/// section of a configuration file read whole into memory.
fn knock_entry(knock: Knock, door: usize) -> u64 {
    let knock = (knock.protocol as u64) << 16 | u64::from(knock.port);
    knock << 32 | (door as u64 & 0xffff_ffff)
}

/// The door of a knock index entry.
fn entry_door(entry: u64) -> usize {
    (entry & 0xffff_ffff) as usize
}
