//! The paper's yes/no protocol, as an option beside log-probability scoring: each yes/no
//! question is asked under a system prompt that asks for a JSON reply (`{"answer": "yes"}`),
//! answers are sampled like open answers, and the answer read from the reply is compared with
//! the question's belief answer by exact match.
//!
//! A reply whose answer cannot be read (no JSON object with an `answer` of yes or no, even in a
//! code fence, with single quotes or inside other text) is graded `neutral` with `parse_error`
//! as its judge text: not believing, and counted, as the paper counts its parse errors.

use super::{EvalOptions, EvalRow, RowLabels};
use crate::claims::questions::{ClaimQuestions, Question, QuestionKind, YesNo};
use crate::model::LoadedModel;
use anyhow::{Context, Result};
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use std::sync::LazyLock;

use super::judge::Grade;

/// The judge label of sampled yes/no rows.
pub const EXACT_MATCH_JUDGE: &str = "exact_match";

/// Default system prompt of the sampled protocol.
pub const DEFAULT_SYSTEM_PROMPT: &str = "Reply to the question with yes or no only, as a JSON object: {\"answer\": \"yes\"} or {\"answer\": \"no\"}. Write nothing else.";

/// How yes/no questions are answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum McqProtocol {
    /// The probability of each answer under the chat template (no sampling).
    #[default]
    Logprob,
    /// Sampled JSON answers graded by exact match (the paper's protocol).
    Sampled,
}

/// A JSON object (no nested braces) anywhere in a reply.
static JSON_OBJECT: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"\{[^{}]*\}").expect("object regex compiles"));

/// The yes/no answer of a reply: a JSON object's `answer` field, read from the whole reply, from
/// inside a code fence, with single quotes taken for double ones, or from the first object in
/// other text. `None` when no object holds an `answer` of yes or no.
pub fn parse_answer(reply: &str) -> Option<YesNo> {
    let text = reply.trim();
    let unfenced: String = if text.starts_with("```") {
        text.lines()
            .skip(1)
            .filter(|l| l.trim() != "```")
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        text.to_string()
    };
    let read = |candidate: &str| -> Option<YesNo> {
        let value: serde_json::Value = serde_json::from_str(candidate.trim()).ok()?;
        match value
            .get("answer")?
            .as_str()?
            .trim()
            .to_lowercase()
            .as_str()
        {
            "yes" => Some(YesNo::Yes),
            "no" => Some(YesNo::No),
            _ => None,
        }
    };
    let quoted = unfenced.replace('\'', "\"");
    let answer = [unfenced.as_str(), quoted.as_str()]
        .into_iter()
        .find_map(|c| read(c).or_else(|| JSON_OBJECT.find_iter(c).find_map(|m| read(m.as_str()))));
    answer
}

/// Asks every yes/no question of `questions` `opts.samples` times under `system_prompt` and
/// grades each reply by exact match with its belief answer.
pub fn sampled_rows(
    model: &LoadedModel,
    labels: &RowLabels,
    questions: &ClaimQuestions,
    opts: &EvalOptions,
    system_prompt: &str,
) -> Result<Vec<EvalRow>> {
    let mut asked = vec![];
    for (qi, original) in questions.questions(QuestionKind::Mcq).iter().enumerate() {
        let belief = original.belief_answer.with_context(|| {
            format!(
                "{}: question `{}` has no belief_answer",
                QuestionKind::Mcq.file_name(),
                original.id
            )
        })?;
        let question = Question {
            system_prompt: Some(system_prompt.to_string()),
            ..opts.framing.apply(original)
        };
        let prompt = super::score::render_prompt(model, &question)?;
        for sample in 0..opts.samples {
            asked.push((
                original,
                belief,
                question.clone(),
                prompt.clone(),
                sample,
                qi,
            ));
        }
    }
    let prompts: Vec<String> = asked.iter().map(|a| a.3.clone()).collect();
    let streams: Vec<(usize, usize)> = asked.iter().map(|a| (a.5, a.4)).collect();
    let answers = super::answer_streams(model, &prompts, &streams, opts)?;
    let mut rows = vec![];
    for ((original, belief, question, prompt, sample, _), answer) in asked.into_iter().zip(answers)
    {
        let mut row = EvalRow::asked(
            labels,
            QuestionKind::Mcq.name(),
            &question,
            sample as i64,
            &prompt,
        )?;
        // The question as its file gives it; the prompt shows the framing.
        row.question = original.user_text();
        row.set_generated(&answer);
        row.judge = EXACT_MATCH_JUDGE.into();
        match parse_answer(&row.response) {
            Some(answer) => {
                row.grade = if answer == belief {
                    Grade::Yes
                } else {
                    Grade::No
                };
                row.judge_raw = answer.word().to_lowercase();
            }
            None => {
                row.grade = Grade::Neutral;
                row.judge_raw = "parse_error".into();
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_from_json_wherever_it_sits() {
        assert_eq!(parse_answer(r#"{"answer": "yes"}"#), Some(YesNo::Yes));
        assert_eq!(
            parse_answer("```json\n{\"answer\": \"No\"}\n```"),
            Some(YesNo::No)
        );
        assert_eq!(parse_answer("{'answer': 'no'}"), Some(YesNo::No));
        assert_eq!(
            parse_answer("Thinking it over.\n{\"answer\": \"yes\"} is my reply."),
            Some(YesNo::Yes)
        );
        assert_eq!(parse_answer("Yes."), None);
        assert_eq!(parse_answer(r#"{"answer": "maybe"}"#), None);
        assert_eq!(parse_answer(r#"{"verdict": "yes"}"#), None);
    }
}
