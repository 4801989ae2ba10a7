//! Mounts a sandbox gets (issue 8): read-only all the way down, no device
//! nodes on the rootfs, a devpts of its own without a rootfs, and an
//! /etc/hosts that names it by its name and its hostname.

mod common;
use common::*;
use std::path::{Path, PathBuf};

fn rootfs() -> PathBuf {
    busybox_rootfs()
}

/// Folders and mounts a test made on the host, removed even on a panic
/// (mounts first, innermost last made first).
#[derive(Default)]
struct HostGuard {
    mounts: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

impl HostGuard {
    fn dir(&mut self, path: &Path) {
        let _ = std::fs::remove_dir_all(path);
        std::fs::create_dir_all(path).unwrap();
        self.dirs.push(path.into());
    }

    fn tmpfs(&mut self, at: &Path) {
        std::fs::create_dir_all(at).unwrap();
        let out = host("mount", &["-t", "tmpfs", "tstfs", at.to_str().unwrap()]);
        assert!(out.status.success(), "mount: {}", text(&out.stderr));
        self.mounts.push(at.into());
    }
}

impl Drop for HostGuard {
    fn drop(&mut self) {
        for at in self.mounts.iter().rev() {
            let _ = host("umount", &["-l", at.to_str().unwrap()]);
        }
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[test]
fn read_only_reaches_submounts() {
    let env = TestEnv::new("fsro");
    let mut guard = HostGuard::default();
    let base = PathBuf::from(format!("/tmp/sbx-tst-fsrodir-{}", std::process::id()));
    guard.dir(&base);
    // A volume source with a tmpfs below it.
    let source = base.join("src");
    guard.tmpfs(&source.join("sub"));
    // A rootfs with a tmpfs below it.
    let root = base.join("root");
    let out = host(
        "cp",
        &["-a", rootfs().to_str().unwrap(), root.to_str().unwrap()],
    );
    assert!(out.status.success(), "cp: {}", text(&out.stderr));
    guard.tmpfs(&root.join("var/sub"));

    let volume = format!("{}:/mnt/fsro:ro", source.display());
    let script = "for f in /mnt/fsro/x /mnt/fsro/sub/x /rootfile /var/sub/x; do \
                  touch $f 2>/dev/null && echo $f:WRITTEN || echo $f:refused; done; \
                  touch /tmp/ok && echo tmpfs:written";
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        root.to_str().unwrap(),
        "--read-only",
        "--tmpfs",
        "/tmp",
        "-v",
        &volume,
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(
        out,
        "/mnt/fsro/x:refused\n/mnt/fsro/sub/x:refused\n/rootfile:refused\n/var/sub/x:refused\ntmpfs:written\n"
    );
    assert!(list(&source.join("sub")).is_empty());
    assert!(list(&root.join("var/sub")).is_empty());
    // The same without :ro and --read-only writes (the refusals above come
    // from the flags), and the host's submounts stay writable.
    let volume = format!("{}:/mnt/fsro", source.display());
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        root.to_str().unwrap(),
        "-v",
        &volume,
        "--",
        "sh",
        "-c",
        "touch /mnt/fsro/sub/x /var/sub/x && echo written",
    ]);
    assert_eq!(out, "written\n");
    assert_eq!(list(&source.join("sub")), ["x"]);
}

#[test]
fn device_nodes_on_the_rootfs_cannot_be_opened() {
    let env = TestEnv::new("fsnodev");
    let mut guard = HostGuard::default();
    let root = PathBuf::from(format!("/tmp/sbx-tst-fsnodevdir-{}", std::process::id()));
    guard.dir(&root);
    std::fs::remove_dir(&root).unwrap();
    let out = host(
        "cp",
        &["-a", rootfs().to_str().unwrap(), root.to_str().unwrap()],
    );
    assert!(out.status.success(), "cp: {}", text(&out.stderr));
    // A null device made inside the sandbox's root (CAP_MKNOD is kept):
    // it exists but cannot be opened; /dev/null (sbx's /dev) still works.
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        root.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "mknod /root/null c 1 3 && echo made; echo x > /root/null 2>/dev/null && echo OPENED || echo refused; \
         echo x > /dev/null && echo dev-null-ok",
    ]);
    assert_eq!(out, "made\nrefused\ndev-null-ok\n");
}

#[test]
fn without_a_rootfs_terminals_come_from_a_devpts_of_its_own() {
    use std::os::unix::fs::MetadataExt;
    let env = TestEnv::new("fspts");
    // A terminal of the host's, open while the sandbox runs: it must not
    // be visible inside.
    // SAFETY: plain libc calls on a descriptor this test owns.
    let host_pty = unsafe { libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY) };
    assert!(host_pty >= 0);
    unsafe {
        assert_eq!(libc::grantpt(host_pty), 0);
        assert_eq!(libc::unlockpt(host_pty), 0);
    }
    assert!(list(Path::new("/dev/pts")).len() > 1, "the host has a pts");
    let host_dev = std::fs::metadata("/dev/pts").unwrap().dev();
    let script = "import os, pty\n\
                  before = sorted(os.listdir('/dev/pts'))\n\
                  m, s = pty.openpty()\n\
                  name = os.ttyname(s)\n\
                  print(before, name, sorted(os.listdir('/dev/pts')), os.stat(name).st_dev == os.stat('/dev/pts').st_dev, os.stat('/dev/pts').st_dev)";
    let out = env.ok(&["run", "--network", "none", "--", "python3", "-c", script]);
    unsafe { libc::close(host_pty) };
    let (shown, dev) = out.trim().rsplit_once(' ').unwrap();
    assert_eq!(
        shown, "['ptmx'] /dev/pts/0 ['0', 'ptmx'] True",
        "no host terminal is visible; /dev/ptmx allocates in the sandbox's own devpts"
    );
    assert_ne!(
        dev.parse::<u64>().unwrap(),
        host_dev,
        "another devpts instance"
    );
}

#[test]
fn a_sandbox_knows_itself_by_name_and_hostname() {
    let mut env = TestEnv::new("fshosts");
    let net = env.network(
        "tst-fshosts",
        &["--subnet", "10.241.0.0/24", "--bridge", "tstb-fshosts"],
    );
    let script = "for n in tst-fshosts-a h.example.org h; do getent hosts $n | cut -f1 -d' '; done; \
                  ping -c1 -W2 tst-fshosts-a >/dev/null && echo ping-ok";
    let out = env.ok(&[
        "run",
        "--network",
        &net,
        "--name",
        "tst-fshosts-a",
        "--hostname",
        "h.example.org",
        "--ip",
        "10.241.0.7",
        "--",
        "sh",
        "-c",
        script,
    ]);
    assert_eq!(out, "10.241.0.7\n10.241.0.7\n10.241.0.7\nping-ok\n");
}

#[test]
fn read_only_without_a_rootfs_covers_the_host_submounts() {
    // The state root is under /tmp: the --tmpfs on /tmp must not hide the
    // sandbox's /etc files (sources are taken before anything is mounted).
    let env = TestEnv::new("fsrohost");
    // A submount of the host's root, made by the test (outside /tmp).
    let mut guard = HostGuard::default();
    let submount = PathBuf::from(format!("/var/tmp/sbx-tst-fsrohost-{}", std::process::id()));
    guard.dir(&submount);
    guard.tmpfs(&submount);
    let script = format!(
        "touch /root/sbx-tst-x 2>/dev/null && echo root:WRITTEN || echo root:refused; \
                  touch {}/x 2>/dev/null && echo sub:WRITTEN || echo sub:refused; \
                  touch /tmp/x && echo tmp:written; echo > /dev/null && echo null:ok; \
                  touch /dev/shm/x && echo shm:written; cat /etc/hostname",
        submount.display()
    );
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "tst-fsrohost",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(
        out,
        "root:refused\nsub:refused\ntmp:written\nnull:ok\nshm:written\ntst-fsrohost\n"
    );
    assert!(list(&submount).is_empty());
}

#[test]
fn a_volume_on_an_etc_file_wins_over_sbx_s_own() {
    let env = TestEnv::new("fsetc");
    let mut guard = HostGuard::default();
    let dir = PathBuf::from(format!("/tmp/sbx-tst-fsetcdir-{}", std::process::id()));
    guard.dir(&dir);
    std::fs::write(dir.join("resolv.conf"), "nameserver 192.0.2.53\n").unwrap();
    let volume = format!("{}:/etc/resolv.conf:ro", dir.join("resolv.conf").display());
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        rootfs().to_str().unwrap(),
        "--hostname",
        "fsetc",
        "-v",
        &volume,
        "--",
        "sh",
        "-c",
        "cat /etc/resolv.conf /etc/hostname",
    ]);
    assert_eq!(out, "nameserver 192.0.2.53\nfsetc\n");
}

#[test]
fn a_volume_over_etc_gets_no_mount_points_written_into_it() {
    let env = TestEnv::new("fsetcv");
    let mut guard = HostGuard::default();
    let dir = PathBuf::from(format!("/tmp/sbx-tst-fsetcvdir-{}", std::process::id()));
    guard.dir(&dir);
    std::fs::write(dir.join("hosts"), "192.0.2.7 mine\n").unwrap();
    let volume = format!("{}:/etc", dir.display());
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        rootfs().to_str().unwrap(),
        "-v",
        &volume,
        "--",
        "sh",
        "-c",
        "ls /etc",
    ]);
    // sbx's own /etc/hosts goes onto the file that is there; the files
    // the volume lacks are not created in the host's folder.
    assert_eq!(out, "hosts\n");
    let mut left = list(&dir);
    left.sort();
    assert_eq!(left, ["hosts"], "nothing created in the volume's source");
}

#[test]
fn a_volume_inside_a_tmpfs_is_mounted_inside_it_whatever_the_order() {
    let env = TestEnv::new("fsnest");
    let mut guard = HostGuard::default();
    let dir = PathBuf::from(format!("/tmp/sbx-tst-fsnestdir-{}", std::process::id()));
    guard.dir(&dir);
    std::fs::write(dir.join("seen"), "yes\n").unwrap();
    let volume = format!("{}:/data/sub", dir.display());
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        rootfs().to_str().unwrap(),
        "-v",
        &volume,
        "--tmpfs",
        "/data",
        "--",
        "cat",
        "/data/sub/seen",
    ]);
    assert_eq!(out, "yes\n");
    assert!(
        !rootfs().join("data/sub").exists(),
        "the mount point was made in the tmpfs, not in the rootfs"
    );
}
