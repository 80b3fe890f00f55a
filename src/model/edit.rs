//! Interventions on the residual stream (steering, patching): an edit installed on a
//! [`super::decoder::Decoder`] sees the residual stream at every site of every forward pass
//! while it is installed, and may replace it.
//!
//! Sites are numbered as [`super::decoder::ForwardOutput::hidden`] numbers them: 0 after the
//! embeddings, `i` after block `i` (the last one before the final norm). An edit at site `i`
//! changes what block `i + 1` reads, what the hidden states captured at `i` hold, and, at the
//! last site, the logits. Installing is scoped ([`EditGuard`]), so every path that runs the
//! model (scoring, generation, held-out losses) runs edited without being told; the
//! activation-checkpointed training pass is not edited.

use anyhow::{bail, Result};
use std::sync::{Arc, Mutex};
use tch::Tensor;

/// An intervention on the residual stream.
pub trait ResidualEdit: Send + Sync {
    /// The stream to continue with at `site`, given the stream `x` `[batch, seq, d_model]` of a
    /// pass whose first position follows `past` cached ones; `None` leaves it unchanged.
    fn edit(&self, site: usize, x: &Tensor, past: i64) -> Option<Tensor>;
}

/// The edit installed on a decoder, if any.
#[derive(Default)]
pub struct EditSlot(Mutex<Option<Arc<dyn ResidualEdit>>>);

impl std::fmt::Debug for EditSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let installed = self.current().is_some();
        f.debug_tuple("EditSlot").field(&installed).finish()
    }
}

impl EditSlot {
    /// The installed edit.
    pub fn current(&self) -> Option<Arc<dyn ResidualEdit>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Installs `edit` until the returned guard is dropped; one edit at a time.
    pub fn install(&self, edit: Arc<dyn ResidualEdit>) -> Result<EditGuard<'_>> {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            bail!("a residual-stream edit is already installed on this model");
        }
        *slot = Some(edit);
        Ok(EditGuard(self))
    }
}

/// Removes the installed edit when dropped.
pub struct EditGuard<'a>(&'a EditSlot);

impl Drop for EditGuard<'_> {
    fn drop(&mut self) {
        *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
