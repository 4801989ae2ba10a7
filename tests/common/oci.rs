//! Fixtures of the OCI face's tests (tests/oci*.rs): bundles on the
//! busybox rootfs and `sbx oci` / `sbx-oci` invocations.

use super::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A bundle of this test's own: `config.json` from `sbx oci spec`, its
/// root the busybox rootfs; removed at the end.
pub struct Bundle {
    /// The bundle folder.
    pub dir: PathBuf,
}

impl Bundle {
    pub fn new(env: &TestEnv, name: &str, edit: impl FnOnce(&mut Value)) -> Self {
        let dir = env.root.with_extension(format!("bundle-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = oci(env, &["spec", "--bundle", dir.to_str().unwrap()]);
        assert!(out.status.success(), "spec: {}", text(&out.stderr));
        let path = dir.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["root"]["path"] = busybox_rootfs().to_str().unwrap().into();
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        Bundle { dir }
    }

    pub fn path(&self) -> &str {
        self.dir.to_str().unwrap()
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `sbx oci ARGS`, stdio captured.
pub fn oci(env: &TestEnv, args: &[&str]) -> Output {
    let mut full = vec!["oci"];
    full.extend_from_slice(args);
    env.sbx(&full)
}

/// `sbx-oci ARGS` through the launcher installed beside sbx.
pub fn sbx_oci(env: &TestEnv) -> Command {
    let launcher = Path::new(SBX).with_file_name("sbx-oci");
    let mut cmd = Command::new(launcher);
    cmd.env("SBX_ROOT", &env.root).stdin(Stdio::null());
    cmd
}

/// `create` with the container's stdout and stderr going to `out` and
/// `out.err` (they are passed through, so a pipe would stay open as long
/// as the container runs); sbx's own error line lands in `out.err` too.
pub fn create(env: &TestEnv, bundle: &Bundle, id: &str, extra: &[&str], out: &Path) -> Created {
    let file = std::fs::File::create(out).unwrap();
    let err_path = out.with_extension("err");
    let err = std::fs::File::create(&err_path).unwrap();
    let mut args = vec!["oci", "create", "--bundle", bundle.path()];
    args.extend_from_slice(extra);
    args.push(id);
    let status = env
        .cmd(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .status()
        .unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(err_path);
    Created { status, stderr }
}

/// What `create` said.
pub struct Created {
    /// Its exit status.
    pub status: std::process::ExitStatus,
    /// Its stderr.
    pub stderr: String,
}

/// `state ID` parsed.
pub fn state(env: &TestEnv, id: &str) -> Value {
    let out = oci(env, &["state", id]);
    assert!(out.status.success(), "state {id}: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("state is JSON")
}

pub fn status(env: &TestEnv, id: &str) -> String {
    state(env, id)["status"].as_str().unwrap().to_string()
}

/// `run` in the foreground of a bundle edited by `edit`, running `script`
/// with busybox sh: its output and exit status.
pub fn run_script(
    env: &TestEnv,
    id: &str,
    script: &str,
    edit: impl FnOnce(&mut Value),
) -> (String, String, i32) {
    let bundle = Bundle::new(env, id, |c| {
        c["process"]["args"] = json!(["sh", "-c", script]);
        edit(c);
    });
    let out = oci(env, &["run", "--bundle", bundle.path(), id]);
    (
        text(&out.stdout),
        text(&out.stderr),
        out.status.code().unwrap_or(-1),
    )
}
