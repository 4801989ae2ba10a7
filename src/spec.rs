//! A sandbox request, validated: every mistake a user can make in `sbx run`
//! is caught here, before any kernel object exists.

use crate::cli::RunArgs;
use crate::fs::plan::{FsPlan, Volume, inside_path};
use anyhow::{Result, bail};
use caps::Capability;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

/// The network name that means "loopback only".
pub const NO_NETWORK: &str = "none";

/// The default environment's PATH, the same as Docker's.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything needed to launch one sandbox, already checked.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// Unique name of the sandbox.
    pub name: String,
    /// The network to join, or `None` for loopback only.
    pub network: Option<String>,
    /// A requested address; `None` lets IPAM choose.
    pub ip: Option<Ipv4Addr>,
    /// The UTS hostname.
    pub hostname: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// The full environment the command starts with, as `KEY=VALUE`.
    pub env: Vec<String>,
    /// Working directory inside the sandbox.
    pub workdir: String,
    /// Run in the background under a supervisor.
    pub detach: bool,
    /// Remove the record when a detached sandbox ends.
    pub auto_remove: bool,
    /// Root filesystem, volumes, read-only root, tmpfs mounts.
    pub fs: FsPlan,
    /// The capabilities the command keeps.
    pub caps: Vec<Capability>,
    /// The default seccomp filter applies (not `seccomp=unconfined`).
    pub seccomp: bool,
    /// cgroup limits.
    pub limits: crate::cgroup::Limits,
}

impl SandboxSpec {
    /// Validates `sbx run`'s arguments. `generated_name` is used when no
    /// `--name` was given; `host_env` answers `-e KEY` lookups and `tty` says
    /// whether a terminal is attached (Docker sets TERM only then).
    pub fn from_args(
        args: &RunArgs,
        generated_name: impl FnOnce() -> String,
        host_env: impl Fn(&str) -> Option<String>,
        tty: bool,
    ) -> Result<Self> {
        let name = match &args.name {
            Some(name) => {
                check_name(name)?;
                name.clone()
            }
            None => generated_name(),
        };
        let network = (args.network != NO_NETWORK).then(|| args.network.clone());
        let ip = match &args.ip {
            None => None,
            Some(_) if network.is_none() => {
                bail!("--ip needs a network, but --network is none: drop --ip or pick a network")
            }
            Some(text) => Some(text.parse::<Ipv4Addr>().map_err(|_| {
                anyhow::anyhow!("--ip {text:?} is not an IPv4 address: write it like 10.11.0.10")
            })?),
        };
        let hostname = args.hostname.clone().unwrap_or_else(|| name.clone());
        check_hostname(&hostname)?;
        if args.command.is_empty() || args.command[0].is_empty() {
            bail!("no command given: write it after --, e.g. sbx run -- /bin/sh");
        }
        let workdir = args.workdir.clone().unwrap_or_else(|| "/".into());
        if !workdir.starts_with('/') {
            bail!("--workdir {workdir:?} is not an absolute path: start it with /");
        }
        let env = build_env(&hostname, &args.env, host_env, tty && !args.detach)?;
        let fs = fs_plan(args)?;
        if let Some(rootfs) = &fs.rootfs {
            check_command_in(rootfs, &args.command[0], &env)?;
        }
        let caps = crate::process::caps::resolve(&args.cap_add, &args.cap_drop)?;
        let seccomp = crate::process::seccomp::from_security_opts(&args.security_opt)?;
        let limits =
            crate::cgroup::Limits::parse(args.memory.as_deref(), args.pids_limit, args.cpus)?;
        Ok(SandboxSpec {
            name,
            network,
            ip,
            hostname,
            command: args.command.clone(),
            env,
            workdir,
            detach: args.detach,
            auto_remove: args.rm,
            fs,
            caps,
            seccomp,
            limits,
        })
    }
}

/// `--rootfs`, `-v`, `--read-only`, `--tmpfs`, checked against the host.
fn fs_plan(args: &RunArgs) -> Result<FsPlan> {
    let rootfs = match &args.rootfs {
        None => None,
        Some(dir) => {
            let path = Path::new(dir);
            if !path.is_dir() {
                bail!(
                    "rootfs {dir} does not exist or is not a directory: build one with rootfs/build.sh"
                );
            }
            Some(
                path.canonicalize()
                    .map_err(|e| anyhow::anyhow!("rootfs {dir}: {e}"))?,
            )
        }
    };
    let volumes = args
        .volumes
        .iter()
        .map(|v| Volume::parse(v))
        .collect::<Result<Vec<_>>>()?;
    let tmpfs = args
        .tmpfs
        .iter()
        .map(|t| inside_path(t, "--tmpfs"))
        .collect::<Result<Vec<_>>>()?;
    let plan = FsPlan {
        rootfs,
        volumes,
        read_only: args.read_only,
        tmpfs,
    };
    crate::fs::check::targets(&plan)?;
    Ok(plan)
}

/// With `--rootfs`, a command that is not in it is caught before launch,
/// with the status and message its execve would give (127 not found, 126
/// not executable: `process::exec::CommandError`). Links are followed the
/// way the sandbox will follow them, inside the root (busybox applets are
/// links to /bin/busybox); like execvp, a non-executable match is skipped.
fn check_command_in(rootfs: &Path, command: &str, env: &[String]) -> Result<()> {
    use crate::process::exec::CommandError;
    let root = crate::fs::at::open_root(rootfs)?;
    let candidates: Vec<PathBuf> = if command.contains('/') {
        vec![PathBuf::from(command)]
    } else {
        let path = env
            .iter()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or(DEFAULT_PATH);
        path.split(':')
            .filter(|d| d.starts_with('/'))
            .map(|d| PathBuf::from(d).join(command))
            .collect()
    };
    let mut not_executable = false;
    for inside in candidates {
        let Ok(stat) =
            crate::fs::at::resolve(&root, &inside).and_then(|fd| nix::sys::stat::fstat(&fd))
        else {
            continue;
        };
        let is_file = stat.st_mode & libc::S_IFMT == libc::S_IFREG;
        if is_file && stat.st_mode & 0o111 != 0 {
            return Ok(());
        }
        not_executable = true;
    }
    Err(match not_executable {
        true => CommandError::cannot_execute(command, nix::errno::Errno::EACCES),
        false => CommandError::not_found(command),
    }
    .into())
}

/// Names become file names, netns names and hostnames, so they follow the
/// SPEC's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 63 characters.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !first_ok || !rest_ok || name.len() > 63 {
        bail!(
            "name {name:?} is not valid: use letters, digits, '_', '.', '-' (starting with a letter or digit), at most 63 characters"
        );
    }
    Ok(())
}

/// The kernel takes up to 64 bytes; resolvers want label characters.
fn check_hostname(hostname: &str) -> Result<()> {
    let ok = !hostname.is_empty()
        && hostname.len() <= 63
        && hostname
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
    if !ok {
        bail!(
            "hostname {hostname:?} is not valid: use letters, digits, '-', '.', at most 63 characters"
        );
    }
    Ok(())
}

/// A clean environment like Docker's: PATH, HOSTNAME, HOME, TERM with a
/// terminal, then the user's `-e` entries, later ones winning.
pub fn build_env(
    hostname: &str,
    user: &[String],
    host_env: impl Fn(&str) -> Option<String>,
    tty: bool,
) -> Result<Vec<String>> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), "/root".into()),
    ];
    if tty {
        env.push((
            "TERM".into(),
            host_env("TERM").unwrap_or_else(|| "xterm".into()),
        ));
    }
    for entry in user {
        let (key, value) = match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (entry.clone(), host_env(entry)),
        };
        if key.is_empty() || key.contains('\0') {
            bail!("-e {entry:?} has no variable name: write KEY=VALUE");
        }
        env.retain(|(k, _)| *k != key);
        if let Some(value) = value {
            env.push((key, value));
        }
    }
    Ok(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Result<SandboxSpec> {
        let mut argv = vec!["sbx", "run"];
        argv.extend_from_slice(args);
        let cli = crate::cli::Cli::try_parse_from(argv).expect("clap accepts");
        let crate::cli::Command::Run(run) = cli.command else {
            panic!("not run")
        };
        SandboxSpec::from_args(
            &run,
            || "gen".into(),
            |k| (k == "FOO").then(|| "host".into()),
            false,
        )
    }

    #[test]
    fn defaults() {
        let spec = parse(&["--", "/bin/true", "-x"]).unwrap();
        assert_eq!(spec.name, "gen");
        assert_eq!(spec.hostname, "gen");
        assert_eq!(spec.network.as_deref(), Some("sbx0"));
        assert_eq!(spec.command, ["/bin/true", "-x"]);
        assert_eq!(spec.workdir, "/");
        assert!(spec.env.contains(&format!("PATH={DEFAULT_PATH}")));
        assert!(spec.env.contains(&"HOSTNAME=gen".to_string()));
        assert!(!spec.env.iter().any(|e| e.starts_with("TERM=")));
    }

    #[test]
    fn env_overrides_and_copies() {
        let spec = parse(&[
            "-e", "A=1", "-e", "A=2", "-e", "FOO", "-e", "MISSING", "-e", "PATH=/x", "true",
        ])
        .unwrap();
        assert!(spec.env.contains(&"A=2".to_string()));
        assert!(!spec.env.contains(&"A=1".to_string()));
        assert!(spec.env.contains(&"FOO=host".to_string()));
        assert!(!spec.env.iter().any(|e| e.starts_with("MISSING")));
        assert!(spec.env.contains(&"PATH=/x".to_string()));
    }

    #[test]
    fn rejects_bad_input() {
        let err = |a: &[&str]| parse(a).unwrap_err().to_string();
        assert!(err(&["--name", "_x", "true"]).contains("name \"_x\" is not valid"));
        assert!(err(&["--name", "a/b", "true"]).contains("is not valid"));
        assert!(err(&["--name", &"a".repeat(64), "true"]).contains("is not valid"));
        assert!(err(&["--ip", "10.0.0.300", "true"]).contains("is not an IPv4 address"));
        assert!(
            err(&["--network", "none", "--ip", "10.0.0.3", "true"])
                .contains("--ip needs a network")
        );
        assert!(err(&["-w", "rel", "true"]).contains("not an absolute path"));
        assert!(err(&["-e", "=x", "true"]).contains("no variable name"));
    }

    #[test]
    fn network_none_means_no_network() {
        let spec = parse(&["--network", "none", "--name", "a.b-c_1", "true"]).unwrap();
        assert!(spec.network.is_none());
        assert_eq!(spec.hostname, "a.b-c_1");
    }
}
