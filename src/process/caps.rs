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

/// Limits this process (and everything it execs) to `keep`: the bounding set
/// first (it caps what any later exec can gain), then the inheritable,
/// permitted and effective sets; finally `no_new_privs`, so no setuid binary
/// or file capability can win anything back.
pub fn restrict_to(keep: &[Capability]) -> Result<()> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    for cap in caps::read(None, CapSet::Bounding).context("read the bounding set")? {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap)
                .with_context(|| format!("drop {cap} from the bounding set"))?;
        }
    }
    for set in [CapSet::Inheritable, CapSet::Effective, CapSet::Permitted] {
        let current =
            caps::read(None, set).with_context(|| format!("read capability set {set:?}"))?;
        let target: CapsHashSet = current.intersection(&keep).copied().collect();
        caps::set(None, set, &target).with_context(|| format!("set capability set {set:?}"))?;
    }
    nix::sys::prctl::set_no_new_privs().context("set no_new_privs")
}
