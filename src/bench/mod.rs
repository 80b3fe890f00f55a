//! Benchmarks (`neglect bench ...`): throughput figures measured on this machine, printed to
//! stdout. Speed targets are checked here, never by timed tests.

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
            let dir = config_file.parent().unwrap_or(std::path::Path::new("."));
            let json: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(config_file)
                    .map_err(|e| anyhow::anyhow!("{}: {e}", config_file.display()))?,
            )
            .map_err(|e| anyhow::anyhow!("{}: not valid JSON: {e}", config_file.display()))?;
            let config = ModelConfig::from_json(&json, &dir.join(config_file))?;
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
