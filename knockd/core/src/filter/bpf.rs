//! Classic BPF: the instruction format, an assembler with symbolic labels, a
//! validator with the kernel's rules and an interpreter with libpcap's
//! semantics.
//!
//! Classic BPF (what `SO_ATTACH_FILTER` and libpcap's `pcap_setfilter` take)
//! has an accumulator `A`, an index register `X`, 16 scratch words `M[]`,
//! forward jumps only, and conditional jumps whose offsets are 8 bits wide.
//! The [`Assembler`] hides the last limit: every jump names a [`Label`], and
//! a conditional jump whose target ends up more than 255 instructions away is
//! routed through an inserted `ja` (whose offset is 32 bits).

use std::fmt;

/// Instruction classes.
pub const BPF_LD: u16 = 0x00;
/// Load into `X`.
pub const BPF_LDX: u16 = 0x01;
/// Store `A` into `M[k]`.
pub const BPF_ST: u16 = 0x02;
/// Store `X` into `M[k]`.
pub const BPF_STX: u16 = 0x03;
/// Arithmetic on `A`.
pub const BPF_ALU: u16 = 0x04;
/// Jumps.
pub const BPF_JMP: u16 = 0x05;
/// Return: how many bytes of the packet to keep (0: drop it).
pub const BPF_RET: u16 = 0x06;
/// `tax` and `txa`.
pub const BPF_MISC: u16 = 0x07;

/// Load size: 32 bits.
pub const BPF_W: u16 = 0x00;
/// Load size: 16 bits.
pub const BPF_H: u16 = 0x08;
/// Load size: 8 bits.
pub const BPF_B: u16 = 0x10;

/// Load mode: the constant `k`.
pub const BPF_IMM: u16 = 0x00;
/// Load mode: packet bytes at `k`.
pub const BPF_ABS: u16 = 0x20;
/// Load mode: packet bytes at `X + k`.
pub const BPF_IND: u16 = 0x40;
/// Load mode: scratch word `M[k]`.
pub const BPF_MEM: u16 = 0x60;
/// Load mode: the packet's length.
pub const BPF_LEN: u16 = 0x80;
/// Load mode (`ldxb` only): `X = 4 * (packet[k] & 0xf)`, an IPv4 header length.
pub const BPF_MSH: u16 = 0xa0;

/// ALU operation: `A += operand`.
pub const BPF_ADD: u16 = 0x00;
/// `A -= operand`.
pub const BPF_SUB: u16 = 0x10;
/// `A *= operand`.
pub const BPF_MUL: u16 = 0x20;
/// `A /= operand`.
pub const BPF_DIV: u16 = 0x30;
/// `A |= operand`.
pub const BPF_OR: u16 = 0x40;
/// `A &= operand`.
pub const BPF_AND: u16 = 0x50;
/// `A <<= operand`.
pub const BPF_LSH: u16 = 0x60;
/// `A >>= operand`.
pub const BPF_RSH: u16 = 0x70;
/// `A = -A`.
pub const BPF_NEG: u16 = 0x80;
/// `A %= operand`.
pub const BPF_MOD: u16 = 0x90;
/// `A ^= operand`.
pub const BPF_XOR: u16 = 0xa0;

/// Jump always, by `k`.
pub const BPF_JA: u16 = 0x00;
/// Jump if `A == operand`.
pub const BPF_JEQ: u16 = 0x10;
/// Jump if `A > operand`.
pub const BPF_JGT: u16 = 0x20;
/// Jump if `A >= operand`.
pub const BPF_JGE: u16 = 0x30;
/// Jump if `A & operand != 0`.
pub const BPF_JSET: u16 = 0x40;

/// Operand: the constant `k`.
pub const BPF_K: u16 = 0x00;
/// Operand: `X`.
pub const BPF_X: u16 = 0x08;
/// `ret a`: return `A`.
pub const BPF_A: u16 = 0x10;

/// `tax`.
pub const BPF_TAX: u16 = 0x00;
/// `txa`.
pub const BPF_TXA: u16 = 0x80;

/// Scratch words (`BPF_MEMWORDS`).
pub const MEMWORDS: u32 = 16;
/// The longest program Linux accepts (`BPF_MAXINSNS`).
pub const LINUX_MAX_INSTRUCTIONS: usize = 4096;

/// One classic BPF instruction, laid out as `struct bpf_insn` / `struct sock_filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Instruction {
    /// Class, size/operation, mode/source bits.
    pub code: u16,
    /// Conditional jumps: instructions skipped when true.
    pub jt: u8,
    /// Conditional jumps: instructions skipped when false.
    pub jf: u8,
    /// The constant operand.
    pub k: u32,
}

impl Instruction {
    /// A non-jump instruction.
    pub const fn stmt(code: u16, k: u32) -> Self {
        Instruction {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    fn class(self) -> u16 {
        self.code & 0x07
    }

    fn is_conditional_jump(self) -> bool {
        self.class() == BPF_JMP && self.code & 0xf0 != BPF_JA
    }
}

/// A position in the program being assembled, bound once with
/// [`Assembler::bind`] and jumped to from before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label(usize);

/// An instruction whose jump targets are still labels.
#[derive(Debug, Clone, Copy)]
struct Pending {
    insn: Instruction,
    /// `ja`: the target; conditional jumps: the target when true.
    jt: Option<Label>,
    /// Conditional jumps: the target when false.
    jf: Option<Label>,
}

/// Why a program could not be assembled or is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfError(pub String);

impl fmt::Display for BpfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BpfError {}

/// Builds a program with symbolic forward jumps.
#[derive(Debug, Default)]
pub struct Assembler {
    code: Vec<Pending>,
    /// Each label's instruction index, once bound.
    labels: Vec<Option<usize>>,
}

impl Assembler {
    /// An empty program.
    pub fn new() -> Self {
        Assembler::default()
    }

    /// Instructions emitted so far (before any `ja` the jumps may need).
    pub fn len(&self) -> usize {
        self.code.len()
    }

    /// Whether nothing has been emitted.
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }

    /// A new, unbound label.
    pub fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(self.labels.len() - 1)
    }

    /// Binds `label` to the next instruction emitted.
    pub fn bind(&mut self, label: Label) {
        debug_assert!(self.labels[label.0].is_none(), "label bound twice");
        self.labels[label.0] = Some(self.code.len());
    }

    /// A new label bound to the next instruction emitted.
    pub fn here(&mut self) -> Label {
        let label = self.label();
        self.bind(label);
        label
    }

    /// Emits a non-jump instruction.
    pub fn stmt(&mut self, code: u16, k: u32) {
        self.code.push(Pending {
            insn: Instruction::stmt(code, k),
            jt: None,
            jf: None,
        });
    }

    /// Emits `ja target`.
    pub fn ja(&mut self, target: Label) {
        self.code.push(Pending {
            insn: Instruction::stmt(BPF_JMP | BPF_JA, 0),
            jt: Some(target),
            jf: None,
        });
    }

    /// Emits a conditional jump on `A` against `k`: `op` is [`BPF_JEQ`],
    /// [`BPF_JGT`], [`BPF_JGE`] or [`BPF_JSET`]. `None` means the next
    /// instruction.
    pub fn jump(&mut self, op: u16, k: u32, jt: Option<Label>, jf: Option<Label>) -> usize {
        self.code.push(Pending {
            insn: Instruction::stmt(BPF_JMP | op | BPF_K, k),
            jt,
            jf,
        });
        self.code.len() - 1
    }

    /// Sets the targets of the conditional jump at `index` (as returned by
    /// [`Assembler::jump`]), for jumps emitted before their targets are known.
    pub fn patch(&mut self, index: usize, jt: Option<Label>, jf: Option<Label>) {
        if let Some(pending) = self.code.get_mut(index) {
            pending.jt = jt;
            pending.jf = jf;
        }
    }

    /// Resolves the labels, inserting a `ja` after every conditional jump
    /// whose target is beyond the 8-bit offset, and removes `ja`s to the
    /// next instruction.
    pub fn finish(self) -> Result<Vec<Instruction>, BpfError> {
        #[derive(Clone, Copy)]
        struct Node {
            insn: Instruction,
            jt: usize,
            jf: usize,
        }
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
        // Nodes carry stable ids: their index here. Id `n` is the end of the
        // program (never a valid target); trampolines get ids after it.
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
        // A `ja` to the next instruction is dropped and jumps to it go on to
        // that instruction. (Other `ja`s stay: they are the rails and
        // trampolines that keep conditional jumps short.)
        let useless: Vec<bool> = (0..n)
            .map(|i| nodes[i].insn.code == BPF_JMP | BPF_JA && nodes[i].jt == i + 1)
            .collect();
        let mut forward: Vec<usize> = (0..=n).collect();
        for i in (0..n).rev() {
            if useless[i] {
                forward[i] = forward[i + 1];
            }
        }
        let mut order: Vec<usize> = Vec::with_capacity(n);
        for i in 0..n {
            if useless[i] {
                continue;
            }
            let node = &mut nodes[i];
            node.jt = forward[node.jt];
            node.jf = forward[node.jf];
            order.push(i);
        }
        let mut position: Vec<usize> = Vec::new();
        // Bounded: a round that inserts nothing ends the loop, and a jump
        // needs a trampoline at most once per target.
        for _round in 0..64 {
            position.clear();
            position.resize(nodes.len(), usize::MAX);
            for (pos, &id) in order.iter().enumerate() {
                position[id] = pos;
            }
            position[n] = order.len();
            let mut next: Vec<usize> = Vec::with_capacity(order.len() + 16);
            let mut inserted = false;
            for (pos, &id) in order.iter().enumerate() {
                next.push(id);
                let mut node = nodes[id];
                if !node.insn.is_conditional_jump() {
                    continue;
                }
                let far = |to: usize| position[to] - pos - 1 > usize::from(u8::MAX);
                let (far_t, far_f) = (far(node.jt), far(node.jf));
                if far_t {
                    nodes.push(Node {
                        insn: Instruction::stmt(BPF_JMP | BPF_JA, 0),
                        jt: node.jt,
                        jf: node.jt,
                    });
                    node.jt = nodes.len() - 1;
                    next.push(node.jt);
                }
                if far_f {
                    nodes.push(Node {
                        insn: Instruction::stmt(BPF_JMP | BPF_JA, 0),
                        jt: node.jf,
                        jf: node.jf,
                    });
                    node.jf = nodes.len() - 1;
                    next.push(node.jf);
                }
                if far_t || far_f {
                    inserted = true;
                    nodes[id] = node;
                }
            }
            order = next;
            if inserted {
                continue;
            }
            let too_far = || BpfError("jump too far".into());
            let mut out = Vec::with_capacity(order.len());
            for (pos, &id) in order.iter().enumerate() {
                let node = nodes[id];
                let mut insn = node.insn;
                let offset = |to: usize| position[to] - pos - 1;
                if insn.code == BPF_JMP | BPF_JA {
                    insn.k = u32::try_from(offset(node.jt)).map_err(|_| too_far())?;
                } else if insn.is_conditional_jump() {
                    insn.jt = u8::try_from(offset(node.jt)).map_err(|_| too_far())?;
                    insn.jf = u8::try_from(offset(node.jf)).map_err(|_| too_far())?;
                }
                out.push(insn);
            }
            return Ok(out);
        }
        Err(BpfError("jump offsets did not settle".into()))
    }
}

/// Checks `program` as Linux's `bpf_check_classic` does (and libpcap's
/// `bpf_validate`): known opcodes, jumps inside the program, scratch words
/// in range and written before they are read on every path, no division by
/// a constant zero, a `ret` at the end, at most `max_len` instructions.
pub fn validate(program: &[Instruction], max_len: usize) -> Result<(), BpfError> {
    let len = program.len();
    if len == 0 || len > max_len {
        return Err(BpfError(format!(
            "{len} instructions (1 to {max_len} allowed)"
        )));
    }
    for (pc, insn) in program.iter().enumerate() {
        let bad = |why: &str| Err(BpfError(format!("instruction {pc} ({insn:?}): {why}")));
        let code = insn.code;
        match insn.class() {
            BPF_LD | BPF_LDX => {
                let mode = code & 0xe0;
                let size = code & 0x18;
                let ok = match (insn.class(), mode) {
                    (BPF_LD, BPF_IMM | BPF_LEN) => size == BPF_W,
                    (BPF_LD, BPF_ABS | BPF_IND) => size != 0x18,
                    (_, BPF_MEM) => size == BPF_W && insn.k < MEMWORDS,
                    (BPF_LDX, BPF_IMM | BPF_LEN) => size == BPF_W,
                    (BPF_LDX, BPF_MSH) => size == BPF_B,
                    _ => false,
                };
                if !ok {
                    return bad("unknown load");
                }
            }
            BPF_ST | BPF_STX => {
                if code & !0x07 != 0 || insn.k >= MEMWORDS {
                    return bad("bad store");
                }
            }
            BPF_ALU => {
                let op = code & 0xf0;
                if code & 0x07 != BPF_ALU || op > BPF_XOR {
                    return bad("unknown ALU operation");
                }
                if (op == BPF_DIV || op == BPF_MOD) && code & BPF_X == 0 && insn.k == 0 {
                    return bad("division by zero");
                }
                if op == BPF_NEG && code & BPF_X != 0 {
                    return bad("unknown ALU operation");
                }
            }
            BPF_JMP => {
                let op = code & 0xf0;
                let rest = len - pc - 1;
                if op == BPF_JA {
                    if code != BPF_JMP | BPF_JA || insn.k as usize >= rest {
                        return bad("jump out of the program");
                    }
                } else {
                    if op > BPF_JSET || code & !0xf8 != BPF_JMP {
                        return bad("unknown jump");
                    }
                    if usize::from(insn.jt) >= rest || usize::from(insn.jf) >= rest {
                        return bad("jump out of the program");
                    }
                }
            }
            BPF_RET => {
                if code != BPF_RET | BPF_K && code != BPF_RET | BPF_A {
                    return bad("unknown return");
                }
            }
            _ => {
                if code != BPF_MISC | BPF_TAX && code != BPF_MISC | BPF_TXA {
                    return bad("unknown instruction");
                }
            }
        }
    }
    if program[len - 1].class() != BPF_RET {
        return Err(BpfError("the last instruction is not a return".into()));
    }
    check_loads_and_stores(program)
}

/// The kernel's `check_load_and_stores`, to the letter: a scratch word must be
/// written on every path before it is read. As in the kernel, a `ret` does not
/// end the state it passes on to the next instruction.
fn check_loads_and_stores(program: &[Instruction]) -> Result<(), BpfError> {
    let mut masks = vec![u16::MAX; program.len()];
    let mut valid: u16 = 0;
    for (pc, insn) in program.iter().enumerate() {
        valid &= masks[pc];
        let class = insn.class();
        let mode = insn.code & 0xe0;
        if class == BPF_ST || class == BPF_STX {
            valid |= 1 << insn.k;
        } else if (class == BPF_LD || class == BPF_LDX) && mode == BPF_MEM {
            if valid & (1 << insn.k) == 0 {
                return Err(BpfError(format!(
                    "instruction {pc} reads M[{}] before it is written",
                    insn.k
                )));
            }
        } else if class == BPF_JMP {
            if insn.code & 0xf0 == BPF_JA {
                masks[pc + 1 + insn.k as usize] &= valid;
            } else {
                masks[pc + 1 + usize::from(insn.jt)] &= valid;
                masks[pc + 1 + usize::from(insn.jf)] &= valid;
            }
            valid = u16::MAX;
        }
    }
    Ok(())
}

/// Runs `program` over `packet` as libpcap's `bpf_filter` does (and the
/// kernel, for the instructions knockd emits): returns how many bytes to
/// keep, 0 to drop. A load beyond the packet drops it. `program` must have
/// passed [`validate`].
pub fn run(program: &[Instruction], packet: &[u8]) -> u32 {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; MEMWORDS as usize];
    let mut pc = 0usize;
    let load = |offset: u32, size: u16| -> Option<u32> {
        let start = usize::try_from(offset).ok()?;
        let width = match size {
            BPF_W => 4,
            BPF_H => 2,
            _ => 1,
        };
        let bytes = packet.get(start..start.checked_add(width)?)?;
        Some(bytes.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)))
    };
    // Bounded: jumps only go forward.
    while let Some(&insn) = program.get(pc) {
        pc += 1;
        let k = insn.k;
        let size = insn.code & 0x18;
        match insn.class() {
            BPF_LD => {
                a = match insn.code & 0xe0 {
                    BPF_IMM => k,
                    BPF_LEN => u32::try_from(packet.len()).unwrap_or(u32::MAX),
                    BPF_MEM => mem[k as usize],
                    BPF_ABS => match load(k, size) {
                        Some(v) => v,
                        None => return 0,
                    },
                    _ => match x.checked_add(k).and_then(|at| load(at, size)) {
                        Some(v) => v,
                        None => return 0,
                    },
                };
            }
            BPF_LDX => {
                x = match insn.code & 0xe0 {
                    BPF_IMM => k,
                    BPF_LEN => u32::try_from(packet.len()).unwrap_or(u32::MAX),
                    BPF_MEM => mem[k as usize],
                    _ => match load(k, BPF_B) {
                        Some(v) => (v & 0xf) << 2,
                        None => return 0,
                    },
                };
            }
            BPF_ST => mem[k as usize] = a,
            BPF_STX => mem[k as usize] = x,
            BPF_ALU => {
                let operand = if insn.code & BPF_X != 0 { x } else { k };
                a = match insn.code & 0xf0 {
                    BPF_ADD => a.wrapping_add(operand),
                    BPF_SUB => a.wrapping_sub(operand),
                    BPF_MUL => a.wrapping_mul(operand),
                    BPF_DIV => match a.checked_div(operand) {
                        Some(v) => v,
                        None => return 0,
                    },
                    BPF_MOD => match a.checked_rem(operand) {
                        Some(v) => v,
                        None => return 0,
                    },
                    BPF_OR => a | operand,
                    BPF_AND => a & operand,
                    BPF_XOR => a ^ operand,
                    // libpcap and the kernel shift by the operand as is; a
                    // shift by 32 or more gives 0.
                    BPF_LSH => a.checked_shl(operand).unwrap_or(0),
                    BPF_RSH => a.checked_shr(operand).unwrap_or(0),
                    _ => a.wrapping_neg(),
                };
            }
            BPF_JMP => {
                let op = insn.code & 0xf0;
                if op == BPF_JA {
                    pc += k as usize;
                    continue;
                }
                let operand = if insn.code & BPF_X != 0 { x } else { k };
                let taken = match op {
                    BPF_JEQ => a == operand,
                    BPF_JGT => a > operand,
                    BPF_JGE => a >= operand,
                    _ => a & operand != 0,
                };
                pc += usize::from(if taken { insn.jt } else { insn.jf });
            }
            BPF_RET => return if insn.code & BPF_A != 0 { a } else { k },
            _ => {
                if insn.code & 0xf8 == BPF_TXA {
                    a = x;
                } else {
                    x = a;
                }
            }
        }
    }
    0
}

/// One instruction in the style of `tcpdump -d` (libpcap's `bpf_image`).
pub fn image(insn: &Instruction, pc: usize) -> String {
    let k = insn.k;
    let size = match insn.code & 0x18 {
        BPF_W => "",
        BPF_H => "h",
        _ => "b",
    };
    let jump = |name: &str| {
        let operand = if insn.code & BPF_X != 0 {
            "x".to_owned()
        } else {
            format!("#0x{k:x}")
        };
        format!(
            "{name:<8} {operand:<12} jt {}\tjf {}",
            pc + 1 + usize::from(insn.jt),
            pc + 1 + usize::from(insn.jf)
        )
    };
    let body = match insn.class() {
        BPF_LD => match insn.code & 0xe0 {
            BPF_IMM => format!("ld       #0x{k:x}"),
            BPF_LEN => "ld       #pktlen".to_owned(),
            BPF_MEM => format!("ld       M[{k}]"),
            BPF_ABS => format!("ld{size:<7}[{k}]"),
            _ => format!("ld{size:<7}[x + {k}]"),
        },
        BPF_LDX => match insn.code & 0xe0 {
            BPF_IMM => format!("ldx      #0x{k:x}"),
            BPF_LEN => "ldx      #pktlen".to_owned(),
            BPF_MEM => format!("ldx      M[{k}]"),
            _ => format!("ldxb     4*([{k}]&0xf)"),
        },
        BPF_ST => format!("st       M[{k}]"),
        BPF_STX => format!("stx      M[{k}]"),
        BPF_ALU => {
            let name = match insn.code & 0xf0 {
                BPF_ADD => "add",
                BPF_SUB => "sub",
                BPF_MUL => "mul",
                BPF_DIV => "div",
                BPF_MOD => "mod",
                BPF_OR => "or",
                BPF_AND => "and",
                BPF_XOR => "xor",
                BPF_LSH => "lsh",
                BPF_RSH => "rsh",
                _ => "neg",
            };
            if insn.code & 0xf0 == BPF_NEG {
                "neg".to_owned()
            } else if insn.code & BPF_X != 0 {
                format!("{name:<8} x")
            } else {
                format!("{name:<8} #0x{k:x}")
            }
        }
        BPF_JMP => match insn.code & 0xf0 {
            BPF_JA => format!("ja       {}", pc + 1 + k as usize),
            BPF_JEQ => jump("jeq"),
            BPF_JGT => jump("jgt"),
            BPF_JGE => jump("jge"),
            _ => jump("jset"),
        },
        BPF_RET => {
            if insn.code & BPF_A != 0 {
                "ret      a".to_owned()
            } else {
                format!("ret      #{k}")
            }
        }
        _ => {
            if insn.code & 0xf8 == BPF_TXA {
                "txa".to_owned()
            } else {
                "tax".to_owned()
            }
        }
    };
    format!("({pc:03}) {body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_conditional_jumps_get_a_trampoline() {
        let mut asm = Assembler::new();
        let far = asm.label();
        asm.stmt(BPF_LD | BPF_B | BPF_ABS, 0);
        asm.jump(BPF_JEQ, 1, Some(far), None);
        for _ in 0..300 {
            asm.stmt(BPF_LD | BPF_IMM, 0);
        }
        asm.stmt(BPF_RET | BPF_K, 0);
        asm.bind(far);
        asm.stmt(BPF_RET | BPF_K, 7);
        let program = asm.finish().unwrap();
        assert_eq!(
            program.len(),
            305,
            "the jump, its trampoline, 300 loads, two returns"
        );
        validate(&program, LINUX_MAX_INSTRUCTIONS).unwrap();
        assert_eq!(run(&program, &[1]), 7);
        assert_eq!(run(&program, &[2]), 0);
        assert_eq!(run(&program, &[]), 0, "a load beyond the packet drops it");
    }

    #[test]
    fn jas_to_the_next_instruction_disappear() {
        let mut asm = Assembler::new();
        let next = asm.label();
        asm.ja(next);
        asm.bind(next);
        asm.stmt(BPF_RET | BPF_K, 1);
        assert_eq!(asm.finish().unwrap(), [Instruction::stmt(BPF_RET, 1)]);
    }

    #[test]
    fn the_validator_follows_the_kernel() {
        let ret = Instruction::stmt(BPF_RET | BPF_K, 0);
        assert!(validate(&[], 10).is_err());
        assert!(validate(&[Instruction::stmt(BPF_LD | BPF_IMM, 0)], 10).is_err());
        assert!(validate(&[ret; 11], 10).is_err());
        let read = Instruction::stmt(BPF_LD | BPF_MEM, 3);
        assert!(validate(&[read, ret], 10).is_err(), "M[3] never written");
        let store = Instruction::stmt(BPF_ST, 3);
        validate(&[store, read, ret], 10).unwrap();
        let div0 = Instruction::stmt(BPF_ALU | BPF_DIV | BPF_K, 0);
        assert!(validate(&[div0, ret], 10).is_err());
        let out = Instruction {
            code: BPF_JMP | BPF_JEQ,
            jt: 1,
            jf: 0,
            k: 0,
        };
        assert!(validate(&[out, ret], 10).is_err());
        // The kernel lets a `ret` pass its state on to the next instruction:
        // M[1] is written on the only path into the load, but the `ret`
        // before it had nothing written, so the program is refused.
        let cond = Instruction {
            code: BPF_JMP | BPF_JEQ,
            jt: 0,
            jf: 2,
            k: 0,
        };
        let quirk = [
            cond,
            Instruction::stmt(BPF_ST, 1),
            Instruction::stmt(BPF_JMP | BPF_JA, 1),
            ret,
            Instruction::stmt(BPF_LD | BPF_MEM, 1),
            Instruction::stmt(BPF_RET | BPF_A, 0),
        ];
        assert!(validate(&quirk, 10).is_err());
        assert_eq!(run(&quirk, &[]), 0);
    }
}
