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

/// Opens `path`: a folder, or a tar extracted into the store's `tmp/`;
/// `None`: a tar read from stdin (`sbx image load < x.tar`), refused when
/// stdin is a terminal.
pub fn open(store: &Store, path: Option<&Path>) -> Result<Source> {
    let input: Box<dyn Read> = match path {
        Some(path) if path.is_dir() => {
            return Ok(Source {
                dir: path.to_path_buf(),
                _temp: None,
            });
        }
        Some(path) => Box::new(File::open(path).with_context(|| {
            format!(
                "open {}: give a docker save tar, an OCI archive or an OCI layout folder",
                path.display()
            )
        })?),
        None => {
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                anyhow::bail!(
                    "no image given: name a tar file or folder (sbx image load FILE, or -i FILE), or pipe one in (sbx image load < image.tar)"
                );
            }
            Box::new(std::io::stdin())
        }
    };
    let path = path.unwrap_or(Path::new("stdin"));
    let temp = store.temp_dir("load")?;
    let mut links = Vec::new();
    let mut buf = vec![0u8; super::unpack::COPY_BUFFER];
    let mut archive = tar::Archive::new(decompress(BufReader::with_capacity(1 << 20, input))?);
    let not_tar = || {
        format!(
            "{} is not a tar archive: give a docker save tar, an OCI archive (optionally gzip'd) or an OCI layout folder",
            path.display()
        )
    };
    for (seen, entry) in archive.entries().with_context(not_tar)?.enumerate() {
        // A header that does not parse before any entry did means the file
        // was never a tar; later, the archive is cut or damaged.
        let mut entry = match entry {
            Ok(entry) => entry,
            // The tar crate's message quotes the bytes it choked on: left out.
            Err(_) if seen == 0 => anyhow::bail!(not_tar()),
            Err(_) => {
                anyhow::bail!(
                    "{} is a damaged or truncated tar archive (entry {}): save or export it again",
                    path.display(),
                    seen + 1
                );
            }
        };
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
                super::unpack::copy_all(&mut entry, &mut out, &mut buf)
                    .with_context(|| format!("extract {}", name.display()))?;
            }
            // `docker save` writes a layer shared by two images once and
            // links the other name to it: kept, resolved below.
            kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| PathBuf::from(String::from_utf8_lossy(&b).into_owned()))
                    .unwrap_or_default();
                let base = match kind {
                    tar::EntryType::Symlink => name.parent().map(Path::to_path_buf),
                    _ => Some(PathBuf::new()),
                };
                links.push((dest, base.unwrap_or_default().join(target), name));
            }
            // Devices have no place in an image archive.
            _ => {}
        }
    }
    for (dest, target, name) in links {
        let inside = lexical(&target)
            .with_context(|| format!("{} links out of the archive: refused", name.display()))?;
        let source: PathBuf = inside
            .iter()
            .fold(temp.path().to_path_buf(), |p, c| p.join(c));
        // Only a regular file extracted above can be the target (no link
        // is ever followed): hard-linked into place.
        if std::fs::symlink_metadata(&source).is_ok_and(|m| m.is_file()) {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::hard_link(&source, &dest)
                .with_context(|| format!("extract {}", name.display()))?;
        }
    }
    Ok(Source {
        dir: temp.path().to_path_buf(),
        _temp: Some(temp),
    })
}

/// `path` (relative, inside the archive) with `.` and `..` resolved
/// lexically; `None` when it climbs above the archive's root or is absolute.
fn lexical(path: &Path) -> Option<Vec<std::ffi::OsString>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            std::path::Component::Normal(p) => out.push(p.to_os_string()),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop()?;
            }
            _ => return None,
        }
    }
    Some(out)
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
