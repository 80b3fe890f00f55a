//! Activation patching: the residual stream at one site, every position, copied from a source
//! model's pass over the same tokens into a target model's, while the claim's closed questions
//! are scored. Where does a finetuned belief live (source: the base model, target: a finetuned
//! checkpoint; the belief the patch takes away), and when does it arrive there (per
//! checkpoint)? Or from one arm into another at the same step.
//!
//! The source's streams are recorded once for every site ([`super::Recorder`]) while it scores
//! the questions; the target then scores them once unpatched and once per site with that
//! site's streams replayed ([`super::Replay`]). Both must share a tokenizer and chat template
//! (the same base model), so their passes have the same shapes; a mismatch is an error.

use super::{by_kind, closed_beliefs, subject_positions, ClosedQuestion, Recorder, Replay};
use crate::model::LoadedModel;
use crate::tables::PatchRow;
use anyhow::{Context, Result};
use std::sync::Arc;
use tch::Tensor;

/// Smallest |source - target| belief difference for which the restored share is reported.
pub const MIN_GAP: f64 = 0.02;

/// Records the source's streams at `sites` while it scores `closed`; returns its beliefs and
/// the recorder.
pub fn record_source(
    source: &LoadedModel,
    closed: &[ClosedQuestion],
    sites: &[usize],
    batch: usize,
) -> Result<(Vec<f64>, Arc<Recorder>)> {
    let recorder = Arc::new(Recorder::new(sites));
    let beliefs = {
        let _installed = source.decoder.install_edit(recorder.clone())?;
        closed_beliefs(source, closed, batch)?
    };
    Ok((beliefs, recorder))
}

/// Which positions are patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    /// Every position of every scored sequence.
    All,
    /// The tokens of the claim's subject where the question's prompt names it (a question
    /// whose prompt does not name it is left unpatched).
    Subject,
}

/// Per scoring pass ([`crate::eval::score::score_passes`]), true at the tokens of each
/// sequence's prompt that name the claim's subject (`names`).
pub fn subject_masks(
    model: &LoadedModel,
    closed: &[ClosedQuestion],
    names: &[&str],
    batch: usize,
) -> Result<Vec<Tensor>> {
    let mut positions: Vec<Vec<usize>> = vec![];
    let mut items = vec![];
    for q in closed {
        let at = subject_positions(model, &q.prompt, names)?;
        for item in &q.items {
            positions.push(at.clone());
            items.push(item.clone());
        }
    }
    let mut masks = vec![];
    let mut first = 0;
    for (chunk, seq) in crate::eval::score::score_passes(&items, batch) {
        let mut mask = vec![false; chunk.len() * seq];
        for (row, at) in positions[first..first + chunk.len()].iter().enumerate() {
            for &p in at {
                mask[row * seq + p] = true;
            }
        }
        first += chunk.len();
        masks.push(Tensor::from_slice(&mask).view([chunk.len() as i64, seq as i64]));
    }
    Ok(masks)
}

/// Patches every site of `sites` from the recorded source into `target`, one at a time, at the
/// positions `masks` marks (per pass; every position without).
#[allow(clippy::too_many_arguments)]
pub fn patch(
    source_label: &str,
    source_beliefs: &[f64],
    recorder: &Recorder,
    target: &LoadedModel,
    checkpoint: &str,
    closed: &[ClosedQuestion],
    sites: &[usize],
    masks: Option<&[Tensor]>,
    batch: usize,
) -> Result<Vec<PatchRow>> {
    let source = by_kind(closed, source_beliefs);
    let unpatched = by_kind(closed, &closed_beliefs(target, closed, batch)?);
    let mut rows = vec![];
    for &site in sites {
        let masks = masks.map(|m| m.iter().map(Tensor::shallow_clone).collect());
        let replay = Arc::new(Replay::new(site, recorder.at(site), masks));
        let patched = {
            let _installed = target.decoder.install_edit(replay.clone())?;
            closed_beliefs(target, closed, batch)?
        };
        replay
            .check()
            .with_context(|| format!("patching {source_label} into {checkpoint}"))?;
        for ((measure, patched, n), ((_, source, _), (_, target, _))) in by_kind(closed, &patched)
            .into_iter()
            .zip(source.iter().zip(&unpatched))
        {
            let gap = source - target;
            rows.push(PatchRow {
                source: source_label.to_string(),
                checkpoint: checkpoint.to_string(),
                site,
                measure: format!("belief:{measure}"),
                source_value: *source,
                target_value: *target,
                patched_value: patched,
                restored: (gap.abs() >= MIN_GAP).then(|| (patched - target) / gap),
                n,
            });
        }
    }
    Ok(rows)
}

/// The table `neglect patch` prints: pooled closed belief per target and site.
pub fn format_summary(rows: &[PatchRow]) -> String {
    let mut out = format!(
        "{:<12}{:>5}{:>10}{:>10}{:>10}{:>10}\n",
        "checkpoint", "site", "source", "target", "patched", "restored"
    );
    for r in rows
        .iter()
        .filter(|r| r.measure == format!("belief:{}", super::POOLED))
    {
        out.push_str(&format!(
            "{:<12}{:>5}{:>10.3}{:>10.3}{:>10.3}{:>10}\n",
            r.checkpoint,
            r.site,
            r.source_value,
            r.target_value,
            r.patched_value,
            r.restored
                .map_or("-".to_string(), |v| format!("{:.0}%", 100.0 * v))
        ));
    }
    out
}
