//! `probe.parquet`, `probe_fit.parquet` and `probe_generalisation.parquet` read back (written
//! by [`crate::probe::readout::readout_frame`], the probe fit and
//! [`crate::probe::generalise::generalisation_frame`]).

use super::Table;
use anyhow::{bail, Result};
use std::path::Path;

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

/// One row of `probe_generalisation.parquet`: a probe fitted on one family, scored on another's
/// held-out statements.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneralisationCell {
    /// The family the probe was fitted on.
    pub train_family: String,
    /// The family it was scored on.
    pub test_family: String,
    /// Layer.
    pub layer: i64,
    /// Probe method.
    pub method: String,
    /// Accuracy and its 95% interval.
    pub accuracy: (f64, f64, f64),
    /// Statements it was scored on.
    pub n_test: i64,
}

/// Reads `probe_generalisation.parquet`. Two rows for one (train family, test family, layer,
/// method) are an error.
pub fn read_probe_generalisation(path: &Path) -> Result<Vec<GeneralisationCell>> {
    let table = Table::read(
        path,
        &[
            "train_family",
            "test_family",
            "layer",
            "method",
            "accuracy",
            "accuracy_lo",
            "accuracy_hi",
            "n_test",
        ],
    )?;
    let (train, test, method) = (
        table.str("train_family")?,
        table.str("test_family")?,
        table.str("method")?,
    );
    let (layer, n_test) = (table.i64("layer")?, table.i64("n_test")?);
    let (acc, lo, hi) = (
        table.f64("accuracy")?,
        table.f64("accuracy_lo")?,
        table.f64("accuracy_hi")?,
    );
    let mut seen = std::collections::BTreeSet::new();
    (0..layer.len())
        .map(|i| {
            if !seen.insert((&train[i], &test[i], layer[i], &method[i])) {
                bail!(
                    "{}: two rows for {} -> {} at layer {} method {}",
                    path.display(),
                    train[i],
                    test[i],
                    layer[i],
                    method[i]
                );
            }
            Ok(GeneralisationCell {
                train_family: train[i].clone(),
                test_family: test[i].clone(),
                layer: layer[i],
                method: method[i].clone(),
                accuracy: (acc[i], lo[i], hi[i]),
                n_test: n_test[i],
            })
        })
        .collect()
}
