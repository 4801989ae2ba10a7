//! A rootfs shared with someone hostile (another sandbox using the same
//! directory) cannot make sbx create or mount anything on the host by
//! swapping a path component for a symlink while sbx works on it
//! (issue 8, item 2).

mod common;
use common::*;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

fn rootfs() -> PathBuf {
    busybox_rootfs()
}

/// Stops the racer and removes the test's folders, even on a panic.
struct Guard {
    stop: Arc<AtomicBool>,
    racer: Option<std::thread::JoinHandle<()>>,
    base: PathBuf,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(racer) = self.racer.take() {
            let _ = racer.join();
        }
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// The binary raced: sbx, or another build named by `SBX_RACE_BIN` (to
/// show the race on an older sbx).
fn sbx_under_test(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let bin = std::env::var("SBX_RACE_BIN").unwrap_or_else(|_| SBX.to_string());
    std::process::Command::new(bin)
        .env("SBX_ROOT", &env.root)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run sbx")
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

#[test]
fn a_swapped_path_component_never_leads_sbx_onto_the_host() {
    let env = TestEnv::new("mrace");
    let base = PathBuf::from(format!("/tmp/sbx-tst-mracedir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let shared = base.join("shared");
    let host_dir = base.join("host");
    let source = base.join("src");
    std::fs::create_dir_all(&host_dir).unwrap();
    std::fs::create_dir_all(&source).unwrap();
    let out = host(
        "cp",
        &["-a", rootfs().to_str().unwrap(), shared.to_str().unwrap()],
    );
    assert!(out.status.success(), "cp: {}", text(&out.stderr));
    // mnt/x is a real folder, mnt/evil a link to a host folder; the racer
    // exchanges the two names as fast as it can.
    let real = shared.join("mnt/x");
    let evil = shared.join("mnt/evil");
    std::fs::create_dir_all(&real).unwrap();
    std::os::unix::fs::symlink(&host_dir, &evil).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let racer = {
        let (stop, swaps) = (stop.clone(), swaps.clone());
        let (a, b) = (c_path(&real), c_path(&evil));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: two NUL-terminated paths alive for the call.
                let rc = unsafe {
                    libc::renameat2(
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(rc, 0, "renameat2: {}", std::io::Error::last_os_error());
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let _guard = Guard {
        stop,
        racer: Some(racer),
        base: base.clone(),
    };

    let launches = 300;
    let mut failed = Vec::new();
    for i in 0..launches {
        // A new target each time, so every launch has to create it.
        let volume = format!("{}:/mnt/x/newdir{i}", source.display());
        let out = sbx_under_test(
            &env,
            &[
                "run",
                "--network",
                "none",
                "--rootfs",
                shared.to_str().unwrap(),
                "-v",
                &volume,
                "--",
                "true",
            ],
        );
        if !out.status.success() {
            failed.push(format!("{:?}: {}", out.status.code(), text(&out.stderr)));
        }
        let leaked = list(&host_dir);
        assert!(
            leaked.is_empty(),
            "launch {i} created {leaked:?} in the host folder the link points to"
        );
    }
    assert!(
        swaps.load(Ordering::Relaxed) > 1000,
        "the racer really raced"
    );
    assert!(list(&source).is_empty(), "nothing written into the source");
    eprintln!("{} of {launches} launches failed: {failed:?}", failed.len());
    // The race may make sbx refuse a launch, never misplace a mount point;
    // most launches go through (so the loop above was not vacuous).
    assert!(
        failed.len() < launches / 10,
        "{} of {launches} launches failed: {failed:?}",
        failed.len()
    );
}
