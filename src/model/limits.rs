//! `--memory`, `--pids-limit`, `--cpus`: parsed and checked (pure).

use anyhow::{Result, bail};
use serde::{Deserialize, Serialize};

/// The limits of one sandbox; `None` means unlimited.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Memory in bytes (swap included where the kernel can limit it).
    pub memory: Option<u64>,
    /// Most processes and threads at once.
    pub pids: Option<u64>,
    /// CPU time as a number of CPUs (0.5 = half a core).
    pub cpus: Option<f64>,
    /// Finer controls only OCI's `linux.resources` asks for; `sbx run`
    /// leaves them unset (boxed: most sandboxes have none, and the record
    /// summaries that copy `Limits` stay small).
    pub tuning: Box<Tuning>,
}

/// OCI `linux.resources` values beyond sbx's three limits, written to the
/// cgroup files of the same names (kernel Documentation/admin-guide/cgroup-v1;
/// on cgroup v2 their equivalents, see `cgroup`). `None`: the kernel's
/// default is left.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Tuning {
    /// CFS period in microseconds for `cpus` (default 100000).
    pub cpu_period: Option<u64>,
    /// CPU weight (v1 `cpu.shares`, 2..262144).
    pub cpu_shares: Option<u64>,
    /// Real-time scheduling period in microseconds (v1 `cpu.rt_period_us`).
    pub cpu_rt_period: Option<u64>,
    /// Real-time runtime per period in microseconds (v1 `cpu.rt_runtime_us`).
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs the processes may run on (`cpuset.cpus` list, such as `0-1`).
    pub cpuset_cpus: Option<String>,
    /// Memory nodes they may use (`cpuset.mems`).
    pub cpuset_mems: Option<String>,
    /// Soft memory limit in bytes (v1 `memory.soft_limit_in_bytes`).
    pub memory_reservation: Option<u64>,
    /// Memory plus swap in bytes (v1 `memory.memsw.limit_in_bytes`);
    /// unset: the same as `memory`.
    pub memory_swap: Option<u64>,
    /// v1 `memory.swappiness` (0..100).
    pub swappiness: Option<u64>,
    /// The OOM killer is off: allocations wait instead (v1 `memory.oom_control`).
    pub disable_oom_killer: bool,
}

/// Docker's floor: below this the kernel and the command's own runtime
/// cannot even start.
const MIN_MEMORY: u64 = 6 * 1024 * 1024;

impl Limits {
    /// Parses the three options.
    pub fn parse(memory: Option<&str>, pids: Option<i64>, cpus: Option<f64>) -> Result<Self> {
        let memory = memory.map(parse_bytes).transpose()?;
        if memory.is_some_and(|m| m < MIN_MEMORY) {
            bail!("--memory must be at least 6m");
        }
        let pids = match pids {
            None => None,
            Some(n) if n > 0 => Some(n as u64),
            Some(n) => bail!("--pids-limit {n} must be a positive number of processes"),
        };
        if let Some(c) = cpus {
            let max = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1) as f64;
            if !(c > 0.0 && c <= max) {
                bail!("--cpus {c} must be more than 0 and at most {max} (the CPUs of this host)");
            }
        }
        Ok(Limits {
            memory,
            pids,
            cpus,
            tuning: Box::default(),
        })
    }

    /// Whether any limit is set (only then is a cgroup made).
    pub fn any(&self) -> bool {
        self.memory.is_some() || self.pids.is_some() || self.cpus.is_some() || self.tuning.any()
    }
}

impl Tuning {
    /// Whether any value is set.
    pub fn any(&self) -> bool {
        *self != Tuning::default()
    }
}

/// `1048576`, `512k`, `32m`, `1g` (binary units, as Docker).
fn parse_bytes(text: &str) -> Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, unit) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 1u64 << 10),
        Some('m') => (&lower[..lower.len() - 1], 1 << 20),
        Some('g') => (&lower[..lower.len() - 1], 1 << 30),
        _ => (lower, 1),
    };
    match digits.parse::<u64>() {
        Ok(n) if n > 0 => n
            .checked_mul(unit)
            .ok_or_else(|| anyhow::anyhow!("--memory {text:?} is too large")),
        _ => bail!("--memory {text:?} is not a size: write it like 512m or 2g"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_bytes("32m").unwrap(), 32 << 20);
        assert_eq!(parse_bytes("1G").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("512k").unwrap(), 512 << 10);
        assert_eq!(parse_bytes("7340032").unwrap(), 7340032);
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("0").is_err());
    }

    #[test]
    fn limits_are_checked() {
        assert!(
            Limits::parse(Some("1m"), None, None)
                .unwrap_err()
                .to_string()
                .contains("at least 6m")
        );
        assert!(Limits::parse(None, Some(0), None).is_err());
        assert!(Limits::parse(None, None, Some(0.0)).is_err());
        assert!(Limits::parse(None, None, Some(1000.0)).is_err());
        let l = Limits::parse(Some("32m"), Some(64), Some(0.5)).unwrap();
        assert!(l.any());
        assert!(!Limits::default().any());
    }
}
