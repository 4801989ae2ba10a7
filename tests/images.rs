//! Images (SPEC "Images"): `sbx image load` of the three forms, `run
//! --image` on an overlay root with the config applied, layers shared and
//! never written, upper layers gone with their sandboxes, `image rm`'s
//! refusal, hostile input refused with the store unchanged, and a load
//! killed midway leaving nothing trusted.

mod common;
mod imgbuild;
mod imgenv;
use common::*;
use imgbuild::*;
use imgenv::*;
use serde_json::json;
use std::path::{Path, PathBuf};

#[test]
fn three_forms_load_and_run_with_the_image_config() {
    let e = ImgEnv::new("imgfmt");
    let layout = e.layout("test/oci-dir:v1");
    assert!(e.load(&layout).contains("Loaded image: test/oci-dir:v1"));
    let archive = e.work.join("oci.tar");
    Image::busybox().oci_archive(&archive, json!({"io.containerd.image.name": "test/oci-tar:v2", "org.opencontainers.image.ref.name": "v2"}));
    assert!(e.load(&archive).contains("Loaded image: test/oci-tar:v2"));
    let docker = e.work.join("docker.tar");
    // Several RepoTags: every one names the image, as docker load does.
    Image::busybox().docker_archive(&docker, "test/docker:v3,docker.io/library/dockr:v4");
    let loaded = e.load(&docker);
    assert!(
        loaded.contains("Loaded image: test/docker:v3\nLoaded image: dockr:v4\n"),
        "{loaded}"
    );

    let mut zstd = Image::busybox();
    zstd.zstd = true;
    let dir = e.work.join("zstd-layout");
    zstd.oci_layout(
        &dir,
        json!({"org.opencontainers.image.ref.name": "test/zstd:v4"}),
    );
    assert!(e.load(&dir).contains("Loaded image: test/zstd:v4"));

    let ls = e.ls();
    let names: Vec<&str> = ls.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "dockr:v4",
            "test/docker:v3",
            "test/oci-dir:v1",
            "test/oci-tar:v2",
            "test/zstd:v4"
        ]
    );
    for image in &ls {
        assert!(
            image["id"].as_str().unwrap().starts_with("sha256:"),
            "{image}"
        );
        assert!(
            image["digest"].as_str().unwrap().starts_with("sha256:"),
            "{image}"
        );
        assert!(image["size"].as_u64().unwrap() > 100_000, "{image}");
        assert_eq!(image["created"], "2026-12-01T00:00:00Z");
    }
    // Set-id binaries of images stay out of reach of the host's users.
    use std::os::unix::fs::PermissionsExt;
    for sub in ["layers", "tmp"] {
        let mode = std::fs::metadata(e.store.join(sub))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{sub}");
    }
    // The same two layers, by diff_id, whatever form they came in.
    assert_eq!(list(&e.store.join("layers")).len(), 2);
    let table = e.ok(&["image", "ls"]);
    assert!(
        table.starts_with("NAME") && table.contains("test/oci-tar:v2"),
        "{table}"
    );

    for name in names {
        // Entrypoint + Cmd, Env, WorkingDir; the whiteout hides /etc/doomed.
        let out = e.ok(&["run", "--network", "none", "--image", name]);
        assert_eq!(out, "cmd-ran hello /app 0\nadded\n", "{name}");
    }
    // An opaque folder hides what lower layers had in it.
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--image",
        "test/zstd:v4",
        "--",
        "ls /opq",
    ]);
    assert_eq!(out, "new\n");
    // -e wins over the image's Env; COMMAND replaces Cmd, keeps Entrypoint.
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "-e",
        "GREETING=bye",
        "-w",
        "/tmp",
        "--image",
        "test/oci-dir:v1",
        "--",
        "echo $GREETING $(pwd)",
    ]);
    assert_eq!(out, "bye /tmp\n");
    // --entrypoint replaces the Entrypoint (and Cmd with it).
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--image",
        "test/oci-dir:v1",
        "--entrypoint",
        "/bin/cat",
        "--",
        "/etc/added",
    ]);
    assert_eq!(out, "added\n");
    let inspect: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "test/oci-dir:v1"])).unwrap();
    assert_eq!(inspect["config"]["config"]["WorkingDir"], "/app");
    assert_eq!(inspect["layers"].as_array().unwrap().len(), 2);
}

#[test]
fn sandboxes_share_the_layers_and_write_only_their_own_upper() {
    let e = ImgEnv::new("imgshr");
    e.load(&e.layout("test/share:v1"));
    let before = listing(&e.store);
    let run = |name: &str, script: &str| {
        e.ok(&[
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "--image",
            "test/share:v1",
            "--",
            script,
        ])
    };
    run(
        "ia",
        "echo changed > /etc/added; echo new > /newfile; exec sleep 60",
    );
    run("ib", "exec sleep 60");
    for n in ["ia", "ib"] {
        e.env.wait_running(n);
    }
    let upper = e.env.root.join("sandboxes/ia/rootfs/upper");
    assert!(
        wait_until(10, || upper.join("newfile").exists()),
        "no write in ia's upper"
    );
    // B sees the image as it is; the store is untouched.
    let out = e.ok(&[
        "exec",
        "ib",
        "--",
        "/bin/sh",
        "-c",
        "cat /etc/added; test -e /newfile || echo no-newfile",
    ]);
    assert_eq!(out, "added\nno-newfile\n");
    let layer_added = list(&e.store.join("layers"))
        .iter()
        .map(|l| e.store.join("layers").join(l).join("etc/added"))
        .find(|p| p.exists())
        .unwrap();
    assert_eq!(std::fs::read_to_string(&layer_added).unwrap(), "added\n");
    assert_eq!(before, listing(&e.store));

    // Both sleeps map the store's one busybox file: the overlay shows it
    // under its own device number but with the real file's inode, and
    // maps it from the store's copy (one copy on disk and in page cache).
    let store_bb = list(&e.store.join("layers"))
        .iter()
        .map(|l| e.store.join("layers").join(l).join("bin/busybox"))
        .find(|p| p.exists())
        .unwrap();
    let want = nix::sys::stat::stat(&store_bb).unwrap().st_ino;
    for n in ["ia", "ib"] {
        let init = e.env.inspect(n)["pid"].as_i64().unwrap();
        let children =
            std::fs::read_to_string(format!("/proc/{init}/task/{init}/children")).unwrap();
        let child = children.split_whitespace().next().unwrap();
        let maps = std::fs::read_to_string(format!("/proc/{child}/maps")).unwrap();
        let line = maps.lines().find(|l| l.ends_with("/bin/busybox")).unwrap();
        let ino: u64 = line.split_whitespace().nth(4).unwrap().parse().unwrap();
        assert_eq!(ino, want, "{n} maps another busybox: {line}");
        let inside = e.ok(&["exec", n, "--", "/bin/stat", "-c", "%i", "/bin/busybox"]);
        assert_eq!(inside.trim(), want.to_string(), "{n}");
    }

    // image rm is refused while a sandbox uses the image, naming it.
    let out = e.sbx(&["image", "rm", "test/share:v1"]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert!(
        err.starts_with("sbx: ") && err.contains("used by sandboxes ia, ib"),
        "{err}"
    );
    // The upper layer goes with the record.
    e.ok(&["rm", "-f", "ia", "ib"]);
    assert!(!upper.exists() && !e.env.root.join("sandboxes/ia").exists());
    e.ok(&["image", "rm", "test/share:v1"]);
    assert!(e.ls().is_empty());
    assert!(list(&e.store.join("layers")).is_empty());
    assert!(list(&e.store.join("blobs/sha256")).is_empty());
}

#[test]
fn a_foreground_sandbox_leaves_no_upper_and_read_only_works() {
    let e = ImgEnv::new("imgfg");
    e.load(&e.layout("test/fg:v1"));
    // A volume onto a path the image lacks: made in the upper layer.
    let vol = e.work.join("vol");
    std::fs::create_dir_all(&vol).unwrap();
    let spec = format!("{}:/data/vol", vol.display());
    e.ok(&[
        "run",
        "--name",
        "fg1",
        "--network",
        "none",
        "-v",
        &spec,
        "--image",
        "test/fg:v1",
        "--",
        "echo x > /x; echo v > /data/vol/v",
    ]);
    assert_eq!(std::fs::read_to_string(vol.join("v")).unwrap(), "v\n");
    assert!(!e.env.root.join("sandboxes/fg1").exists());
    let out = e.sbx(&[
        "run",
        "--network",
        "none",
        "--read-only",
        "--image",
        "test/fg:v1",
        "--",
        "cat /etc/added; echo x > /y",
    ]);
    assert_eq!(text(&out.stdout), "added\n");
    // Nothing of a read-only sandbox reaches the disk: its upper layer is
    // a tmpfs of its own.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ro1",
        "--network",
        "none",
        "--read-only",
        "--image",
        "test/fg:v1",
        "--",
        "exec sleep 60",
    ]);
    e.env.wait_running("ro1");
    let upper = e.env.root.join("sandboxes/ro1/rootfs/upper");
    assert!(list(&upper).is_empty(), "{:?}", list(&upper));
    e.ok(&["rm", "-f", "ro1"]);
    // A working directory the image lacks is made before the root goes
    // read-only, as Docker does; the root stays read-only.
    let made = e.ok(&[
        "run",
        "--network",
        "none",
        "--read-only",
        "-w",
        "/work/here",
        "--image",
        "test/fg:v1",
        "--",
        "pwd; touch /work/here/x 2>&1 || echo ro",
    ]);
    assert!(
        made.starts_with("/work/here\n") && made.ends_with("ro\n"),
        "{made}"
    );
    assert!(
        stderr_of(&out).contains("Read-only file system"),
        "{}",
        stderr_of(&out)
    );
    // A user: numeric, or by name from the image's /etc/passwd.
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--image",
        "test/fg:v1",
        "--",
        "id -u; id -g",
    ]);
    assert_eq!(out, "0\n0\n");
}

#[test]
fn the_image_user_is_applied() {
    let e = ImgEnv::new("imgusr");
    let mut image = Image::busybox();
    image.run["User"] = json!("worker");
    let dir = e.work.join("user-layout");
    image.oci_layout(
        &dir,
        json!({"org.opencontainers.image.ref.name": "test/user:v1"}),
    );
    e.load(&dir);
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--image",
        "test/user:v1",
        "--",
        "id -u; id -g; id -G; echo $HOME",
    ]);
    // Supplementary groups from the image's /etc/group and HOME from its
    // /etc/passwd, as Docker sets them.
    assert_eq!(out, "1234\n4321\n4321 50 60\n/app\n");
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "-e",
        "HOME=/elsewhere",
        "--image",
        "test/user:v1",
        "--",
        "echo $HOME",
    ]);
    assert_eq!(out, "/elsewhere\n");
    // sbx exec runs as the image's user too, as docker exec does.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "us1",
        "--network",
        "none",
        "--image",
        "test/user:v1",
        "--",
        "exec sleep 60",
    ]);
    e.env.wait_running("us1");
    assert_eq!(e.ok(&["exec", "us1", "--", "/bin/id", "-u"]), "1234\n");
    assert_eq!(
        e.ok(&["exec", "us1", "--", "/bin/id", "-G"]),
        "4321 50 60\n"
    );
}

#[test]
fn rootfs_overlay_keeps_the_rootfs_pristine() {
    let e = ImgEnv::new("imgrov");
    let rootfs = busybox_rootfs();
    let marker = format!("sbx-rov-{}", std::process::id());
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--rootfs-overlay",
        "--",
        "/bin/sh",
        "-c",
        &format!("echo hi > /{marker}; cat /{marker}"),
    ]);
    assert_eq!(out, "hi\n");
    assert!(!rootfs.join(&marker).exists());
}

/// Loads `layout` and expects a refusal naming `what`, with the store as it was.
fn refused(e: &ImgEnv, input: &Path, what: &str) {
    let before = listing(&e.store);
    let out = e.sbx(&["image", "load", input.to_str().unwrap()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.starts_with("sbx: ") && err.contains(what),
        "{what} not in: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(before, listing(&e.store), "the store changed");
}

/// A layout whose top layer is `entries` (the base layer is busybox's).
fn hostile_layout(e: &ImgEnv, tag: &str, entries: &[Ent]) -> PathBuf {
    let mut image = Image::busybox();
    image.layers[1] = (tar(entries), true);
    let dir = e.work.join(format!("hostile-{tag}"));
    image.oci_layout(
        &dir,
        json!({"org.opencontainers.image.ref.name": format!("test/hostile:{tag}")}),
    );
    dir
}

#[test]
fn hostile_images_are_refused_and_the_store_stays_as_it_was() {
    let e = ImgEnv::new("imghost");
    e.load(&e.layout("test/good:v1"));

    // A blob that does not match its digest.
    let dir = e.work.join("bad-digest");
    let written = Image::busybox().oci_layout(
        &dir,
        json!({"org.opencontainers.image.ref.name": "test/bad:v1"}),
    );
    let (layer, _) = written.iter().find(|(_, l)| *l).unwrap();
    let path = dir
        .join("blobs/sha256")
        .join(layer.strip_prefix("sha256:").unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(0);
    std::fs::write(&path, bytes).unwrap();
    refused(&e, &dir, layer);

    let file = |n: &str| Ent::File(n.into(), b"x".to_vec(), 0o644);
    refused(
        &e,
        &hostile_layout(&e, "dotdot", &[file("../escaped")]),
        "../escaped",
    );
    refused(
        &e,
        &hostile_layout(&e, "abs", &[file("/etc/abs")]),
        "/etc/abs",
    );
    let outside = e.work.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let link = hostile_layout(
        &e,
        "link",
        &[
            Ent::Symlink("evil".into(), outside.to_str().unwrap().into()),
            file("evil/pwned"),
        ],
    );
    refused(&e, &link, "evil/pwned");
    assert!(!outside.join("pwned").exists());
    let hard = hostile_layout(
        &e,
        "hard",
        &[Ent::Link("h".into(), "../../etc/shadow".into())],
    );
    refused(&e, &hard, "../../etc/shadow");
    refused(
        &e,
        &hostile_layout(&e, "wh", &[file("etc/.wh..")]),
        "etc/.wh..",
    );
    // A base layer cut short, whose digest is that of the cut bytes, while
    // the store already holds that layer whole (from test/good): refused.
    let cut = e.work.join("cut");
    let mut image = Image::busybox();
    image.cut = Some((0, 5000));
    image.oci_layout(
        &cut,
        json!({"org.opencontainers.image.ref.name": "test/cut:v1"}),
    );
    refused(&e, &cut, "layer sha256:");
    // Still only the good image, and it still runs.
    assert_eq!(e.ls().len(), 1);
    let out = e.ok(&["run", "--network", "none", "--image", "test/good:v1"]);
    assert!(out.contains("cmd-ran"), "{out}");
}

#[test]
fn a_load_killed_midway_leaves_nothing_trusted() {
    let e = ImgEnv::new("imgcrash");
    let layout = e.layout("test/crash:v1");
    let crash = |step: &str| {
        let out = e
            .env
            .cmd(&e.args(&["image", "load", layout.to_str().unwrap()]))
            .env("SBX_CRASH_AT", step)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), None, "{step}: not killed");
        assert!(e.ls().is_empty(), "{step}: a name after a crash");
    };
    // Killed with the layers unpacked in tmp/: nothing else is there.
    crash("image-unpacked");
    assert_eq!(
        list(&e.store.join("tmp")).len(),
        2,
        "the crash left no temp folders"
    );
    assert!(list(&e.store.join("layers")).is_empty());
    // Killed after the layers moved into place (complete and verified:
    // trusted and reused), before the name: still no image.
    crash("image-layers");
    assert_eq!(list(&e.store.join("layers")).len(), 2);
    e.load(&layout);
    assert!(
        list(&e.store.join("tmp")).is_empty(),
        "the next load did not sweep"
    );
    let out = e.ok(&["run", "--network", "none", "--image", "test/crash:v1"]);
    assert_eq!(out, "cmd-ran hello /app 0\nadded\n");
}

#[test]
fn image_errors_are_one_line() {
    let e = ImgEnv::new("imgerr");
    let out = e.sbx(&["run", "--network", "none", "--image", "no/such:v1"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("no image no/such:v1"),
        "{}",
        stderr_of(&out)
    );
    let out = e.sbx(&["image", "load", "/nonexistent/image.tar"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).starts_with("sbx: open /nonexistent/image.tar"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn inspect_names_the_image_and_prune_sweeps_a_crashed_sandboxs_upper() {
    let e = ImgEnv::new("imgprn");
    e.load(&e.layout("test/prune:v1"));
    let out = e
        .env
        .cmd(&e.args(&[
            "run",
            "--name",
            "crashed",
            "--network",
            "none",
            "--image",
            "test/prune:v1",
            "--",
            "sleep 30",
        ]))
        .env("SBX_CRASH_AT", "running")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), None, "not killed: {}", stderr_of(&out));
    let upper = e.env.root.join("sandboxes/crashed/rootfs/upper");
    assert!(upper.is_dir(), "no upper layer for the crashed sandbox");
    let inspect = e.env.inspect("crashed");
    assert_eq!(inspect["spec"]["image"]["name"], "test/prune:v1");
    assert_eq!(inspect["spec"]["overlay"].as_array().unwrap().len(), 2);
    assert!(wait_until(10, || e.env.status("crashed").as_deref() == Some("exited")));
    e.ok(&["prune"]);
    assert!(
        !e.env.root.join("sandboxes/crashed").exists(),
        "prune left the upper layer"
    );
    // Nothing uses the image any more.
    e.ok(&["image", "rm", "test/prune:v1"]);
}

#[test]
fn a_restarted_image_sandbox_keeps_its_upper_layer() {
    let e = ImgEnv::new("imgrst");
    e.load(&e.layout("test/restart:v1"));
    e.ok(&[
        "run",
        "-d",
        "--name",
        "rs1",
        "--network",
        "none",
        "--image",
        "test/restart:v1",
        "--",
        "echo x >> /state; exec sleep 60",
    ]);
    e.env.wait_running("rs1");
    let state = e.env.root.join("sandboxes/rs1/rootfs/upper/state");
    assert!(wait_until(10, || state.exists()));
    e.ok(&["restart", "-t", "1", "rs1"]);
    e.env.wait_running("rs1");
    assert!(wait_until(10, || {
        std::fs::read_to_string(&state).is_ok_and(|s| s == "x\nx\n")
    }));
    assert_eq!(e.ok(&["exec", "rs1", "--", "/bin/cat", "/state"]), "x\nx\n");
}

#[test]
fn a_docker_archive_with_linked_layers_loads_both_images() {
    let e = ImgEnv::new("imglnk");
    let image = Image::busybox();
    let config = image.config();
    let cname = format!("{}.json", &digest(&config)[7..]);
    let archive = |second: [&str; 2]| {
        let manifest = json!([
            {"Config": cname, "RepoTags": ["test/a:v1"], "Layers": ["l0/layer.tar", "l1/layer.tar"]},
            {"Config": cname, "RepoTags": ["test/b:v1"], "Layers": ["s0/layer.tar", "s1/layer.tar"]},
        ]);
        tar(&[
            Ent::File(
                "manifest.json".into(),
                serde_json::to_vec(&manifest).unwrap(),
                0o644,
            ),
            Ent::File(cname.clone(), config.clone(), 0o644),
            Ent::File("l0/layer.tar".into(), image.layers[0].0.clone(), 0o644),
            Ent::File("l1/layer.tar".into(), image.layers[1].0.clone(), 0o644),
            Ent::Symlink("s0/layer.tar".into(), second[0].into()),
            Ent::Symlink("s1/layer.tar".into(), second[1].into()),
        ])
    };
    let bad = e.work.join("linked-out.tar");
    std::fs::write(&bad, archive(["../l0/layer.tar", "../../../../etc/passwd"])).unwrap();
    let out = e.sbx(&["image", "load", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("s1/layer.tar links out of the archive"),
        "{}",
        stderr_of(&out)
    );
    let good = e.work.join("linked.tar");
    std::fs::write(&good, archive(["../l0/layer.tar", "../l1/layer.tar"])).unwrap();
    let out = e.load(&good);
    assert_eq!(out, "Loaded image: test/a:v1\nLoaded image: test/b:v1\n");
    let out = e.ok(&["run", "--network", "none", "--image", "test/b:v1"]);
    assert_eq!(out, "cmd-ran hello /app 0\nadded\n");
}

#[test]
fn image_rm_collects_what_no_image_or_sandbox_needs() {
    let e = ImgEnv::new("imggc");
    e.load(&e.layout("test/gc:v1"));
    e.ok(&[
        "run",
        "-d",
        "--name",
        "gc1",
        "--network",
        "none",
        "--image",
        "test/gc:v1",
        "--",
        "exec sleep 60",
    ]);
    e.env.wait_running("gc1");
    // The name loaded again with another top layer: the old one is named by
    // no image now, but gc1 still stands on it.
    let mut v2 = Image::busybox();
    v2.layers[1] = (
        tar(&[Ent::File("etc/v2".into(), b"v2\n".to_vec(), 0o644)]),
        true,
    );
    for name in ["test/gc:v1", "test/other:v1"] {
        let dir = e.work.join(format!("v2-{}", name.replace([':', '/'], "_")));
        v2.oci_layout(&dir, json!({"org.opencontainers.image.ref.name": name}));
        e.load(&dir);
    }
    assert_eq!(list(&e.store.join("layers")).len(), 3);
    e.ok(&["image", "rm", "test/other:v1"]);
    assert_eq!(
        list(&e.store.join("layers")).len(),
        3,
        "a layer in use was collected"
    );
    assert_eq!(
        e.ok(&["exec", "gc1", "--", "/bin/cat", "/etc/added"]),
        "added\n"
    );
    e.ok(&["rm", "-f", "gc1"]);
    e.ok(&["image", "rm", "test/gc:v1"]);
    // The image gc1 ran stays listed, unnamed, until pruned.
    assert_eq!(e.ls().len(), 1);
    assert_eq!(e.ls()[0]["name"], "<none>:<none>");
    e.ok(&["image", "prune"]);
    assert!(list(&e.store.join("layers")).is_empty());
    assert!(list(&e.store.join("blobs/sha256")).is_empty());
}

#[test]
fn a_missing_working_directory_is_made_in_the_sandboxs_own_root() {
    // The image's entrypoint is `/bin/sh -c`: the command is its script.
    let e = ImgEnv::new("imgwd");
    e.load(&e.layout("test/wd:v1"));
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--image",
        "test/wd:v1",
        "-w",
        "/made/here",
        "--",
        "pwd",
    ]);
    assert_eq!(out, "/made/here\n");
    // On the host's own root nothing is made: it is not the sandbox's.
    let out = e.sbx(&[
        "run",
        "--network",
        "none",
        "-w",
        "/no/such/sbx-dir",
        "--",
        "true",
    ]);
    assert_eq!(out.status.code(), Some(125));
    assert!(!Path::new("/no/such/sbx-dir").exists());
}

#[test]
fn names_ids_and_rm_behave_as_in_docker() {
    let e = ImgEnv::new("imgdock");
    // Docker Hub's long names take their familiar form, and every spelling
    // finds the image.
    let out = e.load(&e.layout("docker.io/library/bbx:v1"));
    assert_eq!(out, "Loaded image: bbx:v1\n");
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--image",
        "docker.io/library/bbx:v1",
    ]);
    assert!(out.contains("cmd-ran"), "{out}");
    let old_id = e.ls()[0]["id"].as_str().unwrap().to_string();

    // The same name loaded with another top layer: said, naming the old
    // image's ID, and what only the old image needed is collected.
    let mut v2 = Image::busybox();
    v2.layers[1] = (
        tar(&[Ent::File("etc/v2".into(), b"v2\n".to_vec(), 0o644)]),
        true,
    );
    let dir = e.work.join("v2");
    v2.oci_layout(&dir, json!({"org.opencontainers.image.ref.name": "bbx:v1"}));
    let out = e.load(&dir);
    let short = &old_id["sha256:".len()..][..12];
    assert_eq!(
        out,
        format!("Loaded image: bbx:v1 (replaces {short}, which no longer has a name)\n")
    );
    assert_eq!(list(&e.store.join("layers")).len(), 2, "old top layer kept");

    // An image used by two sandboxes: both named. rm of several names tries
    // each and reports, in one line, the ones that could not go.
    e.load(&e.layout("test/other:v1"));
    for n in ["u1", "u2"] {
        e.ok(&[
            "run",
            "-d",
            "--name",
            n,
            "--network",
            "none",
            "--image",
            "bbx:v1",
            "--",
            "exec sleep 60",
        ]);
    }
    let out = e.sbx(&["image", "rm", "bbx:v1", "no/such:v9", "test/other:v1"]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("2 images not removed"), "{err}");
    assert!(err.contains("used by sandboxes u1, u2"), "{err}");
    assert!(err.contains("no image no/such:v9"), "{err}");
    let removed = text(&out.stdout);
    assert!(
        removed.starts_with("Untagged: test/other:v1\nDeleted: sha256:"),
        "{removed}"
    );
    e.ok(&["rm", "-f", "u1", "u2"]);

    // By a prefix of its ID, as Docker allows.
    let id = e.ls()[0]["id"].as_str().unwrap().to_string();
    let out = e.ok(&["image", "rm", &id["sha256:".len()..][..8]]);
    assert_eq!(out, format!("Untagged: bbx:v1\nDeleted: {id}\n"));
    assert!(e.ls().is_empty());
    assert!(list(&e.store.join("layers")).is_empty());
}

#[test]
fn input_that_is_no_image_is_named_as_such() {
    let e = ImgEnv::new("imgnotar");
    // Not a tar at all: said in words, without the bytes it choked on.
    let junk = e.work.join("notes.txt");
    std::fs::write(&junk, "root:x:0:0:root:/root:/bin/sh\n".repeat(40)).unwrap();
    let out = e.sbx(&["image", "load", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert!(
        err.starts_with("sbx: ") && err.contains("is not a tar archive"),
        "{err}"
    );
    assert!(!err.contains("root:x"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // A descriptor whose size is not its blob's: refused before reading it.
    let dir = e.layout("test/size:v1");
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let size = index["manifests"][0]["size"].as_u64().unwrap();
    index["manifests"][0]["size"] = json!(size + 1);
    std::fs::write(&index_path, index.to_string()).unwrap();
    let out = e.sbx(&["image", "load", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert!(
        err.contains(&format!("descriptor says {}", size + 1)),
        "{err}"
    );
    assert!(e.ls().is_empty());
}

#[test]
fn a_name_pinned_to_a_digest_must_match_the_content() {
    let e = ImgEnv::new("imgpin");
    let dir = e.work.join("pinned");
    let wrong = format!("test/pin@sha256:{}", "0".repeat(64));
    Image::busybox().oci_layout(&dir, json!({"org.opencontainers.image.ref.name": wrong}));
    let out = e.sbx(&["image", "load", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(125));
    let err = stderr_of(&out);
    assert!(err.contains("pinned to a digest"), "{err}");
    assert!(e.ls().is_empty(), "nothing loaded");

    // The right digest (the manifest's, as index.json lists it) loads, and
    // runs by that name.
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let right = format!("test/pin@{digest}");
    index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = json!(right);
    std::fs::write(&index_path, index.to_string()).unwrap();
    assert_eq!(e.load(&dir), format!("Loaded image: {right}\n"));
    let out = e.ok(&["run", "--network", "none", "--image", &right]);
    assert!(out.contains("cmd-ran"), "{out}");

    // The same image under a second name: its ID still names it.
    e.load(&e.layout("test/pin2:v1"));
    let id = e.ls()[0]["id"].as_str().unwrap().to_string();
    let out = e.ok(&["run", "--network", "none", "--image", &id]);
    assert!(out.contains("cmd-ran"), "{out}");
}
