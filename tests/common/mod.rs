//! Shared helpers of the integration tests: fixture locations, running the binary, comparing
//! tensors.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use tch::{Kind, Tensor};

/// Named tensors read from a safetensors file.
pub type Tensors = HashMap<String, Tensor>;

fn env_dir(var: &str) -> PathBuf {
    let dir = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the suite with `make test`, which builds the transformers fixtures")
    });
    let dir = PathBuf::from(dir);
    assert!(dir.is_dir(), "{var}={} is not a directory", dir.display());
    dir
}

/// Folder of transformers reference outputs (`python/make_fixtures.py`).
pub fn fixtures() -> PathBuf {
    env_dir("NEGLECT_FIXTURES")
}

/// The imported SmolLM2-135M-Instruct folder.
pub fn smollm2() -> PathBuf {
    env_dir("NEGLECT_SMOLLM2")
}

/// Runs the `neglect` binary with `args`.
pub fn neglect(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_neglect"))
        .args(args)
        .output()
        .expect("cannot run the neglect binary")
}

/// Runs the `neglect` binary with `args` and fails the test, showing its stderr, unless it
/// succeeded.
pub fn neglect_ok(args: &[&str]) -> Output {
    let run = neglect(args);
    assert!(
        run.status.success(),
        "neglect {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&run.stderr)
    );
    run
}

/// One quick world model (`neglect world pretrain --quick --seed 3`), pretrained once per test
/// binary and shared by its tests.
pub fn quick_world() -> &'static Path {
    static DIR: std::sync::OnceLock<(tempfile::TempDir, PathBuf)> = std::sync::OnceLock::new();
    &DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("world");
        neglect_ok(&[
            "world",
            "pretrain",
            "--quick",
            "--seed",
            "3",
            "--out",
            out.to_str().unwrap(),
        ]);
        (dir, out)
    })
    .1
}

/// Every tensor of a safetensors file.
pub fn read_tensors(path: &Path) -> Tensors {
    Tensor::read_safetensors(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .into_iter()
        .collect()
}

/// Largest absolute difference of two same-shaped tensors, computed in f64.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size(), "shapes differ");
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[])
}

/// The strings of a table's column, in row order.
pub fn string_column(df: &polars::prelude::DataFrame, column: &str) -> Vec<String> {
    df.column(column)
        .unwrap()
        .str()
        .unwrap()
        .into_no_null_iter()
        .map(str::to_string)
        .collect()
}

/// Every position's logits of `model` on `ids` `[batch, seq]` (with the autograd graph).
pub fn all_logits(model: &neglect::model::LoadedModel, ids: &Tensor) -> Tensor {
    use neglect::model::decoder::{ForwardArgs, Logits};
    model
        .decoder
        .forward(
            ids,
            ForwardArgs {
                logits: Logits::All,
                ..Default::default()
            },
        )
        .logits
        .expect("logits requested")
}

/// Runs `neglect forward` on `dir` with `text` on the CPU in `dtype` and returns what it wrote.
pub fn forward(dir: &Path, text: &str, dtype: &str) -> Tensors {
    forward_on(dir, text, "cpu", dtype)
}

/// Runs `neglect forward` on `dir` with `text` on `device` in `dtype` and returns what it wrote.
pub fn forward_on(dir: &Path, text: &str, device: &str, dtype: &str) -> Tensors {
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("forward.safetensors");
    let run = neglect(&[
        "forward",
        dir.to_str().unwrap(),
        "--text",
        text,
        "--out",
        file.to_str().unwrap(),
        "--device",
        device,
        "--dtype",
        dtype,
    ]);
    assert!(
        run.status.success(),
        "{}: {}",
        dir.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    read_tensors(&file)
}
