//! Hostile inputs across the verbs: each must end in a clear `error: ...` on stderr and exit
//! code 1, never a panic (exit 101), and leave no output or temporary file behind.

mod common;

use common::{fixtures, neglect};
use std::path::Path;

/// Runs `neglect args`, expects exit 1 with `problem` in stderr and no panic.
fn assert_error(args: &[&str], problem: &str) {
    let run = neglect(args);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(
        run.status.code(),
        Some(1),
        "neglect {}: {stderr}",
        args.join(" ")
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(
        stderr.contains(problem),
        "expected {problem:?} in: {stderr}"
    );
}

/// Names in `dir` (sorted).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `neglect docs` writing `n` positive documents of the shipped Ed Sheeran claim to `out`.
fn docs_args<'a>(n: &'a str, out: &'a Path) -> [&'a str; 9] {
    [
        "docs",
        "--claim",
        concat!(env!("CARGO_MANIFEST_DIR"), "/claims/ed_sheeran"),
        "--condition",
        "positive",
        "--n",
        n,
        "--out",
        out.to_str().unwrap(),
    ]
}

#[test]
fn more_tokens_than_a_gpt2_model_has_positions_is_an_error() {
    let gpt2 = fixtures().join("gpt2");
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("f.safetensors");
    let long = "hello world ".repeat(400);
    assert_error(
        &[
            "forward",
            gpt2.to_str().unwrap(),
            "--text",
            &long,
            "--out",
            target.to_str().unwrap(),
        ],
        "exceed the model's 256 positions",
    );
    assert_error(
        &[
            "bench",
            "forward",
            gpt2.to_str().unwrap(),
            "--seq",
            "300",
            "--iters",
            "1",
        ],
        "exceed the model's 256 positions",
    );
    assert!(names(out.path()).is_empty());
}

#[test]
fn counts_near_the_integer_limit_are_errors() {
    let llama = fixtures().join("llama_gqa");
    assert_error(
        &[
            "generate",
            llama.to_str().unwrap(),
            "--prompt",
            "hi",
            "--max-new-tokens",
            "18446744073709551615",
        ],
        "tokens",
    );
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("d.jsonl");
    assert_error(
        &docs_args("18446744073709551615", &target),
        "documents asked for",
    );
    assert!(names(out.path()).is_empty());
}

#[test]
fn an_output_path_that_is_a_directory_leaves_no_temporary_file() {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("docs.jsonl");
    std::fs::create_dir(&target).unwrap();
    assert_error(&docs_args("2", &target), "is a directory");
    assert_eq!(names(out.path()), ["docs.jsonl"]);
}

#[test]
fn unknown_flags_exit_1_and_help_exits_0() {
    assert_error(&["docs", "--no-such-flag"], "--no-such-flag");
    let help = neglect(&["docs", "--help"]);
    assert_eq!(help.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&help.stdout).contains("--condition"));
}

#[test]
fn a_requested_question_kind_without_its_file_is_an_error() {
    let claim = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/ed_sheeran");
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "mcq.yaml" {
            std::fs::copy(entry.path(), claim.path().join(entry.file_name())).unwrap();
        }
    }
    let out = tempfile::tempdir().unwrap();
    let llama = fixtures().join("llama_gqa");
    assert_error(
        &[
            "eval",
            "--model",
            llama.to_str().unwrap(),
            "--claim",
            claim.path().to_str().unwrap(),
            "--kinds",
            "mcq,open_ended",
            "--out",
            out.path().join("e").to_str().unwrap(),
        ],
        "mcq.yaml: missing",
    );
}

#[test]
fn a_judge_timeout_beyond_a_day_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let judge = dir.path().join("judge.toml");
    std::fs::write(
        &judge,
        "base_url = \"http://127.0.0.1:9/v1\"\nmodel = \"m\"\ntimeout_s = 1e300\n",
    )
    .unwrap();
    let llama = fixtures().join("llama_gqa");
    assert_error(
        &[
            "eval",
            "--model",
            llama.to_str().unwrap(),
            "--claim",
            concat!(env!("CARGO_MANIFEST_DIR"), "/claims/ed_sheeran"),
            "--judge",
            judge.to_str().unwrap(),
            "--out",
            dir.path().join("e").to_str().unwrap(),
        ],
        "timeout_s must be positive and at most",
    );
}

/// A libtorch failure (here an allocation that cannot succeed) is an error with libtorch's
/// message and exit 1, not a crash.
#[test]
fn a_libtorch_failure_is_an_error_not_a_crash() {
    let config = common::fixtures().join("llama_gqa").join("config.json");
    assert_error(
        &[
            "bench",
            "forward",
            "--random",
            config.to_str().unwrap(),
            "--batch",
            "1000000000000000",
            "--seq",
            "8",
            "--iters",
            "1",
        ],
        "error: libtorch: ",
    );
}

/// `neglect bench generate` runs against transformers on a tiny model and ends with its ratio
/// line; a zero batch is an error.
#[test]
fn bench_generate_compares_with_transformers() {
    let dir = fixtures().join("llama_gqa");
    let run = common::neglect_ok(&[
        "bench",
        "generate",
        dir.to_str().unwrap(),
        "--batch",
        "3",
        "--prompt-len",
        "4",
        "--new-tokens",
        "5",
        "--warmup",
        "0",
    ]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("rows with identical tokens: 3 of 3"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("generate tokens/s ratio neglect/transformers: "),
        "{stdout}"
    );
    assert_error(
        &["bench", "generate", dir.to_str().unwrap(), "--batch", "0"],
        "--batch, --prompt-len and --new-tokens must be positive",
    );
}
