//! OCI `linux.cgroupsPath` and `linux.resources` (SPEC "OCI runtime",
//! issue 12): the container's processes live in the cgroup the config
//! names (a cgroupfs path, a relative one, systemd's `SLICE:PREFIX:NAME`
//! with `--systemd-cgroup`), with the limits written there, and `delete`
//! removes it. Each check would fail if the field were ignored.

mod common;
use common::oci::*;
use common::*;
use serde_json::json;
use std::path::{Path, PathBuf};

const CG: &str = "/sys/fs/cgroup";

/// Whether the host keeps its controllers on cgroup v1 (this project's
/// hybrid CI hosts) rather than in the unified tree.
fn v1() -> bool {
    Path::new(CG).join("memory/tasks").exists()
}

/// The cgroup file `name` (v1 name) of `path` in the hierarchy of
/// `controller`, read as a trimmed string.
fn read_cg(controller: &str, path: &Path, name: &str) -> String {
    let rel = path.strip_prefix("/").unwrap();
    let file = if v1() {
        Path::new(CG).join(controller).join(rel).join(name)
    } else {
        Path::new(CG).join(rel).join(name)
    };
    std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
        .trim()
        .to_string()
}

/// Every folder named `top` (a test's first level) in every hierarchy.
fn dirs_named(top: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for base in [PathBuf::from(CG), Path::new(CG).join("sbx")]
        .into_iter()
        .chain(
            std::fs::read_dir(CG)
                .unwrap()
                .flatten()
                .flat_map(|e| [e.path(), e.path().join("sbx")]),
        )
    {
        let dir = base.join(top);
        if dir.is_dir() && !found.contains(&dir) {
            found.push(dir);
        }
    }
    found
}

/// Removes a test's cgroup tree (deepest first) in every hierarchy, even
/// when the test failed half-way.
struct CgroupTree(String);

impl Drop for CgroupTree {
    fn drop(&mut self) {
        for dir in dirs_named(&self.0) {
            let mut all: Vec<PathBuf> = walk(&dir);
            all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            for d in all {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&e.path()));
        }
    }
    out
}

/// Creates container `id` from a bundle with `cgroups_path` and the
/// resources, checks where its init lives and what its cgroup holds,
/// deletes it and checks the cgroup is gone; `expected` is the path the
/// container must get.
fn check_cgroup(id: &str, cgroups_path: &str, systemd: bool, expected: &Path) {
    let env = TestEnv::new(id);
    let bundle = Bundle::new(&env, id, |c| {
        c["process"]["args"] = json!(["sleep", "60"]);
        c["linux"]["cgroupsPath"] = json!(cgroups_path);
        c["linux"]["resources"] = json!({
            "devices": [{"allow": false, "access": "rwm"}],
            "memory": {"limit": 67108864, "reservation": 33554432, "swappiness": 10},
            "pids": {"limit": 57},
            "cpu": {"shares": 512, "quota": 30000, "period": 200000, "cpus": "0", "mems": "0"}
        });
    });
    let output = env.root.with_extension("out");
    let mut extra = Vec::new();
    if systemd {
        extra.push("--systemd-cgroup");
    }
    // --systemd-cgroup is a global option: before the command.
    let mut args = vec!["oci"];
    args.extend(extra);
    args.extend(["create", "--bundle", bundle.path(), id]);
    // The container's stdio is passed through: files, not pipes that
    // would stay open while it runs.
    let err_path = output.with_extension("err");
    let status = env
        .cmd(&args)
        .stdin(std::process::Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .status()
        .unwrap();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&err_path);
    assert!(status.success(), "create: {stderr}");
    let pid = state(&env, id)["pid"].as_i64().unwrap();
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = expected.to_str().unwrap();
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (_, controllers, path) = (
            fields.next(),
            fields.next().unwrap(),
            fields.next().unwrap(),
        );
        // On a hybrid host the empty (v2) line is the unified tree, which
        // holds no controller there.
        if controllers.is_empty() && v1() {
            continue;
        }
        assert_eq!(path, want, "{line} in\n{membership}");
    }
    if v1() {
        assert_eq!(
            read_cg("memory", expected, "memory.limit_in_bytes"),
            "67108864"
        );
        assert_eq!(
            read_cg("memory", expected, "memory.soft_limit_in_bytes"),
            "33554432"
        );
        assert_eq!(read_cg("memory", expected, "memory.swappiness"), "10");
        assert_eq!(read_cg("pids", expected, "pids.max"), "57");
        assert_eq!(read_cg("cpu", expected, "cpu.shares"), "512");
        assert_eq!(read_cg("cpu", expected, "cpu.cfs_quota_us"), "30000");
        assert_eq!(read_cg("cpu", expected, "cpu.cfs_period_us"), "200000");
        assert_eq!(read_cg("cpuset", expected, "cpuset.cpus"), "0");
        // The device list: only sbx's allow list, not the host's "a *:* rwm".
        let list = read_cg("devices", expected, "devices.list");
        assert!(
            !list.contains("a *:* rwm") && list.contains("c 1:3 rwm"),
            "{list}"
        );
    } else {
        assert_eq!(read_cg("", expected, "memory.max"), "67108864");
        assert_eq!(read_cg("", expected, "pids.max"), "57");
        assert_eq!(read_cg("", expected, "cpu.max"), "30000 200000");
    }
    let out = oci(&env, &["delete", "--force", id]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    let rel = expected.strip_prefix("/").unwrap();
    let leaves: Vec<PathBuf> = std::fs::read_dir(CG)
        .unwrap()
        .flatten()
        .map(|e| e.path().join(rel))
        .chain([Path::new(CG).join(rel)])
        .filter(|p| p.exists())
        .collect();
    assert!(leaves.is_empty(), "delete left {leaves:?}");
    let _ = std::fs::remove_file(output);
}

#[test]
fn an_absolute_cgroups_path_holds_the_container_and_its_limits() {
    let top = format!("sbxcga{}", std::process::id());
    let _tree = CgroupTree(top.clone());
    let path = format!("/{top}/machine/c1");
    check_cgroup("ocicga", &path, false, Path::new(&path));
}

#[test]
fn a_relative_cgroups_path_goes_below_sbxs_own_cgroup() {
    let top = format!("sbxcgr{}", std::process::id());
    let _tree = CgroupTree(top.clone());
    let path = format!("{top}/c2");
    check_cgroup("ocicgr", &path, false, &Path::new("/sbx").join(&path));
}

#[test]
fn a_systemd_cgroups_path_is_made_where_systemd_puts_the_scope() {
    let top = format!("sbxcgs{}", std::process::id());
    let _tree = CgroupTree(format!("{top}.slice"));
    let path = format!("{top}-x.slice:pfx:c3");
    let expected = format!("/{top}.slice/{top}-x.slice/pfx-c3.scope");
    check_cgroup("ocicgs", &path, true, Path::new(&expected));
}

#[test]
fn an_existing_or_escaping_cgroups_path_is_refused_and_leaves_nothing() {
    let env = TestEnv::new("ocicge");
    let top = format!("sbxcge{}", std::process::id());
    let _tree = CgroupTree(top.clone());
    let taken = Path::new(CG).join("pids").join(&top);
    std::fs::create_dir_all(if v1() {
        taken.clone()
    } else {
        Path::new(CG).join(&top)
    })
    .unwrap();
    for (path, words) in [
        (format!("/{top}"), "already exists"),
        ("/a/../../b".to_string(), "no .."),
    ] {
        let bundle = Bundle::new(&env, "e", |c| {
            c["process"]["args"] = json!(["true"]);
            c["linux"]["cgroupsPath"] = json!(path);
        });
        let out = oci(&env, &["create", "--bundle", bundle.path(), "cge1"]);
        assert_eq!(out.status.code(), Some(125), "{path}");
        let err = text(&out.stderr);
        assert!(err.contains(words), "{path}: {err}");
        assert!(env.records().is_empty(), "{:?}", env.records());
    }
}
