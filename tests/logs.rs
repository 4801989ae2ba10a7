//! `sbx logs`: stdout and stderr kept apart, `--tail`, `--since`, `-t`, `-f`.

mod common;
use common::*;

/// `sbx logs ARGS`: (stdout, stderr), insisting it succeeded.
fn logs(env: &TestEnv, args: &[&str]) -> (String, String) {
    let mut full = vec!["logs"];
    full.extend_from_slice(args);
    let out = env.sbx(&full);
    assert!(out.status.success(), "sbx {full:?}: {}", text(&out.stderr));
    (text(&out.stdout), text(&out.stderr))
}

/// Whether `line` starts with an RFC 3339 UTC time with nanoseconds and a space.
fn stamped(line: &str) -> bool {
    let b = line.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    b.len() > 31
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..29)
        && &b[29..31] == b"Z "
}

#[test]
fn streams_stay_apart_and_tail_since_and_timestamps_select() {
    let env = TestEnv::new("logsel");
    let script = "echo out1; echo err1 >&2; echo out2; sleep 0.1; echo err2 >&2; printf partial; exec sleep 300";
    env.detach(
        "tst-logsel",
        &["--network", "none", "--", "sh", "-c", script],
    );
    assert!(
        wait_until(10, || logs(&env, &["tst-logsel"]).0.ends_with("partial")),
        "the unfinished line shows up: {:?}",
        logs(&env, &["tst-logsel"])
    );

    let all = (
        "out1\nout2\npartial".to_string(),
        "err1\nerr2\n".to_string(),
    );
    assert_eq!(logs(&env, &["tst-logsel"]), all);
    assert_eq!(logs(&env, &["--tail", "all", "tst-logsel"]), all);
    assert_eq!(
        logs(&env, &["--tail", "1", "tst-logsel"]),
        ("partial".into(), "".into())
    );
    assert_eq!(
        logs(&env, &["--tail", "2", "tst-logsel"]),
        ("partial".into(), "err2\n".into())
    );
    assert_eq!(
        logs(&env, &["--tail", "0", "tst-logsel"]),
        ("".into(), "".into())
    );

    let nothing = ("".to_string(), "".to_string());
    assert_eq!(
        logs(&env, &["--since", "2099-01-01T00:00:00Z", "tst-logsel"]),
        nothing
    );
    assert_eq!(
        logs(&env, &["--since", "2000-01-01T00:00:00Z", "tst-logsel"]),
        all
    );
    assert_eq!(logs(&env, &["--since", "1h", "tst-logsel"]), all);
    assert_eq!(logs(&env, &["--since", "1h30m", "tst-logsel"]), all);
    // Unix seconds: far in the future, nothing.
    assert_eq!(
        logs(&env, &["--since", "4000000000", "tst-logsel"]),
        nothing
    );

    let (out, err) = logs(&env, &["-t", "tst-logsel"]);
    let out_lines: Vec<&str> = out.lines().collect();
    assert_eq!(out_lines.len(), 3, "{out}");
    assert!(out_lines.iter().all(|l| stamped(l)), "{out}");
    assert!(out_lines[0].ends_with(" out1") && out_lines[2].ends_with(" partial"));
    assert!(
        err.lines().all(stamped) && err.lines().count() == 2,
        "{err}"
    );
    // The stamps are the times the lines came: err2 came after out1's.
    let time = |l: &str| l[..30].to_string();
    assert!(time(err.lines().nth(1).unwrap()) > time(out_lines[0]));

    let out = env.sbx(&["logs", "--since", "yesterday", "tst-logsel"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(text(&out.stderr).starts_with("sbx: --since \"yesterday\" is not a time"));
    let out = env.sbx(&["logs", "--tail", "many", "tst-logsel"]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn follow_keeps_streams_apart_until_the_sandbox_exits() {
    let env = TestEnv::new("logfol");
    let script = "echo a; sleep 0.4; echo b >&2; sleep 0.3; echo c; echo d >&2";
    env.detach(
        "tst-logfol",
        &["--network", "none", "--", "sh", "-c", script],
    );
    let started = std::time::Instant::now();
    let (out, err) = logs(&env, &["-f", "tst-logfol"]);
    assert_eq!((out.as_str(), err.as_str()), ("a\nc\n", "b\nd\n"));
    assert!(started.elapsed() >= std::time::Duration::from_millis(500));
    assert_eq!(env.status("tst-logfol").as_deref(), Some("exited"));
    // After the end, -f with --tail returns at once with the last lines.
    assert_eq!(
        logs(&env, &["-f", "--tail", "1", "tst-logfol"]),
        ("".into(), "d\n".into())
    );
}
