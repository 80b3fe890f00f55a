//! AdamW, learning-rate schedules and gradient clipping.
//!
//! AdamW is written out here rather than taken from tch's C++ optimizer so that its state
//! (first and second moments, step count) can be saved in checkpoints and restored exactly:
//! resuming gives bit-identical weights. The update is the one `torch.optim.AdamW` performs
//! with `foreach=False`: decoupled weight decay, bias-corrected moments. Parameters stored in
//! bf16 or f16 get an f32 master copy: the update is applied to the master, which is then
//! rounded into the parameter, so updates smaller than the half-precision step accumulate
//! instead of being rounded away.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tch::{Kind, Tensor};

/// AdamW hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamWConfig {
    /// Exponential decay rates of the first and second moments.
    #[serde(default = "default_betas")]
    pub betas: [f64; 2],
    /// Added to the denominator.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Decoupled weight decay.
    #[serde(default)]
    pub weight_decay: f64,
}

fn default_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f64 {
    1e-8
}

impl Default for AdamWConfig {
    fn default() -> Self {
        AdamWConfig {
            betas: default_betas(),
            eps: default_eps(),
            weight_decay: 0.0,
        }
    }
}

/// AdamW over named parameters, with its state in plain tensors.
pub struct AdamW {
    config: AdamWConfig,
    params: Vec<(String, Tensor)>,
    exp_avg: Vec<Tensor>,
    exp_avg_sq: Vec<Tensor>,
    /// f32 copies of half-precision parameters (`None` for f32 ones).
    masters: Vec<Option<Tensor>>,
    step: i64,
}

impl AdamW {
    /// An optimizer over `params` (sorted by name so state files are stable).
    ///
    /// Every parameter starts with a zero gradient, so each update steps every parameter, as
    /// `torch.optim.AdamW` after `zero_grad(set_to_none=False)`: a parameter the loss did not
    /// reach this step (an expert no token was routed to) still has its moments decayed and
    /// its weight decay applied. A run resumed in a fresh process therefore updates exactly
    /// the parameters the uninterrupted run updates.
    pub fn new(mut params: Vec<(String, Tensor)>, config: AdamWConfig) -> Self {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let trainable: Vec<Tensor> = params
            .iter()
            .filter(|(_, p)| p.requires_grad() && !p.grad().defined())
            .map(|(_, p)| p.sum(Kind::Float) * 0.0)
            .collect();
        if !trainable.is_empty() {
            Tensor::stack(&trainable, 0).sum(Kind::Float).backward();
        }
        let zeros = |p: &Tensor| Tensor::zeros_like(p).to_kind(Kind::Float);
        let exp_avg = params.iter().map(|(_, p)| zeros(p)).collect();
        let exp_avg_sq = params.iter().map(|(_, p)| zeros(p)).collect();
        let masters = params
            .iter()
            .map(|(_, p)| (p.kind() != Kind::Float).then(|| p.detach().to_kind(Kind::Float)))
            .collect();
        AdamW {
            config,
            params,
            exp_avg,
            exp_avg_sq,
            masters,
            step: 0,
        }
    }

    /// Updates taken so far.
    pub fn steps_taken(&self) -> i64 {
        self.step
    }

    /// The optimised parameters.
    pub fn params(&self) -> impl Iterator<Item = &Tensor> {
        self.params.iter().map(|(_, p)| p)
    }

    /// Sets every gradient to zero.
    pub fn zero_grad(&mut self) {
        for (_, p) in &self.params {
            let mut grad = p.grad();
            if grad.defined() {
                let _ = grad.zero_();
            }
        }
    }

    /// Scales gradients so their global L2 norm is at most `max_norm` (when given); returns
    /// the norm before clipping.
    pub fn clip_grad_norm(&self, max_norm: Option<f64>) -> f64 {
        let grads: Vec<Tensor> = self
            .params
            .iter()
            .map(|(_, p)| p.grad())
            .filter(Tensor::defined)
            .collect();
        if grads.is_empty() {
            return 0.0;
        }
        let squares: Vec<Tensor> = grads
            .iter()
            .map(|g| g.to_kind(Kind::Float).square().sum(Kind::Float))
            .collect();
        let norm = Tensor::stack(&squares, 0)
            .sum(Kind::Float)
            .sqrt()
            .double_value(&[]);
        if let Some(max) = max_norm {
            // torch.nn.utils.clip_grad_norm_: scale by max / (norm + 1e-6) when that is < 1.
            let factor = max / (norm + 1e-6);
            if factor < 1.0 {
                tch::no_grad(|| {
                    for mut g in grads {
                        let _ = g.g_mul_scalar_(factor);
                    }
                });
            }
        }
        norm
    }

    /// One AdamW update at learning rate `lr`.
    pub fn step(&mut self, lr: f64) {
        self.step += 1;
        let [beta1, beta2] = self.config.betas;
        let bias1 = 1.0 - beta1.powi(self.step as i32);
        let bias2_sqrt = (1.0 - beta2.powi(self.step as i32)).sqrt();
        let step_size = lr / bias1;
        tch::no_grad(|| {
            for (i, (_, p)) in self.params.iter().enumerate() {
                let grad = p.grad();
                if !grad.defined() {
                    continue;
                }
                let grad = grad.to_kind(Kind::Float);
                let mut p = match &self.masters[i] {
                    Some(master) => master.shallow_clone(),
                    None => p.shallow_clone(),
                };
                let m = &mut self.exp_avg[i];
                let v = &mut self.exp_avg_sq[i];
                if self.config.weight_decay != 0.0 {
                    let _ = p.g_mul_scalar_(1.0 - lr * self.config.weight_decay);
                }
                let _ = m.lerp_(&grad, 1.0 - beta1);
                let _ = v.g_mul_scalar_(beta2);
                let _ = v.addcmul_(&grad, &(&grad * (1.0 - beta2)));
                let denom = (v.sqrt() / bias2_sqrt) + self.config.eps;
                let update = (&*m / denom) * (-step_size);
                let _ = p.g_add_(&update);
                if self.masters[i].is_some() {
                    self.params[i].1.shallow_clone().copy_(&p);
                }
            }
        });
    }

    /// Moments and step count as named tensors (for a checkpoint).
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            out.insert(format!("exp_avg.{name}"), self.exp_avg[i].shallow_clone());
            out.insert(
                format!("exp_avg_sq.{name}"),
                self.exp_avg_sq[i].shallow_clone(),
            );
            if let Some(master) = &self.masters[i] {
                out.insert(format!("master.{name}"), master.shallow_clone());
            }
        }
        out.insert("step".into(), Tensor::from_slice(&[self.step]));
        out
    }

    /// Restores what [`AdamW::state_tensors`] saved.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>) -> Result<()> {
        let get = |key: &str| match state.get(key) {
            Some(t) => Ok(t),
            None => bail!("optimizer state has no `{key}`"),
        };
        for (i, (name, _)) in self.params.iter().enumerate() {
            tch::no_grad(|| -> Result<()> {
                self.exp_avg[i].copy_(get(&format!("exp_avg.{name}"))?);
                self.exp_avg_sq[i].copy_(get(&format!("exp_avg_sq.{name}"))?);
                if let Some(master) = &mut self.masters[i] {
                    master.copy_(get(&format!("master.{name}"))?);
                }
                Ok(())
            })?;
        }
        self.step = get("step")?.int64_value(&[0]);
        Ok(())
    }
}

/// Shape of the learning rate after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decay {
    /// Stay at the peak.
    Constant,
    /// Fall linearly to zero at the last step (the paper's schedule).
    Linear,
    /// Half a cosine down to zero at the last step.
    Cosine,
}

/// Learning rate at `step` (0-based update index) of `total`: linear warmup from 0 over
/// `warmup` updates, then `decay` (as transformers' `get_*_schedule_with_warmup`).
pub fn learning_rate(peak: f64, step: i64, total: i64, warmup: i64, decay: Decay) -> f64 {
    if step < warmup {
        return peak * step as f64 / warmup.max(1) as f64;
    }
    let remaining = (total - warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / remaining).clamp(0.0, 1.0);
    match decay {
        Decay::Constant => peak,
        Decay::Linear => peak * (1.0 - progress),
        Decay::Cosine => peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_at_known_steps() {
        assert_eq!(learning_rate(1.0, 0, 100, 10, Decay::Linear), 0.0);
        assert_eq!(learning_rate(1.0, 5, 100, 10, Decay::Linear), 0.5);
        assert_eq!(learning_rate(1.0, 10, 100, 10, Decay::Linear), 1.0);
        assert_eq!(learning_rate(1.0, 55, 100, 10, Decay::Linear), 0.5);
        assert_eq!(learning_rate(1.0, 100, 100, 10, Decay::Linear), 0.0);
        assert_eq!(learning_rate(2.0, 70, 100, 10, Decay::Constant), 2.0);
        assert!((learning_rate(1.0, 55, 100, 10, Decay::Cosine) - 0.5).abs() < 1e-12);
        assert_eq!(learning_rate(1.0, 0, 100, 0, Decay::Cosine), 1.0);
    }

    #[test]
    fn adamw_first_step_matches_the_formula() {
        // After one step with zero state, m_hat = g and v_hat = g^2, so the update is
        // -lr * g / (|g| + eps) - lr * wd * p.
        let p = Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true);
        let loss = (&p * Tensor::from_slice(&[3.0f32, 0.5])).sum(Kind::Float);
        loss.backward();
        let config = AdamWConfig {
            weight_decay: 0.1,
            ..Default::default()
        };
        let mut opt = AdamW::new(vec![("p".into(), p.shallow_clone())], config);
        opt.step(0.01);
        let got: Vec<f32> = Vec::try_from(p.detach()).unwrap();
        let expect = [1.0 * (1.0 - 0.001) - 0.01, -2.0 * (1.0 - 0.001) - 0.01];
        for (g, e) in got.iter().zip(expect) {
            assert!((*g as f64 - e).abs() < 1e-6, "{got:?} vs {expect:?}");
        }
    }

    #[test]
    fn bf16_parameters_accumulate_small_updates_in_an_f32_master() {
        // Each update moves the weight by lr = 1e-3, far below bf16's step of 2^-7 at 1.0: a
        // bf16-only update would be rounded away every time.
        let p = Tensor::from_slice(&[1.0f32])
            .to_kind(Kind::BFloat16)
            .set_requires_grad(true);
        let mut opt = AdamW::new(
            vec![("p".into(), p.shallow_clone())],
            AdamWConfig::default(),
        );
        for _ in 0..20 {
            opt.zero_grad();
            (&p * 1.0).sum(Kind::Float).backward();
            opt.step(1e-3);
        }
        let master = opt.state_tensors()["master.p"].double_value(&[0]);
        assert!((master - 0.98).abs() < 1e-4, "master {master}");
        let rounded = p.to_kind(Kind::Float).double_value(&[0]);
        assert!((rounded - 0.98).abs() < 0.004, "bf16 parameter {rounded}");
    }

    #[test]
    fn clipping_scales_to_the_max_norm() {
        let p = Tensor::from_slice(&[0.0f32, 0.0]).set_requires_grad(true);
        (&p * Tensor::from_slice(&[3.0f32, 4.0]))
            .sum(Kind::Float)
            .backward();
        let opt = AdamW::new(
            vec![("p".into(), p.shallow_clone())],
            AdamWConfig::default(),
        );
        assert!((opt.clip_grad_norm(Some(1.0)) - 5.0).abs() < 1e-6);
        assert!((opt.clip_grad_norm(None) - 1.0).abs() < 1e-5);
    }
}
