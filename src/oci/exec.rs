//! `sbx-oci exec`: another process in a running container, as runc's
//! (`exec [--process FILE | COMMAND...] [--tty] [--console-socket SOCK]
//! [--detach] [--pid-file FILE] ID`), through the core's `sbx exec`
//! (`sandbox::exec`): the container's namespaces and cgroups, its bounding
//! set, and the process's own user, capability sets, environment and
//! working directory.

use super::args::Exec;
use super::config;
use crate::sandbox::exec::{ExecOptions, ExecRequest, exec_oci};
use crate::spec::SandboxSpec;
use crate::state::StateRoot;
use anyhow::{Context, Result, bail};

/// Runs `exec`; its exit status (0 at once with `--detach`).
pub fn run(root: &StateRoot, e: &Exec) -> Result<i32> {
    let mut request = ExecRequest {
        name: e.id.clone(),
        command: e.command.clone(),
        env: e.env.clone(),
        workdir: e.cwd.as_ref().map(|c| c.to_string_lossy().into_owned()),
    };
    let mut options = ExecOptions {
        detach: e.detach,
        pid_file: e.pid_file.clone(),
        console_socket: e.console_socket.clone(),
        oci: true,
        ..ExecOptions::default()
    };
    let mut terminal = e.tty;
    if let Some(path) = &e.process {
        if !e.command.is_empty() {
            bail!("exec: give the command either in --process or as arguments, not both");
        }
        let text =
            std::fs::read(path).with_context(|| format!("read --process {}", path.display()))?;
        let process: oci_spec::runtime::Process = serde_json::from_slice(&text)
            .with_context(|| format!("--process {} is not an OCI process", path.display()))?;
        terminal = process.terminal() == Some(true);
        let mut spec = SandboxSpec::default();
        config::process_fields(&mut spec, &process).map_err(|err| {
            anyhow::anyhow!(
                "{}",
                err.to_string().replace("config.json: ", "--process: ")
            )
        })?;
        request.command = spec.command;
        // The process's environment is the whole of it; --env adds to it.
        let mut env = spec.env;
        for extra in &e.env {
            let key = extra.split('=').next().unwrap_or_default();
            env.retain(|v| v.split('=').next() != Some(key));
            env.push(extra.clone());
        }
        options.env = Some(env);
        if request.workdir.is_none() {
            request.workdir = Some(spec.workdir);
        }
        options.settings = Some(spec.process);
    }
    if request.command.is_empty() {
        bail!("exec: no command given: write it after the container id, or use --process");
    }
    match (terminal, &options.console_socket) {
        (true, None) => bail!(
            "exec: a terminal (--tty or process.terminal) needs --console-socket to send it to"
        ),
        (false, Some(_)) => bail!("exec: --console-socket is only for a terminal (--tty)"),
        _ => {}
    }
    exec_oci(root, &request, &options)
}
