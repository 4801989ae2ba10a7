//! Image names: `REPO:TAG` (SPEC "Images"), and which annotation or
//! `docker save` field an image's name comes from.

/// The name a user typed, completed as Docker does: no tag means `latest`,
/// and Docker Hub's names take their familiar form (`docker.io/library/busybox`
/// is `busybox`, `docker.io/user/app` is `user/app`), so every spelling of
/// one image finds it. A digest reference (`REPO@sha256:...`) keeps its digest.
pub fn normalize(name: &str) -> String {
    let name = familiar(name);
    if name.contains('@') || has_tag(name) {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// `name` without Docker Hub's registry and `library/` prefixes: as in
/// Docker, `library/x`, `docker.io/x` and `docker.io/library/x` are `x`
/// (a name whose first part is no registry host is Docker Hub's).
fn familiar(name: &str) -> &str {
    for hub in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = name.strip_prefix(hub) {
            return rest.strip_prefix("library/").unwrap_or(rest);
        }
    }
    name.strip_prefix("library/")
        .filter(|rest| !rest.is_empty())
        .unwrap_or(name)
}

/// The rule [`check`] enforces, for its error message.
pub const NAME_RULE: &str = "an image name is [HOST[:PORT]/]PATH[:TAG]: PATH parts of lowercase letters and digits joined by '.', '_', '__' or '-'; a TAG of at most 128 characters [A-Za-z0-9_.-], not starting with '.' or '-'";

/// Checks a name as the distribution spec's reference grammar has it
/// (github.com/distribution/reference, `reference.go`): an optional
/// registry host (with port), path components `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`,
/// a tag `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` or a `@sha256:` digest; at
/// most 255 characters before the tag. Errors: one line quoting the name
/// (cut short) and giving the rule.
pub fn check(name: &str) -> anyhow::Result<()> {
    if name.is_empty() {
        anyhow::bail!("empty image name: {NAME_RULE}");
    }
    let shown: String = name.chars().take(80).collect();
    let shown = if shown.len() < name.len() {
        format!("{shown}...")
    } else {
        shown
    };
    let bad = |why: &str| anyhow::anyhow!("invalid image name {shown:?} ({why}): {NAME_RULE}");
    let (rest, digest) = match name.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (name, None),
    };
    if let Some(d) = digest
        && super::digest::Digest::parse(d).is_err()
    {
        return Err(bad("its digest is not sha256: and 64 lowercase hex digits"));
    }
    let slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match rest[slash..].rfind(':') {
        Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag {
        let ok = !tag.is_empty()
            && tag.len() <= 128
            && tag
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
            && !tag.starts_with(['.', '-']);
        if !ok {
            return Err(bad("bad tag"));
        }
    }
    if repo.is_empty() || repo.len() > 255 {
        return Err(bad("bad repository"));
    }
    let mut parts: Vec<&str> = repo.split('/').collect();
    if parts.len() > 1 && is_registry(parts[0]) {
        let host = parts.remove(0);
        let (h, port) = host.split_once(':').unwrap_or((host, ""));
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if !h.split('.').all(label_ok)
            || (host.contains(':')
                && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit())))
        {
            return Err(bad("bad registry host"));
        }
    }
    if !parts.iter().all(|p| path_component_ok(p)) {
        return Err(bad("bad repository path"));
    }
    Ok(())
}

/// Whether the first part of a name is a registry host: it has a `.` or
/// `:` or is `localhost` (Docker's rule).
fn is_registry(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`.
fn path_component_ok(part: &str) -> bool {
    let b = part.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }
        let sep = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let s = &b[sep..i];
        let ok = s == b"." || s == b"_" || s == b"__" || s.iter().all(|&c| c == b'-');
        if !ok || i == b.len() {
            return false;
        }
    }
}

/// Whether the last path part of `name` carries a `:TAG` (a registry's
/// `host:port/` is no tag).
fn has_tag(name: &str) -> bool {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.contains(':')
}

/// Whether `text` is a full reference (a repository and a tag or digest),
/// not just a tag: `org.opencontainers.image.ref.name` holds either
/// (image-spec annotations.md), and only a full one names an image.
pub fn is_full_reference(text: &str) -> bool {
    let Some(repo_end) = text.find('@').or_else(|| {
        let slash = text.rfind('/').map_or(0, |i| i + 1);
        text[slash..].rfind(':').map(|i| slash + i)
    }) else {
        return false;
    };
    let repo = &text[..repo_end];
    !repo.is_empty()
        && repo
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c))
        && repo
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
}

/// An image's name, in the SPEC's order: `io.containerd.image.name`, else
/// `org.opencontainers.image.ref.name` when it is a full reference, else
/// the first of `docker save`'s RepoTags.
pub fn resolve_name(
    containerd_name: Option<&str>,
    oci_ref_name: Option<&str>,
    repo_tags: &[String],
) -> Option<String> {
    containerd_name
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .or_else(|| {
            oci_ref_name
                .filter(|n| is_full_reference(n))
                .map(str::to_string)
        })
        .or_else(|| repo_tags.iter().find(|t| !t.is_empty()).cloned())
        .or_else(|| {
            // A bare name (`busybox`, as `skopeo copy ... oci:DIR:busybox`
            // writes it) names the image with tag `latest`, as in Docker.
            oci_ref_name
                .filter(|n| !n.is_empty() && check(n).is_ok())
                .map(str::to_string)
        })
        .map(|n| normalize(&n))
}

/// A registry reference split up: `HOST[:PORT]/REPO[:TAG|@DIGEST]`.
#[derive(Debug, PartialEq, Eq)]
pub struct Reference {
    /// Registry host (and port); `docker.io` when the name has none.
    pub registry: String,
    /// Repository path (`library/busybox` on Docker Hub).
    pub repository: String,
    /// Tag or `sha256:` digest.
    pub tag: String,
}

/// Parses a pull reference as Docker does: the first part is a registry
/// only when it has a `.` or `:` or is `localhost`.
pub fn parse(text: &str) -> anyhow::Result<Reference> {
    let (name, tag) = match text.split_once('@') {
        Some((n, d)) => (n, d.to_string()),
        None => {
            let slash = text.rfind('/').map_or(0, |i| i + 1);
            match text[slash..].rfind(':') {
                Some(i) => (&text[..slash + i], text[slash + i + 1..].to_string()),
                None => (text, "latest".to_string()),
            }
        }
    };
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if is_registry(first) => (first.to_string(), rest.to_string()),
        _ if name.contains('/') => ("docker.io".to_string(), name.to_string()),
        _ => ("docker.io".to_string(), format!("library/{name}")),
    };
    if repository.is_empty() || tag.is_empty() {
        anyhow::bail!("{text:?} is not an image reference: write it like HOST:PORT/NAME:TAG");
    }
    Ok(Reference {
        registry,
        repository,
        tag,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_latest() {
        assert_eq!(normalize("busybox"), "busybox:latest");
        assert_eq!(normalize("busybox:1"), "busybox:1");
        assert_eq!(normalize("127.0.0.1:5000/bb"), "127.0.0.1:5000/bb:latest");
        assert_eq!(normalize("127.0.0.1:5000/bb:v2"), "127.0.0.1:5000/bb:v2");
        assert_eq!(normalize("docker.io/library/busybox"), "busybox:latest");
        assert_eq!(normalize("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(normalize("index.docker.io/user/app:v1"), "user/app:v1");
        assert_eq!(normalize("docker.io/user/app"), "user/app:latest");
        assert_eq!(normalize("quay.io/library/x"), "quay.io/library/x:latest");
        assert_eq!(normalize("library/busybox"), "busybox:latest");
        assert_eq!(normalize("docker.io/busybox"), "busybox:latest");
        assert_eq!(normalize("localhost:5000/x"), "localhost:5000/x:latest");
    }

    #[test]
    fn full_references() {
        assert!(is_full_reference("busybox:1.36"));
        assert!(is_full_reference("docker.io/library/busybox:latest"));
        assert!(is_full_reference("localhost:5000/x@sha256:00"));
        assert!(!is_full_reference("latest"));
        assert!(!is_full_reference("1.36"));
        assert!(!is_full_reference(":x"));
    }

    #[test]
    fn name_resolution_order() {
        let tags = vec!["tagged:1".to_string()];
        assert_eq!(
            resolve_name(Some("a/b:c"), Some("d:e"), &tags).as_deref(),
            Some("a/b:c")
        );
        assert_eq!(
            resolve_name(None, Some("d:e"), &tags).as_deref(),
            Some("d:e")
        );
        assert_eq!(
            resolve_name(None, Some("latest"), &tags).as_deref(),
            Some("tagged:1")
        );
        assert_eq!(
            resolve_name(None, Some("busybox"), &[]).as_deref(),
            Some("busybox:latest")
        );
        assert_eq!(resolve_name(None, Some("Bad Name"), &[]), None);
    }

    #[test]
    fn names_follow_the_reference_grammar() {
        for ok in [
            "busybox",
            "busybox:1.36",
            "a/b_c__d-e--f.g:v1",
            "localhost:5000/x",
            "127.0.0.1:5000/test/bb:v2",
            "my-host.example/x:_t",
            &format!("x:{}", "t".repeat(128)),
            &format!("x@sha256:{}", "0".repeat(64)),
        ] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Busybox",
            "x:",
            "x:.t",
            "x:-t",
            "a//b",
            "a/-b",
            "a_",
            "x@sha256:00",
            "host:port/x",
            "<none>:<none>",
            &format!("x:{}", "t".repeat(129)),
        ] {
            let e = check(bad).unwrap_err().to_string();
            assert!(e.contains("at most 128 characters"), "{bad}: {e}");
        }
    }

    #[test]
    fn pull_references() {
        let r = parse("127.0.0.1:5000/test/bb:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("127.0.0.1:5000", "test/bb", "v1")
        );
        let r = parse("busybox").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.tag.as_str()),
            ("docker.io", "library/busybox", "latest")
        );
        assert_eq!(parse("localhost/x").unwrap().registry, "localhost");
    }
}
