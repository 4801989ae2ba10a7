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

/// Creates the sandbox's cgroup(s) at sbx's own place (`sbx/NAME` in each
/// hierarchy that needs one) with the device allow list and `limits`
/// written; returns the folders made, to record and to remove later.
/// Nothing is left behind on failure.
pub fn create(name: &str, limits: &Limits) -> Result<Vec<PathBuf>> {
    create_in(&Path::new(PARENT).join(name), limits, false)
}

/// Creates the sandbox's cgroup at `path`, a path inside every cgroup
/// hierarchy (OCI's `linux.cgroupsPath`, runtime-spec config-linux.md
/// "Cgroups Path": "relative to the cgroups mount point"): on cgroup v1,
/// in every mounted hierarchy, as runc does, so that `/proc/PID/cgroup`
/// names `path` for each controller; on v2, in the unified tree. Missing
/// parents are made and left in place at removal (they may hold other
/// managers' cgroups, as runc leaves them); the leaf must not exist yet.
/// Returns the leaves made; nothing is left behind on failure.
pub fn create_at(path: &Path, limits: &Limits) -> Result<Vec<PathBuf>> {
    let rel = checked_relative(path)?;
    create_in(&rel, limits, true)
}

/// `path` as a relative path below each hierarchy's root: absolute or not,
/// with only normal components (no `..`, which would leave the hierarchy).
fn checked_relative(path: &Path) -> Result<PathBuf> {
    let mut rel = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::RootDir | std::path::Component::CurDir => {}
            std::path::Component::Normal(p) => rel.push(p),
            _ => bail!(
                "cgroup path {} must stay inside the cgroup hierarchy (no ..)",
                path.display()
            ),
        }
    }
    if rel.as_os_str().is_empty() {
        bail!(
            "cgroup path {} names the root cgroup: give the container a cgroup of its own",
            path.display()
        );
    }
    Ok(rel)
}

fn create_in(rel: &Path, limits: &Limits, everywhere: bool) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    let result = if unified_has_controllers() {
        create_v2(rel, limits, &mut made)
    } else {
        create_v1(rel, limits, everywhere, &mut made)
    }
    .and_then(|()| confine_devices(rel, !everywhere, &mut made));
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
/// `own`: `rel` is `sbx/NAME`, whose parent `sbx/` is sbx's to set.
fn confine_devices(rel: &Path, own: bool, made: &mut Vec<PathBuf>) -> Result<()> {
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
        let dir = Path::new(tree).join(rel);
        if !made.contains(&dir) {
            make_levels(Path::new(tree), rel, made)?;
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
    // `sbx/` children first, or the cgroup is at a path of the caller's
    // choosing) is the sandbox's own cgroup checked and set.
    let dir = v1.join(rel);
    let inherited = own && {
        let parent = v1.join(PARENT);
        std::fs::create_dir_all(&parent).with_context(|| format!("create {}", parent.display()))?;
        devices::v1_holds(&parent)
            || (devices::apply_v1(&parent).is_ok() && devices::v1_holds(&parent))
    };
    if !made.contains(&dir) {
        make_levels(&v1, rel, made)?;
    }
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

fn create_v2(rel: &Path, limits: &Limits, made: &mut Vec<PathBuf>) -> Result<()> {
    let root = Path::new(ROOT);
    if limits.any() {
        let mut enable = String::from("+memory +pids +cpu");
        if limits.tuning.cpuset_cpus.is_some() || limits.tuning.cpuset_mems.is_some() {
            enable.push_str(" +cpuset");
        }
        // Every ancestor hands the controllers down (cgroup-v2.rst
        // "Enabling and Disabling": only to a parent's children).
        let mut dir = root.to_path_buf();
        for part in rel.parent().into_iter().flat_map(Path::components) {
            write(&dir.join("cgroup.subtree_control"), &enable)?;
            dir.push(part);
            if !dir.exists() {
                std::fs::create_dir(&dir)
                    .with_context(|| format!("create cgroup {}", dir.display()))?;
            }
        }
        write(&dir.join("cgroup.subtree_control"), &enable)?;
    }
    make_levels(root, rel, made)?;
    let dir = root.join(rel);
    let t = &limits.tuning;
    if let Some(bytes) = limits.memory {
        write(&dir.join("memory.max"), &bytes.to_string())?;
        let swap = t.memory_swap.map_or(0, |s| s.saturating_sub(bytes));
        let _ = write(&dir.join("memory.swap.max"), &swap.to_string());
    }
    if let Some(low) = t.memory_reservation {
        write(&dir.join("memory.low"), &low.to_string())?;
    }
    if let Some(pids) = limits.pids {
        write(&dir.join("pids.max"), &pids.to_string())?;
    }
    let period = t.cpu_period.unwrap_or(CPU_PERIOD_US);
    if let Some(cpus) = limits.cpus {
        write(
            &dir.join("cpu.max"),
            &format!("{} {period}", quota(cpus, period)),
        )?;
    }
    if let Some(shares) = t.cpu_shares {
        // runc's conversion of v1 shares (2..262144) to a v2 weight (1..10000).
        let weight = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
        write(&dir.join("cpu.weight"), &weight.to_string())?;
    }
    write_cpuset(&dir, t)?;
    if t.cpu_rt_period.is_some() || t.cpu_rt_runtime.is_some() {
        bail!(
            "real-time CPU limits (cpu.realtimeRuntime/realtimePeriod) need cgroup v1: this host uses cgroup v2"
        );
    }
    if t.swappiness.is_some() || t.disable_oom_killer {
        bail!(
            "memory.swappiness and memory.disableOOMKiller need cgroup v1: this host uses cgroup v2"
        );
    }
    Ok(())
}

/// The cgroup v1 hierarchies mounted under /sys/fs/cgroup (each folder
/// with a `tasks` file: `cpu`, `memory`, ..., and named ones such as
/// `systemd`), by folder name.
fn v1_hierarchies() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(ROOT) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().join("tasks").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// `everywhere`: the cgroup is made in every v1 hierarchy (a path the
/// caller chose), not only in those whose controller has a limit to hold.
fn create_v1(rel: &Path, limits: &Limits, everywhere: bool, made: &mut Vec<PathBuf>) -> Result<()> {
    let t = &limits.tuning;
    let dir_for = |controller: &str, made: &mut Vec<PathBuf>| -> Result<PathBuf> {
        let hierarchy = Path::new(ROOT).join(controller);
        if !hierarchy.join("cgroup.procs").exists() {
            bail!(
                "the {controller} cgroup controller is not mounted at {}: no --{controller} limits on this host",
                hierarchy.display()
            );
        }
        let dir = hierarchy.join(rel);
        if !made.contains(&dir) {
            make_levels(&hierarchy, rel, made)?;
        }
        Ok(dir)
    };
    if everywhere {
        for name in v1_hierarchies() {
            dir_for(&name, made)?;
        }
    }
    if limits.memory.is_some()
        || t.memory_reservation.is_some()
        || t.memory_swap.is_some()
        || t.swappiness.is_some()
        || t.disable_oom_killer
    {
        let dir = dir_for("memory", made)?;
        if let Some(bytes) = limits.memory {
            write(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
        }
        // Memory + swap at the memory limit unless given: the sandbox
        // cannot swap its way past it.
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if let Some(swap) = t.memory_swap.or(limits.memory)
            && memsw.exists()
        {
            write(&memsw, &swap.to_string())?;
        }
        if let Some(low) = t.memory_reservation {
            write(&dir.join("memory.soft_limit_in_bytes"), &low.to_string())?;
        }
        if let Some(swappiness) = t.swappiness {
            write(&dir.join("memory.swappiness"), &swappiness.to_string())?;
        }
        if t.disable_oom_killer {
            write(&dir.join("memory.oom_control"), "1")?;
        }
    }
    if let Some(pids) = limits.pids {
        let dir = dir_for("pids", made)?;
        write(&dir.join("pids.max"), &pids.to_string())?;
    }
    if limits.cpus.is_some()
        || t.cpu_period.is_some()
        || t.cpu_shares.is_some()
        || t.cpu_rt_period.is_some()
        || t.cpu_rt_runtime.is_some()
    {
        let dir = dir_for("cpu", made)?;
        let period = t.cpu_period.unwrap_or(CPU_PERIOD_US);
        if limits.cpus.is_some() || t.cpu_period.is_some() {
            write(&dir.join("cpu.cfs_period_us"), &period.to_string())?;
        }
        if let Some(cpus) = limits.cpus {
            write(
                &dir.join("cpu.cfs_quota_us"),
                &quota(cpus, period).to_string(),
            )?;
        }
        if let Some(shares) = t.cpu_shares {
            write(&dir.join("cpu.shares"), &shares.to_string())?;
        }
        // The period first: the kernel checks the runtime against it.
        if let Some(rt_period) = t.cpu_rt_period {
            write(&dir.join("cpu.rt_period_us"), &rt_period.to_string())?;
        }
        if let Some(rt_runtime) = t.cpu_rt_runtime {
            write(&dir.join("cpu.rt_runtime_us"), &rt_runtime.to_string())?;
        }
    }
    if t.cpuset_cpus.is_some() || t.cpuset_mems.is_some() {
        let dir = dir_for("cpuset", made)?;
        write_cpuset(&dir, t)?;
    }
    Ok(())
}

/// `cpuset.cpus` and `cpuset.mems` where given (the same files on v1 and v2).
fn write_cpuset(dir: &Path, t: &crate::model::Tuning) -> Result<()> {
    if let Some(cpus) = &t.cpuset_cpus {
        write(&dir.join("cpuset.cpus"), cpus)?;
    }
    if let Some(mems) = &t.cpuset_mems {
        write(&dir.join("cpuset.mems"), mems)?;
    }
    Ok(())
}

/// CPU microseconds per period for `cpus` CPUs.
/// CPU microseconds per `period` for `cpus` CPUs (at least 1 ms, the
/// kernel's floor for `cpu.cfs_quota_us`).
fn quota(cpus: f64, period: u64) -> u64 {
    ((cpus * period as f64).round() as u64).max(1000)
}

/// Makes `root/rel` level by level, the missing parents included; the
/// leaf must be new (it is pushed to `made`). In a cpuset hierarchy each
/// new level gets its parent's CPUs and memory nodes: a v1 cpuset starts
/// empty and refuses members until both are set (cgroup-v1/cpusets.rst).
fn make_levels(root: &Path, rel: &Path, made: &mut Vec<PathBuf>) -> Result<()> {
    let cpuset = root.join("cpuset.cpus").exists() && root.join("tasks").exists();
    let mut dir = root.to_path_buf();
    let mut parts = rel.components().peekable();
    while let Some(part) = parts.next() {
        let parent = dir.clone();
        dir.push(part);
        let leaf = parts.peek().is_none();
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && !leaf => continue,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "cgroup {} already exists: another container or manager uses it (choose another cgroups path)",
                dir.display()
            ),
            Err(e) => {
                return Err(e).with_context(|| format!("create cgroup {}", dir.display()));
            }
        }
        if leaf {
            made.push(dir.clone());
        }
        if cpuset {
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let value = std::fs::read_to_string(parent.join(file))
                    .with_context(|| format!("read {}", parent.join(file).display()))?;
                write(&dir.join(file), value.trim())?;
            }
        }
    }
    Ok(())
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).with_context(|| format!("write {value} to {}", path.display()))
}
