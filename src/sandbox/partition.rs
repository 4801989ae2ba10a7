//! `sbx partition add|rm|ls|clear` (SPEC "Impairments and partitions"):
//! two groups of running sandboxes that exchange no frame at all, enforced
//! by `firewall::partition`'s set elements. The groups asked for are kept
//! in `ROOT/partitions.json` (under its own lock, `partitions.lock`, so a
//! teardown may take it whatever locks its caller holds), written before
//! the kernel is changed, so the file always names at least what the
//! kernel holds. A sandbox that ends leaves every group (its elements go
//! with its teardown); entries left empty are dropped.

use super::find;
use crate::firewall::partition::{self as fw, Cut};
use crate::state::records::Status;
use crate::state::{SandboxRecord, StateRoot};
use anyhow::{Context, Result, bail};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Two groups cut from each other, each sorted; `a` sorts first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// One side.
    pub a: Vec<String>,
    /// The other.
    pub b: Vec<String>,
}

impl Partition {
    /// The same partition whichever order its groups were given in.
    fn new(a: BTreeSet<String>, b: BTreeSet<String>) -> Self {
        let (a, b): (Vec<String>, Vec<String>) = (a.into_iter().collect(), b.into_iter().collect());
        if a <= b {
            Partition { a, b }
        } else {
            Partition { a: b, b: a }
        }
    }

    /// Every (x, y) pair of sandboxes it separates, x from `a`.
    fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        (self.a.iter()).flat_map(|x| self.b.iter().map(move |y| (x.as_str(), y.as_str())))
    }

    fn show(&self) -> (String, String) {
        (self.a.join(","), self.b.join(","))
    }
}

/// `A,B` as a set of checked names.
fn group(text: &str) -> Result<BTreeSet<String>> {
    let names: BTreeSet<String> = (text.split(','))
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(String::from)
        .collect();
    if names.is_empty() {
        bail!("empty group {text:?}: name sandboxes like a,b");
    }
    for name in &names {
        crate::spec::check_name(name)?;
    }
    Ok(names)
}

/// The two groups of `add`/`rm`, which may not share a sandbox.
fn groups(a: &str, b: &str) -> Result<Partition> {
    let (a, b) = (group(a)?, group(b)?);
    if let Some(both) = a.intersection(&b).next() {
        bail!("sandbox {both} is in both groups: a sandbox cannot be cut from itself");
    }
    Ok(Partition::new(a, b))
}

fn file(root: &StateRoot) -> PathBuf {
    root.path().join("partitions.json")
}

/// The partitions file's own lock.
fn lock(root: &StateRoot) -> Result<Flock<std::fs::File>> {
    let path = root.path().join("partitions.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("open {}", path.display()))?;
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, errno)| errno)
        .with_context(|| format!("lock {}", path.display()))
}

fn load(root: &StateRoot) -> Vec<Partition> {
    std::fs::read(file(root))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn save(root: &StateRoot, all: &[Partition]) -> Result<()> {
    let path = file(root);
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

/// Drops `gone` from every group, and entries left with an empty side.
fn without(all: Vec<Partition>, gone: &dyn Fn(&str) -> bool) -> Vec<Partition> {
    all.into_iter()
        .map(|p| Partition {
            a: p.a.into_iter().filter(|n| !gone(n)).collect(),
            b: p.b.into_iter().filter(|n| !gone(n)).collect(),
        })
        .filter(|p| !p.a.is_empty() && !p.b.is_empty())
        .collect()
}

/// The partitions, minus sandboxes no longer running.
fn load_live(root: &StateRoot) -> Vec<Partition> {
    let running = |name: &str| {
        root.sandbox(name)
            .ok()
            .flatten()
            .is_some_and(|r| r.status() == Status::Running)
    };
    without(load(root), &|n| !running(n))
}

/// The running sandboxes named, or the error naming the first that is not.
fn running(root: &StateRoot, p: &Partition) -> Result<Vec<SandboxRecord>> {
    let mut records = Vec::new();
    for name in p.a.iter().chain(&p.b) {
        let record = find(root, name)?;
        if record.status() != Status::Running {
            bail!("sandbox {name} is not running: partitions apply to running sandboxes only");
        }
        records.push(record);
    }
    Ok(records)
}

/// What separates the pairs `pairs` (both directions): their ports on
/// shared networks and all their addresses.
fn cut(records: &[SandboxRecord], pairs: &BTreeSet<(String, String)>) -> Cut {
    let by_name = |n: &str| records.iter().find(|r| r.spec.name == n);
    let mut cut = Cut::default();
    for (x, y) in pairs {
        let (Some(x), Some(y)) = (by_name(x), by_name(y)) else {
            continue;
        };
        for lx in &x.links {
            for ly in &y.links {
                if lx.network == ly.network {
                    cut.ports.push((lx.veth.clone(), ly.veth.clone()));
                    cut.ports.push((ly.veth.clone(), lx.veth.clone()));
                }
                cut.addrs.push((lx.ip, ly.ip));
                cut.addrs.push((ly.ip, lx.ip));
            }
        }
    }
    cut
}

fn pair_set<'a>(parts: impl Iterator<Item = &'a Partition>) -> BTreeSet<(String, String)> {
    parts
        .flat_map(|p| p.pairs().map(|(x, y)| (x.to_string(), y.to_string())))
        .collect()
}

/// `sbx partition add A[,B...] C[,D...]`; one that exists is kept as is.
pub fn add(root: &StateRoot, a: &str, b: &str) -> Result<()> {
    let wanted = groups(a, b)?;
    let records = running(root, &wanted)?;
    let _lock = lock(root)?;
    let before = load_live(root);
    let mut all = before.clone();
    if !all.contains(&wanted) {
        all.push(wanted.clone());
    }
    save(root, &all)?;
    if let Err(e) = fw::add(&cut(&records, &pair_set(std::iter::once(&wanted)))) {
        let _ = save(root, &before);
        return Err(e);
    }
    Ok(())
}

/// `sbx partition rm A[,B...] C[,D...]`: pairs another partition still
/// separates stay separated.
pub fn rm(root: &StateRoot, a: &str, b: &str) -> Result<()> {
    let wanted = groups(a, b)?;
    let _lock = lock(root)?;
    let mut all = load_live(root);
    let Some(at) = all.iter().position(|p| *p == wanted) else {
        let (a, b) = wanted.show();
        bail!("no partition between {a} and {b} (see 'sbx partition ls')");
    };
    all.remove(at);
    let kept = pair_set(all.iter());
    let freed: BTreeSet<(String, String)> = pair_set(std::iter::once(&wanted))
        .into_iter()
        .filter(|(x, y)| {
            !kept.contains(&(x.clone(), y.clone())) && !kept.contains(&(y.clone(), x.clone()))
        })
        .collect();
    let records = records_of(root, &wanted);
    fw::remove(&cut(&records, &freed))?;
    save(root, &all)
}

/// `sbx partition clear`: every partition of this state root goes.
pub fn clear(root: &StateRoot) -> Result<()> {
    let _lock = lock(root)?;
    let all = load(root);
    let mut records = Vec::new();
    for p in &all {
        records.extend(records_of(root, p));
    }
    fw::remove(&cut(&records, &pair_set(all.iter())))?;
    save(root, &[])
}

/// The records of a partition's sandboxes that still have one.
fn records_of(root: &StateRoot, p: &Partition) -> Vec<SandboxRecord> {
    (p.a.iter().chain(&p.b))
        .filter_map(|n| root.sandbox(n).ok().flatten())
        .collect()
}

/// `sbx partition ls [--json]`.
pub fn ls(root: &StateRoot, json: bool) -> Result<()> {
    let all = {
        let _lock = lock(root)?;
        let all = load_live(root);
        save(root, &all)?;
        all
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&all)?);
        return Ok(());
    }
    let mut lines = vec![vec!["GROUP A".to_string(), "GROUP B".to_string()]];
    lines.extend(all.iter().map(|p| {
        let (a, b) = p.show();
        vec![a, b]
    }));
    print!("{}", crate::table::format_columns(&lines));
    Ok(())
}

/// Whether sandbox `name` is in a partition (its teardown then forgets
/// its elements).
pub fn named(root: &StateRoot, name: &str) -> bool {
    load(root)
        .iter()
        .any(|p| p.a.iter().chain(&p.b).any(|n| n == name))
}

/// Takes the ended sandbox `name` out of every partition (and drops the
/// entries naming ended sandboxes with it).
pub fn forget(root: &StateRoot, name: &str) -> Result<()> {
    let _lock = lock(root)?;
    let all = without(load(root), &|n| n == name);
    save(root, &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partition_is_the_same_whichever_side_comes_first() {
        assert_eq!(groups("c,a", "b").unwrap(), groups("b", "a,c").unwrap());
        let p = groups("b", "a,c").unwrap();
        assert_eq!(p.a, ["a", "c"]);
        assert_eq!(p.pairs().count(), 2);
    }

    #[test]
    fn a_sandbox_in_both_groups_or_an_empty_group_is_refused() {
        let err = groups("a,b", "b").unwrap_err().to_string();
        assert!(err.contains("sandbox b is in both groups"), "{err}");
        assert!(groups(",", "a").is_err());
    }

    #[test]
    fn an_ended_sandbox_leaves_its_groups_and_empty_entries_go() {
        let all = vec![groups("a,b", "c").unwrap(), groups("a", "d").unwrap()];
        let left = without(all, &|n| n == "a");
        assert_eq!(left, [groups("b", "c").unwrap()]);
    }
}
