//! OCI `process.terminal` with `--console-socket`, and `--preserve-fds`
//! (SPEC "OCI runtime", issue 12): the terminal's master side arrives over
//! the unix socket as runc sends it (one SCM_RIGHTS message), the command
//! runs on the slave as its controlling terminal; descriptors 3.. of the
//! caller reach the command at the same numbers.

mod common;
use common::oci::*;
use common::*;
use serde_json::json;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Receives one descriptor sent with SCM_RIGHTS on `listener`'s first
/// connection.
fn receive_fd(listener: &UnixListener) -> OwnedFd {
    let (stream, _) = listener.accept().expect("accept the runtime");
    let mut buf = [0u8; 256];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = nix::sys::socket::recvmsg::<()>(
        stream.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        nix::sys::socket::MsgFlags::empty(),
    )
    .expect("recvmsg");
    for cmsg in msg.cmsgs().expect("control messages") {
        if let nix::sys::socket::ControlMessageOwned::ScmRights(fds) = cmsg {
            // SAFETY: the kernel just installed this descriptor for us.
            return unsafe { OwnedFd::from_raw_fd(fds[0]) };
        }
    }
    panic!("no descriptor in the console socket's message");
}

/// Reads `fd` until `want` appears or 10 s pass (EIO: the slave closed).
fn read_until(fd: &OwnedFd, want: &str) -> String {
    let mut file = std::fs::File::from(fd.try_clone().unwrap());
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 512];
    while Instant::now() < deadline && !seen.contains(want) {
        match file.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    seen
}

#[test]
fn a_terminal_goes_to_the_console_socket_and_is_the_commands() {
    let env = TestEnv::new("ocitty");
    let bundle = Bundle::new(&env, "tty", |c| {
        c["process"]["terminal"] = json!(true);
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; sleep 1"
        ]);
    });
    let socket = env.root.with_extension("console.sock");
    let _ = std::fs::remove_file(&socket);
    // The socket file goes with the test, whatever its outcome.
    struct Gone(std::path::PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _gone = Gone(socket.clone());
    let listener = UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || receive_fd(&listener));
    let out = env
        .cmd(&[
            "oci",
            "create",
            "--bundle",
            bundle.path(),
            "--console-socket",
            socket.to_str().unwrap(),
            "tty1",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert!(out.status.success(), "create: {}", text(&out.stderr));
    let master = receiver.join().expect("the master side arrived");
    assert_eq!(status(&env, "tty1"), "created");
    let out = oci(&env, &["start", "tty1"]);
    assert!(out.status.success(), "start: {}", text(&out.stderr));
    let said = read_until(&master, "both-ttys");
    assert!(said.contains("/dev/pts/"), "{said:?}");
    assert!(said.contains("both-ttys"), "{said:?}");
    let out = oci(&env, &["delete", "--force", "tty1"]);
    assert!(out.status.success(), "delete: {}", text(&out.stderr));
    let _ = std::fs::remove_file(&socket);

    // A terminal without a socket, and a socket without a terminal: refused.
    let out = oci(&env, &["create", "--bundle", bundle.path(), "tty2"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(
        text(&out.stderr).contains("--console-socket"),
        "{}",
        text(&out.stderr)
    );
    assert!(env.records().is_empty(), "{:?}", env.records());
}

#[test]
fn preserved_descriptors_reach_the_command_at_their_numbers() {
    let env = TestEnv::new("ocifds");
    let bundle = Bundle::new(&env, "fds", |c| {
        c["process"]["args"] = json!([
            "sh",
            "-c",
            "echo via-fd3 >&3; echo via-fd4 >&4; ls /proc/self/fd"
        ]);
    });
    let (r3, w3) = nix::unistd::pipe().unwrap();
    let (r4, w4) = nix::unistd::pipe().unwrap();
    let output = env.root.with_extension("out");
    let mut cmd = env.cmd(&[
        "oci",
        "run",
        "--bundle",
        bundle.path(),
        "--preserve-fds",
        "2",
        "fds1",
    ]);
    let (w3raw, w4raw) = (w3.as_raw_fd(), w4.as_raw_fd());
    // SAFETY: dup2 only, between fork and exec: the write ends at 3 and 4.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            if libc::dup2(w3raw, 3) < 0 || libc::dup2(w4raw, 4) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&output).unwrap())
        .stderr(Stdio::inherit())
        .status()
        .unwrap();
    drop((w3, w4));
    assert!(status.success());
    let mut got = String::new();
    std::fs::File::from(r3).read_to_string(&mut got).unwrap();
    assert_eq!(got, "via-fd3\n");
    got.clear();
    std::fs::File::from(r4).read_to_string(&mut got).unwrap();
    assert_eq!(got, "via-fd4\n");
    // Nothing above them crossed: 0 to 4, and ls's own reading of the list.
    let listed = std::fs::read_to_string(&output).unwrap();
    let fds: Vec<&str> = listed.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3", "4", "5"], "{listed}");
    let _ = std::fs::remove_file(output);
}
