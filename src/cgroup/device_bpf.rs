//! The device allow list on cgroup v2: a `BPF_PROG_TYPE_CGROUP_DEVICE`
//! program, assembled here from [`devices::ALLOWED`] (the kernel's
//! interface, like the seccomp prologue; no BPF toolchain or library),
//! loaded with `bpf(BPF_PROG_LOAD)` and attached to the sandbox's v2
//! cgroup with `bpf(BPF_PROG_ATTACH)`. The attachment holds the program:
//! it lives as long as the cgroup, so nothing needs pinning or cleaning.
//!
//! The program reads `struct bpf_cgroup_dev_ctx` (linux/bpf.h):
//! `access_type` (device type in the low 16 bits, `BPF_DEVCG_DEV_*`;
//! access in the high 16, `BPF_DEVCG_ACC_*`), `major`, `minor`; it returns
//! 1 to allow and 0 to deny (EPERM).

use super::devices::{self, Kind};
use anyhow::{Context, Result, bail};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// `BPF_DEVCG_DEV_BLOCK`, `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

// eBPF opcodes (linux/bpf_common.h, linux/bpf.h).
/// `BPF_LDX | BPF_MEM | BPF_W`: dst = *(u32 *)(src + off).
pub(super) const LDX_MEM_W: u8 = 0x61;
/// `BPF_ALU64 | BPF_MOV | BPF_X`: dst = src.
pub(super) const MOV64_REG: u8 = 0xbf;
/// `BPF_ALU64 | BPF_MOV | BPF_K`: dst = imm.
pub(super) const MOV64_IMM: u8 = 0xb7;
/// `BPF_ALU64 | BPF_AND | BPF_K`: dst &= imm.
pub(super) const AND64_IMM: u8 = 0x57;
/// `BPF_ALU64 | BPF_RSH | BPF_K`: dst >>= imm.
pub(super) const RSH64_IMM: u8 = 0x77;
/// `BPF_JMP | BPF_JNE | BPF_K`: if dst != imm, pc += off.
pub(super) const JNE_IMM: u8 = 0x55;
/// `BPF_JMP | BPF_EXIT`: return r0.
pub(super) const EXIT: u8 = 0x95;

/// Registers: r1 holds the context; r2 access, r3 type, r4 major,
/// r5 minor, r6 scratch, r0 the verdict.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;

/// One `struct bpf_insn` (8 bytes: code, dst/src registers, offset, imm).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// dst_reg in the low nibble, src_reg in the high one.
    pub regs: u8,
    /// Jump or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

/// The program for [`devices::ALLOWED`]: one block per rule, each
/// skipping to the next rule on a mismatch and returning 1 at its end;
/// past the last rule, 0.
pub fn program() -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, R2, R1, 0, 0), // access_type
        insn(MOV64_REG, R3, R2, 0, 0),
        insn(AND64_IMM, R3, 0, 0, 0xffff), // device type
        insn(RSH64_IMM, R2, 0, 0, 16),     // access
        insn(LDX_MEM_W, R4, R1, 4, 0),     // major
        insn(LDX_MEM_W, R5, R1, 8, 0),     // minor
    ];
    for rule in devices::ALLOWED {
        let mut checks: Vec<(u8, u8, i32)> = Vec::new(); // (code, reg, imm) of each "skip if"
        let kind = match rule.kind {
            Kind::Char => DEV_CHAR,
            Kind::Block => DEV_BLOCK,
        };
        checks.push((JNE_IMM, R3, kind));
        if let Some(major) = rule.major {
            checks.push((JNE_IMM, R4, major as i32));
        }
        if let Some(minor) = rule.minor {
            checks.push((JNE_IMM, R5, minor as i32));
        }
        let limit_access = rule.access != devices::RWM;
        // Each check skips the rest of the block: later checks, the access
        // test (3 instructions) if any, and the allow (2).
        let tail = if limit_access { 3 } else { 0 } + 2;
        let n = checks.len();
        for (i, (code, reg, imm)) in checks.into_iter().enumerate() {
            let skip = (n - i - 1) + tail;
            prog.push(insn(code, reg, 0, skip as i16, imm));
        }
        if limit_access {
            // Requested bits outside the rule's: not this rule.
            prog.push(insn(MOV64_REG, R6, R2, 0, 0));
            prog.push(insn(AND64_IMM, R6, 0, 0, !(rule.access as i32)));
            prog.push(insn(JNE_IMM, R6, 0, 2, 0));
        }
        prog.push(insn(MOV64_IMM, R0, 0, 0, 1));
        prog.push(insn(EXIT, 0, 0, 0, 0));
    }
    prog.push(insn(MOV64_IMM, R0, 0, 0, 0));
    prog.push(insn(EXIT, 0, 0, 0, 0));
    prog
}

/// `BPF_PROG_LOAD` and `BPF_PROG_ATTACH` commands (linux/bpf.h).
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
/// `BPF_PROG_TYPE_CGROUP_DEVICE`, `BPF_CGROUP_DEVICE`.
const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: the sandbox's program runs after its ancestors'
/// (all must allow), and another manager's programs above stay in place.
const F_ALLOW_MULTI: u32 = 2;

/// The head of `union bpf_attr` for `BPF_PROG_LOAD`.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The head of `union bpf_attr` for `BPF_PROG_ATTACH`.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a live, fully initialised bpf_attr head of the size
    // passed; the kernel reads (and for LOAD may write) only that much.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as u32,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// Loads the program and attaches it to the v2 cgroup at `dir`.
pub fn attach(dir: &Path) -> Result<()> {
    let prog = program();
    let license = c"MIT OR Apache-2.0";
    let mut name = [0u8; 16];
    name[..10].copy_from_slice(b"sbx_device");
    let mut load = ProgLoadAttr {
        prog_type: PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: prog.len() as u32,
        insns: prog.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    let fd = bpf(BPF_PROG_LOAD, &mut load).context("load the device BPF program")?;
    // SAFETY: a successful BPF_PROG_LOAD returns a new fd that we own.
    let prog_fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup =
        std::fs::File::open(dir).with_context(|| format!("open cgroup {}", dir.display()))?;
    let mut attach = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog_fd.as_raw_fd() as u32,
        attach_type: ATTACH_CGROUP_DEVICE,
        attach_flags: F_ALLOW_MULTI,
        ..Default::default()
    };
    match bpf(BPF_PROG_ATTACH, &mut attach) {
        Ok(_) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => bail!(
            "attach the device BPF program to {}: {e} (the kernel needs CONFIG_CGROUP_BPF)",
            dir.display()
        ),
        Err(e) => {
            Err(e).with_context(|| format!("attach the device BPF program to {}", dir.display()))
        }
    }
}

#[cfg(test)]
#[path = "device_bpf_tests.rs"]
mod tests;
