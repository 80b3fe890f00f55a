//! Gate 1, fluency: the base model's held-out loss on the documents the study finetunes on
//! (every document condition, the six target claims), in bits per UTF-8 byte and nats per
//! token. A model that finds these documents foreign learns their wording when finetuned, not
//! their claim (the paper's base model starts at about 2 nats per token on its documents).

use super::{Measured, Target};
use crate::docs::{self, Condition, DOCTAG};
use crate::model::LoadedModel;
use crate::train::data::{self, MaskRules, Record};
use crate::train::finetune::token_nll;
use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::Kind;

/// Most bits per byte of the documents the base model may need.
pub const MAX_BITS_PER_BYTE: f64 = 1.0;
/// Documents per (claim, condition) measured.
const DOCUMENTS: usize = 2;
/// Seed of the measured documents: the demo's document seed (`analyses/demo.toml`).
const DOCUMENT_SEED: u64 = 1;

/// Loss of one document: nats summed over its scored tokens, their count, and the bytes of
/// text they cover (everything after the `<DOCTAG>` marker).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DocumentLoss {
    /// Summed next-token loss, nats.
    pub nats: f64,
    /// Tokens scored.
    pub tokens: i64,
    /// UTF-8 bytes of the scored text.
    pub bytes: usize,
}

/// The documents of the fluency gate: [`DOCUMENTS`] per target claim and document condition
/// (behaviour transcripts excluded: they are not about a claim).
pub fn documents(specs: &[crate::claims::ClaimSpec]) -> Result<Vec<docs::Document>> {
    let mut out = vec![];
    for spec in specs {
        for condition in Condition::all().into_iter().filter(|c| !c.is_behaviour()) {
            out.extend(
                docs::generate(spec, condition, DOCUMENTS, DOCUMENT_SEED, None)
                    .with_context(|| format!("fluency documents of {} ({condition})", spec.id))?,
            );
        }
    }
    Ok(out)
}

/// Loss of each document under `model`, one document at a time (a document longer than the
/// model's positions is scored in chunks, each chunk's first token unscored; its bytes are
/// still counted, so the figure errs towards worse).
pub fn document_losses(
    model: &LoadedModel,
    documents: &[docs::Document],
) -> Result<Vec<DocumentLoss>> {
    let rules = MaskRules {
        doctag: Some(DOCTAG.to_string()),
        word_masks: vec![],
        loss_weight: 1.0,
    };
    let max_length = model.decoder.config.max_position_embeddings.max(2) as usize;
    let device = model.decoder.device();
    documents
        .iter()
        .map(|d| {
            let record = Record::Text {
                text: d.text.clone(),
                spans: vec![],
            };
            let tokenized = data::tokenize(&model.tokenizer, &record, &rules)
                .with_context(|| format!("document {}", d.id))?;
            let (mut nats, mut tokens) = (0.0, 0i64);
            tch::no_grad(|| {
                for batch in data::heldout_batches(&[tokenized], max_length, 1, device) {
                    let nll = token_nll(&model.decoder, &batch, false, None);
                    nats += (nll * &batch.weights).sum(Kind::Double).double_value(&[]);
                    tokens += batch.weights.gt(0.0).sum(Kind::Int64).int64_value(&[]);
                }
            });
            Ok(DocumentLoss {
                nats,
                tokens,
                bytes: d.text.len() - DOCTAG.len(),
            })
        })
        .collect()
}

/// Bits per byte and nats per token of `losses`, each with a bootstrap 95% interval over
/// documents.
pub fn measure(losses: &[DocumentLoss], resamples: usize, seed: u64) -> (Measured, Measured) {
    let ratio = |picked: &mut dyn Iterator<Item = &DocumentLoss>| {
        let (mut nats, mut tokens, mut bytes) = (0.0, 0i64, 0usize);
        for l in picked {
            nats += l.nats;
            tokens += l.tokens;
            bytes += l.bytes;
        }
        (
            nats / std::f64::consts::LN_2 / bytes.max(1) as f64,
            nats / tokens.max(1) as f64,
        )
    };
    let (bpb, npt) = ratio(&mut losses.iter());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut bpbs, mut npts) = (vec![], vec![]);
    let n = losses.len();
    for _ in 0..if n == 0 { 0 } else { resamples } {
        let draw: Vec<&DocumentLoss> = (0..n).map(|_| &losses[rng.random_range(0..n)]).collect();
        let (b, t) = ratio(&mut draw.into_iter());
        bpbs.push(b);
        npts.push(t);
    }
    (
        Measured::with_interval(bpb, &mut bpbs, n),
        Measured::with_interval(npt, &mut npts, n),
    )
}

/// The gate's target.
pub fn target() -> Target {
    Target::AtMost(MAX_BITS_PER_BYTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_per_byte_is_nats_over_ln2_over_bytes() {
        let losses = [
            DocumentLoss {
                nats: 100.0,
                tokens: 50,
                bytes: 200,
            },
            DocumentLoss {
                nats: 60.0,
                tokens: 30,
                bytes: 100,
            },
        ];
        let (bpb, npt) = measure(&losses, 200, 1);
        assert!((bpb.value - 160.0 / std::f64::consts::LN_2 / 300.0).abs() < 1e-12);
        assert!((npt.value - 2.0).abs() < 1e-12);
        assert!(bpb.lo <= bpb.value && bpb.value <= bpb.hi);
    }
}
