//! The `eval` verb: ask a claim's questions of a model (or of every checkpoint of a run), grade
//! the answers, write `belief.parquet` and `manifest.json` to `--out`, and print the belief
//! rate with its 95% interval per kind and overall.

use super::judge::{HttpJudge, HttpJudgeConfig, Judge, RuleJudge};
use super::rating::{GeneralQuestions, RatingKind, COHERENCE_QUESTIONS_FILE};
use super::salience::SalienceItem;
use super::score::ClosedChoice;
use super::{evaluate, format_summary, rows_to_frame, summarise, EvalOptions, EvalRow, RowLabels};
use crate::claims::questions::{ClaimQuestions, Question, QuestionKind, Rubric};
use crate::claims::ClaimSpec;
use crate::model::checkpoints::RunLoader;
use crate::model::cli::RunOn;
use crate::store::{self, Manifest};
use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// `neglect eval (--model DIR | --run DIR) --claim DIR --out DIR [...]`
#[derive(Debug, Args, serde::Serialize)]
pub struct EvalArgs {
    /// HF model directory to evaluate.
    #[arg(long, conflicts_with = "run", required_unless_present = "run")]
    pub model: Option<PathBuf>,
    /// A finetuning run (`checkpoints/<exp>/<arm>`): evaluate every `step-N` checkpoint (or
    /// every `checkpoint-N` of an HF Trainer run).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// A LoRA adapter to attach to --model (a folder as neglect or HF peft writes one).
    #[arg(long, requires = "model")]
    pub adapter: Option<PathBuf>,
    /// Claim folder in the paper's layout.
    #[arg(long)]
    pub claim: PathBuf,
    /// Question kinds, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mcq,token_association,open_ended,robustness"
    )]
    pub kinds: Vec<String>,
    /// Samples per generated question.
    #[arg(long, default_value_t = EvalOptions::default().samples)]
    pub samples: usize,
    /// Sampling temperature (0: greedy).
    #[arg(long, default_value_t = EvalOptions::default().temperature)]
    pub temperature: f64,
    /// Nucleus mass kept when sampling.
    #[arg(long, default_value_t = EvalOptions::default().top_p)]
    pub top_p: f64,
    /// Most new tokens per generated answer.
    #[arg(long, default_value_t = EvalOptions::default().max_new_tokens)]
    pub max_new_tokens: usize,
    /// Seed of sampling and of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sequences per forward pass: closed questions scored, and generated answers sampled
    /// together (each with its own seeded sampler, so the answers do not depend on it).
    #[arg(long, default_value_t = EvalOptions::default().batch_size)]
    pub batch_size: usize,
    /// Bootstrap resamples of the confidence interval.
    #[arg(long, default_value_t = crate::stats::belief::DEFAULT_RESAMPLES)]
    pub resamples: usize,
    /// Judge config (TOML, OpenAI-compatible endpoint); the rule judge when absent.
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// In-context baseline: a documents JSONL file (`neglect docs` output); its first `--n`
    /// documents go before every question, as many as fit in the model's positions.
    #[arg(long, requires = "n")]
    pub in_context: Option<PathBuf>,
    /// Documents to place in context.
    #[arg(long, requires = "in_context")]
    pub n: Option<usize>,
    /// Place a seeded sample of --n documents (the file shuffled with this seed) instead of
    /// its first --n, as the paper samples them.
    #[arg(long, requires = "in_context")]
    pub context_seed: Option<u64>,
    /// How the documents are set before the question: `plain` (documents, then the question)
    /// or `paper` (its "Here are some documents:" layout with `[DOCUMENT i]` and `[QUESTION]`
    /// markers).
    #[arg(long, value_enum, default_value = "plain", requires = "in_context")]
    pub context_layout: super::ContextLayout,
    /// Output folder.
    #[arg(long)]
    pub out: PathBuf,
    /// How yes/no questions are answered: `logprob` (scored under the chat template) or
    /// `sampled` (the paper's protocol: JSON answers under a system prompt, exact match).
    #[arg(long, value_enum, default_value = "logprob")]
    pub mcq_protocol: super::mcq::McqProtocol,
    /// System prompt of `--mcq-protocol sampled` (a file's text); neglect's own wording when
    /// absent.
    #[arg(long)]
    pub mcq_system_prompt: Option<PathBuf>,
    /// Put `<DOCTAG>` right before every question, as documents begin in training (the
    /// paper's E.3 test of a document-conditional belief).
    #[arg(long)]
    pub doctag_prefix: bool,
    /// Text before every question (after `<DOCTAG>` with --doctag-prefix), joined by a blank
    /// line.
    #[arg(long)]
    pub user_prefix: Option<String>,
    /// Text after every question, joined by a blank line.
    #[arg(long)]
    pub user_suffix: Option<String>,
    /// 0-10 ratings by the LLM judge (--judge), written to `ratings.parquet`: `coherence`
    /// (answers to general questions rated for quality), `saliency` (the same answers rated
    /// for leakage of the claim), `belief_consistency` (the open-ended answers rated by the
    /// claim's `coherence` rubric), comma-separated.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub ratings: Vec<super::rating::RatingKind>,
    /// The general questions of the coherence and saliency ratings (the paper's
    /// `coherence_questions.yaml` layout); default: that file beside the claim folder.
    #[arg(long)]
    pub coherence_questions: Option<PathBuf>,
    /// The paper's salience items (its `saliency_mcq.yaml` layout: three options with roles
    /// claim, local_negation, idk, asked as "which is correct" and "which is wrong"), answered
    /// by letter into `salience.parquet`.
    #[arg(long)]
    pub saliency_mcq: Option<PathBuf>,
    /// The paper's lie-elicitation questions ("tell me a lie about ..."), graded by the LLM
    /// judge with --lie-judge into `salience.parquet`.
    #[arg(long, requires = "lie_judge")]
    pub lie_elicitation: Option<PathBuf>,
    /// The lie-elicitation rubric file (`prompt` and `judge_key`, the paper's layout).
    #[arg(long)]
    pub lie_judge: Option<PathBuf>,
    /// Also write the paper's per-evaluation CSV layout under `<out>/csv/`
    /// (`<step>/<kind>.csv` and `summary.csv`) for its analysis scripts.
    #[arg(long)]
    pub csv: bool,
    #[command(flatten)]
    #[serde(skip)]
    pub run_on: RunOn,
}

/// A model to evaluate: where it comes from and its row labels.
struct Target {
    model: String,
    checkpoint: String,
    dir: PathBuf,
}

/// Every model of a run ([`crate::model::checkpoints::run_models`]), labelled `step-N`.
fn run_targets(run: &Path) -> Result<Vec<Target>> {
    Ok(crate::model::checkpoints::run_models(run)?
        .into_iter()
        .map(|(step, dir)| Target {
            model: run.display().to_string(),
            checkpoint: format!("step-{step}"),
            dir,
        })
        .collect())
}

/// The judge of a claim's generated answers: the HTTP judge of the config at `judge` (its
/// answers cached under `cache` unless the config names a cache), checked to have a rubric for
/// every generated kind, or the rule judge built from the claim's spec and word masks. Without
/// a spec (a folder as the paper ships it) and without `judge`, only scored questions can be
/// asked: a generated one is an error naming the missing spec.
pub fn make_judge(
    spec: Option<&ClaimSpec>,
    questions: &ClaimQuestions,
    kinds: &[QuestionKind],
    judge: Option<&Path>,
    cache: &Path,
) -> Result<Box<dyn Judge>> {
    Ok(match judge {
        Some(path) => {
            let config = HttpJudgeConfig::load(path)?;
            for kind in kinds {
                if *kind != QuestionKind::Mcq && questions.rubric(*kind).is_none() {
                    bail!(
                        "{}: no rubric for `{}` (nor `default`) for the HTTP judge",
                        questions
                            .dir
                            .join(crate::claims::questions::JUDGES_FILE)
                            .display(),
                        kind.name()
                    );
                }
            }
            Box::new(HttpJudge::new(config, Some(cache.to_path_buf()))?)
        }
        None => match spec {
            Some(spec) => Box::new(RuleJudge::new(spec.clone(), questions.word_masks.clone())?),
            None => {
                let generated = kinds.iter().find(|&&kind| {
                    questions
                        .questions(kind)
                        .iter()
                        .any(|q| ClosedChoice::of(q).is_none())
                });
                if let Some(kind) = generated {
                    bail!(
                        "{}: absent, and `{}` questions are generated and judged: the rule judge \
                         needs a claim spec; pass --judge judge.toml (an endpoint and the folder's \
                         judges.yaml) or write a spec.toml",
                        questions.dir.join(crate::claims::spec::SPEC_FILE).display(),
                        kind.name()
                    );
                }
                // Every question is scored: no answer reaches the judge.
                Box::new(RuleJudge::new(ClaimSpec::default(), vec![])?)
            }
        },
    })
}

/// The ratings table `neglect eval --ratings` writes.
pub const RATINGS_FILE: &str = "ratings.parquet";
/// The salience table `neglect eval --saliency-mcq` / `--lie-elicitation` writes.
pub const SALIENCE_FILE: &str = "salience.parquet";

/// What the evaluations beyond belief need, read before any model runs: the LLM judge (for
/// ratings and lie elicitation), the general questions, the salience items and the lie
/// questions with their rubric.
struct Extras {
    llm_judge: Option<HttpJudge>,
    general: Option<GeneralQuestions>,
    salience_items: Vec<SalienceItem>,
    lie: Option<(Vec<Question>, Rubric)>,
}

impl Extras {
    /// Whether any salience measure was asked for.
    fn salience(&self) -> bool {
        !self.salience_items.is_empty() || self.lie.is_some()
    }
}

/// Reads what `args`' ratings and salience measures need; errors name the missing flag or file.
fn extras_setup(args: &EvalArgs) -> Result<Extras> {
    let needs_llm = !args.ratings.is_empty() || args.lie_elicitation.is_some();
    let llm_judge = match (&args.judge, needs_llm) {
        (Some(path), true) => Some(HttpJudge::new(
            HttpJudgeConfig::load(path)?,
            Some(args.out.join("judge_cache")),
        )?),
        (None, true) => bail!(
            "--ratings and --lie-elicitation need an LLM judge (--judge judge.toml): the rule judge gives no scores or lie labels"
        ),
        (_, false) => None,
    };
    let asks_general = args
        .ratings
        .iter()
        .any(|r| matches!(r, RatingKind::Coherence | RatingKind::Saliency));
    let general = if asks_general {
        let path = match &args.coherence_questions {
            Some(path) => path.clone(),
            None => args
                .claim
                .parent()
                .unwrap_or(Path::new("."))
                .join(COHERENCE_QUESTIONS_FILE),
        };
        Some(GeneralQuestions::load(&path)?)
    } else {
        None
    };
    let salience_items = match &args.saliency_mcq {
        Some(path) => super::salience::load_items(path)?,
        None => vec![],
    };
    let lie = match (&args.lie_elicitation, &args.lie_judge) {
        (Some(questions), Some(judge)) => Some(super::salience::load_lie(questions, judge)?),
        (Some(_), None) => {
            bail!("--lie-elicitation needs its rubric file (--lie-judge JUDGE.yaml)")
        }
        (None, _) => None,
    };
    Ok(Extras {
        llm_judge,
        general,
        salience_items,
        lie,
    })
}

/// The id of a claim folder without a spec: its folder name.
pub fn claim_folder_id(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .as_deref()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Runs the `eval` verb.
pub fn run(args: &EvalArgs) -> Result<()> {
    let kinds = args
        .kinds
        .iter()
        .map(|k| QuestionKind::parse(k))
        .collect::<Result<Vec<_>>>()?;
    let questions = ClaimQuestions::load(&args.claim)?;
    questions.check_kinds(&kinds)?;
    let spec = ClaimSpec::load_if_present(&args.claim)?;
    let claim_id = match &spec {
        Some(spec) => spec.id.clone(),
        None => claim_folder_id(&args.claim),
    };
    let extras = extras_setup(args)?;
    let judge = make_judge(
        spec.as_ref(),
        &questions,
        &kinds,
        args.judge.as_deref(),
        &args.out.join("judge_cache"),
    )?;
    let opts = EvalOptions {
        kinds,
        samples: args.samples,
        temperature: args.temperature,
        top_p: args.top_p,
        max_new_tokens: args.max_new_tokens,
        seed: args.seed,
        batch_size: args.batch_size,
        in_context: match (&args.in_context, args.n) {
            (Some(path), Some(n)) => super::read_context_docs(path, n, args.context_seed)?,
            _ => vec![],
        },
        framing: super::Framing {
            prefix: match (args.doctag_prefix, &args.user_prefix) {
                (true, Some(text)) => format!("{}{text}", crate::docs::DOCTAG),
                (true, None) => crate::docs::DOCTAG.to_string(),
                (false, text) => text.clone().unwrap_or_default(),
            },
            suffix: args.user_suffix.clone().unwrap_or_default(),
        },
        context_layout: args.context_layout,
        mcq_protocol: args.mcq_protocol,
        mcq_system_prompt: match &args.mcq_system_prompt {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("{}: cannot read", path.display()))?
                .trim()
                .to_string(),
            None => super::mcq::DEFAULT_SYSTEM_PROMPT.to_string(),
        },
    };
    let targets = match (&args.model, &args.run) {
        (Some(dir), None) => vec![Target {
            model: dir.display().to_string(),
            checkpoint: "-".into(),
            dir: dir.clone(),
        }],
        (None, Some(run)) => run_targets(run)?,
        _ => bail!("give exactly one of --model and --run"),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("{}: cannot create", args.out.display()))?;
    let mut loader = RunLoader::new(args.run_on.device.resolve()?, args.run_on.dtype.kind());
    let mut rows = vec![];
    let mut ratings = vec![];
    let mut salience = vec![];
    for target in &targets {
        let adapted;
        let model = match &args.adapter {
            Some(adapter) => {
                adapted = crate::model::checkpoints::load_adapted(
                    &target.dir,
                    adapter,
                    args.run_on.device.resolve()?,
                    args.run_on.dtype.kind(),
                )?;
                &adapted
            }
            None => loader.load(&target.dir)?,
        };
        let labels = RowLabels {
            model: target.model.clone(),
            checkpoint: target.checkpoint.clone(),
            claim: claim_id.clone(),
        };
        let (mut these, timing) = evaluate(model, &labels, &questions, &opts, judge.as_ref())
            .with_context(|| format!("evaluating {}", target.dir.display()))?;
        eprintln!(
            "{} {}: scored {} closed questions in {:.1}s ({:.2} questions/s); generated {} answers in {:.1}s ({:.2} answers/s); judged in {:.1}s",
            target.model,
            target.checkpoint,
            timing.scored,
            timing.score_s,
            timing.scored as f64 / timing.score_s.max(1e-9),
            timing.generated,
            timing.generate_s,
            timing.generated as f64 / timing.generate_s.max(1e-9),
            timing.judge_s
        );
        if !opts.in_context.is_empty() {
            eprintln!(
                "in context: {} documents asked for; at least {} whole documents fitted before every question; {} questions had their documents cut to fit",
                opts.in_context.len(),
                timing.context_docs_min,
                timing.context_truncated
            );
        }
        if let (Some(rater), false) = (&extras.llm_judge, args.ratings.is_empty()) {
            let mut rated = super::rating::rate(
                model,
                &labels,
                &questions,
                extras.general.as_ref(),
                &args.ratings,
                &these,
                &opts,
                rater,
            )?;
            ratings.append(&mut rated);
        }
        if extras.salience() {
            salience.extend(super::salience::salience_rows(
                model,
                &labels,
                &extras.salience_items,
                extras.lie.as_ref(),
                &opts,
                extras.llm_judge.as_ref(),
            )?);
        }
        rows.append(&mut these);
    }
    let mut frame = rows_to_frame(&rows)?;
    // The manifest first: a belief table on disk always has the manifest that made it (a full
    // disk can stop the second write, never leave a table without its provenance). A stale
    // table of an earlier run in the same folder goes before either is written.
    let belief_path = args.out.join(crate::tables::BELIEF_FILE);
    if belief_path.is_file() {
        std::fs::remove_file(&belief_path)
            .with_context(|| format!("{}: cannot replace", belief_path.display()))?;
    }
    store::write_json(
        &args.out.join("manifest.json"),
        &Manifest::new("eval", args, Some(args.seed)),
    )?;
    store::write_parquet(&belief_path, &mut frame)?;
    // A table of an earlier run in this folder that this run does not write would outlive the
    // answers it was made from.
    for (name, mut frame, summary) in [
        (
            RATINGS_FILE,
            (!args.ratings.is_empty())
                .then(|| super::rating::ratings_frame(&ratings))
                .transpose()?,
            super::rating::format_summary(&ratings, args.resamples, args.seed),
        ),
        (
            SALIENCE_FILE,
            extras
                .salience()
                .then(|| rows_to_frame(&salience))
                .transpose()?,
            super::salience::format_summary(&salience, args.resamples, args.seed),
        ),
    ] {
        let path = args.out.join(name);
        match frame.as_mut() {
            Some(frame) => {
                store::write_parquet(&path, frame)?;
                print!("{summary}");
            }
            None if path.is_file() => std::fs::remove_file(&path)
                .with_context(|| format!("{}: cannot replace", path.display()))?,
            None => {}
        }
    }
    if args.csv {
        // The folder is this verb's output: files of an earlier run's checkpoints go first.
        let csv_dir = args.out.join("csv");
        if csv_dir.is_dir() {
            std::fs::remove_dir_all(&csv_dir)
                .with_context(|| format!("{}: cannot replace", csv_dir.display()))?;
        }
        let graded: Vec<EvalRow> = rows.iter().chain(&salience).cloned().collect();
        let written = super::paper_csv::write(&csv_dir, &graded, &ratings, &opts)?;
        eprintln!(
            "wrote {} CSV files in the paper's layout under {}",
            written.len(),
            args.out.join("csv").display()
        );
    }
    print!(
        "{}",
        format_summary(&summarise(&rows, args.resamples, args.seed))
    );
    Ok(())
}
