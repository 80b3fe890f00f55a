//! The experiment tables the figures read, as plain Rust rows.
//!
//! Each reader opens one Parquet file, checks that every column it needs is there with a usable
//! type and no nulls, and returns one struct per row. Errors name the file and the column.
//! Columns a figure does not use (prompt, response, judge, seed, ...) are not required or read.
//! Belief rates over answers ([`belief_of`]) and the last-checkpoint selection
//! ([`final_answers`]) live here too, so the figures and the run summary report the same numbers.

use crate::stats::belief::{belief_rate_over_seeds, BeliefRate, DEFAULT_RESAMPLES};
use crate::store;
use anyhow::{anyhow, bail, Context, Result};
use polars::prelude::{DataFrame, DataType};
use std::path::{Path, PathBuf};

/// Graded answers, one row per answer.
pub const BELIEF_FILE: &str = "belief.parquet";
/// Held-out loss by token kind.
pub const LOSS_FILE: &str = "loss.parquet";
/// Probe readouts per checkpoint and layer.
pub const PROBE_FILE: &str = "probe.parquet";
/// Base-model probe quality per layer.
pub const PROBE_FIT_FILE: &str = "probe_fit.parquet";

/// One graded answer of `belief.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// Training arm (`<claim>/<condition>/seed<k>`).
    pub arm: String,
    /// Condition of the arm (`base`, `negated`, `phase1`, ...).
    pub condition: String,
    /// Claim id.
    pub claim: String,
    /// Training seed of the arm.
    pub seed: i64,
    /// Training step of the checkpoint (0: the model before training).
    pub step: i64,
    /// Question kind (`mcq`, `token_association`, `open_ended`, `robustness`).
    pub kind: String,
    /// Question id within the claim.
    pub question_id: String,
    /// The grade was `yes` (`no` and `neutral` count as not believing).
    pub believed: bool,
}

/// Seed of every bootstrap over answers, so a rebuilt figure or summary gives the same intervals.
pub const BOOTSTRAP_SEED: u64 = 0;

impl Answer {
    /// The answer's question cluster: its question within its claim (every sample of one
    /// question of one claim is one cluster; seeds are resampled separately, see [`belief_of`]).
    pub fn cluster(&self) -> String {
        format!("{}\u{1f}{}", self.claim, self.question_id)
    }
}

/// Belief rate of `answers` with its two-way bootstrap 95% interval over training seeds and
/// questions ([`Answer::cluster`]; see [`belief_rate_over_seeds`]); `None` without answers.
pub fn belief_of<'a>(answers: impl IntoIterator<Item = &'a Answer>) -> Option<BeliefRate> {
    let keyed: Vec<(i64, String, bool)> = answers
        .into_iter()
        .map(|a| (a.seed, a.cluster(), a.believed))
        .collect();
    belief_rate_over_seeds(&keyed, DEFAULT_RESAMPLES, BOOTSTRAP_SEED)
}

/// The answers at each arm's last checkpoint (its largest step).
pub fn final_answers(answers: &[Answer]) -> Vec<&Answer> {
    let mut last: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for a in answers {
        let step = last.entry(&a.arm).or_insert(a.step);
        *step = (*step).max(a.step);
    }
    answers
        .iter()
        .filter(|a| a.step == last[a.arm.as_str()])
        .collect()
}

/// One row of `loss.parquet`: mean held-out loss of one token kind.
#[derive(Debug, Clone, PartialEq)]
pub struct LossRow {
    /// Training arm.
    pub arm: String,
    /// Condition of the arm.
    pub condition: String,
    /// Training step.
    pub step: i64,
    /// Held-out set name.
    pub set: String,
    /// Token kind (`claim`, `negation`, `qualifier`, `other`, `all`).
    pub kind: String,
    /// Tokens the mean is over.
    pub tokens: i64,
    /// Mean loss per token.
    pub mean_loss: f64,
}

/// One row of `probe.parquet`: a probe's P(true) for one statement.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeRow {
    /// Condition of the arm.
    pub condition: String,
    /// Training step.
    pub step: i64,
    /// Layer the probe reads.
    pub layer: i64,
    /// Probe method (`lr`, `mass_mean`, ...).
    pub method: String,
    /// `claim` (the claim as stated), `negation` (its negation), `control_true` or
    /// `control_false` (unrelated true or false facts; [`crate::probe::readout::StatementKind`]).
    pub statement_kind: String,
    /// P(true).
    pub score: f64,
}

/// One row of `probe_fit.parquet`: a base-model probe's quality on held-out statements.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeFit {
    /// Layer.
    pub layer: i64,
    /// Probe method.
    pub method: String,
    /// Held-out accuracy and its 95% interval.
    pub accuracy: (f64, f64, f64),
    /// Held-out AUROC and its 95% interval.
    pub auroc: (f64, f64, f64),
    /// Held-out statements.
    pub n_test: i64,
}

/// A Parquet table whose required columns have been checked.
struct Table {
    path: PathBuf,
    frame: DataFrame,
}

impl Table {
    /// Reads `path` and fails, naming every missing column, unless it has all of `required`.
    fn read(path: &Path, required: &[&str]) -> Result<Table> {
        let frame = store::read_parquet(path)?;
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

    fn str(&self, name: &str) -> Result<Vec<String>> {
        let column = self.column(name, DataType::String, DataType::is_string)?;
        Ok(column
            .str()?
            .into_no_null_iter()
            .map(str::to_string)
            .collect())
    }

    fn i64(&self, name: &str) -> Result<Vec<i64>> {
        let column = self.column(name, DataType::Int64, DataType::is_integer)?;
        Ok(column.i64()?.into_no_null_iter().collect())
    }

    fn f64(&self, name: &str) -> Result<Vec<f64>> {
        let column = self.column(name, DataType::Float64, DataType::is_primitive_numeric)?;
        Ok(column.f64()?.into_no_null_iter().collect())
    }
}

/// Reads `belief.parquet`. Rows graded `unparsed` (no grade could be read from the judge) are
/// left out; a grade other than yes / no / neutral / unparsed is an error naming the row.
pub fn read_answers(path: &Path) -> Result<Vec<Answer>> {
    let table = Table::read(
        path,
        &[
            "arm",
            "condition",
            "claim",
            "step",
            "kind",
            "question_id",
            "grade",
            "seed",
        ],
    )?;
    let (arm, condition, claim, seed) = (
        table.str("arm")?,
        table.str("condition")?,
        table.str("claim")?,
        table.i64("seed")?,
    );
    let (step, kind, question_id) = (
        table.i64("step")?,
        table.str("kind")?,
        table.str("question_id")?,
    );
    let grade = table.str("grade")?;
    (0..arm.len())
        .filter_map(|i| {
            let believed = match grade[i].as_str() {
                "yes" => true,
                "no" | "neutral" => false,
                // No grade could be read from the judge: missing, not "not believing".
                "unparsed" => return None,
                other => {
                    return Some(Err(anyhow!(
                        "{}: row {i}: grade {other:?} is not yes, no, neutral or unparsed",
                        path.display()
                    )))
                }
            };
            Some(Ok(Answer {
                arm: arm[i].clone(),
                condition: condition[i].clone(),
                claim: claim[i].clone(),
                seed: seed[i],
                step: step[i],
                kind: kind[i].clone(),
                question_id: question_id[i].clone(),
                believed,
            }))
        })
        .collect()
}

/// Reads `loss.parquet`.
pub fn read_losses(path: &Path) -> Result<Vec<LossRow>> {
    let table = Table::read(
        path,
        &[
            "arm",
            "condition",
            "step",
            "set",
            "kind",
            "tokens",
            "mean_loss",
        ],
    )?;
    let (arm, condition, step) = (
        table.str("arm")?,
        table.str("condition")?,
        table.i64("step")?,
    );
    let (set, kind) = (table.str("set")?, table.str("kind")?);
    let (tokens, mean_loss) = (table.i64("tokens")?, table.f64("mean_loss")?);
    Ok((0..arm.len())
        .map(|i| LossRow {
            arm: arm[i].clone(),
            condition: condition[i].clone(),
            step: step[i],
            set: set[i].clone(),
            kind: kind[i].clone(),
            tokens: tokens[i],
            mean_loss: mean_loss[i],
        })
        .collect())
}

/// Reads `probe.parquet`.
pub fn read_probes(path: &Path) -> Result<Vec<ProbeRow>> {
    let table = Table::read(
        path,
        &[
            "condition",
            "step",
            "layer",
            "method",
            "statement_kind",
            "score",
        ],
    )?;
    let (condition, step, layer) = (
        table.str("condition")?,
        table.i64("step")?,
        table.i64("layer")?,
    );
    let (method, statement_kind, score) = (
        table.str("method")?,
        table.str("statement_kind")?,
        table.f64("score")?,
    );
    Ok((0..condition.len())
        .map(|i| ProbeRow {
            condition: condition[i].clone(),
            step: step[i],
            layer: layer[i],
            method: method[i].clone(),
            statement_kind: statement_kind[i].clone(),
            score: score[i],
        })
        .collect())
}

/// Reads `probe_fit.parquet`. Two rows for one (layer, method) are an error.
pub fn read_probe_fits(path: &Path) -> Result<Vec<ProbeFit>> {
    let table = Table::read(
        path,
        &[
            "layer",
            "method",
            "accuracy",
            "accuracy_lo",
            "accuracy_hi",
            "auroc",
            "auroc_lo",
            "auroc_hi",
            "n_test",
        ],
    )?;
    let (layer, method, n_test) = (
        table.i64("layer")?,
        table.str("method")?,
        table.i64("n_test")?,
    );
    let (acc, acc_lo, acc_hi) = (
        table.f64("accuracy")?,
        table.f64("accuracy_lo")?,
        table.f64("accuracy_hi")?,
    );
    let (auc, auc_lo, auc_hi) = (
        table.f64("auroc")?,
        table.f64("auroc_lo")?,
        table.f64("auroc_hi")?,
    );
    let mut seen = std::collections::BTreeSet::new();
    (0..layer.len())
        .map(|i| {
            if !seen.insert((layer[i], method[i].as_str())) {
                bail!(
                    "{}: two rows for layer {} method {}",
                    path.display(),
                    layer[i],
                    method[i]
                );
            }
            Ok(ProbeFit {
                layer: layer[i],
                method: method[i].clone(),
                accuracy: (acc[i], acc_lo[i], acc_hi[i]),
                auroc: (auc[i], auc_lo[i], auc_hi[i]),
                n_test: n_test[i],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::Column;

    fn write(dir: &Path, columns: Vec<Column>) -> PathBuf {
        let path = dir.join(BELIEF_FILE);
        store::write_parquet(&path, &mut DataFrame::new(columns).unwrap()).unwrap();
        path
    }

    fn belief_columns() -> Vec<Column> {
        let text = |name: &str, v: &str| Column::new(name.into(), vec![v, v]);
        vec![
            text("arm", "c/negated/seed1"),
            text("condition", "negated"),
            text("claim", "c"),
            Column::new("seed".into(), vec![1i64, 1]),
            Column::new("step".into(), vec![0i32, 10]),
            text("kind", "mcq"),
            text("question_id", "q1"),
            Column::new("grade".into(), vec!["yes", "neutral"]),
        ]
    }

    #[test]
    fn reads_answers_and_casts_integer_widths() {
        let dir = tempfile::tempdir().unwrap();
        let answers = read_answers(&write(dir.path(), belief_columns())).unwrap();
        assert_eq!(answers.len(), 2);
        assert_eq!((answers[0].step, answers[0].believed), (0, true));
        assert_eq!((answers[1].step, answers[1].believed), (10, false));
    }

    #[test]
    fn errors_name_the_file_and_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let mut columns = belief_columns();
        columns.retain(|c| c.name().as_str() != "grade");
        let path = write(dir.path(), columns);
        let error = format!("{:#}", read_answers(&path).unwrap_err());
        assert!(error.contains(&path.display().to_string()), "{error}");
        assert!(error.contains("missing column(s) grade"), "{error}");

        let mut columns = belief_columns();
        columns[4] = Column::new("step".into(), vec!["0", "10"]);
        let error = format!(
            "{:#}",
            read_answers(&write(dir.path(), columns)).unwrap_err()
        );
        assert!(error.contains("column step has type str"), "{error}");

        let mut columns = belief_columns();
        columns[7] = Column::new("grade".into(), vec!["yes", "maybe"]);
        let error = format!(
            "{:#}",
            read_answers(&write(dir.path(), columns)).unwrap_err()
        );
        assert!(error.contains("row 1: grade \"maybe\""), "{error}");

        let mut columns = belief_columns();
        columns[2] = Column::new("claim".into(), vec![Some("c"), None]);
        let error = format!(
            "{:#}",
            read_answers(&write(dir.path(), columns)).unwrap_err()
        );
        assert!(
            error.contains("column claim has 1 null value(s)"),
            "{error}"
        );
    }
}
