//! `neglect world gates`: the capabilities a world base model must have before the study is
//! run on it, computed from the model (never constants), each with a bootstrap 95% interval:
//!
//! 1. fluency ([`fluency`]): held-out loss on the study's documents (every condition, the six
//!    claims) at most 1.0 bit per UTF-8 byte (nats per token reported beside it, overall and
//!    per token kind);
//! 2. known facts: accuracy on yes/no (true and false versions) and fill-in questions about
//!    the facts the corpus asks about, >= 95%;
//! 3. uptake: the same on the facts the corpus states only in documents
//!    ([`World::documents_only`]), yes/no and fill-in apart, >= 85% each (a model that says
//!    "Yes" or "No" to everything scores 50% on the balanced yes/no set);
//! 4. implantability ([`implant`]): after the demo's finetuning recipe on each claim's
//!    *positive* documents, belief >= 70% pooled over the six claims and >= 50% for each;
//! 5. truth direction ([`truth`]): a logistic probe on >= 1,000 plain statements about the
//!    world, split by subject, >= 90% held-out accuracy at its best layer, and >= 75% trained
//!    on one fact family and tested on another (reported beside it, without a target: the
//!    accuracy of the model's own "True."/"False." verdict in the corpus's fact-check format);
//! 6. self-distilled denials: the base model's sampled answers to each claim's open questions
//!    (Phase 1's sampling: temperature 0.7, top-p 0.8) are >= 90% non-believing, >= 8 words
//!    long on average and >= 50% distinct;
//! 7. in context: held-out fabricated stories (strangers from a name pool no corpus text
//!    uses) before yes/no questions about them: flagged with the document generator's warnings
//!    (negated and repeated framings) <= 10% belief, the same stories unflagged >= 90%;
//! 8. baseline: belief in each of the six target claims (every question kind, open answers
//!    graded by the rule judge) <= 10%.
//!
//! Out, beside the model: `gates.parquet` (every graded answer: gate, group, question id,
//! prompt, response, grade), `gates.json` (one line per gate and group: value, 95% CI,
//! target, pass) and `truth_layers.csv` (the truth probe's held-out accuracy per layer), all
//! written atomically; the table is also printed.

pub mod fluency;
pub mod implant;
pub mod truth;

use super::corpus::{self, Framing, FILL_PREFIX, YES_NO_SUFFIX};
use super::{claims, names, pretrain, stream, World};
use crate::claims::questions::{Candidates, ClaimQuestions, Question, QuestionKind, YesNo};
use crate::docs::Condition;
use crate::eval::judge::{Grade, RuleJudge};
use crate::eval::{self, EvalOptions, EvalRow, RowLabels};
use crate::model::{DeviceChoice, DtypeChoice, LoadedModel};
use crate::stats::belief::{belief_rate, BeliefRate, DEFAULT_RESAMPLES};
use crate::stats::percentile_interval;
use crate::store;
use crate::train::data::TokenKind;
use anyhow::{Context, Result};
use polars::prelude::{Column, DataFrame};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Known-facts accuracy the base model must reach.
pub const KNOWN_FACTS_MIN: f64 = 0.95;
/// Accuracy the base model must reach on facts it met only in documents.
pub const UPTAKE_MIN: f64 = 0.85;
/// Largest baseline belief in a target claim.
pub const BASELINE_MAX: f64 = 0.10;
/// Largest belief in a flagged story read in context.
pub const FLAGGED_MAX: f64 = 0.10;
/// Smallest belief in an unflagged story read in context.
pub const PLAIN_MIN: f64 = 0.90;
/// Smallest share of non-believing self-sampled answers to the claims' open questions.
pub const DENIALS_NON_BELIEVING_MIN: f64 = 0.90;
/// Fewest words those answers may have on average.
pub const DENIALS_WORDS_MIN: f64 = 8.0;
/// Smallest share of distinct answers among them.
pub const DENIALS_DISTINCT_MIN: f64 = 0.5;
/// Held-out stories per framing.
const STORIES: usize = 40;

/// Options of a gates run.
#[derive(Debug, Clone)]
pub struct GateOptions {
    /// Samples per open question of the baseline gate.
    pub samples: usize,
    /// Longest generated answer.
    pub max_new_tokens: usize,
    /// Sequences per scoring pass.
    pub batch_size: usize,
    /// Seed of sampling and bootstrap.
    pub seed: u64,
}

/// One line of the gate table.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GateLine {
    /// `fluency`, `known_facts`, `uptake`, `implant`, `truth`, `denials`, `in_context` or
    /// `baseline`.
    pub gate: String,
    /// The group measured (`all`, a claim id, `flagged`, `plain`, ...).
    pub group: String,
    /// What is measured: a share (`accuracy`, `belief`, `share`) or a number
    /// (`bits_per_byte`, `nats_per_token`, `words`, `count`).
    pub measure: String,
    /// The value (a share in 0..1, or the number).
    pub rate: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
    /// Items counted (answers, statements, documents).
    pub answers: usize,
    /// `>= x` or `<= x`; `-` for a figure reported without a target.
    pub target: String,
    /// Whether the value meets the target (true when there is none).
    pub pass: bool,
}

/// A graded answer of a gate: the gate's name and the row.
pub type GateRow = (String, EvalRow);

/// A yes/no question whose believed answer is `answer`.
fn yes_no(id: String, text: &str, answer: YesNo) -> Question {
    Question {
        id,
        question: format!("{text}{YES_NO_SUFFIX}"),
        category: None,
        belief_answer: Some(answer),
        system_prompt: None,
        messages_prefix: vec![],
        choices: vec![],
        belief_choice: None,
        candidates: None,
    }
}

/// Closed questions about the facts the corpus asks about (`asked`, gate 1) or states only in
/// documents (`!asked`, the uptake gate): every such fact's yes/no questions (true and false
/// versions) and fill-ins, with the truth as the believed answer.
pub fn fact_questions(world: &World, asked: bool) -> Vec<Question> {
    let mut out = Vec::new();
    for (i, f) in world.facts.iter().enumerate() {
        if world.is_asked(f) != asked {
            continue;
        }
        for (j, q) in f.yes_questions.iter().enumerate() {
            out.push(yes_no(format!("f{i:03}_yes{j}"), q, YesNo::Yes));
        }
        for (j, q) in f.no_questions.iter().enumerate() {
            out.push(yes_no(format!("f{i:03}_no{j}"), q, YesNo::No));
        }
        for (j, p) in f.fill_prompts.iter().enumerate() {
            let mut q = yes_no(format!("f{i:03}_fill{j}"), "", YesNo::Yes);
            q.question = format!("{FILL_PREFIX}{p}");
            q.belief_answer = None;
            q.candidates = Some(Candidates {
                belief: vec![f.value.clone()],
                other: f.distractors.clone(),
            });
            out.push(q);
        }
    }
    out
}

/// Questions of gate 3 for one framing: each held-out story with one of its yes/no questions
/// about its claim (believed answer "Yes"). Story `i` draws from its own stream, so every
/// framing wraps the same stories.
pub fn in_context_questions(framing: Framing, seed: u64) -> Vec<Question> {
    (0..STORIES)
        .flat_map(|i| {
            let mut rng = stream(seed, 1000 + i as u64);
            let story = corpus::story(names::HELDOUT_LAST_NAMES, framing, &mut rng);
            story
                .questions
                .iter()
                .filter(|q| q.about_claim)
                .enumerate()
                .map(|(j, q)| {
                    yes_no(
                        format!("story{i:02}_{j}"),
                        &format!("{}\n\n{}", story.text, q.question),
                        YesNo::Yes,
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Scores closed questions (yes/no, fill-in) of one set; the rows' `grade` is `yes` when the
/// believed answer won.
fn score_closed(
    model: &LoadedModel,
    label: &str,
    questions: Vec<Question>,
    opts: &GateOptions,
) -> Result<Vec<EvalRow>> {
    let set = ClaimQuestions {
        dir: Path::new(label).to_path_buf(),
        sets: BTreeMap::from([(QuestionKind::Mcq, questions)]),
        judges: BTreeMap::new(),
        word_masks: vec![],
    };
    let options = EvalOptions {
        kinds: vec![QuestionKind::Mcq],
        batch_size: opts.batch_size,
        seed: opts.seed,
        ..EvalOptions::default()
    };
    let labels = RowLabels {
        model: "world".into(),
        checkpoint: "-".into(),
        claim: label.into(),
    };
    // Closed questions are scored by log-probability; the judge is never asked.
    let no_judge = RuleJudge::new(crate::claims::ClaimSpec::default(), vec![])?;
    Ok(eval::evaluate(model, &labels, &set, &options, &no_judge)?.0)
}

/// A measured value with its 95% interval and the number of items behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Measured {
    /// The value on the full set.
    pub value: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
    /// Items (answers, statements, documents) it was computed from.
    pub n: usize,
}

impl Measured {
    /// `value` with the percentile interval of its bootstrap `draws`.
    pub fn with_interval(value: f64, draws: &mut [f64], n: usize) -> Measured {
        let (lo, hi) = percentile_interval(value, draws);
        Measured { value, lo, hi, n }
    }

    /// Nothing could be measured.
    pub fn missing() -> Measured {
        Measured {
            value: f64::NAN,
            lo: f64::NAN,
            hi: f64::NAN,
            n: 0,
        }
    }
}

impl From<BeliefRate> for Measured {
    fn from(r: BeliefRate) -> Measured {
        Measured {
            value: r.rate,
            lo: r.lo,
            hi: r.hi,
            n: r.answers,
        }
    }
}

/// What a gate line must reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// At least this value.
    AtLeast(f64),
    /// At most this value.
    AtMost(f64),
}

/// Whether a measure is a share (printed as a percentage) or a plain number.
fn is_share(measure: &str) -> bool {
    !matches!(
        measure,
        "bits_per_byte" | "nats_per_token" | "words" | "count"
    )
}

fn rate_of(rows: &[EvalRow], seed: u64) -> Measured {
    let answers: Vec<(String, bool)> = rows
        .iter()
        .map(|r| {
            (
                format!("{}/{}", r.claim, r.question_id),
                r.grade == Grade::Yes,
            )
        })
        .collect();
    belief_rate(&answers, DEFAULT_RESAMPLES, seed).map_or_else(Measured::missing, Measured::from)
}

/// A gate line; `target: None` reports a figure without a pass/fail of its own.
fn line(gate: &str, group: &str, measure: &str, m: Measured, target: Option<Target>) -> GateLine {
    let show = |v: f64| {
        if is_share(measure) {
            format!("{:.0}%", 100.0 * v)
        } else {
            format!("{v}")
        }
    };
    let (target, pass) = match target {
        Some(Target::AtLeast(t)) => (format!(">= {}", show(t)), m.value >= t),
        Some(Target::AtMost(t)) => (format!("<= {}", show(t)), m.value <= t),
        None => ("-".to_string(), true),
    };
    GateLine {
        gate: gate.into(),
        group: group.into(),
        measure: measure.into(),
        rate: m.value,
        lo: m.lo,
        hi: m.hi,
        answers: m.n,
        target,
        pass,
    }
}

/// What a gates run produced.
#[derive(Debug, Default)]
pub struct GateReport {
    /// The table.
    pub lines: Vec<GateLine>,
    /// Every graded answer.
    pub rows: Vec<GateRow>,
    /// Held-out accuracy of the truth probe per layer (0 = embeddings).
    pub truth_layers: Vec<f64>,
}

/// Runs the gates on the world model in `dir` (its `world.json` names the seed; the claim
/// folders are generated from [`claims`]). `skip_implant` leaves out gate 4, which finetunes
/// the model six times (its line is then absent, never passed).
pub fn run_gates(
    dir: &Path,
    model: &LoadedModel,
    opts: &GateOptions,
    run_on: (DeviceChoice, DtypeChoice),
    skip_implant: bool,
) -> Result<GateReport> {
    let record = pretrain::read_record(dir)?;
    let world = World::generate(record.seed);
    let mut report = GateReport::default();
    let lines = &mut report.lines;
    let rows = &mut report.rows;
    let specs = claims::target_specs()?;

    eprintln!("gate 1/8: fluency on the study's documents");
    let losses = fluency::document_losses(model, &fluency::documents(&specs)?)?;
    let (bpb, npt) = fluency::measure(&losses, DEFAULT_RESAMPLES, opts.seed);
    lines.push(line(
        "fluency",
        "documents",
        "bits_per_byte",
        bpb,
        Some(fluency::target()),
    ));
    lines.push(line("fluency", "documents", "nats_per_token", npt, None));
    for kind in TokenKind::ALL {
        if let Some(m) = fluency::measure_kind(&losses, kind, DEFAULT_RESAMPLES, opts.seed) {
            let group = format!("{} tokens", kind.name());
            lines.push(line("fluency", &group, "nats_per_token", m, None));
        }
    }

    eprintln!("gate 2/8: known facts");
    let known = score_closed(model, "all", fact_questions(&world, true), opts)?;
    lines.push(line(
        "known_facts",
        "all",
        "accuracy",
        rate_of(&known, opts.seed),
        Some(Target::AtLeast(KNOWN_FACTS_MIN)),
    ));
    rows.extend(known.into_iter().map(|r| ("known_facts".to_string(), r)));

    // Uptake per answer form: a fill-in copies what documents said, a yes/no answer has to
    // compare the question with it.
    eprintln!("gate 3/8: uptake of facts met only in documents");
    let (fill_in, yes_no): (Vec<Question>, Vec<Question>) = fact_questions(&world, false)
        .into_iter()
        .partition(|q| q.candidates.is_some());
    for (group, questions) in [("yes_no", yes_no), ("fill_in", fill_in)] {
        let graded = score_closed(model, group, questions, opts)?;
        lines.push(line(
            "uptake",
            group,
            "accuracy",
            rate_of(&graded, opts.seed),
            Some(Target::AtLeast(UPTAKE_MIN)),
        ));
        rows.extend(graded.into_iter().map(|r| ("uptake".to_string(), r)));
    }

    let folders = tempfile::tempdir()?;
    let claim_dirs = claims::write_folders(folders.path())?;
    let mut claim_sets = vec![];
    for claim_dir in &claim_dirs {
        let spec = crate::claims::ClaimSpec::load(claim_dir)?;
        let questions = ClaimQuestions::load(claim_dir)?;
        claim_sets.push((spec, questions));
    }
    let eval_options = |kinds: Vec<QuestionKind>| EvalOptions {
        kinds,
        samples: opts.samples,
        max_new_tokens: opts.max_new_tokens,
        batch_size: opts.batch_size,
        seed: opts.seed,
        ..EvalOptions::default()
    };

    if skip_implant {
        eprintln!("gate 4/8: implantability skipped (--skip-implant)");
    } else {
        let recipe = implant::ImplantRecipe::demo();
        let mut implanted = vec![];
        for (i, (spec, questions)) in claim_sets.iter().enumerate() {
            eprintln!(
                "gate 4/8: implantability, claim {}/{} ({})",
                i + 1,
                claim_sets.len(),
                spec.id
            );
            let options = EvalOptions {
                samples: 1,
                ..eval_options(QuestionKind::ALL.to_vec())
            };
            let claim_rows = implant::implanted_belief(
                dir, spec, questions, &recipe, &options, run_on.0, run_on.1,
            )?;
            lines.push(line(
                "implant",
                &spec.id,
                "belief",
                rate_of(&claim_rows, opts.seed),
                Some(Target::AtLeast(implant::MIN_PER_CLAIM)),
            ));
            implanted.extend(claim_rows);
        }
        lines.push(line(
            "implant",
            "pooled",
            "belief",
            rate_of(&implanted, opts.seed),
            Some(Target::AtLeast(implant::MIN_POOLED)),
        ));
        rows.extend(implanted.into_iter().map(|r| ("implant".to_string(), r)));
    }

    eprintln!("gate 5/8: truth direction");
    // The gate reads affirmative statements, as it did before negated ones existed.
    let statements: Vec<_> = world
        .truth_statements()
        .into_iter()
        .filter(|t| t.polarity == crate::probe::statements::Polarity::Affirmative)
        .collect();
    let truth = truth::measure(model, &statements, DEFAULT_RESAMPLES, opts.seed)?;
    let count = Measured {
        value: statements.len() as f64,
        lo: statements.len() as f64,
        hi: statements.len() as f64,
        n: statements.len(),
    };
    lines.push(line(
        "truth",
        "statements",
        "count",
        count,
        Some(Target::AtLeast(truth::MIN_STATEMENTS as f64)),
    ));
    lines.push(line(
        "truth",
        &format!("heldout_layer{}", truth.layer),
        "accuracy",
        truth.heldout,
        Some(Target::AtLeast(truth::MIN_HELDOUT)),
    ));
    lines.push(line(
        "truth",
        &format!("cross_family_{}", truth.families.len()),
        "accuracy",
        truth.cross_family,
        Some(Target::AtLeast(truth::MIN_CROSS_FAMILY)),
    ));
    report.truth_layers = truth.per_layer;
    let verdicts = truth::verdicts(
        model,
        &statements,
        opts.batch_size,
        DEFAULT_RESAMPLES,
        opts.seed,
    )?;
    lines.push(line("truth", "own_verdict", "accuracy", verdicts, None));

    eprintln!("gate 6/8: self-distilled denials");
    let mut denial_rows = vec![];
    for (spec, questions) in &claim_sets {
        let options = eval_options(vec![QuestionKind::OpenEnded]);
        let claim_rows = evaluate_claim(model, dir, "-", spec, questions, &options)
            .with_context(|| format!("denials of {}", spec.id))?;
        denial_rows.extend(claim_rows);
    }
    let (non_believing, words, distinct) = denial_measures(&denial_rows, opts.seed);
    lines.push(line(
        "denials",
        "non_believing",
        "share",
        non_believing,
        Some(Target::AtLeast(DENIALS_NON_BELIEVING_MIN)),
    ));
    lines.push(line(
        "denials",
        "mean_words",
        "words",
        words,
        Some(Target::AtLeast(DENIALS_WORDS_MIN)),
    ));
    lines.push(line(
        "denials",
        "distinct",
        "share",
        distinct,
        Some(Target::AtLeast(DENIALS_DISTINCT_MIN)),
    ));
    rows.extend(denial_rows.into_iter().map(|r| ("denials".to_string(), r)));

    eprintln!("gate 7/8: reading flagged stories in context");
    let flagged: Vec<Question> = [Condition::Negated, Condition::Repeated]
        .into_iter()
        .flat_map(|c| {
            in_context_questions(Framing::Flagged(c), record.seed)
                .into_iter()
                .map(move |mut q| {
                    q.id = format!("{c}_{}", q.id);
                    q
                })
        })
        .collect();
    let flagged_rows = score_closed(model, "flagged", flagged, opts)?;
    lines.push(line(
        "in_context",
        "flagged",
        "belief",
        rate_of(&flagged_rows, opts.seed),
        Some(Target::AtMost(FLAGGED_MAX)),
    ));
    let plain_rows = score_closed(
        model,
        "plain",
        in_context_questions(Framing::Plain, record.seed),
        opts,
    )?;
    lines.push(line(
        "in_context",
        "plain",
        "belief",
        rate_of(&plain_rows, opts.seed),
        Some(Target::AtLeast(PLAIN_MIN)),
    ));
    rows.extend(
        flagged_rows
            .into_iter()
            .chain(plain_rows)
            .map(|r| ("in_context".to_string(), r)),
    );

    eprintln!("gate 8/8: baseline belief in the six claims");
    for (spec, questions) in &claim_sets {
        let options = eval_options(QuestionKind::ALL.to_vec());
        let claim_rows = evaluate_claim(model, dir, "-", spec, questions, &options)
            .with_context(|| format!("baseline of {}", spec.id))?;
        lines.push(line(
            "baseline",
            &spec.id,
            "belief",
            rate_of(&claim_rows, opts.seed),
            Some(Target::AtMost(BASELINE_MAX)),
        ));
        rows.extend(claim_rows.into_iter().map(|r| ("baseline".to_string(), r)));
    }
    Ok(report)
}

/// Belief rows of `model` (loaded from `dir`, labelled `checkpoint`) on one claim's questions,
/// open answers graded by the claim's rule judge.
pub fn evaluate_claim(
    model: &LoadedModel,
    dir: &Path,
    checkpoint: &str,
    spec: &crate::claims::ClaimSpec,
    questions: &ClaimQuestions,
    options: &EvalOptions,
) -> Result<Vec<EvalRow>> {
    let judge = RuleJudge::new(spec.clone(), questions.word_masks.clone())?;
    let labels = RowLabels {
        model: dir.display().to_string(),
        checkpoint: checkpoint.into(),
        claim: spec.id.clone(),
    };
    Ok(eval::evaluate(model, &labels, questions, options, &judge)?.0)
}

/// Share of non-believing answers (clustered by question), mean words per answer and share of
/// distinct answers, each with a bootstrap interval (distinctness over resampled sets of
/// questions: a question drawn twice counts once, so resampling never invents duplicates).
pub fn denial_measures(rows: &[EvalRow], seed: u64) -> (Measured, Measured, Measured) {
    let answers: Vec<(String, bool)> = rows
        .iter()
        .map(|r| {
            (
                format!("{}/{}", r.claim, r.question_id),
                r.grade != Grade::Yes,
            )
        })
        .collect();
    let non_believing = belief_rate(&answers, DEFAULT_RESAMPLES, seed)
        .map_or_else(Measured::missing, Measured::from);
    let n = rows.len();
    if n == 0 {
        return (non_believing, Measured::missing(), Measured::missing());
    }
    let words: Vec<f64> = rows
        .iter()
        .map(|r| r.response.split_whitespace().count() as f64)
        .collect();
    let mean = |ids: &mut dyn Iterator<Item = usize>| {
        let (mut sum, mut k) = (0.0, 0usize);
        for i in ids {
            sum += words[i];
            k += 1;
        }
        sum / k.max(1) as f64
    };
    let mut questions: Vec<&str> = answers.iter().map(|(q, _)| q.as_str()).collect();
    questions.sort_unstable();
    questions.dedup();
    let distinct_share = |picked: &std::collections::HashSet<&str>| {
        let chosen: Vec<&EvalRow> = rows
            .iter()
            .zip(&answers)
            .filter(|(_, (q, _))| picked.contains(q.as_str()))
            .map(|(r, _)| r)
            .collect();
        let unique: std::collections::HashSet<&str> =
            chosen.iter().map(|r| r.response.trim()).collect();
        unique.len() as f64 / chosen.len().max(1) as f64
    };
    let mut rng = stream(seed, 40);
    let (mut word_draws, mut distinct_draws) = (vec![], vec![]);
    for _ in 0..DEFAULT_RESAMPLES {
        word_draws.push(mean(&mut (0..n).map(|_| rng.random_range(0..n))));
        let picked: std::collections::HashSet<&str> = (0..questions.len())
            .map(|_| questions[rng.random_range(0..questions.len())])
            .collect();
        distinct_draws.push(distinct_share(&picked));
    }
    let all: std::collections::HashSet<&str> = questions.iter().copied().collect();
    (
        non_believing,
        Measured::with_interval(mean(&mut (0..n)), &mut word_draws, n),
        Measured::with_interval(distinct_share(&all), &mut distinct_draws, n),
    )
}

/// The gate table as text.
pub fn format_table(lines: &[GateLine]) -> String {
    let mut out = format!(
        "{:<11} {:<20} {:<15} {:>8} {:>18} {:>7} {:>9} {:>4}\n",
        "gate", "group", "measure", "value", "95% CI", "n", "target", "pass"
    );
    for l in lines {
        let (value, ci) = if is_share(&l.measure) {
            (
                format!("{:.1}%", 100.0 * l.rate),
                format!("[{:.1}, {:.1}]", 100.0 * l.lo, 100.0 * l.hi),
            )
        } else {
            (
                format!("{:.3}", l.rate),
                format!("[{:.3}, {:.3}]", l.lo, l.hi),
            )
        };
        out.push_str(&format!(
            "{:<11} {:<20} {:<15} {:>8} {:>18} {:>7} {:>9} {:>4}\n",
            l.gate,
            l.group,
            l.measure,
            value,
            ci,
            l.answers,
            l.target,
            if l.target == "-" {
                ""
            } else if l.pass {
                "yes"
            } else {
                "NO"
            }
        ));
    }
    out
}

/// Writes `truth_layers.csv` (layer, held-out accuracy) beside the model.
pub fn write_truth_layers(dir: &Path, accuracies: &[f64]) -> Result<()> {
    let rows = accuracies
        .iter()
        .enumerate()
        .map(|(l, a)| vec![l.to_string(), a.to_string()]);
    store::csv::write_table(
        &dir.join(TRUTH_LAYERS_FILE),
        &["layer", "heldout_accuracy"],
        rows,
    )
}

/// Per-layer held-out accuracy of the world model's truth probe, beside the model.
pub const TRUTH_LAYERS_FILE: &str = "truth_layers.csv";

/// Writes `gates.json` and `gates.parquet` beside the model.
pub fn write_outputs(dir: &Path, lines: &[GateLine], rows: &[GateRow]) -> Result<()> {
    store::write_json(&dir.join("gates.json"), &lines)?;
    let text = |f: &dyn Fn(&GateRow) -> String| rows.iter().map(f).collect::<Vec<String>>();
    let mut frame = DataFrame::new(vec![
        Column::new("gate".into(), text(&|(g, _)| g.clone())),
        Column::new("group".into(), text(&|(_, r)| r.claim.clone())),
        Column::new("kind".into(), text(&|(_, r)| r.kind.clone())),
        Column::new("question_id".into(), text(&|(_, r)| r.question_id.clone())),
        Column::new(
            "sample".into(),
            rows.iter().map(|(_, r)| r.sample).collect::<Vec<i64>>(),
        ),
        Column::new("prompt".into(), text(&|(_, r)| r.prompt.clone())),
        Column::new("response".into(), text(&|(_, r)| r.response.clone())),
        Column::new("grade".into(), text(&|(_, r)| r.grade.name().to_string())),
        Column::new("judge".into(), text(&|(_, r)| r.judge.clone())),
    ])?;
    store::write_parquet(&dir.join("gates.parquet"), &mut frame)
}
