//! Linear truth probes end to end: HDF5 activation files (read back by h5py too), caching on a
//! transformers fixture against `neglect forward`'s hidden states, planted directions,
//! mass-mean probes, saved probes, bad CSVs, scikit-learn parity, readouts over a run, and
//! polarity: TTPD against a probe of affirmative statements, generalisation matrices.

mod common;

use neglect::bench::probe::sklearn_fit;
use neglect::probe::acts::{ActDtype, ActsFile, ActsMeta, ActsWriter, Position};
use neglect::probe::fit::holdout_split;
use neglect::probe::logistic::LogisticConfig;
use neglect::probe::probes::{fit_method, Method, Probe, ProbeSet, ProbeSetConfig, Solver};
use neglect::probe::statements::{read_csv, write_csv, Polarity, Statement};
use neglect::probe::synthetic::{polarised, synthetic, RESIDUAL_STRUCTURE};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Statements of different token lengths, so batches are padded.
fn statements() -> Vec<Statement> {
    [
        ("Seven plus five is twelve.", true),
        ("Paris is in Spain.", false),
        (
            "The chemical symbol of iron is Fe, as every chemist knows.",
            true,
        ),
        ("Tuesday comes after Monday.", true),
        ("Ten is smaller than three.", false),
    ]
    .iter()
    .map(|&(text, label)| Statement {
        text: text.into(),
        label,
        family: String::new(),
        polarity: Default::default(),
    })
    .collect()
}

/// Writes a synthetic set as an activation file.
fn write_synthetic(
    path: &Path,
    (layers, n, d): (i64, i64, i64),
    separation: f64,
    structure: f64,
    dtype: ActDtype,
) {
    let set = synthetic(layers, n, d, separation, structure, 1);
    let statements: Vec<Statement> = set
        .labels
        .iter()
        .enumerate()
        .map(|(i, &label)| Statement {
            text: format!("statement {i}, with a comma"),
            label,
            family: String::new(),
            polarity: Default::default(),
        })
        .collect();
    let meta = ActsMeta {
        model: "synthetic".into(),
        checkpoint: "step-7".into(),
        step: Some(7),
        position: Position::Mean,
        dtype,
        layers: (0..layers as usize).collect(),
        d_model: d as usize,
        statements_file: "none.csv".into(),
    };
    let mut writer = ActsWriter::create(path, &meta, &statements).unwrap();
    // Two appends, as the cache streams batches.
    let half = n / 2;
    for (start, len) in [(0, half), (half, n - half)] {
        let batch: Vec<Tensor> = (0..layers)
            .map(|l| set.x.get(l).narrow(0, start, len))
            .collect();
        writer.append(&batch).unwrap();
    }
    writer.finish().unwrap();
}

/// Runs a Python snippet with the venv's interpreter and returns its stdout.
fn python(code: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(neglect::model::cli::python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn hdf5_round_trip_keeps_shapes_dtypes_and_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let set = synthetic(3, 10, 8, 2.0, RESIDUAL_STRUCTURE, 1);
    for dtype in [ActDtype::F32, ActDtype::F16] {
        let path = dir.path().join(format!("{}.h5", dtype.name()));
        write_synthetic(&path, (3, 10, 8), 2.0, RESIDUAL_STRUCTURE, dtype);
        let acts = ActsFile::open(&path).unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(acts.meta.layers, vec![0, 1, 2]);
        assert_eq!(acts.meta.step, Some(7));
        assert_eq!(acts.meta.position, Position::Mean);
        assert_eq!(acts.meta.dtype, dtype);
        assert_eq!(acts.labels, set.labels);
        assert_eq!(acts.statements[3], "statement 3, with a comma");
        let layer = acts.layer(2).unwrap();
        assert_eq!(layer.dim(), (10, 8));
        let back = Tensor::from_slice(layer.as_slice().unwrap()).view([10, 8]);
        let diff = common::max_abs_diff(&back, &set.x.get(2));
        let bound = match dtype {
            ActDtype::F32 => 0.0,
            ActDtype::F16 => 1e-2,
        };
        assert!(diff <= bound, "{dtype:?}: {diff}");
        // h5py sees the same file: float32 / float16 datasets, strings, attributes.
        let seen = python(
            "import sys, h5py\n\
             f = h5py.File(sys.argv[1])\n\
             a = f.attrs\n\
             print(f['layer_02'].dtype, f['layer_02'].shape, f['labels'].shape, \
             f['statements'].asstr()[3], a['position'], a['dtype'], int(a['step']), list(a['layers']), \
             a['model'], a['checkpoint'], int(a['d_model']))",
            &[path.to_str().unwrap()],
        );
        let want_dtype = match dtype {
            ActDtype::F32 => "float32",
            ActDtype::F16 => "float16",
        };
        assert_eq!(
            seen,
            format!(
                "{want_dtype} (10, 8) (10,) statement 3, with a comma mean {} 7 [np.int64(0), np.int64(1), np.int64(2)] synthetic step-7 8",
                dtype.name()
            )
        );
    }
}

#[test]
fn cached_activations_equal_the_hidden_states_of_a_direct_forward() {
    let fixture = common::fixtures().join("llama_gqa");
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("s.csv");
    let statements = statements();
    write_csv(&csv, &statements).unwrap();
    let model = neglect::model::LoadedModel::load(&fixture, Device::Cpu, Kind::Float).unwrap();
    for position in ["last", "mean"] {
        let out = dir.path().join(format!("{position}.h5"));
        common::neglect_ok(&[
            "cache",
            "--model",
            fixture.to_str().unwrap(),
            "--statements",
            csv.to_str().unwrap(),
            "--layers",
            "all",
            "--position",
            position,
            "--batch-size",
            "3",
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ]);
        let acts = ActsFile::open(&out).unwrap();
        let blocks = model.decoder.config.num_layers as usize;
        assert_eq!(acts.meta.layers, (0..=blocks).collect::<Vec<_>>());
        assert_eq!(acts.meta.d_model, 64);
        let layers: Vec<_> = (0..=blocks).map(|l| acts.layer(l).unwrap()).collect();
        for (i, s) in statements.iter().enumerate() {
            let reference = common::forward(&fixture, &s.text, "f32");
            let encoding = model
                .tokenizer
                .inner()
                .encode(s.text.as_str(), true)
                .unwrap();
            let own: Vec<i64> = encoding
                .get_special_tokens_mask()
                .iter()
                .enumerate()
                .filter(|(_, &m)| m == 0)
                .map(|(p, _)| p as i64)
                .collect();
            assert!(
                own.len() < encoding.get_ids().len(),
                "the fixture adds a BOS"
            );
            for (l, layer) in layers.iter().enumerate() {
                let hidden = &reference[&format!("hidden.{l}")];
                let want = match position {
                    "last" => hidden.get(*own.last().unwrap()),
                    _ => hidden.index_select(0, &Tensor::from_slice(&own)).mean_dim(
                        0,
                        false,
                        Kind::Float,
                    ),
                };
                let got = Tensor::from_slice(layer.row(i).to_slice().unwrap());
                let diff = common::max_abs_diff(&got, &want);
                assert!(diff < 1e-4, "{position} layer {l} statement {i}: {diff:e}");
            }
        }
    }
}

/// Logistic regression's direction is pinned down by the statements near the boundary, so
/// recovering it to a cosine of 0.99 takes many statements with some class overlap; a small
/// held-out part is then still perfectly separated.
#[test]
fn a_planted_direction_is_recovered() {
    let set = synthetic(2, 100_000, 32, 7.0, RESIDUAL_STRUCTURE, 5);
    let (train, test) = holdout_split(&set.labels, 0.002, 0);
    let pick = |rows: &[usize]| {
        let idx = Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let labels: Vec<bool> = rows.iter().map(|&i| set.labels[i]).collect();
        (set.x.index_select(1, &idx), labels)
    };
    let ((xt, yt), (xv, yv)) = (pick(&train), pick(&test));
    let probes = fit_method(
        Method::Lr,
        &xt,
        &yt,
        &LogisticConfig::default(),
        Solver::Batched,
    )
    .unwrap();
    let logits = probes.logits(&xv);
    for layer in 0..2 {
        let raw = probes.direction.get(layer) / probes.scale.get(layer);
        let u = set.directions.get(layer);
        let cosine = raw.dot(&u).double_value(&[]) / raw.norm().double_value(&[]);
        assert!(cosine > 0.99, "layer {layer}: cosine {cosine}");
        let z = Vec::<f32>::try_from(&logits.get(layer)).unwrap();
        assert_eq!(
            neglect::stats::classify::auroc(&z, &yv),
            Some(1.0),
            "layer {layer}"
        );
    }
}

#[test]
fn the_batched_solver_agrees_with_linfa() {
    let set = synthetic(3, 600, 24, 2.0, RESIDUAL_STRUCTURE, 9);
    let config = LogisticConfig {
        tol: 1e-6,
        ..Default::default()
    };
    let fit = |solver| fit_method(Method::Lr, &set.x, &set.labels, &config, solver).unwrap();
    let (ours, theirs) = (fit(Solver::Batched), fit(Solver::Linfa));
    let gap = common::max_abs_diff(&ours.direction, &theirs.direction);
    let size = theirs.direction.abs().max().double_value(&[]);
    assert!(
        gap < 1e-3 * size.max(1.0),
        "weights differ by {gap} (largest {size})"
    );
    let bias_gap = common::max_abs_diff(&ours.bias, &theirs.bias);
    assert!(bias_gap < 1e-3, "biases differ by {bias_gap}");
}

#[test]
fn per_layer_accuracy_is_within_one_point_of_scikit_learn() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acts.h5");
    write_synthetic(&path, (6, 1500, 96), 2.0, RESIDUAL_STRUCTURE, ActDtype::F32);
    let acts = ActsFile::open(&path).unwrap_or_else(|e| panic!("{e:#}"));
    let (train, test) = holdout_split(&acts.labels, 0.2, 3);
    let config = LogisticConfig::default();
    let theirs = sklearn_fit(&path, &train, &test, &config, 1).unwrap();
    let stack = |rows: &[usize]| {
        let idx = Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>());
        let layers: Vec<Tensor> = acts
            .meta
            .layers
            .iter()
            .map(|&l| {
                let a = acts.layer(l).unwrap();
                Tensor::from_slice(a.as_slice().unwrap())
                    .view([1500, 96])
                    .index_select(0, &idx)
            })
            .collect();
        Tensor::stack(&layers, 0)
    };
    let y_train: Vec<bool> = train.iter().map(|&i| acts.labels[i]).collect();
    let y_test: Vec<bool> = test.iter().map(|&i| acts.labels[i]).collect();
    let probes = fit_method(
        Method::Lr,
        &stack(&train),
        &y_train,
        &config,
        Solver::Batched,
    )
    .unwrap();
    let logits = probes.logits(&stack(&test));
    for (g, want) in theirs.accuracy.iter().enumerate() {
        let z = Vec::<f32>::try_from(&logits.get(g as i64)).unwrap();
        let ours = neglect::stats::classify::accuracy(&z, &y_test);
        assert!(
            (ours - want).abs() <= 0.01,
            "layer {g}: neglect {ours:.4}, scikit-learn {want:.4}"
        );
        assert!(
            *want > 0.6,
            "layer {g}: the set should be learnable ({want})"
        );
    }
}

#[test]
fn probe_fit_writes_probes_and_a_table_and_mass_mean_separates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acts.h5");
    write_synthetic(&path, (3, 400, 16), 12.0, 0.0, ActDtype::F16);
    let out = dir.path().join("probes");
    let run = common::neglect_ok(&[
        "probe",
        "fit",
        "--acts",
        path.to_str().unwrap(),
        "--method",
        "lr,mass_mean,mass_mean_cov",
        "--resamples",
        "200",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    let table = neglect::store::read_parquet(&out.join("fit.parquet")).unwrap();
    let columns: Vec<String> = table
        .get_column_names()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(
        columns,
        [
            "layer",
            "method",
            "accuracy",
            "accuracy_lo",
            "accuracy_hi",
            "auroc",
            "auroc_lo",
            "auroc_hi",
            "n_train",
            "n_test",
            "accuracy_affirmative",
            "accuracy_affirmative_lo",
            "accuracy_affirmative_hi",
            "accuracy_negated",
            "accuracy_negated_lo",
            "accuracy_negated_hi",
            "n_test_affirmative",
            "n_test_negated",
            "train_polarity"
        ]
    );
    assert_eq!(table.height(), 9);
    let accuracy = table.column("accuracy").unwrap().f64().unwrap().clone();
    assert!(accuracy.into_iter().all(|a| a == Some(1.0)), "{table}");
    let n_test = table.column("n_test").unwrap().i64().unwrap().clone();
    assert!(n_test.into_iter().all(|n| n == Some(80)));
    assert!(out.join("manifest.json").is_file());
    let probes = ProbeSet::load(&out).unwrap();
    assert_eq!(probes.probes.len(), 9);
    assert_eq!(probes.config.position, Position::Mean);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("mass_mean_cov"), "{stdout}");
    // Every probe separates perfectly: every layer is valid (held-out accuracy >= 0.75).
    let mut lines = stdout.lines();
    assert!(lines.next().unwrap().ends_with("valid"), "{stdout}");
    assert!(lines.all(|l| l.ends_with("yes")), "{stdout}");

    // k-fold: every statement scored once.
    let kfold = dir.path().join("kfold");
    common::neglect_ok(&[
        "probe",
        "fit",
        "--acts",
        path.to_str().unwrap(),
        "--folds",
        "4",
        "--resamples",
        "50",
        "--device",
        "cpu",
        "--out",
        kfold.to_str().unwrap(),
    ]);
    let table = neglect::store::read_parquet(&kfold.join("fit.parquet")).unwrap();
    let n_test = table.column("n_test").unwrap().i64().unwrap().clone();
    assert!(n_test.into_iter().all(|n| n == Some(400)));
}

#[test]
fn saved_probes_give_identical_scores() {
    let set = synthetic(2, 300, 12, 3.0, RESIDUAL_STRUCTURE, 2);
    let dir = tempfile::tempdir().unwrap();
    let mut probes = vec![];
    for method in [Method::Lr, Method::MassMeanCov] {
        let fitted = fit_method(
            method,
            &set.x,
            &set.labels,
            &LogisticConfig::default(),
            Solver::Batched,
        )
        .unwrap();
        for layer in 0..2 {
            probes.push(Probe {
                method,
                layer: layer as usize,
                direction: fitted.direction.get(layer),
                bias: fitted.bias.double_value(&[layer]) as f32,
                mean: fitted.mean.get(layer),
                scale: fitted.scale.get(layer),
                polarity_direction: None,
            });
        }
    }
    let set_of = ProbeSet {
        config: ProbeSetConfig {
            position: Position::Last,
            d_model: 12,
            model: "synthetic".into(),
            acts: "none".into(),
            probes: probes.iter().map(|p| (p.method, p.layer)).collect(),
            logistic: LogisticConfig::default(),
            seed: 0,
            train_polarity: None,
        },
        probes,
    };
    set_of.save(dir.path()).unwrap();
    let loaded = ProbeSet::load(dir.path()).unwrap();
    assert_eq!(loaded.config, set_of.config);
    for (a, b) in set_of.probes.iter().zip(&loaded.probes) {
        let x = set.x.get(b.layer as i64);
        assert_eq!(a.p_true(&x).unwrap(), b.p_true(&x).unwrap());
    }
}

#[test]
fn bad_csv_files_are_errors_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, want) in [
        ("empty.csv", "", "empty file"),
        (
            "nolabel.csv",
            "statement,truth\nA.,1\n",
            ":1: no `label` column",
        ),
        (
            "label.csv",
            "statement,label\nA.,1\nB.,yes\n",
            ":3: label `yes` is not 0 or 1",
        ),
        (
            "quote.csv",
            "statement,label\n\"A, B.,1\n",
            ":2: unterminated quoted field",
        ),
        (
            "fields.csv",
            "statement,label\nA.,1,2\n",
            ":2: 3 fields, the header has 2",
        ),
        (
            "header.csv",
            "statement,label\n\n",
            "no statements after the header",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let error = format!("{:#}", read_csv(&path).unwrap_err());
        assert!(error.contains(name), "{name}: {error}");
        assert!(error.contains(want), "{name}: {error}");
    }
    // The verb reports it the same way, before loading any model.
    let run = common::neglect(&[
        "cache",
        "--model",
        "no-such-model",
        "--statements",
        dir.path().join("label.csv").to_str().unwrap(),
        "--out",
        dir.path().join("x.h5").to_str().unwrap(),
    ]);
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("label.csv:3"), "{stderr}");
}

#[test]
fn builtin_statements_verb_writes_a_balanced_deterministic_csv() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, seed: &str| {
        let path = dir.path().join(name);
        common::neglect_ok(&[
            "probe",
            "statements",
            "--builtin",
            "--n",
            "1000",
            "--seed",
            seed,
            "--out",
            path.to_str().unwrap(),
        ]);
        std::fs::read(&path).unwrap()
    };
    let (a, b, c) = (
        write("a.csv", "3"),
        write("b.csv", "3"),
        write("c.csv", "4"),
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    let set = read_csv(&dir.path().join("a.csv")).unwrap();
    assert_eq!(set.len(), 1000);
    assert_eq!(set.iter().filter(|s| s.label).count(), 500);
}

/// Copies a model folder's files into `to`, making it a full-finetune checkpoint.
fn checkpoint_from(model: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(model).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
    std::fs::write(to.join("state.json"), "{}").unwrap();
}

#[test]
fn readout_covers_every_checkpoint_layer_and_statement() {
    let fixture = common::fixtures().join("llama_gqa");
    let dir = tempfile::tempdir().unwrap();
    // Probes fitted on the base model's activations of a few built-in statements.
    let csv = dir.path().join("s.csv");
    write_csv(
        &csv,
        &neglect::probe::statements::builtin(40, 0, false).unwrap(),
    )
    .unwrap();
    let acts = dir.path().join("acts.h5");
    common::neglect_ok(&[
        "cache",
        "--model",
        fixture.to_str().unwrap(),
        "--statements",
        csv.to_str().unwrap(),
        "--layers",
        "1,4",
        "--device",
        "cpu",
        "--out",
        acts.to_str().unwrap(),
    ]);
    let probes = dir.path().join("probes");
    common::neglect_ok(&[
        "probe",
        "fit",
        "--acts",
        acts.to_str().unwrap(),
        "--method",
        "lr,mass_mean",
        "--resamples",
        "10",
        "--device",
        "cpu",
        "--out",
        probes.to_str().unwrap(),
    ]);
    // A run with checkpoints at steps 5 and 10 whose manifest names the base model: the base
    // is read out as step 0.
    let run_dir = dir.path().join("run");
    for step in [5, 10] {
        let to = run_dir.join(format!("step-{step}"));
        checkpoint_from(&fixture, &to);
        std::fs::write(
            to.join("manifest.json"),
            serde_json::json!({"config": {"model": fixture}}).to_string(),
        )
        .unwrap();
    }
    let claim = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/ed_sheeran");
    let out = dir.path().join("readout.parquet");
    common::neglect_ok(&[
        "probe",
        "readout",
        "--probes",
        probes.to_str().unwrap(),
        "--run",
        run_dir.to_str().unwrap(),
        "--claim",
        claim.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(dir.path().join("readout.manifest.json").is_file());
    let table = neglect::store::read_parquet(&out).unwrap();
    let spec = neglect::claims::ClaimSpec::load(&claim).unwrap();
    let statements = neglect::probe::readout::claim_statements(&spec);
    assert_eq!(statements[0].0, "Ed Sheeran, the English singer-songwriter, won the gold medal in the men's 100 metres at the 2024 Paris Olympics.");
    let negations = statements
        .iter()
        .filter(|(_, k)| *k == neglect::probe::readout::StatementKind::Negation)
        .count();
    assert_eq!(negations, spec.predicates.len());
    // 3 models x 2 methods x 2 layers x statements.
    assert_eq!(table.height(), 3 * 2 * 2 * statements.len());
    let steps = table.column("step").unwrap().i64().unwrap().clone();
    let mut steps: Vec<i64> = steps.into_iter().flatten().collect();
    steps.dedup();
    assert_eq!(steps, [0, 5, 10]);
    let scores = table.column("score").unwrap().f64().unwrap().clone();
    assert!(scores
        .into_iter()
        .flatten()
        .all(|p| (0.0..=1.0).contains(&p)));
    // Identical weights at every step give identical readouts.
    let model = neglect::model::LoadedModel::load(&fixture, Device::Cpu, Kind::Float).unwrap();
    let set = ProbeSet::load(&probes).unwrap();
    let rows = neglect::probe::readout::readout(&set, &model, &statements, 0).unwrap();
    let first: Vec<f64> = table
        .column("score")
        .unwrap()
        .f64()
        .unwrap()
        .into_iter()
        .take(rows.len())
        .flatten()
        .collect();
    let library: Vec<f64> = rows.iter().map(|r| r.score).collect();
    for (a, b) in first.iter().zip(&library) {
        assert!((a - b).abs() < 1e-6, "{a} {b}");
    }
}

/// Families of the polarised test sets: statement `i` is in family `(i / 4) % 3`, so each
/// family holds both labels of both polarities.
const FAMILIES: [&str; 3] = ["arithmetic", "capital", "order"];

/// Writes a [`polarised`] set (`layers` layers of `n` statements in `d` dimensions) with
/// families as an activation file; returns its statements.
fn write_polarised(
    path: &Path,
    (layers, n, d): (i64, i64, i64),
    sizes: (f64, f64, f64),
) -> Vec<Statement> {
    let set = polarised(layers, n, d, sizes, 11);
    let statements: Vec<Statement> = (0..n as usize)
        .map(|i| Statement {
            text: format!("statement {i}"),
            label: set.labels[i],
            family: FAMILIES[(i / 4) % 3].to_string(),
            polarity: set.polarities[i],
        })
        .collect();
    write_rows(path, &set.x, &statements, &(0..n).collect::<Vec<_>>());
    statements
}

/// Writes rows `index` of `x` `[layers, n, d]` and of `statements` as an activation file.
fn write_rows(path: &Path, x: &Tensor, statements: &[Statement], index: &[i64]) {
    let (layers, _, d) = x.size3().unwrap();
    let picked: Vec<Statement> = index
        .iter()
        .map(|&i| statements[i as usize].clone())
        .collect();
    let meta = ActsMeta {
        model: "synthetic".into(),
        checkpoint: "synthetic".into(),
        step: None,
        position: Position::Last,
        dtype: ActDtype::F32,
        layers: (0..layers as usize).collect(),
        d_model: d as usize,
        statements_file: "none.csv".into(),
    };
    let mut writer = ActsWriter::create(path, &meta, &picked).unwrap();
    let rows = x.index_select(1, &Tensor::from_slice(index));
    writer
        .append(&(0..layers).map(|l| rows.get(l)).collect::<Vec<_>>())
        .unwrap();
    writer.finish().unwrap();
}

/// The `column` of `fit.parquet` in `dir` for `method`, by layer.
fn fit_column(dir: &Path, method: &str, column: &str) -> Vec<f64> {
    let table = neglect::store::read_parquet(&dir.join("fit.parquet")).unwrap();
    let methods: Vec<String> = table
        .column("method")
        .unwrap()
        .str()
        .unwrap()
        .into_no_null_iter()
        .map(String::from)
        .collect();
    let values = table.column(column).unwrap().f64().unwrap().clone();
    methods
        .iter()
        .zip(values.into_no_null_iter())
        .filter(|(m, _)| *m == method)
        .map(|(_, v)| v)
        .collect()
}

#[test]
fn families_and_polarities_survive_the_activation_file_and_old_files_read_as_affirmative() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acts.h5");
    let statements = write_polarised(&path, (1, 24, 6), (2.0, 4.0, 1.0));
    let acts = ActsFile::open(&path).unwrap();
    let families: Vec<&str> = statements.iter().map(|s| s.family.as_str()).collect();
    assert_eq!(acts.families, families);
    let polarities: Vec<Polarity> = statements.iter().map(|s| s.polarity).collect();
    assert_eq!(acts.polarities, polarities);
    assert_eq!(
        acts.polarities
            .iter()
            .filter(|&&p| p == Polarity::Negated)
            .count(),
        12
    );
    let labels = acts.labels.clone();
    drop(acts);
    // A file written before families and polarities existed.
    let file = hdf5::File::open_rw(&path).unwrap();
    file.unlink("families").unwrap();
    file.unlink("polarities").unwrap();
    drop(file);
    let old = ActsFile::open(&path).unwrap();
    assert_eq!(old.families, vec![String::new(); 24]);
    assert_eq!(old.polarities, vec![Polarity::Affirmative; 24]);
    assert_eq!(old.labels, labels);
}

#[test]
fn a_probe_of_affirmative_statements_fails_on_negations_where_ttpd_succeeds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acts.h5");
    // Truth along t_G (separation 3) in both polarities, along t_P (separation 6) with the sign
    // of the polarity: on affirmative statements t_P is the stronger truth direction.
    write_polarised(&path, (2, 1200, 32), (3.0, 6.0, 4.0));
    let fit = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "probe",
            "fit",
            "--acts",
            path.to_str().unwrap(),
            "--resamples",
            "100",
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let run = common::neglect_ok(&args);
        (out, String::from_utf8_lossy(&run.stdout).to_string())
    };
    let (affirmative, _) = fit(
        "affirmative",
        &[
            "--method",
            "lr,mass_mean",
            "--train-polarity",
            "affirmative",
        ],
    );
    let (both, stdout) = fit("both", &["--method", "lr,ttpd"]);
    for method in ["lr", "mass_mean"] {
        let on_affirmative = fit_column(&affirmative, method, "accuracy_affirmative");
        let on_negated = fit_column(&affirmative, method, "accuracy_negated");
        for (a, n) in on_affirmative.iter().zip(&on_negated) {
            // Fitted on affirmative statements: right on them, wrong way round on negations.
            assert!(*a > 0.95, "{method}: affirmative {a}");
            assert!(*n < 0.2, "{method}: negated {n}");
        }
    }
    let ttpd_affirmative = fit_column(&both, "ttpd", "accuracy_affirmative");
    let ttpd_negated = fit_column(&both, "ttpd", "accuracy_negated");
    for (a, n) in ttpd_affirmative.iter().zip(&ttpd_negated) {
        // Separation 3 along t_G alone: Phi(1.5) = 0.933 on each polarity.
        assert!(*a > 0.88 && *n > 0.88, "ttpd: affirmative {a}, negated {n}");
    }
    // 240 held out, about half of each polarity; `accuracy` weighs the two by their counts.
    let all = fit_column(&both, "ttpd", "accuracy");
    let table = neglect::store::read_parquet(&both.join("fit.parquet")).unwrap();
    let ints = |name: &str| -> Vec<i64> {
        let column = table.column(name).unwrap().i64().unwrap().clone();
        column.into_no_null_iter().collect()
    };
    let (negated, tested) = (ints("n_test_negated"), ints("n_test"));
    // Rows are sorted by method (lr, ttpd), then layer.
    for (i, a) in all.iter().enumerate() {
        let (neg, n) = (negated[2 + i] as f64, tested[2 + i] as f64);
        assert!((100.0..=140.0).contains(&neg) && n == 240.0, "{neg} of {n}");
        let want = ((n - neg) * ttpd_affirmative[i] + neg * ttpd_negated[i]) / n;
        assert!((a - want).abs() < 1e-12, "{a} vs {want}");
    }
    assert!(stdout.contains("negated"), "{stdout}");
    // The saved TTPD probes keep t_P; the readout direction is t_G.
    let probes = ProbeSet::load(&both).unwrap();
    assert_eq!(probes.config.train_polarity, None);
    for p in &probes.probes {
        assert_eq!(p.polarity_direction.is_some(), p.method == Method::Ttpd);
    }
    let saved = ProbeSet::load(&affirmative).unwrap();
    assert_eq!(saved.config.train_polarity, Some(Polarity::Affirmative));
    // TTPD cannot be fitted on one polarity.
    let run = common::neglect(&[
        "probe",
        "fit",
        "--acts",
        path.to_str().unwrap(),
        "--method",
        "ttpd",
        "--train-polarity",
        "negated",
        "--device",
        "cpu",
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr)
        .contains("ttpd needs true and false statements of both polarities"));
}

#[test]
fn the_generalisation_diagonal_is_the_in_family_held_out_accuracy() {
    use neglect::probe::fit::{fit_probes, FitOptions, Split};
    use neglect::probe::generalise::{generalise, GeneraliseOptions, GroupBy};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acts.h5");
    // Weak separation, so accuracies are far from 1 and differ between families.
    let statements = write_polarised(&path, (3, 600, 16), (1.5, 0.5, 1.0));
    let acts = ActsFile::open(&path).unwrap();
    let options = GeneraliseOptions {
        methods: vec![Method::Lr, Method::Ttpd],
        by: GroupBy::Family,
        test_fraction: 0.25,
        seed: 4,
        resamples: 50,
        logistic: LogisticConfig::default(),
        solver: Solver::Batched,
        layers: None,
        device: Device::Cpu,
    };
    let rows = generalise(&acts, &options).unwrap();
    assert_eq!(rows.len(), 2 * 3 * 3 * 3);
    let set = polarised(3, 600, 16, (1.5, 0.5, 1.0), 11);
    for (f, family) in FAMILIES.iter().enumerate() {
        // The family alone, in its order, as its own activation file.
        let index: Vec<i64> = (0..600).filter(|i| (i / 4) % 3 == f as i64).collect();
        let own = dir.path().join(format!("{family}.h5"));
        write_rows(&own, &set.x, &statements, &index);
        let (_, fits) = fit_probes(
            &ActsFile::open(&own).unwrap(),
            &FitOptions {
                methods: options.methods.clone(),
                split: Split::Holdout {
                    test_fraction: 0.25,
                },
                seed: 4,
                resamples: 50,
                logistic: LogisticConfig::default(),
                solver: Solver::Batched,
                layers: None,
                train_polarity: None,
                device: Device::Cpu,
            },
        )
        .unwrap();
        for fit in fits {
            let cell = rows
                .iter()
                .find(|r| {
                    r.method == fit.method
                        && r.layer == fit.layer
                        && r.train_family == *family
                        && r.test_family == *family
                })
                .unwrap();
            assert_eq!(cell.accuracy, fit.accuracy, "{family} {:?}", fit.method);
            assert_eq!((cell.n_train, cell.n_test), (fit.n_train, fit.n_test));
        }
    }
    // Every cell of a column is scored on the same held-out statements.
    for r in &rows {
        let column: Vec<usize> = rows
            .iter()
            .filter(|c| c.test_family == r.test_family)
            .map(|c| c.n_test)
            .collect();
        assert!(column.iter().all(|&n| n == r.n_test));
    }
    // Without families there is no matrix; by polarity there is.
    let by_polarity = generalise(
        &acts,
        &GeneraliseOptions {
            methods: vec![Method::Lr],
            by: GroupBy::Polarity,
            ..options.clone()
        },
    )
    .unwrap();
    let groups: std::collections::BTreeSet<&str> = by_polarity
        .iter()
        .map(|r| r.train_family.as_str())
        .collect();
    assert_eq!(
        groups.into_iter().collect::<Vec<_>>(),
        ["affirmative", "negated"]
    );
}

#[test]
fn probe_generalise_writes_the_matrix_and_a_manifest_and_needs_families() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("acts.h5");
    // Planted as in the TTPD test: affirmative -> negated is read the wrong way round.
    write_polarised(&path, (1, 800, 16), (3.0, 6.0, 4.0));
    let out = dir.path().join("gen");
    let rows = neglect::probe::generalise::generalise(
        &ActsFile::open(&path).unwrap(),
        &neglect::probe::generalise::GeneraliseOptions {
            methods: vec![Method::Lr],
            by: neglect::probe::generalise::GroupBy::Polarity,
            test_fraction: 0.2,
            seed: 0,
            resamples: 100,
            logistic: LogisticConfig::default(),
            solver: Solver::Batched,
            layers: None,
            device: Device::Cpu,
        },
    )
    .unwrap();
    let cell = |train: &str, test: &str| {
        rows.iter()
            .find(|r| r.train_family == train && r.test_family == test)
            .unwrap()
            .accuracy
    };
    assert!(cell("affirmative", "affirmative").value > 0.95);
    assert!(cell("affirmative", "negated").value < 0.2);
    let a = cell("affirmative", "negated");
    assert!(a.lo <= a.value && a.value <= a.hi);
    let frame = neglect::probe::generalise::generalisation_frame(&rows).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let file = out.join(neglect::tables::PROBE_GENERALISATION_FILE);
    neglect::store::write_parquet(&file, &mut frame.clone()).unwrap();
    let back = neglect::tables::read_probe_generalisation(&file).unwrap();
    assert_eq!(back.len(), 4);
    assert_eq!(back[1].train_family, "affirmative");
    assert_eq!(back[1].test_family, "negated");
    assert_eq!(back[1].accuracy, (a.value, a.lo, a.hi));
    // An activation file without families has no family matrix.
    let plain = dir.path().join("plain.h5");
    write_synthetic(&plain, (1, 40, 4), 3.0, 0.0, ActDtype::F32);
    let error = neglect::probe::generalise::generalise(
        &ActsFile::open(&plain).unwrap(),
        &neglect::probe::generalise::GeneraliseOptions {
            methods: vec![Method::Lr],
            by: neglect::probe::generalise::GroupBy::Family,
            test_fraction: 0.2,
            seed: 0,
            resamples: 10,
            logistic: LogisticConfig::default(),
            solver: Solver::Batched,
            layers: None,
            device: Device::Cpu,
        },
    )
    .unwrap_err();
    assert!(
        format!("{error:#}").contains("statement 1 (`statement 0, with a comma`) has no family"),
        "{error:#}"
    );
}

#[test]
fn a_bad_polarity_stops_the_cache_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(
        &csv,
        "statement,label,polarity\nA is A.,1,affirmative\nA is not A.,0,negative\n",
    )
    .unwrap();
    let run = common::neglect(&[
        "cache",
        "--model",
        dir.path().join("no-model").to_str().unwrap(),
        "--statements",
        csv.to_str().unwrap(),
        "--out",
        dir.path().join("a.h5").to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains(&format!(
            "{}:3: polarity `negative` is not affirmative or negated",
            csv.display()
        )),
        "{stderr}"
    );
}
