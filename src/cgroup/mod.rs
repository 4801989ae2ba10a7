//! cgroups: one per sandbox (per controller hierarchy on cgroup v1), made
//! for every sandbox before its init runs anything of the user's, removed
//! when the sandbox ends. They hold the device allow list (always) and the
//! resource limits (when asked for). cgroup v2 is used when its unified
//! tree has the memory, pids and cpu controllers; otherwise the v1
//! hierarchies (hybrid hosts such as this project's CI keep them there).

mod device_bpf;
pub mod devices;
pub use crate::model::Limits;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";
/// The parent of every sandbox's cgroup.
const PARENT: &str = "sbx";
/// CFS period for `--cpus`, as Docker uses.
const CPU_PERIOD_US: u64 = 100_000;

/// Test and debug knob: `SBX_DEVICE_POLICY=bpf` enforces the device allow
/// list with the cgroup v2 BPF program even on a hybrid host (on the v2
/// tree at /sys/fs/cgroup/unified), `v1` with the v1 devices controller;
/// unset, sbx picks what the host has (v1 devices on a hybrid host).
pub const DEVICE_POLICY_ENV: &str = "SBX_DEVICE_POLICY";

/// Where the hybrid layout mounts its cgroup v2 tree.
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Creates the sandbox's cgroup(s) with the device allow list and `limits`
/// written; returns the folders made, to record and to remove later.
/// Nothing is left behind on failure.
pub fn create(name: &str, limits: &Limits) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    let result = if unified_has_controllers() {
        create_v2(name, limits, &mut made)
    } else {
        create_v1(name, limits, &mut made)
    }
    .and_then(|()| confine_devices(name, &mut made));
    if let Err(e) = result {
        let _ = remove(&made);
        return Err(e);
    }
    Ok(made)
}

/// A sandbox's cgroups, opened by the parent for a process to join itself
/// with: the init, first thing after the clone (its children follow), and
/// `sbx exec`. On v1 a thread that writes `0` to a cgroup's `tasks` file
/// moves itself without the kernel's global threadgroup lock, whose
/// RCU-synchronised write costs 5-15 ms per move (a pid written to
/// `cgroup.procs` takes it): the init is single-threaded, so this moves
/// the whole process. v2 has no such path (its `cgroup.threads` moves only
/// within one threaded domain): there the process writes `0` to
/// `cgroup.procs`, and pays.
pub struct Membership {
    files: Vec<(std::fs::File, PathBuf)>,
}

impl Membership {
    /// Opens the file to join each cgroup through (close-on-exec).
    pub fn open(cgroups: &[PathBuf]) -> Result<Self> {
        let mut files = Vec::new();
        for dir in cgroups {
            let tasks = dir.join("tasks");
            let path = if tasks.exists() {
                tasks
            } else {
                dir.join("cgroup.procs")
            };
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .with_context(|| format!("open {}", path.display()))?;
            files.push((file, path));
        }
        Ok(Membership { files })
    }

    /// Moves the calling (single-threaded) process into every cgroup.
    /// Allocates only to describe a failure: fine in a forked child.
    pub fn join(&self) -> Result<()> {
        use std::io::Write;
        for (file, path) in &self.files {
            let mut file = file;
            file.write_all(b"0")
                .with_context(|| format!("join cgroup {}", path.display()))?;
        }
        Ok(())
    }
}

/// Moves this (single-threaded) process into the cgroups: `sbx exec`,
/// whose command then shares the sandbox's device list and limits.
pub fn join_self(cgroups: &[PathBuf]) -> Result<()> {
    Membership::open(cgroups)?.join()
}

/// Removes the cgroups of an ended sandbox. The kernel refuses while the
/// last killed processes are still being reaped, so this retries for a
/// moment. Already gone is fine; one that cannot be removed does not stop
/// the others (all failures are reported).
pub fn remove(cgroups: &[PathBuf]) -> Result<()> {
    let mut errors = Vec::new();
    for dir in cgroups {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            match std::fs::remove_dir(dir) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    errors.push(format!("remove cgroup {}: {e}", dir.display()));
                    break;
                }
            }
        }
    }
    if !errors.is_empty() {
        bail!("{}", errors.join("; "));
    }
    Ok(())
}

/// Puts the device allow list on the sandbox: the v1 devices controller
/// where it is mounted (v1 and hybrid hosts), else the BPF program on the
/// sandbox's cgroup in the v2 tree (the one `create_v2` made, on a pure v2
/// host); see [`DEVICE_POLICY_ENV`] to force either.
fn confine_devices(name: &str, made: &mut Vec<PathBuf>) -> Result<()> {
    let v1 = Path::new(ROOT).join("devices");
    let has_v1 = v1.join("cgroup.procs").exists();
    let use_bpf = match std::env::var(DEVICE_POLICY_ENV)
        .unwrap_or_default()
        .as_str()
    {
        "" => !has_v1,
        "bpf" => true,
        "v1" => false,
        other => bail!("{DEVICE_POLICY_ENV}={other:?} is not a device policy: use bpf or v1"),
    };
    if use_bpf {
        let Some(tree) = [ROOT, UNIFIED]
            .into_iter()
            .find(|t| Path::new(t).join("cgroup.controllers").exists())
        else {
            bail!(
                "this host has no cgroup to hold the device allow list (no devices controller at {}, no cgroup v2 tree): mount one",
                v1.display()
            );
        };
        let dir = Path::new(tree).join(PARENT).join(name);
        if !made.contains(&dir) {
            make_dir(&dir, made)?;
        }
        return device_bpf::attach(&dir);
    }
    if !has_v1 {
        bail!(
            "{DEVICE_POLICY_ENV}=v1 but no devices controller is mounted at {}",
            v1.display()
        );
    }
    // A new cgroup copies its parent's list: set on `sbx/` once (the kernel
    // allows that only while it has no children), every sandbox's cgroup
    // starts with it, and only a check is left to do.
    // Only when the parent does not hold the list (another manager made
    // `sbx/` children first) is the sandbox's own cgroup checked and set.
    let parent = v1.join(PARENT);
    std::fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
    let inherited = devices::v1_holds(&parent)
        || (devices::apply_v1(&parent).is_ok() && devices::v1_holds(&parent));
    let dir = parent.join(name);
    make_dir(&dir, made)?;
    if !inherited && !devices::v1_holds(&dir) {
        devices::apply_v1(&dir)?;
    }
    Ok(())
}

fn unified_has_controllers() -> bool {
    std::fs::read_to_string(Path::new(ROOT).join("cgroup.controllers")).is_ok_and(|c| {
        let have: Vec<&str> = c.split_whitespace().collect();
        ["memory", "pids", "cpu"].iter().all(|n| have.contains(n))
    })
}

fn create_v2(name: &str, limits: &Limits, made: &mut Vec<PathBuf>) -> Result<()> {
    let parent = Path::new(ROOT).join(PARENT);
    std::fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
    if limits.any() {
        for dir in [Path::new(ROOT), parent.as_path()] {
            write(&dir.join("cgroup.subtree_control"), "+memory +pids +cpu")?;
        }
    }
    let dir = parent.join(name);
    make_dir(&dir, made)?;
    if let Some(bytes) = limits.memory {
        write(&dir.join("memory.max"), &bytes.to_string())?;
        let _ = write(&dir.join("memory.swap.max"), "0");
    }
    if let Some(pids) = limits.pids {
        write(&dir.join("pids.max"), &pids.to_string())?;
    }
    if let Some(cpus) = limits.cpus {
        write(
            &dir.join("cpu.max"),
            &format!("{} {CPU_PERIOD_US}", quota(cpus)),
        )?;
    }
    Ok(())
}

fn create_v1(name: &str, limits: &Limits, made: &mut Vec<PathBuf>) -> Result<()> {
    let dir_for = |controller: &str| -> Result<PathBuf> {
        let hierarchy = Path::new(ROOT).join(controller);
        if !hierarchy.join("cgroup.procs").exists() {
            bail!(
                "the {controller} cgroup controller is not mounted at {}: no --{controller} limits on this host",
                hierarchy.display()
            );
        }
        Ok(hierarchy.join(PARENT).join(name))
    };
    if let Some(bytes) = limits.memory {
        let dir = dir_for("memory")?;
        make_dir(&dir, made)?;
        write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
        // Memory + swap at the same limit: the sandbox cannot swap its way past it.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if memsw.exists() {
            write(&memsw, &bytes.to_string())?;
        }
    }
    if let Some(pids) = limits.pids {
        let dir = dir_for("pids")?;
        make_dir(&dir, made)?;
        write(&dir.join("pids.max"), &pids.to_string())?;
    }
    if let Some(cpus) = limits.cpus {
        let dir = dir_for("cpu")?;
        make_dir(&dir, made)?;
        write(&dir.join("cpu.cfs_period_us"), &CPU_PERIOD_US.to_string())?;
        write(&dir.join("cpu.cfs_quota_us"), &quota(cpus).to_string())?;
    }
    Ok(())
}

/// CPU microseconds per period for `cpus` CPUs.
fn quota(cpus: f64) -> u64 {
    ((cpus * CPU_PERIOD_US as f64).round() as u64).max(1000)
}

fn make_dir(dir: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("create {}", parent.display()))?;
    }
    std::fs::create_dir(dir).with_context(|| format!("create cgroup {}", dir.display()))?;
    made.push(dir.to_path_buf());
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).with_context(|| format!("write {value} to {}", path.display()))
}
