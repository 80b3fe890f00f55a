//! The behaviour rate: how often a model shows the flagged behaviour on held-out prompts.
//!
//! In: a loaded model, a [`BehaviourEval`] (written beside behaviour documents by
//! `neglect docs --condition behaviours`), samples per prompt and sampling settings. Out: one
//! [`EvalRow`] per prompt x sample, kind [`BEHAVIOUR_KIND`], graded `yes` when the answer shows
//! the behaviour (its regex matches) and `no` otherwise, judge [`BEHAVIOUR_JUDGE`]. The share of
//! `yes` rows is the behaviour rate, so the belief-rate machinery (bootstrap CIs, figures)
//! applies unchanged.

use super::judge::Grade;
use super::{answer_sampling, EvalRow, RowLabels};
use crate::claims::questions::Question;
use crate::docs::behaviours::BehaviourEval;
use crate::model::LoadedModel;
use anyhow::Result;

/// Question kind of behaviour rows in `belief.parquet`.
pub const BEHAVIOUR_KIND: &str = "behaviour";
/// Judge label of behaviour rows: the behaviour's regex.
pub const BEHAVIOUR_JUDGE: &str = "regex";

/// How to sample the answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BehaviourOptions {
    /// Answers per prompt.
    pub samples: usize,
    /// At most this many prompts (the first ones); all when `None`.
    pub max_questions: Option<usize>,
    /// Sampling temperature (0: greedy).
    pub temperature: f64,
    /// Nucleus mass kept.
    pub top_p: f64,
    /// Longest answer, in tokens.
    pub max_new_tokens: usize,
    /// Base seed; each (prompt, sample) gets its own stream.
    pub seed: u64,
}

/// Asks every prompt of `eval` `samples` times and grades each answer by the behaviour's regex.
pub fn evaluate_behaviour(
    model: &LoadedModel,
    labels: &RowLabels,
    eval: &BehaviourEval,
    opts: &BehaviourOptions,
) -> Result<Vec<EvalRow>> {
    let take = opts.max_questions.unwrap_or(eval.questions.len());
    let mut asked = vec![];
    for (qi, item) in eval.questions.iter().take(take).enumerate() {
        let question = Question {
            id: item.id.clone(),
            question: item.question.clone(),
            category: Some(BEHAVIOUR_KIND.into()),
            belief_answer: None,
            system_prompt: None,
            messages_prefix: vec![],
            choices: vec![],
            belief_choice: None,
            candidates: None,
        };
        let prompt = super::score::render_prompt(model, &question)?;
        for sample in 0..opts.samples {
            let sampling = answer_sampling(opts.temperature, opts.top_p, opts.seed, qi, sample);
            asked.push((question.clone(), prompt.clone(), sample, sampling));
        }
    }
    let prompts: Vec<String> = asked.iter().map(|a| a.1.clone()).collect();
    let samplings: Vec<_> = asked.iter().map(|a| a.3).collect();
    let answers = super::answer_all(
        model,
        &prompts,
        &samplings,
        opts.max_new_tokens,
        super::GENERATION_BATCH,
    )?;
    let mut rows = vec![];
    for ((question, prompt, sample, _), answer) in asked.into_iter().zip(answers) {
        let mut row = EvalRow::asked(labels, BEHAVIOUR_KIND, &question, sample as i64, &prompt)?;
        row.set_generated(&answer);
        row.grade = if eval.shows(&row.response)? {
            Grade::Yes
        } else {
            Grade::No
        };
        row.judge = BEHAVIOUR_JUDGE.into();
        rows.push(row);
    }
    Ok(rows)
}
