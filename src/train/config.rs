//! The finetune config (`neglect finetune CONFIG.toml`). Unknown or mistyped keys are errors
//! that name the file and key. Relative paths are taken from the working directory.

use super::optim::{AdamWConfig, Decay};
use super::schedule::CheckpointSchedule;
use crate::model::lora::LoraConfig;
use crate::model::{DeviceChoice, DtypeChoice};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Full finetuning or LoRA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum Method {
    /// Every weight is trained.
    Full,
    /// Only low-rank adapters are trained; the base is frozen.
    Lora(LoraConfig),
}

/// One training data source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Name used in logs.
    pub name: String,
    /// JSONL file of `{"text": ...}` or `{"messages": [...]}` lines.
    pub path: PathBuf,
    /// Mixing proportion (relative to the other sources).
    #[serde(default = "one")]
    pub sampling_weight: f64,
    /// Multiplier of this source's token losses (3.0 for the paper's constraint set).
    #[serde(default = "one_f32")]
    pub loss_weight: f32,
    /// The paper's `word_masks.yaml`: matches get zero loss.
    #[serde(default)]
    pub word_masks: Option<PathBuf>,
    /// Mask the `<DOCTAG>` marker at the start of documents.
    #[serde(default = "yes")]
    pub mask_doctag: bool,
}

/// A held-out set whose loss is tracked by token kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldoutConfig {
    /// Name in `loss.parquet`.
    pub name: String,
    /// JSONL documents with `spans` (as `neglect docs` writes them).
    pub path: PathBuf,
}

/// Optimisation recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Peak learning rate.
    pub lr: f64,
    /// Decay after warmup.
    #[serde(default = "linear")]
    pub schedule: Decay,
    /// Linear warmup updates.
    #[serde(default)]
    pub warmup_steps: i64,
    /// Sequences per micro-batch.
    pub batch_size: usize,
    /// Micro-batches per update.
    #[serde(default = "one_usize")]
    pub grad_accum: usize,
    /// Tokens per sequence; longer documents are split.
    pub max_length: usize,
    /// Number of updates (or give `epochs`).
    #[serde(default)]
    pub steps: Option<i64>,
    /// Passes over the first source (the training documents), the other sources drawn
    /// alongside in proportion to their weights; converted to updates (or give `steps`).
    #[serde(default)]
    pub epochs: Option<f64>,
    /// Pack several documents per sequence (attention stays inside each document).
    #[serde(default = "yes")]
    pub pack: bool,
    /// AdamW betas.
    #[serde(default = "betas")]
    pub betas: [f64; 2],
    /// AdamW epsilon.
    #[serde(default = "eps")]
    pub eps: f64,
    /// Decoupled weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Clip the global gradient norm to this (none when absent).
    #[serde(default)]
    pub grad_clip: Option<f64>,
    /// Also evaluate held-out loss every this many updates (besides every checkpoint).
    #[serde(default)]
    pub heldout_every: Option<i64>,
    /// Positions per chunk of the loss: the next-token loss is computed over this many
    /// positions of the batch at a time, so no `[batch, seq, vocab]` f32 logits tensor exists.
    /// Default: the whole sequence when those logits would stay under 64M values (256 MB),
    /// else chunks that do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loss_chunk: Option<i64>,
    /// Activation checkpointing: keep only each block's input in the forward pass and
    /// recompute the block in the backward pass (less memory, about one more forward pass of
    /// time). Off by default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub checkpoint_activations: bool,
    /// Weight of the router's load-balancing loss added to every micro-batch's loss (sparse
    /// expert models only; transformers' `router_aux_loss_coef`, e.g. 0.001). Off (0) by
    /// default; not combined with `checkpoint_activations`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub router_aux_loss_coef: f64,
}

impl Recipe {
    /// The optimizer settings.
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            betas: self.betas,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}
fn one() -> f64 {
    1.0
}
fn one_f32() -> f32 {
    1.0
}
fn one_usize() -> usize {
    1
}
fn yes() -> bool {
    true
}
fn linear() -> Decay {
    Decay::Linear
}
fn betas() -> [f64; 2] {
    AdamWConfig::default().betas
}
fn eps() -> f64 {
    AdamWConfig::default().eps
}
fn auto() -> DeviceChoice {
    DeviceChoice::Auto
}
fn f32_dtype() -> DtypeChoice {
    DtypeChoice::F32
}

/// A whole finetune run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinetuneConfig {
    /// HF model directory to start from.
    pub model: PathBuf,
    /// Run directory: `step-<N>/` checkpoints, `train.parquet`, `loss.parquet`.
    pub out: PathBuf,
    /// Seed of data order, adapter init and dropout.
    pub seed: u64,
    /// Device.
    #[serde(default = "auto")]
    pub device: DeviceChoice,
    /// Weight dtype. bf16/f16 run the model in half precision (the GPU recipe) while AdamW keeps
    /// f32 master weights and moments.
    #[serde(default = "f32_dtype")]
    pub dtype: DtypeChoice,
    /// Full or LoRA.
    pub method: Method,
    /// Training data.
    pub sources: Vec<SourceConfig>,
    /// Held-out sets.
    #[serde(default)]
    pub heldout: Vec<HeldoutConfig>,
    /// Optimisation.
    pub recipe: Recipe,
    /// Checkpoint steps.
    #[serde(default)]
    pub checkpoints: CheckpointSchedule,
}

impl FinetuneConfig {
    /// Reads and checks a TOML config.
    pub fn from_file(path: &Path) -> Result<Self> {
        let config: FinetuneConfig = crate::store::read_toml(path, "config")?;
        config
            .check()
            .with_context(|| format!("{}", path.display()))?;
        Ok(config)
    }

    /// Semantic checks serde cannot express.
    pub fn check(&self) -> Result<()> {
        let r = &self.recipe;
        if self.sources.is_empty() {
            bail!("no [[sources]]");
        }
        if r.batch_size == 0 || r.grad_accum == 0 || r.max_length < 2 {
            bail!("recipe: batch_size and grad_accum must be positive and max_length at least 2");
        }
        if !(r.lr.is_finite() && r.lr > 0.0) {
            bail!("recipe.lr must be a positive number, found {}", r.lr);
        }
        match (r.steps, r.epochs) {
            (Some(s), None) if s >= 1 => {}
            (None, Some(e)) if e > 0.0 => {}
            _ => bail!("recipe: give exactly one of `steps` (>= 1) or `epochs` (> 0)"),
        }
        if let Some(every) = self.checkpoints.every.filter(|&e| e < 1) {
            bail!("checkpoints.every must be positive, found {every}");
        }
        for source in &self.sources {
            if source.sampling_weight.is_nan()
                || source.sampling_weight <= 0.0
                || source.loss_weight < 0.0
            {
                bail!(
                    "source `{}`: sampling_weight must be > 0 and loss_weight >= 0",
                    source.name
                );
            }
        }
        if let Method::Lora(lora) = &self.method {
            lora.target_regex()?;
        }
        if !(r.router_aux_loss_coef.is_finite() && r.router_aux_loss_coef >= 0.0) {
            bail!(
                "recipe.router_aux_loss_coef must be a number >= 0, found {}",
                r.router_aux_loss_coef
            );
        }
        if r.router_aux_loss_coef > 0.0 && r.checkpoint_activations {
            bail!("recipe.router_aux_loss_coef cannot be combined with recipe.checkpoint_activations (the recomputed blocks do not keep the router's logits)");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
model = "m"
out = "o"
seed = 1
[method]
kind = "lora"
rank = 4
alpha = 8.0
targets = "q_proj|v_proj"
[[sources]]
name = "negated"
path = "d.jsonl"
[recipe]
lr = 1e-3
batch_size = 2
max_length = 64
steps = 10
"#;

    fn parse(text: &str) -> Result<FinetuneConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("run.toml");
        std::fs::write(&path, text)?;
        FinetuneConfig::from_file(&path)
    }

    #[test]
    fn reads_a_lora_config_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.recipe.schedule, Decay::Linear);
        assert_eq!(c.sources[0].loss_weight, 1.0);
        assert!(matches!(c.method, Method::Lora(LoraConfig { rank: 4, .. })));
    }

    #[test]
    fn unknown_and_mistyped_keys_are_named() {
        let err =
            parse(&GOOD.replace("batch_size = 2", "batch_size = 2\nbatch_sise = 3")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("run.toml") && msg.contains("batch_sise"),
            "{msg}"
        );
        let err = parse(&GOOD.replace("steps = 10", "steps = \"ten\"")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("run.toml") && msg.contains("steps"), "{msg}");
        let err = parse(&GOOD.replace("steps = 10", "")).unwrap_err();
        assert!(
            format!("{err:#}").contains("exactly one of `steps`"),
            "{err:#}"
        );
    }
}
