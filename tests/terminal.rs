//! A terminal of the sandbox's own: when sbx's stdin is a terminal (here
//! `script`'s), `sbx run` and `sbx exec` give the command a pty allocated in
//! the sandbox's devpts, sized like the outer terminal and resized with it.

mod common;
use common::*;
use std::process::Stdio;

fn rootfs() -> String {
    busybox_rootfs().display().to_string()
}

/// Runs `outer` (a shell line) under `script`, so it has a terminal, with
/// stdin kept open until it ends; returns (exit code, output lines).
fn under_a_terminal(env: &TestEnv, outer: &str) -> (Option<i32>, Vec<String>) {
    let line = format!("export SBX_ROOT={}; {outer}", env.root.display());
    let child = std::process::Command::new("timeout")
        .args(["60", "script", "-qec", &line, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1)");
    let out = child.wait_with_output().expect("wait for script");
    // script passes the terminal's CRLF; a NUL echo (^@) may appear when
    // script sees its input end.
    let lines = text(&out.stdout)
        .replace("^@", "")
        .lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect();
    (out.status.code(), lines)
}

/// What the command reports about its terminal: its name, whether that
/// name exists in the sandbox and lies in the devpts mounted at /dev/pts,
/// and the size, first as started, then after the outer terminal is resized.
const INSIDE: &str = "trap 'stty size; exit 0' WINCH; \
    t=$(tty) && echo \"tty=$t\"; \
    test -e \"$t\" && echo exists; \
    test \"$(stat -c %d \"$t\")\" = \"$(stat -c %d /dev/pts)\" && echo own-devpts; \
    stty size; touch /mnt/ready; \
    i=0; while [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; echo no-winch";

/// The outer part: size the terminal, resize it once the command is ready.
fn outer(mark: &str, sbx_command: &str) -> String {
    format!(
        "stty rows 33 cols 101; \
         (while [ ! -e {mark}/ready ]; do sleep 0.05; done; stty rows 40 cols 120 </dev/tty) & \
         {sbx_command}"
    )
}

fn assert_terminal(lines: &[String], code: Option<i32>, why: &str) {
    assert_eq!(code, Some(0), "{why}: {lines:?}");
    let tty = lines
        .iter()
        .find_map(|l| l.strip_prefix("tty="))
        .unwrap_or_else(|| panic!("{why}: the command has a terminal: {lines:?}"));
    let number = tty.strip_prefix("/dev/pts/").unwrap_or_default();
    assert!(
        !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()),
        "{why}: a pts: {tty}"
    );
    assert!(
        lines.iter().any(|l| l == "exists"),
        "{why}: {tty} exists inside: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l == "own-devpts"),
        "{why}: {tty} is in the sandbox's /dev/pts: {lines:?}"
    );
    let sizes: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains(' ') && l.split(' ').all(|w| w.parse::<u32>().is_ok()))
        .collect();
    assert_eq!(
        sizes,
        ["33 101", "40 120"],
        "{why}: the outer size at start, then the new size on SIGWINCH: {lines:?}"
    );
}

#[test]
fn run_gives_the_command_a_terminal_of_the_sandbox() {
    let env = TestEnv::new("ttyrun");
    let rootfs = rootfs();
    for with_rootfs in [true, false] {
        let mark = format!(
            "/tmp/sbx-tst-ttyrun-mark-{}-{with_rootfs}",
            std::process::id()
        );
        let _ = std::fs::remove_dir_all(&mark);
        std::fs::create_dir_all(&mark).unwrap();
        let root_arg = if with_rootfs {
            format!("--rootfs {rootfs}")
        } else {
            String::new()
        };
        let sbx = format!(
            "{SBX} run --network none {root_arg} -v {mark}:/mnt -- sh -c \"{}\"",
            INSIDE
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        );
        let (code, lines) = under_a_terminal(&env, &outer(&mark, &sbx));
        std::fs::remove_dir_all(&mark).ok();
        assert_terminal(&lines, code, &format!("run rootfs={with_rootfs}"));
    }
    assert!(env.records().is_empty());
}

#[test]
fn exec_gives_the_command_a_terminal_of_the_sandbox() {
    let env = TestEnv::new("ttyexec");
    let rootfs = rootfs();
    let mark = format!("/tmp/sbx-tst-ttyexec-mark-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&mark);
    std::fs::create_dir_all(&mark).unwrap();
    let volume = format!("{mark}:/mnt");
    env.detach(
        "tst-ttyexec",
        &[
            "--network",
            "none",
            "--rootfs",
            &rootfs,
            "-v",
            &volume,
            "--",
            "sleep",
            "120",
        ],
    );
    let sbx = format!(
        "{SBX} exec tst-ttyexec -- sh -c \"{}\"",
        INSIDE
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
    );
    let (code, lines) = under_a_terminal(&env, &outer(&mark, &sbx));
    std::fs::remove_dir_all(&mark).ok();
    assert_terminal(&lines, code, "exec");
    // The exit status passes through the terminal's relay.
    let (code, _) = under_a_terminal(&env, &format!("{SBX} exec tst-ttyexec -- sh -c 'exit 3'"));
    assert_eq!(code, Some(3));
}

#[test]
fn a_redirection_stays_a_redirection_with_a_terminal() {
    let env = TestEnv::new("ttyredir");
    let rootfs = rootfs();
    let file = format!("/tmp/sbx-tst-ttyredir-out-{}", std::process::id());
    let sbx = format!(
        "{SBX} run --network none --rootfs {rootfs} -- sh -c 'tty; echo out; echo err >&2' > {file}"
    );
    let (code, lines) = under_a_terminal(&env, &sbx);
    let written = std::fs::read_to_string(&file).unwrap_or_default();
    std::fs::remove_file(&file).ok();
    assert_eq!(code, Some(0), "{lines:?}");
    let (tty, rest) = written.split_once('\n').unwrap_or_default();
    assert!(
        tty.starts_with("/dev/pts/"),
        "stdin is the sandbox's terminal: {written:?}"
    );
    assert_eq!(rest, "out\n", "stdout is the file, untouched: {written:?}");
    assert!(
        lines.iter().any(|l| l == "err"),
        "stderr is the terminal: {lines:?}"
    );
}
