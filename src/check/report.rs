//! The report as SPEC "Checks" prints it: one line per check in the
//! classic `test.sh` style, `[PASS] a -> b (0.08 ms)` or `[FAIL] a -> b`
//! with `  why: ...` under it, then `N passed, M failed`; or the JSON
//! `{checks: [{from, to, kind, ok, rtt_ms, why}], passed, failed}`.

use super::{Kind, Outcome, Report};

/// One check as text: its line, and for a failure the `why` line.
pub fn lines(check: &Outcome) -> Vec<String> {
    let mark = if check.ok { "PASS" } else { "FAIL" };
    // An MTU probe and an expectation say so; a plain echo is the classic line.
    let kind = match check.kind {
        Kind::Icmp => "",
        Kind::Mtu => " mtu",
        Kind::Expect => " expect",
    };
    let rtt = match (check.rtt_ms, check.ok, check.kind) {
        (Some(ms), _, _) => format!(" ({ms:.2} ms)"),
        (None, true, Kind::Expect) => " (no answer, as expected)".to_string(),
        _ => String::new(),
    };
    let mut out = vec![format!(
        "[{mark}] {} -> {}{kind}{rtt}",
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
    fn json_has_the_spec_keys() {
        let report = Report {
            checks: vec![outcome(Kind::Mtu, false, None, Some("x"))],
            passed: 0,
            failed: 1,
        };
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"checks": [{"from": "a", "to": "b", "kind": "mtu", "ok": false, "rtt_ms": null, "why": "x"}], "passed": 0, "failed": 1})
        );
        assert_eq!(summary(&report), "0 passed, 1 failed");
    }
}
