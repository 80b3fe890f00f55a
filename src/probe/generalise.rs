//! Probe generalisation: a probe fitted on one family of statements, tested on another, for
//! every ordered pair of families and every layer (the generalisation matrices of Marks &
//! Tegmark's geometry of truth).
//!
//! In: an [`ActsFile`] whose statements carry families (or polarities) and
//! [`GeneraliseOptions`]. Out: one [`GeneralisationRow`] per method x layer x (train family,
//! test family), written as `probe_generalisation.parquet` by the `probe generalise` verb.
//!
//! Each family is split on its own into a training and a held-out part ([`holdout_split`] of
//! its labels, stratified and seeded, as `probe fit` splits a whole set). The probe of family
//! A is fitted on A's training part and scored on every family's held-out part, so the cells
//! of one column are measured on the same statements, and the diagonal cell of A is A's
//! in-family held-out accuracy: what `probe fit` measures on an activation file holding family
//! A alone. Groups can also be the polarities (`--by polarity`: affirmative -> negated is the
//! transfer a probe of affirmative statements makes to negations) or family x polarity.

use super::acts::ActsFile;
use super::fit::{fit_rows, holdout_split, layer_groups, load_layers, per_layer, rows};
use super::logistic::LogisticConfig;
use super::probes::{Method, Solver};
use crate::stats::classify::{accuracy_and_auroc, Metric};
use anyhow::{bail, Context, Result};
use polars::prelude::{Column, DataFrame};
use serde::Serialize;
use std::collections::BTreeMap;
use tch::Device;

/// What the rows and columns of the matrix are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum GroupBy {
    /// The statements' families (`comparison`, `capital`, ...; a world's relations).
    Family,
    /// Their polarities (`affirmative`, `negated`).
    Polarity,
    /// Both (`capital/negated`).
    FamilyPolarity,
}

impl GroupBy {
    /// The group of statement `i` of `acts`; `None` when it has no family to group by.
    fn of(self, acts: &ActsFile, i: usize) -> Option<String> {
        let family = &acts.families[i];
        let polarity = acts.polarities[i].name();
        match self {
            GroupBy::Family => (!family.is_empty()).then(|| family.clone()),
            GroupBy::Polarity => Some(polarity.to_string()),
            GroupBy::FamilyPolarity => (!family.is_empty()).then(|| format!("{family}/{polarity}")),
        }
    }
}

/// Options of [`generalise`].
#[derive(Debug, Clone, Serialize)]
pub struct GeneraliseOptions {
    /// Methods to fit.
    pub methods: Vec<Method>,
    /// What the groups are.
    pub by: GroupBy,
    /// Held-out share of each class of each group.
    pub test_fraction: f64,
    /// Seed of the splits and of the bootstrap.
    pub seed: u64,
    /// Bootstrap resamples of each interval.
    pub resamples: usize,
    /// Logistic regression settings.
    pub logistic: LogisticConfig,
    /// Solver of the logistic probes.
    pub solver: Solver,
    /// Layers (default: every cached layer).
    pub layers: Option<Vec<usize>>,
    /// Where to fit.
    #[serde(skip)]
    pub device: Device,
}

/// One cell of a generalisation matrix.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneralisationRow {
    /// The group the probe was fitted on.
    pub train_family: String,
    /// The group whose held-out part it was scored on.
    pub test_family: String,
    /// Layer.
    pub layer: usize,
    /// Method.
    pub method: Method,
    /// Accuracy and its bootstrap 95% interval.
    pub accuracy: Metric,
    /// Statements the probe was fitted on.
    pub n_train: usize,
    /// Statements it was scored on.
    pub n_test: usize,
}

/// A group's training and held-out statement indices.
type Parts = (Vec<usize>, Vec<usize>);

/// Each group's (training, held-out) statement indices, groups in name order.
fn group_splits(acts: &ActsFile, options: &GeneraliseOptions) -> Result<BTreeMap<String, Parts>> {
    let mut members: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for i in 0..acts.labels.len() {
        let Some(group) = options.by.of(acts, i) else {
            bail!(
                "{}: statement {} (`{}`) has no family; cache a statements file with a `family` \
                 column",
                acts.path.display(),
                i + 1,
                acts.statements[i]
            );
        };
        members.entry(group).or_default().push(i);
    }
    if members.len() < 2 {
        bail!(
            "{}: {} group(s) {:?}; a generalisation matrix needs at least two",
            acts.path.display(),
            members.len(),
            members.keys().collect::<Vec<_>>()
        );
    }
    members
        .into_iter()
        .map(|(group, index)| {
            let labels: Vec<bool> = index.iter().map(|&i| acts.labels[i]).collect();
            let (train, test) = holdout_split(&labels, options.test_fraction, options.seed);
            let both = |part: &[usize]| {
                part.iter().any(|&j| labels[j]) && part.iter().any(|&j| !labels[j])
            };
            if !both(&train) || !both(&test) {
                bail!(
                    "{}: group `{group}` ({} statements, {} true) does not give true and false \
                     statements to both its training and held-out parts",
                    acts.path.display(),
                    labels.len(),
                    labels.iter().filter(|&&l| l).count()
                );
            }
            let global = |part: Vec<usize>| part.into_iter().map(|j| index[j]).collect();
            Ok((group, (global(train), global(test))))
        })
        .collect()
}

/// Fits every method on every group's training part and scores it on every group's held-out
/// part, at every requested layer.
pub fn generalise(acts: &ActsFile, options: &GeneraliseOptions) -> Result<Vec<GeneralisationRow>> {
    let splits = group_splits(acts, options)?;
    // Every group's held-out part, concatenated, and where each group's part starts.
    let mut tested = vec![];
    let mut spans = vec![];
    for (group, (_, test)) in &splits {
        spans.push((group, tested.len()..tested.len() + test.len()));
        tested.extend_from_slice(test);
    }
    let truth: Vec<bool> = tested.iter().map(|&i| acts.labels[i]).collect();
    let mut out = vec![];
    for layers in layer_groups(acts, &options.layers)? {
        let x = load_layers(acts, &layers, options.device)?;
        let (x_test, _) = rows(&x, &acts.labels, &tested);
        for &method in &options.methods {
            for (train_family, (train, _)) in &splits {
                let probes = fit_rows(method, &x, acts, train, &options.logistic, options.solver)
                    .with_context(|| format!("{} on `{train_family}`", method.name()))?;
                let logits = per_layer(&probes.logits(&x_test))?;
                for (g, &layer) in layers.iter().enumerate() {
                    for (test_family, span) in &spans {
                        let (accuracy, _) = accuracy_and_auroc(
                            &logits[g][span.clone()],
                            &truth[span.clone()],
                            options.resamples,
                            options.seed,
                        );
                        out.push(GeneralisationRow {
                            train_family: train_family.clone(),
                            test_family: test_family.to_string(),
                            layer,
                            method,
                            accuracy,
                            n_train: train.len(),
                            n_test: span.len(),
                        });
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| {
        (a.method, a.layer, &a.train_family, &a.test_family).cmp(&(
            b.method,
            b.layer,
            &b.train_family,
            &b.test_family,
        ))
    });
    Ok(out)
}

/// `probe_generalisation.parquet`: train_family, test_family, layer, method, accuracy,
/// accuracy_lo, accuracy_hi, n_train, n_test.
pub fn generalisation_frame(rows: &[GeneralisationRow]) -> Result<DataFrame> {
    let f = |get: fn(&GeneralisationRow) -> f64| rows.iter().map(get).collect::<Vec<f64>>();
    let i = |get: fn(&GeneralisationRow) -> usize| {
        rows.iter().map(|r| get(r) as i64).collect::<Vec<i64>>()
    };
    let s = |get: fn(&GeneralisationRow) -> &str| rows.iter().map(get).collect::<Vec<&str>>();
    Ok(DataFrame::new(vec![
        Column::new("train_family".into(), s(|r| &r.train_family)),
        Column::new("test_family".into(), s(|r| &r.test_family)),
        Column::new("layer".into(), i(|r| r.layer)),
        Column::new("method".into(), s(|r| r.method.name())),
        Column::new("accuracy".into(), f(|r| r.accuracy.value)),
        Column::new("accuracy_lo".into(), f(|r| r.accuracy.lo)),
        Column::new("accuracy_hi".into(), f(|r| r.accuracy.hi)),
        Column::new("n_train".into(), i(|r| r.n_train)),
        Column::new("n_test".into(), i(|r| r.n_test)),
    ])?)
}

/// The layer whose in-family cells (`diagonal`: layer and accuracy of every cell whose train
/// and test family are the same) have the highest mean accuracy, the lower layer on ties;
/// `None` without cells. Drawn and printed matrices are taken at this layer.
pub fn best_layer<L: Ord + Copy>(diagonal: impl IntoIterator<Item = (L, f64)>) -> Option<L> {
    let mut sums: BTreeMap<L, (f64, usize)> = BTreeMap::new();
    for (layer, accuracy) in diagonal {
        let entry = sums.entry(layer).or_default();
        entry.0 += accuracy;
        entry.1 += 1;
    }
    sums.into_iter()
        .map(|(layer, (sum, n))| (layer, sum / n as f64))
        .fold(None, |best: Option<(L, f64)>, (layer, mean)| match best {
            Some((_, top)) if top >= mean => best,
            _ => Some((layer, mean)),
        })
        .map(|(layer, _)| layer)
}

/// The matrix of each method at its [`best_layer`], as printed by `probe generalise`: a row per
/// training group, a column per test group.
pub fn format_matrices(rows: &[GeneralisationRow]) -> String {
    let mut methods: Vec<Method> = rows.iter().map(|r| r.method).collect();
    methods.dedup();
    let mut out = String::new();
    for method in methods {
        let diagonal = rows
            .iter()
            .filter(|r| r.method == method && r.train_family == r.test_family)
            .map(|r| (r.layer, r.accuracy.value));
        let Some(layer) = best_layer(diagonal) else {
            continue;
        };
        let cells: Vec<&GeneralisationRow> = rows
            .iter()
            .filter(|r| r.method == method && r.layer == layer)
            .collect();
        let mut tests: Vec<&str> = cells.iter().map(|r| r.test_family.as_str()).collect();
        tests.sort_unstable();
        tests.dedup();
        let width = tests.iter().map(|t| t.len()).max().unwrap_or(0).max(8) + 2;
        out.push_str(&format!(
            "{} at layer {layer} (best mean in-family accuracy); rows: trained on, columns: \
             tested on\n{:<width$}",
            method.name(),
            ""
        ));
        for t in &tests {
            out.push_str(&format!("{t:>width$}"));
        }
        out.push('\n');
        let mut trains: Vec<&str> = cells.iter().map(|r| r.train_family.as_str()).collect();
        trains.dedup();
        for train in trains {
            out.push_str(&format!("{train:<width$}"));
            for t in &tests {
                let cell = cells
                    .iter()
                    .find(|r| r.train_family == train && r.test_family == *t);
                out.push_str(&match cell {
                    Some(r) => format!("{:>width$.3}", r.accuracy.value),
                    None => format!("{:>width$}", "-"),
                });
            }
            out.push('\n');
        }
    }
    out
}
