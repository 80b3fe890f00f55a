//! The experiment tables: per-arm frames and their merge.
//!
//! Every arm writes `analyses/<name>/arms/<arm>/{belief,loss,probe}.parquet` (rows labelled
//! with arm, condition, claim, seed and the global step); the experiment tables
//! `analyses/<name>/{belief,loss,probe}.parquet` are the concatenation of the finished arms'
//! files in sorted arm order, and `probe_fit.parquet` is the base model's probe fit. Columns
//! (what [`crate::plot::tables`] reads, plus the text the notebooks show):
//!
//! - `belief.parquet`: arm, condition, claim, seed, step, kind, question_id, sample, grade,
//!   judge, prompt, response, belief_probability (closed forms only, else null)
//! - `loss.parquet`: arm, condition, claim, seed, step, set, kind, tokens, mean_loss
//! - `probe.parquet`: arm, condition, claim, seed, step, layer, method, statement,
//!   statement_kind, score
//! - `probe_fit.parquet`: layer, method, accuracy(_lo, _hi), auroc(_lo, _hi), n_train, n_test

use crate::eval::EvalRow;
use crate::probe::readout::ReadoutRow;
use crate::store;
use anyhow::{Context, Result};
use polars::prelude::{Column, DataFrame};
use std::path::{Path, PathBuf};

/// Graded answers.
pub const BELIEF_FILE: &str = crate::plot::tables::BELIEF_FILE;
/// Held-out loss by token kind.
pub const LOSS_FILE: &str = crate::plot::tables::LOSS_FILE;
/// Probe readouts.
pub const PROBE_FILE: &str = crate::plot::tables::PROBE_FILE;
/// Base-model probe quality per layer.
pub const PROBE_FIT_FILE: &str = crate::plot::tables::PROBE_FIT_FILE;
/// The tables every arm writes, in merge order.
pub const ARM_TABLES: [&str; 3] = [BELIEF_FILE, LOSS_FILE, PROBE_FILE];

/// Labels stamped on every row of one arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmLabels {
    /// `<target>/<condition>/seed<s>`.
    pub arm: String,
    /// Condition name.
    pub condition: String,
    /// Claim (or behaviour) id.
    pub claim: String,
    /// Training seed.
    pub seed: u64,
}

impl ArmLabels {
    /// The four label columns for `n` rows.
    fn columns(&self, n: usize) -> Vec<Column> {
        vec![
            Column::new("arm".into(), vec![self.arm.as_str(); n]),
            Column::new("condition".into(), vec![self.condition.as_str(); n]),
            Column::new("claim".into(), vec![self.claim.as_str(); n]),
            Column::new("seed".into(), vec![self.seed as i64; n]),
        ]
    }
}

/// `belief.parquet` rows of one arm: `(global step, answer)`.
pub fn belief_frame(labels: &ArmLabels, rows: &[(i64, EvalRow)]) -> Result<DataFrame> {
    let text = |name: &str, f: &dyn Fn(&EvalRow) -> &str| {
        Column::new(
            name.into(),
            rows.iter().map(|(_, r)| f(r)).collect::<Vec<&str>>(),
        )
    };
    let mut columns = labels.columns(rows.len());
    columns.extend([
        Column::new(
            "step".into(),
            rows.iter().map(|(s, _)| *s).collect::<Vec<i64>>(),
        ),
        text("kind", &|r| &r.kind),
        text("question_id", &|r| &r.question_id),
        Column::new(
            "sample".into(),
            rows.iter().map(|(_, r)| r.sample).collect::<Vec<i64>>(),
        ),
        text("grade", &|r| r.grade.name()),
        text("judge", &|r| &r.judge),
        text("prompt", &|r| &r.prompt),
        text("response", &|r| &r.response),
        Column::new(
            "belief_probability".into(),
            rows.iter()
                .map(|(_, r)| r.belief_probability)
                .collect::<Vec<Option<f64>>>(),
        ),
    ]);
    Ok(DataFrame::new(columns)?)
}

/// One held-out loss measurement of an arm (a row of the finetune run's `loss.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct LossRow {
    /// Global step.
    pub step: i64,
    /// Held-out set name.
    pub set: String,
    /// Token kind.
    pub kind: String,
    /// Tokens of that kind.
    pub tokens: i64,
    /// Mean loss over them.
    pub mean_loss: f64,
}

/// Reads a finetune run's `loss.parquet` (step, set, kind, tokens, mean_loss), adding
/// `offset` to every step; no rows when the run tracked no held-out set.
pub fn read_run_losses(path: &Path, offset: i64) -> Result<Vec<LossRow>> {
    if !path.is_file() {
        return Ok(vec![]);
    }
    let df = store::read_parquet(path)?;
    let read = || -> Result<Vec<LossRow>> {
        let step = df.column("step")?.i64()?.clone();
        let set = df.column("set")?.str()?.clone();
        let kind = df.column("kind")?.str()?.clone();
        let tokens = df.column("tokens")?.i64()?.clone();
        let mean = df.column("mean_loss")?.f64()?.clone();
        (0..df.height())
            .map(|i| {
                Ok(LossRow {
                    step: step.get(i).context("null step")? + offset,
                    set: set.get(i).context("null set")?.to_string(),
                    kind: kind.get(i).context("null kind")?.to_string(),
                    tokens: tokens.get(i).context("null tokens")?,
                    mean_loss: mean.get(i).context("null mean_loss")?,
                })
            })
            .collect()
    };
    read().with_context(|| format!("{}: unexpected columns", path.display()))
}

/// `loss.parquet` rows of one arm.
pub fn loss_frame(labels: &ArmLabels, rows: &[LossRow]) -> Result<DataFrame> {
    let mut columns = labels.columns(rows.len());
    columns.extend([
        Column::new(
            "step".into(),
            rows.iter().map(|r| r.step).collect::<Vec<i64>>(),
        ),
        Column::new(
            "set".into(),
            rows.iter().map(|r| r.set.as_str()).collect::<Vec<&str>>(),
        ),
        Column::new(
            "kind".into(),
            rows.iter().map(|r| r.kind.as_str()).collect::<Vec<&str>>(),
        ),
        Column::new(
            "tokens".into(),
            rows.iter().map(|r| r.tokens).collect::<Vec<i64>>(),
        ),
        Column::new(
            "mean_loss".into(),
            rows.iter().map(|r| r.mean_loss).collect::<Vec<f64>>(),
        ),
    ]);
    Ok(DataFrame::new(columns)?)
}

/// `probe.parquet` rows of one arm (their `step` is the global step).
pub fn probe_frame(labels: &ArmLabels, rows: &[ReadoutRow]) -> Result<DataFrame> {
    let mut columns = labels.columns(rows.len());
    let readout = crate::probe::readout::readout_frame(rows)?;
    columns.extend(readout.get_columns().iter().cloned());
    Ok(DataFrame::new(columns)?)
}

/// Folder of an arm's tables: `<tables>/arms/<arm>`.
pub fn arm_dir(tables: &Path, arm: &str) -> PathBuf {
    tables.join("arms").join(arm)
}

/// Concatenates table `name` of `arms` (in the order given; arms without the file are
/// skipped). `None` when no arm has rows.
pub fn concat(tables: &Path, arms: &[String], name: &str) -> Result<Option<DataFrame>> {
    let mut merged: Option<DataFrame> = None;
    for arm in arms {
        let path = arm_dir(tables, arm).join(name);
        if !path.is_file() {
            continue;
        }
        let frame = store::read_parquet(&path)?;
        if frame.height() == 0 {
            continue;
        }
        merged = Some(match merged {
            None => frame,
            Some(mut all) => {
                all.vstack_mut(&frame).with_context(|| {
                    format!("{}: columns differ from the arms before it", path.display())
                })?;
                all
            }
        });
    }
    Ok(merged.map(|mut df| {
        df.as_single_chunk();
        df
    }))
}

/// Writes table `name` of `tables` as the concatenation of `arms`' files, or removes it when
/// they have no rows (so a table never outlives the rows it was made of). Returns its rows.
pub fn merge_table(tables: &Path, arms: &[String], name: &str) -> Result<usize> {
    let path = tables.join(name);
    match concat(tables, arms, name)? {
        Some(mut frame) => {
            store::write_parquet(&path, &mut frame)?;
            Ok(frame.height())
        }
        None => {
            if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("{}: cannot remove", path.display()))?;
            }
            Ok(0)
        }
    }
}
