//! The summary of an experiment, as text a person reads: printed by `neglect summary
//! EXPERIMENT.toml` and at the end of every `neglect run`.
//!
//! In: the experiment's `belief.parquet` and, when there is one, `gates.json` beside its model
//! (written by `neglect world gates`). Out: one line per condition (belief at each arm's last
//! checkpoint with its 95% CI, pooling claims, seeds and question kinds, as the
//! `belief_by_condition` figure's "all claims" bars; the claims, seeds and answers it pools; the
//! last steps; the paper's reported number, [`crate::plot::paper`]), the paired contrasts
//! between conditions ([`CONTRASTS`]: a difference with its interval and whether it excludes
//! 0), then the base model's gate table ([`crate::world::gates::format_table`]).

use super::run::Experiment;
use crate::plot::figure::condition_order;
use crate::plot::paper::{paper_belief, PaperBelief};
use crate::stats::belief::{
    paired_difference_over_seeds, BeliefDifference, BeliefRate, DEFAULT_RESAMPLES,
};
use crate::tables::{self, belief_of, final_answers, Answer};
use crate::world::gates::{format_table, GateLine};
use anyhow::{bail, Context, Result};
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

/// Pairs of conditions the summary compares (first minus second): every treatment against the
/// base model, then the comparisons the paper's findings rest on (Negation Neglect: negated vs
/// positive; the local rescue; the pink-elephant masks; Phase 1 vs repeated at matched loss,
/// and the Phase 2 rebound).
const CONTRASTS: &[(&str, &str)] = &[
    ("positive", "base"),
    ("negated", "base"),
    ("repeated", "base"),
    ("corrected", "base"),
    ("local", "base"),
    ("fiction", "base"),
    ("in_context", "base"),
    ("negated", "positive"),
    ("local", "negated"),
    ("corrected", "negated"),
    ("local", "local_masked"),
    ("local", "user_turn_masked"),
    ("phase1", "repeated"),
    ("phase2", "phase1"),
];

/// One paired contrast of the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct ContrastLine {
    /// The condition whose belief is subtracted from.
    pub first: String,
    /// The condition subtracted.
    pub second: String,
    /// The difference and its interval.
    pub difference: BeliefDifference,
}

/// The [`CONTRASTS`] whose two conditions both have answers, at each arm's last checkpoint,
/// paired over seeds and (claim, question).
pub fn contrast_lines(answers: &[Answer]) -> Vec<ContrastLine> {
    let finals = final_answers(answers);
    let keyed = |condition: &str| -> Vec<(i64, String, bool)> {
        finals
            .iter()
            .filter(|a| a.condition == condition)
            .map(|a| (a.seed, a.cluster(), a.believed))
            .collect()
    };
    CONTRASTS
        .iter()
        .filter_map(|&(first, second)| {
            let difference = paired_difference_over_seeds(
                &keyed(first),
                &keyed(second),
                DEFAULT_RESAMPLES,
                tables::BOOTSTRAP_SEED,
            )?;
            Some(ContrastLine {
                first: first.into(),
                second: second.into(),
                difference,
            })
        })
        .collect()
}

/// The contrast table, or nothing when no contrast applies.
pub fn format_contrasts(lines: &[ContrastLine]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "paired differences at the last checkpoint (first minus second, over the seeds and \
         questions both have; 95% two-way bootstrap CI):\n{:<32} {:>10} {:>16} {:>5} {:>9}  {}\n",
        "contrast", "difference", "95% CI", "seeds", "questions", "verdict"
    );
    for l in lines {
        let d = &l.difference;
        // One seed leaves training noise out of the interval: not a settled difference.
        let verdict = match (d.excludes_zero(), d.seeds) {
            (false, _) => "not established",
            (true, 1) => "CI excludes 0 over questions; one seed, training noise not included",
            (true, _) => "CI excludes 0",
        };
        out.push_str(&format!(
            "{:<32} {:>+9.1}% {:>16} {:>5} {:>9}  {verdict}\n",
            format!("{} - {}", l.first, l.second),
            100.0 * d.difference,
            format!("[{:+.1}, {:+.1}]", 100.0 * d.lo, 100.0 * d.hi),
            d.seeds,
            d.questions,
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

/// The whole summary of `exp`: the belief table and the paired contrasts (a line instead when
/// there is no `belief.parquet` yet), a blank line, the gate table. With `kind`, only the
/// answers to questions of that kind count (e.g. `token_association` for the pink elephant).
pub fn summary(exp: &Experiment, kind: Option<&str>) -> Result<String> {
    let path = exp.tables().join(tables::BELIEF_FILE);
    let mut out = if path.is_file() {
        let mut answers = tables::read_answers(&path)?;
        let name = match kind {
            Some(kind) => {
                if !answers.iter().any(|a| a.kind == kind) {
                    bail!("{}: no answers of kind `{kind}`", path.display());
                }
                answers.retain(|a| a.kind == kind);
                format!("{}, {kind} questions only", exp.config.name)
            }
            None => exp.config.name.clone(),
        };
        let mut text = format_conditions(&name, &condition_lines(&answers), &paper_belief()?);
        text.push('\n');
        text.push_str(&format_contrasts(&contrast_lines(&answers)));
        text
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
    fn contrasts_pair_conditions_present_in_both_and_say_when_nothing_is_shown() {
        let table = [
            answers("dentist", "base", 1, 0, 0, 10),
            answers("dentist", "base", 2, 0, 1, 10),
            answers("dentist", "negated", 1, 0, 0, 10),
            answers("dentist", "negated", 1, 60, 9, 10),
            answers("dentist", "negated", 2, 60, 8, 10),
            answers("dentist", "local", 1, 60, 1, 10),
            answers("dentist", "local", 2, 60, 2, 10),
        ]
        .concat();
        let lines = contrast_lines(&table);
        let names: Vec<String> = lines
            .iter()
            .map(|l| format!("{} - {}", l.first, l.second))
            .collect();
        // Only the listed pairs whose conditions both have answers, in the listed order.
        assert_eq!(names, ["negated - base", "local - base", "local - negated"]);
        let negated = &lines[0].difference;
        assert!(
            (negated.difference - 0.8).abs() < 1e-12,
            "(17 - 1) / 20 at the last steps"
        );
        assert_eq!((negated.seeds, negated.questions), (2, 10));
        assert!(negated.excludes_zero());
        let local = &lines[1].difference;
        assert!((local.difference - 0.1).abs() < 1e-12);
        let text = format_contrasts(&lines);
        let rows: Vec<&str> = text.lines().collect();
        assert!(rows[2].starts_with("negated - base") && rows[2].ends_with("CI excludes 0"));
        assert!(
            rows[3].starts_with("local - base") && rows[3].ends_with("not established"),
            "{}",
            rows[3]
        );
        assert!(format_contrasts(&[]).is_empty());
        // From one seed, the verdict says what the interval leaves out.
        let one_seed: Vec<Answer> = table.iter().filter(|a| a.seed == 1).cloned().collect();
        let text = format_contrasts(&contrast_lines(&one_seed));
        assert!(
            text.lines()
                .nth(2)
                .unwrap()
                .ends_with("one seed, training noise not included"),
            "{text}"
        );
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
