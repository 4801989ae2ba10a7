//! The kernel's mount API by descriptor (Linux ≥ 5.12): a filesystem or a
//! bind is built detached (`fsopen`/`fsmount`, `open_tree`), given its
//! attributes (`mount_setattr`, recursively where asked) and only then
//! attached onto a mount point that is itself a descriptor (`move_mount`),
//! never a name looked up again. Numbers and structs from linux/mount.h;
//! libc has the syscall numbers but not all the wrappers.

use anyhow::{Context, Result};
use nix::errno::Errno;
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const OPEN_TREE_CLONE: libc::c_uint = 1;
const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;

/// `MOUNT_ATTR_RDONLY`: writes fail with EROFS.
pub const RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID`: set-id bits are ignored.
pub const NOSUID: u64 = 0x2;
/// `MOUNT_ATTR_NODEV`: device nodes on the mount cannot be opened.
pub const NODEV: u64 = 0x4;
/// `MOUNT_ATTR_NOEXEC`: nothing on the mount can be executed.
pub const NOEXEC: u64 = 0x8;
/// `MOUNT_ATTR_STRICTATIME`: atime always updated (what /dev gets).
pub const STRICTATIME: u64 = 0x20;
/// `MOUNT_ATTR_NOATIME`.
pub const NOATIME: u64 = 0x10;

/// `struct mount_attr` of linux/mount.h (`MOUNT_ATTR_SIZE_VER0`, 32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Takes ownership of a descriptor a syscall returned.
fn owned(rc: libc::c_long) -> nix::Result<OwnedFd> {
    let raw = Errno::result(rc)?;
    // SAFETY: the kernel just returned this new descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(raw as i32) })
}

/// Sets `attrs` (the consts above) on the mount whose root `fd` is and,
/// when `recursive`, on every mount below it (`AT_RECURSIVE`): a read-only
/// bind whose source has submounts is read-only all the way down.
pub fn set_attrs(fd: &OwnedFd, attrs: u64, recursive: bool) -> nix::Result<()> {
    // A new access-time mode replaces the old one: mount_setattr(2) wants
    // MOUNT_ATTR__ATIME (0x70) in attr_clr then, else EINVAL.
    let atime = if attrs & (STRICTATIME | NOATIME) != 0 {
        0x70
    } else {
        0
    };
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: atime,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: a valid fd, an empty C string and a struct of the size
    // passed, all alive for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd.as_raw_fd(),
            c"".as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    Errno::result(rc).map(drop)
}

/// A new, detached instance of `fstype` (proc, sysfs, tmpfs, devpts,
/// mqueue) made with `options` (`key=value` or flag words, as in mount(8)'s
/// `-o`) and mount `attrs`: the descriptor of its root. Namespaced
/// filesystems take the caller's namespaces (its PID namespace for proc,
/// its network namespace for sysfs).
pub fn new_fs(fstype: &str, options: &[&str], attrs: u64) -> Result<OwnedFd> {
    let name = CString::new(fstype).context("a filesystem name with a NUL byte")?;
    // SAFETY: a NUL-terminated name alive for the call.
    let rc = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
    let context = owned(rc).with_context(|| format!("open a {fstype} filesystem"))?;
    // The source /proc/self/mountinfo shows ("proc", "sysfs", ...; `none`
    // otherwise), as mount(8), runc and the runtime-tools suite expect;
    // an explicit `source=` option wins.
    let default_source = format!("source={fstype}");
    let has_source = options.iter().any(|o| o.starts_with("source="));
    let defaults = [default_source.as_str()];
    let first: &[&str] = if has_source { &[] } else { &defaults };
    for option in first.iter().chain(options) {
        let (key, value) = match option.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (*option, None),
        };
        let key_c = CString::new(key).context("an option with a NUL byte")?;
        let value_c = value
            .map(CString::new)
            .transpose()
            .context("an option with a NUL byte")?;
        let (cmd, value_ptr) = match &value_c {
            Some(v) => (FSCONFIG_SET_STRING, v.as_ptr()),
            None => (0, std::ptr::null()), // FSCONFIG_SET_FLAG
        };
        // SAFETY: a valid context fd and NUL-terminated strings (or NULL
        // for a flag) alive for the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                context.as_raw_fd(),
                cmd,
                key_c.as_ptr(),
                value_ptr,
                0,
            )
        };
        Errno::result(rc).with_context(|| format!("{fstype} option {option}"))?;
    }
    // SAFETY: a valid context fd; no strings.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            context.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_char>(),
            0,
        )
    };
    Errno::result(rc).with_context(|| format!("create a {fstype} filesystem"))?;
    // SAFETY: a valid context fd.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            context.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    };
    owned(rc).with_context(|| format!("mount a {fstype} filesystem"))
}

/// A detached copy of the mount tree at `path` (resolved from `dirfd`, or
/// `dirfd` itself when `path` is empty), with its submounts when
/// `recursive`.
fn clone_tree(dirfd: libc::c_int, path: &Path, recursive: bool) -> Result<OwnedFd> {
    let path_c =
        CString::new(path.as_os_str().as_encoded_bytes()).context("a path with a NUL byte")?;
    let mut flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    if path.as_os_str().is_empty() {
        flags |= libc::AT_EMPTY_PATH as libc::c_uint;
    }
    // SAFETY: a NUL-terminated path alive for the call.
    let rc = unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path_c.as_ptr(), flags) };
    owned(rc).with_context(|| format!("open {}", path.display()))
}

/// Attaches the detached mount `mnt` onto the mount point `target`.
pub fn attach(mnt: &OwnedFd, target: &OwnedFd) -> nix::Result<()> {
    // SAFETY: two valid descriptors and empty C strings.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mnt.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    Errno::result(rc).map(drop)
}

/// A detached copy of the host path `source` (with its submounts when
/// `recursive`), taken before any of the sandbox's mounts can hide it.
pub fn clone_path(source: &Path, recursive: bool) -> Result<OwnedFd> {
    clone_tree(libc::AT_FDCWD, source, recursive)
}

/// A new detached copy of the detached tree (or any mount root) `tree`.
pub fn clone_fd(tree: &OwnedFd, recursive: bool) -> Result<OwnedFd> {
    clone_tree(tree.as_raw_fd(), Path::new(""), recursive)
}

/// Binds the file or folder `source` is a descriptor of onto `target`.
pub fn bind_fd(source: &OwnedFd, what: &Path, target: &OwnedFd, attrs: u64) -> Result<()> {
    let tree = clone_tree(source.as_raw_fd(), Path::new(""), false)?;
    bind_tree(tree, what, target, attrs)
}

/// Attaches the detached copy `tree` (of `what`) onto the mount point
/// `target`, with `attrs` set on the whole tree before it becomes visible.
pub fn bind_tree(tree: OwnedFd, what: &Path, target: &OwnedFd, attrs: u64) -> Result<()> {
    if attrs != 0 {
        set_attrs(&tree, attrs, true)
            .with_context(|| format!("set the mount attributes of {}", what.display()))?;
    }
    attach(&tree, target).with_context(|| format!("mount {}", what.display()))
}
