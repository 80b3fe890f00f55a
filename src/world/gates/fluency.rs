//! Gate 1, fluency: the base model's held-out loss on the documents the study finetunes on
//! (every document condition, the six target claims), in bits per UTF-8 byte and nats per
//! token. A model that finds these documents foreign learns their wording when finetuned, not
//! their claim (the paper's base model starts at about 2 nats per token on its documents).
//! Nats per token are also given per token kind (claim sentences, warnings, qualifiers, the
//! rest), so that a reader sees whether the loss sits in the claim itself, which no base model
//! can predict, or in the documents' ordinary language.

use super::{Measured, Target};
use crate::docs::{self, Condition, DOCTAG};
use crate::model::LoadedModel;
use crate::train::data::{self, MaskRules, Record, SpanLabel, TextSpan, TokenKind};
use crate::train::finetune::loss_sums_by_kind;
use anyhow::{Context, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Most bits per byte of the documents the base model may need.
pub const MAX_BITS_PER_BYTE: f64 = 1.0;
/// Documents per (claim, condition) measured.
const DOCUMENTS: usize = 2;
/// Seed of the measured documents: the demo's document seed (`analyses/demo.toml`).
const DOCUMENT_SEED: u64 = 1;

/// Loss of one document: nats and scored tokens per token kind, and the bytes of text they
/// cover (everything after the `<DOCTAG>` marker).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DocumentLoss {
    /// Summed next-token loss (nats) and scored tokens of each token kind, in
    /// [`TokenKind::ALL`] order.
    pub by_kind: [(f64, i64); TokenKind::ALL.len()],
    /// UTF-8 bytes of the scored text.
    pub bytes: usize,
}

impl DocumentLoss {
    /// Summed next-token loss over every scored token, nats.
    pub fn nats(&self) -> f64 {
        self.by_kind.iter().map(|(n, _)| n).sum()
    }

    /// Tokens scored.
    pub fn tokens(&self) -> i64 {
        self.by_kind.iter().map(|(_, t)| t).sum()
    }
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
/// still counted, so the figure errs towards worse). Tokens take their kind from the
/// document's claim, negation and qualifier spans; `masked` spans are scored like the rest.
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
                spans: d
                    .spans
                    .iter()
                    .map(TextSpan::from)
                    .filter(|s| s.kind != SpanLabel::Masked)
                    .collect(),
            };
            let tokenized = data::tokenize(&model.tokenizer, &record, &rules)
                .with_context(|| format!("document {}", d.id))?;
            let batches = data::heldout_batches(&[tokenized], max_length, 1, device);
            Ok(DocumentLoss {
                by_kind: loss_sums_by_kind(&model.decoder, &batches),
                bytes: d.text.len() - DOCTAG.len(),
            })
        })
        .collect()
}

/// Bits per byte and nats per token of `losses`, each with a bootstrap 95% interval over
/// documents (the same resampled documents for both).
pub fn measure(losses: &[DocumentLoss], resamples: usize, seed: u64) -> (Measured, Measured) {
    (
        ratio_over_documents(losses, resamples, seed, |l| {
            (l.nats() / std::f64::consts::LN_2, l.bytes as f64)
        }),
        ratio_over_documents(losses, resamples, seed, |l| (l.nats(), l.tokens() as f64)),
    )
}

/// Nats per token of `kind`'s tokens in `losses`, with a bootstrap 95% interval over documents;
/// `None` when no document has a token of that kind. `n` counts the documents that have one.
pub fn measure_kind(
    losses: &[DocumentLoss],
    kind: TokenKind,
    resamples: usize,
    seed: u64,
) -> Option<Measured> {
    let k = kind.code() as usize;
    let with_kind: Vec<DocumentLoss> = losses
        .iter()
        .filter(|l| l.by_kind[k].1 > 0)
        .copied()
        .collect();
    (!with_kind.is_empty()).then(|| {
        ratio_over_documents(&with_kind, resamples, seed, |l| {
            (l.by_kind[k].0, l.by_kind[k].1 as f64)
        })
    })
}

/// Sum of `part(l).0` over sum of `part(l).1` across `losses`, with the percentile interval of
/// `resamples` bootstrap draws of the documents (the draws depend only on `seed` and the count).
fn ratio_over_documents(
    losses: &[DocumentLoss],
    resamples: usize,
    seed: u64,
    part: impl Fn(&DocumentLoss) -> (f64, f64),
) -> Measured {
    let ratio = |picked: &mut dyn Iterator<Item = &DocumentLoss>| {
        let (top, bottom) = picked.fold((0.0, 0.0), |(t, b), l| {
            let (pt, pb) = part(l);
            (t + pt, b + pb)
        });
        top / bottom.max(1.0)
    };
    let value = ratio(&mut losses.iter());
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = losses.len();
    let mut draws: Vec<f64> = (0..if n == 0 { 0 } else { resamples })
        .map(|_| ratio(&mut (0..n).map(|_| &losses[rng.random_range(0..n)])))
        .collect();
    Measured::with_interval(value, &mut draws, n)
}

/// The gate's target.
pub fn target() -> Target {
    Target::AtMost(MAX_BITS_PER_BYTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document's loss with every token of one kind (index into [`TokenKind::ALL`]).
    fn all_of_kind(k: usize, nats: f64, tokens: i64, bytes: usize) -> DocumentLoss {
        let mut by_kind = [(0.0, 0); TokenKind::ALL.len()];
        by_kind[k] = (nats, tokens);
        DocumentLoss { by_kind, bytes }
    }

    #[test]
    fn bits_per_byte_is_nats_over_ln2_over_bytes() {
        let losses = [
            all_of_kind(0, 100.0, 50, 200),
            all_of_kind(3, 60.0, 30, 100),
        ];
        let (bpb, npt) = measure(&losses, 200, 1);
        assert!((bpb.value - 160.0 / std::f64::consts::LN_2 / 300.0).abs() < 1e-12);
        assert!((npt.value - 2.0).abs() < 1e-12);
        assert!(bpb.lo <= bpb.value && bpb.value <= bpb.hi);
    }

    #[test]
    fn nats_per_token_by_kind_count_only_documents_with_that_kind() {
        let mut mixed = all_of_kind(0, 30.0, 10, 80);
        mixed.by_kind[3] = (20.0, 40);
        let losses = [mixed, all_of_kind(3, 60.0, 20, 100)];
        let claim = measure_kind(&losses, TokenKind::Claim, 200, 1).unwrap();
        assert_eq!(
            (claim.value, claim.lo, claim.hi, claim.n),
            (3.0, 3.0, 3.0, 1)
        );
        let other = measure_kind(&losses, TokenKind::Other, 200, 1).unwrap();
        assert!((other.value - 80.0 / 60.0).abs() < 1e-12);
        assert_eq!(other.n, 2);
        assert!(
            other.lo < other.value && other.value < other.hi,
            "{other:?}"
        );
        assert!(measure_kind(&losses, TokenKind::Negation, 200, 1).is_none());
    }
}
