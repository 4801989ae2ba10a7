//! What sandboxes hold on to images: `sbx image rm` is refused while a
//! sandbox's record names the image (SPEC "Images"), running or not, since
//! a kept record can be restarted on the same layers.

use crate::state::StateRoot;

/// The sandboxes whose records name image `name`, by name.
pub fn users(root: &StateRoot, name: &str) -> Vec<String> {
    let Ok((records, _)) = root.sandboxes() else {
        return Vec::new();
    };
    records
        .into_iter()
        .filter(|r| r.fs.image.as_ref().is_some_and(|i| i.name == name))
        .map(|r| r.name)
        .collect()
}
