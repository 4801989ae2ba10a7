//! What sandboxes hold on to in the image store: `sbx image rm` is refused
//! while a sandbox's record runs the image (SPEC "Images"), running or
//! not, since a kept record can be restarted on the same layers; and no
//! layer a record's overlay stands on is collected. Which of them run
//! now is said too: `image rm -f` passes over stopped ones only.

use crate::image::commands::InUse;
use crate::state::StateRoot;
use anyhow::Result;

/// The images and layer folders the sandboxes' records name.
pub fn in_use(root: &StateRoot) -> Result<InUse> {
    let (records, _) = root.sandboxes()?;
    let mut held = InUse::default();
    for r in records {
        if let Some(image) = &r.spec.fs.image {
            held.images
                .entry(image.digest.clone())
                .or_default()
                .push(r.spec.name.clone());
            if r.status() != crate::state::records::Status::Exited {
                held.running.insert(r.spec.name.clone());
            }
        }
        held.layers.extend(r.spec.fs.overlay);
    }
    Ok(held)
}
