//! Models: one decoder for the Llama / Qwen2 / Qwen3 / GPT-2 family, loaded from HF folders.
//!
//! In: an HF model directory (`config.json`, `model.safetensors` or a sharded index,
//! `tokenizer.json`, `tokenizer_config.json`). Out: a [`LoadedModel`] whose `VarStore` holds the
//! weights under their HF names, ready for inference (logits, residual stream, generation) or
//! for the training engine.
//!
//! - [`config`]: config.json -> [`config::ModelConfig`]
//! - [`layers`], [`decoder`]: the network
//! - [`edit`]: interventions on the residual stream (steering, patching)
//! - [`load`]: safetensors in and out
//! - [`lora`]: low-rank adapters
//! - [`tokenizer`]: tokenizer and chat template
//! - [`generate`]: KV-cache generation
//! - [`cli`]: the `model info`, `generate`, `forward` and `import-gguf` verbs

mod attention;
pub mod checkpoints;
pub mod cli;
pub mod config;
pub mod decoder;
mod deltanet;
pub mod edit;
pub mod generate;
pub mod layers;
pub mod load;
pub mod lora;
mod mlp;
pub mod moe;
pub mod tokenizer;
pub mod torch_error;

use anyhow::{bail, Result};
use config::ModelConfig;
use decoder::Decoder;
use layers::Init;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind};
use tokenizer::TextTokenizer;

/// Where to run: `auto` picks CUDA when libtorch sees a GPU.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA if available, else CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The first CUDA device.
    Cuda,
}

impl DeviceChoice {
    /// The tch device, or an error when CUDA is asked for and absent.
    pub fn resolve(self) -> Result<Device> {
        Ok(match self {
            DeviceChoice::Auto => Device::cuda_if_available(),
            DeviceChoice::Cpu => Device::Cpu,
            DeviceChoice::Cuda => {
                if !tch::Cuda::is_available() {
                    bail!("--device cuda: libtorch sees no CUDA device");
                }
                Device::Cuda(0)
            }
        })
    }
}

/// Weight dtype.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum DtypeChoice {
    /// 32-bit float.
    F32,
    /// bfloat16.
    Bf16,
    /// IEEE half.
    F16,
}

impl DtypeChoice {
    /// The tch kind.
    pub fn kind(self) -> Kind {
        match self {
            DtypeChoice::F32 => Kind::Float,
            DtypeChoice::Bf16 => Kind::BFloat16,
            DtypeChoice::F16 => Kind::Half,
        }
    }
}

/// A model loaded from an HF directory.
pub struct LoadedModel {
    /// Directory it was loaded from.
    pub dir: PathBuf,
    /// The weights, under HF names.
    pub vs: VarStore,
    /// The network.
    pub decoder: Decoder,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
}

impl LoadedModel {
    /// Loads config, weights and tokenizer from `dir` onto `device` in dtype `kind`.
    pub fn load(dir: &Path, device: Device, kind: Kind) -> Result<Self> {
        let config = ModelConfig::from_dir(dir)?;
        let tokenizer = TextTokenizer::from_dir(dir)?;
        if tokenizer.vocab_size() as i64 > config.vocab_size {
            bail!(
                "{}: the tokenizer has {} tokens but the model's embedding has only {} rows (config.json vocab_size)",
                dir.join("tokenizer.json").display(),
                tokenizer.vocab_size(),
                config.vocab_size
            );
        }
        let vs = VarStore::new(device);
        let decoder = Decoder::new(&vs, &config, kind, Init::Empty);
        load::load_into(&vs, dir, &config)?;
        Ok(LoadedModel {
            dir: dir.to_path_buf(),
            vs,
            decoder,
            tokenizer,
        })
    }

    /// Token ids that end generation: the config's EOS ids plus the tokenizer's EOS token.
    pub fn stop_ids(&self) -> Vec<i64> {
        let mut ids = self.decoder.config.eos_token_ids.clone();
        if let Some(id) = self.tokenizer.eos_token_id() {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}
