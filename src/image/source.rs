//! Reading what `sbx image load` was given, before anything is trusted: a
//! folder as is, or a tar (`docker save`, an OCI archive; gzip'd or not)
//! extracted into a temporary folder of the store, regular files and
//! folders only, every name checked like a layer's.

use super::paths;
use super::store::{Store, Temp};
use anyhow::{Context, Result};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// The folder to read, and the temporary copy that must live as long.
pub struct Source {
    /// The folder holding `index.json`/`oci-layout` or `manifest.json`.
    pub dir: PathBuf,
    _temp: Option<Temp>,
}

/// Opens `path`: a folder, or a tar extracted into the store's `tmp/`.
pub fn open(store: &Store, path: &Path) -> Result<Source> {
    if path.is_dir() {
        return Ok(Source {
            dir: path.to_path_buf(),
            _temp: None,
        });
    }
    let file = File::open(path).with_context(|| {
        format!(
            "open {}: give a docker save tar, an OCI archive or an OCI layout folder",
            path.display()
        )
    })?;
    let temp = store.temp_dir("load")?;
    let mut archive = tar::Archive::new(decompress(BufReader::new(file))?);
    for entry in archive
        .entries()
        .with_context(|| format!("{} is not a tar archive", path.display()))?
    {
        let mut entry = entry.with_context(|| format!("read {}", path.display()))?;
        let name = PathBuf::from(String::from_utf8_lossy(&entry.path_bytes()).into_owned());
        let parts = paths::components(&name)?;
        if parts.is_empty() {
            continue;
        }
        let dest: PathBuf = parts
            .iter()
            .fold(temp.path().to_path_buf(), |p, c| p.join(c));
        match entry.header().entry_type() {
            tar::EntryType::Directory => std::fs::create_dir_all(&dest)
                .with_context(|| format!("extract {}", name.display()))?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(parent) = dest.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("extract {}", name.display()))?;
                }
                let mut out = File::create_new(&dest)
                    .with_context(|| format!("extract {}", name.display()))?;
                std::io::copy(&mut entry, &mut out)
                    .with_context(|| format!("extract {}", name.display()))?;
            }
            // Links and devices have no place in an image archive: the
            // layers inside are files, read by digest.
            _ => {}
        }
    }
    Ok(Source {
        dir: temp.path().to_path_buf(),
        _temp: Some(temp),
    })
}

/// `reader`, decompressed by its magic number: gzip, zstd, or as is (tar).
pub fn decompress<'a>(mut reader: impl BufRead + 'a) -> Result<Box<dyn Read + 'a>> {
    let magic = reader.fill_buf().context("read")?;
    if magic.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(reader)))
    } else if magic.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        let decoder = ruzstd::decoding::StreamingDecoder::new(reader)
            .map_err(|e| anyhow::anyhow!("read a zstd stream: {e}"))?;
        Ok(Box::new(decoder))
    } else {
        Ok(Box::new(reader))
    }
}
