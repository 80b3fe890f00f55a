//! Figures from the probe tables: where in the network, and when in training, the claim reads as
//! true (`probe_heatmap_*`, from `probe.parquet`), whether unrelated true and false facts drift
//! with it (`probe_controls_*`), how good the base model's probes are per layer
//! (`probe_accuracy`, from `probe_fit.parquet`), and how a probe fitted on one family of
//! statements carries over to the others (`probe_generalisation*`, from
//! `probe_generalisation.parquet`).
//!
//! A readout only means something at a layer whose probe separates truth on the base model:
//! layers whose held-out accuracy is below [`MIN_VALID_PROBE_ACCURACY`] are hatched in every
//! heatmap (`valid` = false in its CSV), and without `probe_fit.parquet` every layer is
//! cross-hatched as unknown rather than drawn as valid.

use super::figure::{
    condition_order, stem_part, Figure, Heatmap, Panel, Plot, Point, Series, Validity,
};
use crate::probe::fit::{is_valid_accuracy, MIN_VALID_PROBE_ACCURACY};
use crate::probe::generalise::best_layer;
use crate::probe::readout::StatementKind;
use crate::tables::{GeneralisationCell, ProbeFit, ProbeRow, PROBE_FIT_FILE};
use anyhow::{bail, Result};
use std::collections::{BTreeMap, BTreeSet};

/// The probe method a condition's main heatmap shows (logistic regression) when it is present.
pub const DEFAULT_METHOD: &str = "lr";

/// The key line of hatched (invalid) layers.
fn invalid_note() -> String {
    format!("hatched: probe at chance (held-out acc < {MIN_VALID_PROBE_ACCURACY})")
}

/// Whether the `method` probe at `layer` is valid on the base model; unknown without `fits` or
/// without a row for it.
fn layer_validity(fits: Option<&[ProbeFit]>, method: &str, layer: i64) -> Validity {
    let row = fits.and_then(|fits| fits.iter().find(|f| f.method == method && f.layer == layer));
    match row {
        None => Validity::Unknown,
        Some(f) if is_valid_accuracy(f.accuracy.0) => Validity::Valid,
        Some(_) => Validity::Invalid,
    }
}

/// The key of a heatmap whose rows have `validity`: a line for each kind of row not valid.
fn validity_key(validity: &[Validity], fits_present: bool) -> Vec<(Validity, String)> {
    let mut key = vec![];
    if validity.contains(&Validity::Invalid) {
        key.push((Validity::Invalid, invalid_note()));
    }
    if validity.contains(&Validity::Unknown) {
        let why = if fits_present {
            format!("layer not in {PROBE_FIT_FILE}")
        } else {
            format!("no {PROBE_FIT_FILE}")
        };
        key.push((
            Validity::Unknown,
            format!("cross-hatched: probe validity unknown ({why})"),
        ));
    }
    key
}

/// Mean P(true) of `rows` (claim statements of one method) per (layer, step), as a heatmap whose
/// rows carry the validity of the method's probe at that layer.
fn claim_heatmap(rows: &[&ProbeRow], method: &str, fits: Option<&[ProbeFit]>) -> Heatmap {
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
    let validity: Vec<Validity> = ys
        .iter()
        .map(|&layer| layer_validity(fits, method, layer))
        .collect();
    Heatmap {
        xs,
        ys,
        cells,
        value_label: "mean P(true) of the claim".into(),
        value_range: (0.0, 1.0),
        key: validity_key(&validity, fits.is_some()),
        validity,
    }
}

/// Rows of `rows` grouped for figures: per condition (display order) and method, with the
/// stem suffix of the group (`<condition>` for method `lr`, or the first method when there is
/// no `lr`; `<condition>_<method>` for the others).
fn by_condition_and_method<'a>(rows: &[&'a ProbeRow]) -> Vec<(String, String, Vec<&'a ProbeRow>)> {
    let mut groups = vec![];
    for condition in condition_order(rows.iter().map(|r| r.condition.as_str())) {
        let of_condition: Vec<&ProbeRow> = rows
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
            let mut suffix = stem_part(&condition);
            if method != default {
                suffix = format!("{suffix}_{}", stem_part(method));
            }
            let of_method = of_condition
                .iter()
                .copied()
                .filter(|r| r.method == method)
                .collect();
            groups.push((suffix, method.to_string(), of_method));
        }
    }
    groups
}

/// Figures `probe_heatmap_<condition>` (method `lr`, or the first method when there is no
/// `lr`) and, when a condition has several methods, `probe_heatmap_<condition>_<method>` for
/// each other method: mean P(true) of the claim statements, layer by training step. Layers whose
/// probe is not valid on the base model (by `fits`, `probe_fit.parquet`) are hatched; without
/// `fits` every layer is marked unknown.
pub fn probe_heatmap_data(rows: &[ProbeRow], fits: Option<&[ProbeFit]>) -> Vec<Figure> {
    let claims: Vec<&ProbeRow> = rows
        .iter()
        .filter(|r| r.statement_kind == StatementKind::Claim.name())
        .collect();
    by_condition_and_method(&claims)
        .into_iter()
        .map(|(suffix, method, of_method)| {
            let condition = &of_method[0].condition;
            Figure {
                stem: format!("probe_heatmap_{suffix}"),
                title: format!("Probe readout of the claim: {condition} ({method} probe)"),
                panels: vec![Panel {
                    title: "mean P(true) over claim statements".into(),
                    x_label: "training step".into(),
                    y_label: "layer".into(),
                    y_range: None,
                    plot: Plot::Heatmap(claim_heatmap(&of_method, &method, fits)),
                }],
            }
        })
        .collect()
}

/// `layers` as runs: `0-3, 5, 7-8`.
fn layer_list(layers: &BTreeSet<i64>) -> String {
    let mut runs: Vec<(i64, i64)> = vec![];
    for &l in layers {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == l => *end = l,
            _ => runs.push((l, l)),
        }
    }
    runs.iter()
        .map(|&(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Statement kinds of the controls figure, with their legend labels.
const CONTROL_LINES: [(StatementKind, &str); 3] = [
    (StatementKind::Claim, "claim"),
    (StatementKind::ControlTrue, "control: true facts"),
    (StatementKind::ControlFalse, "control: false facts"),
];

/// Figures `probe_controls_<condition>[_<method>]` (stems as the heatmaps'), for every
/// condition and method with control readouts: mean P(true) per training step of the claim's
/// statements, of the true control statements and of the false ones, over the layers whose probe
/// is valid (by `fits`). Without a valid layer (or without `fits`) the mean is over every layer,
/// and the panel title says so. A drift of everything towards "true" lifts all three lines; a
/// belief in the claim lifts the claim's alone.
pub fn probe_controls_data(rows: &[ProbeRow], fits: Option<&[ProbeFit]>) -> Vec<Figure> {
    let all: Vec<&ProbeRow> = rows.iter().collect();
    let mut figures = vec![];
    for (suffix, method, of_method) in by_condition_and_method(&all) {
        let has_controls = of_method.iter().any(|r| {
            r.statement_kind == StatementKind::ControlTrue.name()
                || r.statement_kind == StatementKind::ControlFalse.name()
        });
        if !has_controls {
            continue;
        }
        let layers: BTreeSet<i64> = of_method.iter().map(|r| r.layer).collect();
        let valid: BTreeSet<i64> = layers
            .iter()
            .copied()
            .filter(|&l| layer_validity(fits, &method, l) == Validity::Valid)
            .collect();
        let (used, over) = if !valid.is_empty() {
            (
                valid.clone(),
                format!("over the valid layers ({})", layer_list(&valid)),
            )
        } else if fits.is_some() {
            (
                layers.clone(),
                format!(
                    "over all layers ({}): no probe is valid (held-out acc < {MIN_VALID_PROBE_ACCURACY})",
                    layer_list(&layers)
                ),
            )
        } else {
            (
                layers.clone(),
                format!(
                    "over all layers ({}): probe validity unknown (no {PROBE_FIT_FILE})",
                    layer_list(&layers)
                ),
            )
        };
        let series = CONTROL_LINES
            .iter()
            .map(|(kind, label)| {
                let mut by_step: BTreeMap<i64, (f64, usize)> = BTreeMap::new();
                for r in of_method
                    .iter()
                    .filter(|r| r.statement_kind == kind.name() && used.contains(&r.layer))
                {
                    let entry = by_step.entry(r.step).or_default();
                    entry.0 += r.score;
                    entry.1 += 1;
                }
                Series {
                    label: label.to_string(),
                    points: by_step
                        .into_iter()
                        .map(|(step, (sum, n))| Point {
                            x: step as f64,
                            y: sum / n as f64,
                            lo: None,
                            hi: None,
                            n,
                        })
                        .collect(),
                }
            })
            .collect();
        let condition = &of_method[0].condition;
        figures.push(Figure {
            stem: format!("probe_controls_{suffix}"),
            title: format!("Claim against control facts: {condition} ({method} probe)"),
            panels: vec![Panel {
                title: format!("mean P(true) {over}"),
                x_label: "training step".into(),
                y_label: "mean P(true)".into(),
                y_range: Some((0.0, 1.0)),
                plot: Plot::Lines {
                    series,
                    markers: vec![],
                },
            }],
        });
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

/// `names` as an axis label: `what (0 first, 1 second, ...)`, the cell indices drawn on the axis.
fn indexed_names(what: &str, names: &[&str]) -> String {
    let listed: Vec<String> = names
        .iter()
        .enumerate()
        .map(|(i, n)| format!("{i} {n}"))
        .collect();
    format!("{what} ({})", listed.join(", "))
}

/// Figures `probe_generalisation` (method `lr`, or the first method when there is no `lr`) and
/// `probe_generalisation_<method>` for each other method: accuracy of a probe fitted on one
/// family (row) on another family's held-out statements (column), at the best layer (the
/// highest mean in-family accuracy, [`best_layer`]) and averaged over the layers where the
/// row's probe is valid. A row is valid where its in-family (diagonal) held-out accuracy
/// reaches [`MIN_VALID_PROBE_ACCURACY`]; rows that are not are hatched (at the best layer), and
/// in the averaged panel a row without a valid layer is the mean over all layers, hatched.
/// Families are drawn by index (the axis labels name them), in name order.
pub fn probe_generalisation_data(cells: &[GeneralisationCell]) -> Vec<Figure> {
    let methods: BTreeSet<&str> = cells.iter().map(|c| c.method.as_str()).collect();
    let default = if methods.contains(DEFAULT_METHOD) {
        DEFAULT_METHOD
    } else {
        methods.first().copied().unwrap_or(DEFAULT_METHOD)
    };
    let mut figures = vec![];
    for method in methods {
        let of: Vec<&GeneralisationCell> = cells.iter().filter(|c| c.method == method).collect();
        let families: Vec<&str> = of
            .iter()
            .flat_map(|c| [c.train_family.as_str(), c.test_family.as_str()])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let layers: BTreeSet<i64> = of.iter().map(|c| c.layer).collect();
        let cell = |train: &str, test: &str, layer: i64| {
            of.iter()
                .find(|c| c.train_family == train && c.test_family == test && c.layer == layer)
        };
        let validity = |family: &str, layer: i64| match cell(family, family, layer) {
            None => Validity::Unknown,
            Some(c) if is_valid_accuracy(c.accuracy.0) => Validity::Valid,
            Some(_) => Validity::Invalid,
        };
        let diagonal = of
            .iter()
            .filter(|c| c.train_family == c.test_family)
            .map(|c| (c.layer, c.accuracy.0));
        let Some(best) = best_layer(diagonal) else {
            continue;
        };
        let at_best = families
            .iter()
            .map(|train| {
                families
                    .iter()
                    .map(|test| cell(train, test, best).map(|c| (c.accuracy.0, c.n_test as usize)))
                    .collect()
            })
            .collect();
        let best_validity: Vec<Validity> = families.iter().map(|f| validity(f, best)).collect();
        // Per row: the layers averaged over (the valid ones, else all) and the row's validity.
        let averaged_over: Vec<(Vec<i64>, Validity)> = families
            .iter()
            .map(|family| {
                let valid: Vec<i64> = layers
                    .iter()
                    .copied()
                    .filter(|&l| validity(family, l) == Validity::Valid)
                    .collect();
                if !valid.is_empty() {
                    (valid, Validity::Valid)
                } else if layers
                    .iter()
                    .any(|&l| validity(family, l) == Validity::Invalid)
                {
                    (layers.iter().copied().collect(), Validity::Invalid)
                } else {
                    (layers.iter().copied().collect(), Validity::Unknown)
                }
            })
            .collect();
        let averaged = families
            .iter()
            .zip(&averaged_over)
            .map(|(train, (used, _))| {
                families
                    .iter()
                    .map(|test| {
                        let values: Vec<f64> = used
                            .iter()
                            .filter_map(|&l| cell(train, test, l).map(|c| c.accuracy.0))
                            .collect();
                        (!values.is_empty()).then(|| {
                            (
                                values.iter().sum::<f64>() / values.len() as f64,
                                values.len(),
                            )
                        })
                    })
                    .collect()
            })
            .collect();
        let key = |validity: &[Validity]| {
            let mut key = vec![];
            if validity.contains(&Validity::Invalid) {
                key.push((
                    Validity::Invalid,
                    format!(
                        "hatched: probe of the row's family at chance (in-family held-out acc < \
                         {MIN_VALID_PROBE_ACCURACY})"
                    ),
                ));
            }
            if validity.contains(&Validity::Unknown) {
                key.push((
                    Validity::Unknown,
                    "cross-hatched: no in-family cell for the row's family".to_string(),
                ));
            }
            key
        };
        let index: Vec<i64> = (0..families.len() as i64).collect();
        let panel = |title: String, cells, validity: Vec<Validity>, value_label: &str| Panel {
            title,
            x_label: indexed_names("tested on", &families),
            y_label: "trained on".into(),
            y_range: None,
            plot: Plot::Heatmap(Heatmap {
                xs: index.clone(),
                ys: index.clone(),
                cells,
                value_label: value_label.into(),
                value_range: (0.0, 1.0),
                key: key(&validity),
                validity,
            }),
        };
        let averaged_validity = averaged_over.iter().map(|(_, v)| *v).collect();
        let stem = if method == default {
            "probe_generalisation".to_string()
        } else {
            format!("probe_generalisation_{}", stem_part(method))
        };
        figures.push(Figure {
            stem,
            title: format!("Probe generalisation across families ({method} probe)"),
            panels: vec![
                panel(
                    format!("layer {best} (best mean in-family accuracy)"),
                    at_best,
                    best_validity,
                    "held-out accuracy",
                ),
                panel(
                    "mean over the layers where the row's probe is valid".into(),
                    averaged,
                    averaged_validity,
                    "mean held-out accuracy",
                ),
            ],
        });
    }
    figures
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
        let figures = probe_heatmap_data(&rows, None);
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

    fn fit(layer: i64, method: &str, acc: f64) -> ProbeFit {
        ProbeFit {
            layer,
            method: method.into(),
            accuracy: (acc, acc - 0.1, acc + 0.05),
            auroc: (acc + 0.01, acc - 0.05, acc + 0.02),
            n_test: 40,
        }
    }

    #[test]
    fn heatmap_marks_exactly_the_layer_whose_probe_is_at_chance() {
        let rows: Vec<ProbeRow> = (0..3)
            .flat_map(|layer| [0, 10].map(|step| row("negated", step, layer, "lr", "claim", 0.5)))
            .collect();
        // Layer 1 is below 0.75; layer 2 is exactly at it (valid); mass_mean rows do not count.
        let fits = [
            fit(0, "lr", 0.9),
            fit(1, "lr", 0.6),
            fit(2, "lr", 0.75),
            fit(1, "mass_mean", 0.95),
        ];
        let figures = probe_heatmap_data(&rows, Some(&fits));
        let Plot::Heatmap(map) = &figures[0].panels[0].plot else {
            panic!("not a heatmap")
        };
        assert_eq!(map.ys, [0, 1, 2]);
        assert_eq!(
            map.validity,
            [Validity::Valid, Validity::Invalid, Validity::Valid]
        );
        assert_eq!(
            map.key,
            [(
                Validity::Invalid,
                "hatched: probe at chance (held-out acc < 0.75)".to_string()
            )]
        );
        let csv = figures[0].to_csv();
        let invalid: Vec<&str> = csv.lines().filter(|l| l.ends_with(",false")).collect();
        assert_eq!(invalid.len(), 2, "{csv}");
        assert!(invalid.iter().all(|l| l.contains(",1,0.5,")), "{csv}");
        assert_eq!(csv.lines().filter(|l| l.ends_with(",true")).count(), 4);

        // Without probe_fit.parquet every layer is unknown, and the key says why.
        let figures = probe_heatmap_data(&rows, None);
        let Plot::Heatmap(map) = &figures[0].panels[0].plot else {
            panic!("not a heatmap")
        };
        assert_eq!(map.validity, [Validity::Unknown; 3]);
        assert_eq!(map.key.len(), 1);
        assert!(
            map.key[0].1.contains("no probe_fit.parquet"),
            "{:?}",
            map.key
        );
        assert!(figures[0]
            .to_csv()
            .lines()
            .skip(1)
            .all(|l| l.ends_with(",unknown")));
    }

    #[test]
    fn controls_average_the_valid_layers() {
        let mut rows = vec![];
        for (layer, shift) in [(0, 0.3), (1, 0.0), (2, 0.0)] {
            for step in [0, 10] {
                let s = step as f64 / 100.0 + shift;
                rows.push(row("negated", step, layer, "lr", "claim", 0.2 + s));
                rows.push(row(
                    "negated",
                    step,
                    layer,
                    "lr",
                    "control_true",
                    0.8 + s / 2.0,
                ));
                rows.push(row(
                    "negated",
                    step,
                    layer,
                    "lr",
                    "control_true",
                    0.6 + s / 2.0,
                ));
                rows.push(row("negated", step, layer, "lr", "control_false", 0.1 + s));
                rows.push(row("negated", step, layer, "lr", "negation", 0.9));
            }
        }
        rows.push(row("base", 0, 1, "lr", "claim", 0.2));
        let fits = [fit(0, "lr", 0.5), fit(1, "lr", 0.8), fit(2, "lr", 0.9)];
        let figures = probe_controls_data(&rows, Some(&fits));
        assert_eq!(figures.len(), 1, "base has no control readouts");
        assert_eq!(figures[0].stem, "probe_controls_negated");
        let panel = &figures[0].panels[0];
        assert_eq!(panel.title, "mean P(true) over the valid layers (1-2)");
        let Plot::Lines { series, .. } = &panel.plot else {
            panic!("not lines")
        };
        let labels: Vec<&str> = series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(
            labels,
            ["claim", "control: true facts", "control: false facts"]
        );
        let points = |i: usize| -> Vec<(f64, f64, usize)> {
            series[i].points.iter().map(|p| (p.x, p.y, p.n)).collect()
        };
        let close = |a: Vec<(f64, f64, usize)>, b: [(f64, f64, usize); 2]| {
            a.len() == 2
                && a.iter()
                    .zip(b)
                    .all(|(p, q)| p.0 == q.0 && (p.1 - q.1).abs() < 1e-12 && p.2 == q.2)
        };
        assert!(
            close(points(0), [(0.0, 0.2, 2), (10.0, 0.3, 2)]),
            "{:?}",
            points(0)
        );
        assert!(
            close(points(1), [(0.0, 0.7, 4), (10.0, 0.75, 4)]),
            "{:?}",
            points(1)
        );
        assert!(
            close(points(2), [(0.0, 0.1, 2), (10.0, 0.2, 2)]),
            "{:?}",
            points(2)
        );

        // No valid layer: every layer, and the title says the probes are at chance.
        let at_chance = [fit(0, "lr", 0.5), fit(1, "lr", 0.5), fit(2, "lr", 0.6)];
        let figures = probe_controls_data(&rows, Some(&at_chance));
        assert_eq!(
            figures[0].panels[0].title,
            "mean P(true) over all layers (0-2): no probe is valid (held-out acc < 0.75)"
        );
        let figures = probe_controls_data(&rows, None);
        assert!(figures[0].panels[0].title.contains("validity unknown"));
    }

    #[test]
    fn layer_lists_are_runs() {
        let set = |v: &[i64]| v.iter().copied().collect::<BTreeSet<i64>>();
        assert_eq!(layer_list(&set(&[0, 1, 2, 3, 5, 7, 8])), "0-3, 5, 7-8");
        assert_eq!(layer_list(&set(&[4])), "4");
    }

    #[test]
    fn accuracy_lines_per_method_with_intervals() {
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

    #[test]
    fn generalisation_matrix_at_the_best_layer_hatches_families_at_chance() {
        // Layer 1 is the best (mean diagonal 0.85 against 0.7); family b's probe is at chance
        // there (0.7 < 0.75) and valid only at layer 0.
        let acc = |train: &str, test: &str, layer: i64| match (train, test, layer) {
            ("a", "a", 0) => 0.6,
            ("b", "b", 0) => 0.8,
            ("a", "a", 1) => 1.0,
            ("b", "b", 1) => 0.7,
            (_, _, 0) => 0.5,
            _ => 0.9,
        };
        let mut cells = vec![];
        for method in ["ttpd", "lr"] {
            for layer in [0, 1] {
                for train in ["b", "a"] {
                    for test in ["a", "b"] {
                        cells.push(GeneralisationCell {
                            train_family: train.into(),
                            test_family: test.into(),
                            layer,
                            method: method.into(),
                            accuracy: (acc(train, test, layer), 0.0, 1.0),
                            n_test: 40,
                        });
                    }
                }
            }
        }
        let figures = probe_generalisation_data(&cells);
        let stems: Vec<&str> = figures.iter().map(|f| f.stem.as_str()).collect();
        assert_eq!(stems, ["probe_generalisation", "probe_generalisation_ttpd"]);
        let figure = &figures[0];
        assert_eq!(
            figure.panels[0].title,
            "layer 1 (best mean in-family accuracy)"
        );
        assert_eq!(figure.panels[0].x_label, "tested on (0 a, 1 b)");
        let Plot::Heatmap(best) = &figure.panels[0].plot else {
            panic!("not a heatmap")
        };
        assert_eq!(
            best.cells,
            [
                [Some((1.0, 40)), Some((0.9, 40))],
                [Some((0.9, 40)), Some((0.7, 40))]
            ]
        );
        assert_eq!(best.validity, [Validity::Valid, Validity::Invalid]);
        assert_eq!(best.key.len(), 1);
        // Averaged over the valid layers of each row: a's layer 1, b's layer 0.
        let Plot::Heatmap(mean) = &figure.panels[1].plot else {
            panic!("not a heatmap")
        };
        assert_eq!(
            mean.cells,
            [
                [Some((1.0, 1)), Some((0.9, 1))],
                [Some((0.5, 1)), Some((0.8, 1))]
            ]
        );
        assert_eq!(mean.validity, [Validity::Valid, Validity::Valid]);
        assert!(mean.key.is_empty());
    }
}
