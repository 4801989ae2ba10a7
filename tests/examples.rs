//! The README's demos work and clean up after themselves.

mod common;
use common::*;

fn run_example(script: &str, vars: &[(&str, &str)]) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/");
    let out = std::process::Command::new("bash")
        .arg(format!("{path}{script}"))
        .env("SBX", SBX)
        .env_remove("SBX_ROOT")
        .envs(vars.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run example");
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    assert!(
        stdout.contains("[PASS]") && !stdout.contains("[FAIL]"),
        "{stdout}"
    );
    stdout
}

#[test]
fn two_sandboxes_demo_passes_and_leaves_nothing() {
    let stdout = run_example(
        "two-sandboxes.sh",
        &[("SUBNET", "10.211.0.0/24"), ("NET", "tst-demo2")],
    );
    // The documented SUBNET is the one used.
    assert!(
        stdout.contains("[PASS] a (10.211.0.2) pings b (10.211.0.3)"),
        "{stdout}"
    );
    assert!(!link_exists("tst-demo2"), "bridge removed");
    assert!(!std::path::Path::new("/run/netns/sbx-demo-a").exists());
}

#[test]
fn nat_demo_passes_and_leaves_nothing() {
    let stdout = run_example(
        "nat.sh",
        &[("SUBNET", "10.212.0.0/16"), ("NET", "tst-demonat")],
    );
    assert!(
        stdout.contains("network tst-demonat: 10.212.0.0/16"),
        "{stdout}"
    );
    assert!(!link_exists("tst-demonat") && !link_exists("demo-up0"));
    assert!(!std::path::Path::new("/run/netns/demo-upstream").exists());
}
