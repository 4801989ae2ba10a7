//! Taking sbx's nf_tables objects away: a network's chains, set
//! elements, and the last network's tables, each tolerant of what is
//! already gone (ENOENT) or still used by another network (EBUSY), so a
//! teardown can run twice and across state roots.

use super::nft::{self, Attrs, Batch, Socket, attr};
use super::{TABLE, chain_name, spoofing};
use anyhow::{Result, bail};

/// Deletes the network's chain(s) of the `family` table (gone is fine).
pub(super) fn remove_chains(socket: &Socket, family: u8, bridge: &str) -> Result<()> {
    for masquerade in [true, false] {
        let chain = chain_name(bridge, masquerade);
        let mut attrs = Attrs::default();
        attrs
            .string(attr::CHAIN_TABLE, TABLE)
            .string(attr::CHAIN_NAME, &chain);
        let mut batch = Batch::new_in(socket, family);
        batch.add(
            nft::NFT_MSG_DELCHAIN,
            0,
            &attrs,
            format!("delete chain {chain}"),
        );
        check_removal(batch.commit(socket)?)?;
    }
    Ok(())
}

/// The last network's removal takes the table of `family` with `parts`
/// (its shared chains and sets; for `ip`, the bridge table too) if
/// nothing else is in it. A part already missing (tables an older sbx made
/// have no isolation chain) is left out and the rest tried again.
pub(super) fn remove_table_if_unused(
    socket: &Socket,
    family: u8,
    mut parts: Vec<Removal>,
) -> Result<()> {
    loop {
        let mut batch = Batch::new_in(socket, family);
        for part in &parts {
            part.add_to(&mut batch);
        }
        let results = batch.commit(socket)?;
        let missing = results.iter().position(|(_, errno)| *errno == libc::ENOENT);
        match missing {
            Some(i) if parts[i] != Removal::Table => {
                parts.remove(i);
            }
            _ => return check_removal(results),
        }
    }
}

/// One part of the final removal.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Removal {
    Chain(&'static str),
    Set(&'static str),
    SpoofingTable,
    Table,
}

impl Removal {
    fn add_to(self, batch: &mut Batch) {
        let mut attrs = Attrs::default();
        match self {
            Removal::Chain(chain) => {
                attrs
                    .string(attr::CHAIN_TABLE, TABLE)
                    .string(attr::CHAIN_NAME, chain);
                batch.add(
                    nft::NFT_MSG_DELCHAIN,
                    0,
                    &attrs,
                    format!("delete chain {chain}"),
                );
            }
            Removal::Set(set) => {
                attrs
                    .string(attr::SET_TABLE, TABLE)
                    .string(attr::SET_NAME, set);
                batch.add(nft::NFT_MSG_DELSET, 0, &attrs, format!("delete set {set}"));
            }
            Removal::SpoofingTable => {
                attrs.string(attr::TABLE_NAME, spoofing::TABLE);
                batch.add_in(
                    nft::NFPROTO_BRIDGE,
                    nft::NFT_MSG_DELTABLE,
                    0,
                    &attrs,
                    format!("delete table bridge {}", spoofing::TABLE),
                );
            }
            Removal::Table => {
                attrs.string(attr::TABLE_NAME, TABLE);
                batch.add(
                    nft::NFT_MSG_DELTABLE,
                    nft::NLM_F_NONREC,
                    &attrs,
                    format!("delete table {TABLE}"),
                );
            }
        }
    }
}

/// A removal's answers: gone already (ENOENT) or still used by another
/// network (EBUSY, which rolled the transaction back) are fine.
pub(super) fn check_removal(results: Vec<(String, i32)>) -> Result<()> {
    for (what, errno) in results {
        if errno != 0 && errno != libc::ENOENT && errno != libc::EBUSY {
            bail!("{what}: {}", std::io::Error::from_raw_os_error(errno));
        }
    }
    Ok(())
}

/// Deletes set elements (set name, key) of `table`; ones already gone are
/// fine. One transaction, unless one is missing (which aborts it): then
/// each alone, so a missing one never keeps the others.
pub(crate) fn delete_elements(family: u8, table: &str, elements: &[(&str, Vec<u8>)]) -> Result<()> {
    if elements.is_empty() {
        return Ok(());
    }
    let socket = Socket::open()?;
    let send = |part: &[(&str, Vec<u8>)]| -> Result<Vec<(String, i32)>> {
        let mut batch = Batch::new(&socket);
        // Consecutive elements of one set share a message (a few hundred
        // at most: one answer each, and a message a socket takes).
        for group in part.chunk_by(|a, b| a.0 == b.0) {
            for chunk in group.chunks(256) {
                let set = chunk[0].0;
                let keys: Vec<Vec<u8>> = chunk.iter().map(|(_, k)| k.clone()).collect();
                batch.add_in(
                    family,
                    nft::NFT_MSG_DELSETELEM,
                    0,
                    &nft::element_list(table, set, &keys),
                    format!(
                        "remove {} elements of set {set} in table {table}",
                        keys.len()
                    ),
                );
            }
        }
        batch.commit(&socket)
    };
    let results = send(elements)?;
    if !results.iter().any(|(_, e)| *e == libc::ENOENT) {
        return check_removal(results);
    }
    for element in elements {
        check_removal(send(std::slice::from_ref(element))?)?;
    }
    Ok(())
}
