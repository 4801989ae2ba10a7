//! Resource limits through cgroups: one cgroup per sandbox (per controller
//! hierarchy on cgroup v1), made only when a limit is asked for, removed
//! when the sandbox ends. cgroup v2 is used when its unified tree has the
//! memory, pids and cpu controllers; otherwise the v1 hierarchies (hybrid
//! hosts such as this project's CI keep them there).

mod limits;

pub use limits::Limits;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const ROOT: &str = "/sys/fs/cgroup";
/// The parent of every sandbox's cgroup.
const PARENT: &str = "sbx";
/// CFS period for `--cpus`, as Docker uses.
const CPU_PERIOD_US: u64 = 100_000;

/// Creates the sandbox's cgroup(s) with `limits` written; returns the
/// folders made, to record and to remove later. Nothing is left behind on
/// failure.
pub fn create(name: &str, limits: &Limits) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    let result = if unified_has_controllers() {
        create_v2(name, limits, &mut made)
    } else {
        create_v1(name, limits, &mut made)
    };
    if let Err(e) = result {
        let _ = remove(&made);
        return Err(e);
    }
    Ok(made)
}

/// Moves a process (the sandbox's init; its children follow) into them.
pub fn add_process(cgroups: &[PathBuf], pid: i32) -> Result<()> {
    for dir in cgroups {
        write(&dir.join("cgroup.procs"), &pid.to_string())?;
    }
    Ok(())
}

/// Removes the cgroups of an ended sandbox. The kernel refuses while the
/// last killed processes are still being reaped, so this retries for a
/// moment. Already gone is fine.
pub fn remove(cgroups: &[PathBuf]) -> Result<()> {
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
                    return Err(e).with_context(|| format!("remove cgroup {}", dir.display()));
                }
            }
        }
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
    for dir in [Path::new(ROOT), parent.as_path()] {
        write(&dir.join("cgroup.subtree_control"), "+memory +pids +cpu")?;
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
