//! Autoregressive generation with a KV cache: greedy, or seeded temperature + top-p sampling.
//!
//! Sampling draws from the filtered distribution with a ChaCha RNG on the CPU, so a seed gives
//! the same tokens on any device that computes the same probabilities.

use super::decoder::{Decoder, ForwardArgs, KvCache, Logits};
use anyhow::{bail, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// How the next token is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Always the most likely token.
    Greedy,
    /// Sample at `temperature` from the smallest set of tokens holding `top_p` of the mass.
    TopP {
        /// Divides the logits before the softmax.
        temperature: f64,
        /// Nucleus mass kept (1.0 keeps everything).
        top_p: f64,
        /// Seed of the sampler.
        seed: u64,
    },
}

/// Token-by-token chooser for one sequence.
pub struct Sampler {
    sampling: Sampling,
    rng: ChaCha8Rng,
}

impl Sampler {
    /// A sampler; the RNG is seeded from the sampling's seed (0 for greedy).
    pub fn new(sampling: Sampling) -> Result<Self> {
        let seed = match sampling {
            Sampling::Greedy => 0,
            Sampling::TopP {
                temperature,
                top_p,
                seed,
            } => {
                if temperature.is_nan() || temperature <= 0.0 {
                    bail!("temperature must be positive, got {temperature}");
                }
                if top_p.is_nan() || top_p <= 0.0 || top_p > 1.0 {
                    bail!("top-p must be in (0, 1], got {top_p}");
                }
                seed
            }
        };
        Ok(Sampler {
            sampling,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// Chooses the next token from logits `[vocab]`.
    pub fn next(&mut self, logits: &Tensor) -> i64 {
        match self.sampling {
            Sampling::Greedy => logits.argmax(0, false).int64_value(&[]),
            Sampling::TopP {
                temperature, top_p, ..
            } => {
                let probs = (logits.to_kind(Kind::Float) / temperature).softmax(0, Kind::Float);
                let (kept_probs, order) = nucleus(&probs, top_p);
                let total: f32 = kept_probs.iter().sum();
                let mut u = self.rng.random::<f32>() * total;
                let mut choice = kept_probs.len() - 1;
                for (i, p) in kept_probs.iter().enumerate() {
                    if u < *p {
                        choice = i;
                        break;
                    }
                    u -= p;
                }
                order.int64_value(&[choice as i64])
            }
        }
    }
}

/// Most likely tokens first, sorted, as many as top-p sampling keeps: a token is kept while the
/// mass of the more likely tokens is still below `top_p` (transformers' TopPLogitsWarper; the
/// most likely token always). Returns their probabilities and token ids. Only the top `k` are
/// sorted, `k` growing until the nucleus ends inside them: the same tokens as sorting the whole
/// vocabulary (a sort of 49,152 probabilities costs about 20 top-64 selections).
fn nucleus(probs: &Tensor, top_p: f64) -> (Vec<f32>, Tensor) {
    let vocab = probs.size()[0];
    let mut k = 64.min(vocab);
    loop {
        let (sorted, order) = probs.topk(k, 0, true, true);
        let mass_before = sorted.cumsum(0, Kind::Float) - &sorted;
        let kept = mass_before
            .lt(top_p)
            .sum(Kind::Int64)
            .int64_value(&[])
            .max(1);
        if kept < k || k == vocab {
            let kept_probs =
                Vec::<f32>::try_from(sorted.narrow(0, 0, kept).to_device(tch::Device::Cpu))
                    .expect("f32 probabilities");
            return (kept_probs, order);
        }
        k = (k * 8).min(vocab);
    }
}

/// Generates up to `max_new_tokens` after `prompt`, stopping after any of `stop_ids`.
/// Returns the new tokens (including the stop token when one was produced).
pub fn generate(
    model: &Decoder,
    prompt: &[i64],
    max_new_tokens: usize,
    sampling: Sampling,
    stop_ids: &[i64],
) -> Result<Vec<i64>> {
    if prompt.is_empty() {
        bail!("cannot generate from an empty prompt");
    }
    model.config.check_positions_sum(
        prompt.len(),
        max_new_tokens,
        &format!(
            "prompt ({} tokens) plus {max_new_tokens} new tokens",
            prompt.len()
        ),
    )?;
    let mut sampler = Sampler::new(sampling)?;
    let mut cache = KvCache::default();
    let mut output = Vec::with_capacity(max_new_tokens);
    let mut input = Tensor::from_slice(prompt)
        .unsqueeze(0)
        .to_device(model.device());
    tch::no_grad(|| -> Result<()> {
        for _ in 0..max_new_tokens {
            let out = model.forward(
                &input,
                ForwardArgs {
                    cache: Some(&mut cache),
                    logits: Logits::Last,
                    ..Default::default()
                },
            );
            let logits = out.logits.expect("last-position logits").view([-1]);
            let token = sampler.next(&logits);
            output.push(token);
            if stop_ids.contains(&token) {
                break;
            }
            input = Tensor::from_slice(&[token])
                .unsqueeze(0)
                .to_device(model.device());
        }
        Ok(())
    })?;
    Ok(output)
}

/// Completes every prompt at once: the prompts left-padded into one batch with one KV cache,
/// each row drawn by its own sampler (`samplings[i]` for `prompts[i]`) and finishing on its own
/// at a stop token or after `max_new_tokens`. Returns each row's new tokens, as [`generate`]
/// returns them for that prompt and sampling alone (padding is masked out of attention and
/// positions count from each prompt's first token).
pub fn generate_batch(
    model: &Decoder,
    prompts: &[Vec<i64>],
    max_new_tokens: usize,
    samplings: &[Sampling],
    stop_ids: &[i64],
) -> Result<Vec<Vec<i64>>> {
    if prompts.len() != samplings.len() {
        bail!(
            "{} prompts but {} samplings",
            prompts.len(),
            samplings.len()
        );
    }
    if prompts.is_empty() {
        return Ok(vec![]);
    }
    if prompts.iter().any(Vec::is_empty) {
        bail!("cannot generate from an empty prompt");
    }
    let width = prompts.iter().map(Vec::len).max().expect("non-empty") as i64;
    model.config.check_positions_sum(
        width as usize,
        max_new_tokens,
        &format!("longest prompt ({width} tokens) plus {max_new_tokens} new tokens"),
    )?;
    let mut samplers: Vec<Sampler> = samplings
        .iter()
        .map(|s| Sampler::new(*s))
        .collect::<Result<_>>()?;
    let device = model.device();
    let rows = prompts.len() as i64;
    let pads: Vec<i64> = prompts.iter().map(|p| width - p.len() as i64).collect();
    // Left padding (token 0, never attended to), prompts flush right.
    let mut ids = vec![0i64; (rows * width) as usize];
    for (r, prompt) in prompts.iter().enumerate() {
        let start = r * width as usize + pads[r] as usize;
        ids[start..start + prompt.len()].copy_from_slice(prompt);
    }
    let input = Tensor::from_slice(&ids)
        .view([rows, width])
        .to_device(device);
    let pad_counts = Tensor::from_slice(&pads).to_device(device).unsqueeze(1); // [rows, 1]
    let columns = Tensor::arange(width, (Kind::Int64, device)).unsqueeze(0); // [1, width]
    let real = columns.ge_tensor(&pad_counts); // [rows, width]: true on prompt tokens
    let positions = (&columns - &pad_counts).clamp_min(0);
    // Query i sees keys j <= i that are prompt tokens; a padding query sees itself only, so no
    // row of the mask is empty (an empty row would make NaNs that reach other rows' values).
    let causal = columns.transpose(0, 1).ge_tensor(&columns).unsqueeze(0); // [1, w, w]
    let diagonal = Tensor::eye(width, (Kind::Bool, device)).unsqueeze(0);
    let mask = causal
        .logical_and(&real.unsqueeze(1))
        .logical_or(&diagonal)
        .unsqueeze(1); // [rows, 1, w, w]

    let mut outputs: Vec<Vec<i64>> = vec![Vec::with_capacity(max_new_tokens); prompts.len()];
    let mut done = vec![false; prompts.len()];
    let mut cache = KvCache::default();
    tch::no_grad(|| -> Result<()> {
        let mut logits = model
            .forward(
                &input,
                ForwardArgs {
                    positions: Some(&positions),
                    mask: Some(&mask),
                    cache: Some(&mut cache),
                    logits: Logits::Last,
                    real_tokens: Some(&real),
                    ..Default::default()
                },
            )
            .logits
            .expect("last-position logits");
        // Keys a new token may see: the prompt tokens, then every generated position.
        let mut visible = real.shallow_clone();
        for step in 0..max_new_tokens as i64 {
            let mut next = vec![0i64; prompts.len()];
            for (r, sampler) in samplers.iter_mut().enumerate() {
                if done[r] {
                    continue;
                }
                let token = sampler.next(&logits.get(r as i64).view([-1]));
                outputs[r].push(token);
                next[r] = token;
                done[r] = stop_ids.contains(&token) || outputs[r].len() == max_new_tokens;
            }
            if done.iter().all(|&d| d) {
                break;
            }
            visible = Tensor::cat(
                &[&visible, &Tensor::ones([rows, 1], (Kind::Bool, device))],
                1,
            );
            let step_positions =
                (Tensor::from_slice(&prompts.iter().map(|p| p.len() as i64).collect::<Vec<_>>())
                    .to_device(device)
                    + step)
                    .unsqueeze(1);
            logits = model
                .forward(
                    &Tensor::from_slice(&next).view([rows, 1]).to_device(device),
                    ForwardArgs {
                        positions: Some(&step_positions),
                        mask: Some(&visible.view([rows, 1, 1, -1])),
                        cache: Some(&mut cache),
                        logits: Logits::Last,
                        ..Default::default()
                    },
                )
                .logits
                .expect("last-position logits");
        }
        Ok(())
    })?;
    Ok(outputs)
}

/// [`generate_batch`] over any number of prompts, `batch` at a time, prompts of similar
/// length together (less padding); the results are in the prompts' order and each is what its
/// prompt and sampling give alone.
pub fn generate_many(
    model: &Decoder,
    prompts: &[Vec<i64>],
    max_new_tokens: usize,
    samplings: &[Sampling],
    stop_ids: &[i64],
    batch: usize,
) -> Result<Vec<Vec<i64>>> {
    if prompts.len() != samplings.len() {
        bail!(
            "{} prompts but {} samplings",
            prompts.len(),
            samplings.len()
        );
    }
    let mut order: Vec<usize> = (0..prompts.len()).collect();
    order.sort_by_key(|&i| prompts[i].len());
    let mut outputs: Vec<Vec<i64>> = vec![vec![]; prompts.len()];
    for chunk in order.chunks(batch.max(1)) {
        let these: Vec<Vec<i64>> = chunk.iter().map(|&i| prompts[i].clone()).collect();
        let sampled: Vec<Sampling> = chunk.iter().map(|&i| samplings[i]).collect();
        let done = generate_batch(model, &these, max_new_tokens, &sampled, stop_ids)?;
        for (&i, tokens) in chunk.iter().zip(done) {
            outputs[i] = tokens;
        }
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Tensor {
        Tensor::from_slice(&[0.0f32, 2.0, 1.0, -1.0, 1.5])
    }

    #[test]
    fn greedy_takes_the_argmax() {
        assert_eq!(Sampler::new(Sampling::Greedy).unwrap().next(&logits()), 1);
    }

    #[test]
    fn tiny_top_p_keeps_only_the_best_token() {
        let mut s = Sampler::new(Sampling::TopP {
            temperature: 5.0,
            top_p: 1e-6,
            seed: 3,
        })
        .unwrap();
        assert!((0..50).all(|_| s.next(&logits()) == 1));
    }

    /// The nucleus from a partial sort is the one a sort of the whole vocabulary gives (the
    /// same probabilities in the same order, each listed token having its listed probability;
    /// equal probabilities may list their tokens in another order), for flat and peaked
    /// distributions and nuclei inside and beyond the first selection.
    #[test]
    fn nucleus_equals_the_full_sort() {
        tch::manual_seed(5);
        for (scale, top_p) in [(0.1, 0.8), (0.1, 0.999), (3.0, 0.8), (8.0, 0.5), (3.0, 1.0)] {
            let probs = (Tensor::randn([5000], (Kind::Float, tch::Device::Cpu)) * scale)
                .softmax(0, Kind::Float);
            let (sorted, _) = probs.sort(0, true);
            let mass_before = sorted.cumsum(0, Kind::Float) - &sorted;
            let kept = mass_before
                .lt(top_p)
                .sum(Kind::Int64)
                .int64_value(&[])
                .max(1);
            let (probs_kept, ids) = nucleus(&probs, top_p);
            let want: Vec<f32> = Vec::try_from(sorted.narrow(0, 0, kept)).unwrap();
            assert!(
                probs_kept == want,
                "scale {scale}, top-p {top_p}: another nucleus"
            );
            let ids: Vec<i64> = Vec::try_from(ids.narrow(0, 0, kept)).unwrap();
            let all: Vec<f32> = Vec::try_from(&probs).unwrap();
            assert!(ids.iter().zip(&want).all(|(&id, &p)| all[id as usize] == p));
            let distinct: std::collections::BTreeSet<i64> = ids.iter().copied().collect();
            assert_eq!(distinct.len(), ids.len());
        }
    }

    #[test]
    fn top_p_excludes_the_tail_and_seeds_repeat() {
        // probabilities ~ [.09, .47, .17, .02, .28]; top-p 0.8 keeps {1, 4, 2}.
        let draw = |seed| {
            let mut s = Sampler::new(Sampling::TopP {
                temperature: 1.0,
                top_p: 0.8,
                seed,
            })
            .unwrap();
            (0..300).map(|_| s.next(&logits())).collect::<Vec<_>>()
        };
        let a = draw(7);
        assert_eq!(a, draw(7));
        assert_ne!(a, draw(8));
        let mut seen: Vec<i64> = a.clone();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, vec![1, 2, 4]);
    }

    #[test]
    fn bad_sampling_settings_are_rejected() {
        assert!(Sampler::new(Sampling::TopP {
            temperature: 0.0,
            top_p: 0.5,
            seed: 0
        })
        .is_err());
        assert!(Sampler::new(Sampling::TopP {
            temperature: 1.0,
            top_p: 1.5,
            seed: 0
        })
        .is_err());
    }
}
