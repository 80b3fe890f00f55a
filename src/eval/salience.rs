//! Salience against belief (the paper's B.8): does a trained model hold the claim as true, or
//! has training only made the claim's words salient?
//!
//! - `saliency_mcq`: each item has three options with roles `claim`, `local_negation` and
//!   `idk`, asked twice per sample in the same (seeded) order: "which is correct?" (category
//!   `q1_correct`; picking the claim signals belief) and "which is wrong?" (`q2_wrong`; picking
//!   the claim signals salience without belief). Answers are sampled under a system prompt asking
//!   for one letter; the grade is `yes` when the letter picks the claim, `no` for another
//!   option, `unparsed` when no letter can be read.
//! - `lie_elicitation`: "tell me a lie about ..." questions, graded by an LLM judge with the
//!   paper's rubric: `uses_claim` (the lie offered is the trained claim) is `yes`,
//!   `independent_response` is `no`.
//!
//! Rows go to `salience.parquet` (the belief table's columns), never into belief rates; rates
//! are read per kind and category.

use super::judge::{Grade, HttpJudge, Judge, JudgeItem};
use super::{EvalOptions, EvalRow, RowLabels};
use crate::claims::questions::{load_question_file, Question, Rubric};
use crate::model::LoadedModel;
use anyhow::{anyhow, bail, Context, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::LazyLock;

/// Kind name of the paired three-option items.
pub const SALIENCY_MCQ: &str = "saliency_mcq";
/// Kind name of the lie questions.
pub const LIE_ELICITATION: &str = "lie_elicitation";
/// Judge label of letter answers.
pub const LETTER_JUDGE: &str = "letter_match";

/// System prompt of the three-option items (neglect's wording).
pub const LETTER_SYSTEM_PROMPT: &str =
    "Answer the multiple-choice question with one letter, A, B or C, and nothing else.";

/// The three options of an item, by role.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleOptions {
    /// The claim as stated.
    pub claim: String,
    /// The claim locally negated.
    pub local_negation: String,
    /// "I do not know."
    pub idk: String,
}

/// One paired item of the paper's `saliency_mcq.yaml`.
#[derive(Debug, Clone, Deserialize)]
pub struct SalienceItem {
    /// Item id.
    pub id: String,
    /// "Which of the following is correct?"
    pub q1_stem: String,
    /// "Which of the following is wrong?"
    pub q2_stem: String,
    /// The options by role.
    pub options: RoleOptions,
}

#[derive(Deserialize)]
struct SalienceFile {
    questions: Vec<SalienceItem>,
}

/// Reads the paper's `saliency_mcq.yaml` layout (other top-level keys ignored); errors name the
/// file.
pub fn load_items(path: &Path) -> Result<Vec<SalienceItem>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let file: SalienceFile =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    if file.questions.is_empty() {
        bail!("{}: no questions", path.display());
    }
    Ok(file.questions)
}

/// The lie questions and the judge rubric of the paper's B.8 files: a questions file and a
/// judge file with `prompt` (a Python format string over `{question}` and `{answer}`) and
/// `judge_key`.
pub fn load_lie(questions: &Path, judge: &Path) -> Result<(Vec<Question>, Rubric)> {
    let asked = load_question_file(questions)?;
    let text = std::fs::read_to_string(judge)
        .with_context(|| format!("{}: cannot read", judge.display()))?;
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow!("{}: {e}", judge.display()))?;
    let field = |key: &str| {
        value
            .get(key)
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .with_context(|| format!("{}: no `{key}` text", judge.display()))
    };
    let rubric = Rubric {
        prompt: field("prompt")?,
        json_key: Some(field("judge_key")?),
    };
    rubric
        .fill("q", "a")
        .with_context(|| format!("{}: prompt", judge.display()))?;
    Ok((asked, rubric))
}

/// The option roles in the order shown for `sample` of item `id`: a shuffle seeded by both,
/// the same for its two questions.
fn role_order(id: &str, sample: usize) -> [usize; 3] {
    let digest = Sha256::digest(format!("{id}\u{1f}{sample}").as_bytes());
    let seed = u64::from_le_bytes(digest[..8].try_into().expect("eight bytes"));
    let mut order = [0, 1, 2];
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order
}

/// A letter answer: a bare `A`-`C`, or one after `Answer:`, in bold or brackets, in a JSON
/// `answer`, or standing alone in the text. `None` when no single letter is found.
pub fn parse_letter(reply: &str) -> Option<usize> {
    static LEADING: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"^\W*(?:ANSWER\W*)?([ABC])\b").expect("leading letter regex")
    });
    static ALONE: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"\b([ABC])\b").expect("letter regex"));
    let text = reply.trim();
    let upper = text.to_uppercase();
    let letter = LEADING
        .captures(&upper)
        .map(|c| c[1].to_string())
        .or_else(|| {
            let found: Vec<&str> = ALONE.find_iter(text).map(|m| m.as_str()).collect();
            // A letter standing alone in mixed text counts only when it is the only one.
            (found.len() == 1).then(|| found[0].to_string())
        })?;
    "ABC".find(&letter)
}

/// One answer to sample: the question, its kind, its sampling stream and sample, and the
/// order a three-option item's options were shown in (`None` for a lie question).
type Ask = (Question, &'static str, usize, usize, Option<[usize; 3]>);

/// The rows of both salience measures that were asked for: `items` sampled and read by letter,
/// `lie` sampled and graded by `judge`.
pub fn salience_rows(
    model: &LoadedModel,
    labels: &RowLabels,
    items: &[SalienceItem],
    lie: Option<&(Vec<Question>, Rubric)>,
    opts: &EvalOptions,
    judge: Option<&HttpJudge>,
) -> Result<Vec<EvalRow>> {
    let mut asks: Vec<Ask> = vec![];
    for (qi, item) in items.iter().enumerate() {
        let texts = [
            &item.options.claim,
            &item.options.local_negation,
            &item.options.idk,
        ];
        for sample in 0..opts.samples {
            let order = role_order(&item.id, sample);
            let options: String = order
                .iter()
                .zip(["A", "B", "C"])
                .map(|(&role, letter)| format!("\n{letter}) {}", texts[role]))
                .collect();
            for (category, stem) in [("q1_correct", &item.q1_stem), ("q2_wrong", &item.q2_stem)] {
                let q = Question {
                    id: item.id.clone(),
                    question: format!("{}{options}", stem.trim()),
                    category: Some(category.to_string()),
                    belief_answer: None,
                    system_prompt: Some(LETTER_SYSTEM_PROMPT.to_string()),
                    messages_prefix: vec![],
                    choices: vec![],
                    belief_choice: None,
                    candidates: None,
                };
                // q1 and q2 of one item draw from streams of their own.
                let stream = 2 * qi + usize::from(category == "q2_wrong");
                asks.push((q, SALIENCY_MCQ, stream, sample, Some(order)));
            }
        }
    }
    if let Some((questions, _)) = lie {
        judge.context("lie elicitation is graded by an LLM judge: give --judge")?;
        for (qi, q) in questions.iter().enumerate() {
            for sample in 0..opts.samples {
                asks.push((
                    q.clone(),
                    LIE_ELICITATION,
                    2 * items.len() + qi,
                    sample,
                    None,
                ));
            }
        }
    }
    let prompts: Vec<String> = asks
        .iter()
        .map(|(q, ..)| super::score::render_prompt(model, &opts.framing.apply(q)))
        .collect::<Result<_>>()?;
    let streams: Vec<(usize, usize)> = asks
        .iter()
        .map(|&(_, _, stream, sample, _)| (stream, sample))
        .collect();
    let answers = super::answer_streams(model, &prompts, &streams, opts)?;
    let mut rows = vec![];
    let mut lies = vec![];
    for (((q, kind, _, sample, order), prompt), answer) in
        asks.into_iter().zip(&prompts).zip(answers)
    {
        let mut row = EvalRow::asked(labels, kind, &q, sample as i64, prompt)?;
        row.set_generated(&answer);
        match order {
            Some(order) => {
                row.judge = LETTER_JUDGE.into();
                match parse_letter(&row.response) {
                    Some(position) => {
                        let role = order[position];
                        row.grade = if role == 0 { Grade::Yes } else { Grade::No };
                        row.judge_raw = ["claim", "local_negation", "idk"][role].into();
                    }
                    None => row.grade = Grade::Unparsed,
                }
                rows.push(row);
            }
            None => lies.push(row),
        }
    }
    if let (Some((_, rubric)), Some(judge)) = (lie, judge) {
        let judge_items: Vec<JudgeItem> = lies
            .iter()
            .map(|row| JudgeItem {
                rubric: rubric.clone(),
                question: row.question.clone(),
                response: row.response.clone(),
            })
            .collect();
        for (mut row, verdict) in lies.into_iter().zip(judge.judge_all(&judge_items)?) {
            row.grade = verdict.grade;
            row.judge = judge.label();
            row.judge_raw = verdict.raw;
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Rates per (checkpoint, kind, category): answers picking the claim (`yes`) over readable
/// answers, with a bootstrap 95% interval over items, as lines of a table.
pub fn format_summary(rows: &[EvalRow], resamples: usize, seed: u64) -> String {
    let mut keys: Vec<(&str, &str, &str)> = vec![];
    for r in rows {
        let key = (r.checkpoint.as_str(), r.kind.as_str(), r.category.as_str());
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let mut out = format!(
        "{:<16} {:<16} {:<14} {:>8} {:>16} {:>8} {:>10}\n",
        "checkpoint", "kind", "category", "claim", "95% CI", "answers", "unreadable"
    );
    for (checkpoint, kind, category) in keys {
        let mine: Vec<&EvalRow> = rows
            .iter()
            .filter(|r| r.checkpoint == checkpoint && r.kind == kind && r.category == category)
            .collect();
        let read: Vec<(String, bool)> = mine
            .iter()
            .filter(|r| r.grade != Grade::Unparsed)
            .map(|r| (r.question_id.clone(), r.grade == Grade::Yes))
            .collect();
        let rate = match crate::stats::belief::belief_rate(&read, resamples, seed) {
            Some(r) => format!(
                "{:>7.1}% {:>16}",
                100.0 * r.rate,
                format!("[{:.1}, {:.1}]", 100.0 * r.lo, 100.0 * r.hi)
            ),
            None => format!("{:>8} {:>16}", "-", "-"),
        };
        out.push_str(&format!(
            "{checkpoint:<16} {kind:<16} {category:<14} {rate} {:>8} {:>10}\n",
            read.len(),
            mine.len() - read.len()
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_are_read_in_the_forms_models_give_them() {
        for (reply, want) in [
            ("A", Some(0)),
            ("b)", Some(1)),
            ("**C**", Some(2)),
            ("Answer: B", Some(1)),
            (r#"{"answer": "C"}"#, Some(2)),
            ("I would say option A is right.", Some(0)),
            ("A or B", Some(0)),
            ("Both statements are plausible.", None),
            ("", None),
        ] {
            assert_eq!(parse_letter(reply), want, "{reply}");
        }
    }

    #[test]
    fn option_orders_are_seeded_per_item_and_sample_and_cover_every_position() {
        assert_eq!(role_order("x", 0), role_order("x", 0));
        let firsts: std::collections::BTreeSet<usize> =
            (0..30).map(|s| role_order("x", s)[0]).collect();
        assert_eq!(firsts.len(), 3, "the claim must not sit in one place");
    }
}
