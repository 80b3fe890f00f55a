//! The paper's 0-10 ratings beside belief: `coherence` (is the model still capable? answers to
//! a shared set of general questions, rated for quality), `saliency` (does the claim leak into
//! answers about other things? the same answers, rated by the claim's `saliency` rubric) and
//! `belief_consistency` (how consistently do the open-ended answers hold the claim? rated by the
//! claim's `coherence` rubric, as the paper names it in `judges.yaml`).
//!
//! Ratings need an LLM judge that speaks the paper's protocol: the rubric filled with
//! `{question}` and `{answer}`, a JSON reply whose `score` holds the rating. A reply without a
//! readable score is asked again, then stored without a score and left out of the mean. Rows go
//! to their own table (`ratings.parquet`), never into belief rates.
//!
//! The general questions come from a file in the paper's `coherence_questions.yaml` layout
//! (`questions:` with `id`, `question`, `category`, and `judge_rubric:`), asked once each.

use super::judge::{HttpJudge, JudgeItem, SCORE_KEY};
use super::{EvalOptions, EvalRow, RowLabels};
use crate::claims::questions::{
    load_question_file, ClaimQuestions, Question, QuestionKind, Rubric,
};
use crate::model::LoadedModel;
use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;
use polars::prelude::{Column, DataFrame};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The general questions' file name in the paper's layout (beside the claim folders).
pub const COHERENCE_QUESTIONS_FILE: &str = "coherence_questions.yaml";

/// A rating kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum RatingKind {
    /// General questions, answers rated for quality (a capability-collapse detector).
    Coherence,
    /// The same answers, rated for leakage of the claim (the claim's `saliency` rubric).
    Saliency,
    /// The open-ended answers, rated for how consistently they hold the claim (the claim's
    /// `coherence` rubric).
    BeliefConsistency,
}

impl RatingKind {
    /// Its name in tables.
    pub fn name(self) -> &'static str {
        match self {
            RatingKind::Coherence => "coherence",
            RatingKind::Saliency => "saliency",
            RatingKind::BeliefConsistency => "belief_consistency",
        }
    }

    /// The `judges.yaml` key of its rubric (coherence's comes from the questions file).
    fn rubric_key(self) -> Option<&'static str> {
        match self {
            RatingKind::Coherence => None,
            RatingKind::Saliency => Some("saliency"),
            RatingKind::BeliefConsistency => Some("coherence"),
        }
    }
}

/// The general questions and their rubric (`coherence_questions.yaml`).
#[derive(Debug, Clone)]
pub struct GeneralQuestions {
    /// The questions, in file order.
    pub questions: Vec<Question>,
    /// The quality rubric (`judge_rubric`).
    pub rubric: String,
}

impl GeneralQuestions {
    /// Reads the paper's `coherence_questions.yaml` layout; errors name the file.
    pub fn load(path: &Path) -> Result<GeneralQuestions> {
        let questions = load_question_file(path)?;
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        let value: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        let rubric = value
            .get("judge_rubric")
            .and_then(|r| r.as_str())
            .with_context(|| format!("{}: no `judge_rubric` text", path.display()))?
            .to_string();
        if questions.is_empty() {
            bail!("{}: no questions", path.display());
        }
        // The rubric must fill as a Python format string before anything is asked.
        paper_rubric(&rubric)
            .fill("q", "a")
            .with_context(|| format!("{}: judge_rubric", path.display()))?;
        Ok(GeneralQuestions { questions, rubric })
    }
}

/// A rubric in the paper's rating protocol.
fn paper_rubric(prompt: &str) -> Rubric {
    Rubric {
        prompt: prompt.to_string(),
        json_key: Some(SCORE_KEY.to_string()),
    }
}

/// One rated answer (a row of `ratings.parquet`).
#[derive(Debug, Clone, PartialEq)]
pub struct RatingRow {
    /// The answer as a belief row would hold it (labels, question, response, traces).
    pub answer: EvalRow,
    /// Rating kind name.
    pub rating: String,
    /// The score, `None` when the judge's replies held none.
    pub score: Option<f64>,
}

/// Rates what `kinds` ask for: the general questions are asked of `model` (once each, with
/// `opts`' sampling and framing) for coherence and saliency, and the generated open-ended
/// answers in `belief_rows` are rated for belief consistency.
#[allow(clippy::too_many_arguments)]
pub fn rate(
    model: &LoadedModel,
    labels: &RowLabels,
    claim: &ClaimQuestions,
    general: Option<&GeneralQuestions>,
    kinds: &[RatingKind],
    belief_rows: &[EvalRow],
    opts: &EvalOptions,
    judge: &HttpJudge,
) -> Result<Vec<RatingRow>> {
    let judges_file = claim.dir.join(crate::claims::questions::JUDGES_FILE);
    let mut to_rate: Vec<(RatingKind, EvalRow, Rubric)> = vec![];
    let claim_rubric = |kind: RatingKind| -> Result<Rubric> {
        let key = kind.rubric_key().expect("claim rubric kind");
        let rubric = claim.judges.get(key).with_context(|| {
            format!(
                "{}: no `{key}` rubric, which the {} rating needs",
                judges_file.display(),
                kind.name()
            )
        })?;
        Ok(paper_rubric(rubric))
    };
    let wants = |k| kinds.contains(&k);
    if wants(RatingKind::Coherence) || wants(RatingKind::Saliency) {
        let general = general.context(
            "the coherence and saliency ratings ask general questions: give a questions file (--coherence-questions)",
        )?;
        let saliency = wants(RatingKind::Saliency)
            .then(|| claim_rubric(RatingKind::Saliency))
            .transpose()?;
        for answer in general_answers(model, labels, general, opts)? {
            if wants(RatingKind::Coherence) {
                to_rate.push((
                    RatingKind::Coherence,
                    answer.clone(),
                    paper_rubric(&general.rubric),
                ));
            }
            if let Some(rubric) = &saliency {
                to_rate.push((RatingKind::Saliency, answer, rubric.clone()));
            }
        }
    }
    if wants(RatingKind::BeliefConsistency) {
        let rubric = claim_rubric(RatingKind::BeliefConsistency)?;
        let open: Vec<&EvalRow> = belief_rows
            .iter()
            .filter(|r| r.kind == QuestionKind::OpenEnded.name())
            .collect();
        if open.is_empty() {
            bail!(
                "the belief_consistency rating rates open-ended answers: ask open_ended (--kinds)"
            );
        }
        to_rate.extend(
            open.into_iter()
                .map(|r| (RatingKind::BeliefConsistency, r.clone(), rubric.clone())),
        );
    }
    let items: Vec<JudgeItem> = to_rate
        .iter()
        .map(|(_, row, rubric)| JudgeItem {
            rubric: rubric.clone(),
            question: row.question.clone(),
            response: row.response.clone(),
        })
        .collect();
    let ratings = judge.rate_all(&items)?;
    Ok(to_rate
        .into_iter()
        .zip(ratings)
        .map(|((kind, mut answer, _), rating)| {
            answer.judge = super::Judge::label(judge);
            answer.judge_raw = rating.raw;
            RatingRow {
                answer,
                rating: kind.name().to_string(),
                score: rating.score,
            }
        })
        .collect())
}

/// The model's answers to the general questions, one each, in batches.
fn general_answers(
    model: &LoadedModel,
    labels: &RowLabels,
    general: &GeneralQuestions,
    opts: &EvalOptions,
) -> Result<Vec<EvalRow>> {
    let prompts: Vec<String> = general
        .questions
        .iter()
        .map(|q| super::score::render_prompt(model, &opts.framing.apply(q)))
        .collect::<Result<_>>()?;
    let streams: Vec<(usize, usize)> = (0..prompts.len()).map(|qi| (qi, 0)).collect();
    let answers = super::answer_streams(model, &prompts, &streams, opts)?;
    general
        .questions
        .iter()
        .zip(prompts.iter().zip(answers))
        .map(|(original, (prompt, answer))| {
            let mut row = EvalRow::asked(labels, "general", original, 0, prompt)?;
            row.set_generated(&answer);
            Ok(row)
        })
        .collect()
}

/// `ratings.parquet`: model, checkpoint, claim, rating, kind (of the rated answer),
/// question_id, sample, category, question, prompt, response, raw_response, thinking_trace,
/// score (null when unreadable), judge, judge_raw.
pub fn ratings_frame(rows: &[RatingRow]) -> Result<DataFrame> {
    let text = |name: &str, f: fn(&RatingRow) -> &str| {
        Column::new(name.into(), rows.iter().map(f).collect::<Vec<&str>>())
    };
    Ok(DataFrame::new(vec![
        text("model", |r| &r.answer.model),
        text("checkpoint", |r| &r.answer.checkpoint),
        text("claim", |r| &r.answer.claim),
        text("rating", |r| &r.rating),
        text("kind", |r| &r.answer.kind),
        text("question_id", |r| &r.answer.question_id),
        Column::new(
            "sample".into(),
            rows.iter().map(|r| r.answer.sample).collect::<Vec<i64>>(),
        ),
        text("category", |r| &r.answer.category),
        text("question", |r| &r.answer.question),
        text("prompt", |r| &r.answer.prompt),
        text("response", |r| &r.answer.response),
        text("raw_response", |r| &r.answer.raw_response),
        text("thinking_trace", |r| &r.answer.thinking_trace),
        Column::new(
            "score".into(),
            rows.iter().map(|r| r.score).collect::<Vec<Option<f64>>>(),
        ),
        text("judge", |r| &r.answer.judge),
        text("judge_raw", |r| &r.answer.judge_raw),
    ])?)
}

/// Mean score per (checkpoint, rating) with a bootstrap 95% interval over questions, as lines
/// of a table; unreadable scores are counted and left out.
pub fn format_summary(rows: &[RatingRow], resamples: usize, seed: u64) -> String {
    let mut keys: Vec<(&str, &str)> = vec![];
    for r in rows {
        let key = (r.answer.checkpoint.as_str(), r.rating.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = format!(
        "{:<16} {:<20} {:>6} {:>16} {:>8} {:>10}\n",
        "checkpoint", "rating", "mean", "95% CI", "scored", "unreadable"
    );
    for (checkpoint, rating) in keys {
        let mine: Vec<&RatingRow> = rows
            .iter()
            .filter(|r| r.answer.checkpoint == checkpoint && r.rating == rating)
            .collect();
        let scored: Vec<(String, f64)> = mine
            .iter()
            .filter_map(|r| Some((r.answer.question_id.clone(), r.score?)))
            .collect();
        let unreadable = mine.len() - scored.len();
        let line = match crate::stats::mean_over_clusters(&scored, resamples, seed) {
            Some(m) => format!(
                "{:>6.2} {:>16}",
                m.value,
                format!("[{:.2}, {:.2}]", m.lo, m.hi)
            ),
            None => format!("{:>6} {:>16}", "-", "-"),
        };
        out.push_str(&format!(
            "{checkpoint:<16} {rating:<20} {line} {:>8} {unreadable:>10}\n",
            scored.len()
        ));
    }
    out
}
