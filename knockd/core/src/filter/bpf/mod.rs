//! Classic BPF: the instruction format ([`opcodes`]), an assembler with
//! symbolic labels (`Assembler`), a validator with the kernel's rules
//! ([`validate`]) and a disassembler in the style of `tcpdump -d`
//! (`image`).
//!
//! Classic BPF (what `SO_ATTACH_FILTER` and libpcap's `pcap_setfilter` take)
//! has an accumulator `A`, an index register `X`, 16 scratch words `M[]`,
//! forward jumps only, and conditional jumps whose offsets are 8 bits wide.
//! The `Assembler` hides the last limit: every jump names a `Label`, and
//! a conditional jump whose target ends up more than 255 instructions away is
//! routed through an inserted `ja` (whose offset is 32 bits).

use std::fmt;

mod assembler;
mod disassembler;
pub mod opcodes;
mod validator;

pub(crate) use assembler::Assembler;
pub(crate) use assembler::Label;
pub(crate) use disassembler::image;
pub use opcodes::*;
pub use validator::validate;

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
    pub(crate) const fn stmt(code: u16, k: u32) -> Self {
        Instruction {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// The class: [`BPF_LD`], [`BPF_LDX`], [`BPF_ST`], ... `BPF_MISC`.
    pub const fn class(self) -> u16 {
        self.code & BPF_CLASS_MASK
    }

    /// A load's size: [`BPF_W`], [`BPF_H`] or [`BPF_B`].
    pub const fn size(self) -> u16 {
        self.code & BPF_SIZE_MASK
    }

    /// A load's mode: [`BPF_IMM`], [`BPF_ABS`], `BPF_IND`, [`BPF_MEM`],
    /// [`BPF_LEN`] or `BPF_MSH`.
    pub const fn mode(self) -> u16 {
        self.code & BPF_MODE_MASK
    }

    /// An ALU operation's or a jump's operation: [`BPF_ADD`] ... or
    /// [`BPF_JA`] ... `BPF_JSET`.
    pub const fn op(self) -> u16 {
        self.code & BPF_OP_MASK
    }

    /// Whether an ALU operation or a jump takes `X` as its operand (otherwise `k`).
    pub const fn operand_is_x(self) -> bool {
        self.code & BPF_SRC_MASK == BPF_X
    }

    /// Whether this is a load of packet bytes (at `k`, at `X + k`, or
    /// `ldxb 4*([k]&0xf)`), whose offset a cooked capture rewrites.
    pub(crate) const fn loads_packet(self) -> bool {
        let class = self.class();
        (class == BPF_LD || class == BPF_LDX) && matches!(self.mode(), BPF_ABS | BPF_IND | BPF_MSH)
    }

    /// Whether this is a jump with a true and a false target.
    pub(crate) const fn is_conditional_jump(self) -> bool {
        self.class() == BPF_JMP && self.op() != BPF_JA
    }
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

/// Runs `program` over `packet` with the test kit's interpreter, which
/// follows libpcap's `bpf_filter`. The test kit sees knockd-core as another
/// crate, so the instructions are copied into its [`Instruction`] type.
#[cfg(test)]
pub(crate) fn run(program: &[Instruction], packet: &[u8]) -> u32 {
    let program: Vec<knockd_testkit::bpf::Instruction> = program
        .iter()
        .map(|i| knockd_testkit::bpf::Instruction {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    knockd_testkit::bpf::run(&program, packet)
}

#[cfg(test)]
mod tests;
