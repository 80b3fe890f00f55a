//! Gate 5, a truth direction: logistic probes on the residual stream at the last token of
//! plain statements about the world ([`World::truth_statements`]), one per layer.
//!
//! - held out by subject: a seeded fifth of the subjects is the test set, so no subject is on
//!   both sides; the gate reads the best layer's test accuracy;
//! - across families: at that layer, a probe trained on one relation's statements (professions,
//!   home cities, birth years: every relation with enough statements) and tested on another,
//!   for every ordered pair, pooled.
//!
//! Probes whose base-model accuracy is near chance cannot be read out meaningfully at any
//! checkpoint; this gate says whether the model has a direction worth reading. Beside it,
//! [`verdicts`] asks the model itself, in the corpus's fact-check format, so a reader can tell
//! a probe that misses a computed truth from a model that does not compute it.

use super::Measured;
use crate::eval::score::{score_items, ScoreItem};
use crate::model::LoadedModel;
use crate::probe::acts::{statement_activations, Position};
use crate::probe::logistic::LogisticConfig;
use crate::probe::probes::{fit_method, Method, Solver};
use crate::stats::classify::accuracy_and_auroc;
use crate::world::corpus::FACT_CHECK_HEADERS;
use crate::world::facts::Relation;
use crate::world::{stream, TruthStatement};
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use std::collections::BTreeMap;
use tch::{Kind, Tensor};

/// Held-out accuracy the best layer must reach.
pub const MIN_HELDOUT: f64 = 0.90;
/// Pooled cross-family accuracy the same layer must reach.
pub const MIN_CROSS_FAMILY: f64 = 0.75;
/// Fewest statements the gate accepts.
pub const MIN_STATEMENTS: usize = 1000;
/// Share of the subjects held out.
const TEST_SHARE: f64 = 0.2;
/// A relation with fewer statements is not a family of the cross-family test.
const MIN_FAMILY: usize = 40;
/// Statements per forward pass.
const BATCH: usize = 64;

/// What the gate measured.
#[derive(Debug, Clone)]
pub struct TruthResult {
    /// Held-out (by subject) accuracy of every layer (0 = embeddings).
    pub per_layer: Vec<f64>,
    /// The best layer.
    pub layer: usize,
    /// Its held-out accuracy with a bootstrap interval over test statements.
    pub heldout: Measured,
    /// Pooled accuracy of every ordered family pair at that layer.
    pub cross_family: Measured,
    /// The families of the cross-family test.
    pub families: Vec<Relation>,
}

/// Activations of `statements` at every layer: `[layers + 1, n, d]` (f32, CPU).
fn activations(model: &LoadedModel, statements: &[TruthStatement]) -> Result<Tensor> {
    let layers: Vec<usize> = (0..=model.decoder.config.num_layers as usize).collect();
    let mut per_layer: Vec<Vec<Tensor>> = layers.iter().map(|_| vec![]).collect();
    for chunk in statements.chunks(BATCH) {
        let texts: Vec<&str> = chunk.iter().map(|s| s.text.as_str()).collect();
        for (l, t) in statement_activations(model, &texts, &layers, Position::Last)?
            .into_iter()
            .enumerate()
        {
            per_layer[l].push(t);
        }
    }
    Ok(Tensor::stack(
        &per_layer
            .iter()
            .map(|ts| Tensor::cat(ts, 0))
            .collect::<Vec<_>>(),
        0,
    )
    .to_kind(Kind::Float))
}

/// Test accuracy per layer of probes fitted on `train` and scored on `test` (indices into the
/// second axis of `x` `[G, n, d]`); also returns the test logits `[G, m]`.
fn fit_and_score(
    x: &Tensor,
    labels: &[bool],
    train: &[usize],
    test: &[usize],
) -> Result<(Vec<f64>, Vec<Vec<f32>>)> {
    let index =
        |ids: &[usize]| Tensor::from_slice(&ids.iter().map(|&i| i as i64).collect::<Vec<_>>());
    let pick = |ids: &[usize]| ids.iter().map(|&i| labels[i]).collect::<Vec<bool>>();
    let probes = fit_method(
        Method::Lr,
        &x.index_select(1, &index(train)),
        &pick(train),
        &LogisticConfig::default(),
        Solver::Batched,
    )?;
    let logits = probes.logits(&x.index_select(1, &index(test)));
    let test_labels = pick(test);
    let mut accs = vec![];
    let mut all = vec![];
    for g in 0..logits.size()[0] {
        let l = Vec::<f32>::try_from(&logits.get(g).contiguous())?;
        accs.push(crate::stats::classify::accuracy(&l, &test_labels));
        all.push(l);
    }
    Ok((accs, all))
}

/// Runs the truth-direction measurement on `statements`.
pub fn measure(
    model: &LoadedModel,
    statements: &[TruthStatement],
    resamples: usize,
    seed: u64,
) -> Result<TruthResult> {
    if statements.len() < 2 {
        bail!("too few truth statements ({})", statements.len());
    }
    let labels: Vec<bool> = statements.iter().map(|s| s.label).collect();
    let x = activations(model, statements)?;
    // Split by subject.
    let mut subjects: Vec<&str> = statements.iter().map(|s| s.subject.as_str()).collect();
    subjects.sort_unstable();
    subjects.dedup();
    subjects.shuffle(&mut stream(seed, 30));
    let held: std::collections::HashSet<&str> = subjects
        [..((subjects.len() as f64 * TEST_SHARE).round() as usize).max(1)]
        .iter()
        .copied()
        .collect();
    let (test, train): (Vec<usize>, Vec<usize>) =
        (0..statements.len()).partition(|&i| held.contains(statements[i].subject.as_str()));
    let (per_layer, logits) = fit_and_score(&x, &labels, &train, &test)?;
    let layer = per_layer
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(l, _)| l)
        .expect("at least the embeddings");
    let test_labels: Vec<bool> = test.iter().map(|&i| labels[i]).collect();
    let (acc, _) = accuracy_and_auroc(&logits[layer], &test_labels, resamples, seed);
    let heldout = Measured {
        value: acc.value,
        lo: acc.lo,
        hi: acc.hi,
        n: test.len(),
    };
    // Across families, at the chosen layer.
    let mut by_family: BTreeMap<Relation, Vec<usize>> = BTreeMap::new();
    for (i, s) in statements.iter().enumerate() {
        by_family.entry(s.relation).or_default().push(i);
    }
    by_family.retain(|_, ids| {
        let trues = ids.iter().filter(|&&i| labels[i]).count();
        ids.len() >= MIN_FAMILY && trues > 0 && trues < ids.len()
    });
    let families: Vec<Relation> = by_family.keys().copied().collect();
    let layer_x = x.narrow(0, layer as i64, 1);
    let (mut pooled_logits, mut pooled_labels) = (vec![], vec![]);
    for (a, train_ids) in &by_family {
        for (b, test_ids) in &by_family {
            if a == b {
                continue;
            }
            let (_, l) = fit_and_score(&layer_x, &labels, train_ids, test_ids)?;
            pooled_logits.extend(&l[0]);
            pooled_labels.extend(test_ids.iter().map(|&i| labels[i]));
        }
    }
    let cross_family = if pooled_logits.is_empty() {
        Measured::missing()
    } else {
        let (acc, _) = accuracy_and_auroc(&pooled_logits, &pooled_labels, resamples, seed);
        Measured {
            value: acc.value,
            lo: acc.lo,
            hi: acc.hi,
            n: pooled_labels.len(),
        }
    };
    Ok(TruthResult {
        per_layer,
        layer,
        heldout,
        cross_family,
        families,
    })
}

/// The model's own verdict on each statement, as the corpus's fact checks give one: after
/// `<header>\n<statement>`, the summed log-probability of " True." against " False.". Returns
/// the accuracy of those verdicts with a bootstrap interval over statements.
pub fn verdicts(
    model: &LoadedModel,
    statements: &[TruthStatement],
    batch_size: usize,
    resamples: usize,
    seed: u64,
) -> Result<Measured> {
    let encode = |text: &str, special: bool| model.tokenizer.encode(text, special);
    let verdict = [encode(" True.", false)?, encode(" False.", false)?];
    let mut items = Vec::with_capacity(2 * statements.len());
    for s in statements {
        let prompt = encode(&format!("{}\n{}", FACT_CHECK_HEADERS[0], s.text), true)?;
        for continuation in &verdict {
            items.push(ScoreItem {
                prompt: prompt.clone(),
                continuation: continuation.clone(),
            });
        }
    }
    let scores = score_items(model, &items, batch_size)?;
    let margins: Vec<f32> = scores
        .chunks(2)
        .map(|pair| (pair[0].sum - pair[1].sum) as f32)
        .collect();
    let labels: Vec<bool> = statements.iter().map(|s| s.label).collect();
    let (acc, _) = accuracy_and_auroc(&margins, &labels, resamples, seed);
    Ok(Measured {
        value: acc.value,
        lo: acc.lo,
        hi: acc.hi,
        n: statements.len(),
    })
}
