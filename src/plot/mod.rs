//! Figures from an experiment's stored tables, without touching a model.
//!
//! In: a tables folder (`analyses/<name>/`) holding any of `belief.parquet`, `loss.parquet`,
//! `probe.parquet`, `probe_fit.parquet` (columns in [`crate::tables`]). Out: for every figure whose
//! tables are there, `<stem>.png`, `<stem>.svg` and `<stem>.csv` (the numbers drawn) in the
//! figures folder (`figures/<name>/`), each written atomically. Absent tables skip their
//! figures with a line on stderr; a table without a column a figure needs is an error naming
//! the file and the column.
//!
//! | stem | from | shows |
//! |---|---|---|
//! | `belief_by_condition` | belief | belief at each arm's last checkpoint per condition (bars) |
//! | `belief_vs_step` | belief | belief per training step, one line per condition |
//! | `pink_elephant` | belief | token-association belief, local negations with and without masks |
//! | `phases` | belief, loss | Phase 1 / Phase 2 belief and held-out loss, phase boundary marked |
//! | `loss_by_kind_<condition>` | loss | held-out loss per token kind, one panel per held-out set |
//! | `probe_heatmap_<condition>[_<method>]` | probe, probe_fit | mean P(true) of the claim, layer x step; layers whose probe is at chance hatched |
//! | `probe_controls_<condition>[_<method>]` | probe, probe_fit | mean P(true) of the claim and of true and false control facts per step, over valid layers |
//! | `probe_accuracy` | probe_fit | base-model probe accuracy and AUROC per layer |
//! | `probe_generalisation[_<method>]` | probe_generalisation | probe trained on family A, tested on family B, at the best layer and over the valid layers; rows at chance hatched |
//! | `steer[_step<N>]` | steer | belief against the push along the probe and random directions (null band), a panel per site |
//! | `patch_heatmap` | patch | share of the source-target belief gap closed by patching each site, site x checkpoint |
//! | `lens_heatmap` | lens | logit-lens belief, site x checkpoint |
//!
//! Each figure is built by a pure `*_data` function (tables in, [`Figure`] out: every number
//! drawn), then drawn by the one renderer, [`render()`]; tests check the data, not pixels.
//!
//! - [`figure`]: the figure data types and their CSV form
//! - [`belief`], [`loss`], [`probe`], [`intervene`]: the `*_data` functions
//! - [`paper`]: the paper's reported belief per condition, the reference beside measured belief
//! - [`mod@render`]: PNG + SVG + CSV with plotters
//! - the `figures` verb that calls [`render_all`] on an experiment is [`crate::experiment::figures`]

pub mod belief;
pub mod figure;
pub mod intervene;
pub mod loss;
pub mod paper;
pub mod probe;
pub mod render;

pub use belief::{belief_by_condition_data, belief_vs_step_data, phases_data, pink_elephant_data};
pub use figure::Figure;
pub use intervene::{lens_heatmap_data, patch_heatmap_data, steer_data};
pub use loss::loss_by_kind_data;
pub use probe::{
    probe_accuracy_data, probe_controls_data, probe_generalisation_data, probe_heatmap_data,
};
pub use render::render;

use crate::tables;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Reads `dir/name` with `read` when it exists and has rows; otherwise says on stderr which
/// figures are skipped and returns `None`.
fn read_table<T>(
    dir: &Path,
    name: &str,
    figures: &str,
    read: fn(&Path) -> Result<Vec<T>>,
) -> Result<Option<Vec<T>>> {
    let path = dir.join(name);
    if !path.exists() {
        eprintln!("figures: {} absent: skipping {figures}", path.display());
        return Ok(None);
    }
    let rows = read(&path)?;
    if rows.is_empty() {
        eprintln!(
            "figures: {} has no rows: skipping {figures}",
            path.display()
        );
        return Ok(None);
    }
    Ok(Some(rows))
}

/// Every figure whose tables exist in `tables_dir` (skipped ones are named on stderr).
pub fn figures(tables_dir: &Path) -> Result<Vec<Figure>> {
    if !tables_dir.is_dir() {
        bail!("{}: not a directory of tables", tables_dir.display());
    }
    let losses = read_table(
        tables_dir,
        tables::LOSS_FILE,
        "loss_by_kind_* and the loss panel of phases",
        tables::read_arm_losses,
    )?;
    let answers = read_table(
        tables_dir,
        tables::BELIEF_FILE,
        "belief_by_condition, belief_vs_step, pink_elephant, phases",
        tables::read_answers,
    )?;
    let probes = read_table(
        tables_dir,
        tables::PROBE_FILE,
        "probe_heatmap_*, probe_controls_*",
        tables::read_probes,
    )?;
    let generalisation = read_table(
        tables_dir,
        tables::PROBE_GENERALISATION_FILE,
        "probe_generalisation*",
        tables::read_probe_generalisation,
    )?;
    let fits = read_table(
        tables_dir,
        tables::PROBE_FIT_FILE,
        "probe_accuracy (probe heatmaps mark every layer's validity unknown)",
        tables::read_probe_fits,
    )?;

    let mut figures = vec![];
    if let Some(answers) = &answers {
        let context = || tables_dir.join(tables::BELIEF_FILE).display().to_string();
        figures.push(belief_by_condition_data(answers).with_context(context)?);
        figures.push(belief_vs_step_data(answers).with_context(context)?);
        match pink_elephant_data(answers) {
            Some(figure) => figures.push(figure),
            None => eprintln!(
                "figures: skipping pink_elephant: no token-association answers of local_masked \
                 or user_turn_masked"
            ),
        }
        match phases_data(answers, losses.as_deref().unwrap_or_default()) {
            Some(figure) => figures.push(figure),
            None => eprintln!("figures: skipping phases: no phase1 answers"),
        }
    }
    if let Some(losses) = &losses {
        figures.extend(loss_by_kind_data(losses));
    }
    if let Some(probes) = &probes {
        let heatmaps = probe_heatmap_data(probes, fits.as_deref());
        if heatmaps.is_empty() {
            eprintln!("figures: skipping probe_heatmap_*: no rows with statement_kind claim");
        }
        figures.extend(heatmaps);
        let controls = probe_controls_data(probes, fits.as_deref());
        if controls.is_empty() {
            eprintln!(
                "figures: skipping probe_controls_*: no rows with statement_kind control_true or \
                 control_false"
            );
        }
        figures.extend(controls);
    }
    if let Some(cells) = &generalisation {
        figures.extend(probe_generalisation_data(cells));
    }
    // The causal dissection's tables, when the folder has them (no line when absent: most
    // experiments do not dissect).
    let present = |name: &str| Some(tables_dir.join(name)).filter(|p| p.is_file());
    if let Some(path) = present(tables::STEER_FILE) {
        for (condition, rows) in tables::read_steer(&path)? {
            figures.extend(steer_data(&condition, &rows));
        }
    }
    if let Some(path) = present(tables::PATCH_FILE) {
        for (condition, rows) in tables::read_patch(&path)? {
            figures.extend(patch_heatmap_data(&condition, &rows));
        }
    }
    if let Some(path) = present(tables::LENS_FILE) {
        for (condition, rows) in tables::read_lens(&path)? {
            figures.extend(lens_heatmap_data(&condition, &rows));
        }
    }
    if let Some(fits) = &fits {
        let context = || {
            tables_dir
                .join(tables::PROBE_FIT_FILE)
                .display()
                .to_string()
        };
        figures.push(probe_accuracy_data(fits).with_context(context)?);
    }
    Ok(figures)
}

/// Builds every figure whose tables exist in `tables_dir` and writes each as PNG, SVG and CSV
/// into `out_dir`; returns the files written.
pub fn render_all(tables_dir: &Path, out_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = vec![];
    for figure in figures(tables_dir)? {
        written.extend(render(&figure, &out_dir.join(&figure.stem))?);
    }
    Ok(written)
}
