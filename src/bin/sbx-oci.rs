//! sbx-oci: the OCI runtime face of sbx (SPEC "OCI runtime"), installed by
//! `cargo install` beside sbx. `cargo install` cannot make the symlink the
//! SPEC describes, so this tiny launcher stands in for it: it replaces
//! itself (execve, same PID, same descriptors) with the `sbx` binary next
//! to it, named `sbx-oci` in argv[0], which is how sbx picks the OCI face.
//! A real symlink `sbx-oci -> sbx` works the same without the extra exec.
//! Errors: one line on stderr, exit 125.

use std::os::unix::process::CommandExt;

fn main() {
    let sbx = match std::env::current_exe() {
        Ok(exe) => exe.with_file_name("sbx"),
        Err(e) => {
            eprintln!("sbx: sbx-oci cannot find its own path: {e}");
            std::process::exit(125);
        }
    };
    let err = std::process::Command::new(&sbx)
        .arg0("sbx-oci")
        .args(std::env::args_os().skip(1))
        .exec();
    eprintln!(
        "sbx: sbx-oci runs {}: {err} (install sbx and sbx-oci together)",
        sbx.display()
    );
    std::process::exit(125);
}
