//! The lifecycle operations of the OCI face, each a call into the core
//! (`sandbox::held`, `sandbox::control`) and a print of its answer in
//! runc's formats.

use super::args::{OciCli, OciCommand};
use super::config;
use crate::sandbox::held;
use crate::state::{SandboxRecord, StateRoot};
use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The runtime spec version sbx implements (what `state` and `features` say).
pub use held::OCI_VERSION;

/// Runs one operation; its exit status.
pub fn dispatch(cli: &OciCli, root: &Path) -> Result<i32> {
    let Some(command) = &cli.command else {
        if cli.version {
            println!(
                "sbx-oci version {}\nspec: {OCI_VERSION}",
                env!("CARGO_PKG_VERSION")
            );
            return Ok(0);
        }
        bail!("no command given: see 'sbx-oci --help'");
    };
    match command {
        OciCommand::Spec { bundle, .. } => return spec(bundle.as_deref()).map(|()| 0),
        OciCommand::Features => {
            println!("{}", serde_json::to_string_pretty(&features())?);
            return Ok(0);
        }
        _ => {}
    }
    let read_only = matches!(command, OciCommand::State { .. } | OciCommand::List { .. });
    if !read_only && !nix::unistd::geteuid().is_root() {
        bail!("sbx-oci must be run as root (it makes namespaces, mounts and cgroups)");
    }
    let root = StateRoot::open(root)?;
    match command {
        OciCommand::Create(c) => {
            create(&root, c, cli.systemd_cgroup)?;
            Ok(0)
        }
        OciCommand::Run(r) => {
            let c = &r.create;
            // In the foreground this process adopts the container's init
            // (cloned as its supervisor's sibling) and so learns its status.
            if !r.detach {
                nix::sys::prctl::set_child_subreaper(true)
                    .context("become the subreaper of the container's init")?;
            }
            create(&root, c, cli.systemd_cgroup)?;
            if let Err(e) = held::start(&root, &c.id) {
                let _ = held::delete(&root, &c.id, true);
                return Err(e);
            }
            if r.detach {
                return Ok(0);
            }
            let init = held::find(&root, &c.id)?.init.map(|p| p.pid);
            let status = init.map(reap);
            let recorded = held::wait(&root, &c.id)?;
            held::delete(&root, &c.id, true)?;
            Ok(status.unwrap_or(recorded))
        }
        OciCommand::Start { id } => held::start(&root, id).map(|()| 0),
        OciCommand::State { id } => {
            let record = held::find(&root, id)?;
            println!("{}", serde_json::to_string_pretty(&state(&record))?);
            Ok(0)
        }
        OciCommand::Kill { all, id, signal } => {
            let signal =
                crate::sandbox::control::parse_signal(signal.as_deref().unwrap_or("TERM"))?;
            held::kill(&root, id, signal, *all).map(|()| 0)
        }
        OciCommand::Delete { force, id } => held::delete(&root, id, *force).map(|()| 0),
        OciCommand::List { format, quiet } => list(&root, format, *quiet).map(|()| 0),
        OciCommand::Ps { format, id, .. } => {
            let record = held::find(&root, id)?;
            let pids = held::processes(&record);
            if format == "json" {
                println!("{}", serde_json::to_string(&pids)?);
            } else {
                println!("PID   CMD");
                for pid in pids {
                    let cmd =
                        std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                    println!("{pid:<5} {}", cmd.trim());
                }
            }
            Ok(0)
        }
        OciCommand::Exec(e) => super::exec::run(&root, e),
        OciCommand::Spec { .. } | OciCommand::Features => Ok(0),
    }
}

/// Reaps this process's children until `pid` is among them: its exit
/// code, or 128+N for signal N.
fn reap(pid: i32) -> i32 {
    use nix::sys::wait::{WaitStatus, waitpid};
    loop {
        match waitpid(None, None) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => return code,
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => return 128 + sig as i32,
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return crate::process::EXIT_SBX_FAILED,
        }
    }
}

/// `create`: the bundle's config translated and launched up to the
/// release; the PID written to `pid_file` (no trailing newline).
fn create(root: &StateRoot, c: &super::args::Create, systemd: bool) -> Result<()> {
    let id = c.id.as_str();
    let bundle = match c.bundle.as_deref() {
        Some(b) => b.to_path_buf(),
        None => std::env::current_dir().context("the current directory")?,
    };
    let bundle = bundle
        .canonicalize()
        .with_context(|| format!("bundle {}", bundle.display()))?;
    let config = config::load(&bundle)?;
    let mut spec = config::translate(id, &bundle, &config, systemd)?;
    let terminal = config
        .process()
        .as_ref()
        .is_some_and(|p| p.terminal() == Some(true));
    match (terminal, &c.console_socket) {
        (true, None) => bail!(
            "config.json: process.terminal is true: give --console-socket, the unix socket to send the terminal to"
        ),
        (false, Some(_)) => bail!(
            "--console-socket is only for a terminal: set process.terminal true in config.json"
        ),
        _ => {}
    }
    spec.process.preserve_fds = c.preserve_fds;
    if root.sandbox(id)?.is_some() {
        bail!("container {id} already exists: delete it first or choose another id");
    }
    let pid = held::create(root, &spec, c.console_socket.as_deref())?;
    if let Some(path) = c.pid_file.as_deref()
        && let Err(e) = write_pid_file(path, pid)
    {
        let _ = held::delete(root, id, true);
        return Err(e);
    }
    Ok(())
}

/// Writes the PID atomically (a temporary file renamed), no newline.
fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("sbx-tmp");
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .with_context(|| format!("write --pid-file {}", path.display()))
}

/// runtime-spec's state of a container (the core's).
fn state(record: &SandboxRecord) -> Value {
    held::state_json(record)
}

/// `list`: the OCI containers of this state root.
fn list(root: &StateRoot, format: &str, quiet: bool) -> Result<()> {
    let (records, _) = root.sandboxes()?;
    let containers: Vec<&SandboxRecord> =
        records.iter().filter(|r| r.spec.bundle.is_some()).collect();
    let mut out = std::io::stdout().lock();
    if quiet {
        for r in &containers {
            writeln!(out, "{}", r.spec.name)?;
        }
        return Ok(());
    }
    if format == "json" {
        let all: Vec<Value> = containers.iter().map(|r| state(r)).collect();
        writeln!(out, "{}", serde_json::to_string(&all)?)?;
        return Ok(());
    }
    let mut lines = vec![
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
            .map(String::from)
            .to_vec(),
    ];
    for r in containers {
        let s = state(r);
        lines.push(vec![
            r.spec.name.clone(),
            s["pid"].to_string(),
            s["status"].as_str().unwrap_or_default().to_string(),
            r.spec
                .bundle
                .clone()
                .unwrap_or_default()
                .display()
                .to_string(),
            s["created"].as_str().unwrap_or_default().to_string(),
            "root".to_string(),
        ]);
    }
    write!(out, "{}", crate::table::format_columns(&lines))?;
    Ok(())
}

/// `spec`: a default config.json (runc's shape) that sbx runs as it is.
fn spec(bundle: Option<&Path>) -> Result<()> {
    let dir = bundle.map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let path = dir.join("config.json");
    if path.exists() {
        bail!("{} exists: remove it first", path.display());
    }
    let text = serde_json::to_string_pretty(&default_config()?)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("write {}", path.display()))
}

/// The config `spec` writes: oci-spec's defaults with sbx's hostname and
/// no terminal.
pub fn default_config() -> Result<oci_spec::runtime::Spec> {
    let mut spec = oci_spec::runtime::Spec::default();
    spec.set_version(OCI_VERSION.to_string());
    spec.set_hostname(Some("sbx".into()));
    if let Some(process) = spec.process_mut() {
        process.set_terminal(Some(false));
    }
    Ok(spec)
}

/// `features`: what this runtime supports (runtime-spec features.md).
fn features() -> Value {
    let caps: Vec<String> = caps::all().iter().map(|c| c.to_string()).collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": ["ro", "rw", "nosuid", "nodev", "noexec", "suid", "dev", "exec",
                         "bind", "rbind", "private", "rprivate", "slave", "rslave", "relatime"],
        "linux": {
            "namespaces": ["mount", "network", "uts", "ipc", "pid", "cgroup"],
            "capabilities": caps,
            "cgroup": {"v1": true, "v2": true, "systemd": true, "systemdUser": false},
            "seccomp": {"enabled": false},
        },
        "annotations": {"org.sbx.network": "NET[,ip=ADDR]: wire the container to an sbx network"},
    })
}
