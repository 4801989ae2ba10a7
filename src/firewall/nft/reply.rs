//! Reading the kernel's answers on the nf_tables socket, as pure functions
//! over byte buffers so every rule of netlink(7) is unit-tested: each
//! message must fit in its datagram, must answer the request that was sent
//! (its sequence number), a dump ends with `NLMSG_DONE` and may span many
//! datagrams, an `NLMSG_ERROR` carries a negative errno (0 is an ack).

use super::{NLMSG_DONE, NLMSG_ERROR};
use anyhow::{Result, bail};
use std::ops::RangeInclusive;

/// `NLM_F_MULTI`: a part of a multi-part answer (a dump).
const NLM_F_MULTI: u16 = 0x2;
/// `NLM_F_DUMP_INTR`: the dump changed under the kernel while it was being
/// written; its content is inconsistent and must be asked for again.
const NLM_F_DUMP_INTR: u16 = 0x10;
/// `struct nlmsghdr` is 16 bytes (len, type, flags, seq, pid).
const HEADER: usize = 16;

/// One netlink message received: its header fields and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Message type (`NLMSG_ERROR`, `NLMSG_DONE`, or subsystem << 8 | kind).
    pub kind: u16,
    /// Header flags (`NLM_F_MULTI`, `NLM_F_DUMP_INTR`, ...).
    pub flags: u16,
    /// Sequence number of the request it answers.
    pub seq: u32,
    /// For `NLMSG_ERROR`: the positive errno, 0 for an ack; else 0.
    pub errno: i32,
    /// Everything after the header (for errors: the errno and the echo).
    pub body: Vec<u8>,
}

/// Splits one datagram into its messages. A header that claims more bytes
/// than the datagram holds, or fewer than a header, means the reply was cut
/// (or is not netlink at all): an error, never a silent partial answer.
pub fn parse_datagram(mut data: &[u8]) -> Result<Vec<Message>> {
    let mut messages = Vec::new();
    while !data.is_empty() {
        if data.len() < HEADER {
            bail!(
                "truncated netlink answer from nf_tables: {} stray bytes",
                data.len()
            );
        }
        let len = u32::from_ne_bytes([data[0], data[1], data[2], data[3]]) as usize;
        if len < HEADER || len > data.len() {
            bail!(
                "truncated netlink answer from nf_tables: a message of {len} bytes in {} bytes",
                data.len()
            );
        }
        let kind = u16::from_ne_bytes([data[4], data[5]]);
        let flags = u16::from_ne_bytes([data[6], data[7]]);
        let seq = u32::from_ne_bytes([data[8], data[9], data[10], data[11]]);
        let errno = if kind == NLMSG_ERROR {
            if len < HEADER + 4 {
                bail!("truncated netlink error from nf_tables");
            }
            -i32::from_ne_bytes([data[16], data[17], data[18], data[19]])
        } else {
            0
        };
        messages.push(Message {
            kind,
            flags,
            seq,
            errno,
            body: data[HEADER..len].to_vec(),
        });
        data = &data[(len.div_ceil(4) * 4).min(data.len())..];
    }
    Ok(messages)
}

/// Refuses a message that answers another request than `expected`: a stale
/// reply left on the socket must never be taken for this one's.
pub fn check_seq(message: &Message, expected: &RangeInclusive<u32>) -> Result<()> {
    if !expected.contains(&message.seq) {
        bail!(
            "nf_tables answered request {} while sbx waited for {}..={}",
            message.seq,
            expected.start(),
            expected.end()
        );
    }
    Ok(())
}

/// How a dump ended.
#[derive(Debug, PartialEq, Eq)]
pub enum DumpEnd {
    /// `NLMSG_DONE` arrived: the objects are complete.
    Done,
    /// The kernel refused the dump with this errno.
    Failed(i32),
    /// The objects changed during the dump (`NLM_F_DUMP_INTR`): ask again.
    Interrupted,
}

/// Assembles a multi-part dump from datagrams as they arrive: the body of
/// every object message of the expected type, in order.
pub struct Dump {
    seq: u32,
    kind: u16,
    interrupted: bool,
    /// The objects' bodies (nfgenmsg + attributes).
    pub objects: Vec<Vec<u8>>,
}

impl Dump {
    /// A dump requested with `seq`, whose objects come as messages `kind`.
    pub fn new(seq: u32, kind: u16) -> Self {
        Dump {
            seq,
            kind,
            interrupted: false,
            objects: Vec::new(),
        }
    }

    /// Takes one datagram's messages; `Some` once the dump has ended.
    pub fn feed(&mut self, messages: Vec<Message>) -> Result<Option<DumpEnd>> {
        for message in messages {
            check_seq(&message, &(self.seq..=self.seq))?;
            self.interrupted |= message.flags & NLM_F_DUMP_INTR != 0;
            match message.kind {
                NLMSG_DONE if self.interrupted => return Ok(Some(DumpEnd::Interrupted)),
                NLMSG_DONE => return Ok(Some(DumpEnd::Done)),
                NLMSG_ERROR if message.errno != 0 => {
                    return Ok(Some(DumpEnd::Failed(message.errno)));
                }
                NLMSG_ERROR => {}
                kind if kind == self.kind => {
                    if message.flags & NLM_F_MULTI == 0 {
                        bail!("nf_tables sent a dump part without NLM_F_MULTI");
                    }
                    self.objects.push(message.body);
                }
                kind => bail!("nf_tables sent message type {kind:#x} in a dump"),
            }
        }
        Ok(None)
    }
}

/// Collects the acks of a batch: one `NLMSG_ERROR` per message that asked
/// for one, matched by sequence number; anything else is refused.
pub struct Acks {
    range: RangeInclusive<u32>,
    pending: Vec<(u32, String)>,
    /// (what, errno) per answered message, in arrival order.
    pub results: Vec<(String, i32)>,
}

impl Acks {
    /// Waits for `pending` (seq, description) among a batch of `range`.
    pub fn new(range: RangeInclusive<u32>, pending: Vec<(u32, String)>) -> Self {
        Acks {
            range,
            pending,
            results: Vec::new(),
        }
    }

    /// Takes one datagram's messages.
    pub fn feed(&mut self, messages: Vec<Message>) -> Result<()> {
        for message in messages {
            check_seq(&message, &self.range)?;
            if message.kind != NLMSG_ERROR {
                bail!(
                    "nf_tables answered a batch with message type {:#x}",
                    message.kind
                );
            }
            match self.pending.iter().position(|(s, _)| *s == message.seq) {
                Some(pos) => {
                    let (_, what) = self.pending.remove(pos);
                    self.results.push((what, message.errno));
                }
                None if message.errno != 0 => {
                    // The batch's begin or end message itself was refused.
                    self.results
                        .push(("nf_tables batch".to_string(), message.errno));
                }
                None => bail!("nf_tables acked request {} twice", message.seq),
            }
        }
        Ok(())
    }

    /// Whether every message has been answered.
    pub fn complete(&self) -> bool {
        self.pending.is_empty()
    }

    /// Whether any answer so far is an error (the kernel then aborts the
    /// batch and may not answer the rest).
    pub fn failed(&self) -> bool {
        self.results.iter().any(|(_, e)| *e != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
        let len = HEADER + body.len();
        let mut m = Vec::new();
        m.extend_from_slice(&(len as u32).to_ne_bytes());
        m.extend_from_slice(&kind.to_ne_bytes());
        m.extend_from_slice(&flags.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(body);
        while m.len() % 4 != 0 {
            m.push(0);
        }
        m
    }

    fn error(seq: u32, errno: i32) -> Vec<u8> {
        let mut body = (-errno).to_ne_bytes().to_vec();
        body.extend_from_slice(&[0u8; 16]);
        raw(NLMSG_ERROR, 0, seq, &body)
    }

    const RULE: u16 = 0x0a06;

    #[test]
    fn a_datagram_splits_into_its_messages() {
        let mut data = raw(RULE, NLM_F_MULTI, 5, &[1, 2, 3]);
        data.extend(error(5, libc::ENOENT));
        let messages = parse_datagram(&data).unwrap();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].body, vec![1, 2, 3]);
        assert_eq!(messages[1].errno, libc::ENOENT);
    }

    #[test]
    fn a_truncated_reply_is_an_error() {
        let data = raw(RULE, NLM_F_MULTI, 5, &[0u8; 40]);
        assert!(parse_datagram(&data[..30]).is_err(), "cut inside a message");
        assert!(parse_datagram(&data[..10]).is_err(), "cut inside a header");
        let short_error = raw(NLMSG_ERROR, 0, 5, &[]);
        assert!(parse_datagram(&short_error).is_err(), "error without errno");
    }

    #[test]
    fn a_reply_to_another_request_is_rejected() {
        let mut dump = Dump::new(7, RULE);
        let stale = parse_datagram(&raw(RULE, NLM_F_MULTI, 6, &[9])).unwrap();
        assert!(dump.feed(stale).is_err());
        let mut acks = Acks::new(10..=13, vec![(11, "a".into()), (12, "b".into())]);
        assert!(acks.feed(parse_datagram(&error(3, 0)).unwrap()).is_err());
    }

    #[test]
    fn a_multipart_dump_is_assembled_across_datagrams() {
        let mut dump = Dump::new(7, RULE);
        let mut first = raw(RULE, NLM_F_MULTI, 7, &[1]);
        first.extend(raw(RULE, NLM_F_MULTI, 7, &[2]));
        assert_eq!(dump.feed(parse_datagram(&first).unwrap()).unwrap(), None);
        let mut second = raw(RULE, NLM_F_MULTI, 7, &[3]);
        second.extend(raw(NLMSG_DONE, NLM_F_MULTI, 7, &[0, 0, 0, 0]));
        assert_eq!(
            dump.feed(parse_datagram(&second).unwrap()).unwrap(),
            Some(DumpEnd::Done)
        );
        assert_eq!(dump.objects, vec![vec![1], vec![2], vec![3]]);
    }

    #[test]
    fn a_dump_reports_errors_and_interruptions() {
        let mut dump = Dump::new(7, RULE);
        let end = dump.feed(parse_datagram(&error(7, libc::ENOENT)).unwrap());
        assert_eq!(end.unwrap(), Some(DumpEnd::Failed(libc::ENOENT)));
        let mut dump = Dump::new(7, RULE);
        let mut data = raw(RULE, NLM_F_MULTI | NLM_F_DUMP_INTR, 7, &[1]);
        data.extend(raw(NLMSG_DONE, NLM_F_MULTI, 7, &[0, 0, 0, 0]));
        let end = dump.feed(parse_datagram(&data).unwrap());
        assert_eq!(end.unwrap(), Some(DumpEnd::Interrupted));
    }

    #[test]
    fn batch_acks_are_matched_by_sequence_number() {
        let mut acks = Acks::new(10..=13, vec![(11, "a".into()), (12, "b".into())]);
        acks.feed(parse_datagram(&error(12, libc::EEXIST)).unwrap())
            .unwrap();
        assert!(!acks.complete() && acks.failed());
        acks.feed(parse_datagram(&error(11, 0)).unwrap()).unwrap();
        assert!(acks.complete());
        assert_eq!(
            acks.results,
            vec![("b".to_string(), libc::EEXIST), ("a".to_string(), 0)]
        );
        assert!(acks.feed(parse_datagram(&error(11, 0)).unwrap()).is_err());
    }
}
