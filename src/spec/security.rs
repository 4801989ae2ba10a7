//! `--security-opt`: whether the default seccomp filter applies (pure
//! parsing; `process::seccomp` builds and installs the filter).

use anyhow::{Result, bail};

/// Parses `--security-opt`: `seccomp=unconfined` turns the filter off;
/// `no-new-privileges` is accepted (it is always on). Returns whether the
/// filter stays on.
pub fn from_security_opts(opts: &[String]) -> Result<bool> {
    let mut enabled = true;
    for opt in opts {
        match opt.as_str() {
            "seccomp=unconfined" | "seccomp:unconfined" => enabled = false,
            "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => {}
            other => bail!("--security-opt {other:?} is not supported: use seccomp=unconfined"),
        }
    }
    Ok(enabled)
}

#[cfg(test)]
mod tests {
    use super::from_security_opts;

    #[test]
    fn security_opts_parse() {
        assert!(from_security_opts(&[]).unwrap());
        assert!(!from_security_opts(&["seccomp=unconfined".into()]).unwrap());
        assert!(from_security_opts(&["no-new-privileges".into()]).unwrap());
        assert!(from_security_opts(&["apparmor=x".into()]).is_err());
    }
}
