//! Lifecycle hooks (runtime-spec "POSIX-platform Hooks", SPEC "OCI
//! runtime"): each program runs in the runtime's namespaces with the
//! container's state JSON on its stdin, its own argv and environment, and
//! an optional timeout; a non-zero exit is a failure naming the hook.

use crate::model::process::Hook;
use anyhow::{Context, Result, bail};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs `hooks` in order with `state` on stdin; the first failure ends it.
/// `point` names the lifecycle point for the message (`createRuntime`).
pub fn run_all(hooks: &[Hook], state: &serde_json::Value, point: &str) -> Result<()> {
    let input = serde_json::to_vec(state)?;
    for (i, hook) in hooks.iter().enumerate() {
        run(hook, &input).with_context(|| format!("hooks.{point}[{i}] {}", hook.path.display()))?;
    }
    Ok(())
}

/// One hook.
fn run(hook: &Hook, input: &[u8]) -> Result<()> {
    let mut command = Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        command.arg0(argv0).args(rest);
    }
    command.env_clear();
    for pair in &hook.env {
        if let Some((k, v)) = pair.split_once('=') {
            command.env(k, v);
        }
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("start it")?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its state is no error.
        let _ = stdin.write_all(input);
    }
    let deadline = hook
        .timeout
        .map(|s| Instant::now() + Duration::from_secs(s));
    loop {
        if let Some(status) = child.try_wait().context("wait for it")? {
            if status.success() {
                return Ok(());
            }
            bail!("it failed ({status})");
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            let _ = child.kill();
            let _ = child.wait();
            bail!(
                "it ran longer than its timeout of {}s",
                hook.timeout.unwrap_or(0)
            );
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
