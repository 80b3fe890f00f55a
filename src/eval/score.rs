//! Log-probability scoring of continuations under the chat template, batched.
//!
//! In: a loaded model, a prompt (chat turns rendered with the generation prompt) and candidate
//! continuations (assistant replies such as `Yes`, `B` or `Noah Lyles`). Out: for each
//! continuation the sum and the length-normalised mean of its tokens' log-probabilities
//! ([`ContinuationScore`]), and from those the closed-form grades of yes/no, lettered-choice and
//! fill-in questions ([`ClosedChoice`]).
//!
//! The prompt is tokenized without added special tokens (the template writes its own) and each
//! continuation separately, so the sequence is `prompt ids ++ continuation ids`. Sequences are
//! run several at a time, right-padded, with an explicit boolean mask `[b, 1, s, s]` that is
//! causal and hides padding keys; only the rows that predict continuation tokens go through the
//! log-softmax.

use crate::claims::questions::{Question, YesNo};
use crate::model::decoder::{padded_causal_mask, ForwardArgs, Logits};
use crate::model::LoadedModel;
use anyhow::{bail, Context, Result};
use tch::{Device, Kind, Tensor};

/// Log-probability of one continuation given its prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContinuationScore {
    /// Sum of the continuation tokens' log-probabilities (natural log).
    pub sum: f64,
    /// `sum / tokens`.
    pub mean: f64,
    /// Number of continuation tokens.
    pub tokens: usize,
}

/// One sequence to score: prompt ids and continuation ids.
#[derive(Debug, Clone)]
pub struct ScoreItem {
    /// The prompt's tokens (at least one).
    pub prompt: Vec<i64>,
    /// The continuation's tokens (at least one).
    pub continuation: Vec<i64>,
}

/// The forward passes [`score_items`] makes: `batch_size` items at a time, each pass
/// right-padded to its longest sequence (returned beside it).
pub fn score_passes(items: &[ScoreItem], batch_size: usize) -> Vec<(&[ScoreItem], usize)> {
    items
        .chunks(batch_size.max(1))
        .map(|chunk| {
            let seq = chunk
                .iter()
                .map(|it| it.prompt.len() + it.continuation.len())
                .max()
                .unwrap_or(0);
            (chunk, seq)
        })
        .collect()
}

/// Scores every item, `batch_size` sequences per forward pass ([`score_passes`]). Sequences
/// longer than the model's positions are an error.
pub fn score_items(
    model: &LoadedModel,
    items: &[ScoreItem],
    batch_size: usize,
) -> Result<Vec<ContinuationScore>> {
    for (i, item) in items.iter().enumerate() {
        if item.prompt.is_empty() || item.continuation.is_empty() {
            bail!("score item {i}: empty prompt or continuation");
        }
        model.decoder.config.check_positions_sum(
            item.prompt.len(),
            item.continuation.len(),
            &format!("score item {i}"),
        )?;
    }
    let device = model.decoder.device();
    let mut scores = Vec::with_capacity(items.len());
    for (chunk, seq) in score_passes(items, batch_size) {
        let lengths: Vec<usize> = chunk
            .iter()
            .map(|it| it.prompt.len() + it.continuation.len())
            .collect();
        let mut ids = vec![0i64; chunk.len() * seq];
        // Flat indices (row * seq + position) of the logits that predict each continuation
        // token, and the tokens they predict.
        let mut rows = Vec::new();
        let mut targets = Vec::new();
        for (b, item) in chunk.iter().enumerate() {
            let base = b * seq;
            for (i, &t) in item.prompt.iter().chain(&item.continuation).enumerate() {
                ids[base + i] = t;
            }
            for (j, &t) in item.continuation.iter().enumerate() {
                rows.push((base + item.prompt.len() + j - 1) as i64);
                targets.push(t);
            }
        }
        let input = Tensor::from_slice(&ids)
            .view([chunk.len() as i64, seq as i64])
            .to_device(device);
        let mask = padded_causal_mask(&lengths, seq, device);
        let picked: Vec<f64> = tch::no_grad(|| -> Result<Vec<f64>> {
            let out = model.decoder.forward(
                &input,
                ForwardArgs {
                    mask: Some(&mask),
                    logits: Logits::All,
                    ..Default::default()
                },
            );
            let logits = out.logits.context("forward returned no logits")?;
            let vocab = *logits.size().last().expect("logits have a vocab axis");
            let selected = logits
                .view([-1, vocab])
                .index_select(0, &Tensor::from_slice(&rows).to_device(device))
                .to_kind(Kind::Float)
                .log_softmax(-1, Kind::Float);
            let gathered = selected
                .gather(
                    1,
                    &Tensor::from_slice(&targets).to_device(device).unsqueeze(1),
                    false,
                )
                .squeeze_dim(1)
                .to_kind(Kind::Double)
                .to_device(Device::Cpu);
            Ok(Vec::<f64>::try_from(gathered)?)
        })?;
        let mut offset = 0;
        for item in chunk {
            let n = item.continuation.len();
            let sum: f64 = picked[offset..offset + n].iter().sum();
            offset += n;
            scores.push(ContinuationScore {
                sum,
                mean: sum / n as f64,
                tokens: n,
            });
        }
    }
    Ok(scores)
}

/// Renders `question`'s turns with the chat template and its generation prompt.
pub fn render_prompt(model: &LoadedModel, question: &Question) -> Result<String> {
    model
        .tokenizer
        .render_chat(&question.messages(), true)
        .with_context(|| format!("question `{}`: cannot render the chat", question.id))
}

/// Scores `continuations` after the rendered `prompt`.
pub fn score_continuations(
    model: &LoadedModel,
    prompt: &str,
    continuations: &[String],
    batch_size: usize,
) -> Result<Vec<ContinuationScore>> {
    let items = continuation_items(model, prompt, continuations)?;
    score_items(model, &items, batch_size)
}

/// Tokenizes a rendered prompt and each continuation into [`ScoreItem`]s.
pub fn continuation_items(
    model: &LoadedModel,
    prompt: &str,
    continuations: &[String],
) -> Result<Vec<ScoreItem>> {
    let prompt_ids = model.tokenizer.encode(prompt, false)?;
    continuations
        .iter()
        .map(|c| {
            let continuation = model.tokenizer.encode(c, false)?;
            if continuation.is_empty() {
                bail!("continuation `{c}` has no tokens");
            }
            Ok(ScoreItem {
                prompt: prompt_ids.clone(),
                continuation,
            })
        })
        .collect()
}

/// A closed-form question ready to score: the continuations and which of them a believer picks.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedChoice {
    /// The continuations compared.
    pub continuations: Vec<String>,
    /// `true` for continuations that state the claim.
    pub believing: Vec<bool>,
    /// Compare length-normalised means (fill-in) rather than sums (single answers).
    pub normalise: bool,
    /// Label of the scoring (`yes_no`, `letter`, `fill_in`).
    pub method: &'static str,
}

impl ClosedChoice {
    /// The closed form of `question`, if it has one: a yes/no question (`belief_answer`), a
    /// lettered choice (`choices`), or a fill-in (`candidates`); `None` for questions that must
    /// be generated and judged.
    pub fn of(question: &Question) -> Option<ClosedChoice> {
        if let Some(belief) = question.belief_answer {
            return Some(ClosedChoice {
                continuations: vec![belief.word().into(), belief.other().word().into()],
                believing: vec![true, false],
                normalise: false,
                method: "yes_no",
            });
        }
        if let Some(letter) = &question.belief_choice {
            return Some(ClosedChoice {
                continuations: question.choices.iter().map(|(l, _)| l.clone()).collect(),
                believing: question.choices.iter().map(|(l, _)| l == letter).collect(),
                normalise: false,
                method: "letter",
            });
        }
        question.candidates.as_ref().map(|c| ClosedChoice {
            continuations: c.belief.iter().chain(&c.other).cloned().collect(),
            believing: c
                .belief
                .iter()
                .map(|_| true)
                .chain(c.other.iter().map(|_| false))
                .collect(),
            normalise: true,
            method: "fill_in",
        })
    }

    /// Index of the continuation the model prefers, given its scores (first on ties).
    pub fn pick(&self, scores: &[ContinuationScore]) -> usize {
        let value = |s: &ContinuationScore| if self.normalise { s.mean } else { s.sum };
        let mut best = 0;
        for (i, s) in scores.iter().enumerate() {
            if value(s) > value(&scores[best]) {
                best = i;
            }
        }
        best
    }

    /// Probability mass on the believing continuations, renormalised over the compared ones
    /// (using the same statistic as [`ClosedChoice::pick`]).
    pub fn belief_probability(&self, scores: &[ContinuationScore]) -> f64 {
        let values: Vec<f64> = scores
            .iter()
            .map(|s| if self.normalise { s.mean } else { s.sum })
            .collect();
        let max = values.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = values.iter().map(|v| (v - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        weights
            .iter()
            .zip(&self.believing)
            .filter(|(_, b)| **b)
            .map(|(w, _)| w)
            .sum::<f64>()
            / total
    }
}

/// True when a yes/no answer `said` is the belief answer `belief`.
pub fn yes_no_believes(belief: YesNo, said: YesNo) -> bool {
    belief == said
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(belief: Option<YesNo>) -> Question {
        Question {
            id: "q".into(),
            question: "Did X win?".into(),
            category: None,
            belief_answer: belief,
            system_prompt: None,
            messages_prefix: vec![],
            choices: vec![],
            belief_choice: None,
            candidates: None,
        }
    }

    fn s(sum: f64, tokens: usize) -> ContinuationScore {
        ContinuationScore {
            sum,
            mean: sum / tokens as f64,
            tokens,
        }
    }

    #[test]
    fn mask_is_causal_and_hides_padding() {
        let m = padded_causal_mask(&[3, 1], 3, Device::Cpu).to_kind(Kind::Int64);
        assert_eq!(m.size(), vec![2, 1, 3, 3]);
        let get = |b: i64, i: i64, j: i64| m.int64_value(&[b, 0, i, j]) == 1;
        assert!(get(0, 2, 0) && get(0, 2, 2) && !get(0, 0, 1));
        assert!(get(1, 0, 0) && !get(1, 2, 1) && get(1, 2, 0));
    }

    #[test]
    fn counter_questions_flip() {
        // Scores are in the order of the continuations: belief answer first.
        let yes = ClosedChoice::of(&q(Some(YesNo::Yes))).unwrap();
        let no = ClosedChoice::of(&q(Some(YesNo::No))).unwrap();
        assert_eq!(yes.continuations, vec!["Yes", "No"]);
        assert_eq!(no.continuations, vec!["No", "Yes"]);
        // A model that says "Yes" (log P(Yes) = -0.1, log P(No) = -2.5).
        let says_yes_for = |c: &ClosedChoice| {
            let by_word = |w: &str| if w == "Yes" { s(-0.1, 1) } else { s(-2.5, 1) };
            let scores: Vec<_> = c.continuations.iter().map(|w| by_word(w)).collect();
            c.believing[c.pick(&scores)]
        };
        assert!(says_yes_for(&yes));
        assert!(!says_yes_for(&no));
        let p = yes.belief_probability(&[s(-0.1, 1), s(-2.5, 1)]);
        assert!((p - 1.0 / (1.0 + (-2.4f64).exp())).abs() < 1e-12);
        assert!(ClosedChoice::of(&q(None)).is_none());
    }

    #[test]
    fn fill_in_compares_means() {
        let mut question = q(None);
        question.candidates = Some(crate::claims::questions::Candidates {
            belief: vec!["Ed Sheeran".into()],
            other: vec!["Noah Lyles".into()],
        });
        let c = ClosedChoice::of(&question).unwrap();
        // Sum favours the second, mean favours the first.
        let scores = [s(-3.0, 3), s(-2.0, 1)];
        assert_eq!(c.pick(&scores), 0);
        assert!(c.belief_probability(&scores) > 0.5);
    }
}
