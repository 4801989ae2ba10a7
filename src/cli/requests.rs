//! The CLI's half of the face: clap's parsed arguments turned into the
//! core's own requests, field by field, with nothing checked here (the core
//! validates, so every face gets the same checks and messages).

use super::args::{ExecArgs, LogsArgs, NetworkCreateArgs, PsArgs, RunArgs};
use crate::network::CreateRequest;
use crate::sandbox::exec::ExecRequest;
use crate::sandbox::logs::LogsQuery;
use crate::sandbox::ps::PsQuery;
use crate::spec::SandboxRequest;
use anyhow::{Context, Result};

/// `sbx run`'s options as a sandbox request (`-i` and `-t` are accepted
/// for Docker habits and mean nothing: stdio is always passed through).
pub fn sandbox(args: &RunArgs) -> SandboxRequest {
    SandboxRequest {
        name: args.name.clone(),
        networks: args.networks.clone(),
        ip: args.ip.clone(),
        ip6: args.ip6.clone(),
        hostname: args.hostname.clone(),
        env: args.env.clone(),
        workdir: args.workdir.clone(),
        rootfs: args.rootfs.clone(),
        volumes: args.volumes.clone(),
        read_only: args.read_only,
        tmpfs: args.tmpfs.clone(),
        cap_add: args.cap_add.clone(),
        cap_drop: args.cap_drop.clone(),
        memory: args.memory.clone(),
        pids_limit: args.pids_limit,
        cpus: args.cpus,
        security_opt: args.security_opt.clone(),
        detach: args.detach,
        auto_remove: args.rm,
        allow_spoofing: args.allow_spoofing,
        publish: args.publish.clone(),
        command: args.command.clone(),
        image: args.image.clone(),
        entrypoint: args.entrypoint.clone(),
        rootfs_overlay: args.rootfs_overlay,
        image_store: None,
        labels: args.labels.clone(),
    }
}

/// `sbx exec`'s options.
pub fn exec(args: &ExecArgs) -> ExecRequest {
    ExecRequest {
        name: args.name.clone(),
        command: args.command.clone(),
        env: args.env.clone(),
        workdir: args.workdir.clone(),
    }
}

/// `sbx ps`'s options.
pub fn ps(args: &PsArgs) -> PsQuery {
    PsQuery {
        all: args.all,
        quiet: args.quiet,
        json: args.json,
        format: args.format.clone(),
        no_trunc: args.no_trunc,
        only: None,
    }
}

/// `sbx logs`'s options.
pub fn logs(args: &LogsArgs) -> LogsQuery {
    LogsQuery {
        name: args.name.clone(),
        follow: args.follow,
        tail: args.tail.clone(),
        since: args.since.clone(),
        timestamps: args.timestamps,
    }
}

/// `sbx network create`'s options: the subnet and gateway parsed from
/// their text (the only typing done here), the rest as given.
pub fn network(args: &NetworkCreateArgs) -> Result<CreateRequest> {
    let subnet = args.subnet.as_deref().map(str::parse).transpose()?;
    let gateway = args
        .gateway
        .as_deref()
        .map(|g| {
            g.parse()
                .with_context(|| format!("--gateway {g:?} is not an IPv4 address"))
        })
        .transpose()?;
    let subnet6 = args
        .subnet6
        .as_deref()
        .map(|s| s.parse().with_context(|| format!("--subnet6 {s:?}")))
        .transpose()?;
    let gateway6 = args
        .gateway6
        .as_deref()
        .map(|g| {
            g.parse()
                .with_context(|| format!("--gateway6 {g:?} is not an IPv6 address"))
        })
        .transpose()?;
    Ok(CreateRequest {
        name: args.name.clone(),
        subnet,
        gateway,
        subnet6,
        gateway6,
        bridge: args.bridge.clone(),
        internal: args.internal,
        mtu: args.mtu,
        labels: Default::default(),
        vxlan: vxlan(args)?,
    })
}

/// The `--driver vxlan` options as the network layer's request; on a
/// bridge network any of them is a mistake worth saying.
fn vxlan(args: &NetworkCreateArgs) -> Result<Option<crate::network::vxlan::VxlanRequest>> {
    use super::args::NetworkDriver;
    if args.driver == NetworkDriver::Bridge {
        let given = [
            ("--vni", args.vni.is_some()),
            ("--ip-range", args.ip_range.is_some()),
            ("--peer", !args.peers.is_empty()),
            ("--local", args.local.is_some()),
            ("--port", args.port.is_some()),
        ];
        if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
            anyhow::bail!("{flag} is for VXLAN networks: add --driver vxlan, or leave it out");
        }
        return Ok(None);
    }
    let Some(vni) = args.vni else {
        anyhow::bail!("--driver vxlan needs --vni N, the same on every host");
    };
    if args.subnet.is_none() {
        anyhow::bail!("--driver vxlan needs --subnet CIDR, the same on every host");
    }
    let Some(range) = args.ip_range.as_deref() else {
        anyhow::bail!("--driver vxlan needs --ip-range CIDR, this host's part of the subnet");
    };
    let ip_range = range
        .parse()
        .with_context(|| format!("--ip-range {range:?}"))?;
    let addr = |flag: &str, a: &str| -> Result<std::net::IpAddr> {
        a.parse()
            .with_context(|| format!("{flag} {a:?} is not an IP address"))
    };
    let peers = args
        .peers
        .iter()
        .map(|p| addr("--peer", p))
        .collect::<Result<Vec<_>>>()?;
    let local = args
        .local
        .as_deref()
        .map(|l| addr("--local", l))
        .transpose()?;
    Ok(Some(crate::network::vxlan::VxlanRequest {
        vni,
        port: args.port.unwrap_or(crate::net::vxlan::DEFAULT_PORT),
        ip_range,
        peers,
        local,
    }))
}

/// `sbx impair set`'s options, as typed: the sandbox layer parses them.
pub fn impair(args: &super::args::ImpairSetArgs) -> crate::sandbox::impair::Request {
    crate::sandbox::impair::Request {
        target: args.target.clone(),
        delay: args.delay.clone(),
        jitter: args.jitter.clone(),
        loss: args.loss.clone(),
        rate: args.rate.clone(),
        corrupt: args.corrupt.clone(),
        duplicate: args.duplicate.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::args::{Cli, Command};
    use clap::Parser as _;

    fn parse(argv: &[&str]) -> Command {
        let mut all = vec!["sbx"];
        all.extend_from_slice(argv);
        Cli::try_parse_from(all).expect("clap accepts").command
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_defaults_reach_the_request() {
        let Command::Run(args) = parse(&["run", "--", "/bin/true", "-x"]) else {
            panic!("not run")
        };
        let req = super::sandbox(&args);
        assert!(
            req.networks.is_empty(),
            "the default network is the spec's to pick"
        );
        assert_eq!(req.command, strings(&["/bin/true", "-x"]));
        assert_eq!(req.name, None);
        assert!(!req.detach && !req.auto_remove && !req.read_only);
    }

    #[test]
    fn every_run_option_reaches_the_request() {
        let Command::Run(args) = parse(&[
            "run",
            "-d",
            "--rm",
            "-it",
            "--name",
            "web",
            "--network",
            "n1",
            "--ip",
            "10.9.0.7",
            "--hostname",
            "h",
            "-e",
            "A=1",
            "-e",
            "B",
            "-w",
            "/tmp",
            "--rootfs",
            "/r",
            "-v",
            "/a:/b:ro",
            "--read-only",
            "--tmpfs",
            "/t",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--memory",
            "64m",
            "--pids-limit",
            "-1",
            "--cpus",
            "0.5",
            "--security-opt",
            "seccomp=unconfined",
            "--allow-spoofing",
            "-p",
            "8080:80",
            "--label",
            "lab=x",
            "-l",
            "k=v",
            "sleep",
            "9",
        ]) else {
            panic!("not run")
        };
        let req = super::sandbox(&args);
        let expected = crate::spec::SandboxRequest {
            name: Some("web".into()),
            networks: strings(&["n1"]),
            ip: Some("10.9.0.7".into()),
            hostname: Some("h".into()),
            env: strings(&["A=1", "B"]),
            workdir: Some("/tmp".into()),
            rootfs: Some("/r".into()),
            volumes: strings(&["/a:/b:ro"]),
            read_only: true,
            tmpfs: strings(&["/t"]),
            cap_add: strings(&["NET_ADMIN"]),
            cap_drop: strings(&["ALL"]),
            memory: Some("64m".into()),
            pids_limit: Some(-1),
            cpus: Some(0.5),
            security_opt: strings(&["seccomp=unconfined"]),
            detach: true,
            auto_remove: true,
            allow_spoofing: true,
            publish: strings(&["8080:80"]),
            command: strings(&["sleep", "9"]),
            labels: strings(&["lab=x", "k=v"]),
            ..Default::default()
        };
        assert_eq!(req, expected);
    }

    #[test]
    fn exec_ps_and_logs_options_reach_their_requests() {
        let Command::Exec(args) = parse(&["exec", "-e", "A=1", "-w", "/x", "web", "ls", "-l"])
        else {
            panic!("not exec")
        };
        let req = super::exec(&args);
        assert_eq!(req.name, "web");
        assert_eq!(req.command, strings(&["ls", "-l"]));
        assert_eq!(req.env, strings(&["A=1"]));
        assert_eq!(req.workdir.as_deref(), Some("/x"));

        let Command::Ps(args) = parse(&["ps", "-a", "-q", "--no-trunc", "--format", "json"]) else {
            panic!("not ps")
        };
        let q = super::ps(&args);
        assert!(q.all && q.quiet && q.no_trunc && !q.json);
        assert_eq!(q.format.as_deref(), Some("json"));

        let Command::Logs(args) = parse(&["logs", "-f", "-t", "--since", "10m", "web"]) else {
            panic!("not logs")
        };
        let q = super::logs(&args);
        assert!(q.follow && q.timestamps);
        assert_eq!(q.tail, "all");
        assert_eq!(q.since.as_deref(), Some("10m"));
        assert_eq!(q.name, "web");
    }
}
