//! A classic BPF interpreter with libpcap's semantics, to run the capture
//! filter knockd generates over test frames; knockd itself only installs it.

pub use knockd_core::filter::bpf::Instruction;
use knockd_core::filter::bpf::*;
use knockd_core::filter::Program;

/// Runs `program` over `packet` as libpcap's `bpf_filter` does (and the
/// kernel, for the instructions knockd emits): returns how many bytes to
/// keep, 0 to drop. A load beyond the packet drops it. `program` must have
/// passed [`validate`].
pub fn run(program: &[Instruction], packet: &[u8]) -> u32 {
    let mut machine = Machine {
        packet,
        a: 0,
        x: 0,
        mem: [0; MEMWORDS as usize],
    };
    let mut pc = 0usize;
    // Bounded: jumps only go forward.
    while let Some(&insn) = program.get(pc) {
        pc += 1;
        match machine.step(insn) {
            Step::Next => {}
            Step::Skip(n) => pc += n,
            Step::Return(keep) => return keep,
        }
    }
    0
}

/// What an instruction does to the program counter.
enum Step {
    /// Go on with the next instruction.
    Next,
    /// Skip this many instructions.
    Skip(usize),
    /// Stop: keep this many bytes of the packet (0: drop it).
    Return(u32),
}

/// The registers and scratch words while a program runs over `packet`.
struct Machine<'a> {
    packet: &'a [u8],
    a: u32,
    x: u32,
    mem: [u32; MEMWORDS as usize],
}

impl Machine<'_> {
    /// Runs one instruction.
    fn step(&mut self, insn: Instruction) -> Step {
        let k = insn.k;
        match insn.class() {
            BPF_LD | BPF_LDX => match self.load(insn) {
                Some(value) if insn.class() == BPF_LD => self.a = value,
                Some(value) => self.x = value,
                None => return Step::Return(0),
            },
            BPF_ST => self.mem[k as usize] = self.a,
            BPF_STX => self.mem[k as usize] = self.x,
            BPF_ALU => match self.alu(insn) {
                Some(value) => self.a = value,
                None => return Step::Return(0),
            },
            BPF_JMP => return Step::Skip(self.jump(insn)),
            BPF_RET => return Step::Return(if insn.code & BPF_A != 0 { self.a } else { k }),
            _ => {
                if insn.code & BPF_MISCOP_MASK == BPF_TXA {
                    self.a = self.x;
                } else {
                    self.x = self.a;
                }
            }
        }
        Step::Next
    }

    /// The value `ld` or `ldx` loads; `None` beyond the packet.
    fn load(&self, insn: Instruction) -> Option<u32> {
        let k = insn.k;
        Some(match insn.mode() {
            BPF_IMM => k,
            BPF_LEN => u32::try_from(self.packet.len()).unwrap_or(u32::MAX),
            BPF_MEM => self.mem[k as usize],
            BPF_ABS if insn.class() == BPF_LD => self.bytes(k, insn.size())?,
            _ if insn.class() == BPF_LD => self.bytes(self.x.checked_add(k)?, insn.size())?,
            _ => (self.bytes(k, BPF_B)? & 0xf) << 2,
        })
    }

    /// The packet's bytes at `offset`, big-endian; `None` beyond the packet.
    fn bytes(&self, offset: u32, size: u16) -> Option<u32> {
        let start = usize::try_from(offset).ok()?;
        let width = match size {
            BPF_W => 4,
            BPF_H => 2,
            _ => 1,
        };
        let bytes = self.packet.get(start..start.checked_add(width)?)?;
        Some(bytes.iter().fold(0u32, |acc, &b| acc << 8 | u32::from(b)))
    }

    /// The operand of an ALU operation or a conditional jump.
    fn operand(&self, insn: Instruction) -> u32 {
        if insn.operand_is_x() {
            self.x
        } else {
            insn.k
        }
    }

    /// `A` after an ALU operation; `None` after a division by zero.
    fn alu(&self, insn: Instruction) -> Option<u32> {
        let (a, operand) = (self.a, self.operand(insn));
        Some(match insn.op() {
            BPF_ADD => a.wrapping_add(operand),
            BPF_SUB => a.wrapping_sub(operand),
            BPF_MUL => a.wrapping_mul(operand),
            BPF_DIV => a.checked_div(operand)?,
            BPF_MOD => a.checked_rem(operand)?,
            BPF_OR => a | operand,
            BPF_AND => a & operand,
            BPF_XOR => a ^ operand,
            // libpcap and the kernel shift by the operand as is; a shift by
            // 32 or more gives 0.
            BPF_LSH => a.checked_shl(operand).unwrap_or(0),
            BPF_RSH => a.checked_shr(operand).unwrap_or(0),
            _ => a.wrapping_neg(),
        })
    }

    /// How many instructions a jump skips.
    fn jump(&self, insn: Instruction) -> usize {
        if insn.op() == BPF_JA {
            return insn.k as usize;
        }
        let (a, operand) = (self.a, self.operand(insn));
        let taken = match insn.op() {
            BPF_JEQ => a == operand,
            BPF_JGT => a > operand,
            BPF_JGE => a >= operand,
            _ => a & operand != 0,
        };
        usize::from(if taken { insn.jt } else { insn.jf })
    }
}

/// What the tests ask of a generated capture filter [`Program`].
pub trait ProgramExt {
    /// Whether the program passes `frame` (runs it as libpcap does).
    fn passes(&self, frame: &[u8]) -> bool;

    /// The most instructions any packet runs through (the longest path
    /// through the program).
    fn longest_path(&self) -> usize;
}

impl ProgramExt for Program {
    fn passes(&self, frame: &[u8]) -> bool {
        run(self.instructions(), frame) != 0
    }

    fn longest_path(&self) -> usize {
        let instructions = self.instructions();
        // longest[i]: instructions run from i to a `ret`, inclusive.
        let mut longest = vec![0usize; instructions.len() + 1];
        for (pc, insn) in instructions.iter().enumerate().rev() {
            let after = |offset: usize| longest.get(pc + 1 + offset).copied().unwrap_or(0);
            let class = insn.class();
            longest[pc] = 1 + if class == BPF_RET {
                0
            } else if insn.code == BPF_JMP | BPF_JA {
                after(insn.k as usize)
            } else if class == BPF_JMP {
                after(usize::from(insn.jt)).max(after(usize::from(insn.jf)))
            } else {
                after(0)
            };
        }
        longest[0]
    }
}
