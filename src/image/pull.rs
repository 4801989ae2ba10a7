//! `sbx image pull REF`.

use anyhow::{Result, bail};
use std::path::Path;

/// Pulls `reference` into the store at `store_dir`.
pub fn pull(_store_dir: &Path, reference: &str, _insecure: bool) -> Result<()> {
    bail!("sbx image pull {reference}: not built yet")
}
