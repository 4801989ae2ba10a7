//! Making a fresh sandbox reachable before `sbx run` says it runs.
//!
//! Why a new sandbox could be deaf for a while (issue 8, item 18): when
//! `eth0` comes up inside the sandbox, the veth driver turns the carrier of
//! both ends on, but what makes the host end usable happens later, in the
//! kernel's asynchronous "linkwatch" work (a kworker that also needs the
//! RTNL lock): only then is the host end's operstate set UP, its queueing
//! discipline switched from the dropping `noop` to the real one, and the
//! bridge told (`NETDEV_CHANGE`) so it moves the port from `disabled` to
//! `forwarding` (at once, since sbx's bridges run without STP) and turns its
//! own carrier (and qdisc, in its own linkwatch turn) on if this was its
//! first port. Until then the bridge drops whatever the sandbox sends and
//! the host end drops whatever is sent to it: a neighbour's or the
//! gateway's ARP goes unanswered. On an idle host the kworker runs within
//! microseconds; on a loaded one (busy CPUs, RTNL held by namespaces being
//! torn down and other launches) it can wait for seconds, longer than the
//! three ARP probes a neighbour sends before it gives up.
//!
//! The fix: since Linux 6.7, a single-link RTM_GETLINK runs that device's
//! pending linkwatch work synchronously (`linkwatch_sync_dev`, "so we don't
//! report a state that we're not actually going to honour"). sbx asks for
//! the host end (which also enables the bridge port), the bridge and `eth0`,
//! and checks the answers: both ends UP and the port forwarding. On older
//! kernels it polls briefly; on a bridge with STP (only an adopted one can
//! have it), where the port must listen and learn first, it warns at once
//! rather than hold the launch or fail it.

use super::{describe, errno};
use anyhow::{Context, Result};
use futures::TryStreamExt;
use rtnetlink::Handle;
use rtnetlink::packet_route::link::{
    BridgePortState, InfoBridgePort, InfoPortData, LinkAttribute, LinkInfo, LinkMessage, State,
};
use std::time::{Duration, Instant};

/// How long a launch waits for a port the kernel has not made ready.
const PATIENCE: Duration = Duration::from_secs(2);
/// Pause between two looks while waiting.
const PAUSE: Duration = Duration::from_millis(5);

/// What one RTM_GETLINK says about a link's readiness.
#[derive(Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Operstate UP (or UNKNOWN, which drivers without carrier report).
    pub up: bool,
    /// For a bridge port: its STP state; `None` for anything else.
    pub port: Option<BridgePortState>,
}

impl Readiness {
    /// Reads operstate and bridge port state from a link message.
    pub fn of(msg: &LinkMessage) -> Self {
        let mut ready = Readiness {
            up: false,
            port: None,
        };
        for attr in &msg.attributes {
            match attr {
                LinkAttribute::OperState(state) => {
                    ready.up = matches!(state, State::Up | State::Unknown)
                }
                LinkAttribute::LinkInfo(infos) => {
                    for info in infos {
                        if let LinkInfo::PortData(InfoPortData::BridgePort(port)) = info {
                            ready.port = port.iter().find_map(|p| match p {
                                InfoBridgePort::State(s) => Some(*s),
                                _ => None,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
        ready
    }

    /// Whether the port is going through STP's listening and learning
    /// (an adopted bridge with STP on): that takes twice the bridge's
    /// forward delay, 30 s by default, so waiting for it is pointless.
    pub fn stp_pending(&self) -> bool {
        matches!(
            self.port,
            Some(
                BridgePortState::Listening | BridgePortState::Learning | BridgePortState::Blocking
            )
        )
    }

    /// Whether traffic can pass: up, and forwarding if it is a port.
    pub fn passes(&self) -> bool {
        self.up && matches!(self.port, None | Some(BridgePortState::Forwarding))
    }
}

/// One single-link RTM_GETLINK by name (which syncs its linkwatch work).
async fn look(handle: &Handle, name: &str) -> Result<Readiness> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => Ok(Readiness::of(&msg)),
        Ok(None) => anyhow::bail!("link {name} vanished"),
        Err(e) if errno(&e) == Some(libc::ENODEV) => anyhow::bail!("link {name} vanished"),
        Err(e) => Err(describe(e)).with_context(|| format!("look up link {name}")),
    }
}

/// Until `name` passes traffic or `PATIENCE` runs out; the last look.
async fn settle(handle: &Handle, name: &str, deadline: Instant) -> Result<Readiness> {
    loop {
        let ready = look(handle, name).await?;
        if ready.passes() || ready.stp_pending() || Instant::now() >= deadline {
            return Ok(ready);
        }
        // The runtime has one thread and nothing else to do meanwhile.
        std::thread::sleep(PAUSE);
    }
}

/// Makes sure a just-wired sandbox is reachable: the host end `host_end`
/// up and forwarding on `bridge`, the bridge up, `eth0` (`inside`) up.
/// Returns a warning to show when the kernel did not get there in time.
pub async fn await_link(
    host: &Handle,
    host_end: &str,
    bridge: &str,
    inside: &Handle,
    eth0: &str,
) -> Result<Option<String>> {
    let started = Instant::now();
    let deadline = started + PATIENCE;
    let port = settle(host, host_end, deadline).await?;
    // A port that STP holds keeps the bridge's carrier off too (a bridge
    // is not a port itself): waiting for the bridge would only burn the
    // whole patience, so the warning comes at once.
    let (bridge_ready, eth0_ready) = if port.stp_pending() {
        (look(host, bridge).await?, look(inside, eth0).await?)
    } else {
        (
            settle(host, bridge, deadline).await?,
            settle(inside, eth0, deadline).await?,
        )
    };
    if crate::log::debug_enabled() {
        crate::log::debug(&format!(
            "{host_end}: link ready in {:?}",
            started.elapsed()
        ));
    }
    Ok(if !port.passes() {
        Some(format!(
            "the sandbox's port {host_end} on bridge {bridge} is {} after {PATIENCE:?} (STP on the bridge?): it may be unreachable for a while",
            match port.port {
                Some(state) => format!("{state:?}").to_lowercase(),
                None => "down".to_string(),
            }
        ))
    } else if !bridge_ready.passes() || !eth0_ready.passes() {
        Some(format!(
            "bridge {bridge} or the sandbox's {eth0} is not up after {PATIENCE:?}: the sandbox may be unreachable for a while"
        ))
    } else {
        None
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtnetlink::packet_route::link::InfoPortKind;

    fn link(state: State, port: Option<BridgePortState>) -> LinkMessage {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::OperState(state));
        if let Some(port) = port {
            msg.attributes.push(LinkAttribute::LinkInfo(vec![
                LinkInfo::PortKind(InfoPortKind::Bridge),
                LinkInfo::PortData(InfoPortData::BridgePort(vec![
                    InfoBridgePort::Priority(32),
                    InfoBridgePort::State(port),
                ])),
            ]));
        }
        msg
    }

    #[test]
    fn a_port_passes_only_up_and_forwarding() {
        let ok = link(State::Up, Some(BridgePortState::Forwarding));
        assert!(Readiness::of(&ok).passes());
        let learning = link(State::Up, Some(BridgePortState::Learning));
        assert!(!Readiness::of(&learning).passes());
        assert!(Readiness::of(&learning).stp_pending());
        let disabled = link(State::Down, Some(BridgePortState::Disabled));
        assert!(!Readiness::of(&disabled).passes());
    }

    #[test]
    fn a_plain_link_passes_when_up() {
        assert!(Readiness::of(&link(State::Up, None)).passes());
        assert!(!Readiness::of(&link(State::LowerLayerDown, None)).passes());
    }
}
