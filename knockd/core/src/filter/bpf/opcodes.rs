//! The opcode bits of classic BPF (`linux/bpf_common.h`, `net/bpf.h`), and
//! the masks that take an opcode apart, so that no one re-derives them.

/// The class bits of an opcode.
pub(crate) const BPF_CLASS_MASK: u16 = 0x07;
/// The load size bits of a load.
pub(crate) const BPF_SIZE_MASK: u16 = 0x18;
/// The load mode bits of a load.
pub(crate) const BPF_MODE_MASK: u16 = 0xe0;
/// The operation bits of an ALU operation or a jump.
pub(crate) const BPF_OP_MASK: u16 = 0xf0;
/// The operand bit of an ALU operation or a jump: [`BPF_K`] or [`BPF_X`].
pub(crate) const BPF_SRC_MASK: u16 = 0x08;
/// The operation bits of a `BPF_MISC` instruction: `BPF_TAX` or [`BPF_TXA`].
pub const BPF_MISCOP_MASK: u16 = 0xf8;

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
pub(crate) const BPF_MISC: u16 = 0x07;

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
pub(crate) const BPF_IND: u16 = 0x40;
/// Load mode: scratch word `M[k]`.
pub const BPF_MEM: u16 = 0x60;
/// Load mode: the packet's length.
pub const BPF_LEN: u16 = 0x80;
/// Load mode (`ldxb` only): `X = 4 * (packet[k] & 0xf)`, an IPv4 header length.
pub(crate) const BPF_MSH: u16 = 0xa0;

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
pub(crate) const BPF_NEG: u16 = 0x80;
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
pub(crate) const BPF_JSET: u16 = 0x40;

/// Operand: the constant `k`.
pub(crate) const BPF_K: u16 = 0x00;
/// Operand: `X`.
pub(crate) const BPF_X: u16 = 0x08;
/// `ret a`: return `A`.
pub const BPF_A: u16 = 0x10;

/// `tax`.
pub(crate) const BPF_TAX: u16 = 0x00;
/// `txa`.
pub const BPF_TXA: u16 = 0x80;

/// Scratch words (`BPF_MEMWORDS`).
pub const MEMWORDS: u32 = 16;
/// The longest program Linux accepts (`BPF_MAXINSNS`).
pub const LINUX_MAX_INSTRUCTIONS: usize = 4096;
