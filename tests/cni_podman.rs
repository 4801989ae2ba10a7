//! A real CNI client: podman 4.3 with its CNI backend and a conflist of
//! type `sbx-cni` runs a container that gets its address, route and
//! gateway from sbx-cni; removing the container gives the lease back.
//! Offline: the image is the busybox root of rootfs/build.sh, imported
//! with `podman import`. Everything podman keeps (storage, run root, tmp
//! dir, network configs, plugin dir) is private to the test, through a
//! private containers.conf (CONTAINERS_CONF), which also hands conmon the
//! environment its exit command (`podman container cleanup`, the DEL)
//! needs: without it the DEL runs with neither the plugin dir nor the
//! state root. runc, not crun: crun refuses this host's hybrid cgroups.

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

const SBX_CNI: &str = env!("CARGO_BIN_EXE_sbx-cni");

/// podman's private world, removed on drop.
struct Podman {
    dir: String,
    bridge: String,
}

impl Podman {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("podman");
        cmd.env("CONTAINERS_CONF", format!("{}/containers.conf", self.dir))
            .env("SBX_ROOT", format!("{}/sbx", self.dir))
            .args(["--root", &format!("{}/storage", self.dir)])
            .args(["--runroot", &format!("{}/run", self.dir)])
            .args(["--cgroup-manager", "cgroupfs"])
            .args(args);
        cmd
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args).output().expect("run podman");
        assert!(
            out.status.success(),
            "podman {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.cmd(&["rm", "-af"]).output();
        let _ = self.cmd(&["rmi", "-af"]).output();
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(&self.dir))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = host("umount", &["-l", m]);
        }
        let _ = host("ip", &["link", "del", &self.bridge]);
        let bridge = &self.bridge;
        let _ = host(
            "nft",
            &["delete", "chain", "ip", "sbx", &format!("post-{bridge}")],
        );
        let one = format!("{{ \"{bridge}\" }}");
        let _ = host("nft", &["delete", "element", "ip", "sbx", "bridges", &one]);
        let pair = format!("{{ \"{bridge}\" . \"{bridge}\" }}");
        let _ = host("nft", &["delete", "element", "ip", "sbx", "same", &pair]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn podman_runs_a_container_on_an_sbx_cni_network() {
    if Command::new("podman").arg("--version").output().is_err() {
        panic!("podman is not installed: tests/run.sh and .ci/run install podman and runc");
    }
    let dir = format!("/tmp/sbx-tst-cnipod-{}", std::process::id());
    let _ = std::fs::remove_dir_all(&dir);
    let p = Podman {
        dir: dir.clone(),
        bridge: "tstb-cnipod".into(),
    };
    for sub in ["net", "bin", "tmp"] {
        std::fs::create_dir_all(format!("{dir}/{sub}")).expect("mkdir");
    }
    std::os::unix::fs::symlink(SBX_CNI, format!("{dir}/bin/sbx-cni")).expect("link sbx-cni");
    let conf = format!(
        r#"[network]
network_backend = "cni"
cni_plugin_dirs = ["{dir}/bin", "/usr/lib/cni"]
network_config_dir = "{dir}/net"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "runc"
tmp_dir = "{dir}/tmp"
conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF={dir}/containers.conf", "SBX_ROOT={dir}/sbx"]
"#
    );
    std::fs::write(format!("{dir}/containers.conf"), conf).expect("containers.conf");
    let conflist = r#"{"cniVersion": "1.0.0", "name": "tst-cnipod", "plugins": [
        {"type": "sbx-cni", "bridge": "tstb-cnipod", "subnet": "10.237.10.0/24"}]}"#;
    std::fs::write(format!("{dir}/net/tst-cnipod.conflist"), conflist).expect("conflist");
    let tar = format!("{dir}/rootfs.tar");
    let root = busybox_rootfs();
    let out = host("tar", &["-C", root.to_str().unwrap(), "-cf", &tar, "."]);
    assert!(out.status.success(), "tar: {}", text(&out.stderr));
    p.ok(&["import", &tar, "tst-cnipod/busybox:1"]);

    // Root here lacks CAP_SYS_RESOURCE: limits no higher than its own.
    let nofile = text(&host("sh", &["-c", "ulimit -Hn"]).stdout);
    let nofile = format!("nofile={0}:{0}", nofile.trim());
    let out = p.ok(&[
        "run", "--rm", "--ulimit", &nofile, "--ulimit", "nproc=4096:4096",
        "--network", "tst-cnipod", "tst-cnipod/busybox:1", "sh", "-c",
        "ip -4 -o addr show eth0; ip route show default; ping -c 1 -W 2 10.237.10.1 >/dev/null && echo gateway-ok",
    ]);
    assert!(out.contains("inet 10.237.10.2/24"), "{out}");
    assert!(out.contains("default via 10.237.10.1 dev eth0"), "{out}");
    assert!(out.contains("gateway-ok"), "{out}");

    // --rm: podman's cleanup ran DEL; the lease and the record are gone.
    let store = Path::new(&dir).join("sbx/cni/tst-cnipod");
    let left: Vec<String> = list(&store)
        .into_iter()
        .filter(|n| n != "attachments")
        .collect();
    assert!(left.is_empty(), "leases left after podman rm: {left:?}");
    assert!(list(&store.join("attachments")).is_empty());
    let ports = text(&host("ip", &["-o", "link", "show", "master", "tstb-cnipod"]).stdout);
    assert!(ports.trim().is_empty(), "{ports}");
}
