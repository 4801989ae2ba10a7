//! A sandbox request, validated: every mistake a user can make in `sbx run`
//! is caught here, before any kernel object exists. Faces (the CLI today)
//! hand in a [`SandboxRequest`] of plain data; the core gets the checked
//! [`SandboxSpec`] only.

pub mod caps;
pub mod command;
pub mod image;
pub mod networks;
pub mod ports;
pub mod security;

use crate::model::Limits;
pub use crate::model::SandboxSpec;
use crate::model::fs_plan::{FsPlan, Volume, inside_path};
use anyhow::{Result, bail};
use std::path::Path;

pub use networks::NO_NETWORK;

/// The default environment's PATH, the same as Docker's.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a face asks for, as the user wrote it (strings not yet checked):
/// `sbx run`'s options, without clap. Error messages name the CLI's flags,
/// since the CLI is the face that fills this in today.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SandboxRequest {
    /// `--name`; `None`: a generated name.
    pub name: Option<String>,
    /// `--network`, each as typed (`NAME`, `name=NET,ip=ADDR`, or
    /// [`NO_NETWORK`] alone); empty: the default network.
    pub networks: Vec<String>,
    /// `--ip`, as typed.
    pub ip: Option<String>,
    /// `--ip6`, as typed: the first network's IPv6 address (SPEC "IPv6").
    pub ip6: Option<String>,
    /// `--hostname`; `None`: the sandbox name.
    pub hostname: Option<String>,
    /// `-e KEY=VALUE` or `-e KEY` (copied from sbx's environment).
    pub env: Vec<String>,
    /// `-w`: working directory inside the sandbox.
    pub workdir: Option<String>,
    /// `--rootfs`: a directory on the host.
    pub rootfs: Option<String>,
    /// `-v SRC:DST[:ro]`.
    pub volumes: Vec<String>,
    /// `--read-only`.
    pub read_only: bool,
    /// `--tmpfs DIR`.
    pub tmpfs: Vec<String>,
    /// `--cap-add`.
    pub cap_add: Vec<String>,
    /// `--cap-drop`.
    pub cap_drop: Vec<String>,
    /// `--memory`, as typed (`512m`).
    pub memory: Option<String>,
    /// `--pids-limit`.
    pub pids_limit: Option<i64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--security-opt`.
    pub security_opt: Vec<String>,
    /// `-d`: run under a supervisor, in the background.
    pub detach: bool,
    /// `--rm`: remove the record when a detached sandbox ends.
    pub auto_remove: bool,
    /// `--allow-spoofing`: no anti-spoofing filter on its port.
    pub allow_spoofing: bool,
    /// `-p`, as typed.
    pub publish: Vec<String>,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `--image`: an image of the store to run (SPEC "Images").
    pub image: Option<String>,
    /// `--entrypoint`: replaces the image's entrypoint.
    pub entrypoint: Option<String>,
    /// `--rootfs-overlay`: an overlay over `--rootfs`, which stays pristine.
    pub rootfs_overlay: bool,
    /// `--image-store`; `None`: the default one.
    pub image_store: Option<std::path::PathBuf>,
    /// `--label KEY=VALUE`, as typed.
    pub labels: Vec<String>,
}

impl SandboxSpec {
    /// Validates a request. `generated_name` is used when no `--name` was
    /// given; `host_env` answers `-e KEY` lookups and `tty` says whether a
    /// terminal is attached (Docker sets TERM only then).
    pub fn from_request(
        args: &SandboxRequest,
        generated_name: impl FnOnce() -> String,
        host_env: impl Fn(&str) -> Option<String>,
        tty: bool,
    ) -> Result<Self> {
        let name = match &args.name {
            Some(name) => {
                check_name(name)?;
                name.clone()
            }
            None => generated_name(),
        };
        let networks = networks::parse(&args.networks, args.ip.as_deref(), args.ip6.as_deref())?;
        let hostname = args.hostname.clone().unwrap_or_else(|| name.clone());
        check_hostname(&hostname, args.hostname.is_some())?;
        let from_image = image::resolve(args)?;
        let command = match &from_image {
            Some(i) => i.command.clone(),
            None => args.command.clone(),
        };
        if command.is_empty() || command[0].is_empty() {
            bail!("no command given: write it after --, e.g. sbx run -- /bin/sh");
        }
        let workdir = (args.workdir.clone())
            .or_else(|| from_image.as_ref().and_then(|i| i.workdir.clone()))
            .unwrap_or_else(|| "/".into());
        if !workdir.starts_with('/') {
            bail!("--workdir {workdir:?} is not an absolute path: start it with /");
        }
        // The image's Env first: `-e` entries come later and win.
        let user_env: Vec<String> = (from_image.iter().flat_map(|i| i.env.iter()))
            .chain(&args.env)
            .cloned()
            .collect();
        let env = build_env(&hostname, &user_env, host_env, tty && !args.detach)?;
        let mut fs = fs_plan(args)?;
        if fs.read_only && workdir != "/" {
            fs.workdir = Some(std::path::PathBuf::from(&workdir));
        }
        if let Some(i) = from_image {
            fs.image = Some(i.image);
            fs.overlay = i.layers;
        } else if args.rootfs_overlay
            && let Some(rootfs) = &fs.rootfs
        {
            fs.overlay = vec![rootfs.clone()];
        }
        crate::fs::check::targets(&fs)?;
        if let Some(rootfs) = &fs.rootfs {
            let mounted: Vec<&Path> = (fs.volumes.iter().map(|v| v.target.as_path()))
                .chain(fs.tmpfs.iter().map(|t| t.as_path()))
                .collect();
            command::check_command_in(rootfs, &command[0], &env, &mounted)?;
        }
        let caps = caps::resolve(&args.cap_add, &args.cap_drop)?;
        let seccomp = security::from_security_opts(&args.security_opt)?;
        let limits = Limits::parse(args.memory.as_deref(), args.pids_limit, args.cpus)?;
        let ports = ports::parse_all(&args.publish)?;
        if !ports.is_empty() && networks.is_empty() {
            bail!(
                "-p needs a network, but --network is none: a sandbox with only loopback has nothing to publish"
            );
        }
        let labels = parse_labels(&args.labels)?;
        Ok(SandboxSpec {
            labels,
            name,
            networks,
            hostname,
            command,
            env,
            workdir,
            detach: args.detach,
            auto_remove: args.auto_remove,
            allow_spoofing: args.allow_spoofing,
            ports,
            fs,
            caps,
            seccomp,
            limits,
            ..SandboxSpec::default()
        })
    }
}

/// `--label KEY=VALUE` entries as a map, later ones winning (Docker's
/// way); a key must be non-empty and printable.
fn parse_labels(labels: &[String]) -> Result<std::collections::BTreeMap<String, String>> {
    let mut map = std::collections::BTreeMap::new();
    for label in labels {
        let (key, value) = label.split_once('=').unwrap_or((label, ""));
        if key.is_empty() || key.chars().any(|c| c.is_control() || c.is_whitespace()) {
            bail!("--label {label:?} has no valid key: write KEY=VALUE (a key without spaces)");
        }
        map.insert(key.to_string(), value.to_string());
    }
    Ok(map)
}

/// `--rootfs`, `-v`, `--read-only`, `--tmpfs`, checked against the host.
fn fs_plan(args: &SandboxRequest) -> Result<FsPlan> {
    let rootfs = match &args.rootfs {
        None => None,
        Some(dir) => {
            let path = Path::new(dir);
            if !path.is_dir() {
                bail!(
                    "rootfs {dir} does not exist or is not a directory: build one with rootfs/build.sh"
                );
            }
            Some(
                path.canonicalize()
                    .map_err(|e| anyhow::anyhow!("rootfs {dir}: {e}"))?,
            )
        }
    };
    let volumes = args
        .volumes
        .iter()
        .map(|v| Volume::parse(v))
        .collect::<Result<Vec<_>>>()?;
    let tmpfs = args
        .tmpfs
        .iter()
        .map(|t| inside_path(t, "--tmpfs"))
        .collect::<Result<Vec<_>>>()?;
    let plan = FsPlan {
        rootfs,
        volumes,
        read_only: args.read_only,
        tmpfs,
        ..FsPlan::default()
    };
    Ok(plan)
}

/// Names become file names, netns names and hostnames, so they follow the
/// SPEC's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 63 characters.
pub fn check_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !first_ok || !rest_ok || name.len() > 63 {
        bail!(
            "name {name:?} is not valid: use letters, digits, '_', '.', '-' (starting with a letter or digit), at most 63 characters"
        );
    }
    Ok(())
}

/// The longest OCI container id sbx takes: its netns pin `sbx-ID` and its
/// cgroup leaf `ID-PID` stay below the 255 bytes of a file name.
pub const MAX_ID: usize = 240;

/// An OCI container id (SPEC "OCI runtime": may be longer than a name):
/// letters, digits, `_.+-`, starting with a letter or digit, at most
/// [`MAX_ID`] bytes. Every sandbox name is one, so lookups use this rule.
pub fn check_id(id: &str) -> Result<()> {
    let mut chars = id.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || "_.+-".contains(c));
    if !first_ok || !rest_ok || id.len() > MAX_ID {
        bail!(
            "id {id:?} is not valid: use letters, digits, '_', '.', '+', '-' (starting with a letter or digit), at most {MAX_ID} characters"
        );
    }
    Ok(())
}

/// A hostname is dot-separated labels (RFC 1123, section 2.1) of letters,
/// digits and '-', a label neither empty nor starting or ending with '-';
/// '_' is allowed too, since the default hostname is the sandbox's name,
/// which may contain it. At most 63 characters (the kernel takes 64 bytes;
/// 63 keeps it one DNS label long). `given`: whether `--hostname` named it
/// (otherwise it is the sandbox's name, and the message says so).
fn check_hostname(hostname: &str, given: bool) -> Result<()> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    };
    let ok = hostname.len() <= 63 && hostname.split('.').all(label_ok);
    if !ok {
        let rule = "use labels of letters, digits, '-' and '_' separated by single dots, \
                    no label starting or ending with '-', at most 63 characters";
        if given {
            bail!("hostname {hostname:?} is not valid: {rule}");
        }
        bail!("the sandbox's name {hostname:?} cannot be its hostname: pass --hostname ({rule})");
    }
    Ok(())
}

/// A clean environment like Docker's: PATH, HOSTNAME, HOME, TERM with a
/// terminal, then the user's `-e` entries, later ones winning.
pub fn build_env(
    hostname: &str,
    user: &[String],
    host_env: impl Fn(&str) -> Option<String>,
    tty: bool,
) -> Result<Vec<String>> {
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOSTNAME".into(), hostname.into()),
        ("HOME".into(), "/root".into()),
    ];
    if tty {
        env.push((
            "TERM".into(),
            host_env("TERM").unwrap_or_else(|| "xterm".into()),
        ));
    }
    for entry in user {
        let (key, value) = match entry.split_once('=') {
            Some((k, v)) => (k.to_string(), Some(v.to_string())),
            None => (entry.clone(), host_env(entry)),
        };
        if key.is_empty() || key.contains('\0') {
            bail!("-e {entry:?} has no variable name: write KEY=VALUE");
        }
        env.retain(|(k, _)| *k != key);
        if let Some(value) = value {
            env.push((key, value));
        }
    }
    Ok(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request for `command` on the default network, otherwise empty.
    fn request(command: &[&str]) -> SandboxRequest {
        SandboxRequest {
            networks: Vec::new(),
            command: command.iter().map(|s| s.to_string()).collect(),
            ..SandboxRequest::default()
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn parse(req: SandboxRequest) -> Result<SandboxSpec> {
        SandboxSpec::from_request(
            &req,
            || "gen".into(),
            |k| (k == "FOO").then(|| "host".into()),
            false,
        )
    }

    #[test]
    fn defaults() {
        let spec = parse(request(&["/bin/true", "-x"])).unwrap();
        assert_eq!(spec.name, "gen");
        assert_eq!(spec.hostname, "gen");
        assert_eq!(spec.networks.len(), 1);
        assert_eq!(spec.networks[0].name, "sbx0");
        assert_eq!(spec.command, ["/bin/true", "-x"]);
        assert_eq!(spec.workdir, "/");
        assert!(spec.env.contains(&format!("PATH={DEFAULT_PATH}")));
        assert!(spec.env.contains(&"HOSTNAME=gen".to_string()));
        assert!(!spec.env.iter().any(|e| e.starts_with("TERM=")));
    }

    #[test]
    fn env_overrides_and_copies() {
        let spec = parse(SandboxRequest {
            env: strings(&["A=1", "A=2", "FOO", "MISSING", "PATH=/x"]),
            ..request(&["true"])
        })
        .unwrap();
        assert!(spec.env.contains(&"A=2".to_string()));
        assert!(!spec.env.contains(&"A=1".to_string()));
        assert!(spec.env.contains(&"FOO=host".to_string()));
        assert!(!spec.env.iter().any(|e| e.starts_with("MISSING")));
        assert!(spec.env.contains(&"PATH=/x".to_string()));
    }

    #[test]
    fn rejects_bad_input() {
        let err = |r: SandboxRequest| parse(r).unwrap_err().to_string();
        let named = |n: &str| SandboxRequest {
            name: Some(n.into()),
            ..request(&["true"])
        };
        assert!(err(named("_x")).contains("name \"_x\" is not valid"));
        assert!(err(named("a/b")).contains("is not valid"));
        assert!(err(named(&"a".repeat(64))).contains("is not valid"));
        let ip = |ip: &str| SandboxRequest {
            ip: Some(ip.into()),
            ..request(&["true"])
        };
        assert!(err(ip("10.0.0.300")).contains("is not an IPv4 address"));
        let no_network = SandboxRequest {
            networks: vec!["none".into()],
            ..ip("10.0.0.3")
        };
        assert!(err(no_network).contains("--ip needs a network"));
        let relative = SandboxRequest {
            workdir: Some("rel".into()),
            ..request(&["true"])
        };
        assert!(err(relative).contains("not an absolute path"));
        let nameless = SandboxRequest {
            env: strings(&["=x"]),
            ..request(&["true"])
        };
        assert!(err(nameless).contains("no variable name"));
        assert!(err(request(&[])).contains("no command given"));
    }

    #[test]
    fn labels_are_a_map_later_ones_winning() {
        let spec = parse(SandboxRequest {
            labels: strings(&["lab=seed", "a=1", "a=2", "flag"]),
            ..request(&["true"])
        })
        .unwrap();
        let got: Vec<(&str, &str)> = (spec.labels.iter())
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(got, [("a", "2"), ("flag", ""), ("lab", "seed")]);
        for bad in ["=x", "a b=1", ""] {
            let e = parse(SandboxRequest {
                labels: strings(&[bad]),
                ..request(&["true"])
            })
            .unwrap_err()
            .to_string();
            assert!(e.contains("has no valid key"), "{e}");
        }
    }

    #[test]
    fn network_none_means_no_network() {
        let spec = parse(SandboxRequest {
            networks: vec!["none".into()],
            name: Some("a.b-c_1".into()),
            ..request(&["true"])
        })
        .unwrap();
        assert!(spec.networks.is_empty());
        assert_eq!(spec.hostname, "a.b-c_1");
    }

    #[test]
    fn hostnames_are_dot_separated_labels_and_the_message_says_so() {
        for good in [
            "a",
            "a.b-c_1",
            "web-1.example.com",
            "x_y",
            "1abc",
            &"a".repeat(63),
        ] {
            check_hostname(good, true).unwrap();
        }
        for bad in [
            "",
            "a..b",
            ".a",
            "a.",
            "-a",
            "a-",
            "a.-b",
            "a-.b",
            "a b",
            "a/b",
            "é",
            &"a".repeat(64),
        ] {
            let e = check_hostname(bad, true).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("hostname {bad:?} is not valid: use labels")),
                "{e}"
            );
            assert!(
                e.contains("'_'") && e.contains("at most 63 characters"),
                "{e}"
            );
        }
        let e = check_hostname("web-", false).unwrap_err().to_string();
        assert!(
            e.contains("name \"web-\" cannot be its hostname: pass --hostname"),
            "{e}"
        );
    }
}
