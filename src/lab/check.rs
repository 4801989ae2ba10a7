//! The lab's half of `sbx lab check` (SPEC "Checks"): which networks to
//! check and which expectations to add. The check itself is `sbx network
//! check`'s (`crate::check::check_networks`).

use super::file::{Expect, Lab};
use crate::check::Expectation;
use crate::state::StateRoot;
use anyhow::Result;

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

/// `sbx lab check`: `sbx network check` over the lab's networks, with the
/// file's `[[expect]]` entries added (SPEC "Checks"); returns the exit
/// status (0 all passed, 1 otherwise).
pub fn check(root: &StateRoot, lab: &Lab, json: bool) -> Result<i32> {
    let plan = plan(lab);
    let expectations: Vec<Expectation> = (plan.expectations.iter())
        .map(|e| Expectation {
            from: e.from.clone(),
            to: e.to.clone(),
            reach: e.reach,
        })
        .collect();
    let report = crate::check::check_networks(root.path(), &plan.networks, &expectations)?;
    crate::check::print_report(&report, json);
    Ok(if report.failed == 0 { 0 } else { 1 })
}
