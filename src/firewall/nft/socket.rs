//! The nf_tables netlink socket: batches (transactions) and their acks,
//! single requests, and dumps. Every answer is checked against the request
//! it should answer (sequence numbers, see `reply`), and a datagram is read
//! whole: its size is learnt first (`MSG_PEEK | MSG_TRUNC`), and a reply the
//! kernel still had to cut (`MSG_TRUNC` in the flags) is an error.

use super::encode::{Attrs, ChainInfo, chain_info, message};
use super::reply::{Acks, Dump, DumpEnd, Message, parse_datagram};
use super::*;
use anyhow::{Context, Result, bail};
use std::cell::Cell;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `NLM_F_DUMP` (`NLM_F_ROOT | NLM_F_MATCH`): ask for every matching object.
const NLM_F_DUMP: u16 = 0x300;
/// How often a dump the kernel marked as interrupted is asked for again.
const DUMP_ATTEMPTS: usize = 3;

/// A transaction: the kernel applies all of its messages or none.
pub struct Batch {
    buf: Vec<u8>,
    first: u32,
    seq: u32,
    acks: Vec<(u32, String)>,
    /// The family [`Batch::add`] writes for (`NFPROTO_*`).
    family: u8,
}

impl Batch {
    /// An empty transaction, numbered after the socket's last request,
    /// whose [`Batch::add`] writes for the `ip` family.
    pub fn new(socket: &Socket) -> Self {
        Self::new_in(socket, NFPROTO_IPV4)
    }

    /// An empty transaction whose [`Batch::add`] writes for `family`
    /// (`NFPROTO_*`): the same objects in sbx's `ip6` table.
    pub fn new_in(socket: &Socket, family: u8) -> Self {
        let first = socket.next_seq();
        let buf = message(
            NFNL_MSG_BATCH_BEGIN,
            NLM_F_REQUEST,
            first,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        );
        Batch {
            buf,
            first,
            seq: first,
            acks: Vec::new(),
            family,
        }
    }

    /// Adds one nf_tables message for the batch's family (`ip` unless
    /// made with [`Batch::new_in`]); `what` names it in errors.
    pub fn add(&mut self, kind: u16, flags: u16, attrs: &Attrs, what: impl Into<String>) {
        self.add_in(self.family, kind, flags, attrs, what);
    }

    /// [`Batch::add`] for a table of another family (`NFPROTO_*`).
    pub fn add_in(
        &mut self,
        family: u8,
        kind: u16,
        flags: u16,
        attrs: &Attrs,
        what: impl Into<String>,
    ) {
        self.seq = self.seq.wrapping_add(1);
        let kind = (NFNL_SUBSYS_NFTABLES << 8) | kind;
        let flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        self.buf
            .extend(message(kind, flags, self.seq, family, 0, attrs.as_bytes()));
        self.acks.push((self.seq, what.into()));
    }

    /// Sends the batch and collects the answer to every message: (what,
    /// errno) each, errno 0 for success. After a failure the kernel aborts
    /// the batch, so what is queued is read and the rest not waited for.
    pub fn commit(mut self, socket: &Socket) -> Result<Vec<(String, i32)>> {
        self.seq = self.seq.wrapping_add(1);
        self.buf.extend(message(
            NFNL_MSG_BATCH_END,
            NLM_F_REQUEST,
            self.seq,
            0,
            NFNL_SUBSYS_NFTABLES,
            &[],
        ));
        socket.skip_to(self.seq);
        socket.send(&self.buf)?;
        let mut acks = Acks::new(self.first..=self.seq, self.acks);
        while !acks.complete() {
            match socket.receive(!acks.failed())? {
                Some(messages) => acks.feed(messages)?,
                None => break,
            }
        }
        Ok(acks.results)
    }
}

/// A netlink socket to nf_tables, closed when dropped.
pub struct Socket {
    fd: OwnedFd,
    seq: Cell<u32>,
}

impl Socket {
    /// Opens a NETLINK_NETFILTER socket. Sequence numbers start from the
    /// clock, so two sockets' requests are not numbered alike.
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
        let start = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(1);
        // SAFETY: fd is a fresh descriptor we own.
        Ok(Socket {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            seq: Cell::new(start),
        })
    }

    /// A sequence number no earlier request on this socket used.
    fn next_seq(&self) -> u32 {
        let seq = self.seq.get().wrapping_add(1);
        self.seq.set(seq);
        seq
    }

    /// Marks every number up to `last` as used (a batch takes a range).
    fn skip_to(&self, last: u32) {
        self.seq.set(last);
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
        if sent as usize != buf.len() {
            bail!("nf_tables took {sent} of {} bytes", buf.len());
        }
        Ok(())
    }

    /// Reads one whole datagram and splits it into messages. With `block`
    /// false, returns `None` when nothing is queued.
    fn receive(&self, block: bool) -> Result<Option<Vec<Message>>> {
        let flags = if block { 0 } else { libc::MSG_DONTWAIT };
        // SAFETY: a zero-length peek; MSG_TRUNC makes netlink return the
        // datagram's real length.
        let size = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
                0,
                flags | libc::MSG_PEEK | libc::MSG_TRUNC,
            )
        };
        if size < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            return Err(err).context("receive from nf_tables");
        }
        let mut buf = vec![0u8; (size as usize).max(16)];
        // SAFETY: zeroed msghdr/sockaddr; iov points at buf, valid for its
        // length; name at addr, valid for its size.
        let mut addr: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut addr as *mut libc::sockaddr_nl).cast();
        msg.msg_namelen = std::mem::size_of::<libc::sockaddr_nl>() as u32;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        // SAFETY: msg describes valid buffers (above).
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            return Err(std::io::Error::last_os_error()).context("receive from nf_tables");
        }
        if msg.msg_flags & libc::MSG_TRUNC != 0 || n as usize > buf.len() {
            bail!(
                "an nf_tables answer was cut: {n} bytes for a {} byte buffer",
                buf.len()
            );
        }
        if addr.nl_pid != 0 {
            bail!(
                "a netlink message from process {} instead of the kernel",
                addr.nl_pid
            );
        }
        parse_datagram(&buf[..n as usize]).map(Some)
    }

    /// Dumps the objects of one type (`get` is the GET message, whose
    /// objects come back as the matching NEW one), filtered by `attrs` and
    /// `family`: the body (nfgenmsg + attributes) of each. A dump the kernel
    /// marks as interrupted by a concurrent change is asked for again.
    fn dump(&self, get: u16, family: u8, attrs: &Attrs) -> Result<Result<Vec<Vec<u8>>, i32>> {
        self.dump_of(NFNL_SUBSYS_NFTABLES, get, family, attrs)
    }

    /// [`Socket::dump`] for any nfnetlink subsystem (`NFNL_SUBSYS_*`)
    /// whose objects answer a GET as the NEW one just before it.
    pub fn dump_of(
        &self,
        subsys: u16,
        get: u16,
        family: u8,
        attrs: &Attrs,
    ) -> Result<Result<Vec<Vec<u8>>, i32>> {
        let kind = (subsys << 8) | get;
        let answer_kind = kind - 1;
        for _ in 0..DUMP_ATTEMPTS {
            let seq = self.next_seq();
            self.send(&message(
                kind,
                NLM_F_REQUEST | NLM_F_DUMP,
                seq,
                family,
                0,
                attrs.as_bytes(),
            ))?;
            let mut dump = Dump::new(seq, answer_kind);
            let end = loop {
                let Some(messages) = self.receive(true)? else {
                    bail!("nf_tables did not answer");
                };
                if let Some(end) = dump.feed(messages)? {
                    break end;
                }
            };
            match end {
                DumpEnd::Done => return Ok(Ok(dump.objects)),
                DumpEnd::Failed(errno) => return Ok(Err(errno)),
                DumpEnd::Interrupted => continue,
            }
        }
        bail!("the nf_tables ruleset kept changing while sbx read it; try again")
    }

    /// Lists every chain of every table and family.
    pub fn dump_chains(&self) -> Result<Vec<ChainInfo>> {
        let objects = self
            .dump(NFT_MSG_GETCHAIN, 0, &Attrs::default())?
            .map_err(std::io::Error::from_raw_os_error)
            .context("list nf_tables chains")?;
        Ok(objects
            .iter()
            .filter(|body| body.len() >= 4)
            .map(|body| chain_info(body[0], &body[4..]))
            .collect())
    }

    /// The rules of one chain of a table of `family` (`NFPROTO_*`), each
    /// as its attributes. A table or chain that does not exist has no
    /// rules.
    pub fn dump_rules_in(&self, family: u8, table: &str, chain: &str) -> Result<Vec<Vec<u8>>> {
        let mut filter = Attrs::default();
        filter
            .string(attr::RULE_TABLE, table)
            .string(attr::RULE_CHAIN, chain);
        match self.dump(NFT_MSG_GETRULE, family, &filter)? {
            Ok(objects) => Ok(objects
                .into_iter()
                .filter(|body| body.len() >= 4)
                .map(|body| body[4..].to_vec())
                .collect()),
            Err(libc::ENOENT) => Ok(Vec::new()),
            Err(errno) => Err(std::io::Error::from_raw_os_error(errno))
                .with_context(|| format!("list the rules of chain {chain} in table {table}")),
        }
    }

    /// The elements of a set or map of `table` (family `family`), each as
    /// (key, value; empty for a plain set). A missing set has none.
    pub fn dump_set_elements(
        &self,
        family: u8,
        table: &str,
        set: &str,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let mut filter = Attrs::default();
        filter
            .string(attr::SET_ELEM_LIST_TABLE, table)
            .string(attr::SET_ELEM_LIST_SET, set);
        let objects = match self.dump(NFT_MSG_GETSETELEM, family, &filter)? {
            Ok(objects) => objects,
            Err(libc::ENOENT) => return Ok(Vec::new()),
            Err(errno) => {
                return Err(std::io::Error::from_raw_os_error(errno))
                    .with_context(|| format!("list the elements of set {set} in table {table}"));
            }
        };
        let mut elements = Vec::new();
        for body in objects.iter().filter(|b| b.len() >= 4) {
            elements.extend(super::encode::set_elements(&body[4..]));
        }
        Ok(elements)
    }

    /// Sends one request of nfnetlink subsystem `subsys` outside a batch
    /// and waits for its ack: the kernel's errno, 0 for success.
    pub fn request(&self, subsys: u16, kind: u16, family: u8, attrs: &Attrs) -> Result<i32> {
        let seq = self.next_seq();
        self.send(&message(
            (subsys << 8) | kind,
            NLM_F_REQUEST | NLM_F_ACK,
            seq,
            family,
            0,
            attrs.as_bytes(),
        ))?;
        let mut acks = Acks::new(seq..=seq, vec![(seq, String::new())]);
        while !acks.complete() {
            match self.receive(true)? {
                Some(messages) => acks.feed(messages)?,
                None => break,
            }
        }
        Ok(acks.results.first().map(|(_, errno)| *errno).unwrap_or(0))
    }
}
