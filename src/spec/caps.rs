//! Which capabilities a sandbox keeps (`--cap-add`, `--cap-drop`), from
//! Docker's default set: enough to run ordinary services as root, without
//! CAP_SYS_ADMIN or CAP_NET_ADMIN, so a sandbox cannot remount its
//! filesystem or change its own address and routes. Pure parsing: the
//! process layer applies the result (`process::caps::restrict_to`).

use anyhow::{Result, bail};
use caps::Capability;

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
/// or without `CAP_`, any case; `ALL` for every capability sbx itself holds).
/// Drops apply first, then adds, as in Docker. sbx can only pass on what is
/// in its own bounding set (capabilities(7)), read here from the kernel.
/// The bounding set is read only when something is added: `caps` asks the
/// kernel one capability at a time (a prctl each, ~41 per read), and most
/// launches add nothing.
pub fn resolve(add: &[String], drop: &[String]) -> Result<Vec<Capability>> {
    let held = if add.is_empty() {
        caps::CapsHashSet::new()
    } else {
        caps::read(None, caps::CapSet::Bounding)
            .map_err(|e| anyhow::anyhow!("read sbx's own bounding set: {e}"))?
    };
    resolve_within(add, drop, &held)
}

/// [`resolve`] against a given bounding set `held`: `ALL` adds every
/// capability in it; adding one outside it is a user error (it would be
/// silently missing in the sandbox).
pub fn resolve_within(
    add: &[String],
    drop: &[String],
    held: &caps::CapsHashSet,
) -> Result<Vec<Capability>> {
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
            set = held.iter().copied().collect();
        } else {
            let cap = parse(name)?;
            if !held.contains(&cap) {
                bail!(
                    "--cap-add {name}: sbx cannot grant {cap}: it is not in sbx's own \
                     bounding set: drop it, or run sbx with it"
                );
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn adds_and_drops_adjust_the_default() {
        let all = caps::all();
        let set = resolve_within(&names(&["net_admin"]), &names(&["CAP_CHOWN"]), &all).unwrap();
        assert!(set.contains(&Capability::CAP_NET_ADMIN));
        assert!(!set.contains(&Capability::CAP_CHOWN));
        assert_eq!(set.len(), DEFAULT.len());
        let set = resolve_within(&names(&["KILL"]), &names(&["ALL"]), &all).unwrap();
        assert_eq!(set, vec![Capability::CAP_KILL]);
        assert!(
            resolve_within(&names(&["ALL"]), &[], &all)
                .unwrap()
                .contains(&Capability::CAP_SYS_ADMIN)
        );
        assert!(
            resolve_within(&names(&["NOPE"]), &[], &all)
                .unwrap_err()
                .to_string()
                .contains("unknown capability")
        );
    }

    #[test]
    fn only_what_sbx_holds_can_be_added() {
        let mut held = caps::all();
        held.remove(&Capability::CAP_SYS_RESOURCE);
        let err = resolve_within(&names(&["SYS_RESOURCE"]), &[], &held).unwrap_err();
        assert!(
            err.to_string().starts_with(
                "--cap-add SYS_RESOURCE: sbx cannot grant CAP_SYS_RESOURCE: it is not in sbx's own bounding set"
            ),
            "{err}"
        );
        let set = resolve_within(&names(&["ALL"]), &[], &held).unwrap();
        assert_eq!(set.len(), held.len());
        assert!(!set.contains(&Capability::CAP_SYS_RESOURCE));
        // Dropping one sbx lacks is fine.
        assert!(resolve_within(&[], &names(&["SYS_RESOURCE"]), &held).is_ok());
    }
}
