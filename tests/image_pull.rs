//! `sbx image pull` from a registry the test starts on 127.0.0.1 (Debian's
//! docker-registry, its own storage and config), the image pushed there
//! with skopeo from an OCI layout built by the test; then run.

mod common;
mod imgbuild;
use common::*;
use imgbuild::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A registry process and its folder: killed by PID and removed on drop.
struct Registry {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Registry {
    fn start(dir: PathBuf) -> Self {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        // A free port: the kernel picks one, the registry takes it next.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        std::fs::write(dir.join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(dir.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry)");
        let registry = Registry { child, dir, port };
        let up = wait_until(20, || {
            std::net::TcpStream::connect_timeout(
                &format!("127.0.0.1:{port}").parse().unwrap(),
                Duration::from_millis(200),
            )
            .is_ok()
        });
        assert!(up, "the registry did not start on 127.0.0.1:{port}");
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn an_image_pushed_to_a_local_registry_is_pulled_and_runs() {
    let env = TestEnv::new("imgpull");
    let base = format!("/tmp/sbx-tst-imgpull-{}", std::process::id());
    let registry = Registry::start(PathBuf::from(format!("{base}-registry")));
    let work = PathBuf::from(format!("{base}-work"));
    let store = PathBuf::from(format!("{base}-store"));
    struct Dirs(Vec<PathBuf>);
    impl Drop for Dirs {
        fn drop(&mut self) {
            for d in &self.0 {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    let _dirs = Dirs(vec![work.clone(), store.clone()]);
    let layout = work.join("layout");
    Image::busybox().oci_layout(&layout, json!({"org.opencontainers.image.ref.name": "v1"}));
    let reference = format!("127.0.0.1:{}/test/pulled:v1", registry.port);
    let push = host(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            &format!("oci:{}:v1", layout.display()),
            &format!("docker://{reference}"),
        ],
    );
    assert!(push.status.success(), "skopeo copy: {}", text(&push.stderr));

    let store_arg = store.to_str().unwrap();
    let out = env.ok(&["--image-store", store_arg, "image", "pull", &reference]);
    assert_eq!(out, format!("Pulled image: {reference}\n"));
    let out = env.ok(&[
        "--image-store",
        store_arg,
        "run",
        "--network",
        "none",
        "--image",
        &reference,
    ]);
    assert_eq!(out, "cmd-ran hello /app 0\nadded\n");
    // Pulled again: nothing new to unpack, the same one image.
    env.ok(&["--image-store", store_arg, "image", "pull", &reference]);
    let ls: Vec<serde_json::Value> =
        serde_json::from_str(&env.ok(&["--image-store", store_arg, "image", "ls", "--json"]))
            .unwrap();
    assert_eq!(ls.len(), 1);
    assert_eq!(list(&store.join("layers")).len(), 2);
    // A tag the registry lacks: one line, 125, nothing left behind.
    let missing = format!("127.0.0.1:{}/test/pulled:nope", registry.port);
    let out = env.sbx(&["--image-store", store_arg, "image", "pull", &missing]);
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.starts_with(&format!("sbx: pull {missing}: ")), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(list(&store.join("tmp")).is_empty());
}
