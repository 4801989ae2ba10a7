//! `sbx impair set|clear|show` (SPEC "Impairments and partitions"): link
//! impairments on a running sandbox's interface, both ways. The host-side
//! veth's egress queue shapes what goes to the sandbox, the sandbox
//! interface's own egress (set from a netlink socket inside its netns) what
//! comes from it: two plain egress qdiscs, no ifb device and no ingress
//! redirect, and each direction queues where its sender feels it, as on a
//! real link. `--rate` is a tbf (or netem's rate), `--loss` nf_tables rules
//! at the bridge port (`firewall::loss`), delay, jitter, corruption and
//! duplication a netem, refused where the kernel has none. What was asked
//! is kept per interface in the sandbox's folder (`impair.json`), written
//! before the kernel is touched, so a teardown always knows what to undo.

mod show;
mod units;

pub use show::show;

use super::find;
use crate::net::Netlink;
use crate::net::tc::{self, Netem, Shaping};
use crate::state::records::Status;
use crate::state::{Link, SandboxRecord, StateRoot};
use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The file in a sandbox's folder.
const FILE: &str = "impair.json";

/// What `set` was given, as typed (parsed here, so errors name the option).
#[derive(Debug, Default, Clone)]
pub struct Request {
    /// `SANDBOX[:IFACE]`.
    pub target: String,
    /// `--delay`.
    pub delay: Option<String>,
    /// `--jitter`.
    pub jitter: Option<String>,
    /// `--loss`.
    pub loss: Option<String>,
    /// `--rate`.
    pub rate: Option<String>,
    /// `--corrupt`.
    pub corrupt: Option<String>,
    /// `--duplicate`.
    pub duplicate: Option<String>,
}

/// One interface's impairments, as `impair.json` keeps them.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impairment {
    /// Added delay each way, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_us: Option<u64>,
    /// Random variation of the delay, µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter_us: Option<u64>,
    /// Frames lost each way, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_percent: Option<f64>,
    /// Rate limit each way, bits/s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_bit: Option<u64>,
    /// Corrupted frames, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corrupt_percent: Option<f64>,
    /// Duplicated frames, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duplicate_percent: Option<f64>,
}

impl Impairment {
    /// Parses the options of `set`; at least one must be given.
    pub fn parse(r: &Request) -> Result<Self> {
        let imp = Impairment {
            delay_us: r
                .delay
                .as_deref()
                .map(|t| units::duration_us("--delay", t))
                .transpose()?,
            jitter_us: r
                .jitter
                .as_deref()
                .map(|t| units::duration_us("--jitter", t))
                .transpose()?,
            loss_percent: r
                .loss
                .as_deref()
                .map(|t| units::percent("--loss", t))
                .transpose()?,
            rate_bit: r
                .rate
                .as_deref()
                .map(|t| units::rate_bit("--rate", t))
                .transpose()?,
            corrupt_percent: (r.corrupt.as_deref())
                .map(|t| units::percent("--corrupt", t))
                .transpose()?,
            duplicate_percent: (r.duplicate.as_deref())
                .map(|t| units::percent("--duplicate", t))
                .transpose()?,
        };
        if imp.jitter_us.is_some() && imp.delay_us.is_none() {
            bail!("--jitter varies the delay: give --delay too (e.g. --delay 50ms --jitter 10ms)");
        }
        if imp == Impairment::default() {
            bail!(
                "nothing to set on {}: give --delay, --jitter, --loss, --rate, --corrupt or --duplicate (or use 'sbx impair clear')",
                r.target
            );
        }
        Ok(imp)
    }

    /// The first option given that only netem can do, if any.
    fn netem_option(&self) -> Option<&'static str> {
        [
            (self.delay_us.is_some(), "--delay"),
            (self.jitter_us.is_some(), "--jitter"),
            (self.corrupt_percent.is_some(), "--corrupt"),
            (self.duplicate_percent.is_some(), "--duplicate"),
        ]
        .into_iter()
        .find_map(|(given, option)| given.then_some(option))
    }

    /// The egress qdisc each end gets.
    fn shaping(&self) -> Shaping {
        let netem = self.netem_option().map(|_| Netem {
            delay_ns: self.delay_us.unwrap_or(0) * 1000,
            jitter_ns: self.jitter_us.unwrap_or(0) * 1000,
            corrupt: self.corrupt_percent.unwrap_or(0.0),
            duplicate: self.duplicate_percent.unwrap_or(0.0),
            rate: 0,
        });
        Shaping {
            rate: self.rate_bit.unwrap_or(0) / 8,
            netem,
        }
    }

    /// `delay 50ms jitter 5ms loss 30% rate 10mbit ...`, in the options'
    /// order.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(us) = self.delay_us {
            parts.push(format!("delay {}", units::show_duration(us)));
        }
        if let Some(us) = self.jitter_us {
            parts.push(format!("jitter {}", units::show_duration(us)));
        }
        if let Some(p) = self.loss_percent {
            parts.push(format!("loss {}", units::show_percent(p)));
        }
        if let Some(bit) = self.rate_bit {
            parts.push(format!("rate {}", units::show_rate(bit)));
        }
        if let Some(p) = self.corrupt_percent {
            parts.push(format!("corrupt {}", units::show_percent(p)));
        }
        if let Some(p) = self.duplicate_percent {
            parts.push(format!("duplicate {}", units::show_percent(p)));
        }
        parts.join(" ")
    }
}

/// `SANDBOX[:IFACE]`, the interface `eth0` unless named.
fn target(text: &str) -> (&str, &str) {
    text.split_once(':').unwrap_or((text, "eth0"))
}

/// The running sandbox `name` and its link named `iface`.
fn running_link(root: &StateRoot, name: &str, iface: &str) -> Result<(SandboxRecord, Link)> {
    let record = find(root, name)?;
    if record.status() != Status::Running {
        bail!("sandbox {name} is not running: impairments apply to running sandboxes only");
    }
    let Some(link) = record.links.iter().find(|l| l.ifname == iface).cloned() else {
        let names: Vec<&str> = record.links.iter().map(|l| l.ifname.as_str()).collect();
        bail!(
            "sandbox {name} has no interface {iface} (it has {})",
            if names.is_empty() {
                "none".into()
            } else {
                names.join(", ")
            }
        );
    };
    Ok((record, link))
}

fn file(root: &StateRoot, name: &str) -> PathBuf {
    root.sandbox_dir(name).join(FILE)
}

/// The impairments recorded for sandbox `name`, per interface (none if
/// the file is missing or unreadable).
fn load(root: &StateRoot, name: &str) -> BTreeMap<String, Impairment> {
    std::fs::read(file(root, name))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Writes the record (removing the file when nothing is left).
fn save(root: &StateRoot, name: &str, all: &BTreeMap<String, Impairment>) -> Result<()> {
    let path = file(root, name);
    if all.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("remove {}", path.display()))
            }
            _ => Ok(()),
        };
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(all)?)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("write {}", path.display()))
}

/// The impairment `request` asks for, checked as far as it can be without a
/// sandbox: its units, and that this kernel can do it (options needing
/// netem are refused where the kernel lacks sch_netem). `sbx lab up` checks
/// a lab file's impairments with it before it makes anything.
pub fn validate(request: &Request) -> Result<Impairment> {
    let wanted = Impairment::parse(request)?;
    if let Some(option) = wanted.netem_option()
        && !tc::netem_available()?
    {
        bail!(
            "{option} needs the kernel's netem qdisc (sch_netem, CONFIG_NET_SCH_NETEM), which this kernel lacks; --rate and --loss work without it"
        );
    }
    Ok(wanted)
}

/// What is recorded for interface `iface` of sandbox `name` (`None`: no
/// impairment), so `sbx lab up` leaves an interface that already has what
/// its file asks alone.
pub fn recorded_for(root: &StateRoot, name: &str, iface: &str) -> Option<Impairment> {
    load(root, name).remove(iface)
}

/// `sbx impair set`: replaces every impairment of the interface with
/// those given. Options needing netem are refused before anything is
/// touched where the kernel lacks it.
pub fn set(root: &StateRoot, request: &Request) -> Result<()> {
    let (name, iface) = target(&request.target);
    let wanted = validate(request)?;
    let (record, link) = running_link(root, name, iface)?;
    let _lock = root.lock_sandbox(name)?;
    let mut all = load(root, name);
    all.insert(iface.to_string(), wanted.clone());
    save(root, name, &all)?;
    if let Err(e) = apply(&record, &link, &wanted) {
        // Nothing half-set stays: the interface goes back to no impairment.
        let _ = apply(&record, &link, &Impairment::default());
        all.remove(iface);
        let _ = save(root, name, &all);
        return Err(e);
    }
    Ok(())
}

/// `sbx impair clear`: the interface loses every impairment.
pub fn clear(root: &StateRoot, target_text: &str) -> Result<()> {
    let (name, iface) = target(target_text);
    let (record, link) = running_link(root, name, iface)?;
    let _lock = root.lock_sandbox(name)?;
    apply(&record, &link, &Impairment::default())?;
    let mut all = load(root, name);
    all.remove(iface);
    save(root, name, &all)
}

/// Makes the kernel do `imp` on `link` (nothing: everything removed).
fn apply(record: &SandboxRecord, link: &Link, imp: &Impairment) -> Result<()> {
    let shaping = imp.shaping();
    let nl = Netlink::new()?;
    nl.block_on(tc::shape(nl.host(), &link.veth, &shaping))?;
    let netns_path = match &record.netns {
        Some(path) => path.clone(),
        None => {
            let init = record.init.context("the sandbox has no init")?;
            PathBuf::from(format!("/proc/{}/ns/net", init.pid))
        }
    };
    let netns = std::fs::File::open(&netns_path)
        .with_context(|| format!("open the sandbox's netns {}", netns_path.display()))?;
    let inside = nl.handle_in(&netns)?;
    nl.block_on(tc::shape(&inside, &link.ifname, &shaping))?;
    match imp.loss_percent {
        Some(p) => crate::firewall::loss::set(&link.veth, p),
        None => crate::firewall::loss::clear(&link.veth),
    }
}

/// Whether sandbox `name` has impairments recorded (its teardown then
/// removes their nf_tables rules).
pub fn recorded(root: &StateRoot, name: &str) -> bool {
    file(root, name).exists()
}

/// Forgets what was recorded for sandbox `name` (its teardown, once the
/// kernel's part is gone), or for one interface of it.
pub fn forget(root: &StateRoot, name: &str, iface: Option<&str>) -> Result<()> {
    let mut all = load(root, name);
    match iface {
        Some(iface) => {
            all.remove(iface);
        }
        None => all.clear(),
    }
    save(root, name, &all)
}

/// The impairments of sandbox `name`, per interface, as text (e.g.
/// `("eth0", "delay 20ms loss 30%")`): for `sbx network check`'s
/// diagnosis and the lab graph.
pub fn describe(root: &StateRoot, name: &str) -> Vec<(String, String)> {
    load(root, name)
        .into_iter()
        .map(|(iface, imp)| (iface, imp.describe()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(f: impl FnOnce(&mut Request)) -> Request {
        let mut r = Request {
            target: "a".into(),
            ..Request::default()
        };
        f(&mut r);
        r
    }

    #[test]
    fn the_interface_defaults_to_eth0() {
        assert_eq!(target("web"), ("web", "eth0"));
        assert_eq!(target("web:eth1"), ("web", "eth1"));
    }

    #[test]
    fn rate_and_loss_need_no_netem_and_the_rest_does() {
        let plain = Impairment::parse(&request(|r| {
            r.rate = Some("10mbit".into());
            r.loss = Some("30%".into());
        }))
        .unwrap();
        assert_eq!(plain.netem_option(), None);
        assert_eq!(
            plain.shaping(),
            Shaping {
                rate: 1_250_000,
                netem: None
            }
        );
        assert_eq!(plain.describe(), "loss 30% rate 10mbit");
        let netem = Impairment::parse(&request(|r| {
            r.jitter = Some("5ms".into());
            r.delay = Some("50ms".into());
        }))
        .unwrap();
        assert_eq!(netem.netem_option(), Some("--delay"));
        let shaping = netem.shaping().netem.unwrap();
        assert_eq!(
            (shaping.delay_ns, shaping.jitter_ns),
            (50_000_000, 5_000_000)
        );
        assert_eq!(netem.describe(), "delay 50ms jitter 5ms");
    }

    #[test]
    fn nothing_asked_is_an_error_pointing_at_clear() {
        let err = Impairment::parse(&request(|_| {})).unwrap_err().to_string();
        assert!(err.contains("sbx impair clear"), "{err}");
    }

    #[test]
    fn the_record_keeps_only_what_was_given() {
        let imp = Impairment {
            loss_percent: Some(30.0),
            ..Impairment::default()
        };
        let text = serde_json::to_string(&imp).unwrap();
        assert_eq!(text, r#"{"loss_percent":30.0}"#);
        let back: Impairment = serde_json::from_str(&text).unwrap();
        assert_eq!(back, imp);
    }
}
