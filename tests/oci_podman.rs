//! podman driving sbx-oci end to end (SPEC "OCI runtime", issue 12):
//! `podman --runtime sbx-oci` runs an image imported offline from the
//! busybox rootfs: `run --rm` prints and passes the exit status, `run -d`,
//! `exec` (its output, status, `-d`, `-u`), `stop`, `rm`, a terminal
//! (`run -t`, conmon's console socket), and podman's default bridge
//! network with `-p` (podman made the netns, sbx joined it by path).
//!
//! Everything podman makes stays private: it runs in a holder with its own
//! network and mount namespaces (a private /run/netns), so its bridge, its
//! nft tables and its netns files never reach the host; its storage, run
//! root, tmp dir and config are under the test's folder, sbx's state root
//! too (a wrapper script sets SBX_ROOT: podman passes the runtime no
//! environment of its own), and its containers' cgroups go under a cgroup
//! parent of the test's. The test checks the host is as it was.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The holder: `unshare` with its own net and mount namespaces, running
/// `sleep` (killed by PID at the end, and if the test process dies).
struct Holder {
    child: Child,
}

impl Holder {
    fn new() -> Holder {
        let mut cmd = Command::new("unshare");
        // SAFETY: prctl only, between fork and exec.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .args(["--net", "--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs tmpfs /run/netns && ip link set lo up && exec sleep 3600")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare");
        let holder = Holder { child };
        let pid = holder.child.id();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default() != "sleep\n"
        {
            assert!(Instant::now() < deadline, "the holder did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        holder
    }

    /// `program args` inside the holder's network and mount namespaces.
    fn cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "-t",
            &self.child.id().to_string(),
            "-n",
            "-m",
            "--",
            program,
        ]);
        cmd
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// podman's private world, removed on drop (containers first, then the
/// holder, the test's cgroup parent, leftover mounts, the folder).
struct Podman {
    dir: PathBuf,
    cgroup_parent: String,
    holder: Holder,
}

impl Podman {
    fn new() -> Podman {
        let dir = PathBuf::from(format!("/tmp/sbx-tst-ocipod-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["bin", "tmp", "net"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        let d = dir.display();
        let sbx_oci = Path::new(SBX).with_file_name("sbx-oci");
        let wrapper = dir.join("bin/sbx-oci");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\nSBX_ROOT={d}/sbx exec {} \"$@\"\n",
                sbx_oci.display()
            ),
        )
        .expect("wrapper");
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod wrapper");
        // This root lacks CAP_SYS_RESOURCE: limits no higher than its own.
        let nofile = text(&host("sh", &["-c", "ulimit -Hn"]).stdout);
        let nofile = nofile.trim();
        let conf = format!(
            r#"[containers]
default_ulimits = ["nofile={nofile}:{nofile}", "nproc=4096:4096"]
[network]
network_backend = "cni"
network_config_dir = "{d}/net"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "sbx"
tmp_dir = "{d}/tmp"
conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF={d}/containers.conf"]
[engine.runtimes]
sbx = ["{}"]
"#,
            wrapper.display()
        );
        std::fs::write(dir.join("containers.conf"), conf).expect("containers.conf");
        Podman {
            cgroup_parent: format!("/sbxpod{}", std::process::id()),
            dir,
            holder: Holder::new(),
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let d = self.dir.display().to_string();
        let mut cmd = self.holder.cmd("podman");
        cmd.env("CONTAINERS_CONF", format!("{d}/containers.conf"))
            .args([
                "--root",
                &format!("{d}/storage"),
                "--runroot",
                &format!("{d}/run"),
            ])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run podman")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
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
        let _ = self.run(&["rm", "-af", "-t", "0"]);
        let _ = self.run(&["rmi", "-af"]);
        // The holder's end takes its namespaces, bridge, nft tables and
        // netns files with it.
        let _ = self.holder.child.kill();
        let _ = self.holder.child.wait();
        let sbx_root = self.dir.join("sbx");
        for id in list(&sbx_root.join("sandboxes")) {
            let _ = Command::new(SBX)
                .env("SBX_ROOT", &sbx_root)
                .args(["oci", "delete", "--force", &id])
                .output();
        }
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let dir = self.dir.to_string_lossy().into_owned();
        let mut ours: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split(' ').nth(1))
            .filter(|m| m.starts_with(&dir))
            .collect();
        ours.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ours {
            let _ = host("umount", &["-l", m]);
        }
        for hierarchy in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let parent = hierarchy
                .path()
                .join(self.cgroup_parent.trim_start_matches('/'));
            for leaf in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
                let _ = std::fs::remove_dir(leaf.path());
            }
            let _ = std::fs::remove_dir(parent);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What podman could leave on the host: links, nft tables, named netns,
/// and mounts of the test's folder.
fn host_state() -> (String, String, String) {
    let links: Vec<String> = text(&host("ip", &["-o", "link", "show"]).stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1).map(str::to_string))
        .collect();
    (
        links.join(" "),
        text(&host("nft", &["list", "tables"]).stdout),
        text(&host("ip", &["netns", "list"]).stdout),
    )
}

#[test]
fn podman_runs_execs_stops_and_publishes_with_sbx_oci() {
    if Command::new("podman").arg("--version").output().is_err() {
        println!("skipped: podman is not installed (apt-get install podman)");
        return;
    }
    let before = host_state();
    let p = Podman::new();
    let tar = p.dir.join("rootfs.tar");
    let root = busybox_rootfs();
    let out = host(
        "tar",
        &[
            "-C",
            root.to_str().unwrap(),
            "-cf",
            tar.to_str().unwrap(),
            ".",
        ],
    );
    assert!(out.status.success(), "tar: {}", text(&out.stderr));
    p.ok(&["import", tar.to_str().unwrap(), "tst-ocipod/busybox:1"]);
    let image = "tst-ocipod/busybox:1";
    let parent = p.cgroup_parent.clone();
    let cg = ["--cgroup-parent", parent.as_str()];

    // run --rm: output and exit status through conmon.
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend(cg);
    args.extend([image, "echo", "hi"]);
    assert_eq!(p.ok(&args), "hi\n");
    let mut args = vec!["run", "--rm", "--network", "none"];
    args.extend(cg);
    args.extend([image, "sh", "-c", "exit 3"]);
    assert_eq!(p.run(&args).status.code(), Some(3));

    // run -t: conmon's console socket gets the terminal.
    let mut args = vec!["run", "--rm", "-t", "--network", "none"];
    args.extend(cg);
    args.extend([image, "sh", "-c", "tty; [ -t 1 ] && echo on-a-tty"]);
    let said = p.ok(&args);
    assert!(
        said.contains("/dev/pts/") && said.contains("on-a-tty"),
        "{said:?}"
    );
    let mut args = vec!["run", "--rm", "-t", "--network", "none"];
    args.extend(cg);
    args.extend([image, "sh", "-c", "exit 5"]);
    assert_eq!(p.run(&args).status.code(), Some(5));

    // run -d, exec (status, -d, -u, the container's cgroup), stop, rm.
    let mut args = vec!["run", "-d", "--name", "d1", "--network", "none"];
    args.extend(cg);
    args.extend([image, "sleep", "100"]);
    p.ok(&args);
    assert!(
        p.ok(&["ps", "--format", "{{.Names}} {{.Status}}"])
            .contains("d1 Up")
    );
    let out = p.run(&[
        "exec",
        "d1",
        "sh",
        "-c",
        "echo in-d1; cat /proc/self/cgroup; exit 4",
    ]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.starts_with("in-d1\n"), "{said}");
    assert!(
        said.contains(&format!("pids:{parent}/libpod-")),
        "exec joins the container's cgroup: {said}"
    );
    let said = p.ok(&["exec", "-t", "d1", "sh", "-c", "tty"]);
    assert!(said.contains("/dev/pts/"), "exec -t: {said:?}");
    p.ok(&["exec", "-d", "d1", "sleep", "30"]);
    let top = p.ok(&["top", "d1", "args"]);
    assert!(top.contains("sleep 30"), "exec -d left it running: {top}");
    assert!(
        p.ok(&["exec", "-u", "1000:1000", "d1", "id"])
            .starts_with("uid=1000 gid=1000")
    );
    p.ok(&["stop", "-t", "2", "d1"]);
    assert!(
        p.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
            .contains("d1 Exited")
    );
    p.ok(&["rm", "d1"]);
    let sandboxes = list(&p.dir.join("sbx/sandboxes"));
    assert!(
        sandboxes.is_empty(),
        "sbx records left after rm: {sandboxes:?}"
    );

    // podman's default bridge network and -p: podman made the netns (and
    // its veth on podman's bridge), sbx joined it; the port answers.
    let mut args = vec!["run", "-d", "--name", "web", "-p", "18080:80"];
    args.extend(cg);
    args.extend([
        image,
        "sh",
        "-c",
        "while true; do busybox nc -l -p 80 -e echo hi-from-web; done",
    ]);
    p.ok(&args);
    let addr = p.ok(&["exec", "web", "ip", "-4", "-o", "addr", "show", "eth0"]);
    assert!(addr.contains("inet 10.88."), "{addr}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = p
            .holder
            .cmd("busybox")
            .args(["nc", "-w", "2", "10.88.0.1", "18080"])
            .output()
            .unwrap();
        if text(&out.stdout).contains("hi-from-web") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the published port did not answer: {}",
            text(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    p.ok(&["rm", "-f", "-t", "0", "web"]);

    drop(p);
    let after = host_state();
    assert_eq!(before, after, "podman or sbx left something on the host");
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
    assert!(!mounts.contains("sbx-tst-ocipod"), "{mounts}");
}
