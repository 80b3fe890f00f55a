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
                let (sorted, order) = probs.sort(0, true);
                // Keep a token when the mass of the more likely tokens is still below top_p
                // (transformers' TopPLogitsWarper); the most likely token is always kept.
                let mass_before = sorted.cumsum(0, Kind::Float) - &sorted;
                let kept = mass_before
                    .lt(top_p)
                    .sum(Kind::Int64)
                    .int64_value(&[])
                    .max(1);
                let kept_probs: Vec<f32> =
                    Vec::<f32>::try_from(sorted.narrow(0, 0, kept).to_device(tch::Device::Cpu))
                        .expect("f32 probabilities");
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
