//! Benchmarks (`neglect bench ...`): throughput figures measured on this machine, printed to
//! stdout. Speed targets are checked here, never by timed tests.
//!
//! - [`forward`], [`train`]: the decoder's forward and training throughput
//! - [`generate`]: batched greedy generation against transformers' `generate`
//! - [`probe`]: logistic probe fits on every layer against scikit-learn
//! - [`device`]: the GPU self-check (parity, training with resume, generation, evaluation)

pub mod device;
pub mod probe;

use crate::model::cli::RunOn;
use crate::model::config::ModelConfig;
use crate::model::decoder::{Decoder, ForwardArgs, Logits};
use crate::model::layers::Init;
use crate::model::LoadedModel;
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;
use tch::{nn::VarStore, Device, Kind, Tensor};

/// `neglect bench forward`
#[derive(Debug, Args)]
pub struct ForwardBenchArgs {
    /// HF model directory to load.
    #[arg(required_unless_present = "random")]
    pub dir: Option<PathBuf>,
    /// Instead of a model directory: a config.json whose architecture is built with random
    /// weights (e.g. a Qwen3-0.6B-shaped model for GPU throughput).
    #[arg(long, conflicts_with = "dir")]
    pub random: Option<PathBuf>,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 4)]
    pub batch: i64,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 256)]
    pub seq: i64,
    /// Untimed passes first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed passes.
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Seed of the random weights and token ids.
    #[arg(long, default_value_t = 0)]
    pub seed: i64,
    #[command(flatten)]
    pub run_on: RunOn,
}

/// A `config.json` (for a model of random weights): its JSON and the config it describes.
fn read_config(file: &std::path::Path) -> Result<(serde_json::Value, ModelConfig)> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", file.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: not valid JSON: {e}", file.display()))?;
    let config = ModelConfig::from_json(&json, file)?;
    Ok((json, config))
}

/// Waits for the device's queued work.
fn synchronize(device: Device) {
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
}

/// Measures forward-pass throughput (tokens/s, all-position logits, no gradients).
pub fn forward(args: &ForwardBenchArgs) -> Result<()> {
    if args.batch < 1 || args.seq < 1 || args.iters < 1 {
        bail!("--batch, --seq and --iters must be positive");
    }
    tch::manual_seed(args.seed);
    let device = args.run_on.device.resolve()?;
    let kind = args.run_on.dtype.kind();
    // Keep the store alive for as long as the decoder runs.
    let (_store, decoder, label): (VarStore, Decoder, String) = match (&args.dir, &args.random) {
        (_, Some(config_file)) => {
            let (_, config) = read_config(config_file)?;
            let vs = VarStore::new(device);
            let decoder = Decoder::new(&vs, &config, kind, Init::Random { std: 0.02 });
            (vs, decoder, format!("random {}", config_file.display()))
        }
        (Some(dir), None) => {
            let LoadedModel { vs, decoder, .. } = LoadedModel::load(dir, device, kind)?;
            (vs, decoder, dir.display().to_string())
        }
        (None, None) => bail!("give a model directory or --random CONFIG.json"),
    };
    decoder.config.check_positions(args.seq as usize, "--seq")?;
    let vocab = decoder.config.vocab_size;
    let ids = Tensor::randint(vocab, [args.batch, args.seq], (Kind::Int64, device));
    let run = || {
        tch::no_grad(|| {
            let out = decoder.forward(
                &ids,
                ForwardArgs {
                    logits: Logits::All,
                    ..Default::default()
                },
            );
            synchronize(device);
            out
        })
    };
    for _ in 0..args.warmup {
        run();
    }
    let start = Instant::now();
    for _ in 0..args.iters {
        run();
    }
    let seconds = start.elapsed().as_secs_f64();
    let tokens = (args.batch * args.seq) as f64 * args.iters as f64;
    let params = decoder.config.parameter_count() as f64;
    println!(
        "model {label}: {:.1}M parameters, {:?}, {:?}, batch {} x seq {}, threads {}",
        params / 1e6,
        device,
        kind,
        args.batch,
        args.seq,
        tch::get_num_threads()
    );
    println!(
        "forward time per pass: {:.1} ms",
        1e3 * seconds / args.iters as f64
    );
    println!("forward tokens/s: {:.0}", tokens / seconds);
    Ok(())
}

/// `neglect bench train`
#[derive(Debug, Args)]
pub struct TrainBenchArgs {
    /// Vocabulary size of the benchmark decoder.
    #[arg(long, default_value_t = 1000)]
    pub vocab: i64,
    /// d_model.
    #[arg(long, default_value_t = 128)]
    pub hidden: i64,
    /// Blocks.
    #[arg(long, default_value_t = 4)]
    pub layers: i64,
    /// Attention heads (key/value heads are half as many).
    #[arg(long, default_value_t = 4)]
    pub heads: i64,
    /// Sequences per step.
    #[arg(long, default_value_t = 32)]
    pub batch: i64,
    /// Tokens per sequence.
    #[arg(long, default_value_t = 128)]
    pub seq: i64,
    /// Timed steps.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Untimed steps first.
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// CPU threads for both sides.
    #[arg(long, default_value_t = 2)]
    pub threads: i32,
    /// Seed of weights and data.
    #[arg(long, default_value_t = 0)]
    pub seed: i64,
}

/// Training-step throughput of neglect's decoder + AdamW against the equivalent PyTorch-eager
/// loop (`python/bench_train.py`, same torch, same architecture, threads and dtype), on CPU.
pub fn train(args: &TrainBenchArgs) -> Result<()> {
    if args.heads < 2 || args.hidden % args.heads != 0 || args.steps == 0 {
        bail!("--heads must be >= 2 and divide --hidden; --steps must be positive");
    }
    let config = serde_json::json!({
        "model_type": "llama", "vocab_size": args.vocab, "hidden_size": args.hidden,
        "intermediate_size": 4 * args.hidden, "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads, "num_key_value_heads": args.heads / 2,
        "head_dim": args.hidden / args.heads, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "max_position_embeddings": args.seq.max(128), "tie_word_embeddings": true,
    });
    let scratch = tempfile::tempdir()?;
    let dir = scratch.path();
    let config_file = dir.join("config.json");
    crate::store::write_json(&config_file, &config)?;
    let parsed = ModelConfig::from_json(&config, &config_file)?;

    tch::set_num_threads(args.threads);
    tch::manual_seed(args.seed);
    let vs = VarStore::new(Device::Cpu);
    let decoder = Decoder::new(&vs, &parsed, Kind::Float, Init::Random { std: 0.02 });
    let params: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    // The same hyper-parameters as python/bench_train.py's torch.optim.AdamW.
    let adamw = crate::train::optim::AdamWConfig {
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: 0.01,
    };
    let mut optimizer = crate::train::optim::AdamW::new(params, adamw);
    let data = Tensor::randint(
        args.vocab,
        [(args.steps + args.warmup) as i64, args.batch, args.seq + 1],
        (Kind::Int64, Device::Cpu),
    );
    let mut start = Instant::now();
    let mut last_loss = 0.0;
    for i in 0..args.steps + args.warmup {
        if i == args.warmup {
            start = Instant::now();
        }
        let ids = data.get(i as i64);
        let inputs = ids.narrow(1, 0, args.seq);
        let targets = ids.narrow(1, 1, args.seq);
        let logits = decoder
            .forward(
                &inputs,
                ForwardArgs {
                    train: true,
                    ..Default::default()
                },
            )
            .logits
            .expect("logits");
        let loss = logits
            .view([-1, args.vocab])
            .cross_entropy_for_logits(&targets.reshape([-1]));
        optimizer.zero_grad();
        loss.backward();
        optimizer.step(1e-3);
        last_loss = loss.double_value(&[]);
    }
    let ours = (args.batch * args.seq) as f64 * args.steps as f64 / start.elapsed().as_secs_f64();

    let (_script_dir, mut command) =
        crate::model::cli::python_script(include_str!("../../python/bench_train.py"))?;
    let python = crate::model::cli::python();
    let output = command
        .arg(&config_file)
        .args(
            [
                args.batch,
                args.seq,
                args.steps as i64,
                args.warmup as i64,
                args.threads as i64,
                args.seed,
            ]
            .map(|v| v.to_string()),
        )
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {python}: {e}"))?;
    if !output.status.success() {
        bail!(
            "the PyTorch reference failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let theirs: f64 = stdout
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("unexpected output from the PyTorch reference: {stdout}"))?;
    println!(
        "decoder: {:.2}M parameters (vocab {}, d {}, {} layers), batch {} x seq {}, f32, {} threads",
        parsed.parameter_count() as f64 / 1e6,
        args.vocab,
        args.hidden,
        args.layers,
        args.batch,
        args.seq,
        args.threads
    );
    println!("neglect train tokens/s: {ours:.0} (final loss {last_loss:.3})");
    println!("pytorch train tokens/s: {theirs:.0}");
    println!("train tokens/s ratio neglect/pytorch: {:.2}", ours / theirs);
    Ok(())
}

/// `neglect bench generate`
#[derive(Debug, Args)]
pub struct GenerateBenchArgs {
    /// HF model directory (the transformers reference loads the same folder).
    pub dir: PathBuf,
    /// Prompts per batch.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Shortest prompt, in tokens; prompts are spread evenly up to twice this length.
    #[arg(long, default_value_t = 24)]
    pub prompt_len: usize,
    /// New tokens per prompt (every row runs to this length: no stop token).
    #[arg(long, default_value_t = 64)]
    pub new_tokens: usize,
    /// CPU threads on both sides.
    #[arg(long, default_value_t = 2)]
    pub threads: i32,
    /// Untimed runs first, on both sides.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Seed of the prompts' token ids.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Batched greedy generation, tokens/s, against transformers' `generate` on the same model,
/// prompts (left-padded), new tokens and threads, on CPU in f32; also counts the rows whose
/// tokens are identical on both sides.
pub fn generate(args: &GenerateBenchArgs) -> Result<()> {
    use crate::model::generate::{generate_batch, Sampling};
    use rand::{Rng, SeedableRng};
    if args.batch < 1 || args.prompt_len < 1 || args.new_tokens < 1 {
        bail!("--batch, --prompt-len and --new-tokens must be positive");
    }
    tch::set_num_threads(args.threads);
    let model = LoadedModel::load(&args.dir, Device::Cpu, Kind::Float)?;
    let vocab = model.decoder.config.vocab_size;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(args.seed);
    let prompts: Vec<Vec<i64>> = (0..args.batch)
        .map(|i| {
            let len = args.prompt_len + i * args.prompt_len / args.batch.max(1);
            (0..len).map(|_| rng.random_range(1..vocab)).collect()
        })
        .collect();
    let samplings = vec![Sampling::Greedy; prompts.len()];
    for _ in 0..args.warmup {
        generate_batch(&model.decoder, &prompts, args.new_tokens, &samplings, &[])?;
    }
    let start = Instant::now();
    let ours = generate_batch(&model.decoder, &prompts, args.new_tokens, &samplings, &[])?;
    let our_rate = (args.batch * args.new_tokens) as f64 / start.elapsed().as_secs_f64();

    let scratch = tempfile::tempdir()?;
    let prompts_file = scratch.path().join("prompts.json");
    std::fs::write(&prompts_file, serde_json::to_string(&prompts)?)?;
    let (_script_dir, mut command) =
        crate::model::cli::python_script(include_str!("../../python/bench_generate.py"))?;
    let python = crate::model::cli::python();
    let output = command
        .arg(&args.dir)
        .arg(&prompts_file)
        .args([
            args.new_tokens.to_string(),
            args.threads.to_string(),
            args.warmup.to_string(),
        ])
        .output()
        .map_err(|e| anyhow::anyhow!("cannot run {python}: {e}"))?;
    if !output.status.success() {
        bail!(
            "the transformers reference failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut lines = stdout.lines();
    let unexpected =
        || anyhow::anyhow!("unexpected output from the transformers reference: {stdout}");
    let their_rate: f64 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(unexpected)?;
    let theirs: Vec<Vec<i64>> = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(unexpected)?;
    let same = ours.iter().zip(&theirs).filter(|(a, b)| a == b).count();
    println!(
        "model {}: batch {} (prompts {}..{} tokens, left-padded), {} new tokens, greedy, f32, {} threads",
        args.dir.display(),
        args.batch,
        prompts.iter().map(Vec::len).min().unwrap_or(0),
        prompts.iter().map(Vec::len).max().unwrap_or(0),
        args.new_tokens,
        args.threads
    );
    println!("rows with identical tokens: {same} of {}", args.batch);
    println!("neglect generate tokens/s: {our_rate:.1}");
    println!("transformers generate tokens/s: {their_rate:.1}");
    println!(
        "generate tokens/s ratio neglect/transformers: {:.2}",
        our_rate / their_rate
    );
    Ok(())
}
