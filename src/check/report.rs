//! The report as SPEC "Checks" prints it: one line per check in the
//! classic `test.sh` style, `[PASS] a -> b (0.08 ms)` or `[FAIL] a -> b`
//! with `  why: ...` under it, then `N passed, M failed`; or the JSON
//! `{checks: [{from, to, kind, family, ok, rtt_ms, why}], passed, failed}`.
//!
//! A check over IPv6 (issue 15) says so after its kind, `[PASS] a -> b
//! over IPv6 (0.08 ms)`, so IPv4 lines are exactly what they were and each
//! line still reads as a sentence; `family` in JSON is `ipv4` or `ipv6`.

use super::{Family, Kind, Outcome, Report};

/// One check as text: its line, and for a failure the `why` line.
pub fn lines(check: &Outcome) -> Vec<String> {
    let mark = if check.ok { "PASS" } else { "FAIL" };
    // An MTU probe and an expectation say so; a plain echo is the classic line.
    let kind = match check.kind {
        Kind::Icmp => "",
        Kind::Mtu => " mtu",
        Kind::Expect => " expect",
    };
    let family = match check.family {
        Family::Ipv4 => "",
        Family::Ipv6 => " over IPv6",
    };
    let rtt = match (check.rtt_ms, check.ok, check.kind) {
        (Some(ms), _, _) => format!(" ({ms:.2} ms)"),
        (None, true, Kind::Expect) => " (no answer, as expected)".to_string(),
        _ => String::new(),
    };
    let mut out = vec![format!(
        "[{mark}] {} -> {}{kind}{family}{rtt}",
        check.from, check.to
    )];
    if let Some(why) = check.why.as_ref().filter(|_| !check.ok) {
        out.push(format!("  why: {why}"));
    }
    out
}

/// The summary line.
pub fn summary(report: &Report) -> String {
    format!("{} passed, {} failed", report.passed, report.failed)
}

/// Prints the report on stdout, as text or as one JSON object.
pub fn print_report(report: &Report, json: bool) {
    if json {
        match serde_json::to_string_pretty(report) {
            Ok(text) => println!("{text}"),
            Err(e) => crate::log::warn(&format!("cannot write the report as JSON: {e}")),
        }
        return;
    }
    let mut out = String::new();
    for check in &report.checks {
        for line in lines(check) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push_str(&summary(report));
    out.push('\n');
    print!("{out}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(kind: Kind, ok: bool, rtt_ms: Option<f64>, why: Option<&str>) -> Outcome {
        Outcome {
            from: "a".into(),
            to: "b".into(),
            kind,
            family: Family::Ipv4,
            ok,
            rtt_ms,
            why: why.map(String::from),
        }
    }

    #[test]
    fn lines_follow_the_classic_format() {
        assert_eq!(
            lines(&outcome(Kind::Icmp, true, Some(0.0812), None)),
            ["[PASS] a -> b (0.08 ms)"]
        );
        assert_eq!(
            lines(&outcome(
                Kind::Icmp,
                false,
                None,
                Some("interface eth0 of b is down")
            )),
            ["[FAIL] a -> b", "  why: interface eth0 of b is down"]
        );
        assert_eq!(
            lines(&outcome(Kind::Mtu, true, Some(1.5), None)),
            ["[PASS] a -> b mtu (1.50 ms)"]
        );
        assert_eq!(
            lines(&outcome(Kind::Expect, true, None, None)),
            ["[PASS] a -> b expect (no answer, as expected)"]
        );
    }

    #[test]
    fn ipv6_lines_say_so_after_the_kind() {
        let v6 = |kind, ok, rtt, why| Outcome {
            family: Family::Ipv6,
            ..outcome(kind, ok, rtt, why)
        };
        assert_eq!(
            lines(&v6(Kind::Icmp, true, Some(0.0812), None)),
            ["[PASS] a -> b over IPv6 (0.08 ms)"]
        );
        assert_eq!(
            lines(&v6(Kind::Mtu, true, Some(1.5), None)),
            ["[PASS] a -> b mtu over IPv6 (1.50 ms)"]
        );
        assert_eq!(
            lines(&v6(
                Kind::Icmp,
                false,
                None,
                Some("b's eth0 lacks its address fd::3")
            )),
            [
                "[FAIL] a -> b over IPv6",
                "  why: b's eth0 lacks its address fd::3"
            ]
        );
        assert_eq!(
            lines(&v6(Kind::Expect, true, None, None)),
            ["[PASS] a -> b expect over IPv6 (no answer, as expected)"]
        );
        let value = serde_json::to_value(v6(Kind::Icmp, true, Some(1.0), None)).unwrap();
        assert_eq!(value["family"], "ipv6");
    }

    #[test]
    fn json_has_the_spec_keys() {
        let report = Report {
            checks: vec![outcome(Kind::Mtu, false, None, Some("x"))],
            passed: 0,
            failed: 1,
        };
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"checks": [{"from": "a", "to": "b", "kind": "mtu", "family": "ipv4", "ok": false, "rtt_ms": null, "why": "x"}], "passed": 0, "failed": 1})
        );
        assert_eq!(summary(&report), "0 passed, 1 failed");
    }
}
