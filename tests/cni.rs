//! sbx-cni driven as a container runtime drives a CNI plugin (SPEC "CNI
//! plugin"): `CNI_*` environment variables, the configuration on stdin,
//! netns files made with `ip netns add`. The contract tests run against
//! sbx-cni and against the reference `bridge` + `host-local` plugins
//! (Debian's containernetworking-plugins, /usr/lib/cni), so they prove the
//! CNI contract, not sbx's reading of it.

mod common;
use common::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const SBX_CNI: &str = env!("CARGO_BIN_EXE_sbx-cni");
const REFERENCE_DIR: &str = "/usr/lib/cni";

/// A netns file made by `ip netns add`, removed on drop.
struct Ns(String);

impl Ns {
    fn new(name: &str) -> Self {
        let _ = host("ip", &["netns", "del", name]);
        let out = host("ip", &["netns", "add", name]);
        assert!(
            out.status.success(),
            "ip netns add {name}: {}",
            text(&out.stderr)
        );
        Ns(name.to_string())
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }

    fn exec(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["netns", "exec", &self.0];
        all.extend_from_slice(args);
        host("ip", &all)
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = host("ip", &["netns", "del", &self.0]);
    }
}

/// One plugin under test with its configuration, state root and bridge;
/// on drop everything it may have made goes: attachments (GC), the
/// bridge, sbx's chain and elements for it, the state and IPAM folders.
struct Plugin {
    exe: PathBuf,
    conf: Value,
    root: PathBuf,
    bridge: String,
}

impl Plugin {
    /// sbx-cni on bridge `tstb-ID`, subnet `subnet`.
    fn sbx(id: &str, subnet: &str, version: &str) -> Self {
        let bridge = format!("tstb-{id}");
        let conf = json!({
            "cniVersion": version, "name": format!("tst-{id}"), "type": "sbx-cni",
            "bridge": bridge, "subnet": subnet,
        });
        Self::with(PathBuf::from(SBX_CNI), conf, id, bridge)
    }

    /// The reference bridge plugin with host-local IPAM, alike.
    fn reference(id: &str, subnet: &str) -> Self {
        let bridge = format!("tstb-{id}");
        let root = root_of(id);
        let conf = json!({
            "cniVersion": "1.0.0", "name": format!("tst-{id}"), "type": "bridge",
            "bridge": bridge, "isGateway": true, "isDefaultGateway": true,
            "ipam": {"type": "host-local", "subnet": subnet,
                     "dataDir": root.join("host-local").to_string_lossy()},
        });
        Self::with(
            PathBuf::from(REFERENCE_DIR).join("bridge"),
            conf,
            id,
            bridge,
        )
    }

    fn with(exe: PathBuf, conf: Value, id: &str, bridge: String) -> Self {
        let root = root_of(id);
        let _ = std::fs::remove_dir_all(&root);
        Plugin {
            exe,
            conf,
            root,
            bridge,
        }
    }

    fn is_sbx(&self) -> bool {
        self.conf["type"] == "sbx-cni"
    }

    /// Runs one command; returns (exit status, stdout as JSON or Null).
    fn call(&self, command: &str, cid: &str, netns: Option<&str>, conf: &Value) -> (i32, Value) {
        let mut cmd = Command::new(&self.exe);
        cmd.env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", cid)
            .env("CNI_IFNAME", "eth0")
            .env("CNI_PATH", REFERENCE_DIR)
            .env("SBX_ROOT", &self.root)
            .env_remove("CNI_NETNS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ns) = netns {
            cmd.env("CNI_NETNS", ns);
        }
        let mut child = cmd.spawn().expect("run the plugin");
        let body = serde_json::to_vec(conf).expect("encode");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(&body)
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait for the plugin");
        let value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap_or(-1), value)
    }

    fn run(&self, command: &str, cid: &str, netns: Option<&str>) -> (i32, Value) {
        self.call(command, cid, netns, &self.conf)
    }

    /// ADD that must succeed; returns the result.
    fn add(&self, cid: &str, ns: &Ns) -> Value {
        let (code, result) = self.run("ADD", cid, Some(&ns.path()));
        assert_eq!(code, 0, "ADD {cid} failed: {result}");
        result
    }

    /// The configuration with `prevResult` (what CHECK and DEL get).
    fn with_prev(&self, prev: &Value) -> Value {
        let mut conf = self.conf.clone();
        conf["prevResult"] = prev.clone();
        conf
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if self.is_sbx() {
            let mut gc = self.conf.clone();
            gc["cniVersion"] = json!("1.1.0");
            gc["cni.dev/valid-attachments"] = json!([]);
            let _ = self.call("GC", "gc", None, &gc);
        }
        let _ = host("ip", &["link", "del", &self.bridge]);
        remove_rules_of(&self.bridge);
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn root_of(id: &str) -> PathBuf {
    PathBuf::from(format!("/tmp/sbx-tst-{id}-{}", std::process::id()))
}

/// sbx's chain and isolation elements for `bridge`, then sbx's tables if
/// no network is left in them (what `network rm` of the last one does).
fn remove_rules_of(bridge: &str) {
    static SWEEP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = SWEEP.lock().unwrap_or_else(|e| e.into_inner());
    let _ = host(
        "nft",
        &["delete", "chain", "ip", "sbx", &format!("post-{bridge}")],
    );
    let _ = host(
        "nft",
        &[
            "delete",
            "element",
            "ip",
            "sbx",
            "bridges",
            &format!("{{ \"{bridge}\" }}"),
        ],
    );
    let pair = format!("{{ \"{bridge}\" . \"{bridge}\" }}");
    let _ = host("nft", &["delete", "element", "ip", "sbx", "same", &pair]);
    let table = text(&host("nft", &["list", "table", "ip", "sbx"]).stdout);
    let guarded = text(&host("nft", &["list", "set", "bridge", "sbx", "guarded"]).stdout);
    let networks_left = table.contains("chain post-") || table.contains("chain fwd-");
    if !networks_left && !guarded.contains("elements") {
        let _ = host("nft", &["delete", "table", "ip", "sbx"]);
        let _ = host("nft", &["delete", "table", "bridge", "sbx"]);
    }
}

/// The functional contract, for either plugin: ADD's result field by field
/// and the kernel behind it, CHECK passing and then failing, DEL twice, DEL
/// of an unknown container and without a netns.
fn contract(p: &Plugin, id: &str, subnet_prefix: &str) {
    let ns = Ns::new(&format!("tst-{id}"));
    let result = p.add(&format!("{id}-c1"), &ns);

    assert_eq!(result["cniVersion"], p.conf["cniVersion"], "{result}");
    let interfaces = result["interfaces"].as_array().expect("interfaces");
    let inside = interfaces
        .iter()
        .position(|i| i["sandbox"] == ns.path().as_str())
        .expect("an interface in the netns");
    assert_eq!(interfaces[inside]["name"], "eth0");
    let mac_ok = |m: &Value| {
        let m = m.as_str().unwrap_or_default();
        m.len() == 17 && m.split(':').all(|b| u8::from_str_radix(b, 16).is_ok())
    };
    assert!(interfaces.iter().all(|i| mac_ok(&i["mac"])), "{result}");
    let host_veth = interfaces
        .iter()
        .find(|i| i.get("sandbox").is_none() && i["name"] != p.bridge.as_str())
        .expect("the host veth");
    let veth = host_veth["name"].as_str().expect("veth name").to_string();
    let master =
        std::fs::read_link(format!("/sys/class/net/{veth}/master")).expect("veth on a bridge");
    assert!(master.ends_with(&p.bridge), "{veth} is on {master:?}");

    let ips = result["ips"].as_array().expect("ips");
    assert_eq!(ips.len(), 1, "{result}");
    assert_eq!(
        ips[0]["interface"], inside,
        "ips point at the netns interface"
    );
    let address = ips[0]["address"].as_str().expect("address");
    assert!(
        address.starts_with(subnet_prefix) && address.ends_with("/24"),
        "{address}"
    );
    let gateway = ips[0]["gateway"].as_str().expect("gateway");
    assert_eq!(gateway, format!("{subnet_prefix}1"));
    let routes = result["routes"].as_array().expect("routes");
    assert!(
        routes
            .iter()
            .any(|r| r["dst"] == "0.0.0.0/0" && r["gw"] == gateway),
        "{result}"
    );
    assert!(result.get("dns").is_none_or(Value::is_object), "{result}");

    // The kernel agrees with the result.
    let addrs = text(
        &ns.exec(&["ip", "-4", "-o", "addr", "show", "dev", "eth0"])
            .stdout,
    );
    assert!(addrs.contains(address), "{addrs}");
    let mac = text(&ns.exec(&["cat", "/sys/class/net/eth0/address"]).stdout);
    assert_eq!(mac.trim(), interfaces[inside]["mac"]);
    let route = text(&ns.exec(&["ip", "route", "show", "default"]).stdout);
    assert!(
        route.contains(&format!("via {gateway} dev eth0")),
        "{route}"
    );
    let ping = ns.exec(&["ping", "-c", "1", "-W", "2", gateway]);
    assert!(
        ping.status.success(),
        "ping the gateway: {}",
        text(&ping.stdout)
    );

    // CHECK with the previous result passes, and fails once eth0 is gone.
    let cid = format!("{id}-c1");
    let with_prev = p.with_prev(&result);
    let (code, out) = p.call("CHECK", &cid, Some(&ns.path()), &with_prev);
    assert_eq!(code, 0, "CHECK: {out}");
    assert!(ns.exec(&["ip", "link", "del", "eth0"]).status.success());
    let (code, out) = p.call("CHECK", &cid, Some(&ns.path()), &with_prev);
    assert_ne!(code, 0, "CHECK passed without eth0");
    assert!(
        out["code"].as_u64().is_some() && out["msg"].is_string(),
        "{out}"
    );

    // DEL twice, then for an unknown container, then without a netns.
    for _ in 0..2 {
        let (code, out) = p.call("DEL", &cid, Some(&ns.path()), &with_prev);
        assert_eq!(code, 0, "DEL: {out}");
    }
    let (code, out) = p.run("DEL", &format!("{id}-nobody"), Some(&ns.path()));
    assert_eq!(code, 0, "DEL of an unknown container: {out}");
    let (code, out) = p.run("DEL", &cid, None);
    assert_eq!(code, 0, "DEL without CNI_NETNS: {out}");
    assert!(
        !std::path::Path::new(&format!("/sys/class/net/{veth}")).exists(),
        "{veth} left"
    );

    // The address is free again: sbx-cni gives the lowest free one, so
    // the next ADD gets it back; host-local goes round the range, so its
    // reservation file is what tells.
    let again = Ns::new(&format!("tst-{id}b"));
    let second = p.add(&format!("{id}-c2"), &again);
    if p.is_sbx() {
        assert_eq!(second["ips"][0]["address"], address);
    } else {
        let ip = address.trim_end_matches("/24");
        let file = p.root.join("host-local").join(format!("tst-{id}")).join(ip);
        assert!(!file.exists(), "host-local still holds {ip}");
    }
    let (code, out) = p.run("DEL", &format!("{id}-c2"), Some(&again.path()));
    assert_eq!(code, 0, "DEL: {out}");
}

#[test]
fn version_lists_1_0_0_and_1_1_0() {
    let p = Plugin::sbx("cniv", "10.237.1.0/24", "1.1.0");
    let (code, out) = p.run("VERSION", "x", None);
    assert_eq!(code, 0);
    let versions: Vec<&str> = out["supportedVersions"]
        .as_array()
        .expect("supportedVersions")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for v in ["0.4.0", "1.0.0", "1.1.0"] {
        assert!(versions.contains(&v), "{out}");
    }
    // The reference answers the same question the same way (up to 1.0.0).
    let r = Plugin::reference("cnivr", "10.210.1.0/24");
    let (code, out) = r.run("VERSION", "x", None);
    assert_eq!(code, 0);
    assert!(
        out["supportedVersions"]
            .as_array()
            .expect("list")
            .contains(&json!("1.0.0"))
    );
}

#[test]
fn sbx_cni_keeps_the_contract() {
    let p = Plugin::sbx("cnik", "10.237.2.0/24", "1.1.0");
    contract(&p, "cnik", "10.237.2.");
    // sbx-cni's leases and records are all gone.
    let store = p.root.join("cni/tst-cnik");
    let left: Vec<String> = list(&store)
        .into_iter()
        .filter(|n| n != "attachments")
        .collect();
    assert!(left.is_empty(), "leases left: {left:?}");
    assert!(list(&store.join("attachments")).is_empty());
}

#[test]
fn sbx_cni_keeps_the_contract_at_1_0_0() {
    let p = Plugin::sbx("cnik0", "10.237.3.0/24", "1.0.0");
    contract(&p, "cnik0", "10.237.3.");
}

#[test]
fn the_reference_bridge_keeps_the_same_contract() {
    let p = Plugin::reference("cnir", "10.210.2.0/24");
    contract(&p, "cnir", "10.210.2.");
}

/// 50 ADDs at once: 50 distinct addresses, all DELs leave nothing.
/// Returns the host veths the ADDs reported.
fn parallel(p: &Plugin, id: &str) -> Vec<String> {
    let namespaces: Vec<Ns> = (0..50).map(|i| Ns::new(&format!("tst-{id}-{i}"))).collect();
    let results: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = namespaces
            .iter()
            .enumerate()
            .map(|(i, ns)| s.spawn(move || p.add(&format!("{id}-{i}"), ns)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("ADD thread"))
            .collect()
    });
    let addresses: BTreeSet<String> = results
        .iter()
        .map(|r| {
            r["ips"][0]["address"]
                .as_str()
                .expect("address")
                .to_string()
        })
        .collect();
    assert_eq!(addresses.len(), 50, "{addresses:?}");
    std::thread::scope(|s| {
        for (i, ns) in namespaces.iter().enumerate() {
            s.spawn(move || {
                let (code, out) = p.run("DEL", &format!("{id}-{i}"), Some(&ns.path()));
                assert_eq!(code, 0, "DEL: {out}");
            });
        }
    });
    let ports = text(&host("ip", &["-o", "link", "show", "master", &p.bridge]).stdout);
    assert!(
        ports.trim().is_empty(),
        "ports left on {}: {ports}",
        p.bridge
    );
    results
        .iter()
        .flat_map(|r| r["interfaces"].as_array().cloned().unwrap_or_default())
        .filter(|i| i.get("sandbox").is_none())
        .filter_map(|i| i["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn fifty_parallel_adds_get_fifty_addresses() {
    let p = Plugin::sbx("cnip", "10.237.4.0/24", "1.1.0");
    let veths = parallel(&p, "cnip");
    assert_eq!(veths.len(), 50);
    let store = p.root.join("cni/tst-cnip");
    let left: Vec<String> = list(&store)
        .into_iter()
        .filter(|n| n != "attachments")
        .collect();
    assert!(left.is_empty(), "leases left: {left:?}");
    let guarded = text(&host("nft", &["list", "set", "bridge", "sbx", "guarded"]).stdout);
    let allow = text(&host("nft", &["list", "set", "bridge", "sbx", "allow"]).stdout);
    for veth in &veths {
        assert!(
            !guarded.contains(veth) && !allow.contains(veth),
            "{veth}'s elements left"
        );
    }
}

#[test]
fn fifty_parallel_adds_with_the_reference() {
    let p = Plugin::reference("cnipr", "10.210.4.0/24");
    let veths = parallel(&p, "cnipr");
    assert_eq!(
        veths.len(),
        100,
        "host veths and the bridge, reported by each ADD"
    );
}

#[test]
fn gc_releases_what_is_not_valid() {
    let p = Plugin::sbx("cnig", "10.237.5.0/24", "1.1.0");
    let namespaces: Vec<Ns> = (0..3).map(|i| Ns::new(&format!("tst-cnig-{i}"))).collect();
    let results: Vec<Value> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| p.add(&format!("g{i}"), ns))
        .collect();
    let veth = |r: &Value| {
        r["interfaces"][0]["name"]
            .as_str()
            .expect("veth")
            .to_string()
    };
    let mut gc = p.conf.clone();
    gc["cni.dev/valid-attachments"] = json!([{"containerID": "g1", "ifname": "eth0"}]);
    let (code, out) = p.call("GC", "", None, &gc);
    assert_eq!(code, 0, "GC: {out}");
    for (i, r) in results.iter().enumerate() {
        let exists = std::path::Path::new(&format!("/sys/class/net/{}", veth(r))).exists();
        assert_eq!(exists, i == 1, "veth of g{i} after GC");
    }
    let store = p.root.join("cni/tst-cnig");
    let leases: Vec<String> = list(&store)
        .into_iter()
        .filter(|n| n.parse::<std::net::Ipv4Addr>().is_ok())
        .collect();
    assert_eq!(
        leases,
        [results[1]["ips"][0]["address"]
            .as_str()
            .unwrap()
            .trim_end_matches("/24")]
    );
    let (code, out) = p.call(
        "CHECK",
        "g1",
        Some(&namespaces[1].path()),
        &p.with_prev(&results[1]),
    );
    assert_eq!(code, 0, "the kept attachment still checks: {out}");
    let (code, out) = p.run("CHECK", "g0", Some(&namespaces[0].path()));
    assert_eq!((code != 0, out["code"].clone()), (true, json!(3)), "{out}");
    let (code, out) = p.run("STATUS", "", None);
    assert_eq!(code, 0, "STATUS: {out}");
}

#[test]
fn bad_requests_get_the_spec_error_codes() {
    let p = Plugin::sbx("cnie", "10.237.6.0/24", "1.1.0");
    let ns = Ns::new("tst-cnie");
    let mut raw = Command::new(SBX_CNI);
    raw.env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "e1")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_NETNS", ns.path())
        .env("SBX_ROOT", &p.root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = raw.spawn().expect("run sbx-cni");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"cniVersion\": ")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    let error: Value = serde_json::from_slice(&out.stdout).expect("error JSON");
    assert_eq!(error["code"], 6, "{error}");
    assert!(
        error["msg"].is_string() && error["cniVersion"].is_string(),
        "{error}"
    );

    let expect = |conf: Value, code: u64| {
        let (status, out) = p.call("ADD", "e1", Some(&ns.path()), &conf);
        assert_ne!(status, 0, "{conf} was accepted");
        assert_eq!(out["code"], code, "{conf}: {out}");
        assert!(out["msg"].as_str().is_some_and(|m| !m.is_empty()));
    };
    let mut bad = p.conf.clone();
    bad["subnet"] = json!("10.237.6.0/40");
    expect(bad, 7);
    let mut bad = p.conf.clone();
    bad["gateway"] = json!("10.9.9.9");
    expect(bad, 7);
    let mut bad = p.conf.clone();
    bad["cniVersion"] = json!("0.2.0");
    expect(bad, 1);
    let mut bad = p.conf.clone();
    bad["mtu"] = json!("big");
    expect(bad, 6);
    let (code, out) = p.run("ADD", "e1", Some("/run/netns/tst-cnie-missing"));
    assert_eq!((code != 0, out["code"].clone()), (true, json!(4)), "{out}");
    // Nothing was made by the refused requests.
    assert!(!std::path::Path::new(&format!("/sys/class/net/{}", p.bridge)).exists());
    assert!(text(&ns.exec(&["ip", "-o", "link"]).stdout).lines().count() == 1);

    // The reference refuses malformed JSON with the same code.
    let r = Plugin::reference("cnier", "10.210.6.0/24");
    let mut child = Command::new(&r.exe)
        .env("CNI_COMMAND", "ADD")
        .env("CNI_CONTAINERID", "e1")
        .env("CNI_IFNAME", "eth0")
        .env("CNI_NETNS", ns.path())
        .env("CNI_PATH", REFERENCE_DIR)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run bridge");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"cniVersion\": ")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let error: Value = serde_json::from_slice(&out.stdout).expect("error JSON");
    assert_eq!(error["code"], 6, "{error}");
}

#[test]
fn a_delegated_ipam_plugin_gives_the_address() {
    let mut p = Plugin::sbx("cnid", "10.237.7.0/24", "1.0.0");
    let data = p.root.join("host-local");
    p.conf["ipam"] = json!({
        "type": "host-local", "dataDir": data.to_string_lossy(),
        "ranges": [[{"subnet": "10.237.7.0/24", "rangeStart": "10.237.7.100", "gateway": "10.237.7.1"}]],
    });
    let ns = Ns::new("tst-cnid");
    let result = p.add("d1", &ns);
    assert_eq!(result["ips"][0]["address"], "10.237.7.100/24", "{result}");
    let held = data.join("tst-cnid/10.237.7.100");
    assert!(held.exists(), "host-local holds the address");
    let ping = ns.exec(&["ping", "-c", "1", "-W", "2", "10.237.7.1"]);
    assert!(ping.status.success());
    let (code, out) = p.call("CHECK", "d1", Some(&ns.path()), &p.with_prev(&result));
    assert_eq!(code, 0, "CHECK: {out}");
    let (code, out) = p.run("DEL", "d1", Some(&ns.path()));
    assert_eq!(code, 0, "DEL: {out}");
    assert!(!held.exists(), "host-local released the address");
}
