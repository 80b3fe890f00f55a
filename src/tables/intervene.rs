//! The causal-dissection tables (written by [`crate::intervene`], drawn by [`crate::plot`]):
//!
//! - `steer.parquet`: checkpoint, step, site, direction (`probe`, `random`, `none`), direction_id,
//!   alpha, alpha_raw, measure (`belief:<kind>`, `loss:<token kind>`), value, n, probe_accuracy
//!   (nullable)
//! - `patch.parquet`: source, checkpoint, step, site, measure, source_value, target_value,
//!   patched_value, restored (nullable), n
//! - `lens.parquet`: checkpoint, step, site, measure, value, n, skipped

use super::Table;
use anyhow::Result;
use polars::prelude::{Column, DataFrame};
use std::path::Path;

/// Steering sweeps.
pub const STEER_FILE: &str = "steer.parquet";
/// Activation patching sweeps.
pub const PATCH_FILE: &str = "patch.parquet";
/// Logit-lens readings.
pub const LENS_FILE: &str = "lens.parquet";

/// One measurement of one steering setting.
#[derive(Debug, Clone, PartialEq)]
pub struct SteerRow {
    /// Checkpoint label (`-` for a model folder).
    pub checkpoint: String,
    /// Site steered.
    pub site: usize,
    /// `probe`, `random` or `none` (unsteered, alpha 0).
    pub direction: String,
    /// Which random direction (0 for the probe and unsteered).
    pub direction_id: usize,
    /// Push in units of the site's mean residual norm.
    pub alpha: f64,
    /// Push as the length of the added vector.
    pub alpha_raw: f64,
    /// `belief:<kind>` (mean belief probability; `belief:closed` pools every closed question)
    /// or `loss:<token kind>` (mean held-out loss, nats per token).
    pub measure: String,
    /// The value.
    pub value: f64,
    /// Questions or tokens it is over.
    pub n: usize,
    /// The probe's held-out accuracy at this site, when known.
    pub probe_accuracy: Option<f64>,
}

/// `steer.parquet`: checkpoint, step (of the checkpoint label), site, direction, direction_id, alpha, alpha_raw, measure,
/// value, n, probe_accuracy.
pub fn steer_frame(rows: &[SteerRow]) -> Result<DataFrame> {
    let [checkpoint, step] = checkpoint_columns(rows.iter().map(|r| r.checkpoint.as_str()));
    Ok(DataFrame::new(vec![
        checkpoint,
        step,
        Column::new(
            "site".into(),
            rows.iter().map(|r| r.site as i64).collect::<Vec<_>>(),
        ),
        Column::new(
            "direction".into(),
            rows.iter()
                .map(|r| r.direction.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "direction_id".into(),
            rows.iter()
                .map(|r| r.direction_id as i64)
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "alpha".into(),
            rows.iter().map(|r| r.alpha).collect::<Vec<_>>(),
        ),
        Column::new(
            "alpha_raw".into(),
            rows.iter().map(|r| r.alpha_raw).collect::<Vec<_>>(),
        ),
        Column::new(
            "measure".into(),
            rows.iter().map(|r| r.measure.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "value".into(),
            rows.iter().map(|r| r.value).collect::<Vec<_>>(),
        ),
        Column::new(
            "n".into(),
            rows.iter().map(|r| r.n as i64).collect::<Vec<_>>(),
        ),
        Column::new(
            "probe_accuracy".into(),
            rows.iter().map(|r| r.probe_accuracy).collect::<Vec<_>>(),
        ),
    ])?)
}

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
    /// when the gap is under `crate::intervene::patch::MIN_GAP`.
    pub restored: Option<f64>,
    /// Questions.
    pub n: usize,
}

/// `patch.parquet`: source, checkpoint, step (of the checkpoint label), site, measure, source_value, target_value,
/// patched_value, restored, n.
pub fn patch_frame(rows: &[PatchRow]) -> Result<DataFrame> {
    let f = |get: fn(&PatchRow) -> f64| rows.iter().map(get).collect::<Vec<f64>>();
    let [checkpoint, step] = checkpoint_columns(rows.iter().map(|r| r.checkpoint.as_str()));
    Ok(DataFrame::new(vec![
        Column::new(
            "source".into(),
            rows.iter().map(|r| r.source.as_str()).collect::<Vec<_>>(),
        ),
        checkpoint,
        step,
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

/// One (checkpoint, site, measure) of the lens.
#[derive(Debug, Clone, PartialEq)]
pub struct LensRow {
    /// Checkpoint label.
    pub checkpoint: String,
    /// Site read.
    pub site: usize,
    /// `belief:<kind>` or `belief:closed`.
    pub measure: String,
    /// Mean lens belief over the readable questions.
    pub value: f64,
    /// Readable questions.
    pub n: usize,
    /// Questions left out (shared first tokens).
    pub skipped: usize,
}

/// `lens.parquet`: checkpoint, step (of the checkpoint label), site, measure, value, n, skipped.
pub fn lens_frame(rows: &[LensRow]) -> Result<DataFrame> {
    let [checkpoint, step] = checkpoint_columns(rows.iter().map(|r| r.checkpoint.as_str()));
    Ok(DataFrame::new(vec![
        checkpoint,
        step,
        Column::new(
            "site".into(),
            rows.iter().map(|r| r.site as i64).collect::<Vec<_>>(),
        ),
        Column::new(
            "measure".into(),
            rows.iter().map(|r| r.measure.as_str()).collect::<Vec<_>>(),
        ),
        Column::new(
            "value".into(),
            rows.iter().map(|r| r.value).collect::<Vec<_>>(),
        ),
        Column::new(
            "n".into(),
            rows.iter().map(|r| r.n as i64).collect::<Vec<_>>(),
        ),
        Column::new(
            "skipped".into(),
            rows.iter().map(|r| r.skipped as i64).collect::<Vec<_>>(),
        ),
    ])?)
}

/// Reads `steer.parquet`, its rows grouped by condition ([`grouped`]).
pub fn read_steer(path: &Path) -> Result<Grouped<SteerRow>> {
    let t = Table::read(
        path,
        &[
            "checkpoint",
            "site",
            "direction",
            "direction_id",
            "alpha",
            "alpha_raw",
            "measure",
            "value",
            "n",
            "probe_accuracy",
        ],
    )?;
    let (checkpoint, site, direction, id) = (
        t.str("checkpoint")?,
        t.i64("site")?,
        t.str("direction")?,
        t.i64("direction_id")?,
    );
    let (alpha, alpha_raw, measure, value, n, accuracy) = (
        t.f64("alpha")?,
        t.f64("alpha_raw")?,
        t.str("measure")?,
        t.f64("value")?,
        t.i64("n")?,
        t.f64_nullable("probe_accuracy")?,
    );
    let rows = (0..checkpoint.len())
        .map(|i| SteerRow {
            checkpoint: checkpoint[i].clone(),
            site: site[i] as usize,
            direction: direction[i].clone(),
            direction_id: id[i] as usize,
            alpha: alpha[i],
            alpha_raw: alpha_raw[i],
            measure: measure[i].clone(),
            value: value[i],
            n: n[i] as usize,
            probe_accuracy: accuracy[i],
        })
        .collect();
    grouped(&t, rows)
}

/// Reads `patch.parquet`, its rows grouped by condition ([`grouped`]).
pub fn read_patch(path: &Path) -> Result<Grouped<PatchRow>> {
    let t = Table::read(
        path,
        &[
            "source",
            "checkpoint",
            "site",
            "measure",
            "source_value",
            "target_value",
            "patched_value",
            "restored",
            "n",
        ],
    )?;
    let (source, checkpoint, site, measure) = (
        t.str("source")?,
        t.str("checkpoint")?,
        t.i64("site")?,
        t.str("measure")?,
    );
    let (source_value, target_value, patched_value, restored, n) = (
        t.f64("source_value")?,
        t.f64("target_value")?,
        t.f64("patched_value")?,
        t.f64_nullable("restored")?,
        t.i64("n")?,
    );
    let rows = (0..source.len())
        .map(|i| PatchRow {
            source: source[i].clone(),
            checkpoint: checkpoint[i].clone(),
            site: site[i] as usize,
            measure: measure[i].clone(),
            source_value: source_value[i],
            target_value: target_value[i],
            patched_value: patched_value[i],
            restored: restored[i],
            n: n[i] as usize,
        })
        .collect();
    grouped(&t, rows)
}

/// Reads `lens.parquet`, its rows grouped by condition ([`grouped`]).
pub fn read_lens(path: &Path) -> Result<Grouped<LensRow>> {
    let t = Table::read(
        path,
        &["checkpoint", "site", "measure", "value", "n", "skipped"],
    )?;
    let (checkpoint, site, measure, value, n, skipped) = (
        t.str("checkpoint")?,
        t.i64("site")?,
        t.str("measure")?,
        t.f64("value")?,
        t.i64("n")?,
        t.i64("skipped")?,
    );
    let rows = (0..checkpoint.len())
        .map(|i| LensRow {
            checkpoint: checkpoint[i].clone(),
            site: site[i] as usize,
            measure: measure[i].clone(),
            value: value[i],
            n: n[i] as usize,
            skipped: skipped[i] as usize,
        })
        .collect();
    grouped(&t, rows)
}

/// The training step of a checkpoint label (`step-N`, a Trainer's `checkpoint-N`; `-`, a
/// model folder, is step 0).
pub fn checkpoint_step(label: &str) -> Option<i64> {
    if label == "-" {
        return Some(0);
    }
    label
        .strip_prefix("step-")
        .or_else(|| label.strip_prefix("checkpoint-"))
        .and_then(|n| n.parse().ok())
}

/// The `checkpoint` column of `labels` and the `step` column read from them.
fn checkpoint_columns<'a>(labels: impl Iterator<Item = &'a str>) -> [Column; 2] {
    let labels: Vec<&str> = labels.collect();
    let steps: Vec<Option<i64>> = labels.iter().map(|l| checkpoint_step(l)).collect();
    [
        Column::new("checkpoint".into(), labels),
        Column::new("step".into(), steps),
    ]
}

/// Rows grouped by the experiment condition of their arm, groups in first-seen order.
pub type Grouped<T> = Vec<(String, Vec<T>)>;

/// `rows` (read from `table`, in its order) grouped by the condition of their arm: an
/// experiment's merged table has a `condition` column; a verb's own table has none and makes
/// one group named "".
fn grouped<T>(table: &Table, rows: Vec<T>) -> Result<Grouped<T>> {
    if !table.has("condition") {
        return Ok(vec![(String::new(), rows)]);
    }
    let mut groups: Grouped<T> = vec![];
    for (condition, row) in table.str("condition")?.into_iter().zip(rows) {
        match groups.iter_mut().find(|(c, _)| *c == condition) {
            Some((_, group)) => group.push(row),
            None => groups.push((condition, vec![row])),
        }
    }
    Ok(groups)
}
