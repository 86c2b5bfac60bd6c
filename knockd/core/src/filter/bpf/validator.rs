//! The validator: the checks Linux makes before it attaches a program.

use super::opcodes::*;
use super::{BpfError, Instruction};

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
        if let Err(why) = check_opcode(*insn, len - pc - 1) {
            return Err(BpfError(format!("instruction {pc} ({insn:?}): {why}")));
        }
    }
    if program[len - 1].class() != BPF_RET {
        return Err(BpfError("the last instruction is not a return".into()));
    }
    check_loads_and_stores(program)
}

/// Whether `insn` is an instruction the kernel knows, with its jumps inside
/// the `rest` instructions after it; otherwise why not.
fn check_opcode(insn: Instruction, rest: usize) -> Result<(), &'static str> {
    let code = insn.code;
    match insn.class() {
        BPF_LD | BPF_LDX => {
            let size = insn.size();
            let ok = match (insn.class(), insn.mode()) {
                (BPF_LD, BPF_IMM | BPF_LEN) => size == BPF_W,
                (BPF_LD, BPF_ABS | BPF_IND) => size != BPF_SIZE_MASK,
                (_, BPF_MEM) => size == BPF_W && insn.k < MEMWORDS,
                (BPF_LDX, BPF_IMM | BPF_LEN) => size == BPF_W,
                (BPF_LDX, BPF_MSH) => size == BPF_B,
                _ => false,
            };
            if !ok {
                return Err("unknown load");
            }
        }
        BPF_ST | BPF_STX => {
            if code & !BPF_CLASS_MASK != 0 || insn.k >= MEMWORDS {
                return Err("bad store");
            }
        }
        BPF_ALU => {
            let op = insn.op();
            if code & BPF_CLASS_MASK != BPF_ALU || op > BPF_XOR {
                return Err("unknown ALU operation");
            }
            if (op == BPF_DIV || op == BPF_MOD) && !insn.operand_is_x() && insn.k == 0 {
                return Err("division by zero");
            }
            if op == BPF_NEG && insn.operand_is_x() {
                return Err("unknown ALU operation");
            }
        }
        BPF_JMP => {
            let op = insn.op();
            if op == BPF_JA {
                if code != BPF_JMP | BPF_JA || insn.k as usize >= rest {
                    return Err("jump out of the program");
                }
            } else {
                if op > BPF_JSET || code & !(BPF_OP_MASK | BPF_SRC_MASK) != BPF_JMP {
                    return Err("unknown jump");
                }
                if usize::from(insn.jt) >= rest || usize::from(insn.jf) >= rest {
                    return Err("jump out of the program");
                }
            }
        }
        BPF_RET => {
            if code != BPF_RET | BPF_K && code != BPF_RET | BPF_A {
                return Err("unknown return");
            }
        }
        _ => {
            if code != BPF_MISC | BPF_TAX && code != BPF_MISC | BPF_TXA {
                return Err("unknown instruction");
            }
        }
    }
    Ok(())
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
        if class == BPF_ST || class == BPF_STX {
            valid |= 1 << insn.k;
        } else if (class == BPF_LD || class == BPF_LDX) && insn.mode() == BPF_MEM {
            if valid & (1 << insn.k) == 0 {
                return Err(BpfError(format!(
                    "instruction {pc} reads M[{}] before it is written",
                    insn.k
                )));
            }
        } else if class == BPF_JMP {
            if insn.op() == BPF_JA {
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
