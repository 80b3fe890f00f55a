//! The finetune loop: data mix -> weighted next-token loss -> AdamW, with checkpoints,
//! held-out loss by token kind, per-step metrics and resume.
//!
//! In: a [`FinetuneConfig`]. Out, under `config.out`:
//! - `step-<N>/`: weights (an HF folder for full finetuning; `adapter_model.safetensors` +
//!   `adapter_config.json` for LoRA), `optimizer.safetensors`, `state.json` (step, tokens
//!   seen, data position), `manifest.json`, and the two tables below as of that step; written
//!   as `.step-<N>.tmp-*` and renamed, so a directory named `step-<N>` is always complete;
//! - `train.parquet`: step, loss, lr, grad_norm, tokens_per_s, tokens_seen;
//! - `loss.parquet`: step, set, kind, tokens, mean_loss on each held-out set.
//!
//! The loss of an update is `sum(w_t * nll_t) / #{t: w_t > 0}` over all its micro-batches:
//! masked tokens (w = 0) drop out of both sum and count, and a source's loss weight multiplies
//! its tokens' terms. Dropout is seeded from (seed, step), the data stream's position is saved,
//! and the optimizer state is plain tensors, so `--resume` continues bit-identically on CPU.

use super::config::{FinetuneConfig, Method, Recipe};
use super::data::{self, Batch, DataMix, MaskRules, SourceSpec, TokenKind, TokenizedDoc};
use super::optim::{learning_rate, AdamW};
use crate::model::checkpoints::{
    list_checkpoints, AdapterCheckpoint, ADAPTER_CONFIG, ADAPTER_WEIGHTS,
};
use crate::model::decoder::{Decoder, ForwardArgs, Logits};
use crate::model::load::copy_tensors;
use crate::model::moe::load_balancing_loss;
use crate::model::tokenizer::TextTokenizer;
use crate::model::{load, LoadedModel};
use crate::store::{self, Manifest};
use crate::tables::{self, LossRow};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Reduction, Tensor};

/// Files copied from the base model into full-finetune checkpoints so each is an HF folder.
const MODEL_SIDE_FILES: [&str; 5] = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "generation_config.json",
];

/// What `state.json` records besides the tensors.
#[derive(Debug, Serialize, Deserialize)]
struct RunState {
    step: i64,
    total_steps: i64,
    tokens_seen: i64,
    data: data::DataState,
}

/// One row of `train.parquet`.
#[derive(Debug, Clone, PartialEq)]
pub struct StepMetrics {
    /// Update count after this update.
    pub step: i64,
    /// Training loss of the update.
    pub loss: f64,
    /// Learning rate used.
    pub lr: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Training throughput of the update.
    pub tokens_per_s: f64,
    /// Tokens trained on so far.
    pub tokens_seen: i64,
}

/// Most f32 logits values one loss chunk may hold (64M, 256 MB): the world model's and
/// SmolLM2's batches stay one chunk; a 151,936-token vocabulary at 8 x 1,024 is 23 chunks.
const LOSS_CHUNK_VALUES: i64 = 1 << 26;

/// Positions per loss chunk of a `[rows, seq]` batch: `chunk` when given, else the whole
/// sequence when its f32 logits stay under [`LOSS_CHUNK_VALUES`], else as many positions as do.
fn loss_chunk(rows: i64, seq: i64, vocab: i64, chunk: Option<i64>) -> i64 {
    chunk
        .unwrap_or_else(|| LOSS_CHUNK_VALUES / (rows * vocab).max(1))
        .clamp(1, seq.max(1))
}

/// [`loss_chunk`] of `batch`.
fn batch_chunk(batch: &Batch, vocab: i64, chunk: Option<i64>) -> i64 {
    let size = batch.targets.size();
    loss_chunk(size[0], size[1], vocab, chunk)
}

/// The forward pass of a batch, up to `logits`.
fn forward(decoder: &Decoder, batch: &Batch, logits: Logits, train: bool) -> Tensor {
    forward_routed(decoder, batch, logits, train).0
}

/// [`forward`], with the sparse layers' router logits.
fn forward_routed(
    decoder: &Decoder,
    batch: &Batch,
    logits: Logits,
    train: bool,
) -> (Tensor, Vec<Tensor>) {
    let out = decoder.forward(
        &batch.input_ids,
        ForwardArgs {
            positions: Some(&batch.positions),
            mask: Some(&batch.mask),
            logits,
            train,
            ..Default::default()
        },
    );
    (out.logits.expect("logits requested"), out.router_logits)
}

/// `weight` x the router's load-balancing loss over the batch's tokens (zero for dense
/// models and when `weight` is 0).
fn router_loss(
    decoder: &Decoder,
    batch: &Batch,
    router_logits: &[Tensor],
    weight: f64,
) -> Option<Tensor> {
    let moe = decoder.config.moe.as_ref().filter(|_| weight != 0.0)?;
    load_balancing_loss(router_logits, moe.top_k, Some(&batch.valid.reshape([-1])))
        .map(|l| l * weight)
}

/// Per-token next-token loss (f32) of logits `[batch, n, vocab]` against `targets` `[batch, n]`.
fn nll_of_logits(logits: &Tensor, targets: &Tensor) -> Tensor {
    let vocab = logits.size()[2];
    // `reshape` is a view of a contiguous tensor; a chunk is a strided slice.
    logits
        .to_kind(Kind::Float)
        .reshape([-1, vocab])
        .cross_entropy_loss::<Tensor>(&targets.reshape([-1]), None, Reduction::None, -100, 0.0)
        .reshape(targets.size())
}

/// Per-token next-token loss `[batch, seq]` (f32) of a batch, in chunks of `chunk` positions
/// when the full logits would be large ([`loss_chunk`]); the chunks' logits are not kept, so
/// under `no_grad` memory is bounded by one chunk.
pub fn token_nll(decoder: &Decoder, batch: &Batch, train: bool, chunk: Option<i64>) -> Tensor {
    let seq = batch.targets.size()[1];
    let chunk = batch_chunk(batch, decoder.config.vocab_size, chunk);
    if chunk >= seq {
        return nll_of_logits(&forward(decoder, batch, Logits::All, train), &batch.targets);
    }
    let hidden = forward(decoder, batch, Logits::FinalHidden, train);
    let parts: Vec<Tensor> = (0..seq)
        .step_by(chunk as usize)
        .map(|start| {
            let n = chunk.min(seq - start);
            let logits = decoder.head(&hidden.narrow(1, start, n));
            nll_of_logits(&logits, &batch.targets.narrow(1, start, n))
        })
        .collect();
    Tensor::cat(&parts, 1)
}

/// Backpropagates `sum(nll * weights) / trained` of a batch, plus `router_weight` x the
/// router's load-balancing loss of sparse models, and returns the next-token part's value.
/// With one chunk and no activation checkpointing, through the full logits; otherwise one
/// chunk at a time: each chunk's loss is backpropagated to the final hidden states (and the
/// unembedding) and freed, then the hidden states' gradient goes back through the blocks
/// (recomputed one at a time under `checkpoint`, adapter dropout seeded from `seed`), so at
/// most one chunk's logits exist.
fn backward_loss(
    decoder: &Decoder,
    batch: &Batch,
    trained: i64,
    chunk: Option<i64>,
    checkpoint: bool,
    seed: i64,
    router_weight: f64,
) -> f64 {
    let seq = batch.targets.size()[1];
    let scale = trained.max(1) as f64;
    let chunk = batch_chunk(batch, decoder.config.vocab_size, chunk);
    if chunk >= seq && !checkpoint {
        let (logits, routed) = forward_routed(decoder, batch, Logits::All, true);
        let nll = nll_of_logits(&logits, &batch.targets);
        let loss = (nll * &batch.weights).sum(Kind::Float) / scale;
        let value = loss.double_value(&[]);
        match router_loss(decoder, batch, &routed, router_weight) {
            Some(aux) => (loss + aux).backward(),
            None => loss.backward(),
        }
        return value;
    }
    let checkpointed = checkpoint.then(|| {
        decoder.forward_checkpointed(&batch.input_ids, &batch.positions, &batch.mask, seed)
    });
    let (hidden, routed) = match &checkpointed {
        Some(c) => (c.hidden.shallow_clone(), vec![]),
        None => forward_routed(decoder, batch, Logits::FinalHidden, true),
    };
    let detached = hidden.detach().set_requires_grad(true);
    let mut value = 0.0;
    for start in (0..seq).step_by(chunk as usize) {
        let n = chunk.min(seq - start);
        let logits = decoder.head(&detached.narrow(1, start, n));
        let nll = nll_of_logits(&logits, &batch.targets.narrow(1, start, n));
        let loss = (nll * batch.weights.narrow(1, start, n)).sum(Kind::Float) / scale;
        loss.backward();
        value += loss.double_value(&[]);
    }
    // d/d hidden of sum(hidden * g) is g: the blocks receive the chunks' gradient.
    let carried = (hidden * detached.grad()).sum(Kind::Float);
    match router_loss(decoder, batch, &routed, router_weight) {
        Some(aux) => (carried + aux).backward(),
        None => carried.backward(),
    }
    if let Some(checkpointed) = checkpointed {
        checkpointed.backward_blocks();
    }
    value
}

/// Summed next-token loss (nats) and scored-token count of each token kind over `batches`, in
/// [`TokenKind::ALL`] order (every scored token has exactly one kind, so they add up to the
/// whole).
pub fn loss_sums_by_kind(
    decoder: &Decoder,
    batches: &[Batch],
) -> [(f64, i64); TokenKind::ALL.len()] {
    let mut sums = [(0.0, 0i64); TokenKind::ALL.len()];
    tch::no_grad(|| {
        for batch in batches {
            let nll = token_nll(decoder, batch, false, None);
            let scored = batch.weights.gt(0.0);
            for (kind, (nats, tokens)) in TokenKind::ALL.iter().zip(sums.iter_mut()) {
                let select = scored.logical_and(&batch.kinds.eq(kind.code()));
                *nats += nll
                    .masked_select(&select)
                    .sum(Kind::Double)
                    .double_value(&[]);
                *tokens += select.sum(Kind::Int64).int64_value(&[]);
            }
        }
    });
    sums
}

/// Mean held-out loss per token kind (and `all`) over `batches`.
pub fn heldout_loss(decoder: &Decoder, set: &str, step: i64, batches: &[Batch]) -> Vec<LossRow> {
    let sums = loss_sums_by_kind(decoder, batches);
    let all = sums
        .iter()
        .fold((0.0, 0i64), |(n, t), (kn, kt)| (n + kn, t + kt));
    let names = TokenKind::ALL
        .iter()
        .map(|k| k.name())
        .chain(std::iter::once("all"));
    names
        .zip(sums.into_iter().chain(std::iter::once(all)))
        .filter(|(_, (_, tokens))| *tokens > 0)
        .map(|(kind, (nats, tokens))| LossRow {
            step,
            set: set.to_string(),
            kind: kind.to_string(),
            tokens,
            mean_loss: nats / tokens as f64,
        })
        .collect()
}

/// The trainable state of a run: base model, optional adapters, optimizer.
struct Trainee {
    model: LoadedModel,
    adapters: Option<VarStore>,
    adapter_names: Vec<String>,
    optimizer: AdamW,
}

impl Trainee {
    fn new(config: &FinetuneConfig, device: Device) -> Result<Self> {
        tch::manual_seed(config.seed as i64);
        let mut model = LoadedModel::load(&config.model, device, config.dtype.kind())?;
        if config.recipe.pack && model.decoder.config.linear_attention.is_some() {
            bail!(
                "{}: recipe.pack = true puts several documents in one row, and this model's linear-attention layers would carry their state from one document into the next; set recipe.pack = false",
                config.model.display()
            );
        }
        if config.recipe.router_aux_loss_coef > 0.0 && model.decoder.config.moe.is_none() {
            bail!(
                "{}: recipe.router_aux_loss_coef is set but the model has no sparse expert layers",
                config.model.display()
            );
        }
        let (adapters, adapter_names, params) = match &config.method {
            Method::Full => {
                let params = model.vs.variables().into_iter().collect();
                (None, vec![], params)
            }
            Method::Lora(lora) => {
                model.vs.freeze();
                let adapters = VarStore::new(device);
                let names = model
                    .decoder
                    .attach_lora(&adapters, lora)
                    .with_context(|| format!("{}: method.targets", config.model.display()))?;
                let params = adapters.variables().into_iter().collect();
                (Some(adapters), names, params)
            }
        };
        let optimizer = AdamW::new(params, config.recipe.adamw());
        Ok(Trainee {
            model,
            adapters,
            adapter_names,
            optimizer,
        })
    }

    fn weights(&self) -> HashMap<String, Tensor> {
        match &self.adapters {
            Some(a) => a.variables(),
            None => self.model.vs.variables(),
        }
    }
}

/// Runs (or with `resume`, continues) the finetune described by `config`.
pub fn finetune(config: &FinetuneConfig, resume: bool) -> Result<PathBuf> {
    let device = config.device.resolve()?;
    let recipe = &config.recipe;
    let mut trainee = Trainee::new(config, device)?;
    trainee
        .model
        .decoder
        .config
        .check_positions(recipe.max_length, "recipe.max_length")?;
    let mut mix = training_mix(config, &trainee.model.tokenizer)?;
    let total_steps = total_steps(recipe, &mix)?;
    let heldout = heldout_sets(config, &trainee.model.tokenizer, device)?;
    let checkpoint_steps = config.checkpoints.steps(total_steps)?;
    std::fs::create_dir_all(&config.out)
        .with_context(|| format!("{}: cannot create run directory", config.out.display()))?;
    store::check_writable(&config.out)?;
    let mut run = start(
        config,
        resume,
        &mut trainee,
        &mut mix,
        &heldout,
        total_steps,
    )?;

    let progress = ProgressBar::new(total_steps as u64).with_position(run.step as u64);
    let log_every = (total_steps / 20).max(1);
    progress.set_style(
        ProgressStyle::with_template("{bar:30} step {pos}/{len} {msg} [{elapsed} < {eta}]")
            .expect("valid template"),
    );
    let started = Instant::now();
    let mut trained_tokens_since_start = 0i64;
    for step in run.step..total_steps {
        let lr = learning_rate(
            recipe.lr,
            step,
            total_steps,
            recipe.warmup_steps,
            recipe.schedule,
        );
        let (loss, grad_norm, step_tokens) = update(config, &mut trainee, &mut mix, step, lr)?;
        if !loss.is_finite() {
            progress.abandon();
            bail!(
                "loss is {loss} at step {} of {total_steps}: stopping; the last good checkpoint stays in {}",
                step + 1,
                config.out.display()
            );
        }
        run.tokens_seen += step_tokens;
        trained_tokens_since_start += step_tokens;
        let tokens_per_s = trained_tokens_since_start as f64 / started.elapsed().as_secs_f64();
        run.metrics.push(StepMetrics {
            step: step + 1,
            loss,
            lr,
            grad_norm,
            tokens_per_s,
            tokens_seen: run.tokens_seen,
        });
        let status = format!("loss {loss:.4} lr {lr:.2e} {tokens_per_s:.0} tok/s");
        if progress.is_hidden() && (step + 1) % log_every == 0 {
            // No terminal (a log file, CI): the bar is hidden, so log plain lines instead.
            eprintln!("step {}/{total_steps} {status}", step + 1);
        }
        progress.set_message(status);
        progress.inc(1);

        let done = step + 1;
        let at_checkpoint = checkpoint_steps.binary_search(&done).is_ok();
        let heldout_due = recipe
            .heldout_every
            .is_some_and(|every| every > 0 && done % every == 0);
        if at_checkpoint || heldout_due {
            for (name, batches) in &heldout {
                run.losses
                    .extend(heldout_loss(&trainee.model.decoder, name, done, batches));
            }
        }
        if at_checkpoint {
            run.step = done;
            checkpoint(config, &trainee, &mix, &run, total_steps)?;
        }
    }
    progress.finish();
    Ok(config.out.join(format!("step-{total_steps}")))
}

/// The data mix of `config`'s sources, each with its masks and loss weight.
fn training_mix(config: &FinetuneConfig, tokenizer: &TextTokenizer) -> Result<DataMix> {
    let mut sources = Vec::new();
    for source in &config.sources {
        let word_masks = match &source.word_masks {
            Some(path) => crate::claims::word_masks::load_word_masks(path)?,
            None => vec![],
        };
        let rules = MaskRules {
            doctag: source.mask_doctag.then(|| crate::docs::DOCTAG.to_string()),
            word_masks,
            loss_weight: source.loss_weight,
        };
        sources.push(SourceSpec {
            name: source.name.clone(),
            path: source.path.clone(),
            sampling_weight: source.sampling_weight,
            rules,
        });
    }
    let recipe = &config.recipe;
    let mix = DataMix::new(
        tokenizer,
        &sources,
        recipe.max_length,
        recipe.pack,
        config.seed,
    )?;
    if mix.split_documents() > 0 {
        eprintln!(
            "{} documents longer than max_length {} were split into chunks",
            mix.split_documents(),
            recipe.max_length
        );
    }
    Ok(mix)
}

/// Updates of the run: `steps`, or `epochs` passes over the training documents
/// ([`DataMix::rows_per_epoch`]) of `batch_size * grad_accum` rows each.
fn total_steps(recipe: &Recipe, mix: &DataMix) -> Result<i64> {
    Ok(match (recipe.steps, recipe.epochs) {
        (Some(steps), _) => steps,
        (None, Some(epochs)) => {
            let per_step = (recipe.batch_size * recipe.grad_accum) as f64;
            ((epochs * mix.rows_per_epoch() as f64) / per_step)
                .ceil()
                .max(1.0) as i64
        }
        (None, None) => bail!("recipe: give `steps` or `epochs`"),
    })
}

/// Each held-out set, tokenized (`<DOCTAG>` masked, no word masks) and batched.
fn heldout_sets(
    config: &FinetuneConfig,
    tokenizer: &TextTokenizer,
    device: Device,
) -> Result<Vec<(String, Vec<Batch>)>> {
    let recipe = &config.recipe;
    config
        .heldout
        .iter()
        .map(|set| -> Result<(String, Vec<Batch>)> {
            Ok((
                set.name.clone(),
                heldout_batches(
                    &set.path,
                    tokenizer,
                    recipe.max_length,
                    recipe.batch_size,
                    device,
                )?,
            ))
        })
        .collect()
}

/// The documents of a held-out JSONL file (with spans, as `neglect docs` writes them),
/// tokenized with `<DOCTAG>` masked and no word masks, in batches of `batch_size` rows of at
/// most `max_length` tokens, for [`heldout_loss`].
pub fn heldout_batches(
    path: &Path,
    tokenizer: &TextTokenizer,
    max_length: usize,
    batch_size: usize,
    device: Device,
) -> Result<Vec<Batch>> {
    let records = data::read_records(path)?;
    let docs: Vec<TokenizedDoc> = records
        .iter()
        .map(|r| data::tokenize(tokenizer, r, &MaskRules::default()))
        .collect::<Result<_>>()
        .with_context(|| format!("{}", path.display()))?;
    Ok(data::heldout_batches(&docs, max_length, batch_size, device))
}

/// Where a run stands: its last step, tokens trained, and its two tables so far.
struct RunProgress {
    step: i64,
    tokens_seen: i64,
    metrics: Vec<StepMetrics>,
    losses: Vec<LossRow>,
}

/// With `resume`, restores the newest checkpoint (after removing what an interrupted write
/// left); otherwise measures the held-out sets at step 0 and writes the step-0 checkpoint.
/// Refuses to start over a directory that holds checkpoints unless resuming.
fn start(
    config: &FinetuneConfig,
    resume: bool,
    trainee: &mut Trainee,
    mix: &mut DataMix,
    heldout: &[(String, Vec<Batch>)],
    total_steps: i64,
) -> Result<RunProgress> {
    if resume {
        let removed = store::remove_abandoned_temporaries(&config.out)?;
        if removed > 0 {
            eprintln!(
                "removed {removed} partial write(s) of an interrupted run from {}",
                config.out.display()
            );
        }
    }
    let newest = newest_checkpoint(&config.out)?;
    if let (Some((step, _)), false) = (&newest, resume) {
        bail!(
            "{}: already holds checkpoints (newest: step {step}); pass --resume to continue, or remove the directory to start again",
            config.out.display()
        );
    }
    if let Some((step, dir)) = newest {
        check_resumed_config(config, &dir)?;
        let state = restore(trainee, mix, &dir)?;
        if state.total_steps != total_steps {
            bail!(
                "{}: checkpoint belongs to a run of {} steps, the config asks for {total_steps}",
                dir.display(),
                state.total_steps
            );
        }
        eprintln!(
            "resuming from {} (step {step} of {total_steps})",
            dir.display()
        );
        // The tables saved inside the checkpoint are the ones that match its state.
        return Ok(RunProgress {
            step,
            tokens_seen: state.tokens_seen,
            metrics: read_metrics(&dir.join(tables::TRAIN_FILE), step)?,
            losses: tables::loss::read_losses(&dir.join(tables::LOSS_FILE))?
                .into_iter()
                .filter(|l| l.step <= step)
                .collect(),
        });
    }
    if resume {
        eprintln!(
            "no complete checkpoint in {}: starting from step 0",
            config.out.display()
        );
    }
    let mut run = RunProgress {
        step: 0,
        tokens_seen: 0,
        metrics: vec![],
        losses: vec![],
    };
    for (name, batches) in heldout {
        run.losses
            .extend(heldout_loss(&trainee.model.decoder, name, 0, batches));
    }
    checkpoint(config, trainee, mix, &run, total_steps)?;
    Ok(run)
}

/// One update at 0-based `step` with learning rate `lr`: `grad_accum` micro-batches, the loss
/// normalised over all their trained tokens, clipped gradients, an AdamW step. Returns the
/// loss, the gradient norm before clipping and the tokens the update read.
fn update(
    config: &FinetuneConfig,
    trainee: &mut Trainee,
    mix: &mut DataMix,
    step: i64,
    lr: f64,
) -> Result<(f64, f64, i64)> {
    let recipe = &config.recipe;
    let device = trainee.model.decoder.device();
    // Dropout draws from libtorch's generator: seed it per step so resuming repeats it.
    let dropout_seed = config.seed as i64 ^ (step + 1).wrapping_mul(0x9E37_79B9);
    tch::manual_seed(dropout_seed);
    let batches: Vec<Batch> = (0..recipe.grad_accum)
        .map(|_| mix.next_batch(recipe.batch_size, device))
        .collect();
    let trained: i64 = batches
        .iter()
        .map(|b| b.weights.gt(0.0).sum(Kind::Int64).int64_value(&[]))
        .sum();
    trainee.optimizer.zero_grad();
    let mut loss_value = 0.0;
    for (b, batch) in batches.iter().enumerate() {
        loss_value += backward_loss(
            &trainee.model.decoder,
            batch,
            trained,
            recipe.loss_chunk,
            recipe.checkpoint_activations,
            dropout_seed.wrapping_add((b as i64) << 16),
            recipe.router_aux_loss_coef / recipe.grad_accum as f64,
        );
    }
    let tokens = batches.iter().map(|b| b.tokens).sum();
    if !loss_value.is_finite() {
        return Ok((loss_value, f64::NAN, tokens));
    }
    let grad_norm = trainee.optimizer.clip_grad_norm(recipe.grad_clip);
    trainee.optimizer.step(lr);
    Ok((loss_value, grad_norm, tokens))
}

/// Saves the checkpoint of `run.step` and rewrites the run's tables.
fn checkpoint(
    config: &FinetuneConfig,
    trainee: &Trainee,
    mix: &DataMix,
    run: &RunProgress,
    total_steps: i64,
) -> Result<()> {
    let state = RunState {
        step: run.step,
        total_steps,
        tokens_seen: run.tokens_seen,
        data: mix.state(),
    };
    save_checkpoint(config, trainee, &state, &run.metrics, &run.losses)?;
    write_tables(&config.out, &run.metrics, &run.losses)
}

/// The newest `step-<N>` directory of a run (only complete ones carry that name).
pub fn newest_checkpoint(run: &Path) -> Result<Option<(i64, PathBuf)>> {
    Ok(list_checkpoints(run)?.into_iter().last())
}

/// Writes `step-<N>/` under a temporary name and renames it; the metrics and held-out tables up
/// to this step go inside it too, so a resume never depends on the run-level tables having
/// been rewritten before a crash.
fn save_checkpoint(
    config: &FinetuneConfig,
    trainee: &Trainee,
    state: &RunState,
    metrics: &[StepMetrics],
    losses: &[LossRow],
) -> Result<()> {
    let final_dir = config.out.join(format!("step-{}", state.step));
    store::write_dir_atomic(&final_dir, |tmp| {
        write_checkpoint(config, trainee, state, metrics, losses, tmp)
    })
}

fn write_checkpoint(
    config: &FinetuneConfig,
    trainee: &Trainee,
    state: &RunState,
    metrics: &[StepMetrics],
    losses: &[LossRow],
    tmp: &Path,
) -> Result<()> {
    match &trainee.adapters {
        None => {
            load::save_tensors(&trainee.weights(), &tmp.join(load::SINGLE_FILE))?;
            copy_model_side_files(&config.model, tmp)?;
        }
        Some(_) => {
            load::save_tensors(&trainee.weights(), &tmp.join("adapter_model.safetensors"))?;
            if let Method::Lora(lora) = &config.method {
                let base = config.model.display().to_string();
                store::write_json(
                    &tmp.join("adapter_config.json"),
                    &lora.peft_json(&base, &trainee.adapter_names),
                )?;
            }
        }
    }
    // The crash tests stop a run here: weights written, the rest of the checkpoint not.
    store::failpoint("checkpoint", state.step);
    load::save_tensors(
        &trainee.optimizer.state_tensors(),
        &tmp.join("optimizer.safetensors"),
    )?;
    write_tables(tmp, metrics, losses)?;
    store::write_json(&tmp.join("state.json"), state)?;
    store::write_json(
        &tmp.join("manifest.json"),
        &Manifest::new("finetune", config, Some(config.seed)),
    )
}

/// Config keys a resume may change: where the run lives and which device continues it (a
/// device change continues the same run, not bit for bit).
const RESUMABLE_CHANGES: [&str; 2] = ["out", "device"];

/// Refuses to resume from the checkpoint in `dir` when `config` differs from the one the run
/// was started with (its `manifest.json`) in any key but [`RESUMABLE_CHANGES`]; the message
/// names every changed key with both values.
fn check_resumed_config(config: &FinetuneConfig, dir: &Path) -> Result<()> {
    let saved = store::read_manifest_config(&dir.join("manifest.json"))?;
    let now = serde_json::to_value(config)?;
    let mut changed = vec![];
    json_differences("", &saved, &now, &mut changed);
    changed.retain(|(key, _, _)| !RESUMABLE_CHANGES.contains(&key.as_str()));
    if changed.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = changed
        .iter()
        .map(|(key, was, is)| format!("{key}: {was} -> {is}"))
        .collect();
    bail!(
        "{}: the config changed since this run started ({}); resume with the original config, or start a new run in another directory",
        config.out.display(),
        list.join("; ")
    )
}

/// Appends `(dotted key, old, new)` for every leaf where `old` and `new` differ.
fn json_differences(
    prefix: &str,
    old: &serde_json::Value,
    new: &serde_json::Value,
    out: &mut Vec<(String, String, String)>,
) {
    use serde_json::Value;
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                json_differences(
                    &path,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => out.push((prefix.to_string(), a.to_string(), b.to_string())),
        _ => {}
    }
}

fn restore(trainee: &mut Trainee, mix: &mut DataMix, dir: &Path) -> Result<RunState> {
    let state: RunState = serde_json::from_str(
        &std::fs::read_to_string(dir.join("state.json"))
            .with_context(|| format!("{}: cannot read state.json", dir.display()))?,
    )
    .with_context(|| format!("{}: malformed state.json", dir.display()))?;
    match &trainee.adapters {
        Some(adapters) => {
            let file = dir.join("adapter_model.safetensors");
            copy_tensors(&adapters.variables(), &file)?;
        }
        None => load::load_into(&trainee.model.vs, dir, &trainee.model.decoder.config)?,
    }
    let optimizer_file = dir.join("optimizer.safetensors");
    let optimizer: HashMap<String, Tensor> = Tensor::read_safetensors(&optimizer_file)
        .with_context(|| format!("{}: cannot read", optimizer_file.display()))?
        .into_iter()
        .collect();
    trainee
        .optimizer
        .load_state(&optimizer)
        .with_context(|| format!("{}", optimizer_file.display()))?;
    mix.restore(state.data.clone())
        .with_context(|| format!("{}: data position", dir.display()))?;
    Ok(state)
}

/// Base model + adapter -> an HF folder with the update folded into the weights, merged on
/// `device` in `kind` (the weights are saved in `kind`).
pub fn merge_lora(
    base: &Path,
    adapter: &Path,
    out: &Path,
    device: Device,
    kind: Kind,
) -> Result<()> {
    let same = |a: &Path| match (a.canonicalize(), out.canonicalize()) {
        (Ok(a), Ok(o)) => a == o,
        _ => false,
    };
    if same(base) || same(adapter) {
        bail!(
            "{}: the merged model would replace its own input; choose another --out",
            out.display()
        );
    }
    let mut model = LoadedModel::load(base, device, kind)?;
    let checkpoint = AdapterCheckpoint::read(adapter)?
        .with_context(|| format!("{}: no {ADAPTER_CONFIG}", adapter.display()))?;
    let adapters = VarStore::new(device);
    checkpoint.attach(&mut model.decoder, &adapters)?;
    copy_tensors(&adapters.variables(), &adapter.join(ADAPTER_WEIGHTS))?;
    model.decoder.merge_lora();
    store::write_dir_atomic(out, |tmp| {
        load::save_tensors(&model.vs.variables(), &tmp.join(load::SINGLE_FILE))?;
        copy_model_side_files(base, tmp)
    })
}

/// Copies config and tokenizer files of the model in `from` into `to`, making `to` an HF folder
/// once it holds the weights.
fn copy_model_side_files(from: &Path, to: &Path) -> Result<()> {
    for name in MODEL_SIDE_FILES {
        let source = from.join(name);
        if source.is_file() {
            std::fs::copy(&source, to.join(name))
                .with_context(|| format!("{}: cannot copy", source.display()))?;
        }
    }
    Ok(())
}

fn write_tables(run: &Path, metrics: &[StepMetrics], losses: &[LossRow]) -> Result<()> {
    let mut train = DataFrame::new(vec![
        Column::new(
            "step".into(),
            metrics.iter().map(|m| m.step).collect::<Vec<_>>(),
        ),
        Column::new(
            "loss".into(),
            metrics.iter().map(|m| m.loss).collect::<Vec<_>>(),
        ),
        Column::new(
            "lr".into(),
            metrics.iter().map(|m| m.lr).collect::<Vec<_>>(),
        ),
        Column::new(
            "grad_norm".into(),
            metrics.iter().map(|m| m.grad_norm).collect::<Vec<_>>(),
        ),
        Column::new(
            "tokens_per_s".into(),
            metrics.iter().map(|m| m.tokens_per_s).collect::<Vec<_>>(),
        ),
        Column::new(
            "tokens_seen".into(),
            metrics.iter().map(|m| m.tokens_seen).collect::<Vec<_>>(),
        ),
    ])?;
    store::write_parquet(&run.join(tables::TRAIN_FILE), &mut train)?;
    store::write_parquet(
        &run.join(tables::LOSS_FILE),
        &mut tables::loss::loss_frame(losses)?,
    )
}

/// Reads a run's `train.parquet` up to step `up_to`; no rows when the file is absent.
pub fn read_metrics(path: &Path, up_to: i64) -> Result<Vec<StepMetrics>> {
    const COLUMNS: [&str; 6] = [
        "step",
        "loss",
        "lr",
        "grad_norm",
        "tokens_per_s",
        "tokens_seen",
    ];
    let Some(table) = tables::read_if_present(path, &COLUMNS)? else {
        return Ok(vec![]);
    };
    let (step, loss, lr) = (table.i64("step")?, table.f64("loss")?, table.f64("lr")?);
    let (norm, rate, seen) = (
        table.f64("grad_norm")?,
        table.f64("tokens_per_s")?,
        table.i64("tokens_seen")?,
    );
    Ok((0..step.len())
        .filter(|&i| step[i] <= up_to)
        .map(|i| StepMetrics {
            step: step[i],
            loss: loss[i],
            lr: lr[i],
            grad_norm: norm[i],
            tokens_per_s: rate[i],
            tokens_seen: seen[i],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_chunks_bound_the_logits_and_default_to_the_whole_sequence() {
        // Small logits: one chunk, the path the engine always took.
        assert_eq!(loss_chunk(8, 256, 2048, None), 256);
        // SmolLM2's vocabulary at the experiments' batch 4 x 256: one chunk.
        assert_eq!(loss_chunk(4, 256, 49_152, None), 256);
        // Qwen's vocabulary at batch 8 x 1,024: chunks of 55 positions (64M values each).
        assert_eq!(loss_chunk(8, 1024, 151_936, None), 55);
        assert_eq!(loss_chunk(8, 1024, 151_936, Some(3)), 3);
        assert_eq!(loss_chunk(8, 16, 2048, Some(100)), 16);
    }
}
