//! LoRA adapters: a low-rank update `scale * B A` added to chosen linear layers.
//!
//! Adapters live in their own `VarStore`, named as PEFT names them
//! (`base_model.model.<layer>.lora_A.weight` `[rank, in]`, `...lora_B.weight` `[out, rank]`),
//! so they are saved apart from the base (`adapter_model.safetensors` + `adapter_config.json`)
//! and can be merged into it. `B` starts at zero, so a fresh adapter leaves the model unchanged.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Kind, Tensor};

/// Prefix PEFT puts before a layer's name in adapter files.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// Adapter hyper-parameters (PEFT's `adapter_config.json` keys `r`, `lora_alpha`,
/// `lora_dropout`, `target_modules`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank of the update.
    pub rank: i64,
    /// Scale numerator: the update is multiplied by `alpha / rank`.
    pub alpha: f64,
    /// Dropout on the adapter's input during training.
    #[serde(default)]
    pub dropout: f64,
    /// Regex over layer names choosing the adapted layers, e.g. `q_proj|v_proj`.
    pub targets: String,
    /// Rank-stabilised scaling (PEFT's `use_rslora`): `alpha / sqrt(rank)`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rslora: bool,
}

impl LoraConfig {
    /// `alpha / rank`, or `alpha / sqrt(rank)` with rank-stabilised scaling.
    pub fn scale(&self) -> f64 {
        if self.rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }

    /// Checks rank, alpha and dropout and compiles the target pattern.
    pub fn target_regex(&self) -> Result<regex::Regex> {
        if self.rank < 1 {
            bail!("lora rank must be at least 1, found {}", self.rank);
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("lora dropout must be in [0, 1), found {}", self.dropout);
        }
        regex::Regex::new(&self.targets)
            .with_context(|| format!("lora targets `{}` is not a valid regex", self.targets))
    }

    /// The PEFT `adapter_config.json` content.
    pub fn peft_json(&self, base_model: &str, target_names: &[String]) -> serde_json::Value {
        let mut modules: Vec<&str> = target_names
            .iter()
            .filter_map(|n| n.rsplit('.').next())
            .collect();
        modules.sort();
        modules.dedup();
        serde_json::json!({
            "peft_type": "LORA",
            "base_model_name_or_path": base_model,
            "r": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": self.dropout,
            "use_rslora": self.rslora,
            "target_modules": modules,
            "bias": "none",
            "task_type": "CAUSAL_LM",
            "neglect_targets": self.targets,
        })
    }
}

/// One adapter: `y += scale * dropout(x) A^T B^T`.
#[derive(Debug)]
pub struct LoraAdapter {
    /// Down projection `[rank, in]`.
    pub a: Tensor,
    /// Up projection `[out, rank]`, zero at creation.
    pub b: Tensor,
    /// The update's scale ([`LoraConfig::scale`]).
    pub scale: f64,
    /// Input dropout probability (training only).
    pub dropout: f64,
}

impl LoraAdapter {
    /// Creates `lora_A` (Kaiming-uniform, as PEFT) and `lora_B` (zeros) under `path`.
    pub fn new(
        path: &nn::Path,
        in_dim: i64,
        out_dim: i64,
        config: &LoraConfig,
        kind: Kind,
    ) -> Self {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let a = Tensor::empty([config.rank, in_dim], (kind, path.device()));
        let a = tch::no_grad(|| a.uniform(-bound, bound));
        let b = Tensor::zeros([out_dim, config.rank], (kind, path.device()));
        let a = (path / "lora_A").add("weight", a, true);
        let b = (path / "lora_B").add("weight", b, true);
        LoraAdapter {
            a,
            b,
            scale: config.scale(),
            dropout: config.dropout,
        }
    }

    /// The adapter's contribution for input `x`.
    pub fn delta(&self, x: &Tensor, train: bool) -> Tensor {
        let x = if train && self.dropout > 0.0 {
            x.dropout(self.dropout, true)
        } else {
            x.shallow_clone()
        };
        x.linear(&self.a, None::<&Tensor>)
            .linear(&self.b, None::<&Tensor>)
            * self.scale
    }

    /// The dense update `scale * B A` `[out, in]`.
    pub fn dense(&self) -> Tensor {
        self.b.matmul(&self.a) * self.scale
    }
}
