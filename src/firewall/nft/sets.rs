//! Named sets: their creation message and their element lists. A set
//! keyed by a concatenation (`ifname . ether_addr . ipv4_addr`) stores each
//! field rounded up to 4 bytes, the way the fields sit in registers (see
//! `exprs::Reg`). Attributes: `NFTA_SET_*`, `NFTA_SET_ELEM_LIST_*`,
//! `NFTA_SET_ELEM_*` of `linux/netfilter/nf_tables.h`.

use super::attr;
use super::encode::Attrs;

/// nft's data type numbers (`enum datatypes` in nftables' `datatype.h`),
/// stored with the set so that `nft list` prints its elements readably.
pub mod datatype {
    /// `ipv4_addr`.
    pub const IPV4_ADDR: u32 = 7;
    /// `ipv6_addr`.
    pub const IPV6_ADDR: u32 = 8;
    /// `ether_addr`.
    pub const ETHER_ADDR: u32 = 9;
    /// `ifname`.
    pub const IFNAME: u32 = 41;
    /// `inet_proto`.
    pub const INET_PROTO: u32 = 12;
    /// `inet_service` (a port).
    pub const INET_SERVICE: u32 = 13;
}

/// A named set: its name and its key's fields as (nft data type, length in
/// bytes), in order.
pub struct SetSpec<'a> {
    /// The set's name in its table.
    pub name: &'a str,
    /// The key's fields.
    pub fields: &'a [(u32, u32)],
    /// A map's value fields (empty for a plain set).
    pub data: &'a [(u32, u32)],
}

/// The length of a concatenation: each field rounded up to whole registers.
fn concat_len(fields: &[(u32, u32)]) -> u32 {
    fields.iter().map(|(_, len)| len.div_ceil(4) * 4).sum()
}

/// nft's type number of a concatenation: each field's type shifted in 6
/// bits at a time (`concat_type_alloc` in nftables).
fn concat_type(fields: &[(u32, u32)]) -> u32 {
    fields.iter().fold(0, |acc, (t, _)| (acc << 6) | t)
}

/// The bytes of a concatenation, each field zero-padded to whole
/// registers. A field of the wrong length is a bug of the caller.
fn concat(fields: &[(u32, u32)], values: &[&[u8]]) -> Vec<u8> {
    debug_assert_eq!(values.len(), fields.len());
    let mut out = Vec::with_capacity(concat_len(fields) as usize);
    for ((_, len), value) in fields.iter().zip(values) {
        debug_assert_eq!(value.len() as u32, *len);
        out.extend_from_slice(value);
        out.resize(out.len() + (len.div_ceil(4) * 4 - len) as usize, 0);
    }
    out
}

impl SetSpec<'_> {
    /// The key's length: each field rounded up to whole registers.
    pub fn key_len(&self) -> u32 {
        concat_len(self.fields)
    }

    fn key_type(&self) -> u32 {
        concat_type(self.fields)
    }

    /// One element's key from its fields' bytes.
    pub fn key(&self, values: &[&[u8]]) -> Vec<u8> {
        concat(self.fields, values)
    }

    /// One map element's value from its fields' bytes.
    pub fn value(&self, values: &[&[u8]]) -> Vec<u8> {
        concat(self.data, values)
    }
}

/// The attributes of `NFT_MSG_NEWSET` for `set` in `table`: a plain hash
/// set; a concatenation's field lengths are given too, with the
/// `NFT_SET_CONCAT` flag the kernel then requires.
pub fn set_attrs(table: &str, set: &SetSpec) -> Attrs {
    const NFT_SET_MAP: u32 = 0x8;
    const NFT_SET_CONCAT: u32 = 0x80;
    let mut flags = 0;
    if set.fields.len() > 1 {
        flags |= NFT_SET_CONCAT;
    }
    if !set.data.is_empty() {
        flags |= NFT_SET_MAP;
    }
    let mut attrs = Attrs::default();
    attrs
        .string(attr::SET_TABLE, table)
        .string(attr::SET_NAME, set.name)
        .u32(attr::SET_FLAGS, flags)
        .u32(attr::SET_KEY_TYPE, set.key_type())
        .u32(attr::SET_KEY_LEN, set.key_len())
        // Required; it names the set within one transaction (unused here).
        .u32(attr::SET_ID, crate::hash::fnv1a(set.name.as_bytes()) as u32);
    if !set.data.is_empty() {
        attrs
            .u32(attr::SET_DATA_TYPE, concat_type(set.data))
            .u32(attr::SET_DATA_LEN, concat_len(set.data));
    }
    if let [(datatype::IFNAME, _)] = set.fields {
        // nft reads a one-field key in the byte order its user data names
        // (`NFTNL_UDATA_SET_KEYBYTEORDER`, 0) and would print a name, which
        // is in host order, backwards.
        const BYTEORDER_HOST_ENDIAN: u32 = 1;
        let mut udata = vec![0u8, 4];
        udata.extend_from_slice(&BYTEORDER_HOST_ENDIAN.to_ne_bytes());
        attrs.bytes(attr::SET_USERDATA, &udata);
    }
    if set.fields.len() > 1 {
        attrs.nest(attr::SET_DESC, |desc| {
            desc.nest(attr::SET_DESC_CONCAT, |list| {
                for (_, len) in set.fields {
                    list.nest(attr::LIST_ELEM, |field| {
                        field.u32(attr::SET_FIELD_LEN, *len);
                    });
                }
            });
        });
    }
    attrs
}

/// The attributes of `NFT_MSG_NEWSETELEM`/`DELSETELEM`: `keys` (each as
/// [`SetSpec::key`] made it) in set `set` of `table`.
pub fn element_list(table: &str, set: &str, keys: &[Vec<u8>]) -> Attrs {
    let elements: Vec<(Vec<u8>, Option<Vec<u8>>)> =
        keys.iter().map(|k| (k.clone(), None)).collect();
    map_element_list(table, set, &elements)
}

/// [`element_list`] for a map: each key with its value, if any (a
/// deletion names keys only).
pub fn map_element_list(table: &str, set: &str, elements: &[(Vec<u8>, Option<Vec<u8>>)]) -> Attrs {
    let mut attrs = Attrs::default();
    attrs
        .string(attr::SET_ELEM_LIST_TABLE, table)
        .string(attr::SET_ELEM_LIST_SET, set);
    attrs.nest(attr::SET_ELEM_LIST_ELEMENTS, |list| {
        for (key, value) in elements {
            list.nest(attr::LIST_ELEM, |elem| {
                elem.nest(attr::SET_ELEM_KEY, |k| {
                    k.bytes(attr::DATA_VALUE, key);
                });
                if let Some(value) = value {
                    elem.nest(attr::SET_ELEM_DATA, |d| {
                        d.bytes(attr::DATA_VALUE, value);
                    });
                }
            });
        }
    });
    attrs
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALLOW: SetSpec = SetSpec {
        name: "allow",
        fields: &[
            (datatype::IFNAME, 16),
            (datatype::ETHER_ADDR, 6),
            (datatype::IPV4_ADDR, 4),
        ],
        data: &[],
    };

    #[test]
    fn a_concatenated_key_pads_each_field_to_registers() {
        assert_eq!(ALLOW.key_len(), 28);
        let key = ALLOW.key(&[&[b'a'; 16], &[1, 2, 3, 4, 5, 6], &[10, 0, 0, 1]]);
        assert_eq!(key.len(), 28);
        assert_eq!(&key[16..24], &[1, 2, 3, 4, 5, 6, 0, 0]);
        assert_eq!(&key[24..], &[10, 0, 0, 1]);
    }

    #[test]
    fn the_key_type_is_nfts_concatenation_of_types() {
        assert_eq!(ALLOW.key_type(), (((41 << 6) | 9) << 6) | 7);
    }
}
