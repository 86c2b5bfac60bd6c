//! The assembler: symbolic forward jumps, resolved into offsets with a `ja`
//! trampoline wherever a conditional jump's 8-bit offset does not reach.

use super::{BpfError, Instruction, BPF_JA, BPF_JMP, BPF_K, BPF_RET};

/// A position in the program being assembled, bound once with
/// [`Assembler::bind`] and jumped to from before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// An instruction whose jump targets are still labels.
#[derive(Debug, Clone, Copy)]
struct Pending {
    insn: Instruction,
    /// `ja`: the target; conditional jumps: the target when true.
    jt: Option<Label>,
    /// Conditional jumps: the target when false.
    jf: Option<Label>,
}

/// Builds a program with symbolic forward jumps.
#[derive(Debug, Default)]
pub(crate) struct Assembler {
    code: Vec<Pending>,
    /// Each label's instruction index, once bound.
    labels: Vec<Option<usize>>,
}

impl Assembler {
    /// An empty program.
    pub fn new() -> Self {
        Assembler::default()
    }

    /// A new, unbound label.
    pub(crate) fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction emitted.
    pub(crate) fn bind(&mut self, label: Label) {
        debug_assert!(self.labels[label.0].is_none(), "label bound twice");
        self.labels[label.0] = Some(self.code.len());
    }

    /// A new label bound to the next instruction emitted.
    pub(crate) fn here(&mut self) -> Label {
        let label = self.label();
        self.bind(label);
        label
    }

    /// Emits a non-jump instruction.
    pub(crate) fn stmt(&mut self, code: u16, k: u32) {
        self.code.push(Pending {
            insn: Instruction::stmt(code, k),
            jt: None,
            jf: None,
        });
    }

    /// Emits `ja target`.
    pub(crate) fn ja(&mut self, target: Label) {
        self.code.push(Pending {
            insn: Instruction::stmt(BPF_JMP | BPF_JA, 0),
            jt: Some(target),
            jf: None,
        });
    }

    /// Emits a conditional jump on `A` against `k`: `op` is [`BPF_JEQ`],
    /// [`BPF_JGT`], [`BPF_JGE`] or [`BPF_JSET`]. `None` means the next
    /// instruction.
    ///
    /// [`BPF_JEQ`]: super::BPF_JEQ
    /// [`BPF_JGT`]: super::BPF_JGT
    /// [`BPF_JGE`]: super::BPF_JGE
    /// [`BPF_JSET`]: super::BPF_JSET
    pub(crate) fn jump(&mut self, op: u16, k: u32, jt: Option<Label>, jf: Option<Label>) -> usize {
        self.code.push(Pending {
            insn: Instruction::stmt(BPF_JMP | op | BPF_K, k),
            jt,
            jf,
        });
        self.code.len() - 1
    }

    /// Sets the targets of the conditional jump at `index` (as returned by
    /// [`Assembler::jump`]), for jumps emitted before their targets are known.
    pub(crate) fn patch(&mut self, index: usize, jt: Option<Label>, jf: Option<Label>) {
        if let Some(pending) = self.code.get_mut(index) {
            pending.jt = jt;
            pending.jf = jf;
        }
    }

    /// Resolves the labels, inserting a `ja` after every conditional jump
    /// whose target is beyond the 8-bit offset, and removes `ja`s to the
    /// next instruction.
    pub(crate) fn finish(self) -> Result<Vec<Instruction>, BpfError> {
        let mut layout = Layout::new(self.resolve()?);
        // Bounded: a round that inserts nothing ends the loop, and a jump
        // needs a trampoline at most once per target.
        for _round in 0..64 {
            layout.place();
            if !layout.insert_trampolines() {
                return layout.encode();
            }
        }
        Err(BpfError("jump offsets did not settle".into()))
    }

    /// The instructions with their labels resolved to instruction indexes,
    /// then the end of the program.
    fn resolve(&self) -> Result<Vec<Node>, BpfError> {
        let n = self.code.len();
        let target = |label: Option<Label>, index: usize| -> Result<usize, BpfError> {
            match label {
                None => Ok(index + 1),
                Some(Label(l)) => self
                    .labels
                    .get(l)
                    .copied()
                    .flatten()
                    .ok_or_else(|| BpfError(format!("label {l} never bound"))),
            }
        };
        let mut nodes: Vec<Node> = Vec::with_capacity(n + 1 + n / 8);
        for (i, p) in self.code.iter().enumerate() {
            let (jt, jf) = if p.insn.class() == BPF_JMP {
                (target(p.jt, i)?, target(p.jf, i)?)
            } else {
                (i + 1, i + 1)
            };
            if jt <= i || jf <= i {
                return Err(BpfError(format!("backward jump at {i}")));
            }
            nodes.push(Node {
                insn: p.insn,
                jt,
                jf,
            });
        }
        nodes.push(Node {
            insn: Instruction::stmt(BPF_RET | BPF_K, 0),
            jt: n,
            jf: n,
        });
        Ok(nodes)
    }
}

/// An instruction with its targets as node ids.
#[derive(Debug, Clone, Copy)]
struct Node {
    insn: Instruction,
    jt: usize,
    jf: usize,
}

/// The program being laid out. Nodes carry stable ids: their index in
/// `nodes`. Id `end` is the end of the program (never a valid target);
/// trampolines get ids after it.
struct Layout {
    nodes: Vec<Node>,
    end: usize,
    /// The ids in program order.
    order: Vec<usize>,
    /// Each id's index in `order` (`end`: one past the last).
    position: Vec<usize>,
}

impl Layout {
    /// The layout of `nodes` (ending with the end node), without the `ja`s
    /// to the next instruction: jumps to them go on to that instruction.
    /// (Other `ja`s stay: they are the rails and trampolines that keep
    /// conditional jumps short.)
    fn new(mut nodes: Vec<Node>) -> Layout {
        let end = nodes.len() - 1;
        let useless: Vec<bool> = (0..end)
            .map(|i| nodes[i].insn.code == BPF_JMP | BPF_JA && nodes[i].jt == i + 1)
            .collect();
        let mut forward: Vec<usize> = (0..=end).collect();
        for i in (0..end).rev() {
            if useless[i] {
                forward[i] = forward[i + 1];
            }
        }
        let mut order: Vec<usize> = Vec::with_capacity(end);
        for i in (0..end).filter(|&i| !useless[i]) {
            let node = &mut nodes[i];
            node.jt = forward[node.jt];
            node.jf = forward[node.jf];
            order.push(i);
        }
        Layout {
            nodes,
            end,
            order,
            position: Vec::new(),
        }
    }

    /// Records where each node is in the program.
    fn place(&mut self) {
        self.position.clear();
        self.position.resize(self.nodes.len(), usize::MAX);
        for (pos, &id) in self.order.iter().enumerate() {
            self.position[id] = pos;
        }
        self.position[self.end] = self.order.len();
    }

    /// Puts a `ja` right after each conditional jump whose target is out of
    /// its 8-bit reach, and sends the jump to it. Whether any was needed.
    fn insert_trampolines(&mut self) -> bool {
        let order = std::mem::take(&mut self.order);
        let mut next: Vec<usize> = Vec::with_capacity(order.len() + 16);
        let mut inserted = false;
        for (pos, &id) in order.iter().enumerate() {
            next.push(id);
            let mut node = self.nodes[id];
            if !node.insn.is_conditional_jump() {
                continue;
            }
            let far = |to: usize| self.position[to] - pos - 1 > usize::from(u8::MAX);
            let (far_t, far_f) = (far(node.jt), far(node.jf));
            if far_t {
                node.jt = self.trampoline(node.jt);
                next.push(node.jt);
            }
            if far_f {
                node.jf = self.trampoline(node.jf);
                next.push(node.jf);
            }
            if far_t || far_f {
                inserted = true;
                self.nodes[id] = node;
            }
        }
        self.order = next;
        inserted
    }

    /// A new `ja` node to `target`, and its id.
    fn trampoline(&mut self, target: usize) -> usize {
        self.nodes.push(Node {
            insn: Instruction::stmt(BPF_JMP | BPF_JA, 0),
            jt: target,
            jf: target,
        });
        self.nodes.len() - 1
    }

    /// The instructions with their jump offsets, once every jump reaches.
    fn encode(&self) -> Result<Vec<Instruction>, BpfError> {
        let too_far = || BpfError("jump too far".into());
        let mut out = Vec::with_capacity(self.order.len());
        for (pos, &id) in self.order.iter().enumerate() {
            let node = self.nodes[id];
            let mut insn = node.insn;
            let offset = |to: usize| self.position[to] - pos - 1;
            if insn.code == BPF_JMP | BPF_JA {
                insn.k = u32::try_from(offset(node.jt)).map_err(|_| too_far())?;
            } else if insn.is_conditional_jump() {
                insn.jt = u8::try_from(offset(node.jt)).map_err(|_| too_far())?;
                insn.jf = u8::try_from(offset(node.jf)).map_err(|_| too_far())?;
            }
            out.push(insn);
        }
        Ok(out)
    }
}
