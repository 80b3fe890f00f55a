//! A finetuning run's checkpoints: which models a run has, and loading each for a measurement
//! (evaluation, probe readout, an experiment's arms).
//!
//! A run is a folder of `step-<N>/` checkpoints, each complete once its `state.json` is
//! written: an HF model folder (full finetuning) or a LoRA adapter as HF peft writes one
//! (`adapter_config.json`, `adapter_model.safetensors`). [`RunLoader`] loads them onto one
//! device and dtype. Adapters are measured in memory: the base model they name is loaded once,
//! the adapters are attached to it, and each checkpoint's adapter weights are copied in and
//! applied unmerged, so measuring a run writes no model folder and reads the base model once.

use super::load::copy_tensors;
use super::lora::LoraConfig;
use super::LoadedModel;
use crate::store;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind};

/// A checkpoint's adapter files.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// A checkpoint's adapter weights.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// The complete `step-<N>` checkpoints of `run` (those with a `state.json`), by step; none when
/// the folder does not exist.
pub fn list_checkpoints(run: &Path) -> Result<Vec<(i64, PathBuf)>> {
    if !run.is_dir() {
        return Ok(vec![]);
    }
    let mut found = vec![];
    for entry in
        std::fs::read_dir(run).with_context(|| format!("{}: cannot list", run.display()))?
    {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(step) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<i64>().ok())
        {
            if entry.path().join("state.json").is_file() {
                found.push((step, entry.path()));
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The models of a run, by step: every complete checkpoint, plus the base model as step 0 when
/// the run has no step-0 checkpoint and its first checkpoint's `manifest.json` names the base
/// (`config.model`). An error when the run has no checkpoint.
pub fn run_models(run: &Path) -> Result<Vec<(i64, PathBuf)>> {
    let mut models = list_checkpoints(run)?;
    let Some((first_step, first_dir)) = models.first().cloned() else {
        bail!("{}: no complete step-N checkpoints", run.display());
    };
    if first_step != 0 {
        let manifest = first_dir.join("manifest.json");
        if manifest.is_file() {
            let config = store::read_manifest_config(&manifest)?;
            if let Some(base) = config.get("model").and_then(|m| m.as_str()) {
                models.insert(0, (0, PathBuf::from(base)));
            }
        }
    }
    Ok(models)
}

/// What a LoRA checkpoint's `adapter_config.json` says: the base model and the adapter's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterCheckpoint {
    /// The base model folder (`base_model_name_or_path`).
    pub base: PathBuf,
    /// Rank, alpha and target layers (dropout is a training setting and read as 0).
    pub lora: LoraConfig,
}

impl AdapterCheckpoint {
    /// The adapter config of checkpoint `dir`, or `None` when `dir` is not an adapter (an HF
    /// model folder). Errors name the file and the key.
    pub fn read(dir: &Path) -> Result<Option<AdapterCheckpoint>> {
        let file = dir.join(ADAPTER_CONFIG);
        if !file.is_file() {
            return Ok(None);
        }
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&file)
                .with_context(|| format!("{}: cannot read", file.display()))?,
        )
        .with_context(|| format!("{}: not valid JSON", file.display()))?;
        let get = |key: &str| {
            json.get(key)
                .with_context(|| format!("{}: missing key `{key}`", file.display()))
        };
        let base = get("base_model_name_or_path")?.as_str().with_context(|| {
            format!("{}: `base_model_name_or_path` must be text", file.display())
        })?;
        let targets = match json.get("neglect_targets").and_then(|v| v.as_str()) {
            Some(t) => t.to_string(),
            None => get("target_modules")?
                .as_array()
                .with_context(|| format!("{}: `target_modules` must be a list", file.display()))?
                .iter()
                .filter_map(|v| v.as_str().map(|s| format!(r"\.{}$", regex::escape(s))))
                .collect::<Vec<_>>()
                .join("|"),
        };
        let lora = LoraConfig {
            rank: get("r")?
                .as_i64()
                .with_context(|| format!("{}: `r` must be an integer", file.display()))?,
            alpha: get("lora_alpha")?
                .as_f64()
                .with_context(|| format!("{}: `lora_alpha` must be a number", file.display()))?,
            dropout: 0.0,
            targets,
        };
        Ok(Some(AdapterCheckpoint {
            base: PathBuf::from(base),
            lora,
        }))
    }
}

/// A base model with adapters attached, kept across checkpoints.
struct Adapted {
    checkpoint: AdapterCheckpoint,
    model: LoadedModel,
    adapters: VarStore,
}

/// Loads the models of runs onto one device and dtype, holding a base model with its adapters
/// attached between LoRA checkpoints of the same base and shape.
pub struct RunLoader {
    device: Device,
    kind: Kind,
    adapted: Option<Adapted>,
    plain: Option<LoadedModel>,
}

impl RunLoader {
    /// A loader onto `device` in `kind`.
    pub fn new(device: Device, kind: Kind) -> RunLoader {
        RunLoader {
            device,
            kind,
            adapted: None,
            plain: None,
        }
    }

    /// The model of checkpoint (or model folder) `dir`: an HF folder as it is, a LoRA
    /// checkpoint as its base model with the adapter's weights (base loaded and adapters
    /// attached on first use, reused while the base and adapter shape stay the same).
    pub fn load(&mut self, dir: &Path) -> Result<&LoadedModel> {
        let Some(checkpoint) = AdapterCheckpoint::read(dir)? else {
            self.plain = None;
            return Ok(self
                .plain
                .insert(LoadedModel::load(dir, self.device, self.kind)?));
        };
        let reuse = self
            .adapted
            .as_ref()
            .is_some_and(|a| a.checkpoint == checkpoint);
        if !reuse {
            self.adapted = None;
            let mut model = LoadedModel::load(&checkpoint.base, self.device, self.kind)
                .with_context(|| format!("the base model of {}", dir.display()))?;
            let adapters = VarStore::new(self.device);
            model.decoder.attach_lora(&adapters, &checkpoint.lora)?;
            self.adapted = Some(Adapted {
                checkpoint,
                model,
                adapters,
            });
        }
        let adapted = self.adapted.as_mut().expect("set above");
        copy_tensors(&adapted.adapters.variables(), &dir.join(ADAPTER_WEIGHTS))?;
        Ok(&adapted.model)
    }
}
