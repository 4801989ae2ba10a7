//! Which capabilities a sandbox keeps (`--cap-add`, `--cap-drop`), from
//! Docker's default set: enough to run ordinary services as root, without
//! CAP_SYS_ADMIN or CAP_NET_ADMIN, so a sandbox cannot remount its
//! filesystem or change its own address and routes. Pure parsing: the
//! process layer applies the result (`process::caps::restrict_to`).

use anyhow::Result;
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
