//! Small faces of sbx a user reads: a damaged record's reason cut in the
//! `ps` table like a command, `{{.Status}}` as the table shows it, `logs`
//! of a sandbox whose record is damaged, and a script whose `#!`
//! interpreter is missing.

mod common;
use common::*;

#[test]
fn ps_cuts_a_damaged_reason_and_logs_still_read_its_file() {
    let env = TestEnv::new("cosdmg");
    let script = "echo hello; exec sleep 300";
    env.detach(
        "tst-cosdmg",
        &["--network", "none", "--", "sh", "-c", script],
    );
    assert!(wait_until(5, || env.ok(&["logs", "tst-cosdmg"]) == "hello\n"));
    let record = env.root.join("sandboxes/tst-cosdmg/sandbox.json");
    std::fs::write(&record, "x".repeat(300)).unwrap();

    let table = env.ok(&["ps", "-a"]);
    let row = table.lines().find(|l| l.starts_with("tst-cosdmg")).unwrap();
    let cell = row
        .split_once("(record unreadable")
        .map(|(_, c)| c)
        .unwrap();
    assert!(row.ends_with('…'), "{row}");
    assert!(cell.chars().count() < 40, "{row}");
    let whole = env.ok(&["ps", "-a", "--no-trunc"]);
    let row = whole.lines().find(|l| l.starts_with("tst-cosdmg")).unwrap();
    assert!(!row.ends_with('…') && row.chars().count() > 120, "{row}");

    let out = env.sbx(&["logs", "tst-cosdmg"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello\n");
    assert!(
        text(&out.stderr).contains("the record of sandbox tst-cosdmg cannot be read"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn template_status_is_the_tables_text() {
    let env = TestEnv::new("cosst");
    env.detach(
        "tst-cosst",
        &["--network", "none", "--", "sh", "-c", "exit 3"],
    );
    assert!(wait_until(10, || env.status("tst-cosst").as_deref() == Some("exited")));
    let out = env.ok(&["ps", "-a", "--format", "{{.Name}} {{.Status}}"]);
    assert_eq!(out, "tst-cosst exited (3)\n");
    assert_eq!(
        env.status("tst-cosst").as_deref(),
        Some("exited"),
        "JSON keeps it bare"
    );
}

#[test]
fn a_missing_interpreter_is_126_bad_interpreter() {
    let env = TestEnv::new("cosint");
    let dir =
        std::path::PathBuf::from(format!("/tmp/sbx-tst-cosint-script-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _dir = Remove(dir.clone());
    let script = dir.join("s.sh");
    std::fs::write(&script, "#!/no/such/interpreter\necho hi\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let want = "bad interpreter: its #! line names a program that does not exist";
    // Without a rootfs (the execve: the host's files), and via exec.
    let s = script.to_string_lossy().to_string();
    let out = env.sbx(&["run", "--network", "none", "--", &s]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    env.detach("tst-cosint", &["--network", "none", "--", "sleep", "300"]);
    let out = env.sbx(&["exec", "tst-cosint", "--", &s]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
    // With a rootfs: the check before launch says the same.
    let out = env.sbx(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        &dir.to_string_lossy(),
        "--",
        "/s.sh",
    ]);
    assert_eq!(out.status.code(), Some(126), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains(want), "{}", text(&out.stderr));
}
