//! `sbx image pull REF` (SPEC "Images"): the registry is spoken to by the
//! `sbx-pull` binary installed beside sbx (see `src/bin/sbx-pull.rs`: it
//! keeps the HTTP/TLS stack out of sbx, which starts for every sandbox).
//! It writes the image as an OCI layout into the store's `tmp/`, which is
//! then loaded by [`super::load`]: a pulled image goes through exactly the
//! checks of a loaded one (every digest, every layer entry) and the same
//! all-or-nothing commit.

use super::{Store, reference};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// Pulls `text` into the store at `store_dir`; returns what was loaded.
/// `in_use`: what sandboxes hold, for an image this pull takes a name from.
pub fn pull(
    store_dir: &Path,
    text: &str,
    insecure: bool,
    in_use: super::gc::UsedBy,
) -> Result<Vec<super::load::Loaded>> {
    reference::check(text)?;
    reference::parse(text)?;
    let name = reference::normalize(text);
    let store = Store::open(store_dir)?;
    store.sweep();
    let layout = store.temp_dir("pull")?;
    let helper = helper()?;
    let mut command = std::process::Command::new(&helper);
    if insecure {
        command.arg("--insecure");
    }
    let out = command
        .arg(text)
        .arg(&name)
        .arg(layout.path())
        .stdin(std::process::Stdio::null())
        .output()
        .with_context(|| format!("run {}", helper.display()))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().next().unwrap_or("failed");
        bail!("{}", line.strip_prefix("sbx: ").unwrap_or(line));
    }
    super::load(&store, Some(layout.path()), in_use)
}

/// `sbx-pull`, beside this sbx binary.
fn helper() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("find the sbx binary")?;
    let helper = exe.with_file_name("sbx-pull");
    if !helper.is_file() {
        bail!(
            "{} is missing: install it beside sbx (cargo install --path . installs both)",
            helper.display()
        );
    }
    Ok(helper)
}
