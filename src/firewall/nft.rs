//! nf_tables messages, encoded by hand: a netlink attribute writer, the
//! handful of objects sbx needs (table, base chain, rules of five
//! expressions), and a socket that sends a batch and collects the kernel's
//! answers. Constants are from `linux/netfilter/nf_tables.h`.

use anyhow::{Context, Result, bail};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
const NFNL_MSG_BATCH_END: u16 = 0x11;

/// nf_tables message types.
pub const NFT_MSG_NEWTABLE: u16 = 0;
/// Deletes a table (with NLM_F_NONREC: only if empty).
pub const NFT_MSG_DELTABLE: u16 = 2;
/// Creates (or, without EXCL, keeps) a chain.
pub const NFT_MSG_NEWCHAIN: u16 = 3;
/// Asks for one chain.
pub const NFT_MSG_GETCHAIN: u16 = 4;
/// Deletes a chain and its rules.
pub const NFT_MSG_DELCHAIN: u16 = 5;
/// Appends a rule.
pub const NFT_MSG_NEWRULE: u16 = 6;
/// Deletes rules; with only table and chain, all of the chain's.
pub const NFT_MSG_DELRULE: u16 = 8;

const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
/// Create if missing (without EXCL an existing object is kept).
pub const NLM_F_CREATE: u16 = 0x400;
/// Append a rule at the end of its chain.
pub const NLM_F_APPEND: u16 = 0x800;
/// Delete only if nothing is left inside.
pub const NLM_F_NONREC: u16 = 0x100;
const NLA_F_NESTED: u16 = 0x8000;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// The `ip` family: sbx's rules are IPv4 only.
pub const NFPROTO_IPV4: u8 = 2;

/// Attribute numbers used by sbx (nf_tables.h, one enum per object).
pub mod attr {
    pub const TABLE_NAME: u16 = 1;
    pub const CHAIN_TABLE: u16 = 1;
    pub const CHAIN_NAME: u16 = 3;
    pub const CHAIN_HOOK: u16 = 4;
    pub const CHAIN_POLICY: u16 = 5;
    pub const CHAIN_TYPE: u16 = 7;
    pub const HOOK_HOOKNUM: u16 = 1;
    pub const HOOK_PRIORITY: u16 = 2;
    pub const RULE_TABLE: u16 = 1;
    pub const RULE_CHAIN: u16 = 2;
    pub const RULE_EXPRESSIONS: u16 = 4;
    pub const LIST_ELEM: u16 = 1;
    pub const EXPR_NAME: u16 = 1;
    pub const EXPR_DATA: u16 = 2;
    pub const DATA_VALUE: u16 = 1;
    pub const DATA_VERDICT: u16 = 2;
    pub const VERDICT_CODE: u16 = 1;
}

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
    name: &'static str,
    data: Attrs,
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
fn message(kind: u16, flags: u16, seq: u32, family: u8, res_id: u16, attrs: &[u8]) -> Vec<u8> {
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

/// A transaction: the kernel applies all of its messages or none.
pub struct Batch {
    buf: Vec<u8>,
    seq: u32,
    acks: Vec<(u32, String)>,
}

impl Batch {
    /// An empty transaction.
    pub fn new() -> Self {
        let mut batch = Batch {
            buf: Vec::new(),
            seq: 0,
            acks: Vec::new(),
        };
        batch.buf = message(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            0,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        );
        batch
    }

    /// Adds one nf_tables message; `what` names it in errors.
    pub fn add(&mut self, kind: u16, flags: u16, attrs: &Attrs, what: impl Into<String>) {
        self.seq += 1;
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | kind;
        let flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        self.buf.extend(message(
            kind,
            flags,
            self.seq,
            NFPROTO_IPV4,
            0,
            attrs.as_bytes(),
        ));
        self.acks.push((self.seq, what.into()));
    }

    /// Sends the batch and waits for every answer; the first failure is
    /// returned as an errno with the failing message's description.
    pub fn commit(mut self, socket: &Socket) -> Result<Vec<(String, i32)>> {
        self.seq += 1;
        self.buf.extend(message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            self.seq,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        ));
        socket.send(&self.buf)?;
        let mut results = Vec::new();
        let mut pending: Vec<(u32, String)> = self.acks;
        while !pending.is_empty() {
            let Some(answers) = socket.receive(!results.iter().any(|(_, e)| *e != 0))? else {
                break;
            };
            for (seq, errno, _) in answers {
                if let Some(pos) = pending.iter().position(|(s, _)| *s == seq) {
                    let (_, what) = pending.remove(pos);
                    results.push((what, errno));
                }
            }
        }
        Ok(results)
    }
}

/// One netlink message received: its header fields and what follows it.
struct Answer {
    seq: u32,
    errno: i32,
    kind: u16,
    body: Vec<u8>,
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
fn parse_attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
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

fn be_u32(data: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(data.get(..4)?.try_into().ok()?))
}

fn string(data: &[u8]) -> String {
    String::from_utf8_lossy(data.split(|b| *b == 0).next().unwrap_or_default()).into_owned()
}

/// A netlink socket to nf_tables, closed when dropped.
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    /// Opens a NETLINK_NETFILTER socket.
    pub fn open() -> Result<Self> {
        // SAFETY: plain socket(2); the result is checked before use.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_NETFILTER,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error())
                .context("open an nf_tables netlink socket");
        }
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Socket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn send(&self, buf: &[u8]) -> Result<()> {
        // SAFETY: a zeroed sockaddr_nl addresses the kernel (pid 0).
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        addr.nl_family = libc::AF_NETLINK as u16;
        // SAFETY: buf and addr are valid for the lengths given.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                0,
                (&addr as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as u32,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error()).context("send to nf_tables");
        }
        Ok(())
    }

    /// Reads one datagram of answers: (seq, errno, type) per message, errno 0
    /// for anything that is not an error. With `block` false, returns `None`
    /// when nothing more is queued.
    pub fn receive(&self, block: bool) -> Result<Option<Vec<(u32, i32, u16)>>> {
        Ok(self.receive_messages(block)?.map(|msgs| {
            msgs.into_iter()
                .filter(|m| m.kind != NLMSG_DONE)
                .map(|m| (m.seq, m.errno, m.kind))
                .collect()
        }))
    }

    fn receive_messages(&self, block: bool) -> Result<Option<Vec<Answer>>> {
        let mut buf = vec![0u8; 65536];
        let flags = if block { 0 } else { libc::MSG_DONTWAIT };
        // SAFETY: buf is valid for its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
            )
        };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(err).context("receive from nf_tables");
        }
        let mut answers = Vec::new();
        let mut rest = &buf[..n as usize];
        while rest.len() >= 16 {
            let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let kind = u16::from_ne_bytes([rest[4], rest[5]]);
            let seq = u32::from_ne_bytes([rest[8], rest[9], rest[10], rest[11]]);
            if len < 16 || len > rest.len() {
                bail!("malformed netlink answer from nf_tables");
            }
            let errno = if kind == NLMSG_ERROR && len >= 20 {
                -i32::from_ne_bytes([rest[16], rest[17], rest[18], rest[19]])
            } else {
                0
            };
            answers.push(Answer {
                seq,
                errno,
                kind,
                body: rest[16..len].to_vec(),
            });
            let next = (len.div_ceil(4) * 4).min(rest.len());
            rest = &rest[next..];
        }
        Ok(Some(answers))
    }

    /// Lists every chain of every table and family.
    pub fn dump_chains(&self) -> Result<Vec<ChainInfo>> {
        const NLM_F_DUMP: u16 = 0x300;
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETCHAIN;
        self.send(&message(kind, NLM_F_REQUEST | NLM_F_DUMP, 1, 0, 0, &[]))?;
        let mut chains = Vec::new();
        loop {
            let Some(messages) = self.receive_messages(true)? else {
                bail!("nf_tables did not answer");
            };
            for msg in messages {
                match msg.kind {
                    NLMSG_DONE => return Ok(chains),
                    NLMSG_ERROR if msg.errno != 0 => {
                        return Err(std::io::Error::from_raw_os_error(msg.errno))
                            .context("list nf_tables chains");
                    }
                    _ if msg.kind == kind - NFT_MSG_GETCHAIN + NFT_MSG_NEWCHAIN
                        && msg.body.len() >= 4 =>
                    {
                        chains.push(chain_info(msg.body[0], &msg.body[4..]));
                    }
                    _ => {}
                }
            }
        }
    }

    /// Sends one request outside a batch (a GET) and reports the errno of
    /// its answer, 0 if the object exists.
    pub fn get(&self, kind: u16, attrs: &Attrs) -> Result<i32> {
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | kind;
        self.send(&message(
            kind,
            NLM_F_REQUEST | NLM_F_ACK,
            1,
            NFPROTO_IPV4,
            0,
            attrs.as_bytes(),
        ))?;
        loop {
            let Some(answers) = self.receive(true)? else {
                bail!("nf_tables did not answer");
            };
            for (_, errno, kind) in answers {
                if kind == NLMSG_ERROR {
                    return Ok(errno);
                }
            }
        }
    }
}

fn chain_info(family: u8, attrs: &[u8]) -> ChainInfo {
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

    #[test]
    fn messages_have_header_and_nfgenmsg() {
        let msg = message(0x0a00, 1, 7, 2, 0, &[]);
        assert_eq!(msg.len(), 20);
        assert_eq!(&msg[0..4], &20u32.to_ne_bytes());
        assert_eq!(&msg[16..20], &[2, 0, 0, 0]);
    }
}
