//! GC (CNI spec 1.1): every attachment of this configuration that is not
//! in `cni.dev/valid-attachments` is torn down (port, anti-spoofing
//! element, lease, record), as are leases left without a record; a
//! delegated `ipam` plugin gets the same request.

use super::commands::{io, need_1_1, open_root, release_leftovers, teardown};
use super::{CniError, CniResult, code, config, delegate};
use crate::state::cni::CniStore;
use std::collections::HashSet;

/// Runs GC for the configuration on stdin.
pub fn gc(stdin: &[u8]) -> CniResult<()> {
    let conf = config::parse(stdin)?;
    need_1_1(&conf, "GC")?;
    let Some(valid) = &conf.valid_attachments else {
        return Err(CniError::new(
            code::INVALID_CONFIG,
            "GC needs cni.dev/valid-attachments: the runtime must list what to keep",
        ));
    };
    let keep: HashSet<String> = valid
        .iter()
        .map(|v| CniStore::key(&v.container_id, &v.ifname))
        .collect();
    let root = open_root()?;
    // Exclusive: no ADD is between its lease and its record meanwhile.
    let _lock = root.lock().map_err(io("lock the state root"))?;
    let store = root.cni(&conf.name);
    let mut errors = Vec::new();
    for key in store.keys().map_err(io("read the CNI store"))? {
        if keep.contains(&key) {
            continue;
        }
        match store.get(&key) {
            Ok(Some(att)) => {
                if let Err(e) = teardown(&store, &key, &att) {
                    errors.push(e.msg);
                }
            }
            Ok(None) => {}
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    release_leftovers(&store, |holder| !keep.contains(holder))?;
    if let Some(kind) = &conf.ipam_type {
        delegate::run(kind, "GC", stdin)?;
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CniError::new(code::INTERNAL, errors.join("; ")))
    }
}
