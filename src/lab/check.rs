//! The lab's half of `sbx lab check` (SPEC "Checks"): which networks to
//! check and which expectations to add. The check itself is `sbx network
//! check`'s (`crate::check::check_networks`); until it lands, `lab check`
//! says so instead of pretending.

use super::file::{Expect, Lab};
use anyhow::{Result, bail};

/// What `sbx lab check FILE` hands to the network check.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The lab's networks and every network its sandboxes join, in order.
    pub networks: Vec<String>,
    /// The `[[expect]]` entries: (from, to, reach), as
    /// `check::Expectation { from, to, reach }` takes them.
    pub expectations: Vec<Expect>,
}

/// The networks and expectations of a lab.
pub fn plan(lab: &Lab) -> Plan {
    let mut networks: Vec<String> = lab.networks.keys().cloned().collect();
    for sandbox in lab.sandboxes.values() {
        for net in sandbox.networks.keys() {
            if !networks.contains(net) && net != crate::spec::NO_NETWORK {
                networks.push(net.clone());
            }
        }
        if sandbox.networks.is_empty()
            && !networks
                .iter()
                .any(|n| n == crate::network::DEFAULT_NETWORK)
        {
            networks.push(crate::network::DEFAULT_NETWORK.into());
        }
    }
    Plan {
        networks,
        expectations: lab.expect.clone(),
    }
}

/// `sbx lab check`: the seam. Wire it as
/// `crate::check::check_networks(root, &plan.networks, &expectations)`
/// followed by `print_report` once `sbx network check` exists.
pub fn check(lab: &Lab) -> Result<i32> {
    let plan = plan(lab);
    bail!(
        "lab check needs `sbx network check` (not built yet): the lab's {} network(s) and {} expectation(s) are ready for it",
        plan.networks.len(),
        plan.expectations.len()
    )
}
