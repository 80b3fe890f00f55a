//! Figures from `loss.parquet`: held-out loss by token kind over training, one figure per
//! condition (`loss_by_kind_<condition>`), one panel per held-out set, one line per token kind.
//!
//! Several rows for one step (claims, seeds) are pooled as a token-weighted mean: total loss
//! over total tokens.

use super::figure::{condition_order, kind_order, stem_part, Figure, Panel, Plot, Point, Series};
use crate::tables::{ArmLoss, LossRow};
use std::collections::{BTreeMap, BTreeSet};

/// Token-weighted mean loss per step of `rows`, in increasing step; steps without tokens are
/// left out.
pub(super) fn loss_points<'a>(rows: impl IntoIterator<Item = &'a LossRow>) -> Vec<Point> {
    let mut by_step: BTreeMap<i64, (f64, i64)> = BTreeMap::new();
    for row in rows {
        let entry = by_step.entry(row.step).or_default();
        entry.0 += row.mean_loss * row.tokens as f64;
        entry.1 += row.tokens;
    }
    by_step
        .into_iter()
        .filter(|(_, (_, tokens))| *tokens > 0)
        .map(|(step, (sum, tokens))| Point {
            x: step as f64,
            y: sum / tokens as f64,
            lo: None,
            hi: None,
            n: tokens as usize,
        })
        .collect()
}

/// Figures `loss_by_kind_<condition>`: held-out loss per token kind against the step.
pub fn loss_by_kind_data(losses: &[ArmLoss]) -> Vec<Figure> {
    let conditions = condition_order(losses.iter().map(|l| l.condition.as_str()));
    conditions
        .into_iter()
        .map(|condition| {
            let rows: Vec<&ArmLoss> = losses.iter().filter(|l| l.condition == condition).collect();
            let sets: BTreeSet<&str> = rows.iter().map(|l| l.loss.set.as_str()).collect();
            let panels = sets
                .into_iter()
                .map(|set| {
                    let in_set: Vec<&LossRow> = rows
                        .iter()
                        .map(|l| &l.loss)
                        .filter(|l| l.set == set)
                        .collect();
                    let kinds = kind_order(in_set.iter().map(|l| l.kind.as_str()));
                    let series = kinds
                        .into_iter()
                        .map(|kind| Series {
                            points: loss_points(in_set.iter().copied().filter(|l| l.kind == kind)),
                            label: kind,
                        })
                        .collect();
                    Panel {
                        title: format!("held-out set: {set}"),
                        x_label: "training step".into(),
                        y_label: "mean loss per token".into(),
                        y_range: None,
                        plot: Plot::Lines {
                            series,
                            markers: vec![],
                        },
                    }
                })
                .collect();
            Figure {
                stem: format!("loss_by_kind_{}", stem_part(&condition)),
                title: format!("Held-out loss by token kind: {condition}"),
                panels,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(condition: &str, step: i64, set: &str, kind: &str, tokens: i64, loss: f64) -> ArmLoss {
        ArmLoss {
            arm: format!("c/{condition}/seed1"),
            condition: condition.into(),
            loss: LossRow {
                step,
                set: set.into(),
                kind: kind.into(),
                tokens,
                mean_loss: loss,
            },
        }
    }

    #[test]
    fn one_figure_per_condition_one_panel_per_set_one_line_per_kind() {
        let losses = vec![
            row("repeated", 0, "negated", "all", 100, 3.0),
            row("repeated", 0, "negated", "claim", 10, 4.0),
            row("repeated", 0, "negated", "negation", 20, 5.0),
            row("repeated", 10, "negated", "negation", 20, 1.0),
            // A second seed at step 10: pooled by tokens.
            row("repeated", 10, "negated", "negation", 60, 2.0),
            row("repeated", 10, "negated", "claim", 0, 7.0),
            row("repeated", 10, "positive", "all", 50, 2.5),
            row("base", 0, "negated", "all", 100, 3.0),
        ];
        let figures = loss_by_kind_data(&losses);
        let stems: Vec<&str> = figures.iter().map(|f| f.stem.as_str()).collect();
        assert_eq!(stems, ["loss_by_kind_base", "loss_by_kind_repeated"]);
        let repeated = &figures[1];
        assert_eq!(repeated.panels.len(), 2);
        assert_eq!(repeated.panels[0].title, "held-out set: negated");
        let Plot::Lines { series, .. } = &repeated.panels[0].plot else {
            panic!("not lines")
        };
        let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["claim", "negation", "all"]);
        let xy = |s: &Series| s.points.iter().map(|p| (p.x, p.y, p.n)).collect::<Vec<_>>();
        assert_eq!(xy(&series[0]), [(0.0, 4.0, 10)]);
        assert_eq!(xy(&series[1]), [(0.0, 5.0, 20), (10.0, 1.75, 80)]);
        assert_eq!(xy(&series[2]), [(0.0, 3.0, 100)]);
    }
}
