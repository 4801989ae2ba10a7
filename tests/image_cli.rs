//! The `sbx image` command line as a Docker user expects it (SPEC
//! "Images", a fresh-user review): names without a tag mean `:latest` and
//! Docker Hub's spellings agree; `image tag`, `sbx images`, `ls -q`,
//! `rm -f`, `load -i` and stdin, `run -u`; an image replaced while in use
//! stays listed as `<none>:<none>` until pruned; broken input said in
//! words; sizes as Docker prints them.

mod common;
mod imgbuild;
mod imgenv;
use common::*;
use imgbuild::*;
use imgenv::*;
use serde_json::json;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

/// `sbx image load` of `input` refused with one line containing `what`.
fn load_refused(e: &ImgEnv, input: &Path, what: &str) -> String {
    let out = e.sbx(&["image", "load", input.to_str().unwrap()]);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.starts_with("sbx: ") && err.contains(what),
        "{what} not in: {err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

/// A run that must fail with exit 125 and one line containing `what`.
fn refused(e: &ImgEnv, args: &[&str], what: &str) {
    let out = e.sbx(args);
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
    assert!(err.contains(what), "{args:?}: {what} not in: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// The image whose top layer writes /etc/v2: another image of busybox.
fn v2() -> Image {
    let mut v2 = Image::busybox();
    v2.layers[1] = (
        tar(&[Ent::File("etc/v2".into(), b"v2\n".to_vec(), 0o644)]),
        true,
    );
    v2
}

/// A detached sandbox on `image` that sleeps, waited for.
fn sleeper(e: &ImgEnv, name: &str, image: &str) {
    e.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "--image",
        image,
        "--",
        "exec sleep 60",
    ]);
    e.env.wait_running(name);
}

#[test]
fn a_name_without_a_tag_means_latest_and_hub_spellings_agree() {
    let e = ImgEnv::new("imgltst");
    // A bare name in org.opencontainers.image.ref.name (skopeo's oci:DIR:NAME).
    assert_eq!(
        e.load(&e.layout("bbnotag")),
        "Loaded image: bbnotag:latest\n"
    );
    assert_eq!(
        e.load(&e.layout("localhost:5000/x")),
        "Loaded image: localhost:5000/x:latest\n"
    );
    let docker = e.work.join("docker.tar");
    Image::busybox().docker_archive(&docker, "library/dk");
    assert_eq!(e.load(&docker), "Loaded image: dk:latest\n");
    let names: Vec<String> = e
        .ls()
        .iter()
        .map(|i| i["name"].as_str().unwrap().into())
        .collect();
    assert_eq!(
        names,
        ["bbnotag:latest", "dk:latest", "localhost:5000/x:latest"]
    );
    for spelling in [
        "bbnotag",
        "bbnotag:latest",
        "library/bbnotag",
        "docker.io/bbnotag",
        "docker.io/library/bbnotag:latest",
    ] {
        let out = e.ok(&["run", "--network", "none", "--image", spelling]);
        assert!(out.contains("cmd-ran"), "{spelling}: {out}");
    }
    let inspect: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "inspect", "localhost:5000/x"])).unwrap();
    assert_eq!(inspect["name"], "localhost:5000/x:latest");
    // The same image as bbnotag: only the name goes. dk's manifest is its
    // own (made from docker save's): the image goes.
    let out = e.ok(&["image", "rm", "localhost:5000/x", "docker.io/library/dk"]);
    assert!(
        out.starts_with("Untagged: localhost:5000/x:latest\nUntagged: dk:latest\nDeleted: sha256:"),
        "{out}"
    );
    assert_eq!(e.ls().len(), 1);

    // Names that break the reference grammar: refused, the rule said.
    let bad = e.work.join("bad-name");
    Image::busybox().oci_layout(&bad, json!({"io.containerd.image.name": "Bad/Name:v1"}));
    load_refused(&e, &bad, "invalid image name \"Bad/Name:v1\"");
    let long_tag = format!("x:{}", "t".repeat(129));
    for name in ["UPPER:v1", "x:-dash", long_tag.as_str()] {
        refused(
            &e,
            &["run", "--network", "none", "--image", name],
            "at most 128 characters",
        );
        refused(
            &e,
            &["image", "tag", "bbnotag", name],
            "at most 128 characters",
        );
    }
    let tag128 = format!("x:{}", "t".repeat(128));
    e.ok(&["image", "tag", "bbnotag", &tag128]);
    refused(
        &e,
        &["run", "--network", "none", "--image", ""],
        "empty image name",
    );
    refused(&e, &["image", "rm", ""], "empty image name");
}

#[test]
fn tag_images_ls_q_and_rm_f_behave_as_in_docker() {
    let e = ImgEnv::new("imgtag");
    e.load(&e.layout("test/a:v1"));
    assert_eq!(e.ok(&["image", "tag", "test/a:v1", "test/b"]), "");
    let ls = e.ls();
    assert_eq!(ls.len(), 2);
    assert_eq!(ls[0]["name"], "test/a:v1");
    assert_eq!(ls[1]["name"], "test/b:latest");
    assert_eq!(ls[0]["id"], ls[1]["id"]);
    let id = ls[0]["id"].as_str().unwrap()["sha256:".len()..][..12].to_string();
    assert_eq!(e.ok(&["images"]), e.ok(&["image", "ls"]));
    assert_eq!(e.ok(&["image", "ls", "-q"]), format!("{id}\n{id}\n"));
    assert_eq!(e.ok(&["images", "-q"]), format!("{id}\n{id}\n"));
    // The new name runs the same image.
    let out = e.ok(&["run", "--network", "none", "--image", "test/b"]);
    assert!(out.contains("cmd-ran"), "{out}");

    // By ID with several names: -f needed. By a name: only that name goes.
    refused(
        &e,
        &["image", "rm", &id],
        "has several names (test/a:v1, test/b:latest)",
    );
    assert_eq!(
        e.ok(&["image", "rm", "test/b"]),
        "Untagged: test/b:latest\n"
    );
    assert_eq!(e.ls().len(), 1);
    e.ok(&["image", "tag", &id, "test/b:v2"]);

    // A running sandbox holds it even against -f, and is named.
    sleeper(&e, "tg1", "test/a:v1");
    refused(
        &e,
        &["image", "rm", "-f", &id],
        "used by running sandbox tg1",
    );
    assert_eq!(e.ls().len(), 2);
    // Stopped (its record kept): -f takes the names; the image stays, unnamed,
    // while the record holds it, then goes with prune.
    e.ok(&["kill", "tg1"]);
    assert!(wait_until(10, || e.env.status("tg1").as_deref() == Some("exited")));
    let out = e.ok(&["image", "rm", "-f", &id]);
    assert_eq!(out, "Untagged: test/a:v1\nUntagged: test/b:v2\n");
    let ls = e.ls();
    assert_eq!(ls.len(), 1);
    assert_eq!(ls[0]["name"], "<none>:<none>");
    let table = e.ok(&["image", "ls"]);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("<none>:<none> ") && l.contains(&id)),
        "{table}"
    );
    assert_eq!(list(&e.store.join("layers")).len(), 2);
    let out = e.ok(&["image", "prune"]);
    assert!(!out.contains("Deleted"), "pruned an image in use: {out}");
    e.ok(&["rm", "tg1"]);
    let out = e.ok(&["image", "prune"]);
    assert!(out.starts_with(&format!("Deleted: sha256:{id}")), "{out}");
    assert!(out.contains("Total reclaimed space: "), "{out}");
    assert!(e.ls().is_empty());
    assert!(list(&e.store.join("layers")).is_empty());
    assert!(list(&e.store.join("blobs/sha256")).is_empty());
    // No size kept for a layer that went.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(e.store.join("index.json")).unwrap()).unwrap();
    assert!(index.get("sizes").is_none(), "{index}");
}

#[test]
fn load_reads_dash_i_and_stdin() {
    let e = ImgEnv::new("imgstdin");
    let archive = e.work.join("oci.tar");
    Image::busybox().oci_archive(
        &archive,
        json!({"org.opencontainers.image.ref.name": "test/i:v1"}),
    );
    let out = e.ok(&["image", "load", "-i", archive.to_str().unwrap()]);
    assert_eq!(out, "Loaded image: test/i:v1\n");
    let docker = e.work.join("docker.tar");
    Image::busybox().docker_archive(&docker, "test/stdin:v1");
    let mut child = e
        .env
        .cmd(&e.args(&["image", "load"]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&std::fs::read(&docker).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(text(&out.stdout), "Loaded image: test/stdin:v1\n");
    let out = e.ok(&["run", "--network", "none", "--image", "test/stdin:v1"]);
    assert!(out.contains("cmd-ran"), "{out}");
    // Nothing on stdin: said, nothing loaded.
    let out = e.sbx(&["image", "load"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        stderr_of(&out).contains("nothing came on stdin"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(e.ls().len(), 2);
}

#[test]
fn run_user_replaces_the_image_user() {
    let e = ImgEnv::new("imgrunu");
    let mut image = Image::busybox();
    image.run["User"] = json!("worker");
    let dir = e.work.join("user-layout");
    image.oci_layout(
        &dir,
        json!({"org.opencontainers.image.ref.name": "test/u:v1"}),
    );
    e.load(&dir);
    let ids = |user: &str| {
        e.ok(&[
            "run",
            "--network",
            "none",
            "-u",
            user,
            "--image",
            "test/u:v1",
            "--",
            "echo $(id -u) $(id -g) $(id -G) $HOME",
        ])
    };
    assert_eq!(ids("0"), "0 0 0 /root\n");
    assert_eq!(ids("root"), "0 0 0 /root\n");
    assert_eq!(ids("1000:7"), "1000 7 7 /\n");
    assert_eq!(ids("worker:staff"), "1234 50 50 60 /app\n");
    assert_eq!(ids("1234"), "1234 4321 4321 50 60 /app\n");
    refused(
        &e,
        &[
            "run",
            "--network",
            "none",
            "-u",
            "nobody",
            "--image",
            "test/u:v1",
        ],
        "user \"nobody\" is not in the image's /etc/passwd",
    );
    refused(
        &e,
        &[
            "run",
            "--network",
            "none",
            "--user",
            "0:nogroup",
            "--image",
            "test/u:v1",
        ],
        "group \"nogroup\" is not in the image's /etc/group",
    );
    refused(
        &e,
        &["run", "--network", "none", "-u", "", "--image", "test/u:v1"],
        "is not USER[:GROUP]",
    );
    // Without --image: resolved in the sandbox's root, the host's or a
    // --rootfs (names from its /etc/passwd, HOME too).
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "-u",
        "54321:7",
        "--",
        "/bin/sh",
        "-c",
        "echo $(id -u) $(id -g) $HOME",
    ]);
    assert_eq!(out, "54321 7 /\n");
    let rootfs = busybox_rootfs();
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--rootfs",
        rootfs.to_str().unwrap(),
        "-u",
        "nobody",
        "--",
        "/bin/sh",
        "-c",
        "echo $(id -u) $(id -g) $HOME",
    ]);
    assert_eq!(out, "65534 65534 /nonexistent\n");
    refused(
        &e,
        &[
            "run",
            "--network",
            "none",
            "--rootfs",
            rootfs.to_str().unwrap(),
            "-u",
            "sbx-no-such",
            "--",
            "true",
        ],
        &format!(
            "user \"sbx-no-such\" is not in {}/etc/passwd",
            rootfs.display()
        ),
    );
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ru0",
        "--network",
        "none",
        "-u",
        "4242",
        "--",
        "sleep",
        "60",
    ]);
    e.env.wait_running("ru0");
    assert_eq!(e.ok(&["exec", "ru0", "--", "id", "-u"]), "4242\n");
    // sbx exec runs as the -u user too, as docker exec does.
    e.ok(&[
        "run",
        "-d",
        "--name",
        "ru1",
        "--network",
        "none",
        "-u",
        "1000:7",
        "--image",
        "test/u:v1",
        "--",
        "exec sleep 60",
    ]);
    e.env.wait_running("ru1");
    assert_eq!(e.ok(&["exec", "ru1", "--", "/bin/id", "-u"]), "1000\n");
}

#[test]
fn an_image_replaced_while_in_use_stays_listed_until_pruned() {
    let e = ImgEnv::new("imgrepl");
    e.load(&e.layout("test/r:v1"));
    let old = e.ls()[0]["id"].as_str().unwrap().to_string();
    let short = old["sha256:".len()..][..12].to_string();
    sleeper(&e, "rp1", "test/r:v1");
    let dir = e.work.join("v2");
    v2().oci_layout(
        &dir,
        json!({"org.opencontainers.image.ref.name": "test/r:v1"}),
    );
    let out = e.load(&dir);
    assert!(
        out.contains(&format!(
            "replaces {short}, kept as <none>:<none> while sandbox rp1 uses it"
        )),
        "{out}"
    );
    let ls = e.ls();
    assert_eq!(ls.len(), 2);
    assert_eq!(ls[0]["name"], "test/r:v1");
    assert_eq!(ls[1]["name"], "<none>:<none>");
    assert_eq!(ls[1]["id"], old.as_str());
    assert_eq!(list(&e.store.join("layers")).len(), 3);
    // In use: neither rm nor prune take it; the sandbox still reads it.
    refused(&e, &["image", "rm", &short], "used by sandbox rp1");
    e.ok(&["image", "prune"]);
    assert_eq!(e.ls().len(), 2);
    assert_eq!(
        e.ok(&["exec", "rp1", "--", "/bin/cat", "/etc/added"]),
        "added\n"
    );
    // Its last user gone, it is still listed, and removable by ID.
    e.ok(&["rm", "-f", "rp1"]);
    assert_eq!(e.ls().len(), 2);
    let out = e.ok(&["image", "rm", &short]);
    assert_eq!(out, format!("Deleted: {old}\n"));
    assert_eq!(e.ls().len(), 1);
    assert_eq!(list(&e.store.join("layers")).len(), 2);
    let out = e.ok(&[
        "run",
        "--network",
        "none",
        "--image",
        "test/r:v1",
        "--",
        "cat /etc/v2",
    ]);
    assert_eq!(out, "v2\n");

    // The same by image tag taking the name, then image prune.
    e.load(&e.layout("test/t:v1"));
    sleeper(&e, "rp2", "test/t:v1");
    e.ok(&["image", "tag", "test/r:v1", "test/t:v1"]);
    assert_eq!(
        e.ls()
            .iter()
            .filter(|i| i["name"] == "<none>:<none>")
            .count(),
        1
    );
    e.ok(&["rm", "-f", "rp2"]);
    let out = e.ok(&["image", "prune"]);
    assert!(out.starts_with("Deleted: sha256:"), "{out}");
    assert!(e.ls().iter().all(|i| i["name"] != "<none>:<none>"));
    assert_eq!(list(&e.store.join("layers")).len(), 2);
}

/// A layout of busybox whose layer `n` is stored as `bytes` (digest and
/// size made to match, the diff_id left as the real layer's).
fn with_layer_blob(e: &ImgEnv, tag: &str, n: usize, bytes: &[u8]) -> std::path::PathBuf {
    let dir = e.work.join(format!("blob-{tag}"));
    let written = Image::busybox().oci_layout(
        &dir,
        json!({"org.opencontainers.image.ref.name": format!("test/blob:{tag}")}),
    );
    let layers: Vec<&String> = written.iter().filter(|(_, l)| *l).map(|(d, _)| d).collect();
    let old = layers[n].clone();
    let new = digest(bytes);
    std::fs::write(
        dir.join("blobs/sha256").join(&new["sha256:".len()..]),
        bytes,
    )
    .unwrap();
    // Point the manifest at the new blob, and index.json at the new manifest.
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    let md = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let mpath = dir.join("blobs/sha256").join(&md["sha256:".len()..]);
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&mpath).unwrap()).unwrap();
    assert_eq!(manifest["layers"][n]["digest"], old.as_str());
    manifest["layers"][n]["digest"] = json!(new);
    manifest["layers"][n]["size"] = json!(bytes.len());
    manifest["layers"][n]["mediaType"] = json!("application/vnd.oci.image.layer.v1.tar");
    let mbytes = serde_json::to_vec(&manifest).unwrap();
    let mdigest = digest(&mbytes);
    std::fs::write(
        dir.join("blobs/sha256").join(&mdigest["sha256:".len()..]),
        &mbytes,
    )
    .unwrap();
    index["manifests"][0]["digest"] = json!(mdigest);
    index["manifests"][0]["size"] = json!(mbytes.len());
    std::fs::write(&index_path, index.to_string()).unwrap();
    dir
}

#[test]
fn broken_input_is_named_in_words() {
    let e = ImgEnv::new("imgbrk");
    let diff_ids: Vec<String> = Image::busybox()
        .layers
        .iter()
        .map(|(t, _)| digest(t))
        .collect();
    // A layer that is no tar: named, without its bytes.
    let junk = "root:x:0:0:root:/root:/bin/sh\n".repeat(40);
    let dir = with_layer_blob(&e, "notar", 1, junk.as_bytes());
    let err = load_refused(
        &e,
        &dir,
        &format!("layer {} is not a tar archive", diff_ids[1]),
    );
    assert!(!err.contains("root:x"), "{err}");
    // A gzip'd layer cut short.
    let whole = gzip(&Image::busybox().layers[0].0);
    let dir = with_layer_blob(&e, "cutgz", 0, &whole[..whole.len() - 5000]);
    load_refused(&e, &dir, &format!("layer {} is truncated", diff_ids[0]));
    // A crafted digest string.
    let dir = e.layout("test/crafted:v1");
    let index_path = dir.join("index.json");
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&index_path).unwrap()).unwrap();
    index["manifests"][0]["digest"] = json!("sha256:../../../etc/passwd");
    std::fs::write(&index_path, index.to_string()).unwrap();
    load_refused(&e, &dir, "sha256: followed by 64 lowercase hex digits");
    // skopeo's dir: layout.
    let skopeo = e.work.join("skopeo-dir");
    std::fs::create_dir_all(&skopeo).unwrap();
    std::fs::write(skopeo.join("version"), "Directory Transport Version: 1.1\n").unwrap();
    std::fs::write(
        skopeo.join("manifest.json"),
        r#"{"schemaVersion":2,"layers":[]}"#,
    )
    .unwrap();
    load_refused(&e, &skopeo, "not supported: use oci: or docker-archive:");
    // A path through a symlink the layer made: the path and the link named.
    let mut image = Image::busybox();
    image.layers[1] = (
        tar(&[
            Ent::Symlink("lnk".into(), "etc".into()),
            Ent::File("lnk/x".into(), b"x".to_vec(), 0o644),
        ]),
        true,
    );
    let dir = e.work.join("through-link");
    image.oci_layout(
        &dir,
        json!({"org.opencontainers.image.ref.name": "test/lnk:v1"}),
    );
    load_refused(&e, &dir, "layer entry lnk/x goes through the symlink lnk");
    assert!(e.ls().is_empty());
    assert!(list(&e.store.join("layers")).is_empty());
}

/// Bytes of the files (each inode once) and symlinks under `dir`.
fn unpacked_size(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let m = std::fs::symlink_metadata(entry.path()).unwrap();
        if m.is_dir() {
            total += unpacked_size(&entry.path());
        } else if m.is_symlink() || (m.is_file() && seen.insert((m.dev(), m.ino()))) {
            total += m.len();
        }
    }
    total
}

#[test]
fn image_ls_shows_the_unpacked_size_as_docker_does() {
    let e = ImgEnv::new("imgsize");
    e.load(&e.layout("test/s:v1"));
    let size = e.ls()[0]["size"].as_u64().unwrap();
    let on_disk: u64 = list(&e.store.join("layers"))
        .iter()
        .map(|l| unpacked_size(&e.store.join("layers").join(l)))
        .sum();
    assert_eq!(size, on_disk);
    // Docker's style: decimal units, three significant digits (a few MB).
    assert!(
        size > 1_000_000 && size < 9_990_000,
        "busybox is a few MB: {size}"
    );
    let mb = format!("{:.2}", size as f64 / 1e6);
    let expected = format!("{}MB", mb.trim_end_matches('0').trim_end_matches('.'));
    let table = e.ok(&["image", "ls"]);
    let row = table.lines().nth(1).unwrap();
    assert!(
        row.contains(&format!(" {expected} ")),
        "{expected} not in {row}"
    );
}

#[test]
fn an_image_without_a_name_loads_by_id_and_can_be_tagged() {
    let e = ImgEnv::new("imgnoid");
    // An OCI layout without name annotations, a docker save without RepoTags.
    let dir = e.work.join("unnamed");
    Image::busybox().oci_layout(&dir, json!({}));
    let out = e.load(&dir);
    assert!(out.starts_with("Loaded image ID: sha256:"), "{out}");
    let id = out.trim()["Loaded image ID: sha256:".len()..].to_string();
    let docker = e.work.join("untagged.tar");
    Image::busybox().docker_archive(&docker, "");
    let mut manifest_fix = std::fs::read(&docker).unwrap();
    // docker_archive("") writes RepoTags [""]: make it none at all.
    let from = br#""RepoTags":[""]"#;
    let at = manifest_fix
        .windows(from.len())
        .position(|w| w == from)
        .unwrap();
    let to = br#""RepoTags":null"#;
    manifest_fix.splice(at..at + from.len(), to.iter().copied());
    std::fs::write(&docker, &manifest_fix).unwrap();
    assert_eq!(e.load(&docker), format!("Loaded image ID: sha256:{id}\n"));
    let ls = e.ls();
    assert_eq!(ls.len(), 2, "two manifests, one config: {ls:?}");
    assert!(ls.iter().all(|i| i["name"] == "<none>:<none>"));
    // Runs by its ID; a tag names it; prune leaves a named image alone.
    let out = e.ok(&["run", "--network", "none", "--image", &id[..12]]);
    assert!(out.contains("cmd-ran"), "{out}");
    let ambiguous = e.sbx(&["image", "tag", &id[..12], "test/named:v1"]);
    assert_eq!(
        ambiguous.status.code(),
        Some(0),
        "{}",
        stderr_of(&ambiguous)
    );
    let out = e.ok(&["image", "prune"]);
    assert_eq!(out.matches("Deleted: ").count(), 1, "{out}");
    let ls = e.ls();
    assert_eq!(ls.len(), 1);
    assert_eq!(ls[0]["name"], "test/named:v1");
    let out = e.ok(&["run", "--network", "none", "--image", "test/named:v1"]);
    assert!(out.contains("cmd-ran"), "{out}");
}
