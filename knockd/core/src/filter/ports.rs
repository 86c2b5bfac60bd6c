//! A set of ports as a binary search in classic BPF.
//!
//! The set is a sorted list of *units*: ports, or with a coarser granularity
//! `port >> k`. It is cut into consecutive segments, each tested by the
//! cheapest leaf that fits it:
//!
//! * a list of at most [`MAX_LIST`] units, one `jeq` each;
//! * a bitmap of units sharing a 32-unit block, one `jset` on the scratch word
//!   that holds `1 << (unit & 31)`;
//! * a run of consecutive units, accepted after at most two range checks.
//!
//! The segments are the leaves of a balanced tree of `jge` instructions, so a
//! packet runs through about `log2(segments)` comparisons and one leaf, while
//! the program grows by about one instruction per unit in the worst case. The
//! cut is chosen by dynamic programming for the fewest instructions, including
//! the range checks a leaf needs when its neighbours leave room around it.

use super::bpf::{Assembler, Label, BPF_JEQ, BPF_JGE, BPF_JGT, BPF_JSET, BPF_LD, BPF_MEM};

/// The longest `jeq` list in one leaf: it bounds the instructions a packet
/// runs through in a leaf.
pub(crate) const MAX_LIST: usize = 6;
/// A subtree at most this long is emitted with its own accept and reject
/// instructions right after it, so that its leaves' jumps stay within the
/// 8-bit offset of a conditional jump.
const RAIL_CHUNK: usize = 200;

/// One leaf's test.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// `jeq` each unit.
    List(Vec<u32>),
    /// Bit `unit & 31` of `mask`, for units of one 32-unit block.
    Bitmap { block_start: u32, mask: u32 },
    /// Every unit of the run.
    Range,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    kind: Kind,
    first: u32,
    last: u32,
    lower_guard: bool,
    upper_guard: bool,
}

impl Segment {
    /// The leaf of type `t` over `units`, without guards yet.
    fn of(units: &[u32], t: usize) -> Segment {
        let first = units[0];
        let last = units[units.len() - 1];
        let kind = match t {
            LIST => Kind::List(units.to_vec()),
            BITMAP => Kind::Bitmap {
                block_start: first & !31,
                mask: units.iter().fold(0u32, |m, u| m | 1 << (u & 31)),
            },
            _ => Kind::Range,
        };
        Segment {
            kind,
            first,
            last,
            lower_guard: false,
            upper_guard: false,
        }
    }

    /// The lowest unit the leaf's own test is exact from, if it needs one.
    fn low_requirement(&self) -> Option<u32> {
        match self.kind {
            Kind::List(_) => None,
            Kind::Bitmap { block_start, .. } => Some(block_start),
            Kind::Range => Some(self.first),
        }
    }

    /// The unit the leaf's own test is exact below, if it needs one.
    fn high_requirement(&self) -> Option<u32> {
        match self.kind {
            Kind::List(_) => None,
            Kind::Bitmap { block_start, .. } => Some(block_start + 32),
            Kind::Range => Some(self.last + 1),
        }
    }

    /// Instructions of the leaf.
    fn cost(&self) -> usize {
        let guards = usize::from(self.lower_guard) + usize::from(self.upper_guard);
        match &self.kind {
            Kind::List(units) => units.len(),
            Kind::Bitmap { .. } => 2 + guards,
            Kind::Range => guards,
        }
    }
}

/// A port set ready to be emitted: the leaves of the search tree and the
/// keys between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PortTree {
    segments: Vec<Segment>,
    /// `keys[s]`: the lowest unit that goes to segment `s` (`keys[0]` is 0).
    keys: Vec<u32>,
    /// Instructions of the tree, without accept/reject rails.
    cost: usize,
}

/// The type of the segment a cover ends with, for the dynamic program.
const LIST: usize = 0;
const BITMAP: usize = 1;
const RANGE: usize = 2;

impl PortTree {
    /// The tree for the sorted, distinct `units` below `domain_end`.
    pub(crate) fn new(units: &[u32], domain_end: u32) -> PortTree {
        if units.is_empty() {
            return PortTree {
                segments: Vec::new(),
                keys: Vec::new(),
                cost: 0,
            };
        }
        let cuts = cheapest_cut(units, domain_end);
        let mut segments: Vec<Segment> = cuts
            .into_iter()
            .map(|(i, j, t)| Segment::of(&units[i..j], t))
            .collect();
        let keys = place_keys(&mut segments, domain_end);
        let cost = segments.iter().map(Segment::cost).sum::<usize>() + segments.len() - 1;
        PortTree {
            segments,
            keys,
            cost,
        }
    }

    /// Instructions of the tree (without the accept/reject rails of big trees).
    pub(crate) fn cost(&self) -> usize {
        self.cost
    }

    /// Whether a leaf tests the scratch word `1 << (unit & 31)`.
    pub(crate) fn uses_bitmaps(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s.kind, Kind::Bitmap { .. }))
    }

    /// The longest path through the tree, in instructions (a packet runs
    /// through at most this many, plus the leaf's accept or reject).
    pub(crate) fn depth(&self) -> usize {
        fn walk(tree: &PortTree, a: usize, b: usize) -> usize {
            if b - a == 1 {
                return tree.segments[a].cost();
            }
            let mid = (a + b) / 2;
            1 + walk(tree, a, mid).max(walk(tree, mid, b))
        }
        if self.segments.is_empty() {
            0
        } else {
            walk(self, 0, self.segments.len())
        }
    }

    /// Emits the search with `A` holding the unit and (for bitmaps) scratch
    /// word `bit_word` holding `1 << (unit & 31)`: a unit in the set returns
    /// `accept_value`, the others go to `reject`. After each chunk of at most
    /// [`RAIL_CHUNK`] instructions come its own `ret accept_value` and
    /// `ja reject`, so the leaves never jump far. Returns the entry label.
    pub(crate) fn emit(
        &self,
        asm: &mut Assembler,
        bit_word: u32,
        reject: Label,
        accept_value: u32,
    ) -> Label {
        if self.segments.is_empty() {
            return reject;
        }
        let mut sizes = vec![0usize; self.segments.len() + 1];
        for (s, segment) in self.segments.iter().enumerate() {
            sizes[s + 1] = sizes[s] + segment.cost();
        }
        let emitter = Emitter {
            tree: self,
            sizes,
            bit_word,
            accept_value,
        };
        emitter.chunked(asm, 0, self.segments.len(), reject)
    }
}

/// `run_end[i]`: the end of the run of consecutive units starting at `i`;
/// `block_end[i]`: the end of the units sharing `units[i]`'s 32-unit block.
fn runs_and_blocks(units: &[u32]) -> (Vec<usize>, Vec<usize>) {
    let n = units.len();
    let mut run_end = vec![n; n];
    for i in (0..n.saturating_sub(1)).rev() {
        run_end[i] = if units[i + 1] == units[i] + 1 {
            run_end[i + 1]
        } else {
            i + 1
        };
    }
    let mut block_end = vec![n; n];
    for i in (0..n.saturating_sub(1)).rev() {
        block_end[i] = if units[i + 1] >> 5 == units[i] >> 5 {
            block_end[i + 1]
        } else {
            i + 1
        };
    }
    (run_end, block_end)
}

/// The lowest unit above a leaf of type `t` ending with `last` that its own
/// test is still exact for (`None`: a list, exact everywhere).
fn high(t: usize, last: u32) -> Option<u32> {
    match t {
        BITMAP => Some((last | 31) + 1),
        RANGE => Some(last + 1),
        _ => None,
    }
}

/// The cut of the sorted, distinct, non-empty `units` into leaves with the
/// fewest instructions, by dynamic programming: `(start, end, type)` of each
/// leaf, in order.
fn cheapest_cut(units: &[u32], domain_end: u32) -> Vec<(usize, usize, usize)> {
    let n = units.len();
    let (run_end, block_end) = runs_and_blocks(units);
    // best[i][t]: fewest instructions covering units[..i] with a last
    // segment of type t, counting one search node per segment.
    const NONE: usize = usize::MAX;
    let mut best = vec![[NONE; 3]; n + 1];
    let mut back = vec![[(0usize, 0usize); 3]; n + 1];
    best[0][LIST] = 0;
    for i in 0..n {
        for t in 0..3 {
            let base = best[i][t];
            if base == NONE {
                continue;
            }
            let previous_high = if i == 0 { None } else { high(t, units[i - 1]) };
            // A guard is needed where the previous leaf's test stops
            // being exact before this one's starts.
            let guard = |low: u32| -> usize {
                match previous_high {
                    Some(h) => usize::from(low > h),
                    None => usize::from(i == 0 && low > 0),
                }
            };
            let mut offer = |j: usize, kind: usize, cost: usize| {
                let total = base + cost + 1;
                if total < best[j][kind] {
                    best[j][kind] = total;
                    back[j][kind] = (i, t);
                }
            };
            for j in i + 1..=(i + MAX_LIST).min(n) {
                offer(j, LIST, j - i);
            }
            offer(block_end[i], BITMAP, 2 + guard(units[i] & !31));
            if run_end[i] - i >= 2 {
                offer(run_end[i], RANGE, guard(units[i]));
            }
        }
    }
    // The last leaf may need a guard below the end of the domain.
    let last = units[n - 1];
    let finish = |t: usize| -> usize {
        match high(t, last) {
            Some(h) if h < domain_end => 1,
            _ => 0,
        }
    };
    let mut t = (0..3)
        .filter(|&t| best[n][t] != NONE)
        .min_by_key(|&t| best[n][t] + finish(t))
        .unwrap_or(LIST);
    // Walk back to the cut.
    let mut cuts = Vec::new();
    let mut j = n;
    while j > 0 {
        let (i, previous) = back[j][t];
        cuts.push((i, j, t));
        j = i;
        t = previous;
    }
    cuts.reverse();
    cuts
}

/// The keys of `segments` below `domain_end`: each segment starts where its
/// test needs it to, or right after the previous one; guards cover what the
/// keys cannot.
fn place_keys(segments: &mut [Segment], domain_end: u32) -> Vec<u32> {
    let mut keys = Vec::with_capacity(segments.len());
    for s in 0..segments.len() {
        let key = if s == 0 {
            0
        } else {
            let after_previous = segments[s - 1].last + 1;
            segments[s]
                .low_requirement()
                .map_or(after_previous, |low| low.max(after_previous))
        };
        keys.push(key);
    }
    for s in 0..segments.len() {
        let low = keys[s];
        let high = keys.get(s + 1).copied().unwrap_or(domain_end);
        let segment = &mut segments[s];
        segment.lower_guard = segment.low_requirement().is_some_and(|r| low < r);
        segment.upper_guard = segment.high_requirement().is_some_and(|r| high > r);
    }
    keys
}

struct Emitter<'a> {
    tree: &'a PortTree,
    /// Prefix sums of the leaves' costs.
    sizes: Vec<usize>,
    bit_word: u32,
    accept_value: u32,
}

impl Emitter<'_> {
    /// Instructions of the subtree over segments `a..b`.
    fn size(&self, a: usize, b: usize) -> usize {
        self.sizes[b] - self.sizes[a] + (b - a - 1)
    }

    fn chunked(&self, asm: &mut Assembler, a: usize, b: usize, reject: Label) -> Label {
        if self.size(a, b) <= RAIL_CHUNK || b - a == 1 {
            let (local_accept, local_reject) = (asm.label(), asm.label());
            let entry = self.plain(asm, a, b, local_accept, local_reject);
            asm.bind(local_accept);
            asm.stmt(super::bpf::BPF_RET, self.accept_value);
            asm.bind(local_reject);
            asm.ja(reject);
            return entry;
        }
        let mid = (a + b) / 2;
        let entry = asm.here();
        let node = asm.jump(BPF_JGE, self.tree.keys[mid], None, None);
        let left = self.chunked(asm, a, mid, reject);
        let right = self.chunked(asm, mid, b, reject);
        asm.patch(node, Some(right), Some(left));
        entry
    }

    fn plain(
        &self,
        asm: &mut Assembler,
        a: usize,
        b: usize,
        accept: Label,
        reject: Label,
    ) -> Label {
        if b - a == 1 {
            return self.leaf(asm, a, accept, reject);
        }
        let mid = (a + b) / 2;
        let entry = asm.here();
        let node = asm.jump(BPF_JGE, self.tree.keys[mid], None, None);
        let left = self.plain(asm, a, mid, accept, reject);
        let right = self.plain(asm, mid, b, accept, reject);
        asm.patch(node, Some(right), Some(left));
        entry
    }

    fn leaf(&self, asm: &mut Assembler, s: usize, accept: Label, reject: Label) -> Label {
        let segment = &self.tree.segments[s];
        match &segment.kind {
            Kind::List(units) => {
                let entry = asm.here();
                for (i, &unit) in units.iter().enumerate() {
                    let otherwise = (i + 1 == units.len()).then_some(reject);
                    asm.jump(BPF_JEQ, unit, Some(accept), otherwise);
                }
                entry
            }
            Kind::Bitmap { block_start, mask } => {
                let entry = asm.here();
                if segment.lower_guard {
                    asm.jump(BPF_JGE, *block_start, None, Some(reject));
                }
                if segment.upper_guard {
                    asm.jump(BPF_JGE, block_start + 32, Some(reject), None);
                }
                asm.stmt(BPF_LD | BPF_MEM, self.bit_word);
                asm.jump(BPF_JSET, *mask, Some(accept), Some(reject));
                entry
            }
            Kind::Range => match (segment.lower_guard, segment.upper_guard) {
                (false, false) => accept,
                (true, false) => {
                    let entry = asm.here();
                    asm.jump(BPF_JGE, segment.first, Some(accept), Some(reject));
                    entry
                }
                (false, true) => {
                    let entry = asm.here();
                    asm.jump(BPF_JGT, segment.last, Some(reject), Some(accept));
                    entry
                }
                (true, true) => {
                    let entry = asm.here();
                    asm.jump(BPF_JGE, segment.first, None, Some(reject));
                    asm.jump(BPF_JGT, segment.last, Some(reject), Some(accept));
                    entry
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::bpf::{
        self, Instruction, BPF_ABS, BPF_ALU, BPF_AND, BPF_H, BPF_IMM, BPF_K, BPF_LSH, BPF_MISC,
        BPF_RET, BPF_ST, BPF_TAX, BPF_X,
    };
    use super::*;

    /// A program reading a 16-bit unit from the packet and searching `units`.
    fn search(units: &[u32], domain_end: u32) -> (PortTree, Vec<Instruction>) {
        let tree = PortTree::new(units, domain_end);
        let mut asm = Assembler::new();
        asm.stmt(BPF_LD | BPF_H | BPF_ABS, 0);
        asm.stmt(BPF_ALU | BPF_AND | BPF_K, 31);
        asm.stmt(BPF_MISC | BPF_TAX, 0);
        asm.stmt(BPF_LD | BPF_IMM, 1);
        asm.stmt(BPF_ALU | BPF_LSH | BPF_X, 0);
        asm.stmt(BPF_ST, 0);
        asm.stmt(BPF_LD | BPF_H | BPF_ABS, 0);
        let reject = asm.label();
        tree.emit(&mut asm, 0, reject, 1);
        asm.bind(reject);
        asm.stmt(BPF_RET, 0);
        let program = asm.finish().unwrap();
        bpf::validate(&program, bpf::LINUX_MAX_INSTRUCTIONS * 4).unwrap();
        (tree, program)
    }

    fn lcg(seed: &mut u64) -> u32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as u32
    }

    #[test]
    fn every_unit_is_found_and_nothing_else() {
        let mut seed = 42;
        let mut sets: Vec<(Vec<u32>, u32)> = vec![
            (vec![0], 65536),
            (vec![65535], 65536),
            (vec![7000], 65536),
            ((20_000..50_000).collect(), 65536),
            ((0..65536).collect(), 65536),
            (
                vec![
                    1, 2, 3, 31, 32, 33, 64, 100, 101, 102, 103, 104, 105, 106, 107,
                ],
                65536,
            ),
            (vec![0, 5], 32),
            (vec![3], 4),
        ];
        for (count, modulo) in [(40, 65536), (3000, 65536), (25_000, 65536), (500, 2048)] {
            let mut units: Vec<u32> = (0..count).map(|_| lcg(&mut seed) % modulo).collect();
            units.sort_unstable();
            units.dedup();
            sets.push((units, modulo));
        }
        for (units, domain_end) in &sets {
            let (tree, program) = search(units, *domain_end);
            // The cost the dynamic program counted is what was emitted (with
            // the setup, the final reject and a few rails and trampolines).
            assert!(
                program.len() >= tree.cost() + 8 - 1,
                "{} < {}",
                program.len(),
                tree.cost()
            );
            assert!(
                program.len() <= 8 + tree.cost() + tree.cost() / 40 + 4,
                "{} units: {} instructions for a cost of {}",
                units.len(),
                program.len(),
                tree.cost()
            );
            let mut member = vec![false; *domain_end as usize];
            for &u in units {
                member[u as usize] = true;
            }
            for unit in 0..*domain_end {
                let packet = (unit as u16).to_be_bytes();
                assert_eq!(
                    bpf::run(&program, &packet) == 1,
                    member[unit as usize],
                    "unit {unit} of a set of {}",
                    units.len()
                );
            }
        }
    }
}
