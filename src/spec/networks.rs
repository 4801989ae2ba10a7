//! `--network` (repeatable: `NAME`, or the long form
//! `name=NET[,ip=ADDR][,ip6=ADDR6]`) and `--ip`, checked (SPEC
//! "Sandboxes"): the networks a sandbox joins, in order.

use crate::model::{DEFAULT_NETWORK, NetworkRequest};
use anyhow::{Result, bail};
use std::net::{Ipv4Addr, Ipv6Addr};

/// The network name that means "loopback only".
pub const NO_NETWORK: &str = "none";

/// The networks asked for; none given means the default network, `none`
/// alone means loopback only (an empty list). `--ip` and `--ip6` are the
/// first network's addresses (whether that network has IPv6 is the
/// reservation's to check: only its record knows).
pub fn parse(
    values: &[String],
    ip: Option<&str>,
    ip6: Option<&str>,
) -> Result<Vec<NetworkRequest>> {
    if values.iter().any(|v| v == NO_NETWORK) {
        if values.len() > 1 {
            bail!("--network none cannot be combined with other networks: give one or the other");
        }
        if ip.is_some() {
            bail!("--ip needs a network, but --network is none: drop --ip or pick a network");
        }
        if ip6.is_some() {
            bail!("--ip6 needs a network, but --network is none: drop --ip6 or pick a network");
        }
        return Ok(Vec::new());
    }
    let defaults = [DEFAULT_NETWORK.to_string()];
    let values = if values.is_empty() {
        &defaults[..]
    } else {
        values
    };
    let mut networks: Vec<NetworkRequest> = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let mut request = parse_one(value)?;
        if i == 0
            && let Some(text) = ip
        {
            if request.ip.is_some() {
                bail!("--network {value} already gives an address: give it once, with --ip or ip=");
            }
            request.ip = Some(address(text, "--ip")?);
        }
        if i == 0
            && let Some(text) = ip6
        {
            if request.ip6.is_some() {
                bail!(
                    "--network {value} already gives an IPv6 address: give it once, with --ip6 or ip6="
                );
            }
            request.ip6 = Some(address6(text, "--ip6")?);
        }
        if networks.iter().any(|n| n.name == request.name) {
            bail!(
                "network {} is given twice: a sandbox joins a network once",
                request.name
            );
        }
        networks.push(request);
    }
    Ok(networks)
}

/// `NAME` or `name=NET[,ip=ADDR][,ip6=ADDR6]`.
fn parse_one(value: &str) -> Result<NetworkRequest> {
    if !value.contains('=') {
        check_name(value, value)?;
        return Ok(NetworkRequest {
            name: value.to_string(),
            ..NetworkRequest::default()
        });
    }
    let mut name = None;
    let mut ip = None;
    let mut ip6 = None;
    let mut seen: Vec<&str> = Vec::new();
    for part in value.split(',') {
        let key = part.split_once('=').map_or(part, |(k, _)| k);
        if seen.contains(&key) {
            bail!("--network {value}: {key}= is given twice: give it once");
        }
        seen.push(key);
        match part.split_once('=') {
            Some(("name", n)) => name = Some(n.to_string()),
            Some(("ip", a)) => ip = Some(address(a, &format!("--network {value}: ip="))?),
            Some(("ip6", a)) => ip6 = Some(address6(a, &format!("--network {value}: ip6="))?),
            _ => bail!(
                "--network {value}: {part:?} is not name=NET, ip=ADDR or ip6=ADDR6: write it like name=lab,ip=10.11.0.10"
            ),
        }
    }
    let Some(name) = name else {
        bail!("--network {value}: no name=NET: write it like name=lab,ip=10.11.0.10");
    };
    check_name(&name, value)?;
    Ok(NetworkRequest { name, ip, ip6 })
}

fn check_name(name: &str, value: &str) -> Result<()> {
    if name == NO_NETWORK {
        bail!("--network {value}: none is not a network to join: give --network none alone");
    }
    if name.is_empty() {
        bail!("--network {value:?}: the network name is empty");
    }
    // Network names follow the SPEC's name rule, as `network create`
    // checks them: a value that breaks it names no network.
    super::check_name(name).map_err(|_| {
        anyhow::anyhow!(
            "--network {value}: {name:?} is not a network name (letters, digits, '_', '.', '-'): write NAME or name=NET,ip=ADDR"
        )
    })
}

fn address(text: &str, what: &str) -> Result<Ipv4Addr> {
    text.parse::<Ipv4Addr>().map_err(|_| {
        anyhow::anyhow!("{what} {text:?} is not an IPv4 address: write it like 10.11.0.10")
    })
}

fn address6(text: &str, what: &str) -> Result<Ipv6Addr> {
    // `[fd42::2]` and a `/64` are common slips; name the expected form.
    text.parse::<Ipv6Addr>().map_err(|_| {
        anyhow::anyhow!(
            "{what} {text:?} is not an IPv6 address: write it like fd42:1::10 (no brackets, no /prefix)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn req(name: &str, ip: Option<&str>) -> NetworkRequest {
        NetworkRequest {
            name: name.into(),
            ip: ip.map(|i| i.parse().unwrap()),
            ip6: None,
        }
    }

    #[test]
    fn short_long_and_default_forms() {
        assert_eq!(parse(&[], None, None).unwrap(), [req("sbx0", None)]);
        assert_eq!(
            parse(&[], Some("10.11.0.9"), None).unwrap(),
            [req("sbx0", Some("10.11.0.9"))]
        );
        assert_eq!(
            parse(
                &strings(&["a", "name=b,ip=10.2.0.5"]),
                Some("10.1.0.5"),
                None
            )
            .unwrap(),
            [req("a", Some("10.1.0.5")), req("b", Some("10.2.0.5"))]
        );
        assert!(parse(&strings(&["none"]), None, None).unwrap().is_empty());
        let v6 = parse(
            &strings(&["a", "name=b,ip=10.2.0.5,ip6=fd42:2::5"]),
            None,
            Some("fd42:1::9"),
        )
        .unwrap();
        assert_eq!(v6[0].ip6, Some("fd42:1::9".parse().unwrap()));
        assert_eq!(v6[1].ip6, Some("fd42:2::5".parse().unwrap()));
        assert_eq!(v6[1].ip, Some("10.2.0.5".parse().unwrap()));
    }

    #[test]
    fn mistakes_are_named() {
        let err =
            |v: &[&str], ip: Option<&str>| parse(&strings(v), ip, None).unwrap_err().to_string();
        assert!(err(&["none", "a"], None).contains("cannot be combined"));
        assert!(err(&["none"], Some("10.0.0.2")).contains("--ip needs a network"));
        assert!(err(&["a", "a"], None).contains("given twice"));
        assert!(err(&["name=a,ip=10.0.0.2"], Some("10.0.0.3")).contains("give it once"));
        assert!(err(&["name=a,ip=x"], None).contains("not an IPv4 address"));
        assert!(err(&["name=a,ip6=10.0.0.2"], None).contains("not an IPv6 address"));
        assert!(err(&["name=a,ip6=fd42::2,ip6=fd42::3"], None).contains("ip6= is given twice"));
        let err6 =
            |v: &[&str], ip6: &str| parse(&strings(v), None, Some(ip6)).unwrap_err().to_string();
        assert!(err6(&["none"], "fd42::2").contains("--ip6 needs a network"));
        assert!(err6(&["a"], "fd42::2/64").contains("--ip6 \"fd42::2/64\" is not an IPv6"));
        assert!(err6(&["name=a,ip6=fd42::2"], "fd42::3").contains("give it once"));
        assert!(err(&["ip=10.0.0.2"], None).contains("no name=NET"));
        assert!(err(&["name=a,mtu=9"], None).contains("\"mtu=9\""));
        assert!(err(&["a"], Some("x")).contains("--ip \"x\""));
        assert!(err(&["name=a,name=b"], None).contains("name= is given twice"));
        assert!(err(&["name=a,ip=10.0.0.2,ip=10.0.0.3"], None).contains("ip= is given twice"));
        assert!(err(&["../a"], None).contains("not a network name"));
        assert!(err(&["name=a ip=10.0.0.2"], None).contains("not a network name"));
    }
}
