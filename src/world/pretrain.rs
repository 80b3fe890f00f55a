//! `neglect world pretrain`: the world's base model, pretrained with the finetune engine
//! ([`crate::train::finetune`], full finetuning from random weights) and saved as an HF folder.
//!
//! In: a seed and [`PretrainSettings`]. Out, in the output folder (written atomically):
//! `config.json`, `model.safetensors`, `tokenizer.json`, `tokenizer_config.json` (an HF model
//! any verb loads), `corpus.jsonl` (what it was trained on), `truth_statements.csv` (true and
//! false statements about the world's facts, affirmative and negated,
//! `statement,label,family,polarity`, for truth probes),
//! `train.parquet` (loss per step) and `world.json` (seed, settings, corpus and training
//! figures, versions; the cache key). A folder whose `world.json` holds the same key (a hash of
//! the corpus and the settings) is reused as is, so later runs cost nothing.

use super::{claims, corpus, tokenizer, World};
use crate::model::config::ModelConfig;
use crate::model::decoder::Decoder;
use crate::model::layers::Init;
use crate::model::{load, DeviceChoice, DtypeChoice};
use crate::store::{self, Manifest};
use crate::train::config::{FinetuneConfig, Method, Recipe, SourceConfig};
use crate::train::optim::Decay;
use crate::train::schedule::CheckpointSchedule;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind};

/// Bumped when the pretraining procedure changes in a way the key cannot see.
const PROCEDURE_VERSION: u32 = 1;

/// Size and recipe of the base model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PretrainSettings {
    /// BPE vocabulary size, special tokens included.
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: i64,
    /// Transformer blocks.
    pub layers: i64,
    /// Attention heads.
    pub heads: i64,
    /// MLP width.
    pub intermediate_size: i64,
    /// Longest sequence the model supports (in-context documents need room).
    pub max_positions: i64,
    /// Tokens per training row (documents are packed).
    pub seq_len: usize,
    /// Rows per update.
    pub batch_size: usize,
    /// Updates.
    pub steps: i64,
    /// Peak learning rate (cosine decay after warmup).
    pub lr: f64,
    /// Warmup updates.
    pub warmup_steps: i64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Precision of the weights during training: bf16 runs forward and backward in bfloat16
    /// while AdamW keeps f32 master weights and moments; the saved model is then bf16.
    pub dtype: DtypeChoice,
}

impl PretrainSettings {
    /// The shipped base model: about 7.3M parameters (d 256, 8 blocks, 2,048 tokens), trained
    /// in bf16 with f32 master weights. Eight narrow blocks rather than four wide ones (7.9M
    /// parameters at d 384, the previous organism) for about the same compute, since answering
    /// yes/no about a known fact composes retrieval and comparison; together with weight decay
    /// 0.1 and fresh wrong values in the corpus's yes/no questions (changed at once, so not
    /// separated), known-fact accuracy rose from 74% to 95%. 2,400 steps (about 10 passes over
    /// the corpus) took 52.5 minutes on 2 cores of an Intel Xeon with AMX (about 5,400
    /// tokens/s; bf16 at d 384 ran 3.5x faster than f32 on an AMD EPYC with avx512_bf16).
    pub fn standard() -> Self {
        PretrainSettings {
            vocab_size: 2048,
            hidden_size: 256,
            layers: 8,
            heads: 4,
            intermediate_size: 768,
            max_positions: 1024,
            seq_len: 256,
            batch_size: 32,
            steps: 2400,
            lr: 2e-3,
            warmup_steps: 60,
            weight_decay: 0.1,
            dtype: DtypeChoice::Bf16,
        }
    }

    /// A seconds-long run for tests and smoke checks (a model that has learned little).
    pub fn quick() -> Self {
        PretrainSettings {
            vocab_size: 600,
            hidden_size: 32,
            layers: 2,
            heads: 2,
            intermediate_size: 64,
            max_positions: 512,
            seq_len: 128,
            batch_size: 8,
            steps: 6,
            lr: 3e-3,
            warmup_steps: 1,
            weight_decay: 0.01,
            dtype: DtypeChoice::F32,
        }
    }

    /// The model's config.json (a Llama-architecture decoder with tied embeddings).
    pub fn config_json(&self, vocab: usize) -> serde_json::Value {
        serde_json::json!({
            "model_type": "llama",
            "architectures": ["LlamaForCausalLM"],
            "vocab_size": vocab,
            "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads,
            "num_key_value_heads": self.heads,
            "head_dim": self.hidden_size / self.heads,
            "max_position_embeddings": self.max_positions,
            "rms_norm_eps": 1e-5,
            "rope_theta": 10000.0,
            "tie_word_embeddings": true,
            "hidden_act": "silu",
            "torch_dtype": "float32",
            "eos_token_id": 0,
            "pad_token_id": 0,
        })
    }
}

/// What `world.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorldRecord {
    /// Cache key: hash of the corpus, the settings and the procedure version.
    pub key: String,
    /// World seed.
    pub seed: u64,
    /// Model size and recipe.
    pub settings: PretrainSettings,
    /// Parameters of the model.
    pub parameters: i64,
    /// Corpus records.
    pub corpus_items: usize,
    /// Corpus tokens (one pass).
    pub corpus_tokens: usize,
    /// Items dropped because they mentioned a target claim.
    pub dropped_items: usize,
    /// Tokens the model was trained on (all passes).
    pub tokens_seen: i64,
    /// Final training loss (mean over the last 10 updates).
    pub final_loss: f64,
    /// Wall-clock seconds of the whole pretraining, corpus and tokenizer included.
    pub seconds: f64,
}

/// Where to pretrain and how.
#[derive(Debug, Clone)]
pub struct PretrainRequest {
    /// World seed.
    pub seed: u64,
    /// Output folder.
    pub out: PathBuf,
    /// Size and recipe.
    pub settings: PretrainSettings,
    /// Device.
    pub device: DeviceChoice,
    /// Retrain even when a matching model exists.
    pub force: bool,
    /// A shipped model folder (weights, tokenizer, `world.json`; no corpus) to install instead
    /// of pretraining when its key matches.
    pub shipped: Option<PathBuf>,
}

/// Files of a shipped world model: what pretraining produces, less what is regenerated from
/// the seed in seconds (`corpus.jsonl`, `truth_statements.csv`). A shipped folder may also hold
/// the gate results of that model ([`SHIPPED_GATE_FILES`]), copied after the weights so they
/// are newer than them (`make world` reruns the gates only when they are older).
pub const SHIPPED_FILES: [&str; 6] = [
    load::SINGLE_FILE,
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "train.parquet",
    "world.json",
];

/// Gate results a shipped folder may carry (`neglect world gates` on the shipped model).
pub const SHIPPED_GATE_FILES: [&str; 3] = ["gates.json", "gates.parquet", "truth_layers.csv"];

/// Reads `world.json` of a pretrained world model folder.
pub fn read_record(dir: &Path) -> Result<WorldRecord> {
    let file = dir.join("world.json");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("{}: not a world model (no world.json)", file.display()))?;
    let manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: malformed world record", file.display()))?;
    serde_json::from_value(manifest["config"].clone())
        .with_context(|| format!("{}: malformed world record", file.display()))
}

/// Pretrains (or reuses) the world model of `request`; returns its record.
pub fn pretrain(request: &PretrainRequest) -> Result<WorldRecord> {
    let start = Instant::now();
    let settings = &request.settings;
    let world = World::generate(request.seed);
    let targets = claims::target_specs()?;
    let (items, dropped) = corpus::build(&world, &targets)?;
    let mut corpus_jsonl = String::new();
    for item in &items {
        corpus_jsonl.push_str(&item.to_json().to_string());
        corpus_jsonl.push('\n');
    }
    let key = {
        let mut h = Sha256::new();
        h.update(corpus_jsonl.as_bytes());
        h.update(serde_json::to_vec(settings)?);
        h.update(PROCEDURE_VERSION.to_le_bytes());
        format!("{:x}", h.finalize())[..16].to_string()
    };
    if !request.force {
        if let Ok(record) = read_record(&request.out) {
            if record.key == key && request.out.join(load::SINGLE_FILE).is_file() {
                eprintln!(
                    "world model {} is up to date (key {key}); reusing it",
                    request.out.display()
                );
                return Ok(record);
            }
        }
    }
    if let (Some(shipped), false) = (&request.shipped, request.force) {
        match read_record(shipped) {
            Ok(record) if record.key == key => {
                eprintln!(
                    "installing the shipped world model {} (key {key}) into {}",
                    shipped.display(),
                    request.out.display()
                );
                store::write_dir_atomic(&request.out, |tmp| {
                    let optional = SHIPPED_GATE_FILES
                        .iter()
                        .filter(|name| shipped.join(name).is_file());
                    for name in SHIPPED_FILES.iter().chain(optional) {
                        std::fs::copy(shipped.join(name), tmp.join(name)).with_context(|| {
                            format!("{}: cannot copy {name}", shipped.display())
                        })?;
                    }
                    let corpus_file = tmp.join("corpus.jsonl");
                    std::fs::write(&corpus_file, &corpus_jsonl)
                        .with_context(|| format!("{}: cannot write", corpus_file.display()))?;
                    write_truth_statements(&world, &tmp.join("truth_statements.csv"))
                })?;
                return Ok(record);
            }
            Ok(record) => eprintln!(
                "the shipped world model {} has key {}, this corpus and settings give {key}: pretraining instead",
                shipped.display(),
                record.key
            ),
            Err(e) => eprintln!("no usable shipped world model ({e:#}): pretraining instead"),
        }
    }
    eprintln!(
        "world seed {}: {} corpus items ({} dropped for mentioning a target claim)",
        request.seed,
        items.len(),
        dropped
    );
    let mut record = None;
    store::write_dir_atomic(&request.out, |tmp| {
        record = Some(build(
            request,
            &world,
            &items,
            &corpus_jsonl,
            dropped,
            &key,
            start,
            tmp,
        )?);
        Ok(())
    })?;
    Ok(record.expect("set by the writer"))
}

#[allow(clippy::too_many_arguments)]
fn build(
    request: &PretrainRequest,
    world: &World,
    items: &[corpus::Item],
    corpus_jsonl: &str,
    dropped: usize,
    key: &str,
    start: Instant,
    out: &Path,
) -> Result<WorldRecord> {
    let settings = &request.settings;
    let corpus_file = out.join("corpus.jsonl");
    std::fs::write(&corpus_file, corpus_jsonl)
        .with_context(|| format!("{}: cannot write", corpus_file.display()))?;
    let init = out.join("init");
    std::fs::create_dir_all(&init)?;
    // Tokenizer: trained on every text of the corpus plus the rendered chat frame.
    let texts: Vec<&str> = items.iter().flat_map(|i| i.texts()).collect();
    tokenizer::train(&texts, settings.vocab_size, &init)?;
    let tok = crate::model::tokenizer::TextTokenizer::from_dir(&init)?;
    let vocab = tok.vocab_size();
    let corpus_tokens: usize = texts
        .iter()
        .map(|t| tok.encode(t, false).map(|ids| ids.len()))
        .sum::<Result<usize>>()?;
    eprintln!("tokenizer: {vocab} tokens; corpus: {corpus_tokens} tokens per pass");
    // Random initial weights.
    let config = settings.config_json(vocab);
    let config_file = init.join("config.json");
    store::write_json(&config_file, &config)?;
    let parsed = ModelConfig::from_json(&config, &config_file)?;
    tch::manual_seed(request.seed as i64);
    let vs = VarStore::new(Device::Cpu);
    let _decoder = Decoder::new(&vs, &parsed, Kind::Float, Init::Random { std: 0.02 });
    load::save_tensors(&vs.variables(), &init.join(load::SINGLE_FILE))?;
    // Train.
    let run = out.join("run");
    let finetune = FinetuneConfig {
        model: init.clone(),
        out: run.clone(),
        seed: request.seed,
        device: request.device,
        dtype: settings.dtype,
        method: Method::Full,
        sources: vec![SourceConfig {
            name: "world_corpus".into(),
            path: corpus_file.clone(),
            sampling_weight: 1.0,
            loss_weight: 1.0,
            word_masks: None,
            mask_doctag: true,
        }],
        heldout: vec![],
        recipe: Recipe {
            lr: settings.lr,
            schedule: Decay::Cosine,
            warmup_steps: settings.warmup_steps,
            batch_size: settings.batch_size,
            grad_accum: 1,
            max_length: settings.seq_len,
            steps: Some(settings.steps),
            epochs: None,
            pack: true,
            betas: [0.9, 0.95],
            eps: 1e-8,
            weight_decay: settings.weight_decay,
            grad_clip: Some(1.0),
            heldout_every: None,
            loss_chunk: None,
            checkpoint_activations: false,
            router_aux_loss_coef: 0.0,
        },
        checkpoints: CheckpointSchedule::default(),
    };
    crate::train::finetune::finetune(&finetune, false)?;
    let (step, last) = crate::train::finetune::newest_checkpoint(&run)?
        .context("pretraining wrote no checkpoint")?;
    for name in [
        load::SINGLE_FILE,
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "train.parquet",
    ] {
        std::fs::rename(last.join(name), out.join(name))
            .with_context(|| format!("{}: cannot move {name}", last.display()))?;
    }
    let (tokens_seen, final_loss) = training_figures(&out.join(crate::tables::TRAIN_FILE))?;
    std::fs::remove_dir_all(&run)?;
    std::fs::remove_dir_all(&init)?;
    write_truth_statements(world, &out.join("truth_statements.csv"))?;
    let record = WorldRecord {
        key: key.to_string(),
        seed: request.seed,
        settings: settings.clone(),
        parameters: parsed.parameter_count(),
        corpus_items: items.len(),
        corpus_tokens,
        dropped_items: dropped,
        tokens_seen,
        final_loss,
        seconds: start.elapsed().as_secs_f64(),
    };
    eprintln!(
        "pretrained {} parameters for {step} steps on {tokens_seen} tokens in {:.0} s (final loss {final_loss:.3})",
        record.parameters, record.seconds
    );
    store::write_json(
        &out.join("world.json"),
        &Manifest::new("world pretrain", record.clone(), Some(request.seed)),
    )?;
    Ok(record)
}

/// Tokens seen and the mean loss of the last 10 updates, from `train.parquet`.
fn training_figures(path: &Path) -> Result<(i64, f64)> {
    let metrics = crate::train::finetune::read_metrics(path, i64::MAX)?;
    let Some(last) = metrics.last() else {
        bail!("{}: no training metrics", path.display());
    };
    let tail = &metrics[metrics.len().saturating_sub(10)..];
    let mean = tail.iter().map(|m| m.loss).sum::<f64>() / tail.len() as f64;
    Ok((last.tokens_seen, mean))
}

/// Writes the world's true and false statements, affirmative and negated, as
/// `statement,label,family,polarity` CSV (the family is the fact's relation).
fn write_truth_statements(world: &World, path: &Path) -> Result<()> {
    let statements: Vec<_> = world
        .truth_statements()
        .iter()
        .map(|t| t.to_statement())
        .collect();
    crate::probe::statements::write_csv(path, &statements)
}
