//! The device program run through a small eBPF interpreter over
//! `struct bpf_cgroup_dev_ctx` inputs, against the allow list itself.

use super::*;
use crate::cgroup::devices::{MKNOD, READ, WRITE, allowed};

/// Runs `prog` as the kernel would for (type, access, major, minor).
/// Knows only the instructions the program may use; panics on others, on
/// a read of an unset register or out of the context, and on a jump out
/// of the program.
fn run(prog: &[Insn], dev_type: u32, access: u32, major: u32, minor: u32) -> u64 {
    let ctx = [(access << 16) | dev_type, major, minor];
    let mut regs: [Option<u64>; 11] = [None; 11];
    regs[1] = Some(0); // the context "pointer": offsets are read from ctx
    let mut pc = 0usize;
    loop {
        let ins = prog.get(pc).expect("the program runs off its end");
        let (dst, src) = (usize::from(ins.regs & 0x0f), usize::from(ins.regs >> 4));
        let get = |r: usize| regs[r].unwrap_or_else(|| panic!("r{r} read unset at {pc}"));
        match ins.code {
            LDX_MEM_W => {
                assert_eq!(src, 1, "loads only from the context");
                let off = usize::try_from(ins.off).expect("offset");
                assert!(off % 4 == 0 && off < 12, "ctx offset {off}");
                regs[dst] = Some(u64::from(ctx[off / 4]));
            }
            MOV64_REG => regs[dst] = Some(get(src)),
            MOV64_IMM => regs[dst] = Some(i64::from(ins.imm) as u64),
            AND64_IMM => regs[dst] = Some(get(dst) & i64::from(ins.imm) as u64),
            RSH64_IMM => regs[dst] = Some(get(dst) >> ins.imm),
            JNE_IMM => {
                if get(dst) != i64::from(ins.imm) as u64 {
                    pc = pc.checked_add_signed(isize::from(ins.off)).expect("jump");
                }
            }
            EXIT => return get(0),
            code => panic!("opcode {code:#x} at {pc}"),
        }
        pc += 1;
    }
}

#[test]
fn the_program_answers_as_the_allow_list_for_every_device() {
    let prog = program();
    let majors = [0, 1, 4, 5, 7, 8, 10, 136, 253, 0xffff_ffff];
    let minors = [0, 1, 2, 3, 5, 7, 8, 9, 183, 200, 0xffff_ffff];
    let accesses = [
        MKNOD,
        READ,
        WRITE,
        READ | WRITE,
        MKNOD | READ,
        MKNOD | READ | WRITE,
    ];
    for (kind, dev_type) in [(Kind::Char, DEV_CHAR), (Kind::Block, DEV_BLOCK)] {
        for major in majors {
            for minor in minors {
                for access in accesses {
                    let want = allowed(kind, major, minor, access);
                    let got = run(&prog, dev_type as u32, access, major, minor);
                    assert_eq!(
                        got,
                        u64::from(want),
                        "{kind:?} {major}:{minor} access {access}"
                    );
                }
            }
        }
    }
}

#[test]
fn examples_from_the_issue() {
    let prog = program();
    let char_ = DEV_CHAR as u32;
    assert_eq!(run(&prog, char_, READ, 10, 183), 0, "hwrng");
    assert_eq!(run(&prog, DEV_BLOCK as u32, READ, 7, 0), 0, "loop0");
    assert_eq!(run(&prog, char_, WRITE, 4, 1), 0, "tty1");
    assert_eq!(run(&prog, char_, MKNOD, 10, 183), 1, "mknod is allowed");
    assert_eq!(run(&prog, char_, READ | WRITE, 1, 3), 1, "null");
    assert_eq!(run(&prog, char_, READ | WRITE, 136, 3), 1, "pts/3");
}
