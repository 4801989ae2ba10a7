//! Content digests: `sha256:` and 64 lowercase hex digits, the only
//! algorithm the OCI image spec requires ("Digests", image-spec
//! descriptor.md) and the one every registry and `docker save` writes.

use anyhow::{Result, bail};
use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::Read;

/// A checked `sha256:HEX` digest; its hex part is safe as a file name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest {
    hex: String,
}

impl Digest {
    /// Parses `sha256:` and 64 lowercase hex digits; anything else (another
    /// algorithm, a short or upper-case hex part, a path) is an error.
    /// The error quotes the text (cut to 80 characters, escaped) and
    /// states the rule.
    pub fn parse(text: &str) -> Result<Self> {
        if let Some(d) = text.strip_prefix("sha256:").and_then(Self::from_hex) {
            return Ok(d);
        }
        let mut shown: String = text.chars().take(80).collect();
        if shown.len() < text.len() {
            shown.push_str("...");
        }
        bail!(
            "digest {shown:?} is malformed: a digest is sha256: followed by 64 lowercase hex digits"
        )
    }

    /// The digest whose hex part is `hex`, when that is 64 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        let ok = hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        ok.then(|| Digest {
            hex: hex.to_string(),
        })
    }

    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Digest {
            hex: hex(&Sha256::digest(bytes)),
        }
    }

    /// The digest of everything `reader` yields, streamed.
    pub fn of_reader(mut reader: impl Read) -> std::io::Result<Self> {
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok(Digest {
            hex: hex(&hasher.finalize()),
        })
    }

    /// The 64 hex digits, a file name in the store.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A reader that hashes what passes through it, so a layer's uncompressed
/// digest (its diff_id) is checked in the same pass that unpacks it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
        }
    }

    /// Reads what is left (tar leaves padding unread) and returns the digest.
    pub fn finish(mut self) -> std::io::Result<Digest> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok(Digest {
            hex: hex(&self.hasher.finalize()),
        })
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_sha256_hex() {
        let empty = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(Digest::of_bytes(b"").to_string(), empty);
        assert_eq!(Digest::parse(empty).unwrap(), Digest::of_bytes(b""));
        assert!(Digest::parse("sha512:00").is_err());
        assert!(Digest::parse("sha256:../../etc/passwd").is_err());
        assert!(Digest::parse(&empty.to_uppercase()).is_err());
        let mut r = HashingReader::new(&b"abc"[..]);
        let mut two = [0u8; 2];
        r.read_exact(&mut two).unwrap();
        assert_eq!(r.finish().unwrap(), Digest::of_bytes(b"abc"));
    }
}
