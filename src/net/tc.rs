//! tc qdiscs over rtnetlink (SPEC "Impairments and partitions"; DESIGN.md
//! "Impairments (tc over netlink)"): one root qdisc on an interface's
//! egress, replaced whole (`RTM_NEWQDISC` with `NLM_F_CREATE |
//! NLM_F_REPLACE`, as `tc qdisc replace ... root` does), or deleted. A
//! rate alone is a tbf; delay, jitter, corruption or duplication make it a
//! netem (with netem's own rate), which not every kernel has: see
//! [`netem_available`]. The options' bytes are built in `encode`.

mod encode;

pub use encode::Netem;

use super::{Netlink, describe, errno};
use anyhow::{Context, Result, bail};
use futures::{StreamExt, TryStreamExt};
use rtnetlink::Handle;
use rtnetlink::packet_core::{
    DefaultNla, NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkMessage,
    NetlinkPayload,
};
use rtnetlink::packet_route::RouteNetlinkMessage;
use rtnetlink::packet_route::link::LinkAttribute;
use rtnetlink::packet_route::tc::{TcAttribute, TcHandle, TcMessage};

/// `TCA_OPTIONS` in `enum tca_attrs` (linux/rtnetlink.h).
const TCA_OPTIONS: u16 = 2;

/// What one interface's egress queue should do.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Shaping {
    /// Rate limit, bytes/s (0: none).
    pub rate: u64,
    /// netem's part (delay, jitter, corrupt, duplicate), if any: then the
    /// rate is netem's too.
    pub netem: Option<Netem>,
}

/// Makes `shaping` the root qdisc of `ifname` (in the namespace `handle`
/// talks to), replacing whatever was there; nothing asked removes sbx's
/// qdisc and the interface gets its default back.
pub async fn shape(handle: &Handle, ifname: &str, shaping: &Shaping) -> Result<()> {
    let (index, mtu) = link(handle, ifname).await?;
    let (kind, options) = match (shaping.netem, shaping.rate) {
        (Some(mut netem), rate) => {
            netem.rate = rate;
            ("netem", encode::netem(&netem))
        }
        (None, 0) => return unshape(handle, index, ifname).await,
        (None, rate) => ("tbf", encode::tbf(rate, mtu)),
    };
    let mut message = TcMessage::with_index(index as i32);
    message.header.parent = TcHandle::ROOT;
    message.attributes.push(TcAttribute::Kind(kind.into()));
    message
        .attributes
        .push(TcAttribute::Other(DefaultNla::new(TCA_OPTIONS, options)));
    // rtnetlink's QDiscNewRequest has no way to add attributes: the same
    // request (`tc qdisc replace dev IF root KIND ...`) sent by hand.
    let mut request = NetlinkMessage::from(RouteNetlinkMessage::NewQueueDiscipline(message));
    request.header.flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
    let what = || format!("set a {kind} qdisc on {ifname}");
    let mut answers = handle
        .clone()
        .request(request)
        .map_err(describe)
        .with_context(what)?;
    while let Some(answer) = answers.next().await {
        if let NetlinkPayload::Error(e) = answer.payload
            && e.code.is_some()
        {
            return Err(describe(rtnetlink::Error::NetlinkError(e))).with_context(what);
        }
    }
    Ok(())
}

/// Deletes the root qdisc of interface `index`; the default one (which
/// cannot be deleted: ENOENT) or none (EINVAL) is fine.
async fn unshape(handle: &Handle, index: u32, ifname: &str) -> Result<()> {
    let mut request = handle.qdisc().del(index as i32);
    request.message_mut().header.parent = TcHandle::ROOT;
    match request.execute().await {
        Ok(()) => Ok(()),
        Err(e) if matches!(errno(&e), Some(libc::ENOENT) | Some(libc::EINVAL)) => Ok(()),
        Err(e) => Err(describe(e)).with_context(|| format!("remove the qdisc of {ifname}")),
    }
}

/// An interface's index and MTU.
async fn link(handle: &Handle, name: &str) -> Result<(u32, u32)> {
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(msg)) => {
            let mtu = msg
                .attributes
                .iter()
                .find_map(|a| match a {
                    LinkAttribute::Mtu(mtu) => Some(*mtu),
                    _ => None,
                })
                .unwrap_or(1500);
            Ok((msg.header.index, mtu))
        }
        Ok(None) => bail!("no interface {name}"),
        Err(e) if errno(&e) == Some(libc::ENODEV) => bail!("no interface {name}"),
        Err(e) => Err(describe(e)).with_context(|| format!("look up {name}")),
    }
}

/// Whether the kernel has the netem qdisc (sch_netem): a netem is made on
/// the loopback of a throwaway network namespace, which a thread enters
/// alone and which dies with it, so no interface of anyone's is touched.
/// An unknown qdisc kind is ENOENT (EOPNOTSUPP on some kernels).
pub fn netem_available() -> Result<bool> {
    let probe = std::thread::spawn(|| -> Result<bool> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .context("make a scratch network namespace")?;
        let nl = Netlink::new()?;
        let shaping = Shaping {
            rate: 0,
            netem: Some(Netem::default()),
        };
        match nl.block_on(shape(nl.host(), "lo", &shaping)) {
            Ok(()) => Ok(true),
            Err(e) => {
                let code = e
                    .chain()
                    .find_map(|c| c.downcast_ref::<std::io::Error>()?.raw_os_error());
                match code {
                    Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) => Ok(false),
                    _ => Err(e.context("ask the kernel for a netem qdisc")),
                }
            }
        }
    });
    probe
        .join()
        .map_err(|_| anyhow::anyhow!("the netem probe's thread failed"))?
}
