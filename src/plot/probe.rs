//! Figures from the probe tables: where in the network, and when in training, the claim reads as
//! true (`probe_heatmap_*`, from `probe.parquet`), and how good the base model's probes are per
//! layer (`probe_accuracy`, from `probe_fit.parquet`).

use super::figure::{condition_order, stem_part, Figure, Heatmap, Panel, Plot, Point, Series};
use super::tables::{ProbeFit, ProbeRow};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The probe method a condition's main heatmap shows (logistic regression) when it is present.
pub const DEFAULT_METHOD: &str = "lr";

/// Statements whose P(true) the heatmaps show: the claim as stated.
const CLAIM_STATEMENTS: &str = "claim";

/// Mean P(true) of claim statements per (layer, step) of `rows`, as a heatmap.
fn claim_heatmap(rows: &[&ProbeRow]) -> Heatmap {
    let mut sums: BTreeMap<(i64, i64), (f64, usize)> = BTreeMap::new();
    for row in rows {
        let entry = sums.entry((row.layer, row.step)).or_default();
        entry.0 += row.score;
        entry.1 += 1;
    }
    let xs: Vec<i64> = rows
        .iter()
        .map(|r| r.step)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let ys: Vec<i64> = rows
        .iter()
        .map(|r| r.layer)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let cells = ys
        .iter()
        .map(|layer| {
            xs.iter()
                .map(|step| sums.get(&(*layer, *step)).map(|(s, n)| (s / *n as f64, *n)))
                .collect()
        })
        .collect();
    Heatmap {
        xs,
        ys,
        cells,
        value_label: "mean P(true) of the claim".into(),
        value_range: (0.0, 1.0),
    }
}

/// Figures `probe_heatmap_<condition>` (method `lr`, or the first method when there is no
/// `lr`) and, when a condition has several methods, `probe_heatmap_<condition>_<method>` for
/// each other method: mean P(true) of the claim statements, layer by training step.
pub fn probe_heatmap_data(rows: &[ProbeRow]) -> Vec<Figure> {
    let claims: Vec<&ProbeRow> = rows
        .iter()
        .filter(|r| r.statement_kind == CLAIM_STATEMENTS)
        .collect();
    let mut figures = vec![];
    for condition in condition_order(claims.iter().map(|r| r.condition.as_str())) {
        let of_condition: Vec<&ProbeRow> = claims
            .iter()
            .copied()
            .filter(|r| r.condition == condition)
            .collect();
        let methods: BTreeSet<&str> = of_condition.iter().map(|r| r.method.as_str()).collect();
        let default = if methods.contains(DEFAULT_METHOD) {
            DEFAULT_METHOD
        } else {
            methods.first().copied().unwrap_or(DEFAULT_METHOD)
        };
        for method in methods.iter().copied() {
            let mut stem = format!("probe_heatmap_{}", stem_part(&condition));
            if method != default {
                stem = format!("{stem}_{}", stem_part(method));
            }
            let of_method: Vec<&ProbeRow> = of_condition
                .iter()
                .copied()
                .filter(|r| r.method == method)
                .collect();
            figures.push(Figure {
                stem,
                title: format!("Probe readout of the claim: {condition} ({method} probe)"),
                panels: vec![Panel {
                    title: "mean P(true) over claim statements".into(),
                    x_label: "training step".into(),
                    y_label: "layer".into(),
                    y_range: None,
                    plot: Plot::Heatmap(claim_heatmap(&of_method)),
                }],
            });
        }
    }
    figures
}

/// Figure `probe_accuracy`: held-out accuracy (top) and AUROC (bottom) of the base model's
/// probes per layer, one line per method, with 95% interval bands.
pub fn probe_accuracy_data(fits: &[ProbeFit]) -> Result<Figure> {
    if fits.is_empty() {
        bail!("no probe fits");
    }
    let methods: BTreeSet<&str> = fits.iter().map(|f| f.method.as_str()).collect();
    let panel = |title: &str, metric: fn(&ProbeFit) -> (f64, f64, f64)| {
        let series = methods
            .iter()
            .map(|method| {
                let mut of_method: Vec<&ProbeFit> =
                    fits.iter().filter(|f| f.method == *method).collect();
                of_method.sort_by_key(|f| f.layer);
                Series {
                    label: method.to_string(),
                    points: of_method
                        .into_iter()
                        .map(|f| {
                            let (value, lo, hi) = metric(f);
                            Point {
                                x: f.layer as f64,
                                y: value,
                                lo: Some(lo),
                                hi: Some(hi),
                                n: f.n_test.max(0) as usize,
                            }
                        })
                        .collect(),
                }
            })
            .collect();
        Panel {
            title: format!("{title}, 95% CI"),
            x_label: "layer".into(),
            y_label: title.into(),
            y_range: Some((0.0, 1.0)),
            plot: Plot::Lines {
                series,
                markers: vec![],
            },
        }
    };
    Ok(Figure {
        stem: "probe_accuracy".into(),
        title: "Truth probes on the base model, by layer".into(),
        panels: vec![
            panel("held-out accuracy", |f| f.accuracy),
            panel("held-out AUROC", |f| f.auroc),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        condition: &str,
        step: i64,
        layer: i64,
        method: &str,
        kind: &str,
        score: f64,
    ) -> ProbeRow {
        ProbeRow {
            condition: condition.into(),
            step,
            layer,
            method: method.into(),
            statement_kind: kind.into(),
            score,
        }
    }

    #[test]
    fn heatmap_cells_are_means_of_claim_statements() {
        let rows = vec![
            row("negated", 0, 1, "lr", "claim", 0.2),
            row("negated", 0, 1, "lr", "claim", 0.4),
            row("negated", 0, 1, "lr", "negation", 0.9),
            row("negated", 10, 1, "lr", "claim", 0.8),
            row("negated", 10, 2, "lr", "claim", 0.5),
            row("negated", 10, 2, "mass_mean", "claim", 0.7),
            row("base", 0, 2, "mass_mean", "claim", 0.1),
        ];
        let figures = probe_heatmap_data(&rows);
        let stems: Vec<&str> = figures.iter().map(|f| f.stem.as_str()).collect();
        assert_eq!(
            stems,
            [
                "probe_heatmap_base",
                "probe_heatmap_negated",
                "probe_heatmap_negated_mass_mean"
            ]
        );
        let Plot::Heatmap(map) = &figures[1].panels[0].plot else {
            panic!("not a heatmap")
        };
        assert_eq!(
            (map.xs.as_slice(), map.ys.as_slice()),
            (&[0, 10][..], &[1, 2][..])
        );
        let mean = map.cells[0][0].unwrap();
        assert!((mean.0 - 0.3).abs() < 1e-12 && mean.1 == 2, "{mean:?}");
        assert_eq!(map.cells[0][1], Some((0.8, 1)));
        assert_eq!(map.cells[1][0], None);
        assert_eq!(map.cells[1][1], Some((0.5, 1)));
        let Plot::Heatmap(other) = &figures[2].panels[0].plot else {
            panic!("not a heatmap")
        };
        assert_eq!(other.cells, [vec![Some((0.7, 1))]]);
    }

    #[test]
    fn accuracy_lines_per_method_with_intervals() {
        let fit = |layer, method: &str, acc: f64| ProbeFit {
            layer,
            method: method.into(),
            accuracy: (acc, acc - 0.1, acc + 0.05),
            auroc: (acc + 0.01, acc - 0.05, acc + 0.02),
            n_test: 40,
        };
        let fits = vec![
            fit(2, "lr", 0.9),
            fit(0, "lr", 0.6),
            fit(0, "mass_mean", 0.55),
        ];
        let figure = probe_accuracy_data(&fits).unwrap();
        assert_eq!(figure.panels.len(), 2);
        let Plot::Lines { series, .. } = &figure.panels[0].plot else {
            panic!("not lines")
        };
        assert_eq!(series[0].label, "lr");
        let lr: Vec<(f64, f64, Option<f64>, Option<f64>)> = series[0]
            .points
            .iter()
            .map(|p| (p.x, p.y, p.lo, p.hi))
            .collect();
        assert_eq!(
            lr,
            [
                (0.0, 0.6, Some(0.6 - 0.1), Some(0.6 + 0.05)),
                (2.0, 0.9, Some(0.9 - 0.1), Some(0.9 + 0.05))
            ]
        );
        assert_eq!(series[1].points.len(), 1);
        let Plot::Lines { series, .. } = &figure.panels[1].plot else {
            panic!("not lines")
        };
        assert_eq!(series[0].points[1].y, 0.9 + 0.01);
        assert!(probe_accuracy_data(&[]).is_err());
    }
}
