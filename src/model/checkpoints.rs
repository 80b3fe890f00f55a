//! A finetuning run's checkpoints: which models a run has, and loading each for a measurement
//! (evaluation, probe readout, an experiment's arms).
//!
//! A run is a folder of `step-<N>/` checkpoints, each complete once its `state.json` is
//! written (or, for a run of HF's Trainer, of `checkpoint-<N>/` folders with their
//! `trainer_state.json`): an HF model folder (full finetuning) or a LoRA adapter as HF peft
//! writes one (`adapter_config.json`, `adapter_model.safetensors`). [`RunLoader`] loads them onto one
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

/// The complete checkpoints of `run`, by step: neglect's `step-<N>` folders (complete once
/// they hold `state.json`) or, for a run of HF's Trainer, its `checkpoint-<N>` folders
/// (complete once they hold `trainer_state.json`); none when the folder does not exist.
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
        let layouts = [
            ("step-", "state.json"),
            ("checkpoint-", "trainer_state.json"),
        ];
        for (prefix, marker) in layouts {
            let step = name
                .strip_prefix(prefix)
                .and_then(|s| s.parse::<i64>().ok());
            if let Some(step) = step {
                if entry.path().join(marker).is_file() {
                    found.push((step, entry.path()));
                }
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

/// What a LoRA checkpoint's `adapter_config.json` says: the base model and the adapter's shape,
/// as neglect writes it or as HF peft does (`target_modules` a list of layer names, a regex
/// that must match a whole layer name, or `all-linear`; `use_rslora`; `rank_pattern` and
/// `alpha_pattern` giving some layers their own rank or alpha). DoRA, `modules_to_save`,
/// trained biases and other PEFT types are refused with the key named.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterCheckpoint {
    /// The base model folder (`base_model_name_or_path`).
    pub base: PathBuf,
    /// Rank, alpha and target layers (dropout is a training setting and read as 0).
    pub lora: LoraConfig,
    /// Layers (a regex over the end of the name) with their own rank.
    pub rank_pattern: Vec<(String, i64)>,
    /// Layers (a regex over the end of the name) with their own alpha.
    pub alpha_pattern: Vec<(String, f64)>,
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
        let at = file.display();
        let get = |key: &str| {
            json.get(key)
                .with_context(|| format!("{at}: missing key `{key}`"))
        };
        let set = |key: &str| json.get(key).filter(|v| !v.is_null());
        if let Some(kind) = set("peft_type").and_then(|v| v.as_str()) {
            if kind != "LORA" {
                bail!("{at}: peft_type `{kind}` is not supported (LORA only)");
            }
        }
        if set("use_dora").and_then(|v| v.as_bool()) == Some(true) {
            bail!("{at}: use_dora: DoRA adapters are not supported");
        }
        if set("modules_to_save").is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
            bail!("{at}: modules_to_save: adapters that retrain whole modules are not supported");
        }
        // PEFT options that change which layers or what an adapter computes, beyond what
        // neglect applies: refused rather than read wrongly.
        for key in [
            "layers_to_transform",
            "layers_pattern",
            "exclude_modules",
            "layer_replication",
            "alora_invocation_tokens",
            "target_parameters",
        ] {
            if set(key).is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
                bail!("{at}: {key}: not supported");
            }
        }
        for key in ["fan_in_fan_out", "lora_bias"] {
            if set(key).and_then(|v| v.as_bool()) == Some(true) {
                bail!("{at}: {key}: not supported");
            }
        }
        if let Some(bias) = set("bias").and_then(|v| v.as_str()) {
            if bias != "none" {
                bail!("{at}: bias `{bias}`: adapters that train biases are not supported");
            }
        }
        let base = get("base_model_name_or_path")?
            .as_str()
            .with_context(|| format!("{at}: `base_model_name_or_path` must be text"))?;
        let targets = match (
            json.get("neglect_targets").and_then(|v| v.as_str()),
            get("target_modules")?,
        ) {
            (Some(t), _) => t.to_string(),
            // PEFT: every linear layer but the output head (which neglect never adapts).
            (None, serde_json::Value::String(s)) if s == "all-linear" => ".*".into(),
            // PEFT: a regex that must match the whole layer name.
            (None, serde_json::Value::String(s)) => format!("^(?:{s})$"),
            (None, serde_json::Value::Array(names)) => names
                .iter()
                .filter_map(|v| {
                    v.as_str()
                        .map(|s| format!(r"(?:^|\.){}$", regex::escape(s)))
                })
                .collect::<Vec<_>>()
                .join("|"),
            (None, _) => bail!("{at}: `target_modules` must be a list or a regex"),
        };
        let pattern = |key: &str| -> Result<Vec<(String, f64)>> {
            match set(key) {
                None => Ok(vec![]),
                Some(serde_json::Value::Object(map)) => map
                    .iter()
                    .map(|(k, v)| {
                        let n = v
                            .as_f64()
                            .with_context(|| format!("{at}: {key}.{k} must be a number"))?;
                        Ok((format!(r"^(?:.*\.)?(?:{k})$"), n))
                    })
                    .collect(),
                Some(_) => bail!("{at}: `{key}` must be a map of layer pattern to number"),
            }
        };
        let lora = LoraConfig {
            rank: get("r")?
                .as_i64()
                .with_context(|| format!("{at}: `r` must be an integer"))?,
            alpha: get("lora_alpha")?
                .as_f64()
                .with_context(|| format!("{at}: `lora_alpha` must be a number"))?,
            dropout: 0.0,
            targets,
            rslora: set("use_rslora").and_then(|v| v.as_bool()).unwrap_or(false),
        };
        let checkpoint = AdapterCheckpoint {
            base: PathBuf::from(base),
            lora,
            rank_pattern: pattern("rank_pattern")?
                .into_iter()
                .map(|(k, v)| (k, v as i64))
                .collect(),
            alpha_pattern: pattern("alpha_pattern")?,
        };
        let patterns = checkpoint.rank_pattern.iter().map(|(p, _)| p);
        for p in patterns.chain(checkpoint.alpha_pattern.iter().map(|(p, _)| p)) {
            regex::Regex::new(p)
                .with_context(|| format!("{at}: pattern `{p}` is not a valid regex"))?;
        }
        Ok(Some(checkpoint))
    }

    /// The settings of the adapter on layer `name`: the first matching rank and alpha
    /// patterns override the config's.
    pub fn lora_for(&self, name: &str) -> LoraConfig {
        let first = |patterns: &[(String, f64)]| {
            patterns
                .iter()
                .find(|(p, _)| regex::Regex::new(p).is_ok_and(|re| re.is_match(name)))
                .map(|(_, v)| *v)
        };
        let ranks: Vec<(String, f64)> = self
            .rank_pattern
            .iter()
            .map(|(p, r)| (p.clone(), *r as f64))
            .collect();
        LoraConfig {
            rank: first(&ranks).map_or(self.lora.rank, |r| r as i64),
            alpha: first(&self.alpha_pattern).unwrap_or(self.lora.alpha),
            ..self.lora.clone()
        }
    }

    /// Attaches this adapter's layers, fresh, to `decoder`, their weights stored in `adapters`.
    pub fn attach(
        &self,
        decoder: &mut super::decoder::Decoder,
        adapters: &VarStore,
    ) -> Result<Vec<String>> {
        let targets = self.lora.target_regex()?;
        decoder.attach_lora_each(adapters, &targets, &|name| self.lora_for(name))
    }
}

/// The model in `dir`, with the adapter in `adapter` attached when one is given
/// ([`load_adapted`]): what `--model DIR [--adapter DIR]` loads.
pub fn load_model(
    dir: &Path,
    adapter: Option<&Path>,
    device: Device,
    kind: Kind,
) -> Result<LoadedModel> {
    match adapter {
        Some(adapter) => load_adapted(dir, adapter, device, kind),
        None => LoadedModel::load(dir, device, kind),
    }
}

/// `base` with the adapter in `adapter` attached (its `base_model_name_or_path` is not read
/// for the base: `--model DIR --adapter DIR`).
pub fn load_adapted(
    base: &Path,
    adapter: &Path,
    device: Device,
    kind: Kind,
) -> Result<LoadedModel> {
    let checkpoint = AdapterCheckpoint::read(adapter)?
        .with_context(|| format!("{}: no {ADAPTER_CONFIG}: not an adapter", adapter.display()))?;
    let mut model = LoadedModel::load(base, device, kind)?;
    let adapters = VarStore::new(device);
    checkpoint.attach(&mut model.decoder, &adapters)?;
    // The layers hold the adapter tensors; the store that named them can go.
    copy_tensors(&adapters.variables(), &adapter.join(ADAPTER_WEIGHTS))?;
    Ok(model)
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
            checkpoint.attach(&mut model.decoder, &adapters)?;
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
