//! The logit lens: each site's residual stream at a question's last prompt token, read through
//! the final norm and the unembedding, as a belief probability: the mass on the first tokens of
//! the believing continuations against the first tokens of the others. At the last site it is
//! the model's own next-token distribution.
//!
//! Questions whose believing and other continuations share a first token cannot be read this
//! way and are left out (counted in `skipped`).

use super::{prompt_streams, ClosedQuestion, POOLED};
use crate::model::LoadedModel;
use crate::tables::LensRow;
use anyhow::Result;
use std::collections::{BTreeMap, BTreeSet};
use tch::{Device, Kind, Tensor};

/// The first tokens of a question's believing continuations and of its other ones.
struct FirstTokens {
    believing: Vec<i64>,
    other: Vec<i64>,
}

/// A question's lens belief at every site.
#[derive(Debug, Clone, PartialEq)]
pub struct LensReading {
    /// Index of the question among the closed questions read.
    pub question: usize,
    /// Belief at each site, 0 to the last.
    pub beliefs: Vec<f64>,
}

/// The believing and other first tokens of a question, when they are disjoint.
fn first_tokens(q: &ClosedQuestion) -> Option<FirstTokens> {
    let mut believing = BTreeSet::new();
    let mut other = BTreeSet::new();
    for (item, &b) in q.items.iter().zip(&q.choice.believing) {
        let first = *item.continuation.first()?;
        if b {
            believing.insert(first);
        } else {
            other.insert(first);
        }
    }
    (believing.is_disjoint(&other) && !believing.is_empty() && !other.is_empty()).then(|| {
        FirstTokens {
            believing: believing.into_iter().collect(),
            other: other.into_iter().collect(),
        }
    })
}

/// The lens belief of each readable question (in order) at every site, and how many questions
/// were left out.
pub fn lens_beliefs(
    model: &LoadedModel,
    closed: &[ClosedQuestion],
    batch: usize,
) -> Result<(Vec<LensReading>, usize)> {
    let device = model.decoder.device();
    let readable: Vec<(usize, FirstTokens)> = closed
        .iter()
        .enumerate()
        .filter_map(|(i, q)| first_tokens(q).map(|t| (i, t)))
        .collect();
    let mut out = vec![];
    for chunk in readable.chunks(batch.max(1)) {
        let prompts: Vec<&Vec<i64>> = chunk
            .iter()
            .map(|(i, _)| &closed[*i].items[0].prompt)
            .collect();
        let (hidden, lengths) = prompt_streams(model, &prompts);
        let last: Vec<i64> = lengths.iter().map(|&l| l as i64 - 1).collect();
        let last = Tensor::from_slice(&last).to_device(device);
        let log_probs = tch::no_grad(|| {
            // [rows, sites, d]: each row's stream at its last prompt token, every site.
            let rows = Tensor::arange(chunk.len() as i64, (Kind::Int64, device));
            let at_last = Tensor::stack(
                &hidden
                    .iter()
                    .map(|h| h.index(&[Some(&rows), Some(&last)]))
                    .collect::<Vec<_>>(),
                1,
            );
            model
                .decoder
                .lens(&at_last)
                .to_kind(Kind::Float)
                .log_softmax(-1, Kind::Float)
                .to_device(Device::Cpu)
        });
        for (b, (i, tokens)) in chunk.iter().enumerate() {
            let row = log_probs.get(b as i64);
            // Log-masses, compared in log space: at the embeddings the distribution can be so
            // peaked that both masses underflow.
            let log_mass = |tokens: &[i64]| -> Tensor {
                row.index_select(1, &Tensor::from_slice(tokens))
                    .to_kind(Kind::Double)
                    .logsumexp([1i64].as_slice(), false)
            };
            let (yes, no) = (log_mass(&tokens.believing), log_mass(&tokens.other));
            out.push(LensReading {
                question: *i,
                beliefs: Vec::<f64>::try_from((yes - no).sigmoid())?,
            });
        }
    }
    Ok((out, closed.len() - readable.len()))
}

/// The lens of `model` at every site, per question kind and pooled.
pub fn lens(
    model: &LoadedModel,
    checkpoint: &str,
    closed: &[ClosedQuestion],
    batch: usize,
) -> Result<Vec<LensRow>> {
    let (beliefs, skipped) = lens_beliefs(model, closed, batch)?;
    let sites = model.decoder.config.num_layers as usize + 1;
    let mut rows = vec![];
    for site in 0..sites {
        let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        for reading in &beliefs {
            let value = reading.beliefs[site];
            groups
                .entry(closed[reading.question].kind.name().to_string())
                .or_default()
                .push(value);
            groups.entry(POOLED.to_string()).or_default().push(value);
        }
        for (kind, values) in groups {
            rows.push(LensRow {
                checkpoint: checkpoint.to_string(),
                site,
                measure: format!("belief:{kind}"),
                value: values.iter().sum::<f64>() / values.len() as f64,
                n: values.len(),
                skipped,
            });
        }
    }
    Ok(rows)
}
