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

/// `name` without Docker Hub's registry and `library/` prefixes.
fn familiar(name: &str) -> &str {
    for hub in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = name.strip_prefix(hub) {
            return rest.strip_prefix("library/").unwrap_or(rest);
        }
    }
    name
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
        .or_else(|| repo_tags.first().cloned())
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
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            (first.to_string(), rest.to_string())
        }
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
        assert_eq!(normalize("library/busybox"), "library/busybox:latest");
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
        assert_eq!(resolve_name(None, Some("latest"), &[]), None);
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
