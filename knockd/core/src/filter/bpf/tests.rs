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
