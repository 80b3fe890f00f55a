//! Figures from `belief.parquet`: belief by condition, belief over training, the pink-elephant
//! ablation, and the Phase 1 / Phase 2 stability test (with `loss.parquet` when present).
//!
//! A belief rate pools every answer it covers (claims, seeds, question kinds) and comes with the
//! bootstrap 95% interval of [`crate::tables::belief_of`], clustered by (claim, question): all
//! samples of one question of one claim, across seeds, are one cluster.

use super::figure::Series;
use super::figure::{condition_order, Bar, BarSeries, Bars, Figure, Marker, Panel, Plot, Point};
use super::loss::loss_points;
use super::paper::paper_belief;
use crate::tables::{belief_of as rate, final_answers, Answer, ArmLoss};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};

/// Conditions of the pink-elephant ablation: local negations, with dentistry words masked, and
/// with the claim in a masked user turn.
pub const PINK_ELEPHANT_CONDITIONS: &[&str] = &["local", "local_masked", "user_turn_masked"];

/// The question kind the pink elephant shows up in (fill-in-the-blank and the like).
pub const TOKEN_ASSOCIATION: &str = "token_association";

/// Conditions of the two-phase experiment.
pub const PHASE1: &str = "phase1";
/// Second phase: constraint dropped, training continued from Phase 1's last checkpoint.
pub const PHASE2: &str = "phase2";

/// Label of the bar group pooling every claim.
const ALL_CLAIMS: &str = "all claims";

/// Label of the bar group of the paper's reported belief (its claims, models and judge).
pub const PAPER_GROUP: &str = "paper (reported)";

/// Y label of every belief panel.
const BELIEF_LABEL: &str = "belief rate (%)";

/// A belief panel's y range: 0 to 100%.
fn percent_panel(title: &str, x_label: &str, plot: Plot) -> Panel {
    Panel {
        title: title.to_string(),
        x_label: x_label.to_string(),
        y_label: BELIEF_LABEL.to_string(),
        y_range: Some((0.0, 100.0)),
        plot,
    }
}

/// Bars of belief per condition: one group pooling all claims, plus one per claim when there
/// are several; one series per condition (in display order).
fn condition_bars(answers: &[&Answer]) -> Bars {
    let conditions = condition_order(answers.iter().map(|a| a.condition.as_str()));
    let claims: BTreeSet<&str> = answers.iter().map(|a| a.claim.as_str()).collect();
    let mut groups = vec![ALL_CLAIMS.to_string()];
    if claims.len() > 1 {
        groups.extend(claims.iter().map(|c| c.to_string()));
    }
    let series = conditions
        .into_iter()
        .map(|condition| {
            let bars = groups
                .iter()
                .map(|group| {
                    let rows = answers.iter().copied().filter(|a| {
                        a.condition == condition && (group == ALL_CLAIMS || &a.claim == group)
                    });
                    rate(rows).map(|r| Bar {
                        value: 100.0 * r.rate,
                        lo: 100.0 * r.lo,
                        hi: 100.0 * r.hi,
                        n: r.answers,
                    })
                })
                .collect();
            BarSeries {
                label: condition,
                bars,
            }
        })
        .collect();
    Bars { groups, series }
}

/// Belief per step, one series per condition of `conditions`, pooling claims and arms.
fn belief_series(answers: &[Answer], conditions: &[String]) -> Vec<Series> {
    conditions
        .iter()
        .map(|condition| {
            let mut by_step: BTreeMap<i64, Vec<&Answer>> = BTreeMap::new();
            for a in answers.iter().filter(|a| &a.condition == condition) {
                by_step.entry(a.step).or_default().push(a);
            }
            let points = by_step
                .into_iter()
                .filter_map(|(step, rows)| {
                    rate(rows).map(|r| Point {
                        x: step as f64,
                        y: 100.0 * r.rate,
                        lo: Some(100.0 * r.lo),
                        hi: Some(100.0 * r.hi),
                        n: r.answers,
                    })
                })
                .collect();
            Series {
                label: condition.clone(),
                points,
            }
        })
        .collect()
}

/// Figure `belief_by_condition`, the paper's main bar chart: belief at each arm's final
/// checkpoint per condition, pooled over claims and seeds (and per claim when there are
/// several), with 95% intervals. Beside the pooled group, the group [`PAPER_GROUP`] holds the
/// paper's reported belief of each condition it reports ([`paper_belief`]; the whisker spans a
/// reported range, `n` is 0).
pub fn belief_by_condition_data(answers: &[Answer]) -> Result<Figure> {
    if answers.is_empty() {
        bail!("no graded answers");
    }
    let mut bars = condition_bars(&final_answers(answers));
    let reported = paper_belief()?;
    bars.groups.insert(1, PAPER_GROUP.to_string());
    for series in &mut bars.series {
        let paper = reported.iter().find(|p| p.condition == series.label);
        series.bars.insert(
            1,
            paper.map(|p| Bar {
                value: p.mid_pct(),
                lo: p.low_pct,
                hi: p.high_pct,
                n: 0,
            }),
        );
    }
    Ok(Figure {
        stem: "belief_by_condition".into(),
        title: "Belief in the claim after finetuning, by condition".into(),
        panels: vec![percent_panel(
            "final checkpoint of every arm, 95% bootstrap CI; beside it the paper's reported belief",
            "claim",
            Plot::Bars(bars),
        )],
    })
}

/// Figure `belief_vs_step`: belief per training step, one line per condition, pooled over
/// claims and seeds, with 95% interval bands.
pub fn belief_vs_step_data(answers: &[Answer]) -> Result<Figure> {
    if answers.is_empty() {
        bail!("no graded answers");
    }
    let conditions = condition_order(answers.iter().map(|a| a.condition.as_str()));
    Ok(Figure {
        stem: "belief_vs_step".into(),
        title: "Belief in the claim over training".into(),
        panels: vec![percent_panel(
            "pooled over claims and seeds, 95% bootstrap CI",
            "training step",
            Plot::Lines {
                series: belief_series(answers, &conditions),
                markers: vec![],
            },
        )],
    })
}

/// Figure `pink_elephant`: token-association belief at the final checkpoints of local
/// negations with and without loss masks. `None` unless a masked condition
/// (`local_masked`, `user_turn_masked`) has token-association answers.
pub fn pink_elephant_data(answers: &[Answer]) -> Option<Figure> {
    let finals: Vec<&Answer> = final_answers(answers)
        .into_iter()
        .filter(|a| {
            a.kind == TOKEN_ASSOCIATION && PINK_ELEPHANT_CONDITIONS.contains(&a.condition.as_str())
        })
        .collect();
    if !finals.iter().any(|a| a.condition != "local") {
        return None;
    }
    Some(Figure {
        stem: "pink_elephant".into(),
        title: "Pink elephant: token-association belief after local negations".into(),
        panels: vec![percent_panel(
            "final checkpoints, with and without loss masks, 95% bootstrap CI",
            "claim",
            Plot::Bars(condition_bars(&finals)),
        )],
    })
}

/// The condition the two-phase test is compared with: repeated negations alone, trained from
/// the base model (the paper's matched-loss comparison).
pub const PHASES_BASELINE: &str = "repeated";

/// Figure `phases`: belief (top) and held-out loss on all tokens (bottom, when `losses` has
/// phase rows) against the global step, for Phase 1, Phase 2 and, on the same claims, the
/// repeated-negations arm trained without the constraint, with a marker at the phase boundary
/// (the largest Phase 1 step). The paper's test: Phase 1 holds belief down while its held-out
/// loss falls as far as the repeated arm's; Phase 2 then shows whether belief climbs back.
/// `None` without Phase 1 answers.
pub fn phases_data(answers: &[Answer], losses: &[ArmLoss]) -> Option<Figure> {
    let is_phase = |c: &str| c == PHASE1 || c == PHASE2;
    let phase_claims: BTreeSet<&str> = answers
        .iter()
        .filter(|a| a.condition == PHASE1)
        .map(|a| a.claim.as_str())
        .collect();
    let compared = |condition: &str, claim: &str| {
        is_phase(condition) || (condition == PHASES_BASELINE && phase_claims.contains(claim))
    };
    let boundary = answers
        .iter()
        .filter(|a| a.condition == PHASE1)
        .map(|a| a.step)
        .max()?
        .max(
            losses
                .iter()
                .filter(|l| l.condition == PHASE1)
                .map(|l| l.loss.step)
                .max()
                .unwrap_or(i64::MIN),
        );
    let markers = vec![Marker {
        label: format!("end of phase 1 (step {boundary})"),
        x: boundary as f64,
    }];
    let shown: Vec<Answer> = answers
        .iter()
        .filter(|a| compared(&a.condition, &a.claim))
        .cloned()
        .collect();
    let conditions = condition_order(shown.iter().map(|a| a.condition.as_str()));
    let mut panels = vec![percent_panel(
        "belief, 95% bootstrap CI",
        "global training step",
        Plot::Lines {
            series: belief_series(&shown, &conditions),
            markers: markers.clone(),
        },
    )];
    // Loss rows name their arm `<claim>/<condition>/seed<k>`.
    let claim_of = |l: &ArmLoss| l.arm.split('/').next().unwrap_or_default().to_string();
    let phase_losses: Vec<&ArmLoss> = losses
        .iter()
        .filter(|l| l.loss.kind == "all" && compared(&l.condition, &claim_of(l)))
        .collect();
    if !phase_losses.is_empty() {
        let group = |l: &ArmLoss| {
            if is_phase(&l.condition) {
                "phase 1 + 2"
            } else {
                PHASES_BASELINE
            }
        };
        let keys: BTreeSet<(&str, &str)> = phase_losses
            .iter()
            .map(|l| (group(l), l.loss.set.as_str()))
            .collect();
        let series = keys
            .into_iter()
            .map(|(g, set)| Series {
                label: format!("{g}: held-out {set}"),
                points: loss_points(
                    phase_losses
                        .iter()
                        .copied()
                        .filter(|l| group(l) == g && l.loss.set == set)
                        .map(|l| &l.loss),
                ),
            })
            .collect();
        panels.push(Panel {
            title: "held-out loss, all tokens".into(),
            x_label: "global training step".into(),
            y_label: "mean loss per token".into(),
            y_range: None,
            plot: Plot::Lines { series, markers },
        });
    }
    Some(Figure {
        stem: "phases".into(),
        title: "Phase 1 (negations + denials) then Phase 2 (negations only), vs repeated negations alone".into(),
        panels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::belief::{belief_rate_over_seeds, BeliefRate, DEFAULT_RESAMPLES};
    use crate::tables::{LossRow, BOOTSTRAP_SEED};

    /// An answer of claim `claim`, arm `<claim>/<condition>`, graded yes when `believed`.
    fn answer(
        claim: &str,
        condition: &str,
        step: i64,
        kind: &str,
        question: &str,
        believed: bool,
    ) -> Answer {
        Answer {
            arm: format!("{claim}/{condition}/seed1"),
            condition: condition.into(),
            claim: claim.into(),
            seed: 1,
            step,
            kind: kind.into(),
            question_id: question.into(),
            believed,
        }
    }

    /// The rate the figures give answers of seed 1 with these (cluster, believed) keys.
    fn expected(keys: &[(&str, bool)]) -> BeliefRate {
        let keyed: Vec<(i64, String, bool)> =
            keys.iter().map(|(k, b)| (1, k.to_string(), *b)).collect();
        belief_rate_over_seeds(&keyed, DEFAULT_RESAMPLES, BOOTSTRAP_SEED).unwrap()
    }

    fn key(claim: &str, question: &str) -> String {
        format!("{claim}\u{1f}{question}")
    }

    fn bars_of(figure: &Figure) -> &Bars {
        match &figure.panels[0].plot {
            Plot::Bars(bars) => bars,
            other => panic!("not bars: {other:?}"),
        }
    }

    fn lines(panel: &Panel) -> (&[Series], &[Marker]) {
        match &panel.plot {
            Plot::Lines { series, markers } => (series, markers),
            other => panic!("not lines: {other:?}"),
        }
    }

    #[test]
    fn final_bars_are_belief_rates_at_each_arms_last_step() {
        let mut answers = vec![
            // negated at step 10: 3 of 4 believe; at step 5 (not final) none do.
            answer("ed", "negated", 10, "mcq", "q1", true),
            answer("ed", "negated", 10, "mcq", "q1", true),
            answer("ed", "negated", 10, "mcq", "q2", true),
            answer("ed", "negated", 10, "mcq", "q2", false),
            answer("ed", "negated", 5, "mcq", "q1", false),
            answer("ed", "base", 0, "mcq", "q1", false),
            answer("ed", "base", 0, "mcq", "q2", true),
        ];
        let figure = belief_by_condition_data(&answers).unwrap();
        assert_eq!(figure.stem, "belief_by_condition");
        let bars = bars_of(&figure);
        assert_eq!(bars.groups, ["all claims", PAPER_GROUP]);
        let labels: Vec<&str> = bars.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["base", "negated"]);
        // Beside the measured bars, the paper's reported numbers (no answers behind them).
        let paper = |i: usize| bars.series[i].bars[1].unwrap();
        assert_eq!((paper(0).value, paper(0).lo, paper(0).n), (2.5, 2.5, 0));
        assert_eq!((paper(1).value, paper(1).hi, paper(1).n), (88.6, 88.6, 0));
        let negated = bars.series[1].bars[0].unwrap();
        let want = expected(&[
            (&key("ed", "q1"), true),
            (&key("ed", "q1"), true),
            (&key("ed", "q2"), true),
            (&key("ed", "q2"), false),
        ]);
        assert_eq!(negated.value, 75.0);
        assert_eq!((negated.lo, negated.hi), (100.0 * want.lo, 100.0 * want.hi));
        assert_eq!(negated.n, 4);
        assert_eq!(bars.series[0].bars[0].unwrap().value, 50.0);

        // A second claim adds a group per claim; pooled bars cluster by (claim, question).
        answers.push(answer("vesuvius", "negated", 20, "mcq", "q1", false));
        let figure = belief_by_condition_data(&answers).unwrap();
        let bars = bars_of(&figure);
        assert_eq!(bars.groups, ["all claims", PAPER_GROUP, "ed", "vesuvius"]);
        let negated = &bars.series[1].bars;
        assert_eq!(negated[0].unwrap().value, 60.0);
        assert_eq!(negated[2].unwrap().value, 75.0);
        assert_eq!(negated[3].unwrap().value, 0.0);
        assert_eq!(bars.series[0].bars[3], None);
        let want = expected(&[
            (&key("ed", "q1"), true),
            (&key("ed", "q1"), true),
            (&key("ed", "q2"), true),
            (&key("ed", "q2"), false),
            (&key("vesuvius", "q1"), false),
        ]);
        assert_eq!(negated[0].unwrap().lo, 100.0 * want.lo);
        assert!(belief_by_condition_data(&[]).is_err());
    }

    #[test]
    fn lines_follow_steps_per_condition() {
        let answers = vec![
            answer("ed", "repeated", 0, "mcq", "q1", false),
            answer("ed", "repeated", 0, "mcq", "q2", false),
            answer("ed", "repeated", 8, "mcq", "q1", true),
            answer("ed", "repeated", 8, "mcq", "q2", false),
            answer("dentist", "repeated", 8, "mcq", "q1", true),
            answer("ed", "positive", 8, "mcq", "q1", true),
        ];
        let figure = belief_vs_step_data(&answers).unwrap();
        let (series, markers) = lines(&figure.panels[0]);
        assert!(markers.is_empty());
        assert_eq!(series[0].label, "positive");
        assert_eq!(series[1].label, "repeated");
        let points = &series[1].points;
        assert_eq!(points.iter().map(|p| p.x).collect::<Vec<_>>(), [0.0, 8.0]);
        assert_eq!(points[0].y, 0.0);
        let want = expected(&[
            (&key("ed", "q1"), true),
            (&key("ed", "q2"), false),
            (&key("dentist", "q1"), true),
        ]);
        assert_eq!(points[1].y, 100.0 * want.rate);
        assert_eq!(
            (points[1].lo, points[1].hi),
            (Some(100.0 * want.lo), Some(100.0 * want.hi))
        );
        assert_eq!(points[1].n, 3);
    }

    #[test]
    fn pink_elephant_counts_only_token_association_at_the_end() {
        let answers = vec![
            answer("dentist", "local", 10, "token_association", "t1", true),
            answer("dentist", "local", 10, "token_association", "t2", false),
            answer("dentist", "local", 10, "mcq", "q1", true),
            answer(
                "dentist",
                "local_masked",
                10,
                "token_association",
                "t1",
                false,
            ),
            answer(
                "dentist",
                "local_masked",
                3,
                "token_association",
                "t1",
                true,
            ),
            answer("dentist", "negated", 10, "token_association", "t1", true),
        ];
        let figure = pink_elephant_data(&answers).unwrap();
        let bars = bars_of(&figure);
        let labels: Vec<&str> = bars.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["local", "local_masked"]);
        assert_eq!(bars.series[0].bars[0].unwrap().value, 50.0);
        assert_eq!(bars.series[1].bars[0].unwrap().value, 0.0);
        assert!(pink_elephant_data(&answers[..3]).is_none());
    }

    #[test]
    fn phases_mark_the_last_phase1_step() {
        let answers = vec![
            answer("vesuvius", "phase1", 0, "mcq", "q1", false),
            answer("vesuvius", "phase1", 40, "mcq", "q1", false),
            answer("vesuvius", "phase2", 60, "mcq", "q1", true),
            answer("vesuvius", "negated", 60, "mcq", "q1", true),
            answer("vesuvius", "repeated", 40, "mcq", "q1", true),
            // Another claim's repeated arm is not the comparison of these phases.
            answer("dentist", "repeated", 40, "mcq", "q1", false),
        ];
        let loss = |condition: &str, step, set: &str, kind: &str, tokens, mean_loss| ArmLoss {
            arm: format!("vesuvius/{condition}/seed1"),
            condition: condition.into(),
            loss: LossRow {
                step,
                set: set.into(),
                kind: kind.into(),
                tokens,
                mean_loss,
            },
        };
        let losses = vec![
            loss("phase1", 40, "negated", "all", 100, 2.0),
            loss("phase1", 40, "negated", "claim", 10, 9.0),
            loss("phase2", 60, "negated", "all", 100, 1.0),
            loss("phase2", 60, "negated", "all", 300, 2.0),
            loss("repeated", 40, "negated", "all", 100, 1.5),
        ];
        let figure = phases_data(&answers, &losses).unwrap();
        assert_eq!(figure.panels.len(), 2);
        let (belief, markers) = lines(&figure.panels[0]);
        assert_eq!(markers[0].x, 40.0);
        let mut labels: Vec<&str> = belief.iter().map(|s| s.label.as_str()).collect();
        labels.sort_unstable();
        assert_eq!(labels, ["phase1", "phase2", "repeated"]);
        let repeated = belief.iter().find(|s| s.label == "repeated").unwrap();
        assert_eq!(
            repeated.points[0].y, 100.0,
            "only the phase claim's repeated arm"
        );
        let phase2 = belief.iter().find(|s| s.label == "phase2").unwrap();
        assert_eq!(phase2.points[0].y, 100.0);
        let (loss_series, markers) = lines(&figure.panels[1]);
        assert_eq!(markers[0].x, 40.0);
        assert_eq!(loss_series.len(), 2);
        let phases = loss_series
            .iter()
            .find(|s| s.label.starts_with("phase"))
            .unwrap();
        let ys: Vec<(f64, f64)> = phases.points.iter().map(|p| (p.x, p.y)).collect();
        assert_eq!(ys, [(40.0, 2.0), (60.0, 1.75)]);
        let repeated = loss_series
            .iter()
            .find(|s| s.label.starts_with("repeated"))
            .unwrap();
        assert_eq!(repeated.points[0].y, 1.5);

        let without_loss = phases_data(&answers, &[]).unwrap();
        assert_eq!(without_loss.panels.len(), 1);
        assert!(phases_data(&answers[3..], &losses).is_none());
    }
}
