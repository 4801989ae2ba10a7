//! Random packet loss at a sandbox's bridge port (SPEC "Impairments and
//! partitions": `--loss` works without netem), in the `bridge sbx` table
//! of `spoofing`: two base chains per impaired port, named after its host
//! side veth, one for each direction:
//!
//! ```text
//! chain loss-in-PORT  { type filter hook prerouting priority 0;
//!     iifname PORT numgen random mod 10000 < P*100 drop }   # from the sandbox
//! chain loss-out-PORT { type filter hook postrouting priority 0;
//!     oifname PORT numgen random mod 10000 < P*100 drop }   # towards it
//! ```
//!
//! The bridge's prerouting hook sees every frame the sandbox sends (to the
//! host, to other sandboxes, out through NAT), its postrouting hook every
//! frame that leaves through the port, forwarded or sent by the host, so
//! each direction loses P % of its frames, ARP included, as on a lossy
//! wire. Setting is one transaction (create, flush, append: the new rate
//! replaces the old); clearing deletes both chains. Chains only exist for
//! impaired ports, so unimpaired traffic pays nothing; each impaired port
//! adds two cheap rules to every bridged frame.

use super::nft::{self, Attrs, Batch, Expr, Reg, Socket, Verdict, attr};
use super::spoofing::TABLE;
use anyhow::{Result, bail};

const NF_BR_PRE_ROUTING: u32 = 0;
const NF_BR_POST_ROUTING: u32 = 4;
const NFT_META_IIFNAME: u32 = 6;
const NFT_META_OIFNAME: u32 = 7;
/// Loss is drawn from 0..10000: hundredths of a percent.
const MODULUS: u32 = 10_000;

/// The two chains of `port`: (name, hook, the meta key naming the port).
fn chains(port: &str) -> [(String, u32, u32); 2] {
    [
        (
            format!("loss-in-{port}"),
            NF_BR_PRE_ROUTING,
            NFT_META_IIFNAME,
        ),
        (
            format!("loss-out-{port}"),
            NF_BR_POST_ROUTING,
            NFT_META_OIFNAME,
        ),
    ]
}

/// `iifname/oifname PORT numgen random mod 10000 < THRESHOLD drop`.
fn rule(port: &str, key: u32, percent: f64) -> Vec<Expr> {
    let reg = Reg(0);
    let threshold = (percent * 100.0).round().clamp(0.0, MODULUS as f64) as u32;
    vec![
        Expr::meta_into(key, reg),
        Expr::cmp_eq(reg, &super::ifname(port)),
        Expr::numgen_random(MODULUS, reg),
        Expr::hton(reg),
        Expr::cmp_lt(reg, &threshold.to_be_bytes()),
        Expr::verdict(Verdict::Drop),
    ]
}

/// Makes `port` (a host-side veth) lose `percent` % of the frames in each
/// direction, replacing any loss it had.
pub fn set(port: &str, percent: f64) -> Result<()> {
    let socket = Socket::open()?;
    let mut batch = Batch::new(&socket);
    let add = |batch: &mut Batch, kind, flags, attrs: &Attrs, what: String| {
        batch.add_in(nft::NFPROTO_BRIDGE, kind, flags, attrs, what);
    };
    let mut table = Attrs::default();
    table.string(attr::TABLE_NAME, TABLE);
    add(
        &mut batch,
        nft::NFT_MSG_NEWTABLE,
        nft::NLM_F_CREATE,
        &table,
        format!("create table bridge {TABLE}"),
    );
    for (name, hook, key) in chains(port) {
        let mut chain = Attrs::default();
        chain
            .string(attr::CHAIN_TABLE, TABLE)
            .string(attr::CHAIN_NAME, &name);
        chain.nest(attr::CHAIN_HOOK, |h| {
            h.u32(attr::HOOK_HOOKNUM, hook).u32(attr::HOOK_PRIORITY, 0);
        });
        chain
            .u32(attr::CHAIN_POLICY, 1)
            .string(attr::CHAIN_TYPE, "filter");
        add(
            &mut batch,
            nft::NFT_MSG_NEWCHAIN,
            nft::NLM_F_CREATE,
            &chain,
            format!("create chain bridge {TABLE} {name}"),
        );
        let mut flush = Attrs::default();
        flush
            .string(attr::RULE_TABLE, TABLE)
            .string(attr::RULE_CHAIN, &name);
        add(
            &mut batch,
            nft::NFT_MSG_DELRULE,
            0,
            &flush,
            format!("flush chain {name}"),
        );
        let exprs = rule(port, key, percent);
        let mut rule = Attrs::default();
        rule.string(attr::RULE_TABLE, TABLE)
            .string(attr::RULE_CHAIN, &name);
        rule.nest(attr::RULE_EXPRESSIONS, nft::expressions(&exprs));
        add(
            &mut batch,
            nft::NFT_MSG_NEWRULE,
            nft::NLM_F_CREATE | nft::NLM_F_APPEND,
            &rule,
            format!("add the loss rule to chain bridge {TABLE} {name}"),
        );
    }
    for (what, errno) in batch.commit(&socket)? {
        if errno != 0 {
            bail!("{what}: {}", std::io::Error::from_raw_os_error(errno));
        }
    }
    Ok(())
}

/// Removes `port`'s loss chains; ones already gone (or no table) are fine.
pub fn clear(port: &str) -> Result<()> {
    let socket = Socket::open()?;
    for (name, _, _) in chains(port) {
        let mut attrs = Attrs::default();
        attrs
            .string(attr::CHAIN_TABLE, TABLE)
            .string(attr::CHAIN_NAME, &name);
        let mut batch = Batch::new(&socket);
        batch.add_in(
            nft::NFPROTO_BRIDGE,
            nft::NFT_MSG_DELCHAIN,
            0,
            &attrs,
            format!("delete chain bridge {TABLE} {name}"),
        );
        super::check_removal(batch.commit(&socket)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_direction_has_its_chain_named_after_the_port() {
        let [(inward, hook_in, key_in), (outward, hook_out, key_out)] = chains("sbxab12cd34");
        assert_eq!(inward, "loss-in-sbxab12cd34");
        assert_eq!((hook_in, key_in), (0, 6), "prerouting, iifname");
        assert_eq!(outward, "loss-out-sbxab12cd34");
        assert_eq!((hook_out, key_out), (4, 7), "postrouting, oifname");
    }

    #[test]
    fn the_threshold_is_in_hundredths_of_a_percent_big_endian() {
        let bytes = |percent| {
            let exprs = rule("p", NFT_META_IIFNAME, percent);
            assert_eq!(exprs.len(), 6);
            let mut attrs = Attrs::default();
            nft::expressions(&exprs)(&mut attrs);
            attrs.as_bytes().to_vec()
        };
        let has = |b: &[u8], n: u32| b.windows(4).any(|w| w == n.to_be_bytes());
        assert!(has(&bytes(30.0), 3000));
        assert!(has(&bytes(0.5), 50));
        assert!(has(&bytes(100.0), 10_000));
    }
}
