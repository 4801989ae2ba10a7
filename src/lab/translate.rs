//! The lab face's translation: a lab file's tables become the core's own
//! requests, the very ones the CLI builds (`network::CreateRequest`, and a
//! `spec::SandboxRequest` checked by `SandboxSpec::from_request`), so a lab
//! sandbox is launched, checked and torn down exactly like `sbx run -d`'s.
//! Also the comparisons that make `lab up` idempotent: an existing network
//! or sandbox matches the file, or the difference is named.

use super::file::{Lab, NetworkDef, SandboxDef};
use crate::model::Subnet;
use crate::network::CreateRequest;
use crate::spec::{SandboxRequest, SandboxSpec};
use crate::state::{NetworkRecord, SandboxRecord};
use anyhow::{Context, Result};
use std::collections::BTreeMap;

/// The label every sandbox and network a lab makes carries (SPEC "Labs").
pub const LAB_LABEL: &str = "lab";

/// The command of a sandbox whose table gives none: sleep until stopped.
/// `sleep infinity` works with coreutils (the host's root) and busybox
/// 1.31 and later (its `sleep` takes "inf..."), so in a rootfs or image too.
pub const IDLE_COMMAND: [&str; 2] = ["sleep", "infinity"];

/// `lab=NAME`, as a label map.
pub fn labels(lab: &Lab) -> BTreeMap<String, String> {
    BTreeMap::from([(LAB_LABEL.to_string(), lab.name.clone())])
}

/// Whether a record's labels say it belongs to this lab.
pub fn is_ours(labels: &BTreeMap<String, String>, lab: &str) -> bool {
    labels.get(LAB_LABEL).is_some_and(|l| l == lab)
}

/// `[networks.NAME]` as `sbx network create NAME --subnet ...` asks it.
pub fn network_request(lab: &Lab, name: &str, def: &NetworkDef) -> Result<CreateRequest> {
    let subnet = def
        .subnet
        .as_deref()
        .map(str::parse::<Subnet>)
        .transpose()?;
    let gateway = (def.gateway.as_deref())
        .map(|g| {
            g.parse()
                .with_context(|| format!("network {name}: gateway {g:?} is not an IPv4 address"))
        })
        .transpose()?;
    Ok(CreateRequest {
        name: name.to_string(),
        subnet,
        gateway,
        subnet6: None,
        gateway6: None,
        bridge: def.bridge.clone(),
        internal: def.internal,
        mtu: def.mtu,
        labels: labels(lab),
        vxlan: None,
    })
}

/// `[sandboxes.NAME]` as `sbx run -d --name NAME --label lab=LAB ...`
/// asks it: networks as `name=NET,ip=ADDR` (or `NET` for any address),
/// rootfs relative to the file, the idle command by default.
pub fn sandbox_request(lab: &Lab, name: &str, def: &SandboxDef) -> SandboxRequest {
    let networks = (def.networks.iter())
        .map(|(net, ip)| match ip.as_str() {
            "" => net.clone(),
            ip => format!("name={net},ip={ip}"),
        })
        .collect();
    let rootfs = (def.rootfs.as_ref()).map(|r| lab.dir.join(r).to_string_lossy().into_owned());
    let command = match &def.command {
        Some(command) => command.clone(),
        None => IDLE_COMMAND.map(String::from).to_vec(),
    };
    // With an image and no command, sleeping too: its entrypoint would
    // otherwise get "sleep infinity" as arguments.
    let entrypoint = (def.image.is_some() && def.command.is_none()).then(String::new);
    SandboxRequest {
        name: Some(name.to_string()),
        networks,
        env: def.env.entries(),
        rootfs,
        image: def.image.clone(),
        entrypoint,
        memory: def.memory.clone(),
        pids_limit: def.pids_limit,
        cpus: def.cpus,
        publish: def.publish.clone(),
        allow_spoofing: def.allow_spoofing,
        command,
        detach: true,
        labels: labels(lab)
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        ..SandboxRequest::default()
    }
}

/// The checked spec of one lab sandbox (the `sbx run` checks, messages
/// prefixed with the sandbox's name).
pub fn sandbox_spec(
    lab: &Lab,
    name: &str,
    def: &SandboxDef,
    image_store: Option<&std::path::Path>,
) -> Result<SandboxSpec> {
    let mut request = sandbox_request(lab, name, def);
    request.image_store = image_store.map(|p| p.to_path_buf());
    let unnamed = || name.to_string();
    SandboxSpec::from_request(&request, unnamed, |k| std::env::var(k).ok(), false)
        .with_context(|| format!("sandbox {name}"))
}

/// How an existing network differs from the file's table: each key the
/// file gives (and `internal`, whose absence means NAT) compared.
pub fn network_differences(req: &CreateRequest, have: &NetworkRecord) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(subnet) = req.subnet
        && subnet != have.subnet
    {
        out.push(format!("subnet {subnet} in the file, {} now", have.subnet));
    }
    let gateway = req.gateway.or_else(|| req.subnet.map(|s| s.first_host()));
    if let Some(gateway) = gateway
        && gateway != have.gateway
    {
        out.push(format!(
            "gateway {gateway} in the file, {} now",
            have.gateway
        ));
    }
    let bridge = req.bridge.as_deref().unwrap_or(&req.name);
    if bridge != have.bridge {
        out.push(format!("bridge {bridge} in the file, {} now", have.bridge));
    }
    if req.internal != have.internal {
        let word = |i: bool| if i { "internal" } else { "NAT" };
        out.push(format!(
            "{} in the file, {} now",
            word(req.internal),
            word(have.internal)
        ));
    }
    if let Some(mtu) = req.mtu
        && Some(mtu) != have.mtu
    {
        let now = have.mtu.map_or("the default".into(), |m| m.to_string());
        out.push(format!("mtu {mtu} in the file, {now} now"));
    }
    out
}

/// The spec fields (by their record names) in which a sandbox that exists
/// differs from the file's: an address left to IPAM ("") matches the one
/// it got.
pub fn spec_differences(want: &SandboxSpec, have: &SandboxRecord) -> Vec<String> {
    let mut want = want.clone();
    for request in &mut want.networks {
        if request.ip.is_none() {
            request.ip = have.link_on(&request.name).map(|l| l.ip);
        }
    }
    let mut have_spec = have.spec.clone();
    for request in &mut have_spec.networks {
        if request.ip.is_none() {
            request.ip = have.link_on(&request.name).map(|l| l.ip);
        }
    }
    let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) = (
        serde_json::to_value(&want),
        serde_json::to_value(&have_spec),
    ) else {
        return vec!["spec".into()];
    };
    a.iter()
        .filter(|(k, v)| b.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn lab(text: &str) -> Lab {
        super::super::file::parse(Path::new("labs/t.toml"), text).expect("valid lab")
    }

    #[test]
    fn a_sandbox_table_becomes_the_run_request() {
        let lab = lab(r#"
            [networks.n1]
            subnet = "10.250.0.0/24"
            [sandboxes.a]
            networks = { n1 = "10.250.0.5", n2 = "" }
            rootfs = "root"
            env = { A = "1" }
            publish = ["8080:80"]
            memory = "64m"
            "#);
        let req = sandbox_request(&lab, "a", &lab.sandboxes["a"]);
        assert_eq!(req.name.as_deref(), Some("a"));
        assert_eq!(req.networks, ["name=n1,ip=10.250.0.5", "n2"]);
        assert_eq!(req.rootfs.as_deref(), Some("labs/root"));
        assert_eq!(req.env, ["A=1"]);
        assert_eq!(req.command, IDLE_COMMAND);
        assert_eq!(req.labels, ["lab=t"]);
        assert!(req.detach);
        assert_eq!(req.memory.as_deref(), Some("64m"));
        let net = network_request(&lab, "n1", &lab.networks["n1"]).unwrap();
        assert_eq!(
            net.subnet.map(|s| s.to_string()).as_deref(),
            Some("10.250.0.0/24")
        );
        assert_eq!(net.labels.get("lab").map(String::as_str), Some("t"));
    }

    #[test]
    fn a_running_sandbox_matches_its_table_with_the_address_ipam_gave_it() {
        let text =
            "[networks.n1]\nsubnet = \"10.250.0.0/24\"\n[sandboxes.a]\nnetworks = { n1 = \"\" }\n";
        let lab = lab(text);
        let spec = sandbox_spec(&lab, "a", &lab.sandboxes["a"], None).unwrap();
        assert_eq!(spec.labels.get("lab").map(String::as_str), Some("t"));
        let record = |spec: SandboxSpec| SandboxRecord {
            spec,
            links: vec![crate::state::Link {
                network: "n1".into(),
                ip: "10.250.0.7".parse().unwrap(),
                ip6: None,
                veth: "sbxv".into(),
                ifname: "eth0".into(),
            }],
            created: 0,
            state: crate::state::SandboxState::Running,
            owner: None,
            init: None,
            netns: None,
            exit_code: None,
            cgroups: Vec::new(),
            nft_elements: true,
        };
        assert!(spec_differences(&spec, &record(spec.clone())).is_empty());
        // Launched with the address written out: the same sandbox.
        let mut pinned = spec.clone();
        pinned.networks[0].ip = Some("10.250.0.7".parse().unwrap());
        assert!(spec_differences(&spec, &record(pinned)).is_empty());
        let mut other = spec.clone();
        other.command = vec!["sh".into()];
        other.labels.clear();
        assert_eq!(
            spec_differences(&spec, &record(other)),
            ["command", "labels"]
        );
    }

    #[test]
    fn an_existing_network_is_compared_key_by_key() {
        let lab = lab(r#"
            [networks.n1]
            subnet = "10.250.0.0/24"
            mtu = 1400
            [sandboxes.a]
            "#);
        let req = network_request(&lab, "n1", &lab.networks["n1"]).unwrap();
        let have = NetworkRecord {
            name: "n1".into(),
            bridge: "n1".into(),
            subnet: "10.250.0.0/24".parse().unwrap(),
            gateway: "10.250.0.1".parse().unwrap(),
            internal: false,
            mtu: Some(1400),
            created: 0,
            bridge_created: true,
            gateway_added: true,
            subnet6: None,
            gateway6: None,
            gateway6_added: false,
            labels: BTreeMap::new(),
            vxlan: None,
        };
        assert!(network_differences(&req, &have).is_empty());
        let other = NetworkRecord {
            subnet: "10.251.0.0/24".parse().unwrap(),
            gateway: "10.251.0.1".parse().unwrap(),
            internal: true,
            mtu: None,
            ..have
        };
        let diff = network_differences(&req, &other).join("; ");
        assert!(
            diff.contains("subnet 10.250.0.0/24 in the file, 10.251.0.0/24 now"),
            "{diff}"
        );
        assert!(diff.contains("gateway 10.250.0.1 in the file"), "{diff}");
        assert!(diff.contains("NAT in the file, internal now"), "{diff}");
        assert!(
            diff.contains("mtu 1400 in the file, the default now"),
            "{diff}"
        );
    }
}
