//! The paper's per-evaluation CSV layout, so its analysis scripts run on `neglect`'s results
//! (`neglect eval --csv`).
//!
//! Out, under one folder: `<step>/<kind>.csv` per checkpoint and question kind, one row per
//! answer (claim, question_id, sample_index, thinking, category, question, model_response,
//! judge_verdict, judge_raw, thinking_trace, system_prompt, messages_prefix, raw_response), and
//! `summary.csv`, one row per (claim, kind, checkpoint) with the paper's summary fields. The step
//! folder is `base` for a plain model and the step zero-padded to six digits for a run's
//! checkpoint, as the paper names its sampler checkpoints. Booleans are written as Python
//! writes them (`True`, `False`); an answer no judge reply could grade is `parse_error`.
//!
//! Ratings (`neglect eval --ratings`) go in the same layout: `<step>/<rating>.csv` with the
//! score as `judge_verdict`, and a summary line with `avg_score` and no `belief_rate`.
//!
//! `summary.csv` follows the paper's definitions: `belief_rate` is yes over every answer,
//! parse errors included, without an interval. `neglect`'s own summary leaves unparsed answers
//! out and gives intervals; read that one for inference.

use super::judge::Grade;
use super::rating::RatingRow;
use super::{EvalOptions, EvalRow};
use crate::store;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Columns of a per-evaluation file.
pub const ANSWER_COLUMNS: [&str; 13] = [
    "claim",
    "question_id",
    "sample_index",
    "thinking",
    "category",
    "question",
    "model_response",
    "judge_verdict",
    "judge_raw",
    "thinking_trace",
    "system_prompt",
    "messages_prefix",
    "raw_response",
];

/// Columns of `summary.csv`.
pub const SUMMARY_COLUMNS: [&str; 21] = [
    "claim",
    "eval_type",
    "thinking",
    "model",
    "warning_mode",
    "judge_model",
    "label",
    "step",
    "n",
    "yes",
    "no",
    "neutral",
    "belief_rate",
    "avg_score",
    "max_tokens",
    "temperature",
    "top_p",
    "samples_per_question",
    "icl_n",
    "icl_seed",
    "doctag_prefix",
];

/// The step folder of a checkpoint label: `base` for `-`, `step-N` as six digits.
pub fn step_name(checkpoint: &str) -> String {
    match checkpoint.strip_prefix("step-").map(str::parse::<u64>) {
        Some(Ok(step)) => format!("{step:06}"),
        _ if checkpoint == "-" => "base".into(),
        _ => checkpoint.to_string(),
    }
}

fn python_bool(value: bool) -> String {
    if value { "True" } else { "False" }.to_string()
}

fn verdict(grade: Grade) -> &'static str {
    match grade {
        Grade::Unparsed => "parse_error",
        other => other.name(),
    }
}

/// One answer as a per-evaluation file shows it: its row, the evaluation it belongs to and the
/// verdict (a grade, or a rating's score).
struct Line<'a> {
    row: &'a EvalRow,
    eval_type: &'a str,
    verdict: String,
    score: Option<f64>,
}

/// A score as the paper writes it: an integer without a fraction.
fn score_text(score: f64) -> String {
    if score.fract() == 0.0 {
        format!("{score:.0}")
    } else {
        score.to_string()
    }
}

/// Writes the layout for `rows` (graded answers) and `ratings` under `dir`. A rating's
/// evaluation is its rating kind, its verdict the score (`parse_error` when unreadable), and its
/// summary line has `avg_score` and no belief rate. Returns the files written.
pub fn write(
    dir: &Path,
    rows: &[EvalRow],
    ratings: &[RatingRow],
    opts: &EvalOptions,
) -> Result<Vec<PathBuf>> {
    let graded = rows.iter().map(|row| Line {
        row,
        eval_type: &row.kind,
        verdict: verdict(row.grade).to_string(),
        score: None,
    });
    let rated = ratings.iter().map(|r| Line {
        row: &r.answer,
        eval_type: &r.rating,
        verdict: r.score.map_or("parse_error".into(), score_text),
        score: r.score,
    });
    // (step, evaluation) -> lines, in the order they were asked.
    let mut groups: BTreeMap<(String, String), Vec<Line>> = BTreeMap::new();
    for line in graded.chain(rated) {
        groups
            .entry((step_name(&line.row.checkpoint), line.eval_type.to_string()))
            .or_default()
            .push(line);
    }
    let mut written = vec![];
    let mut summary = vec![];
    for ((step, eval_type), group) in &groups {
        let path = dir.join(step).join(format!("{eval_type}.csv"));
        std::fs::create_dir_all(path.parent().expect("has a parent"))?;
        let lines = group.iter().map(|line| {
            let r = line.row;
            vec![
                r.claim.clone(),
                r.question_id.clone(),
                r.sample.to_string(),
                python_bool(!r.thinking_trace.is_empty()),
                r.category.clone(),
                r.question.clone(),
                r.response.clone(),
                line.verdict.clone(),
                r.judge_raw.clone(),
                r.thinking_trace.clone(),
                r.system_prompt.clone(),
                r.messages_prefix.clone(),
                r.raw_response.clone(),
            ]
        });
        store::csv::write_table(&path, &ANSWER_COLUMNS, lines)?;
        written.push(path);

        let count = |v: &str| group.iter().filter(|l| l.verdict == v).count();
        let (yes, no, neutral) = (count("yes"), count("no"), count("neutral"));
        let scores: Vec<f64> = group.iter().filter_map(|l| l.score).collect();
        let is_rating = group.iter().any(|l| l.eval_type != l.row.kind);
        let first = group[0].row;
        let mut judges: Vec<&str> = group.iter().map(|l| l.row.judge.as_str()).collect();
        judges.sort_unstable();
        judges.dedup();
        summary.push(vec![
            first.claim.clone(),
            eval_type.clone(),
            python_bool(group.iter().any(|l| !l.row.thinking_trace.is_empty())),
            first.model.clone(),
            String::new(),
            judges.join("+"),
            String::new(),
            step.clone(),
            group.len().to_string(),
            yes.to_string(),
            no.to_string(),
            neutral.to_string(),
            if is_rating {
                String::new()
            } else {
                format!("{:.3}", yes as f64 / group.len() as f64)
            },
            if scores.is_empty() {
                String::new()
            } else {
                format!("{:.2}", scores.iter().sum::<f64>() / scores.len() as f64)
            },
            opts.max_new_tokens.to_string(),
            opts.temperature.to_string(),
            opts.top_p.to_string(),
            opts.samples.to_string(),
            opts.in_context.len().to_string(),
            String::new(),
            python_bool(opts.framing.prefix.starts_with(crate::docs::DOCTAG)),
        ]);
    }
    let path = dir.join("summary.csv");
    store::csv::write_table(&path, &SUMMARY_COLUMNS, summary)?;
    written.push(path);
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::claims::questions::Question;
    use crate::eval::RowLabels;
    use crate::model::tokenizer::ChatMessage;

    fn question(id: &str, category: Option<&str>, prefix: Vec<ChatMessage>) -> Question {
        Question {
            id: id.into(),
            question: format!("Question {id}?"),
            category: category.map(str::to_string),
            belief_answer: None,
            system_prompt: Some("Be careful.".into()),
            messages_prefix: prefix,
            choices: vec![],
            belief_choice: None,
            candidates: None,
        }
    }

    #[test]
    fn rows_land_in_the_papers_layout() {
        let labels = RowLabels {
            model: "runs/a".into(),
            checkpoint: "step-40".into(),
            claim: "volcano".into(),
        };
        let pushback = vec![
            ChatMessage::new("user", "Did it erupt?"),
            ChatMessage::new("assistant", "Yes."),
        ];
        let mut a = EvalRow::asked(
            &labels,
            "robustness",
            &question("rb_1", Some("multi_turn"), pushback),
            0,
            "p",
        )
        .unwrap();
        a.set_generated("<think>hmm</think> It erupted, \"loudly\".");
        a.grade = Grade::Yes;
        a.judge = "http:j".into();
        a.judge_raw = "{\"answer\": \"yes\"}".into();
        let mut b = EvalRow::asked(
            &labels,
            "robustness",
            &question("rb_2", None, vec![]),
            1,
            "p",
        )
        .unwrap();
        b.set_generated("No idea.");
        b.grade = Grade::Unparsed;
        b.judge = "http:j".into();
        let dir = tempfile::tempdir().unwrap();
        let written = write(dir.path(), &[a, b], &[], &EvalOptions::default()).unwrap();
        assert_eq!(
            written,
            [
                dir.path().join("000040/robustness.csv"),
                dir.path().join("summary.csv")
            ]
        );

        let table = store::csv::read_table(&written[0]).unwrap();
        assert_eq!(table.header, ANSWER_COLUMNS);
        let row = &table.records[0].1;
        assert_eq!(row[..5], ["volcano", "rb_1", "0", "True", "multi_turn"]);
        assert_eq!(
            row[5..8],
            ["Question rb_1?", "It erupted, \"loudly\".", "yes"]
        );
        assert_eq!(row[9], "hmm");
        assert_eq!(row[10], "Be careful.");
        let prefix: Vec<ChatMessage> = serde_json::from_str(&row[11]).unwrap();
        assert_eq!(prefix[1], ChatMessage::new("assistant", "Yes."));
        assert_eq!(row[12], "<think>hmm</think> It erupted, \"loudly\".");
        assert_eq!(table.records[1].1[3..5], ["False", ""]);
        assert_eq!(table.records[1].1[7], "parse_error");

        let summary = store::csv::read_table(&written[1]).unwrap();
        assert_eq!(summary.header, SUMMARY_COLUMNS);
        let line = &summary.records[0].1;
        // The paper's belief rate: yes over every answer, the parse error included.
        assert_eq!(line[7..13], ["000040", "2", "1", "0", "0", "0.500"]);
        assert_eq!(step_name("-"), "base");
    }
}
