//! Figures of the causal dissection: steering curves against their null band, and heatmaps of
//! activation patching and of the logit lens (site x checkpoint).

use super::figure::{Figure, Heatmap, Panel, Plot, Point, Series, Validity};
use crate::probe::fit::{is_valid_accuracy, MIN_VALID_PROBE_ACCURACY};
use crate::tables::{checkpoint_step, LensRow, PatchRow, SteerRow};
use std::collections::{BTreeMap, BTreeSet};

/// The measure every dissection figure draws: belief pooled over the closed questions.
const MEASURE: &str = "belief:closed";

/// `stem`, suffixed with the condition when there is one.
fn stem_of(stem: &str, condition: &str) -> String {
    if condition.is_empty() {
        stem.to_string()
    } else {
        format!("{stem}_{}", super::figure::stem_part(condition))
    }
}

/// `title`, followed by the condition when there is one.
fn title_of(title: String, condition: &str) -> String {
    if condition.is_empty() {
        title
    } else {
        format!("{title}: {condition}")
    }
}

/// Figures `steer[_<condition>]` (one checkpoint) or `steer[_<condition>]_step<N>` (one per
/// checkpoint): per steered site, pooled closed belief against the push, along the probe's
/// direction and for the random directions of the null (median, with the 5-95% band). Several
/// arms of a condition (seeds, claims) are averaged per push, their null directions pooled. A
/// site whose probe is at chance says so in its panel title.
pub fn steer_data(condition: &str, rows: &[SteerRow]) -> Vec<Figure> {
    let rows: Vec<&SteerRow> = rows.iter().filter(|r| r.measure == MEASURE).collect();
    let checkpoints: BTreeSet<(i64, &str)> = rows
        .iter()
        .map(|r| {
            (
                checkpoint_step(&r.checkpoint).unwrap_or(0),
                r.checkpoint.as_str(),
            )
        })
        .collect();
    let several = checkpoints.len() > 1;
    checkpoints
        .into_iter()
        .map(|(step, checkpoint)| {
            let of: Vec<&SteerRow> = rows
                .iter()
                .copied()
                .filter(|r| r.checkpoint == checkpoint)
                .collect();
            let sites: BTreeSet<usize> = of.iter().map(|r| r.site).collect();
            let panels = sites
                .into_iter()
                .map(|site| steer_panel(&of, site))
                .collect();
            Figure {
                stem: if several {
                    format!("{}_step{step}", stem_of("steer", condition))
                } else {
                    stem_of("steer", condition)
                },
                title: title_of(
                    format!("Steering along the truth probe vs random directions ({checkpoint})"),
                    condition,
                ),
                panels,
            }
        })
        .collect()
}

/// One site's steering curves.
fn steer_panel(rows: &[&SteerRow], site: usize) -> Panel {
    let at: Vec<&SteerRow> = rows.iter().copied().filter(|r| r.site == site).collect();
    let accuracy = at.iter().find_map(|r| r.probe_accuracy);
    // Per push (keyed in millionths): the values along the probe (the unsteered ones at 0) and
    // along the random directions.
    let mut values: BTreeMap<(i64, &str), (f64, Vec<f64>, usize)> = BTreeMap::new();
    for r in &at {
        let direction = if r.direction == "none" {
            "probe"
        } else {
            r.direction.as_str()
        };
        let entry = values
            .entry(((r.alpha * 1e6).round() as i64, direction))
            .or_insert((r.alpha, vec![], r.n));
        entry.1.push(r.value);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let probe: Vec<Point> = values
        .iter()
        .filter(|((_, d), _)| *d == "probe")
        .map(|(_, (alpha, v, n))| point(*alpha, mean(v), None, *n))
        .collect();
    let mut null: Vec<Point> = values
        .iter()
        .filter(|((_, d), _)| *d == "random")
        .map(|(_, (alpha, v, n))| {
            let mut v = v.clone();
            v.sort_by(f64::total_cmp);
            let q = |p: f64| crate::intervene::steer::quantile(&v, p);
            point(*alpha, q(0.5), Some((q(0.05), q(0.95))), *n)
        })
        .collect();
    if let Some(base) = values.get(&(0, "probe")) {
        let y = mean(&base.1);
        null.push(point(0.0, y, Some((y, y)), base.2));
        null.sort_by(|a, b| a.x.total_cmp(&b.x));
    }
    let validity = match accuracy {
        Some(a) if is_valid_accuracy(a) => format!("probe held-out acc {a:.2}"),
        Some(a) => format!(
            "probe held-out acc {a:.2} < {MIN_VALID_PROBE_ACCURACY}: at chance, not a truth direction"
        ),
        None => "probe accuracy unknown".into(),
    };
    Panel {
        title: format!("site {site} ({validity})"),
        x_label: "push (x the site's mean residual norm; + = towards true)".into(),
        y_label: "belief (closed questions)".into(),
        y_range: Some((0.0, 1.0)),
        plot: Plot::Lines {
            series: vec![
                Series {
                    label: "probe direction".into(),
                    points: probe,
                },
                Series {
                    label: "random directions (median, 5-95%)".into(),
                    points: null,
                },
            ],
            markers: vec![],
        },
    }
}

fn point(x: f64, y: f64, band: Option<(f64, f64)>, n: usize) -> Point {
    Point {
        x,
        y,
        lo: band.map(|b| b.0),
        hi: band.map(|b| b.1),
        n,
    }
}

/// Mean value and summed count of each (site, step) of `cells` (several arms of a condition);
/// `None` where no arm has a value.
fn averaged(
    cells: impl IntoIterator<Item = ((usize, i64), Option<(f64, usize)>)>,
) -> BTreeMap<(usize, i64), Option<(f64, usize)>> {
    let mut sums: BTreeMap<(usize, i64), (f64, usize, usize)> = BTreeMap::new();
    for (key, cell) in cells {
        let entry = sums.entry(key).or_insert((0.0, 0, 0));
        if let Some((value, n)) = cell {
            entry.0 += value;
            entry.1 += n;
            entry.2 += 1;
        }
    }
    sums.into_iter()
        .map(|(key, (sum, n, arms))| (key, (arms > 0).then(|| (sum / arms as f64, n))))
        .collect()
}

/// A site x checkpoint heatmap of `cells` (site, step) -> (value, n), blank where `None`.
fn site_heatmap(
    cells: &BTreeMap<(usize, i64), Option<(f64, usize)>>,
    value_label: &str,
    value_range: (f64, f64),
) -> Heatmap {
    let xs: Vec<i64> = cells
        .keys()
        .map(|k| k.1)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let sites: Vec<usize> = cells
        .keys()
        .map(|k| k.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    Heatmap {
        cells: sites
            .iter()
            .map(|&s| {
                xs.iter()
                    .map(|&x| cells.get(&(s, x)).copied().flatten())
                    .collect()
            })
            .collect(),
        validity: vec![Validity::Valid; sites.len()],
        ys: sites.iter().map(|&s| s as i64).collect(),
        xs,
        value_label: value_label.into(),
        value_range,
        key: vec![],
    }
}

/// Figure `patch_heatmap[_<condition>]`: the share of the belief gap between source and target
/// that patching one site closes, per site and target checkpoint (blank where the gap is too
/// small to share; the mean over a condition's arms).
pub fn patch_heatmap_data(condition: &str, rows: &[PatchRow]) -> Option<Figure> {
    let rows: Vec<&PatchRow> = rows.iter().filter(|r| r.measure == MEASURE).collect();
    let source = rows.first()?.source.clone();
    let cells = averaged(rows.iter().filter_map(|r| {
        let step = checkpoint_step(&r.checkpoint)?;
        Some(((r.site, step), r.restored.map(|v| (v, r.n))))
    }));
    Some(Figure {
        stem: stem_of("patch_heatmap", condition),
        title: title_of(format!("Activation patching from {source}"), condition),
        panels: vec![Panel {
            title: format!(
                "share of the source-target belief gap closed by patching one site (blank: gap < {})",
                crate::intervene::patch::MIN_GAP
            ),
            x_label: "target checkpoint (training step)".into(),
            y_label: "site (0 = embeddings)".into(),
            y_range: None,
            plot: Plot::Heatmap(site_heatmap(&cells, "restored share", (0.0, 1.0))),
        }],
    })
}

/// Figure `lens_heatmap[_<condition>]`: the logit lens's belief (first answer tokens) per site
/// and checkpoint (the mean over a condition's arms).
pub fn lens_heatmap_data(condition: &str, rows: &[LensRow]) -> Option<Figure> {
    let rows: Vec<&LensRow> = rows.iter().filter(|r| r.measure == MEASURE).collect();
    let skipped = rows.first()?.skipped;
    let cells = averaged(rows.iter().filter_map(|r| {
        let step = checkpoint_step(&r.checkpoint)?;
        Some(((r.site, step), Some((r.value, r.n))))
    }));
    Some(Figure {
        stem: stem_of("lens_heatmap", condition),
        title: title_of("Logit lens: belief read from each site".into(), condition),
        panels: vec![Panel {
            title: format!(
                "mass on the believing answers' first tokens ({skipped} questions with shared first tokens left out)"
            ),
            x_label: "training step".into(),
            y_label: "site (0 = embeddings)".into(),
            y_range: None,
            plot: Plot::Heatmap(site_heatmap(&cells, "lens belief", (0.0, 1.0))),
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steer_row(direction: &str, id: usize, alpha: f64, value: f64) -> SteerRow {
        SteerRow {
            checkpoint: "-".into(),
            site: 3,
            direction: direction.into(),
            direction_id: id,
            alpha,
            alpha_raw: alpha,
            measure: MEASURE.into(),
            value,
            n: 30,
            probe_accuracy: Some(0.6),
        }
    }

    #[test]
    fn steering_curves_hold_the_probe_and_the_null_band() {
        let mut rows = vec![
            steer_row("none", 0, 0.0, 0.5),
            steer_row("probe", 0, 1.0, 0.8),
            steer_row("probe", 0, -1.0, 0.1),
        ];
        for (id, v) in (1..=21).zip((0..21).map(|i| 0.4 + 0.01 * i as f64)) {
            rows.push(steer_row("random", id, 1.0, v));
        }
        let figures = steer_data("", &rows);
        assert_eq!(figures.len(), 1);
        assert_eq!(figures[0].stem, "steer");
        let panel = &figures[0].panels[0];
        assert!(panel.title.contains("at chance"), "{}", panel.title);
        let Plot::Lines { series, .. } = &panel.plot else {
            panic!("lines expected")
        };
        let probe: Vec<(f64, f64)> = series[0].points.iter().map(|p| (p.x, p.y)).collect();
        assert_eq!(probe, vec![(-1.0, 0.1), (0.0, 0.5), (1.0, 0.8)]);
        let null = series[1].points.iter().find(|p| p.x == 1.0).unwrap();
        assert!((null.y - 0.5).abs() < 1e-9);
        assert!((null.lo.unwrap() - 0.41).abs() < 1e-9 && (null.hi.unwrap() - 0.59).abs() < 1e-9);
    }

    #[test]
    fn heatmaps_place_sites_by_checkpoint_and_leave_small_gaps_blank() {
        let patch = |checkpoint: &str, site, restored| PatchRow {
            source: "base".into(),
            checkpoint: checkpoint.into(),
            site,
            measure: MEASURE.into(),
            source_value: 0.1,
            target_value: 0.9,
            patched_value: 0.5,
            restored,
            n: 20,
        };
        let rows = vec![
            patch("step-0", 0, None),
            patch("step-10", 0, Some(0.0)),
            patch("step-10", 2, Some(0.75)),
        ];
        let figure = patch_heatmap_data("", &rows).unwrap();
        let Plot::Heatmap(h) = &figure.panels[0].plot else {
            panic!("heatmap expected")
        };
        assert_eq!(h.xs, vec![0, 10]);
        assert_eq!(h.ys, vec![0, 2]);
        assert_eq!(
            h.cells,
            vec![vec![None, Some((0.0, 20))], vec![None, Some((0.75, 20))]]
        );
    }
}
