//! `--image`, `--entrypoint` and `--rootfs-overlay` checked and turned into
//! the spec's parts (SPEC "Images"): the image's layers as the overlay's
//! lower layers, its config's Entrypoint/Cmd (Docker's rules, see
//! `image::config`), Env, WorkingDir and User.

use super::SandboxRequest;
use crate::image::{self, Store, config};
use crate::model::fs_plan::ImageRef;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// What an image gives a sandbox, before the command line overrides it.
pub struct FromImage {
    /// The command: entrypoint + cmd, after `--entrypoint` and `-- COMMAND`.
    pub command: Vec<String>,
    /// The image's Env (`KEY=VALUE`), to which `-e` entries are added;
    /// first, `HOME` from the image's `/etc/passwd` when its config names a
    /// User (the Env and `-e` may still set HOME: later entries win).
    pub env: Vec<String>,
    /// The image's WorkingDir, unless `-w` overrides it.
    pub workdir: Option<String>,
    /// Which image, for the record.
    pub image: ImageRef,
    /// Its layer folders, topmost first.
    pub layers: Vec<PathBuf>,
}

/// Reads the image `--image` names from the store; `None` without `--image`.
pub fn resolve(args: &SandboxRequest) -> Result<Option<FromImage>> {
    let Some(name) = &args.image else {
        return Ok(None);
    };
    if name.is_empty() {
        bail!("empty image name: give --image REPO[:TAG] or an image ID (see sbx image ls)");
    }
    let dir = args
        .image_store
        .clone()
        .unwrap_or_else(|| PathBuf::from(image::store::DEFAULT_DIR));
    let Some(store) = Store::existing(&dir) else {
        bail!(
            "no image {name}: the image store {} is empty; load it with sbx image load or pull it with sbx image pull",
            dir.display()
        );
    };
    let found = store.image(name)?;
    let layers = found.layer_dirs(&store)?;
    let command = config::command(&found.config, args.entrypoint.as_deref(), &args.command);
    if command.is_empty() {
        bail!(
            "image {} has no entrypoint or cmd: give a command after --, e.g. sbx run --image {name} -- /bin/sh",
            found.name
        );
    }
    let mut groups = Vec::new();
    // `-u` replaces the image's User, resolved the same way (Docker's).
    let wanted = args.user.clone().or_else(|| config::user(&found.config));
    let (user, home) = match wanted {
        None => (None, None),
        Some(user) => {
            let passwd = read_in_layers(&layers, "etc/passwd");
            let group = read_in_layers(&layers, "etc/group");
            let ids = config::resolve_user(&user, &passwd, &group)?;
            let home = config::home_of(ids.0, &passwd);
            groups = config::supplementary_groups(ids.0, ids.1, &passwd, &group);
            (Some(ids).filter(|ids| *ids != (0, 0)), Some(home))
        }
    };
    Ok(Some(FromImage {
        command,
        env: home
            .map(|h| format!("HOME={h}"))
            .into_iter()
            .chain(config::env(&found.config))
            .collect(),
        workdir: config::workdir(&found.config),
        image: ImageRef {
            // An unnamed image (run by ID) is recorded by its short ID.
            name: if found.is_dangling() {
                found.id.hex()[..12].to_string()
            } else {
                found.name.clone()
            },
            digest: found.digest.to_string(),
            user,
            groups,
        },
        layers,
    }))
}

/// A small text file as the image shows it: from the topmost layer that
/// has it as a regular file (a deletion by whiteout in a higher layer is
/// not looked for: for /etc/passwd this is close enough). Empty if none.
fn read_in_layers(layers: &[PathBuf], inside: &str) -> String {
    layers
        .iter()
        .map(|l| l.join(inside))
        .find(|p| Path::new(p).symlink_metadata().is_ok_and(|m| m.is_file()))
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// `-u USER[:GROUP]` without `--image`: resolved in the sandbox's root
/// (`--rootfs DIR`, else the host's own `/`), names from its `/etc/passwd`
/// and `/etc/group` as Docker resolves them in a container's root. Returns
/// the user (supplementary groups from that `/etc/group`, the primary one
/// first) and its home folder, for HOME.
pub fn plain_user(
    spec: &str,
    rootfs: Option<&str>,
) -> Result<(crate::model::process::User, String)> {
    let root = Path::new(rootfs.unwrap_or("/"));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap_or_default();
    let group = std::fs::read_to_string(root.join("etc/group")).unwrap_or_default();
    let (uid, gid) = config::resolve_user(spec, &passwd, &group).map_err(|e| {
        let where_ = match rootfs {
            Some(dir) => format!("{dir}/etc"),
            None => "the host's /etc".to_string(),
        };
        anyhow::anyhow!("{}", e.to_string().replace("the image's /etc", &where_))
    })?;
    let groups = config::supplementary_groups(uid, gid, &passwd, &group);
    let user = crate::model::process::User {
        uid,
        gid,
        additional_gids: std::iter::once(gid).chain(groups).collect(),
        umask: None,
    };
    Ok((user, config::home_of(uid, &passwd)))
}
