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

use super::{by_kind, closed_beliefs, ClosedQuestion, Recorder, Replay};
use crate::model::LoadedModel;
use anyhow::{Context, Result};
use polars::prelude::{Column, DataFrame};
use std::sync::Arc;

/// File of the patching table.
pub const PATCH_FILE: &str = "patch.parquet";
/// Smallest |source - target| belief difference for which the restored share is reported.
pub const MIN_GAP: f64 = 0.02;

/// One (target, site, measure) of a patching sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchRow {
    /// Label of the source model.
    pub source: String,
    /// Checkpoint label of the target.
    pub checkpoint: String,
    /// Site patched.
    pub site: usize,
    /// `belief:<kind>` or `belief:closed`.
    pub measure: String,
    /// The source's belief.
    pub source_value: f64,
    /// The target's belief, unpatched.
    pub target_value: f64,
    /// The target's belief with the site patched from the source.
    pub patched_value: f64,
    /// `(patched - target) / (source - target)`: the share of the gap the patch closes; `None`
    /// when the gap is under [`MIN_GAP`].
    pub restored: Option<f64>,
    /// Questions.
    pub n: usize,
}

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

/// Patches every site of `sites` from the recorded source into `target`, one at a time.
#[allow(clippy::too_many_arguments)]
pub fn patch(
    source_label: &str,
    source_beliefs: &[f64],
    recorder: &Recorder,
    target: &LoadedModel,
    checkpoint: &str,
    closed: &[ClosedQuestion],
    sites: &[usize],
    batch: usize,
) -> Result<Vec<PatchRow>> {
    let source = by_kind(closed, source_beliefs);
    let unpatched = by_kind(closed, &closed_beliefs(target, closed, batch)?);
    let mut rows = vec![];
    for &site in sites {
        let replay = Arc::new(Replay::new(site, recorder.at(site)));
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

/// `patch.parquet`: source, checkpoint, site, measure, source_value, target_value,
/// patched_value, restored, n.
pub fn patch_frame(rows: &[PatchRow]) -> Result<DataFrame> {
    let f = |get: fn(&PatchRow) -> f64| rows.iter().map(get).collect::<Vec<f64>>();
    Ok(DataFrame::new(vec![
        Column::new(
            "source".into(),
            rows.iter().map(|r| r.source.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "checkpoint".into(),
            rows.iter()
                .map(|r| r.checkpoint.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "site".into(),
            rows.iter().map(|r| r.site as i64).collect::<Vec<_>>(),
        ),
        Column::new(
            "measure".into(),
            rows.iter().map(|r| r.measure.as_str()).collect::<Vec<_>>(),
        ),
        Column::new("source_value".into(), f(|r| r.source_value)),
        Column::new("target_value".into(), f(|r| r.target_value)),
        Column::new("patched_value".into(), f(|r| r.patched_value)),
        Column::new(
            "restored".into(),
            rows.iter().map(|r| r.restored).collect::<Vec<_>>(),
        ),
        Column::new(
            "n".into(),
            rows.iter().map(|r| r.n as i64).collect::<Vec<_>>(),
        ),
    ])?)
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
