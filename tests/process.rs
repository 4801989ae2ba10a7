//! Exit codes, signal forwarding and stdio passing through `sbx run`.

mod common;
use common::*;
use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn exit_codes_follow_the_spec() {
    let env = TestEnv::new("exit");
    let code = |cmd: &[&str]| {
        let mut args = vec!["run", "--network", "none", "--"];
        args.extend_from_slice(cmd);
        env.sbx(&args)
    };
    assert_eq!(code(&["true"]).status.code(), Some(0));
    assert_eq!(code(&["sh", "-c", "exit 3"]).status.code(), Some(3));
    let out = code(&["no-such-command-xyz"]);
    assert_eq!(out.status.code(), Some(127));
    assert!(
        text(&out.stderr).contains("sbx: no-such-command-xyz: command not found"),
        "{}",
        text(&out.stderr)
    );
    let out = code(&["/etc/hostname"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        text(&out.stderr).contains("cannot execute"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(
        code(&["sh", "-c", "kill -KILL $$"]).status.code(),
        Some(137)
    );
    assert_eq!(
        code(&["sh", "-c", "kill -TERM $$"]).status.code(),
        Some(143)
    );
    let out = env.sbx(&[
        "run",
        "--network",
        "none",
        "-w",
        "/no/such/dir",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("working directory /no/such/dir"),
        "{}",
        text(&out.stderr)
    );
    assert!(env.records().is_empty(), "every run removed its record");
}

#[test]
fn signals_sent_to_sbx_run_reach_the_command() {
    let env = TestEnv::new("sig");
    for (sig, name, expected) in [
        (libc::SIGTERM, "TERM", 7),
        (libc::SIGINT, "INT", 8),
        (libc::SIGUSR1, "USR1", 9),
        (libc::SIGHUP, "HUP", 10),
    ] {
        let script = format!(
            "trap 'echo got {name}; exit {expected}' {name}; echo ready; while :; do sleep 0.05; done"
        );
        let mut child = env
            .cmd(&[
                "run",
                "--network",
                "none",
                "--name",
                "tst-sig",
                "--",
                "sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn");
        let mut stdout = child.stdout.take().expect("stdout");
        let mut first = [0u8; 6];
        std::io::Read::read_exact(&mut stdout, &mut first).expect("the command started");
        assert_eq!(&first, b"ready\n");
        signal(child.id(), sig);
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut rest).expect("read");
        assert_eq!(
            wait_or_kill(child),
            Some(expected),
            "SIG{name} handled by the command"
        );
        assert_eq!(rest, format!("got {name}\n"));
    }
}

#[test]
fn a_command_ignoring_nothing_dies_of_the_forwarded_signal() {
    let mut env = TestEnv::new("sigdef");
    let pid = env.start("tst-sigdef", &["--network", "none", "--", "sleep", "60"]);
    signal(pid, libc::SIGINT);
    let codes = env.stop_all();
    assert_eq!(
        codes,
        vec![Some(130)],
        "sleep (under PID 1 init) died of SIGINT"
    );
}

#[test]
fn stdin_and_stdout_pass_through() {
    let env = TestEnv::new("stdio");
    let mut child = env
        .cmd(&[
            "run",
            "--network",
            "none",
            "--",
            "sh",
            "-c",
            "tr a-z A-Z; echo err >&2",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello sandbox\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "HELLO SANDBOX\n");
    assert_eq!(text(&out.stderr), "err\n");
    // Docker's -it is accepted out of habit.
    let out = env.ok(&["run", "-it", "--network", "none", "--", "echo", "it"]);
    assert_eq!(out, "it\n");
}

#[test]
fn environment_and_workdir_are_clean_and_settable() {
    let env = TestEnv::new("envwd");
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "tst-envwd",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        "--",
        "sh",
        "-c",
        "env | sort; pwd",
    ]);
    assert!(out.contains("FOO=bar\n"), "{out}");
    assert!(out.contains("HOSTNAME=tst-envwd\n"), "{out}");
    assert!(
        out.contains("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"),
        "{out}"
    );
    assert!(
        !out.contains("SBX_ROOT"),
        "the host environment does not leak in: {out}"
    );
    assert!(out.ends_with("/tmp\n"), "{out}");
}

#[test]
fn orphans_are_reaped_by_the_init() {
    let env = TestEnv::new("reap");
    // A background child orphaned to PID 1 exits; no zombie stays behind.
    let out = env.ok(&["run", "--network", "none", "--", "sh", "-c", "(sleep 0.1 &) ; sleep 0.4; ps -o stat= -e 2>/dev/null || cat /proc/[0-9]*/stat | awk '{print $3}'"]);
    assert!(
        !out.lines().any(|l| l.trim().starts_with('Z')),
        "no zombies: {out}"
    );
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn a_terminal_passes_through() {
    let env = TestEnv::new("tty");
    // `script` gives sbx a pseudo-terminal, as an interactive user would.
    let inner = format!(
        "SBX_ROOT={} {SBX} run --network none -- sh -c 'test -t 0 && test -t 1 && echo \"tty:$TERM\"; read line; echo \"got:$line\"'",
        env.root.display()
    );
    let mut child = std::process::Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run script(1)");
    std::thread::sleep(Duration::from_millis(500));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"typed\n")
        .expect("type");
    let out = child.wait_with_output().expect("wait");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("tty:xterm-256color"),
        "stdin/stdout are the terminal and TERM is passed: {stdout:?}"
    );
    assert!(
        stdout.contains("got:typed"),
        "keyboard input reaches the command: {stdout:?}"
    );
    assert_eq!(out.status.code(), Some(0), "{stdout:?}");
}
