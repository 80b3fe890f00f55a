//! The probe verbs: `neglect cache`, `neglect probe statements`, `neglect probe fit`,
//! `neglect probe generalise` and `neglect probe readout`.

use super::acts::{cache, parse_layers, ActDtype, ActsFile, CacheOptions, Position};
use super::fit::{fit_frame, fit_probes, format_table, FitOptions, Split};
use super::generalise::{
    format_matrices, generalisation_frame, generalise, GeneraliseOptions, GroupBy,
};
use super::logistic::LogisticConfig;
use super::probes::{Method, ProbeSet, Solver};
use super::readout::{claim_statements, readout, readout_frame};
use super::statements::{builtin, read_csv, write_csv, Polarity};
use crate::claims::ClaimSpec;
use crate::model::cli::RunOn;
use crate::model::{DeviceChoice, DtypeChoice};
use crate::store::{self, Manifest};
use crate::tables::PROBE_GENERALISATION_FILE as GENERALISATION_FILE;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Name of the per-layer metrics table in a probe folder.
pub const FIT_FILE: &str = "fit.parquet";

/// `neglect probe statements --builtin [--negations] [--n N] [--seed S] --out FILE.csv`
#[derive(Debug, Args)]
pub struct StatementsArgs {
    /// Write the built-in set (number comparisons, day and month order, arithmetic, chemical
    /// symbols, capitals).
    #[arg(long, required = true)]
    pub builtin: bool,
    /// Also write negated forms ("The capital of France is not Berlin.", true): half of the
    /// statements, balanced by label within each family and polarity.
    #[arg(long)]
    pub negations: bool,
    /// Number of statements (half true, half false).
    #[arg(long, default_value_t = 2000)]
    pub n: usize,
    /// Seed of the draw and the order.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output CSV (`statement,label,family,polarity`).
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes the built-in statements as CSV.
pub fn statements(args: &StatementsArgs) -> Result<()> {
    let set = builtin(args.n, args.seed, args.negations)?;
    write_csv(&args.out, &set)?;
    println!(
        "wrote {} statements ({} true, {} negated) to {}",
        set.len(),
        set.iter().filter(|s| s.label).count(),
        set.iter()
            .filter(|s| s.polarity == Polarity::Negated)
            .count(),
        args.out.display()
    );
    Ok(())
}

/// `neglect cache --model DIR --statements FILE.csv --out FILE.h5 [...]`
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// HF model directory.
    #[arg(long)]
    pub model: PathBuf,
    /// A LoRA adapter to attach to the model (a folder as neglect or HF peft writes one:
    /// adapter_config.json + adapter_model.safetensors).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// CSV of labelled statements (`statement,label`).
    #[arg(long)]
    pub statements: PathBuf,
    /// `all`, or comma-separated layer indices (0 = embeddings, i = after block i).
    #[arg(long, default_value = "all")]
    pub layers: String,
    /// Token positions pooled into each statement's vector.
    #[arg(long, value_enum, default_value = "last")]
    pub position: Position,
    /// Storage dtype of the activations.
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: ActDtype,
    /// Output HDF5 file.
    #[arg(long)]
    pub out: PathBuf,
    /// Statements per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
    /// Weight dtype of the model.
    #[arg(long, value_enum, default_value = "f32")]
    pub model_dtype: DtypeChoice,
}

/// Caches the activations of a statements file.
pub fn cache_cmd(args: &CacheArgs) -> Result<()> {
    let statements = read_csv(&args.statements)?;
    let model = crate::model::checkpoints::load_model(
        &args.model,
        args.adapter.as_deref(),
        args.device.resolve()?,
        args.model_dtype.kind(),
    )?;
    let options = CacheOptions {
        layers: parse_layers(&args.layers)?
            .unwrap_or_else(|| (0..=model.decoder.config.num_layers as usize).collect()),
        position: args.position,
        dtype: args.dtype,
        batch_size: args.batch_size,
    };
    let start = Instant::now();
    cache(
        &model,
        &statements,
        &args.statements.display().to_string(),
        &options,
        &args.out,
    )?;
    let seconds = start.elapsed().as_secs_f64();
    println!(
        "cached {} statements x {} layers (d_model {}, {}, {}) in {seconds:.1}s ({:.1} statements/s) to {}",
        statements.len(),
        options.layers.len(),
        model.decoder.config.hidden_size,
        args.position.name(),
        args.dtype.name(),
        statements.len() as f64 / seconds.max(1e-9),
        args.out.display()
    );
    Ok(())
}

/// `neglect probe fit --acts FILE.h5 --method lr --out DIR [...]`
#[derive(Debug, Args, serde::Serialize)]
pub struct FitArgs {
    /// Activation file written by `neglect cache`.
    #[arg(long)]
    pub acts: PathBuf,
    /// Methods, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "lr")]
    pub method: Vec<Method>,
    /// Output folder (probes.safetensors, probes.json, fit.parquet, manifest.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Seed of the split and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Held-out share of each class.
    #[arg(long, default_value_t = super::fit::DEFAULT_TEST_FRACTION, conflicts_with = "folds")]
    pub test_fraction: f64,
    /// Stratified k-fold cross-validation instead of one held-out split.
    #[arg(long)]
    pub folds: Option<usize>,
    /// Bootstrap resamples of each interval.
    #[arg(long, default_value_t = super::fit::DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Inverse L2 strength of the logistic fits (scikit-learn's C).
    #[arg(long, default_value_t = super::logistic::DEFAULT_C)]
    pub c: f64,
    /// Solver of the logistic probes.
    #[arg(long, value_enum, default_value = "batched")]
    pub solver: Solver,
    /// `all` cached layers, or comma-separated layer indices.
    #[arg(long, default_value = "all")]
    pub layers: String,
    /// Fit on the training statements of this polarity only (default: both); the held-out
    /// statements stay the same, so the table shows how the probe carries over to the other.
    #[arg(long, value_enum)]
    pub train_polarity: Option<Polarity>,
    /// Device to fit on.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
}

/// Fits probes on every layer and writes the probe folder.
pub fn fit(args: &FitArgs) -> Result<()> {
    check_fit_numbers(args.c, args.test_fraction)?;
    let acts = ActsFile::open(&args.acts)?;
    let layers = parse_layers(&args.layers)?;
    let options = FitOptions {
        methods: args.method.clone(),
        split: match args.folds {
            Some(folds) => Split::KFold { folds },
            None => Split::Holdout {
                test_fraction: args.test_fraction,
            },
        },
        seed: args.seed,
        resamples: args.resamples,
        logistic: LogisticConfig {
            c: args.c,
            ..Default::default()
        },
        solver: args.solver,
        layers,
        train_polarity: args.train_polarity,
        device: args.device.resolve()?,
    };
    let start = Instant::now();
    let (probes, rows) =
        fit_probes(&acts, &options).with_context(|| format!("{}", args.acts.display()))?;
    let seconds = start.elapsed().as_secs_f64();
    store::write_dir_atomic(&args.out, |tmp| {
        probes.save(tmp)?;
        store::write_parquet(&tmp.join(FIT_FILE), &mut fit_frame(&rows)?)?;
        store::write_json(
            &tmp.join("manifest.json"),
            &Manifest::new("probe fit", (args, &options), Some(args.seed)),
        )
    })?;
    print!("{}", format_table(&rows));
    eprintln!(
        "fitted {} probes on {} statements in {seconds:.1}s -> {}",
        rows.len(),
        acts.labels.len(),
        args.out.display()
    );
    Ok(())
}

/// `neglect probe generalise --acts FILE.h5 --method lr --out DIR [...]`
#[derive(Debug, Args, serde::Serialize)]
pub struct GeneraliseArgs {
    /// Activation file written by `neglect cache` from statements with a `family` column.
    #[arg(long)]
    pub acts: PathBuf,
    /// Methods, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "lr")]
    pub method: Vec<Method>,
    /// Output folder (probe_generalisation.parquet, manifest.json).
    #[arg(long)]
    pub out: PathBuf,
    /// What the matrix's rows and columns are.
    #[arg(long, value_enum, default_value = "family")]
    pub by: GroupBy,
    /// Seed of the splits and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Held-out share of each class of each family.
    #[arg(long, default_value_t = super::fit::DEFAULT_TEST_FRACTION)]
    pub test_fraction: f64,
    /// Bootstrap resamples of each interval.
    #[arg(long, default_value_t = super::fit::DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Inverse L2 strength of the logistic fits (scikit-learn's C).
    #[arg(long, default_value_t = super::logistic::DEFAULT_C)]
    pub c: f64,
    /// `all` cached layers, or comma-separated layer indices.
    #[arg(long, default_value = "all")]
    pub layers: String,
    /// Device to fit on.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceChoice,
}

/// Checks `--c` and `--test-fraction` of `probe fit` and `probe generalise`.
fn check_fit_numbers(c: f64, test_fraction: f64) -> Result<()> {
    if c.is_nan() || c <= 0.0 {
        bail!("--c must be positive");
    }
    if test_fraction.is_nan() || test_fraction <= 0.0 || test_fraction >= 1.0 {
        bail!("--test-fraction must be between 0 and 1");
    }
    Ok(())
}

/// Fits probes on each family and tests them on every family; writes the matrix table.
pub fn generalise_cmd(args: &GeneraliseArgs) -> Result<()> {
    check_fit_numbers(args.c, args.test_fraction)?;
    let acts = ActsFile::open(&args.acts)?;
    let options = GeneraliseOptions {
        methods: args.method.clone(),
        by: args.by,
        test_fraction: args.test_fraction,
        seed: args.seed,
        resamples: args.resamples,
        logistic: LogisticConfig {
            c: args.c,
            ..Default::default()
        },
        solver: Solver::Batched,
        layers: parse_layers(&args.layers)?,
        device: args.device.resolve()?,
    };
    let start = Instant::now();
    let rows = generalise(&acts, &options).with_context(|| format!("{}", args.acts.display()))?;
    store::write_dir_atomic(&args.out, |tmp| {
        store::write_parquet(
            &tmp.join(GENERALISATION_FILE),
            &mut generalisation_frame(&rows)?,
        )?;
        store::write_json(
            &tmp.join("manifest.json"),
            &Manifest::new("probe generalise", (args, &options), Some(args.seed)),
        )
    })?;
    print!("{}", format_matrices(&rows));
    eprintln!(
        "{} cells on {} statements in {:.1}s -> {}",
        rows.len(),
        acts.labels.len(),
        start.elapsed().as_secs_f64(),
        args.out.join(GENERALISATION_FILE).display()
    );
    Ok(())
}

/// `neglect probe readout --probes DIR --run RUN --claim DIR --out FILE.parquet`
#[derive(Debug, Args, serde::Serialize)]
pub struct ReadoutArgs {
    /// Probe folder written by `neglect probe fit`.
    #[arg(long)]
    pub probes: PathBuf,
    /// A finetuning run (`checkpoints/<exp>/<arm>`): every checkpoint is read out.
    #[arg(long)]
    pub run: PathBuf,
    /// Claim folder (spec.toml, claim.txt).
    #[arg(long)]
    pub claim: PathBuf,
    /// Output Parquet table (a `<stem>.manifest.json` is written beside it).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    #[serde(skip)]
    pub run_on: RunOn,
}

/// Reads out the claim's statements at every checkpoint of a run.
pub fn readout_cmd(args: &ReadoutArgs) -> Result<()> {
    let probes = ProbeSet::load(&args.probes)?;
    let spec = ClaimSpec::load(&args.claim)?;
    let statements = claim_statements(&spec);
    let models = crate::model::checkpoints::run_models(&args.run)?;
    let mut loader = crate::model::checkpoints::RunLoader::new(
        args.run_on.device.resolve()?,
        args.run_on.dtype.kind(),
    );
    let mut rows = vec![];
    for (step, dir) in &models {
        let start = Instant::now();
        let model = loader.load(dir)?;
        let mut these = readout(&probes, model, &statements, *step)
            .with_context(|| format!("reading out {}", dir.display()))?;
        eprintln!(
            "step {step}: {} statements x {} probes in {:.1}s",
            statements.len(),
            probes.probes.len(),
            start.elapsed().as_secs_f64()
        );
        rows.append(&mut these);
    }
    store::write_parquet(&args.out, &mut readout_frame(&rows)?)?;
    let stem = args
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_default();
    store::write_json(
        &args.out.with_file_name(format!("{stem}.manifest.json")),
        &Manifest::new("probe readout", args, None),
    )?;
    println!(
        "{:<8}{:<15}{:>12}{:>12}",
        "step", "method", "claim", "negation"
    );
    let mut methods: Vec<&str> = probes.probes.iter().map(|p| p.method.name()).collect();
    methods.dedup();
    for (step, _) in &models {
        for &method in &methods {
            let mean = |kind: &str| {
                let picked: Vec<f64> = rows
                    .iter()
                    .filter(|r| r.step == *step && r.method == method && r.kind.name() == kind)
                    .map(|r| r.score)
                    .collect();
                picked.iter().sum::<f64>() / picked.len().max(1) as f64
            };
            println!(
                "{step:<8}{method:<15}{:>12.3}{:>12.3}",
                mean("claim"),
                mean("negation")
            );
        }
    }
    eprintln!(
        "mean P(true) over layers and statements; table in {}",
        args.out.display()
    );
    Ok(())
}
