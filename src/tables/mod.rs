//! The stored tables: file names, the row types read back, one checked reader and one writer
//! per table, and the merge of an experiment's per-arm tables. A low module: the stages that
//! write tables (train, eval, probe, experiment) and the figures that read them all use it, and
//! it uses only [`crate::store`] and [`crate::stats`].
//!
//! A finetune run writes `train.parquet` (step, loss, lr, grad_norm, tokens_per_s, tokens_seen)
//! and `loss.parquet` (step, set, kind, tokens, mean_loss); `neglect eval` writes
//! `belief.parquet` (model, checkpoint, claim, kind, question_id, sample, grade, judge, prompt,
//! response, belief_probability). Every experiment arm writes
//! `analyses/<name>/arms/<arm>/{belief,loss,probe}.parquet`, each row labelled with arm,
//! condition, claim, seed ([`ArmLabels`]) and the global step; the experiment tables
//! `analyses/<name>/{belief,loss,probe}.parquet` are the concatenation of the finished arms'
//! files in sorted arm order, and `probe_fit.parquet` is the base model's probe fit:
//!
//! - `belief.parquet`: arm, condition, claim, seed, step, kind, question_id, sample, grade,
//!   judge, prompt, response, belief_probability (closed forms only, else null)
//! - `loss.parquet`: arm, condition, claim, seed, step, set, kind, tokens, mean_loss
//! - `probe.parquet`: arm, condition, claim, seed, step, layer, method, statement,
//!   statement_kind, score
//! - `probe_fit.parquet`: layer, method, accuracy(_lo, _hi), auroc(_lo, _hi), n_train, n_test,
//!   and (from polarity-aware fits on) accuracy_affirmative(_lo, _hi), accuracy_negated(_lo,
//!   _hi), n_test_affirmative, n_test_negated, train_polarity
//! - `probe_generalisation.parquet` (written by `neglect probe generalise`): train_family,
//!   test_family, layer, method, accuracy(_lo, _hi), n_train, n_test
//! - `steer.parquet`, `patch.parquet`, `lens.parquet`: the causal dissection ([`intervene`])
//!
//! Readers check that every column they need is there with a usable type and no nulls and name
//! the file and the column in errors; columns a reader does not use are not required.

pub mod belief;
pub mod intervene;
pub mod loss;
pub mod probe;

pub use belief::{belief_of, final_answers, read_answers, Answer, BOOTSTRAP_SEED};
pub use intervene::{
    checkpoint_step, read_lens, read_patch, read_steer, LensRow, PatchRow, SteerRow, LENS_FILE,
    PATCH_FILE, STEER_FILE,
};
pub use loss::{read_arm_losses, ArmLoss, LossRow};
pub use probe::{
    read_probe_fits, read_probe_generalisation, read_probes, GeneralisationCell, ProbeFit, ProbeRow,
};

use crate::store;
use anyhow::{bail, Context, Result};
use polars::prelude::{Column, DataFrame, DataType};
use std::path::{Path, PathBuf};

/// Graded answers, one row per answer.
pub const BELIEF_FILE: &str = "belief.parquet";
/// Held-out loss by token kind.
pub const LOSS_FILE: &str = "loss.parquet";
/// Probe readouts per checkpoint and layer.
pub const PROBE_FILE: &str = "probe.parquet";
/// Base-model probe quality per layer.
pub const PROBE_FIT_FILE: &str = "probe_fit.parquet";
/// Probes fitted on one family of statements and tested on another, per layer.
pub const PROBE_GENERALISATION_FILE: &str = "probe_generalisation.parquet";
/// A finetune run's training metrics per step.
pub const TRAIN_FILE: &str = "train.parquet";
/// The tables every arm writes, in merge order.
pub const ARM_TABLES: [&str; 3] = [BELIEF_FILE, LOSS_FILE, PROBE_FILE];
/// The tables an arm writes when its experiment has `[dissect]`.
pub const DISSECT_TABLES: [&str; 3] = [LENS_FILE, PATCH_FILE, STEER_FILE];

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
    pub fn columns(&self, n: usize) -> Vec<Column> {
        vec![
            Column::new("arm".into(), vec![self.arm.as_str(); n]),
            Column::new("condition".into(), vec![self.condition.as_str(); n]),
            Column::new("claim".into(), vec![self.claim.as_str(); n]),
            Column::new("seed".into(), vec![self.seed as i64; n]),
        ]
    }
}

/// `labels`' columns for `rows.height()` rows, then `rows`' own.
pub fn labelled(labels: &ArmLabels, rows: DataFrame) -> Result<DataFrame> {
    let mut columns = labels.columns(rows.height());
    columns.extend(rows.get_columns().iter().cloned());
    Ok(DataFrame::new(columns)?)
}

/// A table whose required columns have been checked; its column readers name the file in
/// errors and refuse nulls and unusable types.
pub struct Table {
    path: PathBuf,
    frame: DataFrame,
}

impl Table {
    /// Reads the Parquet file `path` and fails, naming every missing column, unless it has all
    /// of `required`.
    pub fn read(path: &Path, required: &[&str]) -> Result<Table> {
        Table::checked(path, store::read_parquet(path)?, required)
    }

    /// Checks `frame` (read from `path`, named in errors) as [`Table::read`] does.
    pub fn checked(path: &Path, frame: DataFrame, required: &[&str]) -> Result<Table> {
        let present: Vec<String> = frame
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let missing: Vec<&str> = required
            .iter()
            .copied()
            .filter(|c| !present.iter().any(|p| p == c))
            .collect();
        if !missing.is_empty() {
            bail!(
                "{}: missing column(s) {} (has: {})",
                path.display(),
                missing.join(", "),
                present.join(", ")
            );
        }
        Ok(Table {
            path: path.to_path_buf(),
            frame,
        })
    }

    /// Column `name` cast to `dtype`, which must be allowed by `accept`; nulls are errors.
    fn column(
        &self,
        name: &str,
        dtype: DataType,
        accept: fn(&DataType) -> bool,
    ) -> Result<polars::prelude::Column> {
        let column = self.frame.column(name)?;
        if !accept(column.dtype()) {
            bail!(
                "{}: column {name} has type {}, expected {dtype}",
                self.path.display(),
                column.dtype()
            );
        }
        if column.null_count() > 0 {
            bail!(
                "{}: column {name} has {} null value(s)",
                self.path.display(),
                column.null_count()
            );
        }
        column
            .cast(&dtype)
            .with_context(|| format!("{}: column {name}", self.path.display()))
    }

    /// Whether the table has a column `name` (for columns some writers add).
    pub fn has(&self, name: &str) -> bool {
        self.frame.column(name).is_ok()
    }

    /// Text column `name`.
    pub fn str(&self, name: &str) -> Result<Vec<String>> {
        let column = self.column(name, DataType::String, DataType::is_string)?;
        Ok(column
            .str()?
            .into_no_null_iter()
            .map(str::to_string)
            .collect())
    }

    /// Integer column `name`, as i64.
    pub fn i64(&self, name: &str) -> Result<Vec<i64>> {
        let column = self.column(name, DataType::Int64, DataType::is_integer)?;
        Ok(column.i64()?.into_no_null_iter().collect())
    }

    /// Numeric column `name`, as f64, nulls kept as `None`.
    pub fn f64_nullable(&self, name: &str) -> Result<Vec<Option<f64>>> {
        let column = self.frame.column(name)?;
        let usable = column.dtype().is_primitive_numeric() || column.dtype().is_null();
        if !usable {
            bail!(
                "{}: column {name} has type {}, expected a number",
                self.path.display(),
                column.dtype()
            );
        }
        let column = column
            .cast(&DataType::Float64)
            .with_context(|| format!("{}: column {name}", self.path.display()))?;
        Ok(column.f64()?.into_iter().collect())
    }

    /// Numeric column `name`, as f64.
    pub fn f64(&self, name: &str) -> Result<Vec<f64>> {
        let column = self.column(name, DataType::Float64, DataType::is_primitive_numeric)?;
        Ok(column.f64()?.into_no_null_iter().collect())
    }
}

/// `Table::read` when `path` exists, `None` otherwise (a run that tracked nothing).
pub fn read_if_present(path: &Path, required: &[&str]) -> Result<Option<Table>> {
    if path.is_file() {
        Table::read(path, required).map(Some)
    } else {
        Ok(None)
    }
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
                let frame = align_columns(&mut all, frame)?;
                all.vstack_mut(&frame).with_context(|| {
                    format!(
                        "{}: column types differ from the arms before it",
                        path.display()
                    )
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

/// Gives `all` and `frame` the same columns in `all`'s order, a column one of them lacks added
/// to it as nulls (arms written by an older neglect have fewer columns); returns `frame`.
fn align_columns(all: &mut DataFrame, mut frame: DataFrame) -> Result<DataFrame> {
    for column in frame.get_columns() {
        if all.column(column.name()).is_err() {
            let nulls = Column::full_null(column.name().clone(), all.height(), column.dtype());
            all.with_column(nulls)?;
        }
    }
    for column in all.get_columns() {
        if frame.column(column.name()).is_err() {
            let nulls = Column::full_null(column.name().clone(), frame.height(), column.dtype());
            frame.with_column(nulls)?;
        }
    }
    Ok(frame.select(all.get_column_names_owned())?)
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

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(dir: &Path, name: &str, columns: Vec<Column>) {
        let path = arm_dir(dir, name).join(BELIEF_FILE);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        store::write_parquet(&path, &mut DataFrame::new(columns).unwrap()).unwrap();
    }

    #[test]
    fn arms_of_an_older_layout_merge_with_their_missing_columns_null() {
        let dir = tempfile::tempdir().unwrap();
        arm(
            dir.path(),
            "a",
            vec![
                Column::new("arm".into(), ["a"]),
                Column::new("grade".into(), ["yes"]),
            ],
        );
        arm(
            dir.path(),
            "b",
            vec![
                Column::new("arm".into(), ["b", "b"]),
                Column::new("category".into(), ["direct", "counter"]),
                Column::new("grade".into(), ["no", "yes"]),
            ],
        );
        let arms = vec!["a".to_string(), "b".to_string()];
        assert_eq!(merge_table(dir.path(), &arms, BELIEF_FILE).unwrap(), 3);
        let merged = store::read_parquet(&dir.path().join(BELIEF_FILE)).unwrap();
        let names: Vec<String> = merged
            .get_column_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(names, ["arm", "grade", "category"]);
        let category: Vec<Option<&str>> = merged
            .column("category")
            .unwrap()
            .str()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(category, [None, Some("direct"), Some("counter")]);
        let grade = Table::read(&dir.path().join(BELIEF_FILE), &["grade"])
            .unwrap()
            .str("grade")
            .unwrap();
        assert_eq!(grade, ["yes", "no", "yes"]);
    }
}
