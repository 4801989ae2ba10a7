//! `[sandboxes.NAME.impair.IFACE]` of a lab file: the options of `sbx
//! impair set` (SPEC "Impairments and partitions"), kept typed and checked
//! for their units so a typo fails at `lab up` before anything is made.
//! Applying them is `sbx impair`'s work: `lab up` hands each one to it
//! once that command exists (see [`Impair::as_args`]).

use anyhow::{Result, bail};
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
    /// Checks every value's unit and range; the message names the key.
    pub fn check(&self) -> Result<()> {
        for (key, value) in self.fields() {
            let ok = match key {
                "delay" | "jitter" => number_with(value, &["us", "ms", "s"]).is_some(),
                "rate" => number_with(value, &["kbit", "mbit", "gbit"]).is_some_and(|r| r > 0.0),
                _ => number_with(value, &["%"]).is_some_and(|p| p <= 100.0),
            };
            if !ok {
                let units = match key {
                    "delay" | "jitter" => "a number with us, ms or s (\"20ms\")",
                    "rate" => "a positive number with kbit, mbit or gbit (\"10mbit\")",
                    _ => "a percentage from 0% to 100% (\"30%\")",
                };
                bail!("{key} = {value:?}: write {units}");
            }
        }
        if self.jitter.is_some() && self.delay.is_none() {
            bail!("jitter needs a delay to vary: add delay");
        }
        Ok(())
    }

    /// The options of `sbx impair set` this stands for, e.g.
    /// `["--delay", "20ms"]`: the seam through which `lab up` applies them.
    pub fn as_args(&self) -> Vec<String> {
        self.fields()
            .into_iter()
            .flat_map(|(k, v)| [format!("--{k}"), v.to_string()])
            .collect()
    }

    /// The keys given, in the SPEC's order.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("delay", &self.delay),
            ("jitter", &self.jitter),
            ("loss", &self.loss),
            ("rate", &self.rate),
            ("corrupt", &self.corrupt),
            ("duplicate", &self.duplicate),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
        .collect()
    }
}

/// The number in `text` when it ends with one of `units` (a non-negative
/// decimal right before it).
fn number_with(text: &str, units: &[&str]) -> Option<f64> {
    let text = text.trim();
    // Longest unit first: "ms" before "s".
    let mut sorted = units.to_vec();
    sorted.sort_by_key(|u| std::cmp::Reverse(u.len()));
    let number = sorted.iter().find_map(|u| text.strip_suffix(u))?;
    let value: f64 = number.trim().parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some(value)
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
    fn units_are_checked_per_key() {
        impair(&[("delay", "20ms"), ("jitter", "5ms"), ("loss", "30%")])
            .check()
            .unwrap();
        impair(&[("rate", "10mbit"), ("corrupt", "0.5%"), ("duplicate", "1%")])
            .check()
            .unwrap();
        impair(&[("delay", "1s")]).check().unwrap();
        impair(&[("delay", "250us")]).check().unwrap();
        for (k, v, says) in [
            ("delay", "20", "us, ms or s"),
            ("delay", "-1ms", "us, ms or s"),
            ("rate", "10mb", "kbit"),
            ("rate", "0mbit", "positive"),
            ("loss", "130%", "0% to 100%"),
            ("loss", "0.3", "percentage"),
        ] {
            let e = impair(&[(k, v)]).check().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{k} = {v:?}")) && e.contains(says),
                "{e}"
            );
        }
        let e = impair(&[("jitter", "5ms")])
            .check()
            .unwrap_err()
            .to_string();
        assert!(e.contains("needs a delay"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused_and_args_follow_the_spec_order() {
        let e = toml::from_str::<Impair>("latency = \"1ms\"").unwrap_err();
        assert!(e.message().contains("unknown field `latency`"), "{e}");
        let args = impair(&[("loss", "30%"), ("delay", "20ms")]).as_args();
        assert_eq!(args, ["--delay", "20ms", "--loss", "30%"]);
    }
}
