//! Records hold `-e` values and logs hold the command's output: a state
//! root sbx creates is root's alone (0700) and logs are 0640; a root that
//! already exists keeps the mode its admin gave it.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

#[test]
fn a_fresh_root_is_0700_and_logs_are_0640() {
    let env = TestEnv::new("stmode");
    env.detach(
        "tst-stmode",
        &[
            "--network",
            "none",
            "-e",
            "PASS=hunter2",
            "--",
            "sh",
            "-c",
            "echo hi; exec sleep 300",
        ],
    );
    assert_eq!(mode(&env.root), 0o700, "{}", env.root.display());
    let log = env.root.join("sandboxes/tst-stmode/output.log");
    assert!(wait_until(5, || log.exists()));
    assert_eq!(mode(&log), 0o640);
    assert_eq!(mode(&log) & 0o007, 0, "not world-readable");
    env.ok(&["rm", "-f", "tst-stmode"]);

    // An existing root keeps its mode.
    let opened = std::path::PathBuf::from(format!("{}-opened", env.root.display()));
    let _ = std::fs::remove_dir_all(&opened);
    std::fs::create_dir(&opened).unwrap();
    std::fs::set_permissions(&opened, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = std::process::Command::new(SBX)
        .arg("--root")
        .arg(&opened)
        .args(["run", "--network", "none", "--", "true"])
        .env_remove("SBX_ROOT")
        .output()
        .unwrap();
    let kept = mode(&opened);
    std::fs::remove_dir_all(&opened).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(kept, 0o755);
}
