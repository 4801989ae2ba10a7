//! SPEC "Ports": published ports through nf_tables DNAT, from outside (a
//! client namespace routed to the host through a veth), from the host, by
//! hairpin; conflicts; nothing left after the sandbox ends or is swept.

mod common;
use common::*;
use std::io::Read;
use std::net::{TcpStream, UdpSocket};
use std::time::Duration;

/// A server for the sandbox: on each TCP port it answers a connection with
/// the client's address and its own port; on each UDP port it answers a
/// datagram the same way.
const SERVER: &str = r#"
import socket, sys, threading
def tcp(port):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("", port)); s.listen()
    while True:
        c, a = s.accept(); c.sendall(f"{a[0]} {port}".encode()); c.close()
def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("", port))
    while True:
        _, a = s.recvfrom(100); s.sendto(f"{a[0]} {port}".encode(), a)
for arg in sys.argv[1:]:
    proto, port = arg.split("/")
    threading.Thread(target=tcp if proto == "tcp" else udp, args=(int(port),)).start()
"#;

/// What a TCP connect to `addr` (from netns `ns`, or the host) reads back.
fn ask(ns: Option<&str>, addr: &str) -> Option<String> {
    match ns {
        None => {
            let mut s =
                TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_secs(3)).ok()?;
            s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
            let mut out = String::new();
            s.read_to_string(&mut out).ok()?;
            Some(out)
        }
        Some(ns) => {
            let (ip, port) = addr.rsplit_once(':')?;
            let script = format!(
                "import socket; s=socket.create_connection(('{ip}',{port}),timeout=3); print(s.recv(100).decode())"
            );
            let out = host("ip", &["netns", "exec", ns, "python3", "-c", &script]);
            out.status
                .success()
                .then(|| text(&out.stdout).trim().to_string())
        }
    }
}

/// What a UDP datagram to `addr` from the host gets back.
fn ask_udp(addr: &str) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.send_to(b"hi", addr).ok()?;
    let mut buf = [0u8; 100];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// The elements of sbx's port maps, as `nft` lists them.
fn port_elements() -> String {
    let any = text(&host("nft", &["list", "map", "ip", "sbx", "ports-any"]).stdout);
    let one = text(&host("nft", &["list", "map", "ip", "sbx", "ports-ip"]).stdout);
    format!("{any}{one}")
}

fn server_args<'a>(
    net: &'a str,
    ip: &'a str,
    publish: &[&'a str],
    ports: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["--network", net, "--ip", ip];
    for p in publish {
        args.extend_from_slice(&["-p", p]);
    }
    args.extend_from_slice(&["--", "python3", "-c", SERVER]);
    args.extend_from_slice(ports);
    args
}

/// Polls until the sandbox at `ip` answers on TCP port 80 (its server is
/// up).
fn wait_served(addr: &str) {
    assert!(
        wait_until(10, || ask(None, addr).is_some()),
        "no answer on {addr}"
    );
}

#[test]
fn a_published_port_answers_from_outside_the_host_and_by_hairpin() {
    let mut env = TestEnv::new("ports");
    let net = env.network(
        "tst-ports",
        &["--subnet", "10.218.0.0/24", "--bridge", "tstb-ports"],
    );
    // A machine outside: its own namespace, routed to the host.
    let outside = HandNetns::new("tst-out-pt", "tstu-pt", "10.218.9.1/24", "10.218.9.2/24");
    env.detach(
        "tst-ptweb",
        &server_args(
            &net,
            "10.218.0.10",
            &[
                "47080:80",
                "127.0.0.1:47081:81",
                "47090-47091:90-91",
                "47053:53/udp",
            ],
            &["tcp/80", "tcp/81", "tcp/90", "tcp/91", "udp/53"],
        ),
    );
    env.detach(
        "tst-ptnb",
        &[
            "--network",
            &net,
            "--ip",
            "10.218.0.20",
            "--",
            "sleep",
            "120",
        ],
    );
    wait_served("127.0.0.1:47080");

    // From another machine, on a host address: the real client address.
    assert_eq!(
        ask(Some(&outside.name), "10.218.9.1:47080").as_deref(),
        Some("10.218.9.2 80")
    );
    // From the host, on 127.0.0.1 and on a host address (the gateway).
    assert!(ask(None, "127.0.0.1:47080").is_some_and(|a| a.ends_with(" 80")));
    assert!(ask(None, "10.218.0.1:47080").is_some_and(|a| a.ends_with(" 80")));
    // By hairpin, from a neighbour and from the publisher itself.
    assert!(ask(Some("sbx-tst-ptnb"), "10.218.0.1:47080").is_some_and(|a| a.ends_with(" 80")));
    assert!(ask(Some("sbx-tst-ptweb"), "10.218.0.1:47080").is_some_and(|a| a.ends_with(" 80")));
    // A range, port for port.
    assert!(ask(None, "127.0.0.1:47091").is_some_and(|a| a.ends_with(" 91")));
    // HOST_IP: only on that address.
    assert!(ask(None, "127.0.0.1:47081").is_some_and(|a| a.ends_with(" 81")));
    assert_eq!(ask(Some(&outside.name), "10.218.9.1:47081"), None);
    // UDP.
    assert!(ask_udp("127.0.0.1:47053").is_some_and(|a| a.ends_with(" 53")));

    // ps, --json and inspect show them.
    let table = env.ok(&["ps"]);
    let row = table.lines().find(|l| l.starts_with("tst-ptweb")).unwrap();
    assert!(row.contains("0.0.0.0:47080->80/tcp"), "{row}");
    assert!(row.contains("0.0.0.0:47090-47091->90-91/tcp"), "{row}");
    assert!(row.contains("127.0.0.1:47081->81/tcp"), "{row}");
    let listed = env.ps_json();
    let web = listed.iter().find(|s| s["name"] == "tst-ptweb").unwrap();
    assert_eq!(web["ports"].as_array().map(Vec::len), Some(5));
    assert_eq!(
        web["ports"][0],
        serde_json::json!({"host_ip": "0.0.0.0", "host_port": 47080, "port": 80, "proto": "tcp"})
    );
    assert_eq!(env.inspect("tst-ptweb")["ports"], web["ports"]);

    // Removed when the sandbox ends.
    env.ok(&["rm", "-f", "tst-ptweb"]);
    assert!(
        !port_elements().contains("10.218.0.10"),
        "{}",
        port_elements()
    );
    assert_eq!(ask(None, "127.0.0.1:47080"), None);
    env.ok(&["rm", "-f", "tst-ptnb"]);
}

#[test]
fn conflicts_are_refused_naming_the_holder_and_leave_nothing() {
    let mut env = TestEnv::new("portsx");
    let net = env.network(
        "tst-portsx",
        &["--subnet", "10.218.1.0/24", "--bridge", "tstb-portsx"],
    );
    env.detach(
        "tst-pxa",
        &["--network", &net, "-p", "47180:80", "--", "sleep", "120"],
    );
    let internal = env.network(
        "tst-portsi",
        &[
            "--subnet",
            "10.218.2.0/24",
            "--bridge",
            "tstb-portsi",
            "--internal",
        ],
    );
    let refused = |args: &[&str], says: &[&str]| {
        let before = env.records();
        let out = env.sbx(args);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        for word in says {
            assert!(err.contains(word), "{args:?}: {err} lacks {word}");
        }
        assert_eq!(env.records(), before, "nothing left: {args:?}");
    };
    // Another sandbox's port, on any address or on one of them.
    refused(
        &[
            "run",
            "--network",
            &net,
            "--name",
            "tst-pxb",
            "-p",
            "47180:81",
            "--",
            "true",
        ],
        &["47180", "tst-pxa"],
    );
    refused(
        &[
            "run",
            "--network",
            &net,
            "--name",
            "tst-pxb",
            "-p",
            "127.0.0.1:47180:81",
            "--",
            "true",
        ],
        &["47180", "tst-pxa"],
    );
    // A host process listening on it.
    let listener = std::net::TcpListener::bind("127.0.0.1:47181").unwrap();
    refused(
        &[
            "run",
            "--network",
            &net,
            "--name",
            "tst-pxb",
            "-p",
            "47181:80",
            "--",
            "true",
        ],
        &["47181", &std::process::id().to_string()],
    );
    drop(listener);
    // Nowhere to publish.
    refused(
        &[
            "run",
            "--network",
            "none",
            "--name",
            "tst-pxb",
            "-p",
            "47182:80",
            "--",
            "true",
        ],
        &["-p", "none"],
    );
    refused(
        &[
            "run",
            "--network",
            &internal,
            "--name",
            "tst-pxb",
            "-p",
            "47182:80",
            "--",
            "true",
        ],
        &["internal"],
    );
    refused(
        &[
            "run",
            "--network",
            &net,
            "--name",
            "tst-pxb",
            "-p",
            "47182",
            "--",
            "true",
        ],
        &["-p 47182"],
    );
    refused(
        &[
            "run",
            "--network",
            &net,
            "--name",
            "tst-pxb",
            "-p",
            "10.218.1.77:47182:80",
            "--",
            "true",
        ],
        &["10.218.1.77", "not an address of this host"],
    );
    refused(
        &[
            "run",
            "--network",
            &net,
            "--name",
            "tst-pxb",
            "-p",
            "40000-41999:40000-41999",
            "--",
            "true",
        ],
        &["at most 1024"],
    );
    assert!(!port_elements().contains("47182"));
    // No refusal took the holder's port away.
    let holder_ip = env.inspect("tst-pxa")["network"]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        port_elements().contains(&format!("tcp . 47180 : {holder_ip} . 80")),
        "{}",
        port_elements()
    );
    // A range of many ports goes in and out whole.
    env.detach(
        "tst-pxr",
        &[
            "--network",
            &net,
            "-p",
            "46000-46499:46000-46499",
            "--",
            "sleep",
            "120",
        ],
    );
    assert!(port_elements().contains("tcp . 46499"));
    env.ok(&["rm", "-f", "tst-pxr"]);
    assert!(!port_elements().contains("tcp . 46"), "{}", port_elements());
    // The same port on udp is another port.
    env.detach(
        "tst-pxc",
        &[
            "--network",
            &net,
            "-p",
            "47180:80/udp",
            "--",
            "sleep",
            "120",
        ],
    );
    env.ok(&["rm", "-f", "tst-pxa", "tst-pxc"]);
    assert!(!port_elements().contains("47180"), "{}", port_elements());
}

#[test]
fn a_killed_sandboxs_ports_are_swept_and_can_be_published_again() {
    let mut env = TestEnv::new("portsk");
    let net = env.network(
        "tst-portsk",
        &["--subnet", "10.218.3.0/24", "--bridge", "tstb-portsk"],
    );
    env.detach(
        "tst-pka",
        &["--network", &net, "-p", "47280:80", "--", "sleep", "120"],
    );
    let info = env.inspect("tst-pka");
    // kill -9 the supervisor and the init: nobody cleans up.
    let pid = info["pid"].as_i64().expect("pid");
    let owner = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit(')').next().map(str::to_string))
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<i32>().ok())
        });
    if let Some(owner) = owner {
        signal(owner as u32, libc::SIGKILL);
    }
    signal(pid as u32, libc::SIGKILL);
    assert!(wait_until(5, || !alive(pid)));
    assert!(port_elements().contains("47280"), "left until swept");
    // The port is free for a new sandbox at once (its holder is dead)...
    env.detach(
        "tst-pkb",
        &["--network", &net, "-p", "47280:80", "--", "sleep", "120"],
    );
    let new_ip = env.inspect("tst-pkb")["network"]["ip"]
        .as_str()
        .unwrap()
        .to_string();
    // ...and sweeping the dead one leaves the new holder's port alone.
    env.ok(&["prune"]);
    assert!(
        port_elements().contains(&format!("tcp . 47280 : {new_ip} . 80")),
        "{}",
        port_elements()
    );
    env.ok(&["rm", "-f", "tst-pkb"]);
    assert!(!port_elements().contains("47280"), "{}", port_elements());
    assert!(env.records().is_empty(), "{:?}", env.records());
}

/// What a UDP datagram from netns `ns`, sent from source port `from`,
/// gets back from `ip`:`port`.
fn ask_udp_from(ns: &str, from: u16, ip: &str, port: u16) -> Option<String> {
    let script = format!(
        "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('', {from})); \
         s.settimeout(2); s.sendto(b'hi', ('{ip}', {port})); print(s.recv(100).decode())"
    );
    let out = host("ip", &["netns", "exec", ns, "python3", "-c", &script]);
    out.status
        .success()
        .then(|| text(&out.stdout).trim().to_string())
}

#[test]
fn a_udp_client_that_keeps_its_source_port_reaches_the_ports_next_holder() {
    let mut env = TestEnv::new("portsu");
    let net = env.network(
        "tst-portsu",
        &["--subnet", "10.218.4.0/24", "--bridge", "tstb-portsu"],
    );
    let outside = HandNetns::new("tst-out-pu", "tstu-pu", "10.218.8.1/24", "10.218.8.2/24");
    let serve = |name: &str, ip: &'static str| {
        env.detach(name, &server_args(&net, ip, &["47353:53/udp"], &["udp/53"]));
    };
    serve("tst-puold", "10.218.4.10");
    assert!(wait_until(10, || ask_udp_from(
        &outside.name,
        47999,
        "10.218.8.1",
        47353
    )
    .is_some()));
    assert_eq!(
        ask_udp_from(&outside.name, 47999, "10.218.8.1", 47353).as_deref(),
        Some("10.218.8.2 53")
    );
    env.ok(&["rm", "-f", "tst-puold"]);
    serve("tst-punew", "10.218.4.20");
    // The same client, the same source port: the new holder answers (the
    // old translation was forgotten with the old sandbox).
    assert!(
        wait_until(5, || ask_udp_from(
            &outside.name,
            47999,
            "10.218.8.1",
            47353
        )
        .is_some()),
        "the client still goes to the old address"
    );
    env.ok(&["rm", "-f", "tst-punew"]);
}
