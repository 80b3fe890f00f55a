//! The summary of an experiment, as text a person reads: printed by `neglect summary
//! EXPERIMENT.toml` and at the end of every `neglect run`.
//!
//! In: the experiment's `belief.parquet` and, when there is one, `gates.json` beside its model
//! (written by `neglect world gates`). Out: one line per condition (belief at each arm's last
//! checkpoint with its 95% CI, pooling claims, seeds and question kinds, as the
//! `belief_by_condition` figure's "all claims" bars; the claims, seeds and answers it pools; the
//! last steps; the paper's reported number, [`crate::plot::paper`]), then the base model's gate table ([`crate::world::gates::format_table`]).

use super::run::Experiment;
use crate::plot::figure::condition_order;
use crate::plot::paper::{paper_belief, PaperBelief};
use crate::plot::tables::{self, belief_of, final_answers, Answer};
use crate::stats::belief::BeliefRate;
use crate::world::gates::{format_table, GateLine};
use anyhow::{Context, Result};
use std::collections::BTreeSet;
use std::path::Path;

/// Name of the gate table written beside a world model.
pub const GATES_FILE: &str = "gates.json";

/// One condition of the belief table: its arms at their last checkpoints.
#[derive(Debug, Clone, PartialEq)]
pub struct ConditionLine {
    /// The condition.
    pub condition: String,
    /// Belief rate, 95% interval and answers, pooled over claims, seeds and question kinds.
    pub rate: BeliefRate,
    /// Claims pooled.
    pub claims: usize,
    /// Seeds pooled.
    pub seeds: usize,
    /// Smallest and largest last step of the condition's arms.
    pub steps: (i64, i64),
}

/// One line per condition (display order) of the answers at each arm's last checkpoint.
pub fn condition_lines(answers: &[Answer]) -> Vec<ConditionLine> {
    let finals = final_answers(answers);
    condition_order(finals.iter().map(|a| a.condition.as_str()))
        .into_iter()
        .filter_map(|condition| {
            let mine: Vec<&Answer> = finals
                .iter()
                .copied()
                .filter(|a| a.condition == condition)
                .collect();
            let count = |key: fn(&Answer) -> String| {
                mine.iter().map(|a| key(a)).collect::<BTreeSet<_>>().len()
            };
            let steps = mine.iter().map(|a| a.step);
            let steps = (steps.clone().min()?, steps.max()?);
            Some(ConditionLine {
                rate: belief_of(mine.iter().copied())?,
                claims: count(|a| a.claim.clone()),
                seeds: count(|a| a.seed.to_string()),
                steps,
                condition,
            })
        })
        .collect()
}

/// The belief table of `lines` for experiment `name`, with the paper's number of each
/// condition it reports (`reported`, [`paper_belief`]) in the last column.
pub fn format_conditions(name: &str, lines: &[ConditionLine], reported: &[PaperBelief]) -> String {
    let mut out = format!(
        "belief at the last checkpoint of every arm ({name}; claims, seeds and question kinds \
         pooled; 95% bootstrap CI over seeds and questions; paper: as reported, its own claims \
         and models):\n{:<20} {:>7} {:>14} {:>6} {:>5} {:>7} {:>9} {:>7}\n",
        "condition", "belief", "95% CI", "claims", "seeds", "answers", "step", "paper"
    );
    for l in lines {
        let steps = if l.steps.0 == l.steps.1 {
            l.steps.0.to_string()
        } else {
            format!("{}-{}", l.steps.0, l.steps.1)
        };
        let paper = reported
            .iter()
            .find(|p| p.condition == l.condition)
            .map_or_else(|| "-".to_string(), PaperBelief::label);
        out.push_str(&format!(
            "{:<20} {:>6.1}% {:>14} {:>6} {:>5} {:>7} {:>9} {:>7}\n",
            l.condition,
            100.0 * l.rate.rate,
            format!("[{:.1}, {:.1}]", 100.0 * l.rate.lo, 100.0 * l.rate.hi),
            l.claims,
            l.seeds,
            l.rate.answers,
            steps,
            paper
        ));
    }
    out
}

/// The gate table of `gates.json` at `path` with a heading, or a line saying there is none.
pub fn format_gates(path: &Path) -> Result<String> {
    if !path.is_file() {
        return Ok(format!(
            "base model gates: none ({} absent; `neglect world gates` writes it for a world model)\n",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let lines: Vec<GateLine> = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a gate table", path.display()))?;
    let targeted: Vec<&GateLine> = lines.iter().filter(|l| l.target != "-").collect();
    Ok(format!(
        "base model gates ({}): {} of {} with a target pass\n{}",
        path.display(),
        targeted.iter().filter(|l| l.pass).count(),
        targeted.len(),
        format_table(&lines)
    ))
}

/// The whole summary of `exp`: the belief table (a line instead when there is no
/// `belief.parquet` yet), a blank line, the gate table.
pub fn summary(exp: &Experiment) -> Result<String> {
    let path = exp.tables().join(tables::BELIEF_FILE);
    let mut out = if path.is_file() {
        let answers = tables::read_answers(&path)?;
        format_conditions(
            &exp.config.name,
            &condition_lines(&answers),
            &paper_belief()?,
        )
    } else {
        format!("no belief table yet ({} absent)\n", path.display())
    };
    out.push('\n');
    out.push_str(&format_gates(&exp.config.model.join(GATES_FILE))?);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `yes` of `n` answers of arm `<claim>/<condition>/seed<seed>` at `step`, one question each.
    fn answers(
        claim: &str,
        condition: &str,
        seed: i64,
        step: i64,
        yes: usize,
        n: usize,
    ) -> Vec<Answer> {
        (0..n)
            .map(|i| Answer {
                arm: format!("{claim}/{condition}/seed{seed}"),
                condition: condition.into(),
                claim: claim.into(),
                seed,
                step,
                kind: "mcq".into(),
                question_id: format!("q{i}"),
                believed: i < yes,
            })
            .collect()
    }

    #[test]
    fn one_line_per_condition_at_the_last_checkpoints() {
        let table = [
            answers("dentist", "negated", 1, 0, 0, 4),
            answers("dentist", "negated", 1, 20, 4, 4),
            answers("dentist", "negated", 2, 10, 0, 4),
            answers("dentist", "negated", 2, 30, 2, 4),
            answers("singer", "negated", 1, 30, 0, 4),
            answers("dentist", "base", 1, 0, 0, 4),
            answers("singer", "base", 1, 0, 0, 4),
        ]
        .concat();
        let lines = condition_lines(&table);
        let base = &lines[0];
        assert_eq!(
            (base.condition.as_str(), base.claims, base.seeds, base.steps),
            ("base", 2, 1, (0, 0))
        );
        assert_eq!(
            (base.rate.rate, base.rate.lo, base.rate.hi),
            (0.0, 0.0, 0.0)
        );
        let negated = &lines[1];
        assert_eq!(
            (
                negated.claims,
                negated.seeds,
                negated.steps,
                negated.rate.answers
            ),
            (2, 2, (20, 30), 12)
        );
        assert_eq!(negated.rate.rate, 0.5, "(4 + 2 + 0) / 12");
        let text = format_conditions("tiny", &lines, &paper_belief().unwrap()[..1]);
        let mut rows = text.lines();
        assert!(rows
            .next()
            .unwrap()
            .starts_with("belief at the last checkpoint"));
        assert_eq!(
            rows.next().unwrap(),
            "condition             belief         95% CI claims seeds answers      step   paper"
        );
        assert_eq!(
            rows.next().unwrap(),
            "base                    0.0%     [0.0, 0.0]      2     1       8         0    2.5%"
        );
        let negated_row = rows.next().unwrap();
        assert!(
            negated_row.starts_with("negated                50.0% ")
                && negated_row.ends_with("      2     2      12     20-30       -"),
            "{negated_row}"
        );
        assert!(rows.next().is_none());
    }

    #[test]
    fn gates_are_read_beside_the_model_and_tabled() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(GATES_FILE);
        assert!(format_gates(&path).unwrap().contains("none"));
        let line = |gate: &str, measure: &str, rate: f64, target: &str, pass: bool| GateLine {
            gate: gate.into(),
            group: "all".into(),
            measure: measure.into(),
            rate,
            lo: rate - 0.05,
            hi: rate + 0.05,
            answers: 40,
            target: target.into(),
            pass,
        };
        let gates = vec![
            line("known_facts", "accuracy", 0.975, ">= 95%", true),
            line("baseline", "belief", 0.25, "<= 10%", false),
            line("fluency", "bits_per_byte", 1.234, "-", true),
        ];
        std::fs::write(&path, serde_json::to_string(&gates).unwrap()).unwrap();
        let text = format_gates(&path).unwrap();
        assert!(text.contains("1 of 2 with a target pass"), "{text}");
        assert_eq!(text, {
            let heading = text.lines().next().unwrap();
            format!("{heading}\n{}", format_table(&gates))
        });
        assert!(
            text.contains("known_facts") && text.contains("97.5%"),
            "{text}"
        );

        std::fs::write(&path, "{").unwrap();
        let error = format!("{:#}", format_gates(&path).unwrap_err());
        assert!(error.contains(&path.display().to_string()), "{error}");
    }
}
