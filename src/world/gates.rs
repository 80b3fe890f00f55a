//! `neglect world gates`: the checks a world base model must pass before it is used,
//! computed from the model with the belief evaluation of [`crate::eval`] (never constants).
//!
//! 1. known facts: accuracy on yes/no and fill-in questions about the world's facts that the
//!    corpus asks about (a question is a "belief" question whose believed answer is the
//!    truth), target >= 95%; uptake: the same on the facts the corpus states only in
//!    documents ([`World::documents_only`]), yes/no and fill-in reported apart, target >= 70%
//!    each, since a model that cannot answer from what documents said cannot be moved by
//!    synthetic documents either;
//! 2. baseline: belief in each of the six target claims (their claim folders, every question
//!    kind, open answers graded by the rule judge), target <= 10%;
//! 3. in context: held-out fabricated stories (strangers from a name pool no corpus text
//!    uses) placed before yes/no questions about them; flagged with the document generator's
//!    warnings (negated and repeated framings), belief <= 20%; the same stories unflagged,
//!    belief >= 80%.
//!
//! Out, beside the model: `gates.parquet` (every graded answer: gate, group, question id,
//! prompt, response, grade) and `gates.json` (one line per gate and group: rate, 95% CI,
//! target, pass), both written atomically; the table is also printed.

use super::corpus::{self, Framing, FILL_PREFIX, YES_NO_SUFFIX};
use super::{claims, names, pretrain, stream, World};
use crate::claims::questions::{Candidates, ClaimQuestions, Question, QuestionKind, YesNo};
use crate::docs::Condition;
use crate::eval::judge::{Grade, RuleJudge};
use crate::eval::rate::{belief_rate, BeliefRate, DEFAULT_RESAMPLES};
use crate::eval::{self, EvalOptions, EvalRow, RowLabels};
use crate::model::LoadedModel;
use crate::store;
use anyhow::{Context, Result};
use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Known-facts accuracy the base model must reach.
pub const KNOWN_FACTS_MIN: f64 = 0.95;
/// Accuracy the base model must reach on facts it met only in documents.
pub const UPTAKE_MIN: f64 = 0.70;
/// Largest baseline belief in a target claim.
pub const BASELINE_MAX: f64 = 0.10;
/// Largest belief in a flagged story read in context.
pub const FLAGGED_MAX: f64 = 0.20;
/// Smallest belief in an unflagged story read in context.
pub const PLAIN_MIN: f64 = 0.80;
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
    /// `known_facts`, `baseline` or `in_context`.
    pub gate: String,
    /// The group measured (`all`, a claim id, `flagged`, `plain`).
    pub group: String,
    /// What is measured (`accuracy` or `belief`).
    pub measure: String,
    /// The rate.
    pub rate: f64,
    /// Lower end of the 95% interval.
    pub lo: f64,
    /// Upper end of the 95% interval.
    pub hi: f64,
    /// Answers counted.
    pub answers: usize,
    /// `>= x` or `<= x`.
    pub target: String,
    /// Whether the rate meets the target.
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

fn rate_of(rows: &[EvalRow], seed: u64) -> BeliefRate {
    let answers: Vec<(String, bool)> = rows
        .iter()
        .map(|r| {
            (
                format!("{}/{}", r.claim, r.question_id),
                r.grade == Grade::Yes,
            )
        })
        .collect();
    belief_rate(&answers, DEFAULT_RESAMPLES, seed).unwrap_or(BeliefRate {
        rate: f64::NAN,
        lo: f64::NAN,
        hi: f64::NAN,
        answers: 0,
        questions: 0,
    })
}

fn line(
    gate: &str,
    group: &str,
    measure: &str,
    r: BeliefRate,
    at_least: bool,
    target: f64,
) -> GateLine {
    GateLine {
        gate: gate.into(),
        group: group.into(),
        measure: measure.into(),
        rate: r.rate,
        lo: r.lo,
        hi: r.hi,
        answers: r.answers,
        target: format!(
            "{} {:.0}%",
            if at_least { ">=" } else { "<=" },
            100.0 * target
        ),
        pass: if at_least {
            r.rate >= target
        } else {
            r.rate <= target
        },
    }
}

/// Runs the gates on the world model in `dir` (its `world.json` names the seed; the
/// claim folders are generated from [`claims`]). Returns the table lines and every graded row
/// (with `claim` set to the gate group).
pub fn run_gates(
    dir: &Path,
    model: &LoadedModel,
    opts: &GateOptions,
) -> Result<(Vec<GateLine>, Vec<GateRow>)> {
    let record = pretrain::read_record(dir)?;
    let world = World::generate(record.seed);
    let mut lines = Vec::new();
    let mut rows = Vec::new();

    let known = score_closed(model, "all", fact_questions(&world, true), opts)?;
    lines.push(line(
        "known_facts",
        "all",
        "accuracy",
        rate_of(&known, opts.seed),
        true,
        KNOWN_FACTS_MIN,
    ));
    rows.extend(known.into_iter().map(|r| ("known_facts".to_string(), r)));

    // Uptake per answer form: a fill-in copies what documents said, a yes/no answer has to
    // compare the question with it.
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
            true,
            UPTAKE_MIN,
        ));
        rows.extend(graded.into_iter().map(|r| ("uptake".to_string(), r)));
    }

    let folders = tempfile::tempdir()?;
    for claim_dir in claims::write_folders(folders.path())? {
        let spec = crate::claims::ClaimSpec::load(&claim_dir)?;
        let questions = ClaimQuestions::load(&claim_dir)?;
        let judge = RuleJudge::new(spec.clone(), questions.word_masks.clone())?;
        let options = EvalOptions {
            samples: opts.samples,
            max_new_tokens: opts.max_new_tokens,
            batch_size: opts.batch_size,
            seed: opts.seed,
            ..EvalOptions::default()
        };
        let labels = RowLabels {
            model: dir.display().to_string(),
            checkpoint: "-".into(),
            claim: spec.id.clone(),
        };
        let (claim_rows, _) = eval::evaluate(model, &labels, &questions, &options, &judge)
            .with_context(|| format!("baseline of {}", spec.id))?;
        lines.push(line(
            "baseline",
            &spec.id,
            "belief",
            rate_of(&claim_rows, opts.seed),
            false,
            BASELINE_MAX,
        ));
        rows.extend(claim_rows.into_iter().map(|r| ("baseline".to_string(), r)));
    }

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
        false,
        FLAGGED_MAX,
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
        true,
        PLAIN_MIN,
    ));
    rows.extend(
        flagged_rows
            .into_iter()
            .chain(plain_rows)
            .map(|r| ("in_context".to_string(), r)),
    );
    Ok((lines, rows))
}

/// The gate table as text.
pub fn format_table(lines: &[GateLine]) -> String {
    let mut out = format!(
        "{:<12} {:<20} {:<9} {:>7} {:>16} {:>8} {:>8} {:>5}\n",
        "gate", "group", "measure", "rate", "95% CI", "answers", "target", "pass"
    );
    for l in lines {
        out.push_str(&format!(
            "{:<12} {:<20} {:<9} {:>6.1}% {:>16} {:>8} {:>8} {:>5}\n",
            l.gate,
            l.group,
            l.measure,
            100.0 * l.rate,
            format!("[{:.1}, {:.1}]", 100.0 * l.lo, 100.0 * l.hi),
            l.answers,
            l.target,
            if l.pass { "yes" } else { "NO" }
        ));
    }
    out
}

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
