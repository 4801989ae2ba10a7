//! A small load generator for `bench/trust.sh` (issue 10's benchmark): the
//! kernel's packet path through a published port and across a bridge is
//! what is measured, so the client must cost as little as possible per
//! packet. Python spends more per packet than the kernel does; iperf3's
//! UDP mode sends one datagram per syscall. This sends and receives 64
//! datagrams per syscall (`sendmmsg`/`recvmmsg`), and opens TCP connections
//! with nothing but `socket`, `connect` and an aborting `close`.
//!
//! ```text
//! netbench udp-flood ADDR:PORT SECS   64-byte datagrams for SECS seconds;
//!                                     prints "sent N pps R errors E"
//! netbench udp-sink PORT              receives and discards until killed
//!                                     (counts: the kernel's /proc/PID/net/snmp)
//! netbench tcp-connect-loop ADDR:PORT SECS [THREADS]
//!                                     connect + close, THREADS (default 2)
//!                                     loops; prints "connects N cps R failed F"
//! netbench tcp-accept PORT            accepts and closes until killed
//! ```
//!
//! A connection is closed with `SO_LINGER` 0 (a RST, no TIME_WAIT), so a
//! run of a few seconds at tens of thousands of connections per second does
//! not run out of the client's ephemeral ports.
//!
//! Build: `cargo build --release --example netbench` (static, like sbx:
//! target/x86_64-unknown-linux-gnu/release/examples/netbench).

use std::io::{Error, ErrorKind, Result};
use std::net::{SocketAddr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Datagrams per `sendmmsg`/`recvmmsg` call.
const BATCH: usize = 64;
/// UDP payload bytes: the "64-byte packet" of the issue.
const PAYLOAD: usize = 64;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match argv.as_slice() {
        ["udp-flood", addr, secs] => udp_flood(addr, secs),
        ["udp-sink", port] => udp_sink(port),
        ["tcp-connect-loop", addr, secs] => tcp_connect_loop(addr, secs, "2"),
        ["tcp-connect-loop", addr, secs, threads] => tcp_connect_loop(addr, secs, threads),
        ["tcp-accept", port] => tcp_accept(port),
        _ => Err(Error::new(
            ErrorKind::InvalidInput,
            "usage: netbench udp-flood ADDR:PORT SECS | udp-sink PORT | \
             tcp-connect-loop ADDR:PORT SECS [THREADS] | tcp-accept PORT",
        )),
    };
    if let Err(e) = result {
        eprintln!("netbench: {e}");
        std::process::exit(1);
    }
}

fn parse<T: std::str::FromStr>(what: &str, s: &str) -> Result<T> {
    s.parse()
        .map_err(|_| Error::new(ErrorKind::InvalidInput, format!("bad {what} '{s}'")))
}

fn secs(s: &str) -> Result<Duration> {
    let f: f64 = parse("SECS", s)?;
    if !(f > 0.0 && f < 3600.0) {
        return Err(Error::new(ErrorKind::InvalidInput, "SECS: 0 < SECS < 3600"));
    }
    Ok(Duration::from_secs_f64(f))
}

/// Sends 64-byte datagrams to `addr` in batches of 64 for `secs`; a batch
/// the kernel refuses (ENOBUFS, ECONNREFUSED after an ICMP error) counts
/// as errors and the loop goes on.
fn udp_flood(addr: &str, secs_arg: &str) -> Result<()> {
    let to: SocketAddr = parse("ADDR:PORT", addr)?;
    let dur = secs(secs_arg)?;
    let sock = UdpSocket::bind("0.0.0.0:0")?;
    sock.connect(to)?;
    let fd = sock.as_raw_fd();
    let payload = [0x5au8; PAYLOAD];
    let mut iov: Vec<libc::iovec> = (0..BATCH)
        .map(|_| libc::iovec {
            iov_base: payload.as_ptr() as *mut libc::c_void,
            iov_len: PAYLOAD,
        })
        .collect();
    // SAFETY: an all-zero mmsghdr is valid (null name, no control data).
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v;
        m.msg_hdr.msg_iovlen = 1;
    }
    let (mut sent, mut errors) = (0u64, 0u64);
    let start = Instant::now();
    let mut elapsed = Duration::ZERO;
    while elapsed < dur {
        for _ in 0..16 {
            // SAFETY: msgs points at BATCH initialised headers whose iovecs
            // point at `payload`, all alive for the call.
            let n = unsafe { libc::sendmmsg(fd, msgs.as_mut_ptr(), BATCH as u32, 0) };
            if n < 0 {
                errors += 1;
            } else {
                sent += n as u64;
            }
        }
        elapsed = start.elapsed();
    }
    let s = elapsed.as_secs_f64();
    println!(
        "sent {sent} pps {:.0} errors {errors} secs {s:.3}",
        sent as f64 / s
    );
    Ok(())
}

/// Receives and drops datagrams on `port` until killed.
fn udp_sink(port: &str) -> Result<()> {
    let port: u16 = parse("PORT", port)?;
    let sock = UdpSocket::bind(SocketAddrV4::new([0, 0, 0, 0].into(), port))?;
    let fd = sock.as_raw_fd();
    set_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, 4 << 20)?;
    let mut bufs = vec![[0u8; 2048]; BATCH];
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr() as *mut libc::c_void,
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: as in udp_flood.
    let mut msgs: Vec<libc::mmsghdr> = (0..BATCH).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (m, v) in msgs.iter_mut().zip(iov.iter_mut()) {
        m.msg_hdr.msg_iov = v;
        m.msg_hdr.msg_iovlen = 1;
    }
    loop {
        // SAFETY: msgs' iovecs point at `bufs`, alive for the call.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                msgs.as_mut_ptr(),
                BATCH as u32,
                libc::MSG_WAITFORONE,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = Error::last_os_error();
            if e.kind() != ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }
}

fn set_int(fd: RawFd, level: i32, name: i32, value: i32) -> Result<()> {
    // SAFETY: value is a live i32 of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const i32).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(Error::last_os_error());
    }
    Ok(())
}

/// One new connection: socket, blocking connect, close with a RST.
fn connect_once(to: &libc::sockaddr_in) -> Result<()> {
    // SAFETY: plain syscalls on a descriptor this function owns and closes.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(Error::last_os_error());
        }
        let linger = libc::linger {
            l_onoff: 1,
            l_linger: 0,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        );
        let rc = libc::connect(
            fd,
            (to as *const libc::sockaddr_in).cast(),
            size_of::<libc::sockaddr_in>() as libc::socklen_t,
        );
        let err = (rc < 0).then(Error::last_os_error);
        libc::close(fd);
        err.map_or(Ok(()), Err)
    }
}

/// THREADS loops of connect_once to `addr` for `secs`.
fn tcp_connect_loop(addr: &str, secs_arg: &str, threads: &str) -> Result<()> {
    let to: SocketAddrV4 = parse("ADDR:PORT", addr)?;
    let dur = secs(secs_arg)?;
    let threads: usize = parse("THREADS", threads)?;
    if !(1..=64).contains(&threads) {
        return Err(Error::new(ErrorKind::InvalidInput, "THREADS: 1 to 64"));
    }
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: to.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*to.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let stop = Arc::new(AtomicBool::new(false));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (ok, failed, stop, first) = (
                ok.clone(),
                failed.clone(),
                stop.clone(),
                first_error.clone(),
            );
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match connect_once(&sin) {
                        Ok(()) => ok.fetch_add(1, Ordering::Relaxed),
                        Err(e) => {
                            if let Ok(mut f) = first.lock() {
                                f.get_or_insert_with(|| e.to_string());
                            }
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                }
            })
        })
        .collect();
    std::thread::sleep(dur);
    stop.store(true, Ordering::Relaxed);
    let s = start.elapsed().as_secs_f64();
    let n = ok.load(Ordering::Relaxed);
    for h in handles {
        let _ = h.join();
    }
    let f = failed.load(Ordering::Relaxed);
    let why = first_error.lock().ok().and_then(|g| g.clone());
    println!(
        "connects {n} cps {:.0} failed {f} secs {s:.3}{}",
        n as f64 / s,
        why.map(|w| format!(" first-error {w}")).unwrap_or_default()
    );
    Ok(())
}

/// Accepts on `port` (backlog 4096) and closes each connection at once,
/// in two threads, until killed.
fn tcp_accept(port: &str) -> Result<()> {
    let port: u16 = parse("PORT", port)?;
    let listener = TcpListener::bind(SocketAddrV4::new([0, 0, 0, 0].into(), port))?;
    // SAFETY: listen() again on a listening socket only resizes its backlog.
    if unsafe { libc::listen(listener.as_raw_fd(), 4096) } < 0 {
        return Err(Error::last_os_error());
    }
    let listener = Arc::new(listener);
    let other = listener.clone();
    std::thread::spawn(move || accept_loop(&other));
    accept_loop(&listener);
    Ok(())
}

fn accept_loop(listener: &TcpListener) {
    loop {
        // The accepted stream is dropped (closed) at once; errors such as
        // ECONNABORTED (the client's RST came first) are expected.
        let _ = listener.accept();
    }
}
