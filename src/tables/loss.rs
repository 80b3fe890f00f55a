//! `loss.parquet`: held-out loss by token kind, one row per (step, set, kind). A finetune run
//! writes it with [`loss_frame`]; an experiment arm writes the same columns after its labels.

use super::{read_if_present, Table};
use anyhow::Result;
use polars::prelude::{Column, DataFrame};
use std::path::Path;

/// One held-out loss measurement: the mean next-token loss of one token kind.
#[derive(Debug, Clone, PartialEq)]
pub struct LossRow {
    /// Update count when measured (the global step in an experiment's tables).
    pub step: i64,
    /// Held-out set name.
    pub set: String,
    /// Token kind (`claim`, `negation`, `qualifier`, `other`, `all`).
    pub kind: String,
    /// Tokens of that kind.
    pub tokens: i64,
    /// Mean loss per token over them.
    pub mean_loss: f64,
}

/// A row of an experiment's `loss.parquet`: a measurement and the arm it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ArmLoss {
    /// Training arm.
    pub arm: String,
    /// Condition of the arm.
    pub condition: String,
    /// The measurement.
    pub loss: LossRow,
}

/// The columns of `loss.parquet` in [`LossRow`]'s field order.
const COLUMNS: [&str; 5] = ["step", "set", "kind", "tokens", "mean_loss"];

/// `rows` as a table (step, set, kind, tokens, mean_loss).
pub fn loss_frame(rows: &[LossRow]) -> Result<DataFrame> {
    let text = |name: &str, f: fn(&LossRow) -> &str| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<&str>>())
    };
    Ok(DataFrame::new(vec![
        Column::new(
            COLUMNS[0].into(),
            rows.iter().map(|r| r.step).collect::<Vec<i64>>(),
        ),
        text(COLUMNS[1], |r| &r.set),
        text(COLUMNS[2], |r| &r.kind),
        Column::new(
            COLUMNS[3].into(),
            rows.iter().map(|r| r.tokens).collect::<Vec<i64>>(),
        ),
        Column::new(
            COLUMNS[4].into(),
            rows.iter().map(|r| r.mean_loss).collect::<Vec<f64>>(),
        ),
    ])?)
}

/// The measurements of a checked table.
fn rows_of(table: &Table) -> Result<Vec<LossRow>> {
    let (step, set, kind) = (table.i64("step")?, table.str("set")?, table.str("kind")?);
    let (tokens, mean_loss) = (table.i64("tokens")?, table.f64("mean_loss")?);
    Ok((0..step.len())
        .map(|i| LossRow {
            step: step[i],
            set: set[i].clone(),
            kind: kind[i].clone(),
            tokens: tokens[i],
            mean_loss: mean_loss[i],
        })
        .collect())
}

/// Reads a finetune run's `loss.parquet`; no rows when the file is absent (the run tracked no
/// held-out set).
pub fn read_losses(path: &Path) -> Result<Vec<LossRow>> {
    match read_if_present(path, &COLUMNS)? {
        Some(table) => rows_of(&table),
        None => Ok(vec![]),
    }
}

/// Reads an experiment's `loss.parquet` (the measurements with their arm and condition).
pub fn read_arm_losses(path: &Path) -> Result<Vec<ArmLoss>> {
    let mut required = vec!["arm", "condition"];
    required.extend(COLUMNS);
    let table = Table::read(path, &required)?;
    let (arm, condition) = (table.str("arm")?, table.str("condition")?);
    Ok(rows_of(&table)?
        .into_iter()
        .enumerate()
        .map(|(i, loss)| ArmLoss {
            arm: arm[i].clone(),
            condition: condition[i].clone(),
            loss,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{labelled, ArmLabels};

    #[test]
    fn run_and_arm_tables_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            LossRow {
                step: 0,
                set: "negated".into(),
                kind: "claim".into(),
                tokens: 12,
                mean_loss: 6.25,
            },
            LossRow {
                step: 20,
                set: "negated".into(),
                kind: "negation".into(),
                tokens: 3,
                mean_loss: 0.5,
            },
        ];
        let run = dir.path().join("run.parquet");
        crate::store::write_parquet(&run, &mut loss_frame(&rows).unwrap()).unwrap();
        assert_eq!(read_losses(&run).unwrap(), rows);
        assert!(read_losses(&dir.path().join("absent.parquet"))
            .unwrap()
            .is_empty());

        let labels = ArmLabels {
            arm: "c/negated/seed1".into(),
            condition: "negated".into(),
            claim: "c".into(),
            seed: 1,
        };
        let arm = dir.path().join("arm.parquet");
        let mut frame = labelled(&labels, loss_frame(&rows).unwrap()).unwrap();
        crate::store::write_parquet(&arm, &mut frame).unwrap();
        let read = read_arm_losses(&arm).unwrap();
        assert_eq!(read.len(), 2);
        assert_eq!(
            (read[1].arm.as_str(), read[1].condition.as_str()),
            ("c/negated/seed1", "negated")
        );
        assert_eq!(read[1].loss, rows[1]);
        // The run table has no arm column: read as an experiment table, it names the file.
        let error = format!("{:#}", read_arm_losses(&run).unwrap_err());
        assert!(
            error.contains("run.parquet: missing column(s) arm, condition"),
            "{error}"
        );
    }
}
