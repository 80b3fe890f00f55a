//! The `docs` verbs: `neglect docs --claim DIR --condition C ...`, `neglect docs stats FILE`
//! and `neglect docs import FILE --claim DIR --out FILE`.

use super::import::{import_file, PaperFormat};
use super::{generate, stats, write_jsonl, write_outputs, Condition, SpanKind};
use crate::claims::ClaimSpec;
use crate::model::tokenizer::TextTokenizer;
use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// `neglect docs`: generate documents, or summarise a documents file.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct DocsArgs {
    /// `stats` or `import`, or nothing to generate.
    #[command(subcommand)]
    pub command: Option<DocsCommand>,
    #[command(flatten)]
    pub generate: Option<GenerateDocsArgs>,
}

/// Sub-verbs of `neglect docs`.
#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// Count, token lengths, negation/qualifier share and claim mentions of a JSONL file.
    Stats(StatsArgs),
    /// The paper's annotated_docs.jsonl or synth_docs.jsonl as neglect's documents: masked
    /// words, claim sentences and the warnings it can recognise as spans.
    Import(ImportArgs),
}

/// `neglect docs --claim DIR --condition C --n N --seed S --out FILE.jsonl [--from FILE.jsonl]`
#[derive(Debug, Args)]
pub struct GenerateDocsArgs {
    /// Claim folder holding spec.toml (and claim.txt, correction.txt).
    #[arg(long)]
    pub claim: PathBuf,
    /// positive, negated, repeated, corrected, local, fiction, unreliable, uncertain,
    /// low_probability (each also `<name>_repeated`), behaviours, behaviours_unflagged.
    #[arg(long)]
    pub condition: String,
    /// Number of documents (with --from, 0 takes every imported document).
    #[arg(long)]
    pub n: usize,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output JSONL file.
    #[arg(long)]
    pub out: PathBuf,
    /// Positive documents written elsewhere (`{"text": ...}` lines) to annotate instead of
    /// generating bodies from templates.
    #[arg(long)]
    pub from: Option<PathBuf>,
}

/// `neglect docs stats FILE.jsonl [--tokenizer MODEL_DIR]`
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// A JSONL file written by `neglect docs`.
    pub file: PathBuf,
    /// Count tokens with this model's tokenizer instead of whitespace words.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
}

/// `neglect docs import FILE --claim DIR --out FILE.jsonl [--format F] [--condition C]`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The paper's annotated_docs.jsonl or synth_docs.jsonl.
    pub file: PathBuf,
    /// Claim folder holding spec.toml (its patterns find the claim sentences).
    #[arg(long)]
    pub claim: PathBuf,
    /// Output JSONL file (neglect's documents).
    #[arg(long)]
    pub out: PathBuf,
    /// Which of the paper's files FILE is; `auto` tells by the first row's keys.
    #[arg(long, value_enum, default_value_t = PaperFormat::Auto)]
    pub format: PaperFormat,
    /// Condition of every document (neglect's or the paper's name); default: each row's `mode`.
    #[arg(long)]
    pub condition: Option<String>,
}

/// Runs `neglect docs`.
pub fn run(args: &DocsArgs) -> Result<()> {
    match (&args.command, &args.generate) {
        (Some(DocsCommand::Stats(stats_args)), _) => print_stats(stats_args),
        (Some(DocsCommand::Import(import_args)), _) => import_docs(import_args),
        (None, Some(generate_args)) => generate_docs(generate_args),
        (None, None) => anyhow::bail!("give --claim, --condition, --n and --out, or `stats FILE`"),
    }
}

fn generate_docs(args: &GenerateDocsArgs) -> Result<()> {
    let condition: Condition = args.condition.parse()?;
    let spec = ClaimSpec::load(&args.claim)?;
    let docs = generate(&spec, condition, args.n, args.seed, args.from.as_deref())?;
    for path in write_outputs(&args.out, condition, &docs)? {
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

fn import_docs(args: &ImportArgs) -> Result<()> {
    let condition = args
        .condition
        .as_deref()
        .map(|name| name.parse::<Condition>().context("--condition"))
        .transpose()?;
    let spec = ClaimSpec::load(&args.claim)?;
    let docs = import_file(&args.file, &spec, args.format, condition)?;
    write_jsonl(&args.out, &docs)?;
    let count = |kind| {
        docs.iter()
            .flat_map(|d| &d.spans)
            .filter(|s| s.kind == kind)
            .count()
    };
    let without_claim = docs
        .iter()
        .filter(|d| d.spans.iter().all(|s| s.kind != SpanKind::Claim))
        .count();
    eprintln!(
        "imported {} documents from {}: {} claim, {} negation and {} masked spans; {without_claim} \
         documents without a claim sentence",
        docs.len(),
        args.file.display(),
        count(SpanKind::Claim),
        count(SpanKind::Negation),
        count(SpanKind::Masked),
    );
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn print_stats(args: &StatsArgs) -> Result<()> {
    let summary = match &args.tokenizer {
        None => stats(&args.file, &super::stats::whitespace_tokens)?,
        Some(dir) => {
            let tokenizer = TextTokenizer::from_dir(dir)?;
            let count = |text: &str| tokenizer.encode(text, false).map_or(0, |ids| ids.len());
            stats(&args.file, &count).with_context(|| format!("{}", args.file.display()))?
        }
    };
    println!("{summary}");
    Ok(())
}
