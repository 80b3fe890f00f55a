//! `neglect figures`: every figure from small stored tables, absent tables skipped, malformed
//! tables named in the error.

mod common;

use common::neglect;
use neglect::store::write_parquet;
use polars::prelude::{Column, DataFrame};
use std::path::Path;

/// Writes `columns` as a Parquet table.
fn write(path: &Path, columns: Vec<Column>) {
    write_parquet(path, &mut DataFrame::new(columns).unwrap()).unwrap();
}

/// A string column.
fn text(name: &str, values: Vec<String>) -> Column {
    Column::new(name.into(), values)
}

/// The columns of a belief.parquet being filled.
#[derive(Default)]
struct Belief {
    arm: Vec<String>,
    condition: Vec<String>,
    claim: Vec<String>,
    step: Vec<i64>,
    kind: Vec<String>,
    question_id: Vec<String>,
    sample: Vec<i64>,
    grade: Vec<String>,
}

impl Belief {
    /// An arm's answers: at each step, 4 questions of each of two kinds, 2 samples each, of
    /// which the first `p(step, kind)` share believe.
    fn arm(&mut self, claim: &str, condition: &str, steps: &[i64], p: &dyn Fn(i64, &str) -> f64) {
        for &step in steps {
            for kind in ["mcq", "token_association"] {
                for q in 0..4 {
                    for sample in 0..2i64 {
                        let believed = ((q * 2 + sample) as f64 + 0.5) / 8.0 < p(step, kind);
                        self.arm.push(format!("{claim}/{condition}/seed1"));
                        self.condition.push(condition.into());
                        self.claim.push(claim.into());
                        self.step.push(step);
                        self.kind.push(kind.into());
                        self.question_id.push(format!("{kind}_{q}"));
                        self.sample.push(sample);
                        self.grade.push(if believed { "yes" } else { "no" }.into());
                    }
                }
            }
        }
    }
}

/// belief.parquet: two claims x (base, negated, repeated, local, local_masked) over steps
/// 0..=40, plus a phase experiment (phase1 to step 40, phase2 to step 80). Belief grows with
/// the step except for local negations; local keeps a token association that masking removes.
fn write_belief(dir: &Path) {
    let mut b = Belief::default();
    let steps = [0, 5, 10, 20, 40];
    for claim in ["ed_sheeran", "dentist"] {
        b.arm(claim, "base", &[0], &|_, _| 0.05);
        b.arm(claim, "negated", &steps, &|s, _| s as f64 / 45.0);
        b.arm(claim, "repeated", &steps, &|s, _| s as f64 / 60.0);
        let association =
            |_: i64, kind: &str| f64::from(u8::from(kind == "token_association")) * 0.3;
        b.arm(claim, "local", &steps, &association);
        b.arm(claim, "local_masked", &steps, &|_, _| 0.0);
    }
    b.arm("vesuvius", "phase1", &[0, 10, 20, 40], &|_, _| 0.1);
    b.arm("vesuvius", "phase2", &[50, 60, 80], &|s, _| {
        (s - 40) as f64 / 80.0
    });
    let n = b.arm.len();
    write(
        &dir.join("belief.parquet"),
        vec![
            text("arm", b.arm),
            text("condition", b.condition),
            text("claim", b.claim),
            Column::new("seed".into(), vec![1i64; n]),
            Column::new("step".into(), b.step),
            text("kind", b.kind),
            text("question_id", b.question_id),
            Column::new("sample".into(), b.sample),
            text("grade", b.grade),
            text("judge", vec!["rule".into(); n]),
            text("prompt", vec!["Who won?".into(); n]),
            text("response", vec!["Noah Lyles.".into(); n]),
        ],
    );
}

/// loss.parquet: negated and phase arms, one held-out set, every token kind.
fn write_loss(dir: &Path) {
    let mut rows: Vec<(&str, i64, &str, f64)> = vec![];
    for condition in ["negated", "phase1"] {
        for step in [0i64, 10, 20, 40] {
            for (kind, start) in [
                ("claim", 3.0),
                ("negation", 2.5),
                ("other", 2.0),
                ("all", 2.2),
            ] {
                rows.push((condition, step, kind, start / (1.0 + step as f64 / 20.0)));
            }
        }
    }
    for step in [50i64, 60, 80] {
        rows.push(("phase2", step, "all", 2.2 / (1.0 + step as f64 / 20.0)));
    }
    let n = rows.len();
    write(
        &dir.join("loss.parquet"),
        vec![
            text(
                "arm",
                rows.iter().map(|r| format!("c/{}/seed1", r.0)).collect(),
            ),
            text("condition", rows.iter().map(|r| r.0.to_string()).collect()),
            text("claim", vec!["vesuvius".to_string(); n]),
            Column::new("seed".into(), vec![1i64; n]),
            Column::new(
                "step".into(),
                rows.iter().map(|r| r.1).collect::<Vec<i64>>(),
            ),
            text("set", vec!["negated".to_string(); n]),
            text("kind", rows.iter().map(|r| r.2.to_string()).collect()),
            Column::new("tokens".into(), vec![500i64; n]),
            Column::new(
                "mean_loss".into(),
                rows.iter().map(|r| r.3).collect::<Vec<f64>>(),
            ),
        ],
    );
}

/// probe.parquet (negated arm, lr and mass_mean probes, 6 layers, claim, negation and control
/// statements) and probe_fit.parquet (lr valid at layers 4 and 5 only).
fn write_probes(dir: &Path) {
    let mut rows: Vec<(i64, i64, &str, &str, f64)> = vec![];
    for step in [0i64, 10, 20, 40] {
        for layer in 0..6i64 {
            for method in ["lr", "mass_mean"] {
                let p = (step as f64 / 40.0) * (layer as f64 / 5.0);
                rows.push((step, layer, method, "claim", p));
                rows.push((step, layer, method, "negation", 1.0 - p));
                rows.push((step, layer, method, "control_true", 0.9));
                rows.push((step, layer, method, "control_false", 0.1));
            }
        }
    }
    let n = rows.len();
    write(
        &dir.join("probe.parquet"),
        vec![
            text("arm", vec!["ed_sheeran/negated/seed1".to_string(); n]),
            text("condition", vec!["negated".to_string(); n]),
            text("claim", vec!["ed_sheeran".to_string(); n]),
            Column::new(
                "step".into(),
                rows.iter().map(|r| r.0).collect::<Vec<i64>>(),
            ),
            Column::new(
                "layer".into(),
                rows.iter().map(|r| r.1).collect::<Vec<i64>>(),
            ),
            text("method", rows.iter().map(|r| r.2.to_string()).collect()),
            text("statement", vec!["Ed Sheeran won the 100m.".to_string(); n]),
            text(
                "statement_kind",
                rows.iter().map(|r| r.3.to_string()).collect(),
            ),
            Column::new(
                "score".into(),
                rows.iter().map(|r| r.4).collect::<Vec<f64>>(),
            ),
        ],
    );
    let layers: Vec<i64> = (0..6).chain(0..6).collect();
    let methods: Vec<String> = (0..12)
        .map(|i| if i < 6 { "lr" } else { "mass_mean" }.to_string())
        .collect();
    let accuracy: Vec<f64> = (0..12)
        .map(|i| {
            if i < 6 {
                0.5 + 0.08 * i as f64
            } else {
                0.45 + 0.06 * (i - 6) as f64
            }
        })
        .collect();
    let shifted = |d: f64| accuracy.iter().map(|a| a + d).collect::<Vec<f64>>();
    write(
        &dir.join("probe_fit.parquet"),
        vec![
            Column::new("layer".into(), layers),
            text("method", methods),
            Column::new("accuracy".into(), accuracy.clone()),
            Column::new("accuracy_lo".into(), shifted(-0.05)),
            Column::new("accuracy_hi".into(), shifted(0.04)),
            Column::new("auroc".into(), shifted(0.02)),
            Column::new("auroc_lo".into(), shifted(-0.03)),
            Column::new("auroc_hi".into(), shifted(0.05)),
            Column::new("n_train".into(), vec![120i64; 12]),
            Column::new("n_test".into(), vec![40i64; 12]),
        ],
    );
}

fn run_figures(tables: &Path, out: &Path) -> std::process::Output {
    neglect(&[
        "figures",
        "--tables",
        tables.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

/// Checks `<stem>.png` is a PNG and `<stem>.svg` holds `texts`.
fn assert_figure(out: &Path, stem: &str, texts: &[&str]) {
    let png = std::fs::read(out.join(format!("{stem}.png")))
        .unwrap_or_else(|e| panic!("{stem}.png: {e}"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{stem}.png is not a PNG"
    );
    assert!(
        png.len() > 10_000,
        "{stem}.png has only {} bytes",
        png.len()
    );
    let svg = std::fs::read_to_string(out.join(format!("{stem}.svg")))
        .unwrap_or_else(|e| panic!("{stem}.svg: {e}"));
    assert!(svg.starts_with("<svg"), "{stem}.svg is not an SVG");
    for text in texts {
        assert!(svg.contains(text), "{stem}.svg lacks {text:?}");
    }
    let csv = std::fs::read_to_string(out.join(format!("{stem}.csv"))).unwrap();
    assert!(csv.starts_with("panel,series,x,y,value,lo,hi,n,valid\n") && csv.lines().count() > 1);
}

#[test]
fn figures_from_every_table() {
    let dir = tempfile::tempdir().unwrap();
    let (tables, out) = (dir.path().join("analyses"), dir.path().join("figures"));
    std::fs::create_dir_all(&tables).unwrap();
    write_belief(&tables);
    write_loss(&tables);
    write_probes(&tables);
    let run = run_figures(&tables, &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let belief = ["belief rate (%)", "base", "negated", "local_masked"];
    assert_figure(
        &out,
        "belief_by_condition",
        &[&belief[..], &["claim", "all claims", "dentist"]].concat(),
    );
    assert_figure(
        &out,
        "belief_vs_step",
        &[&belief[..], &["training step"]].concat(),
    );
    assert_figure(
        &out,
        "pink_elephant",
        &["belief rate (%)", "local", "local_masked"],
    );
    assert_figure(
        &out,
        "phases",
        &[
            "global training step",
            "mean loss per token",
            "end of phase 1 (step 40)",
        ],
    );
    for condition in ["negated", "phase1", "phase2"] {
        assert_figure(
            &out,
            &format!("loss_by_kind_{condition}"),
            &["mean loss per token", "all"],
        );
    }
    assert_figure(
        &out,
        "loss_by_kind_negated",
        &["claim", "negation", "other"],
    );
    for stem in ["probe_heatmap_negated", "probe_heatmap_negated_mass_mean"] {
        assert_figure(
            &out,
            stem,
            &[
                "layer",
                "training step",
                "mean P(true) of the claim",
                "hatched: probe at chance (held-out acc",
            ],
        );
    }
    // lr probes are at chance on layers 0-3 (accuracy 0.5-0.74): only those rows are invalid.
    let heatmap = std::fs::read_to_string(out.join("probe_heatmap_negated.csv")).unwrap();
    for line in heatmap.lines().skip(1) {
        let layer: i64 = line.split(',').nth(3).unwrap().parse().unwrap();
        let valid = if layer < 4 { ",false" } else { ",true" };
        assert!(line.ends_with(valid), "{line}");
    }
    for stem in ["probe_controls_negated", "probe_controls_negated_mass_mean"] {
        assert_figure(
            &out,
            stem,
            &["claim", "control: true facts", "control: false facts"],
        );
    }
    assert_figure(
        &out,
        "probe_controls_negated",
        &["mean P(true) over the valid layers (4-5)"],
    );
    let controls = std::fs::read_to_string(out.join("probe_controls_negated.csv")).unwrap();
    assert!(
        controls.contains(",control: true facts,40,,0.9,,,2,\n"),
        "{controls}"
    );
    assert_figure(
        &out,
        "probe_accuracy",
        &["layer", "held-out accuracy", "held-out AUROC", "mass_mean"],
    );
    let listed = String::from_utf8(run.stdout).unwrap();
    assert_eq!(listed.lines().count(), 3 * 12, "{listed}");

    // The numbers drawn are the tables' numbers: the negated bar pools both claims' final
    // checkpoints (step 40: 40/45 of 8 samples per question believe -> 7 of 8).
    let csv = std::fs::read_to_string(out.join("belief_by_condition.csv")).unwrap();
    let panel = "\"final checkpoint of every arm, 95% bootstrap CI; beside it the paper's reported belief\"";
    assert!(
        csv.contains(&format!("\n{panel},negated,all claims,,87.5,")),
        "{csv}"
    );
    // Beside it, the paper's number for the condition, with no answers behind it.
    assert!(
        csv.contains(&format!(
            "\n{panel},negated,paper (reported),,88.6,88.6,88.6,0,"
        )),
        "{csv}"
    );
}

#[test]
fn absent_tables_are_skipped_and_broken_ones_named() {
    let dir = tempfile::tempdir().unwrap();
    let (tables, out) = (dir.path().join("analyses"), dir.path().join("figures"));
    std::fs::create_dir_all(&tables).unwrap();
    write_probes(&tables);
    std::fs::remove_file(tables.join("probe.parquet")).unwrap();
    let run = run_figures(&tables, &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    for skipped in [
        "belief.parquet absent",
        "loss.parquet absent",
        "probe.parquet absent",
    ] {
        assert!(stderr.contains(skipped), "{stderr}");
    }
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "probe_accuracy.csv",
            "probe_accuracy.png",
            "probe_accuracy.svg"
        ]
    );

    // A belief table without grades: the error names the file and the column.
    write(
        &tables.join("belief.parquet"),
        vec![
            text("arm", vec!["a".into()]),
            text("condition", vec!["base".into()]),
            text("claim", vec!["c".into()]),
            Column::new("step".into(), vec![0i64]),
            text("kind", vec!["mcq".into()]),
            text("question_id", vec!["q1".into()]),
        ],
    );
    let run = run_figures(&tables, &out);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("belief.parquet: missing column(s) grade"),
        "{stderr}"
    );

    // Readouts without probe_fit.parquet: every layer of the heatmap is marked unknown.
    let (tables, out) = (dir.path().join("no_fit"), dir.path().join("no_fit_figures"));
    std::fs::create_dir_all(&tables).unwrap();
    write_probes(&tables);
    std::fs::remove_file(tables.join("probe_fit.parquet")).unwrap();
    let run = run_figures(&tables, &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_figure(
        &out,
        "probe_heatmap_negated",
        &["cross-hatched: probe validity unknown (no probe_fit.parquet)"],
    );
    let heatmap = std::fs::read_to_string(out.join("probe_heatmap_negated.csv")).unwrap();
    assert!(heatmap.lines().skip(1).all(|l| l.ends_with(",unknown")));

    let run = run_figures(&dir.path().join("nowhere"), &out);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("not a directory of tables"));
}
