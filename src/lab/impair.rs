//! `[sandboxes.NAME.impair.IFACE]` of a lab file: the options of `sbx
//! impair set` (SPEC "Impairments and partitions"), checked by the same
//! code as the command's (units when the file is read; netem on this kernel
//! before `lab up` makes anything) and applied by it once the sandboxes run.

use crate::sandbox::impair::{self as sandbox_impair, Impairment, Request};
use anyhow::Result;
use serde::Deserialize;

/// One interface's impairments, as written (units in the strings).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Impair {
    /// Added one-way delay: `us`, `ms` or `s` (e.g. "20ms").
    pub delay: Option<String>,
    /// Delay variation, same units.
    pub jitter: Option<String>,
    /// Loss, percent ("30%").
    pub loss: Option<String>,
    /// Rate limit: `kbit`, `mbit` or `gbit` ("10mbit").
    pub rate: Option<String>,
    /// Corrupted packets, percent.
    pub corrupt: Option<String>,
    /// Duplicated packets, percent.
    pub duplicate: Option<String>,
}

impl Impair {
    /// The `sbx impair set` request this stands for, on `target`
    /// (`SANDBOX:IFACE`).
    pub fn request(&self, target: &str) -> Request {
        Request {
            target: target.to_string(),
            delay: self.delay.clone(),
            jitter: self.jitter.clone(),
            loss: self.loss.clone(),
            rate: self.rate.clone(),
            corrupt: self.corrupt.clone(),
            duplicate: self.duplicate.clone(),
        }
    }

    /// Checks its units as `sbx impair set` does, when the file is read
    /// (every `sbx lab` command: nothing about this kernel).
    pub fn check(&self, target: &str) -> Result<Impairment> {
        Impairment::parse(&self.request(target))
    }

    /// Checks that this kernel can do it too (netem, where a key needs it):
    /// what `lab up` asks before it makes anything.
    pub fn check_kernel(&self, target: &str) -> Result<Impairment> {
        sandbox_impair::validate(&self.request(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn impair(pairs: &[(&str, &str)]) -> Impair {
        let text: String = pairs
            .iter()
            .map(|(k, v)| format!("{k} = \"{v}\"\n"))
            .collect();
        toml::from_str(&text).expect("valid keys")
    }

    #[test]
    fn values_are_checked_as_sbx_impair_set_checks_them() {
        // Rate and loss need no netem: no kernel probe here.
        let ok = impair(&[("rate", "10mbit"), ("loss", "30%")])
            .check("a:eth0")
            .unwrap();
        assert_eq!(ok.describe(), "loss 30% rate 10mbit");
        for (k, v, says) in [
            ("delay", "20", "us, ms or s"),
            ("delay", "-1ms", "not a duration"),
            ("rate", "10mb", "--rate"),
            ("loss", "130%", "--loss"),
            ("jitter", "5ms", "give --delay too"),
        ] {
            let e = format!("{:#}", impair(&[(k, v)]).check("a:eth0").unwrap_err());
            assert!(e.contains(says), "{k}={v}: {e}");
        }
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<Impair>("latency = \"1ms\"").unwrap_err();
        assert!(e.message().contains("unknown field `latency`"), "{e}");
    }
}
