//! Fault injection for crash-safety tests: with `SBX_CRASH_AT=STEP`, sbx
//! kills itself with SIGKILL when it reaches that launch step, exactly as an
//! OOM kill or a `kill -9` would, so tests can check what is left behind
//! and that `sbx prune` or the next `sbx run` sweeps it.
//!
//! Steps, in launch order: parse, reserve, supervisor (with -d), clone,
//! netns, veth, network, running, released, exited; in `sbx image load`:
//! image-unpacked (layers in `tmp/`), image-layers (moved into place, no
//! name yet). `SBX_FAIL_AT=init` makes the init's setup fail instead,
//! `SBX_FAIL_AT=network-record` `network create` just before its record
//! (see [`fail_point`]).

/// Dies here if the environment asks for it; otherwise a no-op and, when
/// debug logging is on, a timing line for the step just finished.
pub fn point(step: &str) {
    if std::env::var_os("SBX_CRASH_AT").is_some_and(|s| s == step) {
        let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    }
    timing(step);
}

fn timing(step: &str) {
    use std::cell::Cell;
    use std::time::Instant;
    thread_local!(static LAST: Cell<Option<Instant>> = const { Cell::new(None) });
    if crate::log::debug_enabled() {
        let now = Instant::now();
        let since = LAST.with(|last| last.replace(Some(now))).map(|t| now - t);
        match since {
            Some(d) => crate::log::debug(&format!("step {step}: {d:?}")),
            None => crate::log::debug(&format!("step {step}")),
        }
    }
}

/// With `SBX_FAIL_AT=STEP`, fails at that step with an error instead of
/// dying: a failure that only the process at that step sees (`init`: the
/// sandbox's init, during its setup), for tests of how it is reported.
pub fn fail_point(step: &str) -> anyhow::Result<()> {
    if std::env::var_os("SBX_FAIL_AT").is_some_and(|s| s == step) {
        anyhow::bail!("setup failed at {step} (SBX_FAIL_AT={step})");
    }
    Ok(())
}

/// With `SBX_PAUSE_AT=STEP`, true: the caller pauses there for a test to
/// look at it (`exec-child`: `sbx exec`'s child, after hiding sbx's command
/// line, before its execve). Read before a fork, since the child clears
/// its copy of the environment.
pub fn pause_requested(step: &str) -> bool {
    std::env::var_os("SBX_PAUSE_AT").is_some_and(|s| s == step)
}
