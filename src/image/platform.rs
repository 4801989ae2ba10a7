//! Which manifest of an image index this host runs: shared by `sbx image
//! load` and the `sbx-pull` helper binary (which includes this file by
//! path, having no library to import it from).

use oci_spec::image::Descriptor;

/// The manifest for linux on this host's architecture, else the first.
pub fn pick_platform(manifests: &[Descriptor]) -> Option<&Descriptor> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    manifests
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .or_else(|| manifests.first())
}
