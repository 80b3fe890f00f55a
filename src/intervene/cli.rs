//! The `steer`, `patch` and `lens` verbs.

use super::lens::lens;
use super::patch::{patch, record_source, subject_masks, Positions};
use super::steer::{probe_directions, steer, Measures, OpenQuestions, SteerOptions};
use super::{closed_questions, parse_sites};
use crate::claims::questions::{ClaimQuestions, QuestionKind};
use crate::eval::EvalOptions;
use crate::model::checkpoints::{run_models, RunLoader};
use crate::model::cli::RunOn;
use crate::model::LoadedModel;
use crate::probe::probes::{Method, ProbeSet};
use crate::store::{self, Manifest};
use crate::tables::intervene::{lens_frame, patch_frame, steer_frame};
use crate::tables::{LENS_FILE, PATCH_FILE, STEER_FILE};
use anyhow::{bail, Context, Result};
use clap::Args;
use polars::prelude::DataFrame;
use std::path::{Path, PathBuf};

/// The models a verb measures: one folder, or every checkpoint of a run.
#[derive(Debug, Args, serde::Serialize)]
pub struct Models {
    /// A model folder.
    #[arg(long, conflicts_with = "run", required_unless_present = "run")]
    pub model: Option<PathBuf>,
    /// A finetuning run: every checkpoint (`step-<N>/`, or a Trainer's `checkpoint-<N>/`).
    #[arg(long)]
    pub run: Option<PathBuf>,
}

impl Models {
    /// (checkpoint label, folder) of each model: `-` for a model folder, `step-N` in a run.
    fn models(&self) -> Result<Vec<(String, PathBuf)>> {
        match (&self.model, &self.run) {
            (Some(dir), None) => Ok(vec![("-".into(), dir.clone())]),
            (None, Some(run)) => Ok(run_models(run)?
                .into_iter()
                .map(|(step, dir)| (format!("step-{step}"), dir))
                .collect()),
            _ => bail!("give exactly one of --model and --run"),
        }
    }
}

/// Question kinds named on the command line.
fn question_kinds(names: &[String]) -> Result<Vec<QuestionKind>> {
    names.iter().map(|k| QuestionKind::parse(k)).collect()
}

/// Writes `frame` as `out/file` with the verb's manifest beside it (`out/manifest.json`).
fn write_table<C: serde::Serialize>(
    out: &Path,
    file: &str,
    frame: &mut DataFrame,
    command: &str,
    config: C,
    seed: Option<u64>,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    store::write_json(
        &out.join("manifest.json"),
        &Manifest::new(command, config, seed),
    )?;
    store::write_parquet(&out.join(file), frame)
}

/// `neglect steer`
#[derive(Debug, Args, serde::Serialize)]
pub struct SteerArgs {
    #[command(flatten)]
    pub models: Models,
    /// Probe folder (`neglect probe fit`); its directions are steered along.
    #[arg(long)]
    pub probes: PathBuf,
    /// Probe method whose direction is used.
    #[arg(long, value_enum, default_value = "lr")]
    pub method: Method,
    /// Claim folder whose closed questions are scored.
    #[arg(long)]
    pub claim: PathBuf,
    /// Sites steered: `all`, or comma-separated (0 = embeddings, i = after block i).
    #[arg(long, default_value = "all")]
    pub layers: String,
    /// Pushes, in units of the site's mean residual norm (negative: towards "false").
    #[arg(
        long,
        value_delimiter = ',',
        allow_negative_numbers = true,
        default_value = "-1,-0.5,-0.25,0,0.25,0.5,1"
    )]
    pub alphas: Vec<f64>,
    /// Random directions of the null.
    #[arg(long, default_value_t = 20)]
    pub null: usize,
    /// Held-out documents (JSONL with spans, from `neglect docs`) whose loss is measured by
    /// token kind under each push.
    #[arg(long)]
    pub heldout: Option<PathBuf>,
    /// Question kinds: closed forms (yes/no, lettered, fill-in) are scored by log-probability;
    /// `open_ended` and `robustness` answers are generated under each push and judged (slow:
    /// every setting generates every answer).
    #[arg(long, value_delimiter = ',', default_value = "mcq,token_association")]
    pub kinds: Vec<String>,
    /// Answers per generated question.
    #[arg(long, default_value_t = 1)]
    pub samples: usize,
    /// Most new tokens per generated answer.
    #[arg(long, default_value_t = 64)]
    pub max_new_tokens: usize,
    /// Judge of generated answers (`judge.toml`); the claim's rule judge when absent.
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// Seed of the null's directions (and of the sampled answers).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sequences per scoring pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Output folder (steer.parquet, manifest.json).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    #[serde(skip)]
    pub run_on: RunOn,
}

/// Runs the `steer` verb.
pub fn steer_cmd(args: &SteerArgs) -> Result<()> {
    if args.alphas.iter().any(|a| !a.is_finite()) {
        bail!("--alphas must be finite numbers");
    }
    let kinds = question_kinds(&args.kinds)?;
    let questions = ClaimQuestions::load(&args.claim)?;
    questions.check_kinds(&kinds)?;
    let generated: Vec<QuestionKind> = kinds
        .iter()
        .copied()
        .filter(|k| matches!(k, QuestionKind::OpenEnded | QuestionKind::Robustness))
        .collect();
    let judge = match generated.is_empty() {
        true => None,
        false => Some(crate::eval::cli::make_judge(
            crate::claims::spec::ClaimSpec::load_if_present(&args.claim)?.as_ref(),
            &questions,
            &generated,
            args.judge.as_deref(),
            &args.out.join("judge_cache"),
        )?),
    };
    let probes = ProbeSet::load(&args.probes)?;
    let mut loader = RunLoader::new(args.run_on.device.resolve()?, args.run_on.dtype.kind());
    let mut rows = vec![];
    for (checkpoint, dir) in args.models.models()? {
        let model = loader.load(&dir)?;
        if model.decoder.config.hidden_size as usize != probes.config.d_model {
            bail!(
                "{}: probes of width {} cannot steer {} (width {})",
                args.probes.display(),
                probes.config.d_model,
                dir.display(),
                model.decoder.config.hidden_size
            );
        }
        let sites = parse_sites(&args.layers, model.decoder.config.num_layers as usize)?;
        let directions = probe_directions(&probes, &args.probes, args.method, &sites)?;
        let closed = closed_questions(model, &questions, &kinds)?;
        let heldout = match &args.heldout {
            Some(path) => Some(crate::train::finetune::heldout_batches(
                path,
                &model.tokenizer,
                model.decoder.config.max_position_embeddings.min(1024) as usize,
                args.batch_size,
                model.decoder.device(),
            )?),
            None => None,
        };
        let opts = SteerOptions {
            alphas: args.alphas.clone(),
            null: args.null,
            seed: args.seed,
        };
        let measures = Measures {
            closed: &closed,
            heldout: heldout.as_deref(),
            open: judge.as_deref().map(|judge| OpenQuestions {
                questions: &questions,
                opts: EvalOptions {
                    kinds: generated.clone(),
                    samples: args.samples,
                    max_new_tokens: args.max_new_tokens,
                    seed: args.seed,
                    batch_size: args.batch_size,
                    ..Default::default()
                },
                judge,
            }),
            batch: args.batch_size,
        };
        rows.extend(
            steer(model, &checkpoint, &directions, &measures, &opts)
                .with_context(|| format!("steering {}", dir.display()))?,
        );
    }
    write_table(
        &args.out,
        STEER_FILE,
        &mut steer_frame(&rows)?,
        "steer",
        args,
        Some(args.seed),
    )?;
    print!("{}", super::steer::format_summary(&rows));
    eprintln!("table: {}", args.out.join(STEER_FILE).display());
    Ok(())
}

/// `neglect patch`
#[derive(Debug, Args, serde::Serialize)]
pub struct PatchArgs {
    /// The source model whose streams are copied.
    #[arg(
        long,
        conflicts_with = "source_run",
        required_unless_present = "source_run"
    )]
    pub source: Option<PathBuf>,
    /// A source run: each target checkpoint takes its streams from the source's checkpoint of
    /// the same step (the positive arm into the negated arm).
    #[arg(long, requires = "run")]
    pub source_run: Option<PathBuf>,
    #[command(flatten)]
    pub models: Models,
    /// Claim folder whose closed questions are scored.
    #[arg(long)]
    pub claim: PathBuf,
    /// Sites patched: `all`, or comma-separated (0 = embeddings, i = after block i).
    #[arg(long, default_value = "all")]
    pub layers: String,
    /// Positions patched: every position, or the tokens naming the claim's subject (its
    /// `spec.toml` `subject` and `subject_short`) in each question's prompt.
    #[arg(long, value_enum, default_value = "all")]
    pub positions: Positions,
    /// Closed question kinds scored.
    #[arg(long, value_delimiter = ',', default_value = "mcq,token_association")]
    pub kinds: Vec<String>,
    /// Sequences per scoring pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Output folder (patch.parquet, manifest.json).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    #[serde(skip)]
    pub run_on: RunOn,
}

/// Runs the `patch` verb.
pub fn patch_cmd(args: &PatchArgs) -> Result<()> {
    let kinds = question_kinds(&args.kinds)?;
    let questions = ClaimQuestions::load(&args.claim)?;
    let spec = crate::claims::spec::ClaimSpec::load_if_present(&args.claim)?;
    let subject_names: Vec<&str> = match (&spec, args.positions) {
        (Some(spec), _) => std::iter::once(spec.subject.as_str())
            .chain(spec.subject_short.as_deref())
            .collect(),
        (None, Positions::Subject) => bail!(
            "--positions subject: {} has no spec.toml naming the claim's subject",
            args.claim.display()
        ),
        (None, Positions::All) => vec![],
    };
    let (device, kind) = (args.run_on.device.resolve()?, args.run_on.dtype.kind());
    let targets = args.models.models()?;
    let source_steps: Vec<(String, PathBuf)> = match &args.source_run {
        Some(run) => run_models(run)?
            .into_iter()
            .map(|(step, dir)| (format!("step-{step}"), dir))
            .collect(),
        None => vec![],
    };
    let mut fixed_source: Option<LoadedModel> = None;
    let mut source_loader = RunLoader::new(device, kind);
    let mut loader = RunLoader::new(device, kind);
    let mut rows = vec![];
    for (checkpoint, dir) in &targets {
        let (source_label, source) = match (&args.source, &args.source_run) {
            (Some(source), _) => {
                if fixed_source.is_none() {
                    fixed_source = Some(
                        crate::model::checkpoints::load_model(source, None, device, kind)
                            .with_context(|| format!("--source {}", source.display()))?,
                    );
                }
                (
                    source.display().to_string(),
                    fixed_source.as_ref().expect("loaded above"),
                )
            }
            (None, Some(run)) => {
                let (_, source_dir) = source_steps
                    .iter()
                    .find(|(label, _)| label == checkpoint)
                    .with_context(|| {
                        format!(
                            "{}: no checkpoint {checkpoint} to patch from",
                            run.display()
                        )
                    })?;
                (
                    format!("{} {checkpoint}", run.display()),
                    source_loader.load(source_dir)?,
                )
            }
            (None, None) => bail!("give --source or --source-run"),
        };
        let target = loader.load(dir)?;
        let sites = parse_sites(&args.layers, target.decoder.config.num_layers as usize)?;
        let closed = closed_questions(target, &questions, &kinds)?;
        let (source_beliefs, recorder) = record_source(source, &closed, &sites, args.batch_size)?;
        let masks = match args.positions {
            Positions::All => None,
            Positions::Subject => Some(subject_masks(
                target,
                &closed,
                &subject_names,
                args.batch_size,
            )?),
        };
        rows.extend(patch(
            &source_label,
            &source_beliefs,
            &recorder,
            target,
            checkpoint,
            &closed,
            &sites,
            masks.as_deref(),
            args.batch_size,
        )?);
    }
    write_table(
        &args.out,
        PATCH_FILE,
        &mut patch_frame(&rows)?,
        "patch",
        args,
        None,
    )?;
    print!("{}", super::patch::format_summary(&rows));
    eprintln!("table: {}", args.out.join(PATCH_FILE).display());
    Ok(())
}

/// `neglect lens`
#[derive(Debug, Args, serde::Serialize)]
pub struct LensArgs {
    #[command(flatten)]
    pub models: Models,
    /// Claim folder whose closed questions are read.
    #[arg(long)]
    pub claim: PathBuf,
    /// Closed question kinds read.
    #[arg(long, value_delimiter = ',', default_value = "mcq,token_association")]
    pub kinds: Vec<String>,
    /// Prompts per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Output folder (lens.parquet, manifest.json).
    #[arg(long)]
    pub out: PathBuf,
    #[command(flatten)]
    #[serde(skip)]
    pub run_on: RunOn,
}

/// Runs the `lens` verb.
pub fn lens_cmd(args: &LensArgs) -> Result<()> {
    let kinds = question_kinds(&args.kinds)?;
    let questions = ClaimQuestions::load(&args.claim)?;
    let mut loader = RunLoader::new(args.run_on.device.resolve()?, args.run_on.dtype.kind());
    let mut rows = vec![];
    for (checkpoint, dir) in args.models.models()? {
        let model = loader.load(&dir)?;
        let closed = closed_questions(model, &questions, &kinds)?;
        rows.extend(lens(model, &checkpoint, &closed, args.batch_size)?);
    }
    write_table(
        &args.out,
        LENS_FILE,
        &mut lens_frame(&rows)?,
        "lens",
        args,
        None,
    )?;
    println!(
        "{:<12}{:>5}{:>10}{:>6}",
        "checkpoint", "site", "belief", "n"
    );
    for r in rows
        .iter()
        .filter(|r| r.measure == format!("belief:{}", super::POOLED))
    {
        println!(
            "{:<12}{:>5}{:>10.3}{:>6}",
            r.checkpoint, r.site, r.value, r.n
        );
    }
    eprintln!("table: {}", args.out.join(LENS_FILE).display());
    Ok(())
}
