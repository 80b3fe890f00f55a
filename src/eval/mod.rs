//! Belief evaluation: how much a model believes a claim.
//!
//! In: a loaded model, a claim folder's questions ([`crate::claims::questions`]), evaluation
//! options ([`EvalOptions`]) and a [`judge::Judge`]. Out: one [`EvalRow`] per question x sample
//! (closed-form questions have one sample), and belief rates with bootstrap intervals per kind
//! and overall ([`summarise`]).
//!
//! - [`score`]: log-probability scoring (yes/no, lettered choice, fill-in), batched
//! - [`judge`]: the rule judge and the HTTP (chat-completions) judge
//! - belief rates and their bootstrap CIs are [`crate::stats::belief`]'s
//! - [`behaviour`]: the behaviour rate of the flagged-behaviour experiment
//! - [`regrade`]: the `regrade` verb: stored answers graded again by another judge or rubric
//! - [`cli`]: the `eval` verb (belief.parquet, manifest.json, summary table)
//!
//! Yes/no questions, lettered choices and fill-ins with candidates are scored by
//! log-probability (judge label `logprob`, grade `yes` when the believing continuation wins,
//! else `no`). Everything else is sampled `samples` times and graded by the judge.

pub mod behaviour;
pub mod cli;
pub mod judge;
pub mod mcq;
pub mod paper_csv;
pub mod rating;
pub mod regrade;
pub mod salience;
pub mod score;
pub mod thinking;

use crate::claims::questions::{ClaimQuestions, Question, QuestionKind};
use crate::model::generate::{generate_many, Sampling};
use crate::model::LoadedModel;
use crate::stats::belief::{belief_rate, BeliefRate};
use anyhow::{bail, Context, Result};
use judge::{Grade, Judge, JudgeItem};
use polars::prelude::{Column, DataFrame};
use score::{ClosedChoice, ScoreItem};
use std::time::Instant;

/// Label of rows graded by log-probability rather than a judge.
pub const LOGPROB_JUDGE: &str = "logprob";

/// The sampling of answer `sample` to question number `question`: greedy at temperature 0,
/// else top-p with a seed of its own derived from `seed`, so every (question, sample) pair
/// draws from its own stream.
pub(crate) fn answer_sampling(
    temperature: f64,
    top_p: f64,
    seed: u64,
    question: usize,
    sample: usize,
) -> Sampling {
    if temperature > 0.0 {
        Sampling::TopP {
            temperature,
            top_p,
            seed: seed
                .wrapping_add((question as u64) << 20)
                .wrapping_add(sample as u64),
        }
    } else {
        Sampling::Greedy
    }
}

/// Samples `samples` answers to each of `questions` (rendered with the model's chat
/// template), answer `j` to question `i` seeded by [`answer_sampling`]`(.., seed, i, j)`.
/// Returns `(question index, answer)` for every non-empty answer, in order. Phase 1's
/// constraint set and the world model's denial gate sample this way.
pub fn sample_answers(
    model: &LoadedModel,
    questions: &[&Question],
    samples: usize,
    temperature: f64,
    top_p: f64,
    max_new_tokens: usize,
    seed: u64,
) -> Result<Vec<(usize, String)>> {
    let mut asked = vec![];
    for (qi, q) in questions.iter().enumerate() {
        let prompt = score::render_prompt(model, q)?;
        for sample in 0..samples {
            asked.push((
                qi,
                prompt.clone(),
                answer_sampling(temperature, top_p, seed, qi, sample),
            ));
        }
    }
    let prompts: Vec<String> = asked.iter().map(|a| a.1.clone()).collect();
    let samplings: Vec<Sampling> = asked.iter().map(|a| a.2).collect();
    let answers = answer_all(
        model,
        &prompts,
        &samplings,
        max_new_tokens,
        GENERATION_BATCH,
    )?;
    Ok(asked
        .into_iter()
        .zip(answers)
        .map(|((qi, _, _), answer)| (qi, answer.trim().to_string()))
        .filter(|(_, answer)| !answer.is_empty())
        .collect())
}

/// The answers to rendered `prompts` under `opts` (its sampling, new tokens and batch size),
/// `prompts[i]` drawn from the sampling stream `streams[i]` = `(question, sample)` of
/// [`answer_sampling`].
pub(crate) fn answer_streams(
    model: &LoadedModel,
    prompts: &[String],
    streams: &[(usize, usize)],
    opts: &EvalOptions,
) -> Result<Vec<String>> {
    let samplings: Vec<Sampling> = streams
        .iter()
        .map(|&(question, sample)| {
            answer_sampling(opts.temperature, opts.top_p, opts.seed, question, sample)
        })
        .collect();
    answer_all(
        model,
        prompts,
        &samplings,
        opts.max_new_tokens,
        opts.batch_size,
    )
}

/// Prompts answered together where no batch size is configured ([`sample_answers`], the
/// behaviour evals).
pub(crate) const GENERATION_BATCH: usize = 16;

/// The model's answers to rendered `prompts`, `prompts[i]` sampled by `samplings[i]`, `batch`
/// at a time (each as it would be alone; [`generate_many`]), decoded without special tokens.
pub(crate) fn answer_all(
    model: &LoadedModel,
    prompts: &[String],
    samplings: &[Sampling],
    max_new_tokens: usize,
    batch: usize,
) -> Result<Vec<String>> {
    let ids: Vec<Vec<i64>> = prompts
        .iter()
        .map(|p| model.tokenizer.encode(p, false))
        .collect::<Result<_>>()?;
    let stop = model.stop_ids();
    generate_many(
        &model.decoder,
        &ids,
        max_new_tokens,
        samplings,
        &stop,
        batch,
    )
    .context("generating answers")?
    .iter()
    .map(|new| model.tokenizer.decode(new, true))
    .collect()
}

/// How to run an evaluation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalOptions {
    /// Question kinds to ask.
    pub kinds: Vec<QuestionKind>,
    /// Samples per generated question.
    pub samples: usize,
    /// Sampling temperature (0: greedy).
    pub temperature: f64,
    /// Nucleus mass kept when sampling.
    pub top_p: f64,
    /// Most new tokens per generated answer.
    pub max_new_tokens: usize,
    /// Base seed; each (question, sample) gets its own stream.
    pub seed: u64,
    /// Sequences per scoring forward pass.
    pub batch_size: usize,
    /// In-context baseline: documents placed before every question in its user turn (as
    /// many as fit; empty for the plain evaluation).
    #[serde(skip)]
    pub in_context: Vec<String>,
    /// How yes/no questions are answered: log-probability scoring, or the paper's sampled JSON
    /// answers.
    #[serde(default)]
    pub mcq_protocol: mcq::McqProtocol,
    /// System prompt of the sampled yes/no protocol.
    #[serde(default = "default_mcq_system_prompt")]
    pub mcq_system_prompt: String,
    /// How the in-context documents are set before a question.
    #[serde(default)]
    pub context_layout: ContextLayout,
    /// Text put before and after every question's user turn (the paper's user-message prefix
    /// and suffix, e.g. its `<DOCTAG>` prefix).
    #[serde(default)]
    pub framing: Framing,
}

/// Text around every question (the paper's `user_message_prefix` and `user_message_suffix`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Framing {
    /// Before the question: joined by a blank line, or directly when it ends with a tag
    /// (`<DOCTAG>` gives `<DOCTAG>Did ...?`).
    pub prefix: String,
    /// After the question, joined by a blank line.
    pub suffix: String,
}

impl Framing {
    /// `question` with the prefix and suffix put around its user turn.
    pub fn apply(&self, question: &Question) -> Question {
        let mut text = question.question.clone();
        if !self.prefix.is_empty() {
            let join = if self.prefix.ends_with('>') {
                ""
            } else {
                "\n\n"
            };
            text = format!("{}{join}{text}", self.prefix);
        }
        if !self.suffix.is_empty() {
            text = format!("{text}\n\n{}", self.suffix);
        }
        Question {
            question: text,
            ..question.clone()
        }
    }
}

fn default_mcq_system_prompt() -> String {
    mcq::DEFAULT_SYSTEM_PROMPT.to_string()
}

impl Default for EvalOptions {
    /// The paper's settings: every kind, 5 samples at temperature 0.7, top-p 0.8.
    fn default() -> Self {
        EvalOptions {
            kinds: QuestionKind::ALL.to_vec(),
            samples: 5,
            temperature: 0.7,
            top_p: 0.8,
            max_new_tokens: 256,
            seed: 0,
            batch_size: 32,
            in_context: vec![],
            mcq_protocol: mcq::McqProtocol::Logprob,
            mcq_system_prompt: default_mcq_system_prompt(),
            framing: Framing::default(),
            context_layout: ContextLayout::Plain,
        }
    }
}

/// One graded answer.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRow {
    /// Model label (directory or run).
    pub model: String,
    /// Checkpoint label (`step-N`, or `-` for a plain model).
    pub checkpoint: String,
    /// Claim id.
    pub claim: String,
    /// Question kind name.
    pub kind: String,
    /// Question id.
    pub question_id: String,
    /// Sample index (0 for closed-form questions).
    pub sample: i64,
    /// The question's category (`direct`, `fill_in`, `adversarial_system_prompt`, ...; empty
    /// when its file gives none).
    pub category: String,
    /// The question as the user turn puts it (with lettered options when it has them).
    pub question: String,
    /// The question's system prompt (empty when none).
    pub system_prompt: String,
    /// The earlier turns before the question, as a JSON list of `{role, content}` (empty when
    /// none).
    pub messages_prefix: String,
    /// The rendered prompt.
    pub prompt: String,
    /// The answer graded: generated text without reasoning traces, or the continuation the
    /// model preferred.
    pub response: String,
    /// The generated text as it came (reasoning traces included); the continuation for closed
    /// forms.
    pub raw_response: String,
    /// Reasoning traces taken out of a generated answer ([`thinking::split`]; empty when none).
    pub thinking_trace: String,
    /// The grade.
    pub grade: Grade,
    /// Who graded it: `logprob`, `rule`, `http:<model>`.
    pub judge: String,
    /// The judge's reply (empty for the rule judge and log-probability scoring).
    pub judge_raw: String,
    /// Closed forms only: probability mass on the believing continuations.
    pub belief_probability: Option<f64>,
}

impl EvalRow {
    /// A row for sample `sample` of question `q` (of kind `kind`) put as `prompt`, before it
    /// is answered and graded.
    pub fn asked(
        labels: &RowLabels,
        kind: &str,
        q: &Question,
        sample: i64,
        prompt: &str,
    ) -> Result<EvalRow> {
        let messages_prefix = if q.messages_prefix.is_empty() {
            String::new()
        } else {
            serde_json::to_string(&q.messages_prefix)?
        };
        Ok(EvalRow {
            model: labels.model.clone(),
            checkpoint: labels.checkpoint.clone(),
            claim: labels.claim.clone(),
            kind: kind.to_string(),
            question_id: q.id.clone(),
            sample,
            category: q.category.clone().unwrap_or_default(),
            question: q.user_text(),
            system_prompt: q.system_prompt.clone().unwrap_or_default(),
            messages_prefix,
            prompt: prompt.to_string(),
            response: String::new(),
            raw_response: String::new(),
            thinking_trace: String::new(),
            grade: Grade::Neutral,
            judge: String::new(),
            judge_raw: String::new(),
            belief_probability: None,
        })
    }

    /// Sets the generated text: the answer graded, its raw form and its reasoning traces.
    pub fn set_generated(&mut self, text: &str) {
        let split = thinking::split(text);
        self.raw_response = text.trim().to_string();
        self.response = split.answer;
        self.thinking_trace = split.trace;
    }
}

/// Labels stamped on every row of one evaluation.
#[derive(Debug, Clone)]
pub struct RowLabels {
    /// Model label.
    pub model: String,
    /// Checkpoint label.
    pub checkpoint: String,
    /// Claim id.
    pub claim: String,
}

/// Counts and timings of one evaluation.
#[derive(Debug, Clone, Copy, Default)]
pub struct EvalTiming {
    /// Closed-form questions scored.
    pub scored: usize,
    /// Seconds spent scoring them.
    pub score_s: f64,
    /// Answers generated.
    pub generated: usize,
    /// Seconds spent generating.
    pub generate_s: f64,
    /// Seconds spent judging.
    pub judge_s: f64,
    /// In-context baseline: fewest documents that fitted before a question.
    pub context_docs_min: usize,
    /// In-context baseline: questions whose documents were cut to fit.
    pub context_truncated: usize,
}

/// How much of the in-context documents a question's prompt holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContextUse {
    /// Whole documents included.
    pub whole: usize,
    /// True when documents were dropped or cut to fit.
    pub truncated: bool,
}

/// The user text of `question` with `docs` before it, separated by blank lines.
/// How in-context documents are set before a question.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum ContextLayout {
    /// The documents, then the question, separated by blank lines.
    #[default]
    Plain,
    /// The paper's (its B.2): "Here are some documents:", each document as `[DOCUMENT i]` and
    /// its text, then `[QUESTION]` and the question, separated by blank lines.
    Paper,
}

fn with_docs(question: &Question, docs: &[String], layout: ContextLayout) -> Question {
    let mut q = question.clone();
    if docs.is_empty() {
        return q;
    }
    q.question = match layout {
        ContextLayout::Plain => format!("{}\n\n{}", docs.join("\n\n"), question.question),
        ContextLayout::Paper => {
            let mut parts = vec!["Here are some documents:".to_string()];
            for (i, doc) in docs.iter().enumerate() {
                parts.push(format!("[DOCUMENT {}]", i + 1));
                parts.push(doc.clone());
            }
            parts.push("[QUESTION]".into());
            parts.push(question.question.clone());
            parts.join("\n\n")
        }
    };
    q
}

/// `question` with as many of `docs` placed before it as fit in the model's positions while
/// leaving `reserve` positions free (for the answer): whole documents first, then a token
/// prefix of the next one.
pub fn fit_context(
    model: &LoadedModel,
    question: &Question,
    docs: &[String],
    layout: ContextLayout,
    reserve: usize,
) -> Result<(Question, ContextUse)> {
    let limit = model.decoder.config.max_position_embeddings as usize;
    let fits = |q: &Question| -> Result<bool> {
        let prompt = score::render_prompt(model, q)?;
        Ok(model.tokenizer.encode(&prompt, false)?.len() + reserve <= limit)
    };
    if !fits(question)? {
        bail!(
            "question `{}` does not fit in {limit} positions with {reserve} to spare",
            question.id
        );
    }
    // Largest k whose first k documents fit (fits is monotone in k).
    let (mut lo, mut hi) = (0usize, docs.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(&with_docs(question, &docs[..mid], layout))? {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let whole = lo;
    if whole == docs.len() {
        return Ok((
            with_docs(question, docs, layout),
            ContextUse {
                whole,
                truncated: false,
            },
        ));
    }
    // A token prefix of the next document, as long as fits.
    let next = model.tokenizer.encode(&docs[whole], false)?;
    let (mut lo, mut hi) = (0usize, next.len());
    let with_prefix = |n: usize| -> Result<Question> {
        let mut kept: Vec<String> = docs[..whole].to_vec();
        kept.push(model.tokenizer.decode(&next[..n], true)?);
        Ok(with_docs(question, &kept, layout))
    };
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(&with_prefix(mid)?)? {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let q = if lo > 0 {
        with_prefix(lo)?
    } else {
        with_docs(question, &docs[..whole], layout)
    };
    Ok((
        q,
        ContextUse {
            whole,
            truncated: true,
        },
    ))
}

/// Reads `n` documents of a documents JSONL file (each line an object with `text`), without
/// their leading `<DOCTAG>` line marker: the first `n`, or with `sample_seed` a seeded sample
/// of `n` (the file shuffled, then its first `n`).
pub fn read_context_docs(
    path: &std::path::Path,
    n: usize,
    sample_seed: Option<u64>,
) -> Result<Vec<String>> {
    let docs = crate::store::read_jsonl_lines(path, |line| {
        let value: serde_json::Value = serde_json::from_str(line)?;
        let text = value
            .get("text")
            .and_then(|t| t.as_str())
            .context("no string field `text`")?;
        Ok(text
            .strip_prefix(crate::docs::DOCTAG)
            .unwrap_or(text)
            .trim()
            .to_string())
    })?;
    if docs.len() < n {
        bail!(
            "{}: {} documents, {n} asked for",
            path.display(),
            docs.len()
        );
    }
    let mut docs = docs;
    if let Some(seed) = sample_seed {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        docs.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    }
    Ok(docs.into_iter().take(n).collect())
}

/// Asks every question of `opts.kinds` and grades the answers.
pub fn evaluate(
    model: &LoadedModel,
    labels: &RowLabels,
    questions: &ClaimQuestions,
    opts: &EvalOptions,
    judge: &dyn Judge,
) -> Result<(Vec<EvalRow>, EvalTiming)> {
    questions.check_kinds(&opts.kinds)?;
    let mut timing = EvalTiming::default();
    let row = |kind: QuestionKind, q: &Question, sample: i64, prompt: &str| {
        EvalRow::asked(labels, kind.name(), q, sample, prompt)
    };
    // The question as its file gives it (rows never carry the in-context documents).
    let file_question = |kind: QuestionKind, id: &str| -> &Question {
        questions
            .questions(kind)
            .iter()
            .find(|o| o.id == id)
            .expect("question of this claim")
    };
    // Closed forms: every continuation of every question in one batched scoring run.
    let mut closed = vec![];
    let mut open = vec![];
    timing.context_docs_min = opts.in_context.len();
    let sampled_mcq = opts.mcq_protocol == mcq::McqProtocol::Sampled;
    for &kind in &opts.kinds {
        if sampled_mcq && kind == QuestionKind::Mcq {
            continue;
        }
        for original in questions.questions(kind) {
            let framed = opts.framing.apply(original);
            let q = if opts.in_context.is_empty() {
                framed
            } else {
                // Room for the longest answer: a generated one, or the longest continuation.
                let reserve = opts.max_new_tokens.max(32);
                let (q, used) = fit_context(
                    model,
                    &framed,
                    &opts.in_context,
                    opts.context_layout,
                    reserve,
                )?;
                timing.context_docs_min = timing.context_docs_min.min(used.whole);
                timing.context_truncated += usize::from(used.truncated);
                q
            };
            let prompt = score::render_prompt(model, &q)?;
            match ClosedChoice::of(&q) {
                Some(choice) => closed.push((kind, q, prompt, choice)),
                None if kind == QuestionKind::Mcq => {
                    bail!(
                        "{}: question `{}` has no belief_answer",
                        kind.file_name(),
                        q.id
                    )
                }
                None => open.push((kind, q, prompt)),
            }
        }
    }
    let mut rows = vec![];
    let start = Instant::now();
    let mut items: Vec<ScoreItem> = vec![];
    for (_, q, prompt, choice) in &closed {
        items.extend(
            score::continuation_items(model, prompt, &choice.continuations)
                .with_context(|| format!("question `{}`", q.id))?,
        );
    }
    let scores = score::score_items(model, &items, opts.batch_size)?;
    let mut offset = 0;
    for (kind, q, prompt, choice) in &closed {
        let these = &scores[offset..offset + choice.continuations.len()];
        offset += choice.continuations.len();
        let best = choice.pick(these);
        let mut r = row(*kind, file_question(*kind, &q.id), 0, prompt)?;
        r.response = choice.continuations[best].clone();
        r.raw_response = r.response.clone();
        r.grade = if choice.believing[best] {
            Grade::Yes
        } else {
            Grade::No
        };
        r.judge = LOGPROB_JUDGE.to_string();
        r.belief_probability = Some(choice.belief_probability(these));
        rows.push(r);
    }
    timing.scored = closed.len();
    timing.score_s = start.elapsed().as_secs_f64();
    if sampled_mcq && opts.kinds.contains(&QuestionKind::Mcq) {
        let start = Instant::now();
        let sampled = mcq::sampled_rows(model, labels, questions, opts, &opts.mcq_system_prompt)?;
        timing.generated += sampled.len();
        timing.generate_s += start.elapsed().as_secs_f64();
        rows.extend(sampled);
    }

    // Generated answers, then one judging call for all of them.
    let start = Instant::now();
    // Every (question, sample) answered in batches; each keeps its own sampling stream.
    let mut asked = vec![];
    for (qi, (kind, q, prompt)) in open.iter().enumerate() {
        for sample in 0..opts.samples {
            asked.push((*kind, q, prompt, sample, qi));
        }
    }
    let prompts: Vec<String> = asked.iter().map(|a| a.2.clone()).collect();
    let streams: Vec<(usize, usize)> = asked.iter().map(|a| (a.4, a.3)).collect();
    let answers = answer_streams(model, &prompts, &streams, opts)?;
    let mut pending = vec![];
    for ((kind, q, prompt, sample, _), answer) in asked.into_iter().zip(answers) {
        let original = file_question(kind, &q.id);
        let mut r = row(kind, original, sample as i64, prompt)?;
        r.set_generated(&answer);
        r.judge = judge.label();
        let rubric = questions.rubric(kind).unwrap_or_default();
        pending.push((
            r,
            JudgeItem {
                rubric,
                question: original.user_text(),
                response: String::new(),
            },
        ));
        timing.generated += 1;
    }
    timing.generate_s += start.elapsed().as_secs_f64();
    let start = Instant::now();
    let judge_items: Vec<JudgeItem> = pending
        .iter()
        .map(|(r, item)| JudgeItem {
            response: r.response.clone(),
            ..item.clone()
        })
        .collect();
    let verdicts = judge.judge_all(&judge_items)?;
    let unparsed = verdicts
        .iter()
        .filter(|v| v.grade == Grade::Unparsed)
        .count();
    if unparsed > 0 {
        eprintln!(
            "{unparsed} of {} answers could not be graded by {} (stored as `unparsed`, left out of belief rates; a rerun asks again)",
            verdicts.len(),
            judge.label()
        );
    }
    for ((mut r, _), verdict) in pending.into_iter().zip(verdicts) {
        r.grade = verdict.grade;
        r.judge_raw = verdict.raw;
        rows.push(r);
    }
    timing.judge_s = start.elapsed().as_secs_f64();
    Ok((rows, timing))
}

/// The answer columns of `belief.parquet`: kind, question_id, sample, category, question,
/// system_prompt, messages_prefix, grade, judge, judge_raw, prompt, response, raw_response,
/// thinking_trace, belief_probability (closed forms only, else null).
fn answer_columns<'a>(rows: impl Iterator<Item = &'a EvalRow> + Clone) -> Vec<Column> {
    let text = |name: &str, f: fn(&EvalRow) -> &str| {
        Column::new(name.into(), rows.clone().map(f).collect::<Vec<&str>>())
    };
    vec![
        text("kind", |r| &r.kind),
        text("question_id", |r| &r.question_id),
        Column::new(
            "sample".into(),
            rows.clone().map(|r| r.sample).collect::<Vec<i64>>(),
        ),
        text("category", |r| &r.category),
        text("question", |r| &r.question),
        text("system_prompt", |r| &r.system_prompt),
        text("messages_prefix", |r| &r.messages_prefix),
        text("grade", |r| r.grade.name()),
        text("judge", |r| &r.judge),
        text("judge_raw", |r| &r.judge_raw),
        text("prompt", |r| &r.prompt),
        text("response", |r| &r.response),
        text("raw_response", |r| &r.raw_response),
        text("thinking_trace", |r| &r.thinking_trace),
        Column::new(
            "belief_probability".into(),
            rows.map(|r| r.belief_probability)
                .collect::<Vec<Option<f64>>>(),
        ),
    ]
}

/// `neglect eval`'s `belief.parquet`: model, checkpoint, claim, then the answer columns.
pub fn rows_to_frame(rows: &[EvalRow]) -> Result<DataFrame> {
    let text = |name: &str, f: fn(&EvalRow) -> &str| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<&str>>())
    };
    let mut columns = vec![
        text("model", |r| &r.model),
        text("checkpoint", |r| &r.checkpoint),
        text("claim", |r| &r.claim),
    ];
    columns.extend(answer_columns(rows.iter()));
    Ok(DataFrame::new(columns)?)
}

/// An experiment arm's belief rows, `(global step, answer)`: step, then the answer columns
/// (the arm's labels go before them, [`crate::tables::labelled`]).
pub fn stepped_frame(rows: &[(i64, EvalRow)]) -> Result<DataFrame> {
    let mut columns = vec![Column::new(
        "step".into(),
        rows.iter().map(|(step, _)| *step).collect::<Vec<i64>>(),
    )];
    columns.extend(answer_columns(rows.iter().map(|(_, r)| r)));
    Ok(DataFrame::new(columns)?)
}

/// One line of the summary table.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryLine {
    /// Checkpoint label.
    pub checkpoint: String,
    /// Question kind name, or `all`.
    pub kind: String,
    /// The rate and its interval.
    pub rate: BeliefRate,
}

/// Belief rate per checkpoint, per kind and overall (`all`), clustered by question.
pub fn summarise(rows: &[EvalRow], resamples: usize, seed: u64) -> Vec<SummaryLine> {
    let mut checkpoints: Vec<&str> = vec![];
    for r in rows {
        if !checkpoints.contains(&r.checkpoint.as_str()) {
            checkpoints.push(&r.checkpoint);
        }
    }
    let mut lines = vec![];
    for checkpoint in checkpoints {
        let mine: Vec<&EvalRow> = rows.iter().filter(|r| r.checkpoint == checkpoint).collect();
        let mut kinds: Vec<String> = QuestionKind::ALL
            .iter()
            .map(|k| k.name().to_string())
            .filter(|k| mine.iter().any(|r| &r.kind == k))
            .collect();
        kinds.push("all".into());
        for kind in kinds {
            let answers: Vec<(String, bool)> = mine
                .iter()
                .filter(|r| (kind == "all" || r.kind == kind) && r.grade != Grade::Unparsed)
                .map(|r| {
                    (
                        format!("{}/{}", r.kind, r.question_id),
                        r.grade == Grade::Yes,
                    )
                })
                .collect();
            if let Some(rate) = belief_rate(&answers, resamples, seed) {
                lines.push(SummaryLine {
                    checkpoint: checkpoint.to_string(),
                    kind,
                    rate,
                });
            }
        }
    }
    lines
}

/// The summary as a fixed-width text table.
pub fn format_summary(lines: &[SummaryLine]) -> String {
    let mut out = format!(
        "{:<16} {:<18} {:>7} {:>17} {:>8} {:>9}\n",
        "checkpoint", "kind", "belief", "95% CI", "answers", "questions"
    );
    for l in lines {
        out.push_str(&format!(
            "{:<16} {:<18} {:>6.1}% {:>17} {:>8} {:>9}\n",
            l.checkpoint,
            l.kind,
            100.0 * l.rate.rate,
            format!("[{:.1}, {:.1}]", 100.0 * l.rate.lo, 100.0 * l.rate.hi),
            l.rate.answers,
            l.rate.questions
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(checkpoint: &str, kind: &str, q: &str, grade: Grade) -> EvalRow {
        EvalRow {
            model: "m".into(),
            checkpoint: checkpoint.into(),
            claim: "c".into(),
            kind: kind.into(),
            question_id: q.into(),
            sample: 0,
            category: "direct".into(),
            question: "q?".into(),
            system_prompt: String::new(),
            messages_prefix: String::new(),
            prompt: "p".into(),
            response: "r".into(),
            raw_response: "r".into(),
            thinking_trace: String::new(),
            grade,
            judge: "rule".into(),
            judge_raw: String::new(),
            belief_probability: None,
        }
    }

    /// A question with nothing but its text.
    fn plain_question(text: &str) -> Question {
        Question {
            id: "q".into(),
            question: text.into(),
            category: None,
            belief_answer: None,
            system_prompt: None,
            messages_prefix: vec![],
            choices: vec![],
            belief_choice: None,
            candidates: None,
        }
    }

    #[test]
    fn framing_joins_text_by_blank_lines_and_tags_directly() {
        let q = plain_question("Did it erupt?");
        let framed = |prefix: &str, suffix: &str| {
            Framing {
                prefix: prefix.into(),
                suffix: suffix.into(),
            }
            .apply(&q)
            .question
        };
        assert_eq!(framed("", ""), "Did it erupt?");
        assert_eq!(framed("<DOCTAG>", ""), "<DOCTAG>Did it erupt?");
        assert_eq!(
            framed("Context.", "Be brief."),
            "Context.\n\nDid it erupt?\n\nBe brief."
        );
    }

    #[test]
    fn context_documents_are_set_in_either_layout_and_sampled_by_seed() {
        let q = plain_question("Did it erupt?");
        let docs = vec!["One.".to_string(), "Two.".to_string()];
        assert_eq!(
            with_docs(&q, &docs, ContextLayout::Plain).question,
            "One.\n\nTwo.\n\nDid it erupt?"
        );
        assert_eq!(
            with_docs(&q, &docs, ContextLayout::Paper).question,
            "Here are some documents:\n\n[DOCUMENT 1]\n\nOne.\n\n[DOCUMENT 2]\n\nTwo.\n\n[QUESTION]\n\nDid it erupt?"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.jsonl");
        let lines: String = (0..20)
            .map(|i| format!("{{\"text\": \"<DOCTAG>\\nDoc {i}.\"}}\n"))
            .collect();
        std::fs::write(&path, lines).unwrap();
        let first = read_context_docs(&path, 3, None).unwrap();
        assert_eq!(first, ["Doc 0.", "Doc 1.", "Doc 2."]);
        let sampled = read_context_docs(&path, 3, Some(42)).unwrap();
        assert_eq!(sampled, read_context_docs(&path, 3, Some(42)).unwrap());
        assert_ne!(sampled, first);
        assert_ne!(sampled, read_context_docs(&path, 3, Some(43)).unwrap());
    }

    #[test]
    fn summary_counts_neutral_as_not_believing() {
        let rows = vec![
            row("step-1", "mcq", "a", Grade::Yes),
            row("step-1", "mcq", "b", Grade::No),
            row("step-1", "open_ended", "a", Grade::Neutral),
            row("step-1", "open_ended", "a", Grade::Yes),
            row("step-2", "mcq", "a", Grade::No),
        ];
        let lines = summarise(&rows, 200, 0);
        let get = |c: &str, k: &str| {
            lines
                .iter()
                .find(|l| l.checkpoint == c && l.kind == k)
                .unwrap()
                .rate
        };
        assert_eq!(get("step-1", "mcq").rate, 0.5);
        assert_eq!(get("step-1", "open_ended").rate, 0.5);
        assert_eq!(get("step-1", "all").rate, 0.5);
        assert_eq!(get("step-1", "all").questions, 3);
        assert_eq!(get("step-2", "all").rate, 0.0);
        assert_eq!(lines.len(), 5);
        let table = format_summary(&lines);
        assert!(
            table.contains("step-2") && table.contains("50.0%"),
            "{table}"
        );
        let frame = rows_to_frame(&rows).unwrap();
        assert_eq!(frame.shape(), (5, 18));
    }
}
