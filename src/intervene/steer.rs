//! Steering: `alpha` times a unit direction added to the residual stream at one site, every
//! position, while the claim's closed questions are scored (and, when given, held-out
//! documents' loss is measured by token kind).
//!
//! The direction is a truth probe's, mapped back to the raw residual stream (a probe reads
//! `direction . ((x - mean) / scale)`, so the raw direction is `direction / scale`, normalised):
//! positive `alpha` pushes towards "true". `alpha` is given in units of the site's mean residual
//! norm over the questions' tokens (so one grid means the same push at every site and in every
//! model); the raw length is kept beside it. The null is `null` random unit directions (seeded
//! Gaussian draws), pushed with the same `alpha`: the probe's effect is read against their
//! spread, as a percentile.

use super::{by_kind, closed_beliefs, prompt_streams, AddVector, ClosedQuestion, POOLED};
use crate::claims::questions::ClaimQuestions;
use crate::eval::judge::{Grade, Judge};
use crate::eval::{evaluate, EvalOptions, RowLabels};
use crate::model::LoadedModel;
use crate::probe::probes::{Method, ProbeSet};
use crate::tables::SteerRow;
use crate::train::data::Batch;
use crate::train::finetune::heldout_loss;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

/// Direction label of the unsteered measurement (alpha 0).
pub const UNSTEERED: &str = "none";
/// Direction label of the probe's direction.
pub const PROBE: &str = "probe";
/// Direction label of a null direction.
pub const RANDOM: &str = "random";

/// What to sweep.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SteerOptions {
    /// Pushes, in units of the site's mean residual norm (0 is measured once, unsteered).
    pub alphas: Vec<f64>,
    /// Random directions of the null.
    pub null: usize,
    /// Seed of the random directions.
    pub seed: u64,
}

/// A site's probe direction in the raw residual stream and the probe's held-out accuracy.
#[derive(Debug)]
pub struct SiteDirection {
    /// Unit vector `[d_model]` (f32, CPU).
    pub direction: Tensor,
    /// Held-out accuracy of the probe on its statements, when the probe folder records it.
    pub accuracy: Option<f64>,
}

/// The probe of `method` at each of `sites`, as raw-stream unit directions, with accuracies
/// from the probe folder's `fit.parquet` when present. A probe without a direction (fitted on
/// activations that do not vary, as the embeddings of a statement's last token) is left out
/// with a line on stderr; none left is an error.
pub fn probe_directions(
    probes: &ProbeSet,
    probe_dir: &Path,
    method: Method,
    sites: &[usize],
) -> Result<BTreeMap<usize, SiteDirection>> {
    let accuracies = probe_accuracies(probe_dir, method)?;
    let mut directions = BTreeMap::new();
    for &site in sites {
        let probe = probes
            .probes
            .iter()
            .find(|p| p.method == method && p.layer == site)
            .with_context(|| {
                format!(
                    "{}: no {} probe at layer {site}",
                    probe_dir.display(),
                    method.name()
                )
            })?;
        let raw = (&probe.direction / &probe.scale).to_kind(Kind::Float);
        let norm = raw.norm().double_value(&[]);
        if !(norm.is_finite() && norm > 0.0) {
            eprintln!(
                "steer: the {} probe at layer {site} has no direction: site {site} left out",
                method.name()
            );
            continue;
        }
        directions.insert(
            site,
            SiteDirection {
                direction: raw / norm,
                accuracy: accuracies.get(&site).copied(),
            },
        );
    }
    if directions.is_empty() {
        bail!(
            "{}: no {} probe with a direction at the sites asked",
            probe_dir.display(),
            method.name()
        );
    }
    Ok(directions)
}

/// Held-out accuracy per layer of `method` from `fit.parquet` in a probe folder (empty when the
/// folder has none).
fn probe_accuracies(probe_dir: &Path, method: Method) -> Result<BTreeMap<usize, f64>> {
    let path = probe_dir.join(crate::probe::cli::FIT_FILE);
    let Some(table) = crate::tables::read_if_present(&path, &["layer", "method", "accuracy"])?
    else {
        return Ok(BTreeMap::new());
    };
    let (layers, methods, accuracy) = (
        table.i64("layer")?,
        table.str("method")?,
        table.f64("accuracy")?,
    );
    Ok((0..layers.len())
        .filter(|&i| methods[i] == method.name())
        .map(|i| (layers[i] as usize, accuracy[i]))
        .collect())
}

/// `n` random unit directions `[n, d]` (f32, CPU), the same for the same seed.
pub fn random_directions(n: usize, d: i64, seed: u64) -> Tensor {
    let generator_seed = seed as i64;
    tch::manual_seed(generator_seed);
    let draws = Tensor::randn([n as i64, d], (Kind::Float, Device::Cpu));
    let norms = draws.norm_scalaropt_dim(2, [1], true);
    draws / norms
}

/// Mean L2 norm of the residual stream at each of `sites` over the questions' prompt tokens.
pub fn mean_residual_norms(
    model: &LoadedModel,
    closed: &[ClosedQuestion],
    sites: &[usize],
    batch: usize,
) -> Result<BTreeMap<usize, f64>> {
    let prompts: Vec<&Vec<i64>> = closed.iter().map(|q| &q.items[0].prompt).collect();
    let mut sums = vec![0f64; sites.len()];
    let mut tokens = 0usize;
    for chunk in prompts.chunks(batch.max(1)) {
        let (hidden, lengths) = prompt_streams(model, chunk);
        let seq = hidden[0].size()[1];
        // 1 on each row's prompt tokens, 0 on its padding.
        let real = Tensor::arange(seq, (Kind::Int64, model.decoder.device()))
            .unsqueeze(0)
            .lt_tensor(
                &Tensor::from_slice(&lengths.iter().map(|&l| l as i64).collect::<Vec<_>>())
                    .to_device(model.decoder.device())
                    .unsqueeze(1),
            )
            .to_kind(Kind::Float);
        for (i, &site) in sites.iter().enumerate() {
            let norms = hidden[site]
                .to_kind(Kind::Float)
                .norm_scalaropt_dim(2, [2], false);
            sums[i] += (norms * &real).sum(Kind::Double).double_value(&[]);
        }
        tokens += lengths.iter().sum::<usize>();
    }
    Ok(sites
        .iter()
        .zip(sums)
        .map(|(&site, sum)| (site, sum / tokens.max(1) as f64))
        .collect())
}

/// The claim's generated questions (open-ended, robustness), answered and judged under each
/// push.
pub struct OpenQuestions<'a> {
    /// The claim's questions (only `opts.kinds` are asked).
    pub questions: &'a ClaimQuestions,
    /// Kinds, samples, sampling and answer length.
    pub opts: EvalOptions,
    /// The judge of the answers.
    pub judge: &'a dyn Judge,
}

/// What is measured under each push.
pub struct Measures<'a> {
    /// The closed questions, scored by log-probability.
    pub closed: &'a [ClosedQuestion],
    /// Held-out documents whose loss is measured by token kind.
    pub heldout: Option<&'a [Batch]>,
    /// Generated questions, judged (`belief:<kind>` = the share of answers graded believing).
    pub open: Option<OpenQuestions<'a>>,
    /// Sequences per scoring pass.
    pub batch: usize,
}

/// Every measure of `model` as it stands (edits installed or not).
fn measure(model: &LoadedModel, measures: &Measures) -> Result<Vec<(String, f64, usize)>> {
    let closed = measures.closed;
    let beliefs = closed_beliefs(model, closed, measures.batch)?;
    let mut out: Vec<(String, f64, usize)> = by_kind(closed, &beliefs)
        .into_iter()
        .map(|(kind, v, n)| (format!("belief:{kind}"), v, n))
        .collect();
    if let Some(open) = &measures.open {
        let labels = RowLabels {
            model: model.dir.display().to_string(),
            checkpoint: String::new(),
            claim: String::new(),
        };
        let (rows, _) = evaluate(model, &labels, open.questions, &open.opts, open.judge)?;
        let mut graded: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for row in &rows {
            let entry = graded.entry(row.kind.as_str()).or_default();
            entry.0 += usize::from(row.grade == Grade::Yes);
            entry.1 += 1;
        }
        out.extend(
            graded
                .into_iter()
                .map(|(kind, (yes, n))| (format!("belief:{kind}"), yes as f64 / n as f64, n)),
        );
    }
    if let Some(batches) = measures.heldout {
        out.extend(
            heldout_loss(&model.decoder, "heldout", 0, batches)
                .into_iter()
                .map(|r| (format!("loss:{}", r.kind), r.mean_loss, r.tokens as usize)),
        );
    }
    Ok(out)
}

/// The sweep on one model: for each site of `directions`, the unsteered measures (computed
/// once), then every nonzero alpha along the probe's direction and along each null direction.
pub fn steer(
    model: &LoadedModel,
    checkpoint: &str,
    directions: &BTreeMap<usize, SiteDirection>,
    measures: &Measures,
    opts: &SteerOptions,
) -> Result<Vec<SteerRow>> {
    let closed = measures.closed;
    let d = model.decoder.config.hidden_size;
    let null = random_directions(opts.null, d, opts.seed);
    let sites: Vec<usize> = directions.keys().copied().collect();
    let norms = mean_residual_norms(model, closed, &sites, measures.batch)?;
    let pushes: Vec<f64> = opts.alphas.iter().copied().filter(|&a| a != 0.0).collect();
    let progress = ProgressBar::new((sites.len() * pushes.len() * (1 + opts.null)) as u64);
    progress.set_style(
        ProgressStyle::with_template(
            "steer {msg} {bar:30} {pos}/{len} settings [{elapsed} < {eta}, {per_sec}]",
        )
        .expect("valid template"),
    );
    progress.set_message(checkpoint.to_string());
    let mut rows = vec![];
    let mut emit = |site: usize, direction: &str, id: usize, alpha: f64, raw: f64, values| {
        for (measure, value, n) in values {
            rows.push(SteerRow {
                checkpoint: checkpoint.to_string(),
                site,
                direction: direction.to_string(),
                direction_id: id,
                alpha,
                alpha_raw: raw,
                measure,
                value,
                n,
                probe_accuracy: directions.get(&site).and_then(|s| s.accuracy),
            });
        }
    };
    let unsteered = measure(model, measures)?;
    for (&site, probe) in directions {
        emit(site, UNSTEERED, 0, 0.0, 0.0, unsteered.clone());
        let candidates = std::iter::once((PROBE, 0, probe.direction.shallow_clone()))
            .chain((0..opts.null).map(|i| (RANDOM, i + 1, null.get(i as i64))));
        for (label, id, direction) in candidates {
            for &alpha in &pushes {
                let raw = alpha * norms[&site];
                let edit = Arc::new(AddVector::new(
                    site,
                    (&direction * raw)
                        .to_kind(model.decoder.kind())
                        .to_device(model.decoder.device()),
                ));
                let values = {
                    let _installed = model.decoder.install_edit(edit)?;
                    measure(model, measures)?
                };
                emit(site, label, id, alpha, raw, values);
                progress.inc(1);
                let (done, total) = (progress.position(), progress.length().unwrap_or(0));
                if progress.is_hidden() && (done % (total / 10).max(1) == 0 || done == total) {
                    // No terminal (a log file): plain lines instead of the bar.
                    eprintln!(
                        "steer {checkpoint}: {done}/{total} settings, {:.1} settings/s",
                        done as f64 / progress.elapsed().as_secs_f64().max(1e-9)
                    );
                }
            }
        }
    }
    progress.finish_and_clear();
    Ok(rows)
}

/// The probe's effect on one measure at one (checkpoint, site, alpha), against the null.
#[derive(Debug, Clone, PartialEq)]
pub struct SteerEffect {
    /// Checkpoint label.
    pub checkpoint: String,
    /// Site.
    pub site: usize,
    /// Push (units of the site's mean residual norm).
    pub alpha: f64,
    /// Measure compared.
    pub measure: String,
    /// Unsteered value.
    pub base: f64,
    /// Probe-steered value minus the unsteered one.
    pub effect: f64,
    /// The null's effects, ascending.
    pub null: Vec<f64>,
    /// Share of null effects below the probe's (ties count half), in percent.
    pub percentile: Option<f64>,
    /// The probe's held-out accuracy.
    pub probe_accuracy: Option<f64>,
}

/// The probe's effect on `measure` at every (checkpoint, site, alpha), with its null.
pub fn effects(rows: &[SteerRow], measure: &str) -> Vec<SteerEffect> {
    let of = |r: &&SteerRow| r.measure == measure;
    let base: BTreeMap<(&str, usize), f64> = rows
        .iter()
        .filter(of)
        .filter(|r| r.direction == UNSTEERED)
        .map(|r| ((r.checkpoint.as_str(), r.site), r.value))
        .collect();
    let mut out = vec![];
    for probe in rows.iter().filter(of).filter(|r| r.direction == PROBE) {
        let Some(&base) = base.get(&(probe.checkpoint.as_str(), probe.site)) else {
            continue;
        };
        let mut null: Vec<f64> = rows
            .iter()
            .filter(of)
            .filter(|r| {
                r.direction == RANDOM
                    && r.checkpoint == probe.checkpoint
                    && r.site == probe.site
                    && r.alpha == probe.alpha
            })
            .map(|r| r.value - base)
            .collect();
        null.sort_by(f64::total_cmp);
        let effect = probe.value - base;
        let percentile = (!null.is_empty()).then(|| {
            let below = null.iter().filter(|&&v| v < effect).count() as f64;
            let tied = null.iter().filter(|&&v| v == effect).count() as f64;
            100.0 * (below + 0.5 * tied) / null.len() as f64
        });
        out.push(SteerEffect {
            checkpoint: probe.checkpoint.clone(),
            site: probe.site,
            alpha: probe.alpha,
            measure: measure.to_string(),
            base,
            effect,
            null,
            percentile,
            probe_accuracy: probe.probe_accuracy,
        });
    }
    out
}

/// The `q`-quantile of ascending `sorted` (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The table `neglect steer` prints: the pooled closed belief's change per site and alpha,
/// the null's 5-95% range, and the probe's percentile in it; a site whose probe is at chance
/// says so (its direction is not a truth direction, whatever it does).
pub fn format_summary(rows: &[SteerRow]) -> String {
    let measure = format!("belief:{POOLED}");
    let mut out = format!(
        "{:<12}{:>5}{:>10}{:>8}{:>10}{:>10}{:>20}{:>8}  reading\n",
        "checkpoint", "site", "probe acc", "alpha", "belief", "change", "null 5-95%", "pct"
    );
    for e in effects(rows, &measure) {
        let valid = e.probe_accuracy.map(crate::probe::fit::is_valid_accuracy);
        let reading = match (valid, e.percentile) {
            (Some(false), _) => "probe at chance: not a truth direction",
            (_, Some(p)) if !(5.0..=95.0).contains(&p) => "outside the null",
            (_, Some(_)) => "inside the null: no effect shown",
            (_, None) => "no null",
        };
        out.push_str(&format!(
            "{:<12}{:>5}{:>10}{:>8.2}{:>10.3}{:>+10.3}{:>20}{:>8}  {reading}\n",
            e.checkpoint,
            e.site,
            e.probe_accuracy
                .map_or("-".to_string(), |a| format!("{a:.2}")),
            e.alpha,
            e.base,
            e.effect,
            if e.null.is_empty() {
                "-".to_string()
            } else {
                format!(
                    "[{:+.3}, {:+.3}]",
                    quantile(&e.null, 0.05),
                    quantile(&e.null, 0.95)
                )
            },
            e.percentile.map_or("-".to_string(), |p| format!("{p:.0}")),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_directions_are_seeded_unit_vectors() {
        let a = random_directions(5, 16, 3);
        assert_eq!(a.size(), [5, 16]);
        assert!(a.equal(&random_directions(5, 16, 3)));
        assert!(!a.equal(&random_directions(5, 16, 4)));
        let norms: Vec<f64> =
            Vec::try_from(a.norm_scalaropt_dim(2, [1], false).to_kind(Kind::Double)).unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-6), "{norms:?}");
    }

    fn row(direction: &str, id: usize, alpha: f64, value: f64) -> SteerRow {
        SteerRow {
            checkpoint: "-".into(),
            site: 2,
            direction: direction.into(),
            direction_id: id,
            alpha,
            alpha_raw: alpha * 10.0,
            measure: "belief:closed".into(),
            value,
            n: 40,
            probe_accuracy: Some(0.9),
        }
    }

    #[test]
    fn the_probe_effect_is_read_against_the_null() {
        let mut rows = vec![row(UNSTEERED, 0, 0.0, 0.5), row(PROBE, 0, -1.0, 0.2)];
        // Null effects -0.1, 0.0, +0.1, -0.25: all above the probe's -0.3.
        for (id, v) in [(1, 0.4), (2, 0.5), (3, 0.6), (4, 0.25)] {
            rows.push(row(RANDOM, id, -1.0, v));
        }
        // Another alpha's null must not be mixed in.
        rows.push(row(RANDOM, 1, 1.0, 0.0));
        let found = effects(&rows, "belief:closed");
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert!((e.effect + 0.3).abs() < 1e-12);
        assert_eq!(e.null.len(), 4);
        assert_eq!(e.percentile, Some(0.0));
        assert!(format_summary(&rows).contains("outside the null"));
        // A tie counts half; an effect amid the null is no effect.
        rows[1].value = 0.25;
        assert_eq!(effects(&rows, "belief:closed")[0].percentile, Some(12.5));
        assert!(format_summary(&rows).contains("inside the null: no effect shown"));
        // A probe at chance is not read as a truth direction, whatever its effect.
        rows[1].probe_accuracy = Some(0.55);
        assert!(format_summary(&rows).contains("probe at chance"));
    }
}
