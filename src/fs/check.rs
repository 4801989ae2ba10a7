//! Mount points checked in the parent, before any namespace exists, so the
//! usual mistakes (a `--tmpfs` onto a file, a volume under a file, a folder
//! onto a file, a target that is the root) are one line and exit 125
//! instead of a failure inside the sandbox's init (issue 8, item 10). The
//! init checks again (the rootfs may change in between): this is only the
//! early, friendly answer.

use super::at::{self, Kind};
use super::plan::{FsPlan, is_root, is_under_any};
use anyhow::{Result, bail};
use nix::errno::Errno;
use std::path::{Component, Path, PathBuf};

/// The mounts sbx makes itself in every sandbox, which no volume or tmpfs
/// may replace or go inside (Docker refuses /proc too): a target at or
/// under one of these fails late and unclearly in the init otherwise.
/// `(path, under)`: `under` also refuses every path below it; /dev itself
/// is sbx's (a tmpfs with a rootfs), but other paths below it may be used.
const RESERVED: [(&str, bool); 6] = [
    ("/proc", true),
    ("/sys", true),
    ("/dev", false),
    ("/dev/pts", true),
    ("/dev/shm", true),
    ("/dev/mqueue", true),
];

/// `path` with `.`, `..` and repeated slashes resolved lexically, `..`
/// stopping at the root as it does inside a sandbox.
fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Refuses a target at or under a mount sbx makes itself ([`RESERVED`]).
/// `what` names it for the message (`volume target /proc`).
fn not_reserved(target: &Path, what: &str) -> Result<()> {
    let path = lexical(target);
    for (dir, under) in RESERVED {
        let dir = Path::new(dir);
        if path == dir || (under && path.starts_with(dir)) {
            bail!(
                "{what}: sbx mounts the sandbox's own {} there: pick another target",
                dir.display()
            );
        }
    }
    Ok(())
}

/// Checks every volume and tmpfs target of `plan` against the root it will
/// be mounted in (the rootfs, or the host's root). Targets inside a mount
/// sbx makes first (/proc, /sys, a rootfs's /dev, the host's /dev/shm and
/// friends, another volume or tmpfs) cannot be judged yet and are skipped.
pub fn targets(plan: &FsPlan) -> Result<()> {
    let in_rootfs = plan.rootfs.is_some();
    let root = at::open_root(plan.rootfs.as_deref().unwrap_or(Path::new("/")))?;
    let mut fresh = vec![Path::new("/proc"), Path::new("/sys")];
    if in_rootfs {
        fresh.push(Path::new("/dev"));
    } else {
        fresh.extend(["/dev/pts", "/dev/shm", "/dev/mqueue"].map(Path::new));
    }
    for dir in &plan.tmpfs {
        if is_root(dir) {
            bail!("--tmpfs / would hide the whole root: choose a directory such as /tmp");
        }
    }
    let mut targets: Vec<(&Path, Kind, String)> = plan
        .volumes
        .iter()
        .map(|v| {
            let kind = if v.source.is_dir() {
                Kind::Dir
            } else {
                Kind::File
            };
            let what = format!("volume {}:{}", v.source.display(), v.target.display());
            (v.target.as_path(), kind, what)
        })
        .collect();
    targets.extend(
        plan.tmpfs
            .iter()
            .map(|t| (t.as_path(), Kind::Dir, format!("--tmpfs {}", t.display()))),
    );
    for v in &plan.volumes {
        not_reserved(&v.target, &format!("volume target {}", v.target.display()))?;
    }
    for t in &plan.tmpfs {
        not_reserved(t, &format!("--tmpfs {}", t.display()))?;
    }
    if plan.rootfs.is_none() && !plan.overlay.is_empty() {
        // An image's root exists only once its overlay is mounted: the
        // init makes the mount points in the upper layer and checks there.
        return Ok(());
    }
    let covers: Vec<&Path> = targets.iter().map(|(p, _, _)| *p).collect();
    for (target, kind, what) in &targets {
        if is_under_any(target, &covers) || is_under_any(target, &fresh) {
            continue;
        }
        let fd = match at::resolve(&root, target) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) if in_rootfs => continue,
            Err(e) => bail!("{what}: {:#}", at::lookup_error(target, e)),
        };
        if at::same_file(&fd, &root)? {
            bail!(
                "{what}: {} is the sandbox's root: nothing can be mounted on /; choose another target",
                target.display()
            );
        }
        if let Err(e) = at::check_kind(fd, target, *kind) {
            bail!("{what}: {e:#}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::plan::Volume;

    #[test]
    fn bad_targets_are_named_before_launch() {
        let base = std::env::temp_dir().join(format!("sbx-unit-check-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(root.join("etc/hosts"), "").unwrap();
        std::os::unix::fs::symlink("/", root.join("up")).unwrap();
        let file = base.join("file");
        std::fs::write(&file, "").unwrap();
        let dir = base.join("dir");
        std::fs::create_dir(&dir).unwrap();
        let plan = |volumes: &[(&Path, &str)], tmpfs: &[&str]| FsPlan {
            rootfs: Some(root.clone()),
            volumes: volumes
                .iter()
                .map(|(s, t)| Volume {
                    source: s.to_path_buf(),
                    target: t.into(),
                    read_only: false,
                    ..Volume::default()
                })
                .collect(),
            read_only: false,
            tmpfs: tmpfs.iter().map(Into::into).collect(),
            ..FsPlan::default()
        };
        let err = |p: FsPlan| targets(&p).unwrap_err().to_string();
        assert!(
            err(plan(&[], &["/etc/hosts"]))
                .contains("--tmpfs /etc/hosts: mount point /etc/hosts is a file")
        );
        assert!(err(plan(&[(&dir, "/etc/hosts/x")], &[])).contains("a part of the path is a file"));
        assert!(err(plan(&[(&dir, "/etc/hosts")], &[])).contains("is a file, but a directory"));
        assert!(err(plan(&[(&file, "/etc")], &[])).contains("is a directory, but a file"));
        assert!(err(plan(&[(&dir, "/up")], &[])).contains("is the sandbox's root"));
        // Fine: missing targets (made in the rootfs), matching kinds, and
        // targets inside another mount.
        targets(&plan(
            &[(&dir, "/new/dir"), (&file, "/etc/hosts")],
            &["/tmp"],
        ))
        .unwrap();
        targets(&plan(&[(&dir, "/data")], &["/data/etc/hosts/x", "/dev/x"])).unwrap();
        // sbx's own mounts, and anything under them, are refused.
        for t in [
            "/proc",
            "/proc/x",
            "/sys/fs",
            "/dev",
            "/dev/shm",
            "/dev/pts/0",
            "/dev/mqueue",
        ] {
            let e = err(plan(&[(&dir, t)], &[]));
            assert!(
                e.starts_with(&format!(
                    "volume target {t}: sbx mounts the sandbox's own /"
                )),
                "{e}"
            );
            assert!(e.ends_with("there: pick another target"), "{e}");
            let e = err(plan(&[], &[t]));
            assert!(e.starts_with(&format!("--tmpfs {t}: sbx mounts")), "{e}");
        }
        assert!(err(plan(&[(&dir, "//proc/./")], &[])).contains("own /proc there"));
        assert!(err(plan(&[(&dir, "/x/../../sys")], &[])).contains("own /sys there"));
        assert!(err(plan(&[], &["/dev/"])).contains("own /dev there"));
        // Near misses are not sbx's.
        targets(&plan(&[(&dir, "/procx"), (&dir, "/dev/x")], &["/system"])).unwrap();
        // Without a rootfs, a missing target is refused too.
        let mut host = plan(&[(&dir, "/no/such/sbx-dir")], &[]);
        host.rootfs = None;
        assert!(err(host).contains("does not exist on the host root"));
        std::fs::remove_dir_all(&base).unwrap();
    }
}
