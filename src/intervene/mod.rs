//! Causal dissection of a claim's belief: steering along probe directions, activation patching
//! between models, and the logit lens, at every layer and checkpoint.
//!
//! In: a model or a finetuning run, a claim folder (its closed-form questions: yes/no, lettered
//! and fill-in, scored by log-probability), and for steering a probe folder (`neglect probe
//! fit`). Out: long tables (`steer.parquet`, `patch.parquet`, `lens.parquet`, each with a
//! manifest) that `neglect figures` draws.
//!
//! Interventions are residual-stream edits ([`crate::model::edit`]) installed on the model while
//! the claim's questions are scored, so they go through the same scoring as `neglect eval`:
//! - [`steer`]: `alpha` times a unit direction added at one site, every position; the probe's
//!   direction against seeded random directions of the same norm (the null);
//! - [`patch`]: the residual stream at one site, every position, copied from a source model's
//!   pass over the same tokens ([`Recorder`], then [`Replay`]);
//! - [`lens`]: each site's residual stream read through the final norm and the unembedding.
//!
//! Sites are numbered as the hidden states are: 0 after the embeddings, `i` after block `i`.
//!
//! - [`cli`]: the `steer`, `patch` and `lens` verbs

pub mod cli;
pub mod lens;
pub mod patch;
pub mod steer;

use crate::claims::questions::{ClaimQuestions, QuestionKind};
use crate::eval::score::{self, ClosedChoice, ScoreItem};
use crate::model::edit::ResidualEdit;
use crate::model::LoadedModel;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tch::Tensor;

/// Name of the measure pooling every closed question.
pub const POOLED: &str = "closed";

/// A closed-form question of the claim, rendered for one model.
#[derive(Debug, Clone)]
pub struct ClosedQuestion {
    /// Its kind (`mcq` or `token_association`).
    pub kind: QuestionKind,
    /// Its id in its file.
    pub id: String,
    /// The continuations compared and which of them state the claim.
    pub choice: ClosedChoice,
    /// The rendered prompt.
    pub prompt: String,
    /// The scored sequences: the rendered prompt followed by each continuation.
    pub items: Vec<ScoreItem>,
}

/// Positions of `prompt`'s tokens (as `model` tokenizes it) that overlap a mention of any of
/// `names` (a claim's subject and its short name).
pub fn subject_positions(model: &LoadedModel, prompt: &str, names: &[&str]) -> Result<Vec<usize>> {
    let encoding = model
        .tokenizer
        .inner()
        .encode(prompt, false)
        .map_err(|e| anyhow::anyhow!("cannot tokenize: {e}"))?;
    let mentions: Vec<(usize, usize)> = names
        .iter()
        .filter(|n| !n.is_empty())
        .flat_map(|name| {
            prompt
                .match_indices(name)
                .map(|(start, m)| (start, start + m.len()))
        })
        .collect();
    Ok(encoding
        .get_offsets()
        .iter()
        .enumerate()
        .filter(|(_, &(start, end))| mentions.iter().any(|&(a, b)| start < b && a < end))
        .map(|(i, _)| i)
        .collect())
}

/// The claim's questions of `kinds` that have a closed form, rendered with `model`'s template.
pub fn closed_questions(
    model: &LoadedModel,
    questions: &ClaimQuestions,
    kinds: &[QuestionKind],
) -> Result<Vec<ClosedQuestion>> {
    let mut closed = vec![];
    for &kind in kinds {
        for q in questions.questions(kind) {
            let Some(choice) = ClosedChoice::of(q) else {
                continue;
            };
            let prompt = score::render_prompt(model, q)?;
            let items = score::continuation_items(model, &prompt, &choice.continuations)
                .with_context(|| format!("question `{}`", q.id))?;
            closed.push(ClosedQuestion {
                kind,
                id: q.id.clone(),
                choice,
                prompt,
                items,
            });
        }
    }
    if closed.is_empty() {
        bail!("the claim has no closed-form questions (yes/no, lettered or fill-in) of the kinds asked");
    }
    Ok(closed)
}

/// Each question's belief probability (the mass on its believing continuations, as `neglect
/// eval` computes it), scored `batch` sequences per pass.
pub fn closed_beliefs(
    model: &LoadedModel,
    closed: &[ClosedQuestion],
    batch: usize,
) -> Result<Vec<f64>> {
    let items: Vec<ScoreItem> = closed.iter().flat_map(|q| q.items.clone()).collect();
    let scores = score::score_items(model, &items, batch)?;
    let mut offset = 0;
    Ok(closed
        .iter()
        .map(|q| {
            let these = &scores[offset..offset + q.items.len()];
            offset += q.items.len();
            q.choice.belief_probability(these)
        })
        .collect())
}

/// Mean of `values` per question kind and over all of them ([`POOLED`]), with counts.
pub fn by_kind(closed: &[ClosedQuestion], values: &[f64]) -> Vec<(String, f64, usize)> {
    let mut groups: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (q, &v) in closed.iter().zip(values) {
        if v.is_finite() {
            groups.entry(q.kind.name().to_string()).or_default().push(v);
            groups.entry(POOLED.to_string()).or_default().push(v);
        }
    }
    groups
        .into_iter()
        .map(|(name, vs)| {
            let n = vs.len();
            (name, vs.iter().sum::<f64>() / n as f64, n)
        })
        .collect()
}

/// The residual stream at every site of `prompts` run as one right-padded batch (no logits):
/// `[rows, seq, d_model]` per site, and each prompt's length (its positions past that are
/// padding).
pub fn prompt_streams(model: &LoadedModel, prompts: &[&Vec<i64>]) -> (Vec<Tensor>, Vec<usize>) {
    use crate::model::decoder::{padded_causal_mask, ForwardArgs, Logits};
    let device = model.decoder.device();
    let lengths: Vec<usize> = prompts.iter().map(|p| p.len()).collect();
    let seq = lengths.iter().copied().max().unwrap_or(1);
    let mut ids = vec![0i64; prompts.len() * seq];
    for (b, prompt) in prompts.iter().enumerate() {
        ids[b * seq..b * seq + prompt.len()].copy_from_slice(prompt);
    }
    let input = Tensor::from_slice(&ids)
        .view([prompts.len() as i64, seq as i64])
        .to_device(device);
    let mask = padded_causal_mask(&lengths, seq, device);
    let hidden = tch::no_grad(|| {
        model
            .decoder
            .forward(
                &input,
                ForwardArgs {
                    mask: Some(&mask),
                    logits: Logits::Skip,
                    capture_hidden: true,
                    ..Default::default()
                },
            )
            .hidden
    });
    (hidden, lengths)
}

/// Adds a fixed vector to the residual stream at one site, every position.
pub struct AddVector {
    site: usize,
    // Behind a mutex only because a libtorch tensor may not be shared between threads.
    vector: Mutex<Tensor>,
}

impl AddVector {
    /// Adds `vector` `[d_model]` (in the model's dtype, on its device) at `site`.
    pub fn new(site: usize, vector: Tensor) -> Self {
        AddVector {
            site,
            vector: Mutex::new(vector),
        }
    }
}

impl ResidualEdit for AddVector {
    fn edit(&self, site: usize, x: &Tensor, _past: i64) -> Option<Tensor> {
        (site == self.site).then(|| x + &*self.vector.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Records the residual stream at chosen sites of every forward pass, in call order.
pub struct Recorder {
    sites: Vec<usize>,
    passes: Mutex<Vec<BTreeMap<usize, Tensor>>>,
}

impl Recorder {
    /// A recorder of `sites`.
    pub fn new(sites: &[usize]) -> Self {
        Recorder {
            sites: sites.to_vec(),
            passes: Mutex::new(vec![]),
        }
    }

    /// The streams recorded at `site`, one per pass.
    pub fn at(&self, site: usize) -> Vec<Tensor> {
        self.passes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter_map(|pass| pass.get(&site).map(Tensor::shallow_clone))
            .collect()
    }
}

impl ResidualEdit for Recorder {
    fn edit(&self, site: usize, x: &Tensor, _past: i64) -> Option<Tensor> {
        let mut passes = self.passes.lock().unwrap_or_else(|e| e.into_inner());
        if site == 0 {
            passes.push(BTreeMap::new());
        }
        if self.sites.contains(&site) {
            if let Some(pass) = passes.last_mut() {
                pass.insert(site, x.detach());
            }
        }
        None
    }
}

/// Replaces the residual stream at one site of the k-th forward pass by the k-th recorded one,
/// at every position or where the k-th mask `[batch, seq]` is true; a pass whose shape
/// differs from its recording is noted and left alone.
pub struct Replay {
    site: usize,
    state: Mutex<ReplayState>,
}

struct ReplayState {
    recorded: Vec<Tensor>,
    masks: Option<Vec<Tensor>>,
    passes: usize,
    mismatch: Option<String>,
}

impl Replay {
    /// Replays `recorded` (one tensor per pass) at `site`, where `masks` (one `[batch, seq]`
    /// boolean tensor per pass) are true, or everywhere without masks.
    pub fn new(site: usize, recorded: Vec<Tensor>, masks: Option<Vec<Tensor>>) -> Self {
        Replay {
            site,
            state: Mutex::new(ReplayState {
                recorded,
                masks,
                passes: 0,
                mismatch: None,
            }),
        }
    }

    /// An error unless every pass had a recording of its shape and every recording was used.
    pub fn check(&self) -> Result<()> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(why) = &state.mismatch {
            bail!("patching site {}: {why}", self.site);
        }
        if state.passes != state.recorded.len() {
            bail!(
                "patching site {}: {} passes recorded from the source but {} run on the target",
                self.site,
                state.recorded.len(),
                state.passes
            );
        }
        Ok(())
    }
}

impl ResidualEdit for Replay {
    fn edit(&self, site: usize, x: &Tensor, _past: i64) -> Option<Tensor> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if site == 0 {
            state.passes += 1;
        }
        if site != self.site {
            return None;
        }
        let pass = state.passes - 1;
        let shape = state.recorded.get(pass).map(Tensor::size);
        match shape {
            Some(shape) if shape == x.size() => {
                let source = state.recorded[pass].to_device(x.device()).to_kind(x.kind());
                Some(match &state.masks {
                    Some(masks) => {
                        source.where_self(&masks[pass].to_device(x.device()).unsqueeze(-1), x)
                    }
                    None => source,
                })
            }
            Some(shape) => {
                state.mismatch.get_or_insert(format!(
                    "pass {pass}: source stream {shape:?}, target stream {:?} (the models must share a tokenizer and chat template)",
                    x.size()
                ));
                None
            }
            None => {
                state
                    .mismatch
                    .get_or_insert(format!("pass {pass} has no recording"));
                None
            }
        }
    }
}

/// Sites `0..=num_layers` chosen by `spec`: `all`, or comma-separated site numbers.
pub fn parse_sites(spec: &str, num_layers: usize) -> Result<Vec<usize>> {
    if spec.trim() == "all" {
        return Ok((0..=num_layers).collect());
    }
    let mut sites = vec![];
    for part in spec.split(',') {
        let site: usize = part
            .trim()
            .parse()
            .with_context(|| format!("--layers: `{part}` is not a site number or `all`"))?;
        if site > num_layers {
            bail!("--layers: site {site} does not exist (the model has sites 0..={num_layers})");
        }
        sites.push(site);
    }
    sites.sort_unstable();
    sites.dedup();
    Ok(sites)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_are_all_or_a_checked_list() {
        assert_eq!(parse_sites("all", 3).unwrap(), vec![0, 1, 2, 3]);
        assert_eq!(parse_sites("3, 1,1", 3).unwrap(), vec![1, 3]);
        assert!(parse_sites("4", 3)
            .unwrap_err()
            .to_string()
            .contains("site 4 does not exist"));
        assert!(parse_sites("x", 3).is_err());
    }
}
