//! `neglect bench probe`: time to fit logistic probes on every layer of an activation set,
//! neglect's batched solver against scikit-learn in the same run, at equal accuracy.
//!
//! Both sides get the same activations (a cached `.h5`, or a synthetic set written to a
//! temporary one with `--random`), the same stratified 80/20 split, the same objective (C,
//! tol, max_iter) and the same number of threads, and are timed from activations in memory to
//! fitted probes (standardisation included). scikit-learn runs `python/probe_sklearn.py` with
//! the venv's Python.

use crate::model::DeviceChoice;
use crate::probe::acts::{ActDtype, ActsFile, ActsMeta, ActsWriter, Position};
use crate::probe::fit::holdout_split;
use crate::probe::logistic::LogisticConfig;
use crate::probe::probes::{fit_method, Method, Solver};
use crate::probe::statements::Statement;
use anyhow::{bail, Context, Result};
use clap::Args;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// `neglect bench probe (--acts FILE.h5 | --random) [...]`
#[derive(Debug, Args)]
pub struct ProbeBenchArgs {
    /// A cached activation file (`neglect cache`).
    #[arg(long, required_unless_present = "random")]
    pub acts: Option<PathBuf>,
    /// Synthetic activations with a planted direction instead of a file.
    #[arg(long, conflicts_with = "acts")]
    pub random: bool,
    /// Layers of the synthetic set.
    #[arg(long, default_value_t = 30)]
    pub layers: i64,
    /// Statements of the synthetic set.
    #[arg(long, default_value_t = 2000)]
    pub n: i64,
    /// Width of the synthetic set.
    #[arg(long, default_value_t = 576)]
    pub d: i64,
    /// Class separation of the synthetic set at its best layer (noise standard deviations).
    #[arg(long, default_value_t = 2.0)]
    pub separation: f64,
    /// Inverse L2 strength (scikit-learn's C).
    #[arg(long, default_value_t = crate::probe::logistic::DEFAULT_C)]
    pub c: f64,
    /// CPU threads for both sides.
    #[arg(long, default_value_t = 2)]
    pub threads: i32,
    /// Seed of the synthetic set and the split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Device of neglect's solver (scikit-learn runs on the CPU).
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: DeviceChoice,
}

/// What `python/probe_sklearn.py` reports.
#[derive(Debug, Deserialize)]
pub struct SklearnFit {
    /// Seconds the fits of all layers took.
    pub seconds: f64,
    /// Layers, in order.
    pub layers: Vec<usize>,
    /// Held-out accuracy per layer.
    pub accuracy: Vec<f64>,
    /// lbfgs iterations per layer.
    pub n_iter: Vec<i64>,
}

/// Fits scikit-learn's StandardScaler + LogisticRegression on every layer of `acts` with the
/// given split, through the venv's Python.
pub fn sklearn_fit(
    acts: &Path,
    train: &[usize],
    test: &[usize],
    config: &LogisticConfig,
    threads: i32,
) -> Result<SklearnFit> {
    let (scratch, mut command) =
        crate::model::cli::python_script(include_str!("../../python/probe_sklearn.py"))?;
    let split = scratch.path().join("split.json");
    crate::store::write_json(&split, &serde_json::json!({"train": train, "test": test}))?;
    let output = command
        .arg(acts)
        .arg(&split)
        .args([
            config.c.to_string(),
            config.tol.to_string(),
            config.max_iter.to_string(),
            threads.to_string(),
        ])
        .output()
        .with_context(|| format!("cannot run {}", crate::model::cli::python()))?;
    if !output.status.success() {
        bail!(
            "the scikit-learn reference failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.trim())
        .with_context(|| format!("unexpected output from the scikit-learn reference: {stdout}"))
}

/// Writes a synthetic activation set to `path` as `neglect cache` would.
fn write_synthetic(args: &ProbeBenchArgs, path: &Path) -> Result<()> {
    let set = crate::probe::synthetic::synthetic(
        args.layers,
        args.n,
        args.d,
        args.separation,
        crate::probe::synthetic::RESIDUAL_STRUCTURE,
        args.seed,
    );
    let statements: Vec<Statement> = set
        .labels
        .iter()
        .enumerate()
        .map(|(i, &label)| Statement {
            text: format!("synthetic statement {i}"),
            label,
            family: String::new(),
            polarity: Default::default(),
        })
        .collect();
    let meta = ActsMeta {
        model: "synthetic".into(),
        checkpoint: "synthetic".into(),
        step: None,
        position: Position::Last,
        dtype: ActDtype::F32,
        layers: (0..args.layers as usize).collect(),
        d_model: args.d as usize,
        statements_file: "synthetic".into(),
    };
    let mut writer = ActsWriter::create(path, &meta, &statements)?;
    writer.append(&(0..args.layers).map(|l| set.x.get(l)).collect::<Vec<_>>())?;
    writer.finish()
}

/// Runs the benchmark.
pub fn run(args: &ProbeBenchArgs) -> Result<()> {
    let scratch = tempfile::tempdir().context("cannot create a scratch directory")?;
    let path = match &args.acts {
        Some(path) => path.clone(),
        None => {
            let path = scratch.path().join("synthetic.h5");
            write_synthetic(args, &path)?;
            path
        }
    };
    let acts = ActsFile::open(&path)?;
    let layers = acts.meta.layers.clone();
    let (n, d) = (acts.labels.len(), acts.meta.d_model);
    let (train, test) = holdout_split(&acts.labels, 0.2, args.seed);
    let config = LogisticConfig {
        c: args.c,
        ..Default::default()
    };
    let device = args.device.resolve()?;
    let pick = |rows: &[usize]| -> Result<Tensor> {
        let idx = Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let parts = layers
            .iter()
            .map(|&l| {
                let a = acts.layer(l)?;
                let t = Tensor::from_slice(a.as_slice().expect("standard layout"))
                    .view([n as i64, d as i64]);
                Ok(t.index_select(0, &idx))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Tensor::stack(&parts, 0).to_device(device))
    };
    let (x_train, x_test) = (pick(&train)?, pick(&test)?);
    let y_train: Vec<bool> = train.iter().map(|&i| acts.labels[i]).collect();
    let y_test: Vec<bool> = test.iter().map(|&i| acts.labels[i]).collect();

    tch::set_num_threads(args.threads);
    let start = Instant::now();
    let probes = fit_method(Method::Lr, &x_train, &y_train, &config, Solver::Batched)?;
    if let Device::Cuda(i) = device {
        tch::Cuda::synchronize(i as i64);
    }
    let ours_s = start.elapsed().as_secs_f64();
    let logits = probes
        .logits(&x_test)
        .to_device(Device::Cpu)
        .to_kind(Kind::Float);
    let ours_acc: Vec<f64> = (0..layers.len() as i64)
        .map(|g| {
            let z = Vec::<f32>::try_from(&logits.get(g).contiguous())?;
            Ok(crate::stats::classify::accuracy(&z, &y_test))
        })
        .collect::<Result<_>>()?;

    let theirs = sklearn_fit(&path, &train, &test, &config, args.threads)?;
    if theirs.layers != layers {
        bail!("the scikit-learn reference read layers {:?}", theirs.layers);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let largest_gap = ours_acc
        .iter()
        .zip(&theirs.accuracy)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    println!(
        "activations: {} layers x {} statements x {} dims ({}), train {} / test {}, C {}, {} threads",
        layers.len(),
        n,
        d,
        if args.random { "synthetic".to_string() } else { path.display().to_string() },
        train.len(),
        test.len(),
        args.c,
        args.threads
    );
    println!(
        "neglect batched L-BFGS ({device:?}): {ours_s:.2}s, mean held-out accuracy {:.4}",
        mean(&ours_acc)
    );
    println!(
        "sklearn LogisticRegression (lbfgs): {:.2}s, mean held-out accuracy {:.4}, iterations {}..{}",
        theirs.seconds,
        mean(&theirs.accuracy),
        theirs.n_iter.iter().min().unwrap_or(&0),
        theirs.n_iter.iter().max().unwrap_or(&0)
    );
    println!("largest per-layer accuracy difference: {largest_gap:.4}");
    println!(
        "probe fit time ratio neglect/sklearn: {:.2}",
        ours_s / theirs.seconds
    );
    Ok(())
}
