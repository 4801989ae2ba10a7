//! The undo stack of a multi-step operation: each step that creates something
//! pushes its removal, and if the operation fails part-way the removals run
//! in reverse, so nothing is left half-built.

type Step<'a> = Box<dyn FnOnce() -> anyhow::Result<()> + 'a>;

/// Pending undo steps; run on drop unless [`Undo::commit`] is called.
#[derive(Default)]
pub struct Undo<'a> {
    steps: Vec<(String, Step<'a>)>,
}

impl<'a> Undo<'a> {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers how to undo a step that just succeeded.
    pub fn push(
        &mut self,
        what: impl Into<String>,
        step: impl FnOnce() -> anyhow::Result<()> + 'a,
    ) {
        self.steps.push((what.into(), Box::new(step)));
    }

    /// The operation succeeded: keep everything it made.
    pub fn commit(mut self) {
        self.steps.clear();
    }
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        while let Some((what, step)) = self.steps.pop() {
            if let Err(e) = step() {
                crate::log::warn(&format!("while undoing ({what}): {e:#}"));
            }
        }
    }
}
