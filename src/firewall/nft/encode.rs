//! Encoding nf_tables messages and decoding their attributes.

use super::{NLA_F_NESTED, attr};

/// A growing netlink message body: attributes, 4-byte aligned.
#[derive(Default)]
pub struct Attrs {
    buf: Vec<u8>,
}

impl Attrs {
    /// Appends one attribute with raw bytes.
    pub fn bytes(&mut self, kind: u16, data: &[u8]) -> &mut Self {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    /// A NUL-terminated string, as the kernel's NLA_STRING policy wants.
    pub fn string(&mut self, kind: u16, text: &str) -> &mut Self {
        let mut data = text.as_bytes().to_vec();
        data.push(0);
        self.bytes(kind, &data)
    }

    /// A 32-bit value in network byte order (all nf_tables integers are).
    pub fn u32(&mut self, kind: u16, value: u32) -> &mut Self {
        self.bytes(kind, &value.to_be_bytes())
    }

    /// Appends attributes already encoded (as a dump returned them).
    pub fn raw(&mut self, encoded: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(encoded);
        self.pad();
        self
    }

    /// A nested attribute whose content `fill` writes.
    pub fn nest(&mut self, kind: u16, fill: impl FnOnce(&mut Attrs)) -> &mut Self {
        let mut inner = Attrs::default();
        fill(&mut inner);
        self.bytes(kind | NLA_F_NESTED, &inner.buf)
    }

    fn pad(&mut self) {
        while !self.buf.len().is_multiple_of(4) {
            self.buf.push(0);
        }
    }

    /// The encoded attributes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf
    }
}

/// One rule expression: its name and its attributes.
pub struct Expr {
    pub(super) name: &'static str,
    pub(super) data: Attrs,
}

impl Expr {
    /// `payload load 4b @ network header + offset => reg 1`.
    pub fn payload_network(offset: u32, len: u32) -> Self {
        let mut data = Attrs::default();
        data.u32(1, 1).u32(2, 1).u32(3, offset).u32(4, len);
        Expr {
            name: "payload",
            data,
        }
    }

    /// `reg 1 = (reg 1 & mask) ^ 0`.
    pub fn bitwise_mask(mask: &[u8]) -> Self {
        let zeros = vec![0u8; mask.len()];
        let mut data = Attrs::default();
        data.u32(1, 1).u32(2, 1).u32(3, mask.len() as u32);
        data.nest(4, |a| {
            a.bytes(attr::DATA_VALUE, mask);
        });
        data.nest(5, |a| {
            a.bytes(attr::DATA_VALUE, &zeros);
        });
        Expr {
            name: "bitwise",
            data,
        }
    }

    /// `cmp reg 1 ==/!= value`.
    pub fn cmp(equal: bool, value: &[u8]) -> Self {
        let mut data = Attrs::default();
        data.u32(1, 1).u32(2, if equal { 0 } else { 1 });
        data.nest(3, |a| {
            a.bytes(attr::DATA_VALUE, value);
        });
        Expr { name: "cmp", data }
    }

    /// `meta load key => reg 1` (6 = iifname, 7 = oifname).
    pub fn meta(key: u32) -> Self {
        let mut data = Attrs::default();
        data.u32(1, 1).u32(2, key);
        Expr { name: "meta", data }
    }

    /// `masquerade`: no attributes.
    pub fn masquerade() -> Self {
        Expr {
            name: "masq",
            data: Attrs::default(),
        }
    }

    /// `immediate verdict drop`.
    pub fn drop() -> Self {
        let mut data = Attrs::default();
        data.u32(1, 0);
        data.nest(2, |a| {
            a.nest(attr::DATA_VERDICT, |v| {
                v.u32(attr::VERDICT_CODE, 0);
            });
        });
        Expr {
            name: "immediate",
            data,
        }
    }
}

/// The `NFTA_RULE_EXPRESSIONS` list of a rule.
pub fn expressions(exprs: &[Expr]) -> impl FnOnce(&mut Attrs) + '_ {
    move |list| {
        for expr in exprs {
            list.nest(attr::LIST_ELEM, |elem| {
                elem.string(attr::EXPR_NAME, expr.name);
                if !expr.data.buf.is_empty() {
                    elem.bytes(attr::EXPR_DATA | NLA_F_NESTED, &expr.data.buf);
                }
            });
        }
    }
}

/// A netlink message: header, nfgenmsg, attributes.
pub(super) fn message(
    kind: u16,
    flags: u16,
    seq: u32,
    family: u8,
    res_id: u16,
    attrs: &[u8],
) -> Vec<u8> {
    let len = 16 + 4 + attrs.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&seq.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    msg.extend_from_slice(&[family, 0]);
    msg.extend_from_slice(&res_id.to_be_bytes());
    msg.extend_from_slice(attrs);
    msg
}

/// One chain of any table, as a dump reports it.
pub struct ChainInfo {
    /// Address family (2 = ip, 1 = inet, 7 = bridge, ...).
    pub family: u8,
    /// Its table.
    pub table: String,
    /// Its name.
    pub name: String,
    /// The hook of a base chain.
    pub hook: Option<u32>,
    /// The policy of a base chain (0 = drop, 1 = accept).
    pub policy: Option<u32>,
}

/// Splits attributes into (type, payload), flags masked off.
pub fn parse_attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut attrs = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & 0x3fff;
        if len < 4 || len > data.len() {
            break;
        }
        attrs.push((kind, &data[4..len]));
        data = &data[(len.div_ceil(4) * 4).min(data.len())..];
    }
    attrs
}

/// The `NFTA_RULE_EXPRESSIONS` list of a dumped rule's attributes.
pub fn rule_expressions(rule: &[u8]) -> Option<&[u8]> {
    parse_attrs(rule)
        .into_iter()
        .find(|(kind, _)| *kind == attr::RULE_EXPRESSIONS)
        .map(|(_, data)| data)
}

/// Whether a rule's expression list as the kernel dumps it (`actual`) is
/// the one sbx encodes (`expected`): the same expressions in the same
/// order, each with every attribute sbx sets, equal byte for byte (nested
/// ones compared inside). Attributes only the kernel adds are ignored.
pub fn same_expressions(expected: &[u8], actual: &[u8]) -> bool {
    let wanted = parse_attrs(expected);
    let found = parse_attrs(actual);
    wanted.len() == found.len()
        && wanted
            .iter()
            .zip(&found)
            .all(|((wk, w), (fk, f))| wk == fk && covers(w, f))
}

/// Whether every attribute of `expected` is in `actual` with the same
/// value; attributes `expected` marks as nested are compared recursively
/// (the kernel may leave that flag off in a dump).
fn covers(expected: &[u8], actual: &[u8]) -> bool {
    let found = parse_attrs(actual);
    attrs_with_flags(expected).all(|(kind, nested, want)| {
        found
            .iter()
            .find(|(k, _)| *k == kind)
            .is_some_and(|(_, have)| {
                if nested {
                    covers(want, have)
                } else {
                    want == *have
                }
            })
    })
}

/// Like `parse_attrs`, keeping whether each attribute says it is nested.
fn attrs_with_flags(data: &[u8]) -> impl Iterator<Item = (u16, bool, &[u8])> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        let rest = data.get(offset..)?;
        if rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([rest[0], rest[1]]) as usize;
        let raw = u16::from_ne_bytes([rest[2], rest[3]]);
        if len < 4 || len > rest.len() {
            return None;
        }
        offset += len.div_ceil(4) * 4;
        Some((raw & 0x3fff, raw & NLA_F_NESTED != 0, &rest[4..len]))
    })
}

/// The elements of an `NFT_MSG_NEWSETELEM` body (its attributes): each
/// element's key and value (empty when it has none).
pub(super) fn set_elements(body: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let value_of = |nested: &[u8]| {
        parse_attrs(nested)
            .into_iter()
            .find(|(kind, _)| *kind == attr::DATA_VALUE)
            .map(|(_, v)| v.to_vec())
            .unwrap_or_default()
    };
    let mut found = Vec::new();
    for (kind, list) in parse_attrs(body) {
        if kind != attr::SET_ELEM_LIST_ELEMENTS {
            continue;
        }
        for (_, element) in parse_attrs(list) {
            let mut key = Vec::new();
            let mut value = Vec::new();
            for (kind, data) in parse_attrs(element) {
                match kind {
                    attr::SET_ELEM_KEY => key = value_of(data),
                    attr::SET_ELEM_DATA => value = value_of(data),
                    _ => {}
                }
            }
            found.push((key, value));
        }
    }
    found
}

pub(super) fn be_u32(data: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(..4)?.try_into().ok()?))
}

pub(super) fn string(data: &[u8]) -> String {
    String::from_utf8_lossy(data.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
}

pub(super) fn chain_info(family: u8, attrs: &[u8]) -> ChainInfo {
    let mut chain = ChainInfo {
        family,
        table: String::new(),
        name: String::new(),
        hook: None,
        policy: None,
    };
    for (kind, data) in parse_attrs(attrs) {
        match kind {
            attr::CHAIN_TABLE => chain.table = string(data),
            attr::CHAIN_NAME => chain.name = string(data),
            attr::CHAIN_POLICY => chain.policy = be_u32(data),
            attr::CHAIN_HOOK => {
                chain.hook = parse_attrs(data)
                    .into_iter()
                    .find(|(k, _)| *k == attr::HOOK_HOOKNUM)
                    .and_then(|(_, d)| be_u32(d));
            }
            _ => {}
        }
    }
    chain
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_to_four_bytes() {
        let mut a = Attrs::default();
        a.string(1, "sbx");
        assert_eq!(a.as_bytes(), &[8, 0, 1, 0, b's', b'b', b'x', 0]);
        let mut b = Attrs::default();
        b.string(3, "ab");
        assert_eq!(b.as_bytes(), &[7, 0, 3, 0, b'a', b'b', 0, 0]);
    }

    #[test]
    fn nested_attributes_carry_the_nested_flag_and_length() {
        let mut a = Attrs::default();
        a.nest(4, |n| {
            n.u32(1, 4);
        });
        assert_eq!(a.as_bytes(), &[12, 0, 4, 0x80, 8, 0, 1, 0, 0, 0, 0, 4]);
    }

    #[test]
    fn chain_attributes_parse_back() {
        let mut a = Attrs::default();
        a.string(attr::CHAIN_TABLE, "filter")
            .string(attr::CHAIN_NAME, "FORWARD");
        a.nest(attr::CHAIN_HOOK, |h| {
            h.u32(attr::HOOK_HOOKNUM, 2).u32(attr::HOOK_PRIORITY, 0);
        });
        a.u32(attr::CHAIN_POLICY, 0);
        let chain = chain_info(2, a.as_bytes());
        assert_eq!(
            (chain.table.as_str(), chain.name.as_str()),
            ("filter", "FORWARD")
        );
        assert_eq!((chain.hook, chain.policy), (Some(2), Some(0)));
    }

    fn masquerade_rule(bridge: &str) -> Attrs {
        let mut name = [0u8; 16];
        name[..bridge.len()].copy_from_slice(bridge.as_bytes());
        let exprs = [
            Expr::payload_network(12, 4),
            Expr::cmp(true, &[10, 1, 0, 0]),
            Expr::meta(7),
            Expr::cmp(false, &name),
            Expr::masquerade(),
        ];
        let mut list = Attrs::default();
        expressions(&exprs)(&mut list);
        list
    }

    #[test]
    fn a_rule_matches_itself_and_not_another() {
        let rule = masquerade_rule("sbx0");
        assert!(same_expressions(rule.as_bytes(), rule.as_bytes()));
        let other = masquerade_rule("sbx1");
        assert!(!same_expressions(rule.as_bytes(), other.as_bytes()));
        assert!(!same_expressions(rule.as_bytes(), &[]));
    }

    #[test]
    fn attributes_the_kernel_adds_or_unflags_do_not_matter() {
        // As the kernel dumps `meta`: key before register, plus an
        // attribute sbx never sets; `cmp` data nested without the flag.
        let mut dumped = Attrs::default();
        dumped.nest(attr::LIST_ELEM, |e| {
            e.string(attr::EXPR_NAME, "meta");
            e.nest(attr::EXPR_DATA, |d| {
                d.u32(2, 7).u32(1, 1).u32(9, 0);
            });
        });
        dumped.nest(attr::LIST_ELEM, |e| {
            e.string(attr::EXPR_NAME, "cmp");
            e.nest(attr::EXPR_DATA, |d| {
                d.u32(1, 1).u32(2, 0);
                let mut inner = Attrs::default();
                inner.bytes(attr::DATA_VALUE, &[1, 2]);
                d.bytes(3, inner.as_bytes());
            });
        });
        let mut wanted = Attrs::default();
        expressions(&[Expr::meta(7), Expr::cmp(true, &[1, 2])])(&mut wanted);
        assert!(same_expressions(wanted.as_bytes(), dumped.as_bytes()));
        let mut changed = Attrs::default();
        expressions(&[Expr::meta(6), Expr::cmp(true, &[1, 2])])(&mut changed);
        assert!(!same_expressions(changed.as_bytes(), dumped.as_bytes()));
    }

    #[test]
    fn the_expressions_of_a_dumped_rule_are_found() {
        let mut rule = Attrs::default();
        rule.string(attr::RULE_TABLE, "sbx")
            .string(attr::RULE_CHAIN, "post-sbx0");
        let list = masquerade_rule("sbx0");
        rule.bytes(attr::RULE_EXPRESSIONS | NLA_F_NESTED, list.as_bytes());
        assert_eq!(rule_expressions(rule.as_bytes()), Some(list.as_bytes()));
    }

    #[test]
    fn messages_have_header_and_nfgenmsg() {
        let msg = message(0x0a00, 1, 7, 2, 0, &[]);
        assert_eq!(msg.len(), 20);
        assert_eq!(&msg[0..4], &20u32.to_ne_bytes());
        assert_eq!(&msg[16..20], &[2, 0, 0, 0]);
    }
}
