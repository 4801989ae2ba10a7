//! The launch handshake between `sbx run` (the parent) and the sandbox's
//! init: typed messages, one JSON document per datagram, over a
//! `SOCK_SEQPACKET` socketpair, so message boundaries are the kernel's and a
//! peer that dies is seen as end-of-file. A message may carry one file
//! descriptor (`SCM_RIGHTS`): the terminal's master side.
//!
//! The protocol, in order: the init sets up its view of the system while
//! the parent wires the network, then reports [`ToParent::Ready`] or
//! [`ToParent::Failed`]; the parent, once it has both, answers
//! [`ToInit::Go`] (or closes its end, which means "give up").

use anyhow::{Context, Result, bail};
use nix::cmsg_space;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{
    AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags, SockFlag, SockType, recvmsg,
    sendmsg, socketpair,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The init's report on its setup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToParent {
    /// Its filesystem, hostname, capabilities are in place; it waits for
    /// [`ToInit::Go`]. With a terminal, the master side travels with it.
    Ready,
    /// Setup failed; `message` is the one line `sbx run` prints.
    Failed {
        /// What went wrong, naming the object (e.g. the mount target).
        message: String,
    },
}

/// The parent's word to the init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToInit {
    /// The network is wired and the record written: start the command.
    Go,
}

/// Largest message accepted; a `Failed` message is one line of text.
const MAX_MESSAGE: usize = 16 * 1024;

/// One end of the socketpair.
pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair of ends, both close-on-exec: one for the parent, one
/// for the init.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("create the launch socketpair")?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// Sends one message, with `fd` attached when given.
    pub fn send<T: Serialize>(&self, message: &T, fd: Option<BorrowedFd<'_>>) -> Result<()> {
        let bytes = serde_json::to_vec(message).context("encode a launch message")?;
        let iov = [IoSlice::new(&bytes)];
        let fds: Vec<RawFd> = fd.iter().map(|f| f.as_raw_fd()).collect();
        let cmsgs: Vec<ControlMessage> = if fds.is_empty() {
            Vec::new()
        } else {
            vec![ControlMessage::ScmRights(&fds)]
        };
        loop {
            match sendmsg::<()>(
                self.fd.as_raw_fd(),
                &iov,
                &cmsgs,
                MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("send a launch message"),
            }
        }
    }

    /// Receives one message and the descriptor that came with it, if any;
    /// `None` when the peer closed its end (or died).
    pub fn recv<T: DeserializeOwned>(&self) -> Result<Option<(T, Option<OwnedFd>)>> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut space = cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let mut fd = None;
                    for cmsg in msg.cmsgs().context("read a launch message's fds")? {
                        if let ControlMessageOwned::ScmRights(fds) = cmsg {
                            for raw in fds {
                                // SAFETY: the kernel just installed `raw` in
                                // this process for us; we own it now.
                                let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                                fd.get_or_insert(owned);
                            }
                        }
                    }
                    if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                        bail!("a launch message was too long");
                    }
                    break (msg.bytes, fd);
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(e).context("receive a launch message"),
            }
        };
        if len == 0 {
            return Ok(None);
        }
        let message = serde_json::from_slice(&buf[..len]).context("decode a launch message")?;
        Ok(Some((message, fd)))
    }

    /// Whether a message (or end-of-file) arrives within `timeout`.
    pub fn readable_within(&self, timeout: Duration) -> bool {
        let millis = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(&mut fds, millis) {
                Ok(n) => return n > 0,
                Err(Errno::EINTR) => continue,
                Err(_) => return false,
            }
        }
    }
}

impl AsFd for Channel {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_keep_their_type_and_boundaries() {
        let (parent, init) = pair().unwrap();
        init.send(&ToParent::Ready, None).unwrap();
        let failed = ToParent::Failed {
            message: "mount tmpfs on /etc/hostname: Not a directory".into(),
        };
        init.send(&failed, None).unwrap();
        assert_eq!(
            parent.recv::<ToParent>().unwrap().unwrap().0,
            ToParent::Ready
        );
        assert_eq!(parent.recv::<ToParent>().unwrap().unwrap().0, failed);
        parent.send(&ToInit::Go, None).unwrap();
        assert_eq!(init.recv::<ToInit>().unwrap().unwrap().0, ToInit::Go);
    }

    #[test]
    fn a_descriptor_travels_with_a_message() {
        let (parent, init) = pair().unwrap();
        let (read_end, write_end) = nix::unistd::pipe().unwrap();
        init.send(&ToParent::Ready, Some(write_end.as_fd()))
            .unwrap();
        drop(write_end);
        let (message, fd) = parent.recv::<ToParent>().unwrap().unwrap();
        assert_eq!(message, ToParent::Ready);
        let fd = fd.expect("the descriptor arrived");
        nix::unistd::write(&fd, b"x").unwrap();
        let mut byte = [0u8];
        assert_eq!(nix::unistd::read(&read_end, &mut byte).unwrap(), 1);
        assert_eq!(&byte, b"x");
    }

    #[test]
    fn a_closed_peer_is_an_end_not_a_hang() {
        let (parent, init) = pair().unwrap();
        assert!(!parent.readable_within(Duration::from_millis(10)));
        drop(init);
        assert!(parent.readable_within(Duration::from_millis(10)));
        assert!(parent.recv::<ToParent>().unwrap().is_none());
    }

    #[test]
    fn garbage_is_an_error() {
        let (parent, init) = pair().unwrap();
        nix::unistd::write(&init.fd, b"not json").unwrap();
        assert!(parent.recv::<ToParent>().is_err());
    }
}
