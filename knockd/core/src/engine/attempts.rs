//! The bounded attempt table.
//!
//! Attempts live in a slab of [`Slot`]s found through a hash table of slot
//! numbers, hashed by (source, door). Each live slot is on two intrusive,
//! index-linked lists:
//!
//! * its door's **deadline list**, in first-knock order. A door has one
//!   timeout and time only moves forward, so this is also deadline order and
//!   expiry pops from the head;
//! * its stage's **eviction list**, in the order attempts reached that stage.
//!   When the table is full the head of the lowest non-empty stage goes: the
//!   least advanced, oldest attempt. A first-port flood from spoofed sources
//!   only ever displaces other stage-1 attempts.
//!
//! Every operation is O(1) apart from the hash lookup, whatever the number of
//! tracked sources.
//!
//! Memory: a [`Slot`] is 56 bytes on 64-bit targets, and the hash table holds
//! only the slot's 4-byte number plus a control byte, with the key kept in
//! the slot: at most about 66 bytes per attempt right after the table grew
//! (a `HashMap<(IpAddr, u32), u32>` costs 29 bytes a bucket, up to 58 per
//! attempt). The slab never grows past the cap, so the cap bounds the total:
//! the default 100,000 attempts take about 6.3 MB (5.6 MB of slots and a table
//! of 131,072 five-byte buckets).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::time::Instant;

use hashbrown::HashTable;
use knock_proto::Sequence;

/// End of a list, and "no slot".
const NIL: u32 = u32::MAX;

/// Stages of live attempts run from 1 to `MAX_LEN - 1` (reaching the length
/// opens the door and ends the attempt), so one bit per stage fits a `u32`.
const STAGES: usize = Sequence::MAX_LEN;
const _: () = assert!(STAGES <= u32::BITS as usize);
// The module doc promises at most ~66 bytes per attempt: a 56-byte slot,
// plus a 4-byte slot number and a control byte in the hash table at worst
// twice over (just after it doubled). Checked when compiling.
const _: () = assert!(std::mem::size_of::<Slot>() <= 56);

/// The most attempts the table can hold: slot indices are `u32` and `NIL` is taken.
pub(super) const MAX_CAPACITY: usize = NIL as usize - 1;

/// A handle on a live attempt, valid until the table is next changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AttemptId(u32);

/// An attempt that left the table, as reported in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Ended {
    /// The knocker.
    pub(crate) source: IpAddr,
    /// Index of the door.
    pub(crate) door: usize,
    /// How many knocks had matched.
    pub(crate) stage: usize,
}

#[derive(Debug, Clone, Copy)]
struct Link {
    prev: u32,
    next: u32,
}

const UNLINKED: Link = Link {
    prev: NIL,
    next: NIL,
};

#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
}

const EMPTY: List = List {
    head: NIL,
    tail: NIL,
};

/// Which of a slot's two links a list threads through.
#[derive(Debug, Clone, Copy)]
enum Chain {
    Deadline,
    Stage,
}

/// Door indices take the low 24 bits of a slot's `door_tag` (a 16 MiB
/// configuration holds far fewer doors; a door beyond them never starts an
/// attempt), leaving the top byte for the step tag of a rotating door's
/// attempt, so that a slot stays 56 bytes.
const DOOR_BITS: u32 = 24;
const DOOR_MASK: u32 = (1 << DOOR_BITS) - 1;

/// A door index as a slot holds it, if it fits.
fn door_bits(door: usize) -> Option<u32> {
    u32::try_from(door).ok().filter(|&d| d <= DOOR_MASK)
}

/// One attempt. A free slot has stage 0 and chains the free list through
/// `by_deadline.next`.
#[derive(Debug, Clone, Copy)]
struct Slot {
    /// First knock + the door's timeout; `None` when that overflows `Instant`.
    deadline: Option<Instant>,
    by_deadline: Link,
    by_stage: Link,
    /// The door's index and, in the top byte, the step tag.
    door_tag: u32,
    source: IpAddr,
    stage: u8,
    /// The source port of the knock that last advanced the attempt, to tell
    /// a client's retransmission of it from a new knock.
    src_port: u16,
}

/// The attempts of every source on every door, at most `cap` of them.
#[derive(Debug)]
pub(super) struct Attempts {
    /// Slot numbers, hashed by the slot's (source, door).
    index: HashTable<u32>,
    /// std's SipHash with random keys: sources are attacker-chosen.
    hasher: RandomState,
    slots: Vec<Slot>,
    free: u32,
    by_door: Vec<List>,
    by_stage: [List; STAGES],
    /// Bit `s` is set when `by_stage[s]` is not empty.
    occupied_stages: u32,
    cap: usize,
}

impl Slot {
    fn door(&self) -> u32 {
        self.door_tag & DOOR_MASK
    }

    fn tag(&self) -> u8 {
        (self.door_tag >> DOOR_BITS) as u8
    }
}

impl Attempts {
    /// An empty table for `doors` doors holding at most `cap` attempts
    /// (clamped to 1..=[`MAX_CAPACITY`]).
    pub(super) fn new(doors: usize, cap: usize) -> Self {
        Attempts {
            index: HashTable::new(),
            hasher: RandomState::new(),
            slots: Vec::new(),
            free: NIL,
            by_door: vec![EMPTY; doors],
            by_stage: [EMPTY; STAGES],
            occupied_stages: 0,
            cap: cap.clamp(1, MAX_CAPACITY),
        }
    }

    /// Number of live attempts.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The attempt of `source` on `door`, if any.
    pub(super) fn find(&self, source: IpAddr, door: usize) -> Option<AttemptId> {
        let door = door_bits(door)?;
        let hash = self.hasher.hash_one((source, door));
        let slots = &self.slots;
        self.index
            .find(hash, |&i| is_key(slots, i, source, door))
            .copied()
            .map(AttemptId)
    }

    /// How many knocks of the attempt have matched (0 for a stale handle).
    pub(super) fn stage(&self, id: AttemptId) -> usize {
        self.slot(id).map_or(0, |s| usize::from(s.stage))
    }

    /// The step tag the attempt was started with (0 on doors that do not rotate).
    pub(super) fn tag(&self, id: AttemptId) -> u8 {
        self.slot(id).map_or(0, Slot::tag)
    }

    /// The source port of the knock that last advanced the attempt.
    pub(super) fn src_port(&self, id: AttemptId) -> Option<u16> {
        self.slot(id).map(|s| s.src_port)
    }

    /// Whether the attempt's time is up at `now`.
    pub(super) fn is_expired(&self, id: AttemptId, now: Instant) -> bool {
        self.slot(id)
            .and_then(|s| s.deadline)
            .is_some_and(|deadline| deadline <= now)
    }

    /// Starts a stage-1 attempt of `source` on `door`, which must have none,
    /// bound to the step `tag` (any value on doors that do not rotate).
    /// When the table is full, the least advanced, oldest attempt makes room
    /// and is returned.
    pub(super) fn insert(
        &mut self,
        source: IpAddr,
        (door, tag): (usize, u8),
        deadline: Option<Instant>,
        src_port: u16,
    ) -> Option<Ended> {
        let door = door_bits(door)?;
        let evicted = if self.len() >= self.cap {
            self.victim().and_then(|victim| self.remove(victim))
        } else {
            None
        };
        let slot = Slot {
            deadline,
            by_deadline: UNLINKED,
            by_stage: UNLINKED,
            door_tag: door | u32::from(tag) << DOOR_BITS,
            source,
            stage: 1,
            src_port,
        };
        let index = match self.slots.get_mut(self.free as usize) {
            Some(free) => {
                let index = self.free;
                self.free = free.by_deadline.next;
                *free = slot;
                index
            }
            None => {
                // The cap keeps the table below MAX_CAPACITY, so indices fit.
                let index = u32::try_from(self.slots.len())
                    .expect("the attempt table never holds more than MAX_CAPACITY slots");
                if self.slots.len() == self.slots.capacity() {
                    // Grow by doubling, but never past the cap: memory at the
                    // cap is then exactly `cap` slots.
                    let room = self.cap.saturating_sub(self.slots.len()).max(1);
                    self.slots.reserve_exact(self.slots.len().max(4).min(room));
                }
                self.slots.push(slot);
                index
            }
        };
        if let Some(list) = self.by_door.get_mut(door as usize) {
            push_back(&mut self.slots, list, index, Chain::Deadline);
        }
        self.enter_stage(index, 1);
        self.index_slot(index);
        evicted
    }

    /// Records one more matched knock, sent from `src_port`; returns the new stage.
    pub(super) fn advance(&mut self, id: AttemptId, src_port: u16) -> usize {
        let Some(stage) = self.slot(id).map(|s| s.stage) else {
            return 0;
        };
        self.leave_stage(id.0, stage);
        let next = stage.saturating_add(1);
        if let Some(slot) = self.slots.get_mut(id.0 as usize) {
            slot.stage = next;
            slot.src_port = src_port;
        }
        self.enter_stage(id.0, next);
        usize::from(next)
    }

    /// Removes the attempt and says what it was.
    pub(super) fn remove(&mut self, id: AttemptId) -> Option<Ended> {
        let slot = *self.slot(id)?;
        self.leave_stage(id.0, slot.stage);
        if let Some(list) = self.by_door.get_mut(slot.door() as usize) {
            unlink(&mut self.slots, list, id.0, Chain::Deadline);
        }
        let hash = self.hasher.hash_one((slot.source, slot.door()));
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == id.0) {
            entry.remove();
        }
        if let Some(freed) = self.slots.get_mut(id.0 as usize) {
            freed.stage = 0;
            freed.by_deadline.next = self.free;
            self.free = id.0;
        }
        Some(Ended {
            source: slot.source,
            door: slot.door() as usize,
            stage: usize::from(slot.stage),
        })
    }

    /// The deadline of `door`'s oldest attempt, which is its earliest.
    pub(super) fn next_deadline(&self, door: usize) -> Option<Instant> {
        let head = self.by_door.get(door)?.head;
        self.slot(AttemptId(head))?.deadline
    }

    /// How many of `door`'s attempts are at each stage: element `s - 1`
    /// counts stage `s`, up to the highest stage any attempt has reached.
    /// Walks the door's attempts, so it is for an operator's status, never
    /// for a packet.
    pub(super) fn stages_of(&self, door: usize) -> Vec<usize> {
        let mut counts = Vec::new();
        let mut at = self.by_door.get(door).map_or(NIL, |list| list.head);
        while let Some(slot) = self.slot(AttemptId(at)) {
            let stage = usize::from(slot.stage);
            if counts.len() < stage {
                counts.resize(stage, 0);
            }
            if let Some(count) = stage.checked_sub(1).and_then(|i| counts.get_mut(i)) {
                *count += 1;
            }
            at = slot.by_deadline.next;
        }
        counts
    }

    /// Removes and returns `door`'s oldest attempt if it has expired at `now`.
    pub(super) fn pop_expired(&mut self, door: usize, now: Instant) -> Option<Ended> {
        let head = AttemptId(self.by_door.get(door)?.head);
        if self.is_expired(head, now) {
            self.remove(head)
        } else {
            None
        }
    }

    /// Silently drops every attempt on `door`.
    pub(super) fn clear_door(&mut self, door: usize) {
        while let Some(head) = self.by_door.get(door).map(|list| list.head) {
            if self.remove(AttemptId(head)).is_none() {
                break;
            }
        }
    }

    /// Renumbers doors after a reload: attempts on old door `d` move to door
    /// `new_door_of[d]`, or are dropped when that is `None`; `doors` is the new
    /// number of doors.
    pub(super) fn renumber_doors(&mut self, new_door_of: &[Option<usize>], doors: usize) {
        let mut by_door = vec![EMPTY; doors];
        for (old, new) in new_door_of.iter().enumerate() {
            match new.and_then(|new| by_door.get_mut(new)) {
                Some(list) => *list = self.by_door.get(old).copied().unwrap_or(EMPTY),
                None => self.clear_door(old),
            }
        }
        self.by_door = by_door;
        // Door numbers are part of the keys: re-key every live attempt.
        self.index.clear();
        let len = u32::try_from(self.slots.len())
            .expect("the attempt table never holds more than MAX_CAPACITY slots");
        for index in 0..len {
            let Some(slot) = self.slots.get_mut(index as usize) else {
                break;
            };
            if slot.stage == 0 {
                continue;
            }
            let new = new_door_of.get(slot.door() as usize).copied().flatten();
            if let Some(door) = new.and_then(door_bits) {
                slot.door_tag = door | slot.door_tag & !DOOR_MASK;
                self.index_slot(index);
            }
        }
    }

    /// Enters slot `index` (already filled in) into the hash table.
    fn index_slot(&mut self, index: u32) {
        let Some(slot) = self.slots.get(index as usize) else {
            return;
        };
        let hash = self.hasher.hash_one((slot.source, slot.door()));
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, index, |&i| {
            slots
                .get(i as usize)
                .map_or(0, |s| hasher.hash_one((s.source, s.door())))
        });
    }

    fn slot(&self, id: AttemptId) -> Option<&Slot> {
        self.slots.get(id.0 as usize).filter(|s| s.stage != 0)
    }

    /// The least advanced, oldest attempt.
    fn victim(&self) -> Option<AttemptId> {
        let stage = self.occupied_stages.trailing_zeros() as usize;
        self.by_stage.get(stage).map(|list| AttemptId(list.head))
    }

    fn enter_stage(&mut self, index: u32, stage: u8) {
        if let Some(list) = self.by_stage.get_mut(usize::from(stage)) {
            push_back(&mut self.slots, list, index, Chain::Stage);
            self.occupied_stages |= 1 << stage;
        }
    }

    fn leave_stage(&mut self, index: u32, stage: u8) {
        if let Some(list) = self.by_stage.get_mut(usize::from(stage)) {
            unlink(&mut self.slots, list, index, Chain::Stage);
            if list.head == NIL {
                self.occupied_stages &= !(1 << stage);
            }
        }
    }
}

fn link(slots: &mut [Slot], index: u32, chain: Chain) -> Option<&mut Link> {
    let slot = slots.get_mut(index as usize)?;
    Some(match chain {
        Chain::Deadline => &mut slot.by_deadline,
        Chain::Stage => &mut slot.by_stage,
    })
}

fn push_back(slots: &mut [Slot], list: &mut List, index: u32, chain: Chain) {
    let tail = list.tail;
    let Some(own) = link(slots, index, chain) else {
        return;
    };
    *own = Link {
        prev: tail,
        next: NIL,
    };
    match link(slots, tail, chain) {
        Some(before) => before.next = index,
        None => list.head = index,
    }
    list.tail = index;
}

fn unlink(slots: &mut [Slot], list: &mut List, index: u32, chain: Chain) {
    let Some(own) = link(slots, index, chain) else {
        return;
    };
    let Link { prev, next } = std::mem::replace(own, UNLINKED);
    match link(slots, prev, chain) {
        Some(before) => before.next = next,
        None => list.head = next,
    }
    match link(slots, next, chain) {
        Some(after) => after.prev = prev,
        None => list.tail = prev,
    }
}

/// Whether live slot `index` holds the attempt of `source` on `door`.
fn is_key(slots: &[Slot], index: u32, source: IpAddr, door: u32) -> bool {
    slots
        .get(index as usize)
        .is_some_and(|s| s.stage != 0 && s.source == source && s.door() == door)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::time::Duration;

    fn source(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0xc612_0000 + n))
    }

    fn sources_of(attempts: &Attempts, door: usize) -> Vec<IpAddr> {
        let mut out = Vec::new();
        let mut at = attempts.by_door.get(door).map_or(NIL, |l| l.head);
        while let Some(slot) = attempts.slot(AttemptId(at)) {
            out.push(slot.source);
            at = slot.by_deadline.next;
        }
        out
    }

    #[test]
    fn eviction_takes_the_least_advanced_oldest_attempt() {
        let mut attempts = Attempts::new(1, 3);
        attempts.insert(source(1), (0, 0), None, 0);
        attempts.insert(source(2), (0, 0), None, 0);
        attempts.insert(source(3), (0, 0), None, 0);
        let first = attempts.find(source(1), 0).unwrap();
        attempts.advance(first, 0);
        // Source 2 is the oldest stage-1 attempt.
        let evicted = attempts.insert(source(4), (0, 0), None, 0).unwrap();
        assert_eq!((evicted.source, evicted.stage), (source(2), 1));
        let evicted = attempts.insert(source(5), (0, 0), None, 0).unwrap();
        assert_eq!(evicted.source, source(3));
        let evicted = attempts.insert(source(6), (0, 0), None, 0).unwrap();
        assert_eq!(evicted.source, source(4));
        assert_eq!(attempts.len(), 3);
        assert!(attempts.find(source(1), 0).is_some());
    }

    #[test]
    fn the_slab_never_grows_past_the_cap() {
        for cap in [1, 3, 4, 5, 10, 1000] {
            let mut attempts = Attempts::new(1, cap);
            for n in 0..(3 * cap as u32) {
                attempts.insert(source(n), (0, 0), None, 0);
                assert!(attempts.slots.capacity() <= cap, "cap {cap}, after {n}");
            }
            assert_eq!(attempts.len(), cap);
        }
    }

    #[test]
    fn stages_of_counts_a_door_s_attempts_by_stage() {
        let mut attempts = Attempts::new(2, 10);
        for n in 0..4 {
            attempts.insert(source(n), (0, 0), None, 0);
        }
        attempts.insert(source(9), (1, 0), None, 0);
        for n in 0..2 {
            let id = attempts.find(source(n), 0).unwrap();
            attempts.advance(id, 0);
        }
        let id = attempts.find(source(0), 0).unwrap();
        attempts.advance(id, 0);
        assert_eq!(attempts.stages_of(0), [2, 1, 1]);
        assert_eq!(attempts.stages_of(1), [1]);
        assert_eq!(attempts.stages_of(7), Vec::<usize>::new());
    }

    #[test]
    fn freed_slots_are_reused() {
        let mut attempts = Attempts::new(2, 10);
        for n in 0..5 {
            attempts.insert(source(n), (0, 0), None, 0);
        }
        attempts.clear_door(0);
        for n in 0..5 {
            attempts.insert(source(n), (1, 0), None, 0);
        }
        assert_eq!(attempts.slots.len(), 5);
        assert_eq!(attempts.len(), 5);
    }

    #[test]
    fn expiry_pops_in_first_knock_order() {
        let t0 = Instant::now();
        let mut attempts = Attempts::new(1, 10);
        for n in 0..3u64 {
            let deadline = t0 + Duration::from_secs(10 + n);
            attempts.insert(source(n as u32), (0, 0), Some(deadline), 0);
        }
        let middle = attempts.find(source(1), 0).unwrap();
        attempts.remove(middle);
        assert_eq!(sources_of(&attempts, 0), [source(0), source(2)]);
        let late = t0 + Duration::from_secs(20);
        assert_eq!(attempts.pop_expired(0, late).unwrap().source, source(0));
        assert_eq!(attempts.pop_expired(0, late).unwrap().source, source(2));
        assert_eq!(attempts.pop_expired(0, late), None);
        assert_eq!(attempts.len(), 0);
    }

    #[test]
    fn renumbering_moves_kept_doors_and_drops_the_rest() {
        let mut attempts = Attempts::new(3, 10);
        for door in 0..3 {
            attempts.insert(source(door as u32), (door, door as u8 + 5), None, 0);
        }
        attempts.renumber_doors(&[None, Some(0), Some(2)], 3);
        assert_eq!(attempts.len(), 2);
        let moved = attempts.find(source(1), 0).unwrap();
        assert_eq!(attempts.tag(moved), 6, "a step tag survives renumbering");
        assert!(attempts.find(source(2), 2).is_some());
        assert_eq!(sources_of(&attempts, 0), [source(1)]);
        assert!(sources_of(&attempts, 1).is_empty());
    }
}
