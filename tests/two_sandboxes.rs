//! The classic scenario: two namespaces on one bridge, every pair pings.

mod common;
use common::*;

#[test]
fn two_sandboxes_on_a_bridge_reach_each_other_the_gateway_and_the_host() {
    let mut env = TestEnv::new("two");
    let net = env.network(
        "tst-two",
        &[
            "--subnet",
            "172.16.0.0/24",
            "--gateway",
            "172.16.0.1",
            "--bridge",
            "tstb-two",
        ],
    );
    env.start(
        "tst-two-a",
        &[
            "--network",
            &net,
            "--ip",
            "172.16.0.2",
            "--",
            "sleep",
            "120",
        ],
    );
    env.start(
        "tst-two-b",
        &[
            "--network",
            &net,
            "--ip",
            "172.16.0.3",
            "--",
            "busybox",
            "nc",
            "-ll",
            "-p",
            "7000",
            "-e",
            "echo",
            "pong",
        ],
    );
    let (a, b) = ("sbx-tst-two-a", "sbx-tst-two-b");

    // Both veths are ports of the bridge.
    assert_eq!(bridge_ports("tstb-two").len(), 2);

    // ICMP: both ways, each to the gateway, the host to both, both to the host.
    assert!(ping(Some(a), "172.16.0.3"), "a -> b");
    assert!(ping(Some(b), "172.16.0.2"), "b -> a");
    assert!(ping(Some(a), "172.16.0.1"), "a -> gateway");
    assert!(ping(Some(b), "172.16.0.1"), "b -> gateway");
    assert!(ping(None, "172.16.0.2"), "host -> a");
    assert!(ping(None, "172.16.0.3"), "host -> b");
    let eth0_addr = host(
        "sh",
        &[
            "-c",
            "ip -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1",
        ],
    );
    let host_addr = text(&eth0_addr.stdout).trim().to_string();
    if !host_addr.is_empty() {
        // The host's own address on another interface: still the host.
        assert!(ping(Some(a), &host_addr), "a -> host ({host_addr})");
    }

    // TCP: a sandbox connects to another's listener, and the host does too.
    let tcp = host(
        "ip",
        &[
            "netns",
            "exec",
            a,
            "busybox",
            "nc",
            "-w",
            "3",
            "172.16.0.3",
            "7000",
        ],
    );
    assert_eq!(text(&tcp.stdout).trim(), "pong", "a -> b over TCP");
    let tcp = host("busybox", &["nc", "-w", "3", "172.16.0.3", "7000"]);
    assert_eq!(text(&tcp.stdout).trim(), "pong", "host -> b over TCP");

    // /etc/hosts of a later sandbox names its neighbours.
    let hosts = env.ok(&[
        "run",
        "--network",
        &net,
        "--name",
        "tst-two-c",
        "--",
        "cat",
        "/etc/hosts",
    ]);
    assert!(hosts.contains("172.16.0.2\ttst-two-a"), "{hosts}");
    assert!(hosts.contains("172.16.0.4\ttst-two-c"), "{hosts}");

    let codes = env.stop_all();
    assert_eq!(
        codes,
        vec![Some(143), Some(143)],
        "SIGTERM reached both commands"
    );
    assert!(env.records().is_empty(), "records removed on exit");
    assert!(!std::path::Path::new("/run/netns/sbx-tst-two-a").exists());
}

#[test]
fn inside_a_sandbox_there_is_exactly_lo_and_eth0_and_its_own_identity() {
    let mut env = TestEnv::new("inside");
    let net = env.network(
        "tst-inside",
        &["--subnet", "10.201.0.0/24", "--bridge", "tstb-inside"],
    );
    let script = "ip -o link | awk -F': ' '{print $2}' | cut -d@ -f1 | sort | tr '\\n' ' '; echo; \
                  ip -o -4 addr show dev eth0 | awk '{print $4}'; \
                  ip route show default; hostname; cat /etc/hostname; cat /proc/1/comm; \
                  ls /proc | grep -c '^[0-9]'; ls /run/netns";
    let out = env.ok(&[
        "run",
        "--network",
        &net,
        "--ip",
        "10.201.0.7",
        "--hostname",
        "inner",
        "--name",
        "tst-inside-x",
        "--",
        "sh",
        "-c",
        script,
    ]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "eth0 lo", "only lo and eth0: {out}");
    assert_eq!(
        lines[1], "10.201.0.7/24",
        "address with the subnet's prefix: {out}"
    );
    assert!(
        lines[2].starts_with("default via 10.201.0.1 dev eth0"),
        "default route: {out}"
    );
    assert_eq!(lines[3], "inner", "UTS hostname");
    assert_eq!(lines[4], "inner", "/etc/hostname");
    assert_eq!(lines[5], "sbx-init", "PID 1 is sbx's init");
    let procs: u32 = lines[6].parse().expect("a count");
    assert!(
        procs <= 6,
        "own /proc shows only the sandbox's few processes, got {procs}"
    );
    assert!(
        out.contains("sbx-tst-inside-x"),
        "the netns is visible as /run/netns/sbx-NAME: {out}"
    );

    // Default hostname is the name; --network none gives only loopback.
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--name",
        "tst-inside-y",
        "--",
        "sh",
        "-c",
        "hostname; ip -o link | wc -l",
    ]);
    assert_eq!(out, "tst-inside-y\n1\n");

    // Docker's default capabilities: no CAP_NET_ADMIN, so no address changes.
    let out = env.sbx(&[
        "run",
        "--network",
        &net,
        "--",
        "ip",
        "addr",
        "add",
        "10.201.0.99/24",
        "dev",
        "eth0",
    ]);
    assert!(
        !out.status.success(),
        "a sandbox cannot change its own address"
    );
    let out = env.ok(&[
        "run",
        "--network",
        "none",
        "--",
        "sh",
        "-c",
        "grep -E '^(CapBnd|NoNewPrivs)' /proc/self/status",
    ]);
    assert!(
        out.contains("CapBnd:\t00000000a80425fb"),
        "Docker's default bounding set: {out}"
    );
    assert!(out.contains("NoNewPrivs:\t1"), "{out}");

    // The init is sbx itself: the sandbox must not reach the binary through
    // /proc/1/exe (runc's CVE-2019-5736), nor hold any host descriptor.
    let out = env.ok(&[
        "run", "--network", "none", "--", "sh", "-c",
        "readlink /proc/1/exe >/dev/null 2>&1 && echo exe-visible || echo exe-denied; ls /proc/self/fd | tr '\\n' ' '",
    ]);
    assert!(out.starts_with("exe-denied\n"), "{out}");
    let fds: Vec<&str> = out
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(
        fds.len() <= 4,
        "only stdio (and ls's own directory) are open: {fds:?}"
    );
}
