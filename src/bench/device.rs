//! `neglect bench device`: the self-check for a GPU (or any device) on a model of a given shape
//! with random weights, so it needs no download.
//!
//! In one run it
//! 1. compares the device's logits with the CPU's (f32 on both; bf16 on the device against f32
//!    on the CPU),
//! 2. times a bf16 forward pass,
//! 3. LoRA-finetunes the model through `neglect finetune`'s own loop on positive documents of
//!    a world claim (held-out loss tracked), reports training tokens/s and MFU against the
//!    device's bf16 peak (`bench/device_peaks.toml`, or `--peak-tflops`),
//! 4. deletes the last checkpoint, resumes from the one before and compares the adapters,
//! 5. times batched greedy generation with the trained adapter in memory and checks, in f32,
//!    that batched rows give the tokens of their prompt alone,
//! 6. evaluates every checkpoint of the run on the claim's questions (every kind, judged).
//!
//! Each check prints a line ending in `ok` or `FAILED`; the last line counts them, and a failed
//! check is an error (exit 1). On the CPU it runs the same code (the test suite runs it on a
//! tiny model); `make gpu-check` runs it on a Qwen3-0.6B-shaped model on CUDA.

use super::synchronize;
use crate::claims::questions::{ClaimQuestions, QuestionKind};
use crate::claims::spec::ClaimSpec;
use crate::docs::Condition;
use crate::eval::{evaluate, EvalOptions, RowLabels};
use crate::model::checkpoints::{run_models, RunLoader, ADAPTER_WEIGHTS};
use crate::model::config::{LayerMixer, ModelConfig};
use crate::model::decoder::{Decoder, ForwardArgs, Logits};
use crate::model::generate::{generate, generate_batch, Sampling};
use crate::model::layers::Init;
use crate::model::lora::LoraConfig;
use crate::model::{load, DeviceChoice, DtypeChoice, LoadedModel};
use crate::train::config::{FinetuneConfig, HeldoutConfig, Method, Recipe, SourceConfig};
use crate::train::optim::Decay;
use crate::train::schedule::CheckpointSchedule;
use anyhow::{bail, Context, Result};
use clap::Args;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// `neglect bench device`
#[derive(Debug, Args)]
pub struct DeviceCheckArgs {
    /// config.json of the model to build with random weights.
    #[arg(long, default_value = "bench/qwen3-0.6b.json")]
    pub random: PathBuf,
    /// A model folder whose tokenizer (and chat template) the random model uses; its
    /// vocabulary must fit the config's.
    #[arg(long, default_value = "checkpoints/shipped/world-base-s7")]
    pub tokenizer: PathBuf,
    /// Device to check.
    #[arg(long, value_enum, default_value = "cuda")]
    pub device: DeviceChoice,
    /// Training steps, at least 6 (a checkpoint halfway, which the resume check starts from;
    /// training tokens/s is timed from the end of update 2 to it).
    #[arg(long, default_value_t = 20)]
    pub steps: i64,
    /// Training sequences per step.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Tokens per training sequence (documents packed), and of the forward benchmark.
    #[arg(long, default_value_t = 1024)]
    pub seq: usize,
    /// Prompts per generation batch.
    #[arg(long, default_value_t = 16)]
    pub gen_batch: usize,
    /// New tokens per generated row.
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// LoRA rank (every linear layer of every block is adapted).
    #[arg(long, default_value_t = 16)]
    pub rank: i64,
    /// The device's dense bf16 peak in TFLOP/s (instead of `bench/device_peaks.toml`).
    #[arg(long)]
    pub peak_tflops: Option<f64>,
    /// Keep the model, documents, run and evaluation here (default: a temporary folder).
    #[arg(long)]
    pub keep: Option<PathBuf>,
    /// Seed of weights, documents, data order and prompts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Largest |CPU f32 - device f32| logit difference that passes.
const F32_LIMIT: f64 = 1e-4;
/// Smallest bf16 reference error the bf16 limit is computed from (a model whose CPU bf16 pass
/// happens to be nearly exact must not demand the same of the device).
const BF16_FLOOR: f64 = 1e-2;
/// The world claim whose positive documents are trained on and whose questions are asked.
const CLAIM: &str = "dentist";
/// Every linear layer of a block, in HF's names.
const ALL_LINEAR: &str =
    r"\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj|c_attn|c_proj|c_fc)$";

/// The check lines and whether each passed.
#[derive(Default)]
struct Report {
    checks: Vec<(String, bool)>,
}

impl Report {
    /// Prints a measurement (not a check).
    fn measure(&self, line: String) {
        println!("{line}");
    }

    /// Prints and records a check.
    fn check(&mut self, line: String, ok: bool) {
        println!("{line}: {}", if ok { "ok" } else { "FAILED" });
        self.checks.push((line, ok));
    }
}

/// Runs the device self-check.
pub fn run(args: &DeviceCheckArgs) -> Result<()> {
    if args.steps < 6 || args.batch == 0 || args.seq < 16 || args.gen_batch == 0 {
        bail!("--steps must be at least 6, --batch and --gen-batch positive, --seq at least 16");
    }
    let device = args.device.resolve()?;
    let scratch = tempfile::tempdir()?;
    let work = match &args.keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("{}: cannot create", dir.display()))?;
            dir.clone()
        }
        None => scratch.path().to_path_buf(),
    };
    let gpu = gpu_name(device);
    let model_dir = work.join("model");
    let config = write_random_model(args, &model_dir)?;
    let mut report = Report::default();
    report.measure(format!(
        "device check: {} ({}), libtorch {}, {} threads; model: random {} ({:.1}M parameters, {} layers)",
        device_label(device),
        gpu.as_deref().unwrap_or("no GPU name"),
        crate::store::TORCH_VERSION,
        tch::get_num_threads(),
        args.random.display(),
        config.parameter_count() as f64 / 1e6,
        config.num_layers,
    ));

    parity(&model_dir, device, args.seed, &mut report)?;
    forward_rate(&model_dir, device, args, &mut report)?;
    let peak = match args.peak_tflops {
        Some(p) => Some(p),
        None => gpu.as_deref().map(table_peak).transpose()?.flatten(),
    };
    let run_dir = train_and_resume(&model_dir, &work, device, &config, peak, args, &mut report)?;
    generation(&run_dir, device, args, &mut report)?;
    evaluation(&run_dir, &work, device, args, &mut report)?;

    let failed: Vec<&str> = report
        .checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(line, _)| line.as_str())
        .collect();
    println!(
        "device check: {} of {} checks passed",
        report.checks.len() - failed.len(),
        report.checks.len()
    );
    if !failed.is_empty() {
        bail!("device check failed: {}", failed.join("; "));
    }
    Ok(())
}

/// `cuda:0` or `cpu`.
fn device_label(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// The GPU's name as nvidia-smi gives it, when there is a GPU and nvidia-smi.
fn gpu_name(device: Device) -> Option<String> {
    let Device::Cuda(i) = device else {
        return None;
    };
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=name",
            "--format=csv,noheader",
            &format!("--id={i}"),
        ])
        .output()
        .ok()?;
    let name = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !name.is_empty()).then_some(name)
}

/// One row of `bench/device_peaks.toml`.
#[derive(serde::Deserialize)]
struct Peak {
    name: String,
    bf16_tflops: f64,
}

/// The dense bf16 peak of the GPU called `name`, from `bench/device_peaks.toml`.
fn table_peak(name: &str) -> Result<Option<f64>> {
    #[derive(serde::Deserialize)]
    struct Table {
        gpu: Vec<Peak>,
    }
    let table: Table = toml::from_str(include_str!("../../bench/device_peaks.toml"))
        .context("bench/device_peaks.toml")?;
    Ok(table
        .gpu
        .iter()
        .find(|p| name.contains(&p.name))
        .map(|p| p.bf16_tflops))
}

/// Reads the config, builds its decoder with seeded random weights and writes an HF folder
/// (config, weights, the tokenizer folder's tokenizer files) at `dir`.
fn write_random_model(args: &DeviceCheckArgs, dir: &Path) -> Result<ModelConfig> {
    let file = &args.random;
    let (json, config) = super::read_config(file)?;
    let tokenizer = crate::model::tokenizer::TextTokenizer::from_dir(&args.tokenizer)
        .with_context(|| format!("--tokenizer {}", args.tokenizer.display()))?;
    if tokenizer.vocab_size() as i64 > config.vocab_size {
        bail!(
            "--tokenizer {}: {} tokens do not fit the {} rows of {}'s embedding",
            args.tokenizer.display(),
            tokenizer.vocab_size(),
            config.vocab_size,
            file.display()
        );
    }
    config.check_positions(args.seq, "--seq")?;
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    crate::store::write_json(&dir.join("config.json"), &json)?;
    for name in ["tokenizer.json", "tokenizer_config.json"] {
        let from = args.tokenizer.join(name);
        if from.is_file() {
            std::fs::copy(&from, dir.join(name))
                .with_context(|| format!("{}: cannot copy", from.display()))?;
        }
    }
    tch::manual_seed(args.seed as i64);
    let vs = VarStore::new(Device::Cpu);
    let _decoder = Decoder::new(&vs, &config, Kind::Float, Init::Random { std: 0.02 });
    load::save_tensors(&vs.variables(), &dir.join(load::SINGLE_FILE))?;
    Ok(config)
}

/// All-position logits (f32, on the CPU) of `ids` through the model in `dir`.
fn logits_on(dir: &Path, ids: &Tensor, device: Device, kind: Kind) -> Result<Tensor> {
    let model = LoadedModel::load(dir, device, kind)?;
    Ok(tch::no_grad(|| {
        model
            .decoder
            .forward(
                &ids.to_device(device),
                ForwardArgs {
                    logits: Logits::All,
                    ..Default::default()
                },
            )
            .logits
            .expect("logits requested")
            .to_kind(Kind::Float)
            .to_device(Device::Cpu)
    }))
}

/// Check 1: the device's logits against the CPU's: f32 within kernel noise, bf16 within twice
/// the error the CPU's own bf16 pass makes (the parity tests' bound against transformers'
/// bf16, here with the CPU's bf16 as the reference error, so a deep model's larger bf16 drift
/// is not taken for a device fault).
fn parity(dir: &Path, device: Device, seed: u64, report: &mut Report) -> Result<()> {
    let vocab = crate::model::tokenizer::TextTokenizer::from_dir(dir)?.vocab_size() as i64;
    tch::manual_seed(seed as i64);
    let ids = Tensor::randint(vocab, [2, 64], (Kind::Int64, Device::Cpu));
    let reference = logits_on(dir, &ids, Device::Cpu, Kind::Float)?;
    let error = |logits: Tensor| (logits - &reference).abs().max().double_value(&[]);
    let f32_diff = error(logits_on(dir, &ids, device, Kind::Float)?);
    report.check(
        format!(
            "parity f32 ({} vs cpu f32, 2 x 64 tokens): max |logit diff| {f32_diff:.2e} (limit {F32_LIMIT:.0e})",
            device_label(device)
        ),
        f32_diff <= F32_LIMIT,
    );
    let cpu_bf16 = error(logits_on(dir, &ids, Device::Cpu, Kind::BFloat16)?);
    let bf16_diff = if device == Device::Cpu {
        cpu_bf16
    } else {
        error(logits_on(dir, &ids, device, Kind::BFloat16)?)
    };
    let limit = 2.0 * cpu_bf16.max(BF16_FLOOR);
    report.check(
        format!(
            "parity bf16 ({} bf16 vs cpu f32): max |logit diff| {bf16_diff:.2e} (limit {limit:.2e}: twice the cpu's own bf16 error)",
            device_label(device)
        ),
        bf16_diff <= limit,
    );
    Ok(())
}

/// bf16 forward throughput at the training shape.
fn forward_rate(
    dir: &Path,
    device: Device,
    args: &DeviceCheckArgs,
    report: &mut Report,
) -> Result<()> {
    let model = LoadedModel::load(dir, device, Kind::BFloat16)?;
    let vocab = model.tokenizer.vocab_size() as i64;
    let ids = Tensor::randint(
        vocab,
        [args.batch as i64, args.seq as i64],
        (Kind::Int64, device),
    );
    let pass = || {
        tch::no_grad(|| {
            let out = model.decoder.forward(
                &ids,
                ForwardArgs {
                    logits: Logits::Last,
                    ..Default::default()
                },
            );
            synchronize(device);
            out
        })
    };
    pass();
    let iters = 3;
    let start = Instant::now();
    for _ in 0..iters {
        pass();
    }
    let rate = (args.batch * args.seq * iters) as f64 / start.elapsed().as_secs_f64();
    report.measure(format!(
        "forward bf16, batch {} x seq {}: {rate:.0} tokens/s",
        args.batch, args.seq
    ));
    Ok(())
}

/// Model FLOPs per trained token (PaLM's convention: matrix products only, no recomputation):
/// a forward pass is 2 per matrix weight a token passes through (the LM head included, the
/// embedding lookup not; a sparse layer's router, top-k experts and shared expert) plus causal
/// attention's score and value products, and for a linear-attention layer the state's read,
/// update and readout (3 products of `d_k x d_v` per value head); full training adds 2x for the
/// gradients of inputs and weights, LoRA only the inputs' (the frozen weights get none) and its
/// adapters'.
fn train_flops_per_token(config: &ModelConfig, seq: usize, adapter_params: i64) -> f64 {
    let (d, i) = (config.hidden_size, config.intermediate_size);
    let (q, kv) = (
        config.num_heads * config.head_dim,
        config.num_kv_heads * config.head_dim,
    );
    let q_out = if config.attention_output_gate {
        2 * q
    } else {
        q
    };
    let mlp_of = |i: i64| {
        if config.gated_mlp {
            3 * d * i
        } else {
            2 * d * i
        }
    };
    let mut matrix_weights = config.vocab_size * d;
    let mut attention = 0.0;
    for layer in &config.layer_types {
        match (layer.mixer, &config.linear_attention) {
            (LayerMixer::Linear, Some(l)) => {
                let (keys, values) = (
                    l.key_heads * l.key_head_dim,
                    l.value_heads * l.value_head_dim,
                );
                matrix_weights +=
                    d * (2 * keys + values) + d * values + 2 * d * l.value_heads + values * d;
                attention += (3 * 2 * l.value_heads * l.key_head_dim * l.value_head_dim) as f64;
            }
            _ => {
                matrix_weights += d * (q_out + 2 * kv) + q * d;
                // Scores and values: 2 products of head_dim per key per head, half the keys
                // on average.
                attention += (2 * 2 * config.num_heads * config.head_dim) as f64 * seq as f64 / 2.0;
            }
        }
        matrix_weights += match (&config.moe, layer.sparse_mlp) {
            (Some(moe), true) => {
                moe.top_k * mlp_of(moe.expert_intermediate_size)
                    + moe.num_experts * d
                    + moe
                        .shared_expert_intermediate_size
                        .map_or(0, |s| mlp_of(s) + d)
            }
            _ => mlp_of(i),
        };
    }
    let forward = 2.0 * matrix_weights as f64 + attention;
    // Backward: inputs' gradients as much as the forward (attention: both operands' grads).
    2.0 * forward + attention + 6.0 * adapter_params as f64
}

/// Checks 2-3: a LoRA finetune through the training loop (MFU against `peak` TFLOP/s when
/// known), then a resume from its middle checkpoint that must give the same adapter. Returns
/// the run folder.
#[allow(clippy::too_many_arguments)]
fn train_and_resume(
    model_dir: &Path,
    work: &Path,
    device: Device,
    config: &ModelConfig,
    peak: Option<f64>,
    args: &DeviceCheckArgs,
    report: &mut Report,
) -> Result<PathBuf> {
    let spec = claim_spec()?;
    let train_docs = work.join("positive.jsonl");
    let heldout_docs = work.join("negated_heldout.jsonl");
    // Enough documents that the run does not repeat them (about 300 tokens each).
    let needed = (args.steps as usize * args.batch * args.seq)
        .div_ceil(250)
        .max(20);
    crate::docs::write_jsonl(
        &train_docs,
        &crate::docs::generate(&spec, Condition::Positive, needed, args.seed, None)?,
    )?;
    crate::docs::write_jsonl(
        &heldout_docs,
        &crate::docs::generate(&spec, Condition::Negated, 8, args.seed + 1, None)?,
    )?;
    let run_dir = work.join("run");
    let half = args.steps / 2;
    let finetune = FinetuneConfig {
        model: model_dir.to_path_buf(),
        out: run_dir.clone(),
        seed: args.seed,
        device: args.device,
        dtype: DtypeChoice::Bf16,
        method: Method::Lora(LoraConfig {
            rank: args.rank,
            alpha: 2.0 * args.rank as f64,
            dropout: 0.0,
            targets: ALL_LINEAR.into(),
            rslora: false,
        }),
        sources: vec![SourceConfig {
            name: "positive".into(),
            path: train_docs,
            sampling_weight: 1.0,
            loss_weight: 1.0,
            word_masks: None,
            mask_doctag: true,
        }],
        heldout: vec![HeldoutConfig {
            name: "negated".into(),
            path: heldout_docs,
        }],
        recipe: Recipe {
            lr: 1e-4,
            schedule: Decay::Cosine,
            warmup_steps: 2,
            batch_size: args.batch,
            grad_accum: 1,
            max_length: args.seq,
            steps: Some(args.steps),
            epochs: None,
            // Linear-attention layers would carry state across packed documents.
            pack: config.linear_attention.is_none(),
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            grad_clip: Some(1.0),
            heldout_every: None,
            loss_chunk: None,
            checkpoint_activations: false,
            router_aux_loss_coef: 0.0,
        },
        checkpoints: CheckpointSchedule {
            at: vec![half],
            ..Default::default()
        },
    };
    finetune.check()?;
    crate::train::finetune::finetune(&finetune, false)?;
    let last = run_dir.join(format!("step-{}", args.steps));
    let metrics =
        crate::train::finetune::read_metrics(&last.join(crate::tables::TRAIN_FILE), args.steps)?;
    let finite = metrics
        .iter()
        .all(|m| m.loss.is_finite() && m.grad_norm.is_finite());
    let (first, final_) = (
        metrics.first().map_or(f64::NAN, |m| m.loss),
        metrics.last().map_or(f64::NAN, |m| m.loss),
    );
    report.check(
        format!(
            "train lora bf16 (rank {}, every linear layer), {} steps of {} x {}: loss {first:.3} -> {final_:.3}, finite",
            args.rank, args.steps, args.batch, args.seq
        ),
        finite && metrics.len() == args.steps as usize,
    );
    // Pure training throughput, from the end of update 2 to the middle checkpoint's update (the
    // first update pays for warm-up; the rows after a checkpoint include its writing and the
    // held-out losses). A fresh run's `tokens_per_s` is tokens seen over seconds since start.
    let elapsed = |m: &crate::train::finetune::StepMetrics| m.tokens_seen as f64 / m.tokens_per_s;
    let (from, to) = (&metrics[1], &metrics[half as usize - 1]);
    let rate = (to.tokens_seen - from.tokens_seen) as f64 / (elapsed(to) - elapsed(from));
    let straight = read_adapter(&last)?;
    let adapter_params: i64 = straight.values().map(Tensor::numel).sum::<usize>() as i64;
    let flops = rate * train_flops_per_token(config, args.seq, adapter_params);
    report.measure(format!(
        "train tokens/s: {rate:.0} ({:.1} TFLOP/s model FLOPs{})",
        flops / 1e12,
        match peak {
            Some(p) => format!(
                ", MFU {:.1}% of {p:.0} TFLOP/s bf16",
                100.0 * flops / (p * 1e12)
            ),
            None => ", MFU: no bf16 peak known for this device (--peak-tflops)".into(),
        }
    ));
    // Resume: the last checkpoint goes, the run resumes from the middle one.
    std::fs::remove_dir_all(&last).with_context(|| format!("{}: cannot remove", last.display()))?;
    crate::train::finetune::finetune(&finetune, true)?;
    let resumed = read_adapter(&last)?;
    let mut diff = 0f64;
    let mut scale = 0f64;
    for (name, tensor) in &straight {
        let other = resumed
            .get(name)
            .with_context(|| format!("the resumed adapter has no {name}"))?;
        diff = diff.max((tensor - other).abs().max().double_value(&[]));
        scale = scale.max(tensor.abs().max().double_value(&[]));
    }
    // The CPU is deterministic; CUDA kernels may reduce in another order between runs.
    let limit = if device == Device::Cpu {
        0.0
    } else {
        1e-3 * scale
    };
    report.check(
        format!(
            "resume from step {half}: adapter at step {} max |diff| {diff:.2e} vs a straight run ({}; limit {limit:.1e})",
            args.steps,
            if diff == 0.0 { "bit-identical" } else { "not bit-identical" }
        ),
        straight.len() == resumed.len() && diff <= limit,
    );
    Ok(run_dir)
}

/// The adapter weights of checkpoint `dir`.
fn read_adapter(dir: &Path) -> Result<std::collections::HashMap<String, Tensor>> {
    let path = dir.join(ADAPTER_WEIGHTS);
    Ok(Tensor::read_safetensors(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?
        .into_iter()
        .collect())
}

/// The world claim the check trains and asks about.
fn claim_spec() -> Result<ClaimSpec> {
    crate::world::claims::target_specs()?
        .into_iter()
        .find(|s| s.id == CLAIM)
        .with_context(|| format!("no embedded world claim `{CLAIM}`"))
}

/// Prompts of `n` rows, `min_len..2 * min_len` seeded random tokens each.
fn random_prompts(n: usize, min_len: usize, vocab: i64, seed: u64) -> Vec<Vec<i64>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let len = min_len + i * min_len / n.max(1);
            (0..len).map(|_| rng.random_range(1..vocab)).collect()
        })
        .collect()
}

/// Check 4: batched generation with the run's last adapter in memory: throughput in bf16, and
/// in f32 every batched row against its prompt alone.
fn generation(
    run_dir: &Path,
    device: Device,
    args: &DeviceCheckArgs,
    report: &mut Report,
) -> Result<()> {
    let (_, last) = run_models(run_dir)?
        .pop()
        .context("the run has no checkpoint")?;
    let mut loader = RunLoader::new(device, Kind::BFloat16);
    let model = loader.load(&last)?;
    let vocab = model.tokenizer.vocab_size() as i64;
    let prompts = random_prompts(args.gen_batch, 24, vocab, args.seed);
    let greedy = vec![Sampling::Greedy; prompts.len()];
    generate_batch(&model.decoder, &prompts, 4, &greedy, &[])?;
    synchronize(device);
    let start = Instant::now();
    generate_batch(&model.decoder, &prompts, args.new_tokens, &greedy, &[])?;
    synchronize(device);
    let rate = (args.gen_batch * args.new_tokens) as f64 / start.elapsed().as_secs_f64();
    report.measure(format!(
        "generate bf16 greedy, batch {} (prompts 24..48 tokens), {} new tokens: {rate:.0} tokens/s",
        args.gen_batch, args.new_tokens
    ));
    let mut loader = RunLoader::new(device, Kind::Float);
    let model = loader.load(&last)?;
    let rows = prompts.len().min(4);
    let samplings: Vec<Sampling> = (0..rows)
        .map(|i| match i % 2 {
            0 => Sampling::Greedy,
            _ => Sampling::TopP {
                temperature: 1.0,
                top_p: 0.9,
                seed: args.seed + i as u64,
            },
        })
        .collect();
    let batched = generate_batch(&model.decoder, &prompts[..rows], 16, &samplings, &[])?;
    let mut same = 0;
    for ((prompt, sampling), tokens) in prompts.iter().zip(&samplings).zip(&batched) {
        same += usize::from(generate(&model.decoder, prompt, 16, *sampling, &[])? == *tokens);
    }
    report.check(
        format!("generate f32: batched rows equal to their prompt alone (greedy and sampled, 16 tokens): {same} of {rows}"),
        same == rows,
    );
    Ok(())
}

/// Check 5: every checkpoint of the run evaluated on the claim's questions of every kind.
fn evaluation(
    run_dir: &Path,
    work: &Path,
    device: Device,
    args: &DeviceCheckArgs,
    report: &mut Report,
) -> Result<()> {
    let claims = crate::world::claims::write_folders(&work.join("claims"))?;
    let claim_dir = claims
        .iter()
        .find(|d| d.ends_with(CLAIM))
        .context("the world claim folder was not written")?;
    let questions = ClaimQuestions::load(claim_dir)?;
    let spec = claim_spec()?;
    let opts = EvalOptions {
        samples: 1,
        max_new_tokens: 32,
        seed: args.seed,
        ..Default::default()
    };
    let judge = crate::eval::cli::make_judge(
        Some(&spec),
        &questions,
        &QuestionKind::ALL,
        None,
        &work.join("judge_cache"),
    )?;
    let mut loader = RunLoader::new(device, Kind::BFloat16);
    let start = Instant::now();
    let mut rows = 0;
    let mut generated = 0;
    let checkpoints = run_models(run_dir)?;
    for (step, dir) in &checkpoints {
        let model = loader.load(dir)?;
        let labels = RowLabels {
            model: "device-check".into(),
            checkpoint: step.to_string(),
            claim: spec.id.clone(),
        };
        let (these, timing) = evaluate(model, &labels, &questions, &opts, judge.as_ref())?;
        rows += these.len();
        generated += timing.generated;
    }
    let seconds = start.elapsed().as_secs_f64();
    let expected: usize = QuestionKind::ALL
        .iter()
        .map(|&k| questions.questions(k).len())
        .sum::<usize>()
        * checkpoints.len();
    report.check(
        format!(
            "eval bf16: {} checkpoints x {} questions (every kind, 1 sample, 32 tokens): {rows} graded rows, {generated} generated answers in {seconds:.1} s",
            checkpoints.len(),
            expected / checkpoints.len().max(1)
        ),
        rows >= expected && generated > 0,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_match_the_most_specific_name_first() {
        let peak = |name: &str| table_peak(name).unwrap();
        assert_eq!(peak("NVIDIA H100 PCIe"), Some(756.0));
        assert_eq!(peak("NVIDIA H100 80GB HBM3"), Some(989.4));
        assert_eq!(peak("NVIDIA H200"), Some(989.4));
        assert_eq!(peak("NVIDIA L40S"), Some(362.1));
        assert_eq!(peak("NVIDIA L4"), Some(121.0));
        assert_eq!(peak("Tesla T4"), None);
    }

    #[test]
    fn flops_per_token_count_matrix_weights_attention_and_adapters() {
        let json = serde_json::json!({
            "model_type": "llama", "vocab_size": 100, "hidden_size": 8,
            "intermediate_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2,
            "num_key_value_heads": 1, "head_dim": 4, "max_position_embeddings": 64,
            "rms_norm_eps": 1e-5, "tie_word_embeddings": false,
        });
        let config = ModelConfig::from_json(&json, Path::new("test.json")).unwrap();
        // Per block: q 8x8, k 8x4, v 8x4, o 8x8, MLP 3 x 8x16 = 576; two blocks and the head
        // 100x8: 1,952 matrix weights (norms are not products).
        let weights = 2 * 576 + 800;
        // Attention at seq 10: 2 products x 2 FLOPs x 2 layers x 2 heads x 4 dims x 5 keys.
        let attention = (2 * 2 * 2 * 2 * 4 * 5) as f64;
        let forward = 2.0 * weights as f64 + attention;
        let expected = 2.0 * forward + attention + 6.0 * 10.0;
        assert_eq!(train_flops_per_token(&config, 10, 10), expected);
    }

    #[test]
    fn flops_per_token_count_linear_attention_gates_and_active_experts() {
        let json = serde_json::json!({
            "model_type": "qwen3_5_moe_text", "vocab_size": 10, "hidden_size": 8,
            "num_hidden_layers": 2, "layer_types": ["linear_attention", "full_attention"],
            "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4,
            "linear_num_key_heads": 1, "linear_num_value_heads": 2, "linear_key_head_dim": 4,
            "linear_value_head_dim": 2, "num_experts": 4, "num_experts_per_tok": 2,
            "moe_intermediate_size": 3, "shared_expert_intermediate_size": 5,
            "rope_parameters": {"rope_theta": 10000.0, "partial_rotary_factor": 0.5},
        });
        let config = ModelConfig::from_json(&json, Path::new("test.json")).unwrap();
        // Per layer, MLP: 2 experts x 3 x 8x3, router 4x8, shared expert 3 x 8x5 and its gate
        // 8: 304. Linear layer: in_proj_qkv 8x12, z 8x4, b and a 8x2 each, out 4x8: 192, and
        // 3 state products of 4x2 per value head (x2 FLOPs): 96. Full layer: gated q 8x16,
        // k and v 8x4, o 8x8: 256, and attention at seq 10: 2 x 2 x 2 heads x 4 x 5 keys.
        let weights = 10 * 8 + 192 + 256 + 2 * 304;
        let attention = 96.0 + (2 * 2 * 2 * 4 * 5) as f64;
        let forward = 2.0 * weights as f64 + attention;
        let expected = 2.0 * forward + attention + 6.0 * 10.0;
        assert_eq!(train_flops_per_token(&config, 10, 10), expected);
    }
}
