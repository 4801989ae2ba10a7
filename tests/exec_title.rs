//! `sbx exec`'s child, between its fork and its execve, is a copy of sbx:
//! the sandbox must not read sbx's command line (`-e PASS=...`) in its
//! /proc/PID/cmdline. `SBX_PAUSE_AT=exec-child` holds the child there for
//! three seconds, after it hid the line, so a test can look.

mod common;
use common::*;

#[test]
fn the_exec_child_shows_only_its_title_before_execve() {
    let env = TestEnv::new("xtitle");
    env.detach("tst-xtitle", &["--network", "none", "--", "sleep", "300"]);
    let mut paused = env
        .cmd(&["exec", "-e", "PASS=hunter2", "tst-xtitle", "--", "true"])
        .env("SBX_PAUSE_AT", "exec-child")
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn sbx exec");
    // Every process's command line, as the sandbox sees them.
    let look = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done";
    let mut seen = String::new();
    let found = wait_until(3, || {
        seen = env.ok(&["exec", "tst-xtitle", "--", "sh", "-c", look]);
        seen.lines().any(|l| l.trim() == "sbx-exec")
    });
    assert_eq!(paused.wait().expect("wait sbx exec").code(), Some(0));
    assert!(found, "no process titled sbx-exec: {seen}");
    assert!(!seen.contains("hunter2"), "{seen}");
    assert!(!seen.contains("PASS"), "{seen}");
}
