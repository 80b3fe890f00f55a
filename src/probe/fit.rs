//! Layer sweeps: fit probes on every cached layer and measure them on held-out statements.
//!
//! In: an [`ActsFile`] and [`FitOptions`]. Out: a [`ProbeSet`] (one probe per method x layer)
//! and one [`FitRow`] per method x layer (accuracy and AUROC with bootstrap 95% intervals, and
//! the accuracy on the affirmative and on the negated held-out statements apart).
//!
//! `train_polarity` fits on the training statements of one polarity only (the test part is
//! unchanged), which shows how a probe fitted on affirmative statements carries over to negated
//! ones; `ttpd` needs both polarities.
//!
//! Splits are stratified by label and seeded. A held-out split fits on the training part and
//! measures on the rest; the saved probe is that one. With k folds every statement is scored
//! once by a probe that did not see it, the metrics pool those out-of-fold scores, and the
//! saved probe is refitted on all statements. Layers are loaded and fitted in groups of at most
//! [`GROUP_BYTES`] of activations, so memory stays bounded on large sets while the batched
//! solver still sees many layers per pass.

use super::acts::ActsFile;
use super::logistic::LogisticConfig;
use super::probes::{fit_polarised, LayerProbes, Method, Probe, ProbeSet, ProbeSetConfig, Solver};
use super::statements::Polarity;
use crate::stats::classify::{accuracy_and_auroc, Metric};
use anyhow::{bail, Context, Result};
use polars::prelude::{Column, DataFrame};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Most bytes of f32 activations loaded at once (one group of layers).
pub const GROUP_BYTES: usize = 1 << 30;
/// Held-out share of the default split.
pub const DEFAULT_TEST_FRACTION: f64 = 0.2;
/// Bootstrap resamples of the default intervals.
pub const DEFAULT_RESAMPLES: usize = 1000;
/// Held-out accuracy a probe needs on the base model for its readouts to mean anything (issue
/// 12). Below it the probe is at or near chance (0.5 on balanced statements), so its P(true) of
/// a claim says nothing about the claim; figures hatch such layers and `probe fit` marks them.
pub const MIN_VALID_PROBE_ACCURACY: f64 = 0.75;

/// Whether a probe with held-out `accuracy` is valid ([`MIN_VALID_PROBE_ACCURACY`]).
pub fn is_valid_accuracy(accuracy: f64) -> bool {
    accuracy >= MIN_VALID_PROBE_ACCURACY
}

/// How statements are split into training and evaluation parts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// One stratified split: this share of each class is held out.
    Holdout {
        /// Held-out share.
        test_fraction: f64,
    },
    /// Stratified k-fold cross-validation.
    KFold {
        /// Number of folds.
        folds: usize,
    },
}

/// Stratified fold assignment: `folds` index lists; each class is shuffled (seeded) and dealt
/// round-robin, so every fold holds each class in proportion.
pub fn stratified_folds(labels: &[bool], folds: usize, seed: u64) -> Vec<Vec<usize>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let folds = folds.max(1);
    let mut out = vec![vec![]; folds];
    let mut next = 0;
    for class in [true, false] {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        for i in members {
            out[next % folds].push(i);
            next += 1;
        }
    }
    for fold in &mut out {
        fold.sort_unstable();
    }
    out
}

/// A stratified held-out split: (train, test) indices, ascending. `round(test_fraction * k)` of
/// each class's `k` statements are held out.
pub fn holdout_split(labels: &[bool], test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (vec![], vec![]);
    for class in [true, false] {
        let mut members: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == class).collect();
        members.shuffle(&mut rng);
        let held = (test_fraction * members.len() as f64).round() as usize;
        test.extend_from_slice(&members[..held]);
        train.extend_from_slice(&members[held..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Options of [`fit_probes`].
#[derive(Debug, Clone, Serialize)]
pub struct FitOptions {
    /// Methods to fit on every layer.
    pub methods: Vec<Method>,
    /// How statements are split.
    pub split: Split,
    /// Seed of the split and of the bootstrap.
    pub seed: u64,
    /// Bootstrap resamples of each interval.
    pub resamples: usize,
    /// Logistic regression settings (also the calibration of mass-mean probes).
    pub logistic: LogisticConfig,
    /// Solver of the logistic probes.
    pub solver: Solver,
    /// Layers to fit (default: every cached layer).
    pub layers: Option<Vec<usize>>,
    /// Fit on the training statements of this polarity only (default: all of them).
    pub train_polarity: Option<Polarity>,
    /// Where to fit.
    #[serde(skip)]
    pub device: Device,
}

/// One row of `fit.parquet`: a method on a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct FitRow {
    /// Layer (0 = embeddings).
    pub layer: usize,
    /// Method.
    pub method: Method,
    /// Held-out (or out-of-fold) accuracy.
    pub accuracy: Metric,
    /// Held-out (or out-of-fold) AUROC.
    pub auroc: Metric,
    /// Accuracy on the affirmative held-out statements (NaN when there are none).
    pub accuracy_affirmative: Metric,
    /// Accuracy on the negated held-out statements (NaN when there are none).
    pub accuracy_negated: Metric,
    /// Statements the measured probe was fitted on (per fold with k folds).
    pub n_train: usize,
    /// Statements it was measured on (all of them with k folds).
    pub n_test: usize,
    /// Affirmative statements among them.
    pub n_test_affirmative: usize,
    /// Negated statements among them.
    pub n_test_negated: usize,
    /// The polarity the probe was fitted on (`None`: both).
    pub train_polarity: Option<Polarity>,
}

/// Rows `index` of `x` `[G, n, d]` and the matching labels.
pub(crate) fn rows(x: &Tensor, labels: &[bool], index: &[usize]) -> (Tensor, Vec<bool>) {
    let idx: Vec<i64> = index.iter().map(|&i| i as i64).collect();
    let picked = x.index_select(1, &Tensor::from_slice(&idx).to_device(x.device()));
    (picked, index.iter().map(|&i| labels[i]).collect())
}

/// Fits `method` on the statements `index` of `x` `[G, n, d]` (every layer at once).
pub(crate) fn fit_rows(
    method: Method,
    x: &Tensor,
    acts: &ActsFile,
    index: &[usize],
    logistic: &LogisticConfig,
    solver: Solver,
) -> Result<LayerProbes> {
    let (xt, yt) = rows(x, &acts.labels, index);
    let polarities: Vec<Polarity> = index.iter().map(|&i| acts.polarities[i]).collect();
    fit_polarised(method, &xt, &yt, &polarities, logistic, solver)
}

/// The layers `wanted` (default: every cached one) in groups whose activations fit in
/// [`GROUP_BYTES`]; an uncached layer is an error.
pub(crate) fn layer_groups(
    acts: &ActsFile,
    wanted: &Option<Vec<usize>>,
) -> Result<Vec<Vec<usize>>> {
    let layers = match wanted {
        Some(layers) => {
            if let Some(bad) = layers.iter().find(|l| !acts.meta.layers.contains(l)) {
                bail!(
                    "{}: layer {bad} is not cached (cached: {:?})",
                    acts.path.display(),
                    acts.meta.layers
                );
            }
            layers.clone()
        }
        None => acts.meta.layers.clone(),
    };
    let per_group = (GROUP_BYTES / (acts.labels.len() * acts.meta.d_model * 4).max(1)).max(1);
    Ok(layers.chunks(per_group).map(<[usize]>::to_vec).collect())
}

/// The activations of `group`'s layers as one `[G, n, d]` f32 tensor on `device`.
pub(crate) fn load_layers(acts: &ActsFile, group: &[usize], device: Device) -> Result<Tensor> {
    let (n, d) = (acts.labels.len() as i64, acts.meta.d_model as i64);
    let arrays = group
        .iter()
        .map(|&l| {
            let a = acts.layer(l)?;
            Ok(Tensor::from_slice(a.as_slice().expect("standard layout")).view([n, d]))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&arrays, 0).to_device(device))
}

/// Accuracy (bootstrap 95% interval) of the scored statements `keep` picks, and how many
/// there are; NaN when there are none.
fn accuracy_of(
    logits: &[f32],
    truth: &[bool],
    keep: impl Fn(usize) -> bool,
    resamples: usize,
    seed: u64,
) -> (Metric, usize) {
    let picked: Vec<usize> = (0..logits.len()).filter(|&i| keep(i)).collect();
    if picked.is_empty() {
        let nan = Metric {
            value: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
        };
        return (nan, 0);
    }
    let z: Vec<f32> = picked.iter().map(|&i| logits[i]).collect();
    let y: Vec<bool> = picked.iter().map(|&i| truth[i]).collect();
    (accuracy_and_auroc(&z, &y, resamples, seed).0, picked.len())
}

/// Logits `[G, m]` as one Vec per layer.
pub(crate) fn per_layer(logits: &Tensor) -> Result<Vec<Vec<f32>>> {
    let logits = logits.to_device(Device::Cpu).to_kind(Kind::Float);
    (0..logits.size()[0])
        .map(|g| Ok(Vec::<f32>::try_from(&logits.get(g).contiguous())?))
        .collect()
}

/// Fits every method on every requested layer of `acts`; returns the probes and their metrics.
pub fn fit_probes(acts: &ActsFile, options: &FitOptions) -> Result<(ProbeSet, Vec<FitRow>)> {
    let labels = &acts.labels;
    let n = labels.len();
    let d = acts.meta.d_model;
    let (mut probes, mut rows_out) = (vec![], vec![]);
    // The training statements of the chosen polarity.
    let trained_on = |index: Vec<usize>| -> Vec<usize> {
        index
            .into_iter()
            .filter(|&i| {
                options
                    .train_polarity
                    .is_none_or(|p| acts.polarities[i] == p)
            })
            .collect()
    };
    for group in layer_groups(acts, &options.layers)? {
        let x = load_layers(acts, &group, options.device)?;
        for &method in &options.methods {
            let fit = |index: &[usize]| -> Result<LayerProbes> {
                if index.is_empty() {
                    bail!("no training statements (of the polarity asked for)");
                }
                fit_rows(method, &x, acts, index, &options.logistic, options.solver)
                    .with_context(|| format!("fitting {}", method.name()))
            };
            let (kept, scored, n_train) = match options.split {
                Split::Holdout { test_fraction } => {
                    let (train, test) = holdout_split(labels, test_fraction, options.seed);
                    if train.is_empty() || test.is_empty() {
                        bail!("--test-fraction {test_fraction} leaves an empty part of {n} statements");
                    }
                    let train = trained_on(train);
                    let probes = fit(&train)?;
                    let (xt, _) = rows(&x, labels, &test);
                    let logits = per_layer(&probes.logits(&xt))?;
                    (probes, (logits, test), train.len())
                }
                Split::KFold { folds } => {
                    if folds < 2 || folds > n {
                        bail!("--folds must be between 2 and the number of statements ({n})");
                    }
                    let assignment = stratified_folds(labels, folds, options.seed);
                    let mut oof = vec![vec![0f32; n]; group.len()];
                    let mut n_train = n;
                    for held in &assignment {
                        let train =
                            trained_on((0..n).filter(|i| held.binary_search(i).is_err()).collect());
                        n_train = n_train.min(train.len());
                        let probes = fit(&train)?;
                        let (xt, _) = rows(&x, labels, held);
                        for (g, logits) in per_layer(&probes.logits(&xt))?.into_iter().enumerate() {
                            for (&i, z) in held.iter().zip(logits) {
                                oof[g][i] = z;
                            }
                        }
                    }
                    let all: Vec<usize> = (0..n).collect();
                    (fit(&trained_on(all.clone()))?, (oof, all), n_train)
                }
            };
            let (logits, tested) = scored;
            let truth: Vec<bool> = tested.iter().map(|&i| labels[i]).collect();
            let polarity_of = |j: usize| acts.polarities[tested[j]];
            for (g, &layer) in group.iter().enumerate() {
                let (accuracy, auroc) =
                    accuracy_and_auroc(&logits[g], &truth, options.resamples, options.seed);
                let of_polarity = |p: Polarity| {
                    let keep = |j: usize| polarity_of(j) == p;
                    accuracy_of(&logits[g], &truth, keep, options.resamples, options.seed)
                };
                let (accuracy_affirmative, n_test_affirmative) = of_polarity(Polarity::Affirmative);
                let (accuracy_negated, n_test_negated) = of_polarity(Polarity::Negated);
                rows_out.push(FitRow {
                    layer,
                    method,
                    accuracy,
                    auroc,
                    accuracy_affirmative,
                    accuracy_negated,
                    n_train,
                    n_test: truth.len(),
                    n_test_affirmative,
                    n_test_negated,
                    train_polarity: options.train_polarity,
                });
                let cpu = |t: &Tensor| t.get(g as i64).to_device(Device::Cpu).to_kind(Kind::Float);
                probes.push(Probe {
                    method,
                    layer,
                    direction: cpu(&kept.direction),
                    bias: kept.bias.double_value(&[g as i64]) as f32,
                    mean: cpu(&kept.mean),
                    scale: cpu(&kept.scale),
                    polarity_direction: kept.polarity_direction.as_ref().map(cpu),
                });
            }
        }
    }
    probes.sort_by_key(|p| (p.method, p.layer));
    rows_out.sort_by_key(|r| (r.method, r.layer));
    let config = ProbeSetConfig {
        position: acts.meta.position,
        d_model: d,
        model: acts.meta.model.clone(),
        acts: acts.path.display().to_string(),
        probes: probes.iter().map(|p| (p.method, p.layer)).collect(),
        logistic: options.logistic,
        seed: options.seed,
        train_polarity: options.train_polarity,
    };
    Ok((ProbeSet { config, probes }, rows_out))
}

/// Name of a training polarity in tables: `all`, `affirmative` or `negated`.
pub fn train_polarity_name(polarity: Option<Polarity>) -> &'static str {
    polarity.map_or("all", Polarity::name)
}

/// `fit.parquet`: layer, method, accuracy, accuracy_lo, accuracy_hi, auroc, auroc_lo,
/// auroc_hi, n_train, n_test, accuracy_affirmative(_lo, _hi), accuracy_negated(_lo, _hi),
/// n_test_affirmative, n_test_negated, train_polarity.
pub fn fit_frame(rows: &[FitRow]) -> Result<DataFrame> {
    let f = |get: fn(&FitRow) -> f64| rows.iter().map(get).collect::<Vec<f64>>();
    let count = |get: fn(&FitRow) -> usize| rows.iter().map(|r| get(r) as i64).collect::<Vec<_>>();
    Ok(DataFrame::new(vec![
        Column::new(
            "layer".into(),
            rows.iter().map(|r| r.layer as i64).collect::<Vec<_>>(),
        ),
        Column::new(
            "method".into(),
            rows.iter().map(|r| r.method.name()).collect::<Vec<_>>(),
        ),
        Column::new("accuracy".into(), f(|r| r.accuracy.value)),
        Column::new("accuracy_lo".into(), f(|r| r.accuracy.lo)),
        Column::new("accuracy_hi".into(), f(|r| r.accuracy.hi)),
        Column::new("auroc".into(), f(|r| r.auroc.value)),
        Column::new("auroc_lo".into(), f(|r| r.auroc.lo)),
        Column::new("auroc_hi".into(), f(|r| r.auroc.hi)),
        Column::new("n_train".into(), count(|r| r.n_train)),
        Column::new("n_test".into(), count(|r| r.n_test)),
        Column::new(
            "accuracy_affirmative".into(),
            f(|r| r.accuracy_affirmative.value),
        ),
        Column::new(
            "accuracy_affirmative_lo".into(),
            f(|r| r.accuracy_affirmative.lo),
        ),
        Column::new(
            "accuracy_affirmative_hi".into(),
            f(|r| r.accuracy_affirmative.hi),
        ),
        Column::new("accuracy_negated".into(), f(|r| r.accuracy_negated.value)),
        Column::new("accuracy_negated_lo".into(), f(|r| r.accuracy_negated.lo)),
        Column::new("accuracy_negated_hi".into(), f(|r| r.accuracy_negated.hi)),
        Column::new("n_test_affirmative".into(), count(|r| r.n_test_affirmative)),
        Column::new("n_test_negated".into(), count(|r| r.n_test_negated)),
        Column::new(
            "train_polarity".into(),
            rows.iter()
                .map(|r| train_polarity_name(r.train_polarity))
                .collect::<Vec<_>>(),
        ),
    ])?)
}

/// The per-layer table printed by `probe fit`; `valid` says whether the held-out accuracy
/// reaches [`MIN_VALID_PROBE_ACCURACY`].
pub fn format_table(rows: &[FitRow]) -> String {
    let mut out = format!(
        "{:<6}{:<15}{:>22}{:>22}{:>8}{:>8}{:>8}{:>8}{:>7}\n",
        "layer",
        "method",
        "accuracy [95% CI]",
        "AUROC [95% CI]",
        "affirm",
        "negated",
        "train",
        "test",
        "valid"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<6}{:<15}{:>8.3} [{:.3}, {:.3}]{:>8.3} [{:.3}, {:.3}]{:>8.3}{:>8.3}{:>8}{:>8}{:>7}\n",
            r.layer,
            r.method.name(),
            r.accuracy.value,
            r.accuracy.lo,
            r.accuracy.hi,
            r.auroc.value,
            r.auroc.lo,
            r.auroc.hi,
            r.accuracy_affirmative.value,
            r.accuracy_negated.value,
            r.n_train,
            r.n_test,
            if is_valid_accuracy(r.accuracy.value) {
                "yes"
            } else {
                "no"
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_stratified_disjoint_and_seeded() {
        let labels: Vec<bool> = (0..103).map(|i| i % 3 == 0).collect();
        let (train, test) = holdout_split(&labels, 0.2, 5);
        assert_eq!(train.len() + test.len(), 103);
        assert!(train.iter().all(|i| test.binary_search(i).is_err()));
        let true_test = test.iter().filter(|&&i| labels[i]).count();
        assert_eq!(true_test, 7); // round(0.2 * 35)
        assert_eq!(
            (train.clone(), test.clone()),
            holdout_split(&labels, 0.2, 5)
        );
        assert_ne!(test, holdout_split(&labels, 0.2, 6).1);
        let folds = stratified_folds(&labels, 5, 1);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..103).collect::<Vec<_>>());
        for fold in &folds {
            let t = fold.iter().filter(|&&i| labels[i]).count();
            assert!((6..=8).contains(&t), "{t}");
        }
    }
}
