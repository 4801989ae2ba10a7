//! The world of an image test: a state root, an image store and a work
//! folder of its own, all removed (sandboxes first) when it ends.
#![allow(dead_code)]

use crate::common::*;
use crate::imgbuild::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Output;

/// A test's world with its own image store and work folder.
pub struct ImgEnv {
    /// The state root and its sandboxes.
    pub env: TestEnv,
    /// The image store.
    pub store: PathBuf,
    /// Where the test writes its images.
    pub work: PathBuf,
}

impl ImgEnv {
    /// A fresh world; `id` as `TestEnv::new` takes it (unique, ≤ 8 chars).
    pub fn new(id: &str) -> Self {
        let env = TestEnv::new(id);
        let store = PathBuf::from(format!("/tmp/sbx-tst-{id}-{}-store", std::process::id()));
        let work = PathBuf::from(format!("/tmp/sbx-tst-{id}-{}-work", std::process::id()));
        let _ = std::fs::remove_dir_all(&store);
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(&work).unwrap();
        ImgEnv { env, store, work }
    }

    /// `args` after `--image-store STORE`.
    pub fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["--image-store", self.store.to_str().unwrap()];
        all.extend_from_slice(args);
        all
    }

    /// Runs sbx with this store.
    pub fn sbx(&self, args: &[&str]) -> Output {
        self.env.sbx(&self.args(args))
    }

    /// Runs sbx with this store, insisting it works; its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.env.ok(&self.args(args))
    }

    /// Loads `input`, insisting it works.
    pub fn load(&self, input: &Path) -> String {
        self.ok(&["image", "load", input.to_str().unwrap()])
    }

    /// An OCI layout of the busybox image named `name` in the work folder.
    pub fn layout(&self, name: &str) -> PathBuf {
        let dir = self
            .work
            .join(format!("layout-{}", name.replace([':', '/'], "_")));
        Image::busybox().oci_layout(&dir, json!({"org.opencontainers.image.ref.name": name}));
        dir
    }

    /// `image ls --json`, parsed.
    pub fn ls(&self) -> Vec<serde_json::Value> {
        serde_json::from_str(&self.ok(&["image", "ls", "--json"])).unwrap()
    }
}

impl Drop for ImgEnv {
    fn drop(&mut self) {
        // Sandboxes first: their overlays sit on the store's layers.
        self.env.stop_all();
        for name in text(&self.env.sbx(&["ps", "-a", "-q"]).stdout).lines() {
            let _ = self.env.sbx(&["rm", "-f", name]);
        }
        let _ = std::fs::remove_dir_all(&self.store);
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// The stderr of `out`, as text.
pub fn stderr_of(out: &Output) -> String {
    text(&out.stderr)
}
