//! The nf_tables netlink socket: batches (transactions) and their acks,
//! single requests, and chain dumps.

use super::encode::{Attrs, ChainInfo, chain_info, message};
use super::*;
use anyhow::{Context, Result, bail};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

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
