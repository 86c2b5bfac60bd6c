//! The disassembler: instructions as `tcpdump -d` prints them.

use super::opcodes::*;
use super::Instruction;

/// One instruction in the style of `tcpdump -d` (libpcap's `bpf_image`).
pub(crate) fn image(insn: &Instruction, pc: usize) -> String {
    let body = match insn.class() {
        BPF_LD | BPF_LDX => load(insn),
        BPF_ST => format!("st       M[{}]", insn.k),
        BPF_STX => format!("stx      M[{}]", insn.k),
        BPF_ALU => alu(insn),
        BPF_JMP => jump(insn, pc),
        BPF_RET => {
            if insn.code & BPF_A != 0 {
                "ret      a".to_owned()
            } else {
                format!("ret      #{}", insn.k)
            }
        }
        _ => {
            if insn.code & BPF_MISCOP_MASK == BPF_TXA {
                "txa".to_owned()
            } else {
                "tax".to_owned()
            }
        }
    };
    format!("({pc:03}) {body}")
}

/// `ld` and `ldx`.
fn load(insn: &Instruction) -> String {
    let k = insn.k;
    if insn.class() == BPF_LDX {
        return match insn.mode() {
            BPF_IMM => format!("ldx      #0x{k:x}"),
            BPF_LEN => "ldx      #pktlen".to_owned(),
            BPF_MEM => format!("ldx      M[{k}]"),
            _ => format!("ldxb     4*([{k}]&0xf)"),
        };
    }
    let size = match insn.size() {
        BPF_W => "",
        BPF_H => "h",
        _ => "b",
    };
    match insn.mode() {
        BPF_IMM => format!("ld       #0x{k:x}"),
        BPF_LEN => "ld       #pktlen".to_owned(),
        BPF_MEM => format!("ld       M[{k}]"),
        BPF_ABS => format!("ld{size:<7}[{k}]"),
        _ => format!("ld{size:<7}[x + {k}]"),
    }
}

/// The operand of an ALU operation or a conditional jump.
fn operand(insn: &Instruction) -> String {
    if insn.operand_is_x() {
        "x".to_owned()
    } else {
        format!("#0x{:x}", insn.k)
    }
}

fn alu(insn: &Instruction) -> String {
    let name = match insn.op() {
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
        BPF_NEG => return "neg".to_owned(),
        _ => "neg",
    };
    format!("{name:<8} {}", operand(insn))
}

fn jump(insn: &Instruction, pc: usize) -> String {
    let name = match insn.op() {
        BPF_JA => return format!("ja       {}", pc + 1 + insn.k as usize),
        BPF_JEQ => "jeq",
        BPF_JGT => "jgt",
        BPF_JGE => "jge",
        _ => "jset",
    };
    format!(
        "{name:<8} {:<12} jt {}\tjf {}",
        operand(insn),
        pc + 1 + usize::from(insn.jt),
        pc + 1 + usize::from(insn.jf)
    )
}
