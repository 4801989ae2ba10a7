//! The units of `sbx impair set` (SPEC "Impairments and partitions"):
//! durations in `us`, `ms`, `s`; rates in `bit`, `kbit`, `mbit`, `gbit`
//! (decimal, as tc reads them) or in bytes per second (`bps`, `kbps`,
//! `mbps`, `gbps`, tc's spelling); percentages with or without `%`. Each
//! parser's error names the option and shows a valid value.

use anyhow::{Result, bail};

/// A duration in microseconds.
pub fn duration_us(option: &str, text: &str) -> Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    let (number, scale) = if let Some(n) = lower.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = lower.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = lower.strip_suffix('s') {
        (n, 1e6)
    } else {
        bail!("{option} {text:?}: give a unit, us, ms or s (e.g. {option} 50ms)");
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 && v * scale <= 3.6e9 => Ok((v * scale).round() as u64),
        _ => bail!("{option} {text:?} is not a duration: write it like 50ms, 200us or 1.5s"),
    }
}

/// A rate in bits per second.
pub fn rate_bit(option: &str, text: &str) -> Result<u64> {
    let lower = text.trim().to_ascii_lowercase();
    const UNITS: [(&str, f64); 8] = [
        ("kbit", 1e3),
        ("mbit", 1e6),
        ("gbit", 1e9),
        ("bit", 1.0),
        ("kbps", 8e3),
        ("mbps", 8e6),
        ("gbps", 8e9),
        ("bps", 8.0),
    ];
    let Some((number, scale)) = UNITS
        .iter()
        .find_map(|(unit, scale)| Some((lower.strip_suffix(unit)?, *scale)))
    else {
        bail!("{option} {text:?}: give a unit, kbit, mbit or gbit (e.g. {option} 10mbit)");
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v * scale >= 8.0 && v * scale <= 1e13 => {
            Ok((v * scale).round() as u64)
        }
        _ => bail!("{option} {text:?} is not a rate from 8bit to 10000gbit: write it like 10mbit"),
    }
}

/// A percentage, 0 to 100.
pub fn percent(option: &str, text: &str) -> Result<f64> {
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim());
    match number.trim().parse::<f64>() {
        Ok(v) if (0.0..=100.0).contains(&v) => Ok(v),
        _ => bail!("{option} {text:?} is not a percentage from 0 to 100: write it like 30%"),
    }
}

/// A duration as the user would write it: the largest unit that keeps it
/// whole.
pub fn show_duration(us: u64) -> String {
    match us {
        0 => "0ms".into(),
        us if us.is_multiple_of(1_000_000) => format!("{}s", us / 1_000_000),
        us if us.is_multiple_of(1000) => format!("{}ms", us / 1000),
        us => format!("{us}us"),
    }
}

/// A rate as the user would write it.
pub fn show_rate(bit: u64) -> String {
    match bit {
        b if b >= 1_000_000_000 && b.is_multiple_of(1_000_000_000) => {
            format!("{}gbit", b / 1_000_000_000)
        }
        b if b >= 1_000_000 && b.is_multiple_of(1_000_000) => format!("{}mbit", b / 1_000_000),
        b if b >= 1000 && b.is_multiple_of(1000) => format!("{}kbit", b / 1000),
        b => format!("{b}bit"),
    }
}

/// A percentage without useless decimals.
pub fn show_percent(p: f64) -> String {
    let text = format!("{p:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_us_ms_and_s() {
        assert_eq!(duration_us("--delay", "50ms").unwrap(), 50_000);
        assert_eq!(duration_us("--delay", "200us").unwrap(), 200);
        assert_eq!(duration_us("--delay", "1.5s").unwrap(), 1_500_000);
        assert_eq!(duration_us("--jitter", "0.5MS").unwrap(), 500);
        let err = duration_us("--delay", "50").unwrap_err().to_string();
        assert!(err.contains("--delay") && err.contains("50ms"), "{err}");
        assert!(duration_us("--delay", "-3ms").is_err());
        assert!(duration_us("--delay", "fastms").is_err());
    }

    #[test]
    fn rates_take_bits_and_tcs_bytes_per_second() {
        assert_eq!(rate_bit("--rate", "10mbit").unwrap(), 10_000_000);
        assert_eq!(rate_bit("--rate", "1.5Gbit").unwrap(), 1_500_000_000);
        assert_eq!(rate_bit("--rate", "512kbit").unwrap(), 512_000);
        assert_eq!(rate_bit("--rate", "800bit").unwrap(), 800);
        assert_eq!(rate_bit("--rate", "1mbps").unwrap(), 8_000_000, "bytes/s");
        assert_eq!(rate_bit("--rate", "100bps").unwrap(), 800);
        let err = rate_bit("--rate", "10").unwrap_err().to_string();
        assert!(err.contains("10mbit"), "{err}");
        assert!(rate_bit("--rate", "0mbit").is_err());
        assert!(rate_bit("--rate", "10xbit").is_err());
    }

    #[test]
    fn percentages_are_0_to_100_with_or_without_the_sign() {
        assert_eq!(percent("--loss", "30%").unwrap(), 30.0);
        assert_eq!(percent("--loss", "0.5").unwrap(), 0.5);
        assert!(percent("--loss", "101%").is_err());
        assert!(percent("--loss", "-1%").is_err());
        assert!(percent("--loss", "lots").is_err());
    }

    #[test]
    fn values_read_back_as_written() {
        assert_eq!(show_duration(50_000), "50ms");
        assert_eq!(show_duration(1_500_000), "1500ms");
        assert_eq!(show_duration(2_000_000), "2s");
        assert_eq!(show_duration(250), "250us");
        assert_eq!(show_rate(10_000_000), "10mbit");
        assert_eq!(show_rate(1_500_000_000), "1500mbit");
        assert_eq!(show_rate(8_000), "8kbit");
        assert_eq!(show_rate(800), "800bit");
        assert_eq!(show_percent(30.0), "30%");
        assert_eq!(show_percent(0.5), "0.5%");
    }
}
