//! Docker's default capability set: enough to run ordinary services as root,
//! without CAP_SYS_ADMIN or CAP_NET_ADMIN, so a sandbox cannot remount its
//! filesystem or change its own address and routes.

use anyhow::{Context, Result};
use caps::{CapSet, Capability, CapsHashSet};

/// The capabilities Docker grants a container by default.
pub const DEFAULT: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// Docker's default set adjusted by `--cap-add` / `--cap-drop` (names with
/// or without `CAP_`, any case; `ALL` for every capability). Drops apply
/// first, then adds, as in Docker.
pub fn resolve(add: &[String], drop: &[String]) -> Result<Vec<Capability>> {
    let mut set: Vec<Capability> = DEFAULT.to_vec();
    for name in drop {
        if name.eq_ignore_ascii_case("ALL") {
            set.clear();
        } else {
            let cap = parse(name)?;
            set.retain(|c| *c != cap);
        }
    }
    for name in add {
        if name.eq_ignore_ascii_case("ALL") {
            set = caps::all().into_iter().collect();
        } else {
            let cap = parse(name)?;
            if !set.contains(&cap) {
                set.push(cap);
            }
        }
    }
    set.sort_by_key(|c| c.index());
    Ok(set)
}

/// A capability by name: `NET_ADMIN`, `cap_net_admin`, `CAP_NET_ADMIN`.
pub fn parse(name: &str) -> Result<Capability> {
    let upper = name.to_ascii_uppercase();
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    full.parse().map_err(|_| {
        anyhow::anyhow!(
            "unknown capability {name:?}: use a name like NET_ADMIN (see capabilities(7))"
        )
    })
}

/// Limits this process (and everything it execs) to `keep`: the bounding set
/// first (it caps what any later exec can gain), then the inheritable,
/// permitted and effective sets; finally `no_new_privs`, so no setuid binary
/// or file capability can win anything back.
pub fn restrict_to(keep: &[Capability]) -> Result<()> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    // One PR_CAPBSET_DROP per capability not kept (no read first: the
    // launch pays for every syscall here).
    for cap in caps::all().into_iter().filter(|c| !keep.contains(c)) {
        // SAFETY: prctl with integer arguments only.
        let rc = unsafe {
            libc::prctl(
                libc::PR_CAPBSET_DROP,
                libc::c_ulong::from(cap.index()),
                0,
                0,
                0,
            )
        };
        let err = std::io::Error::last_os_error();
        // EINVAL: a capability this kernel does not know, so nothing to drop.
        if rc != 0 && err.raw_os_error() != Some(libc::EINVAL) {
            return Err(err).with_context(|| format!("drop {cap} from the bounding set"));
        }
    }
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        let current =
            caps::read(None, set).with_context(|| format!("read capability set {set:?}"))?;
        let target: CapsHashSet = current.intersection(&keep).copied().collect();
        caps::set(None, set, &target).with_context(|| format!("set capability set {set:?}"))?;
    }
    // Root needs no ambient capabilities; none may be inherited either.
    caps::clear(None, CapSet::Ambient).context("clear the ambient set")?;
    nix::sys::prctl::set_no_new_privs().context("set no_new_privs")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_and_drops_adjust_the_default() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let set = resolve(&names(&["net_admin"]), &names(&["CAP_CHOWN"])).unwrap();
        assert!(set.contains(&Capability::CAP_NET_ADMIN));
        assert!(!set.contains(&Capability::CAP_CHOWN));
        assert_eq!(set.len(), DEFAULT.len());
        let set = resolve(&names(&["KILL"]), &names(&["ALL"])).unwrap();
        assert_eq!(set, vec![Capability::CAP_KILL]);
        assert!(
            resolve(&names(&["ALL"]), &[])
                .unwrap()
                .contains(&Capability::CAP_SYS_ADMIN)
        );
        assert!(
            resolve(&names(&["NOPE"]), &[])
                .unwrap_err()
                .to_string()
                .contains("unknown capability")
        );
    }
}
