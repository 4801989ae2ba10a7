//! sbx-cni: the name CNI runtimes find sbx's CNI plugin by (SPEC "CNI
//! plugin": a runtime runs the executable named like the configuration's
//! `type` from CNI_PATH). A tiny launcher: it execs the `sbx` binary
//! beside its own resolved path with argv[0] = "sbx-cni", keeping the
//! environment (the `CNI_*` variables) and stdin (the configuration), so
//! the plugin is the same static binary as every other face of sbx.
//! Linking it into /opt/cni/bin keeps working: /proc/self/exe resolves
//! the link to where sbx lies. Errors: the CNI error JSON on stdout (what
//! the runtime reads) and one line on stderr, exit 125.

use std::os::unix::process::CommandExt as _;

fn main() {
    let sbx = std::env::current_exe()
        .map(|exe| exe.with_file_name("sbx"))
        .unwrap_or_else(|_| "sbx".into());
    let err = std::process::Command::new(&sbx)
        .arg0("sbx-cni")
        .args(std::env::args_os().skip(1))
        .exec();
    let msg = format!(
        "cannot run {}: {err}: install sbx beside sbx-cni",
        sbx.display()
    );
    println!(
        "{}",
        serde_json::json!({"cniVersion": "1.1.0", "code": 999, "msg": msg, "details": ""})
    );
    eprintln!("sbx: {msg}");
    std::process::exit(125);
}
