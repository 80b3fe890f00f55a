//! Readouts: what probes fitted on the base model say about a claim, checkpoint by checkpoint.
//!
//! In: a [`ProbeSet`], a loaded model (one checkpoint of a run) and the statements to read:
//! the claim's ([`claim_statements`]: the first sentence of `claim.txt`, and the subject with
//! each asserted predicate, as `claim`; the subject with each negated predicate, as `negation`)
//! and, in experiments, control statements ([`control_statements`]: unrelated true and false
//! facts of the probe dataset, as `control_true` / `control_false`), so that a drift of every
//! statement towards "true" shows as such rather than as belief in the claim. Out: one
//! [`ReadoutRow`] per statement x probe: P(true) of the statement's activation at the probe's
//! layer, pooled as the probes were fitted (last token or mean).

use super::acts::{statement_activations, Position};
use super::probes::ProbeSet;
use super::statements::Statement;
use crate::claims::ClaimSpec;
use crate::model::LoadedModel;
use anyhow::{bail, Result};
use polars::prelude::{Column, DataFrame};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Statements per forward pass of a readout.
pub const READOUT_BATCH: usize = 16;

/// What a read-out statement is: the claim, its negation, or a control fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// The claim or an asserted paraphrase.
    Claim,
    /// A locally negated paraphrase.
    Negation,
    /// An unrelated true statement of the probe dataset.
    ControlTrue,
    /// An unrelated false statement of the probe dataset.
    ControlFalse,
}

impl StatementKind {
    /// Name as written in tables.
    pub fn name(self) -> &'static str {
        match self {
            StatementKind::Claim => "claim",
            StatementKind::Negation => "negation",
            StatementKind::ControlTrue => "control_true",
            StatementKind::ControlFalse => "control_false",
        }
    }
}

/// The claim's statements: the first sentence of `claim.txt` (when the folder has one), then
/// `subject + predicate` for every asserted and every negated predicate.
pub fn claim_statements(spec: &ClaimSpec) -> Vec<(String, StatementKind)> {
    let mut out = vec![];
    if let Some(text) = &spec.claim_text {
        if let Some(first) = crate::docs::text::split_sentences(text).first() {
            out.push((text[first.clone()].to_string(), StatementKind::Claim));
        }
    }
    for (asserted, kind) in [
        (true, StatementKind::Claim),
        (false, StatementKind::Negation),
    ] {
        for predicate in &spec.predicates {
            out.push((
                format!("{} {}.", spec.subject, predicate.get(asserted)),
                kind,
            ));
        }
    }
    out
}

/// Control statements: a seeded sample of `per_class` true and `per_class` false statements of
/// `statements` (fewer when `pool` holds fewer of a class), taken from `pool` (indices into
/// `statements`), true ones first, each class in file order. Experiments pass the probe fit's
/// held-out split as `pool`, so no control statement was in a probe's training part; its
/// held-out accuracy was measured on them, among others. The same arguments give the same
/// sample.
pub fn control_statements(
    statements: &[Statement],
    pool: &[usize],
    per_class: usize,
    seed: u64,
) -> Vec<(String, StatementKind)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = vec![];
    for (label, kind) in [
        (true, StatementKind::ControlTrue),
        (false, StatementKind::ControlFalse),
    ] {
        let mut members: Vec<usize> = pool
            .iter()
            .copied()
            .filter(|&i| statements[i].label == label)
            .collect();
        members.shuffle(&mut rng);
        members.truncate(per_class);
        members.sort_unstable();
        out.extend(
            members
                .into_iter()
                .map(|i| (statements[i].text.clone(), kind)),
        );
    }
    out
}

/// One row of a readout table.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadoutRow {
    /// Training step of the checkpoint.
    pub step: i64,
    /// Layer the probe reads.
    pub layer: usize,
    /// The probe's method name.
    pub method: &'static str,
    /// The statement.
    pub statement: String,
    /// Claim, negation or control.
    pub kind: StatementKind,
    /// P(true) under the probe.
    pub score: f64,
}

/// Applies every probe of `probes` to `statements` run through `model`, labelling the rows
/// with `step`.
pub fn readout(
    probes: &ProbeSet,
    model: &LoadedModel,
    statements: &[(String, StatementKind)],
    step: i64,
) -> Result<Vec<ReadoutRow>> {
    let d_model = model.decoder.config.hidden_size as usize;
    if d_model != probes.config.d_model {
        bail!(
            "{}: d_model {d_model}, but the probes were fitted on d_model {}",
            model.dir.display(),
            probes.config.d_model
        );
    }
    let layers = probes.layers();
    let position: Position = probes.config.position;
    // Activations per layer, all statements: [m, d] each.
    let mut acts: Vec<Vec<tch::Tensor>> = layers.iter().map(|_| vec![]).collect();
    for chunk in statements.chunks(READOUT_BATCH) {
        let texts: Vec<&str> = chunk.iter().map(|(s, _)| s.as_str()).collect();
        for (slot, t) in acts
            .iter_mut()
            .zip(statement_activations(model, &texts, &layers, position)?)
        {
            slot.push(t);
        }
    }
    let acts: Vec<tch::Tensor> = acts
        .iter()
        .map(|parts| tch::Tensor::cat(parts, 0))
        .collect();
    let mut rows = vec![];
    for probe in &probes.probes {
        let index = layers
            .iter()
            .position(|&l| l == probe.layer)
            .expect("layers() lists every probe's layer");
        for ((statement, kind), score) in statements.iter().zip(probe.p_true(&acts[index])?) {
            rows.push(ReadoutRow {
                step,
                layer: probe.layer,
                method: probe.method.name(),
                statement: statement.clone(),
                kind: *kind,
                score,
            });
        }
    }
    Ok(rows)
}

/// The readout table: step, layer, method, statement, statement_kind, score.
pub fn readout_frame(rows: &[ReadoutRow]) -> Result<DataFrame> {
    Ok(DataFrame::new(vec![
        Column::new(
            "step".into(),
            rows.iter().map(|r| r.step).collect::<Vec<_>>(),
        ),
        Column::new(
            "layer".into(),
            rows.iter().map(|r| r.layer as i64).collect::<Vec<_>>(),
        ),
        Column::new(
            "method".into(),
            rows.iter().map(|r| r.method).collect::<Vec<_>>(),
        ),
        Column::new(
            "statement".into(),
            rows.iter()
                .map(|r| r.statement.as_str())
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "statement_kind".into(),
            rows.iter().map(|r| r.kind.name()).collect::<Vec<_>>(),
        ),
        Column::new(
            "score".into(),
            rows.iter().map(|r| r.score).collect::<Vec<_>>(),
        ),
    ])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_a_seeded_balanced_sample_of_the_pool() {
        let statements: Vec<Statement> = (0..40)
            .map(|i| Statement {
                text: format!("s{i}"),
                label: i % 2 == 0,
                family: String::new(),
                polarity: Default::default(),
            })
            .collect();
        let pool: Vec<usize> = (10..40).collect();
        let controls = control_statements(&statements, &pool, 5, 3);
        assert_eq!(controls.len(), 10);
        let (yes, no) = controls.split_at(5);
        assert!(yes.iter().all(|(_, k)| *k == StatementKind::ControlTrue));
        assert!(no.iter().all(|(_, k)| *k == StatementKind::ControlFalse));
        for (text, kind) in &controls {
            let i: usize = text[1..].parse().unwrap();
            assert!(i >= 10, "{text} is outside the pool");
            assert_eq!(statements[i].label, *kind == StatementKind::ControlTrue);
        }
        assert_eq!(controls, control_statements(&statements, &pool, 5, 3));
        assert_ne!(controls, control_statements(&statements, &pool, 5, 4));
        // A pool with fewer statements of a class than asked gives what it has.
        let few = control_statements(&statements, &[0, 1, 3], 5, 3);
        assert_eq!(
            few,
            [
                ("s0".to_string(), StatementKind::ControlTrue),
                ("s1".to_string(), StatementKind::ControlFalse),
                ("s3".to_string(), StatementKind::ControlFalse)
            ]
        );
    }
}
