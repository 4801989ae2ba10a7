//! The six CNI commands, each a translation into the core's requests:
//! `network::attach` for the bridge and the port, the state root's CNI
//! store for leases and attachment records, a delegated plugin for a
//! configured `ipam`.

use super::config::{self, NetConf};
use super::{CniError, CniResult, code, delegate, env, result};
use crate::ipam::{self, Holder};
use crate::net::Netlink;
use crate::net::probe::mac_text;
use crate::network::attach::{self, BridgeSpec, Plug};
use crate::state::cni::{Attachment, CniStore};
use crate::state::{StateRoot, Take};
use serde_json::Value;
use std::net::Ipv4Addr;

/// Dispatches `CNI_COMMAND`; returns what goes to stdout on success.
pub fn run(command: &str, stdin: &[u8]) -> CniResult<Option<Value>> {
    match command {
        "VERSION" => Ok(Some(result::versions())),
        "ADD" => add(stdin).map(Some),
        "DEL" => del(stdin).map(|()| None),
        "CHECK" => check(stdin).map(|()| None),
        "STATUS" => status(stdin).map(|()| None),
        "GC" => super::gc::gc(stdin).map(|()| None),
        "" => Err(CniError::new(
            code::INVALID_ENV,
            "CNI_COMMAND is not set: sbx-cni is a CNI plugin, run by a container runtime",
        )),
        other => Err(CniError::new(
            code::INVALID_ENV,
            format!("CNI_COMMAND {other:?} is unknown: ADD, DEL, CHECK, STATUS, GC or VERSION"),
        )),
    }
}

/// The state root: `SBX_ROOT`, default `/run/sbx` (SPEC "CNI plugin").
pub fn open_root() -> CniResult<StateRoot> {
    let dir = std::env::var("SBX_ROOT").unwrap_or_else(|_| "/run/sbx".into());
    StateRoot::open(std::path::Path::new(&dir))
        .map_err(|e| CniError::from_core(code::IO_FAILURE, "open the state root", e))
}

/// A failure of the state store, as CNI's I/O error.
pub fn io(what: &str) -> impl Fn(anyhow::Error) -> CniError + '_ {
    move |e| CniError::from_core(code::IO_FAILURE, what, e)
}

/// A failure of the kernel, as CNI's generic error.
pub fn kernel(what: &str) -> impl Fn(anyhow::Error) -> CniError + '_ {
    move |e| CniError::from_core(code::INTERNAL, what, e)
}

/// The netlink runtime.
pub fn netlink() -> CniResult<Netlink> {
    Netlink::new().map_err(kernel("open netlink"))
}

/// STATUS and GC came with spec 1.1.0.
pub fn need_1_1(conf: &NetConf, command: &str) -> CniResult<()> {
    if conf.cni_version == "1.1.0" {
        return Ok(());
    }
    Err(CniError::new(
        code::INCOMPATIBLE_VERSION,
        format!(
            "{command} needs cniVersion 1.1.0, the configuration says {}",
            conf.cni_version
        ),
    ))
}

/// ADD: bridge, address, port; nothing is left when a step fails.
fn add(stdin: &[u8]) -> CniResult<Value> {
    let started = std::time::Instant::now();
    let step = |name: &str| {
        if crate::log::debug_enabled() {
            crate::log::debug(&format!("ADD {name}: {:?}", started.elapsed()));
        }
    };
    let conf = config::parse(stdin)?;
    let target = env::target()?;
    let netns = env::netns()?;
    let netns_path = std::env::var("CNI_NETNS").unwrap_or_default();
    let root = open_root()?;
    let store = root.cni(&conf.name);
    store.ensure().map_err(io("create the CNI store"))?;
    let key = CniStore::key(&target.container, &target.ifname);
    if store.get(&key).map_err(io("read the CNI store"))?.is_some() {
        return Err(CniError::new(
            code::INTERNAL,
            format!(
                "container {} already has {} on network {}: DEL it first",
                target.container, target.ifname, conf.name
            ),
        ));
    }
    let nl = netlink()?;
    let spec = BridgeSpec {
        bridge: &conf.bridge,
        subnet: conf.subnet,
        gateway: conf.gateway,
        masquerade: conf.ip_masq,
        mtu: conf.mtu,
    };
    let what = format!("ensure bridge {}", conf.bridge);
    let bridge = attach::ensure_bridge(&nl, &spec).map_err(kernel(&what))?;
    let mtu = conf.mtu.unwrap_or(bridge.mtu);
    step("bridge");

    // The address and the record, under the shared lock (GC takes it
    // exclusively, so it never sees a lease before its record).
    let lock = root.lock_shared().map_err(io("lock the state root"))?;
    step("locked");
    let (ip, prefix, gateway, dns, leased) = match &conf.ipam_type {
        Some(kind) => {
            let lease = delegate::add(kind, stdin)?;
            let gw = lease.gateway.unwrap_or(conf.gateway);
            (lease.ip, lease.prefix, gw, lease.dns, false)
        }
        None => {
            let ip = take(&store, &conf, &key)?;
            (ip, conf.subnet.prefix(), conf.gateway, None, true)
        }
    };
    step("leased");
    let give_back = || {
        if leased {
            let _ = store.leases().release(ip, &key);
        } else if let Some(kind) = &conf.ipam_type {
            let _ = delegate::run(kind, "DEL", stdin);
        }
    };
    let att = Attachment {
        veth: attach::veth_name(&key),
        ip,
        prefix,
        gateway,
        leased,
        guarded: conf.anti_spoofing,
    };
    match store.record(&key, &att) {
        Ok(true) => {}
        Ok(false) => {
            give_back();
            return Err(CniError::new(
                code::TRY_AGAIN,
                format!("another ADD of {key} is under way: try again later"),
            ));
        }
        Err(e) => {
            give_back();
            return Err(io("record the attachment")(e));
        }
    }
    drop(lock);
    step("address");

    let plug = Plug {
        netns: &netns,
        ifname: &target.ifname,
        veth: &att.veth,
        ip,
        prefix,
        gateway: Some(gateway),
        mtu,
        bridge_index: bridge.bridge_index,
        anti_spoofing: conf.anti_spoofing,
    };
    let plugged = match attach::plug(&nl, &plug) {
        Ok(p) => p,
        Err(e) => {
            let _ = store.forget(&key);
            give_back();
            return Err(kernel(&format!(
                "plug {} into {}",
                target.ifname, conf.bridge
            ))(e));
        }
    };
    step("plugged");
    Ok(result::added(&result::Added {
        cni_version: &conf.cni_version,
        host: (&att.veth, mac_text(&plugged.host_mac)),
        container: (&target.ifname, mac_text(&plugged.mac)),
        netns: &netns_path,
        mtu,
        ip,
        prefix,
        gateway,
        dns: dns.or(conf.dns.clone()),
    }))
}

/// The lowest free address of the subnet, taken for `key`: the filesystem
/// decides between parallel ADDs (`Leases::take`); a loser looks again.
fn take(store: &CniStore, conf: &NetConf, key: &str) -> CniResult<Ipv4Addr> {
    let leases = store.leases();
    for _ in 0..1024 {
        let held = leases.list().map_err(io("read the leases"))?;
        let holders: Vec<Holder> = held
            .iter()
            .map(|(ip, name)| Holder { ip: *ip, name })
            .collect();
        let ip = ipam::lowest_free(&conf.subnet, None, conf.gateway, &conf.name, &holders)
            .map_err(|e| CniError::from_core(code::INTERNAL, "allocate an address", e))?;
        if leases.take(ip, key).map_err(io("take a lease"))? == Take::Taken {
            return Ok(ip);
        }
    }
    Err(CniError::new(
        code::TRY_AGAIN,
        "every free address was taken by a parallel ADD: try again later",
    ))
}

/// DEL: whatever of the attachment is left goes; nothing left is success.
fn del(stdin: &[u8]) -> CniResult<()> {
    let conf = config::parse(stdin)?;
    let target = env::target()?;
    let root = open_root()?;
    let store = root.cni(&conf.name);
    let key = CniStore::key(&target.container, &target.ifname);
    if let Some(att) = store.get(&key).map_err(io("read the CNI store"))? {
        teardown(&store, &key, &att)?;
    }
    match &conf.ipam_type {
        // The plugin's own DEL is idempotent: asked even with no record.
        Some(kind) => {
            delegate::run(kind, "DEL", stdin)?;
        }
        // A lease whose record a crash never wrote.
        None => release_leftovers(&store, |holder| holder == key)?,
    }
    store
        .forget(&key)
        .map_err(io("remove the attachment record"))
}

/// Undoes one recorded attachment: port, then lease, then record.
pub fn teardown(store: &CniStore, key: &str, att: &Attachment) -> CniResult<()> {
    let nl = netlink()?;
    attach::unplug(&nl, &att.veth, att.ip, att.guarded)
        .map_err(kernel(&format!("remove veth {}", att.veth)))?;
    if att.leased {
        store
            .leases()
            .release(att.ip, key)
            .map_err(io("release the lease"))?;
    }
    store
        .forget(key)
        .map_err(io("remove the attachment record"))
}

/// Releases every lease whose holder `gone` says is gone and that has no
/// record (a record's lease goes with its teardown).
pub fn release_leftovers(store: &CniStore, gone: impl Fn(&str) -> bool) -> CniResult<()> {
    let leases = store.leases();
    if !leases.exists() {
        return Ok(());
    }
    for (ip, holder) in leases.list().map_err(io("read the leases"))? {
        let recorded = store
            .get(&holder)
            .map_err(io("read the CNI store"))?
            .is_some();
        if gone(&holder) && !recorded {
            leases
                .release(ip, &holder)
                .map_err(io("release the lease"))?;
        }
    }
    Ok(())
}

/// CHECK: the record, the lease, and the interface, address and route in
/// the netns; `prevResult`'s address must be the one recorded.
fn check(stdin: &[u8]) -> CniResult<()> {
    let conf = config::parse(stdin)?;
    let target = env::target()?;
    let netns = env::netns()?;
    let root = open_root()?;
    let store = root.cni(&conf.name);
    let key = CniStore::key(&target.container, &target.ifname);
    let Some(att) = store.get(&key).map_err(io("read the CNI store"))? else {
        return Err(CniError::new(
            code::UNKNOWN_CONTAINER,
            format!(
                "container {} has no {} on network {}",
                target.container, target.ifname, conf.name
            ),
        ));
    };
    if att.leased {
        if store.leases().holder(att.ip).as_deref() != Some(key.as_str()) {
            return Err(CniError::new(
                code::INTERNAL,
                format!("the lease of {} is no longer held by {key}", att.ip),
            ));
        }
    } else if let Some(kind) = &conf.ipam_type {
        delegate::run(kind, "CHECK", stdin)?;
    }
    if let Some(prev) = &conf.prev_result {
        let mine = format!("{}/{}", att.ip, att.prefix);
        let listed = prev
            .get("ips")
            .and_then(Value::as_array)
            .is_some_and(|ips| ips.iter().any(|i| i["address"] == mine.as_str()));
        if !listed {
            return Err(CniError::new(
                code::INTERNAL,
                format!("prevResult does not list {mine}, the address ADD gave"),
            ));
        }
    }
    let nl = netlink()?;
    attach::verify(
        &nl,
        &netns,
        &target.ifname,
        att.ip,
        att.prefix,
        Some(att.gateway),
    )
    .map_err(|e| CniError::from_core(code::INTERNAL, "check", e))
}

/// STATUS: ready when the bridge exists or can be made, the store is
/// writable and an address is free.
fn status(stdin: &[u8]) -> CniResult<()> {
    let conf = config::parse(stdin)?;
    need_1_1(&conf, "STATUS")?;
    let unavailable = |msg: String| CniError::new(code::NOT_AVAILABLE, msg);
    let nl = netlink()?;
    let what = format!("look up bridge {}", conf.bridge);
    if attach::bridge_state(&nl, &conf.bridge).map_err(kernel(&what))? == Some(false) {
        return Err(unavailable(format!(
            "interface {} exists and is not a bridge",
            conf.bridge
        )));
    }
    let root = open_root()?;
    let store = root.cni(&conf.name);
    if let Err(e) = store.ensure() {
        return Err(unavailable(format!("the CNI store cannot be made: {e:#}")));
    }
    if let Some(kind) = &conf.ipam_type {
        delegate::run(kind, "STATUS", stdin)?;
        return Ok(());
    }
    let held = store.leases().list().map_err(io("read the leases"))?;
    let holders: Vec<Holder> = held
        .iter()
        .map(|(ip, name)| Holder { ip: *ip, name })
        .collect();
    ipam::lowest_free(&conf.subnet, None, conf.gateway, &conf.name, &holders)
        .map(|_| ())
        .map_err(|e| unavailable(format!("{e:#}")))
}
