//! Applying a sandbox's capability set to a process: the bounding,
//! inheritable, permitted, effective and ambient sets, then
//! `no_new_privs`. Which capabilities to keep is the spec's (`spec::caps`).

use anyhow::{Context, Result};
use caps::{CapSet, Capability, CapsHashSet};

/// Limits this process (and everything it execs) to `keep`: the bounding set
/// first (it caps what any later exec can gain), then the inheritable,
/// permitted and effective sets; finally `no_new_privs`, so no setuid binary
/// or file capability can win anything back (unless `allow_new_privileges`:
/// OCI's `noNewPrivileges: false`).
pub fn restrict_to(keep: &[Capability], allow_new_privileges: bool) -> Result<()> {
    restrict(keep, true, allow_new_privileges)
}

/// Only the bounding set, the ambient set and `no_new_privs`: for the init
/// of a sandbox whose command sets its own four other sets (OCI's five
/// sets, see `settings`), which may need CAP_SETUID to switch user first.
pub fn restrict_bounding(keep: &[Capability], allow_new_privileges: bool) -> Result<()> {
    restrict(keep, false, allow_new_privileges)
}

fn restrict(keep: &[Capability], own_sets: bool, allow_new_privileges: bool) -> Result<()> {
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
    let own = if own_sets {
        &[CapSet::Inheritable, CapSet::Effective, CapSet::Permitted][..]
    } else {
        &[]
    };
    for &set in own {
        let current =
            caps::read(None, set).with_context(|| format!("read capability set {set:?}"))?;
        let target: CapsHashSet = current.intersection(&keep).copied().collect();
        caps::set(None, set, &target).with_context(|| format!("set capability set {set:?}"))?;
    }
    // Root needs no ambient capabilities; none may be inherited either.
    caps::clear(None, CapSet::Ambient).context("clear the ambient set")?;
    if allow_new_privileges {
        return Ok(());
    }
    nix::sys::prctl::set_no_new_privs().context("set no_new_privs")
}
