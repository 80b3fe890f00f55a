//! `belief.parquet` read back: graded answers, belief rates over them and the last-checkpoint
//! selection, so the figures and the run summary report the same numbers. The writers are
//! [`crate::eval::rows_to_frame`] (`neglect eval`) and the experiment's arm tables.

use super::Table;
use crate::stats::belief::{belief_rate_over_seeds, BeliefRate, DEFAULT_RESAMPLES};
use anyhow::{anyhow, Result};
use std::path::Path;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;
    use crate::tables::BELIEF_FILE;
    use polars::prelude::{Column, DataFrame};
    use std::path::PathBuf;

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
