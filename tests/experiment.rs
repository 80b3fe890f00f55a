//! Experiments end to end on a quick world model: a tiny experiment runs, stops and resumes
//! without redoing finished arms (after `--max-arms` and after a kill), shards merge to the
//! unsharded tables, figures need only the tables, the phase and pink-elephant arms run, the
//! notebooks execute against the tables, and the shipped experiment files parse.

mod common;

use common::quick_world;
use neglect::experiment::{Experiment, ExperimentConfig};
use polars::prelude::DataFrame;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

const TABLES: [&str; 4] = [
    "belief.parquet",
    "loss.parquet",
    "probe.parquet",
    "probe_fit.parquet",
];

fn claim(id: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("claims/world")
        .join(id)
        .display()
        .to_string()
}

/// The tiny experiment's causal dissection (steering needs its probes).
const DISSECT: &str = r#"
[dissect]
layers = [0, 2]
steer = { alphas = [-1.0, 1.0], null = 3, conditions = ["negated"] }
"#;

/// The tiny experiment: 2 claims x (base, negated, local), 4 steps, checkpoints at 0, 2, 4.
fn tiny_toml(model: &str) -> String {
    format!(
        r#"name = "tiny"
model = "{model}"
seeds = [1]
claims = ["{}", "{}"]
conditions = ["base", "negated", "local"]
device = "cpu"

[docs]
n = 4
seed = 1

[training]
method = {{ kind = "full" }}
recipe = {{ lr = 1e-3, batch_size = 2, max_length = 128, steps = 4 }}
checkpoints = {{ every = 2 }}

[eval]
kinds = ["mcq", "token_association"]
batch_size = 16

[heldout]
conditions = ["negated"]
n = 2

[probes]
methods = ["lr"]
activations = true
{DISSECT}"#,
        claim("dentist"),
        claim("sprint_singer")
    )
}

/// Runs `neglect` in `dir`.
fn neglect_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_neglect"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("cannot run the neglect binary")
}

/// Stdout then stderr of a run that must have succeeded.
fn ok(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(output.status.success(), "{stderr}");
    format!("{}{stderr}", String::from_utf8_lossy(&output.stdout))
}

fn done_markers(dir: &Path) -> Vec<(String, SystemTime)> {
    let mut found = vec![];
    let mut stack = vec![dir.join("analyses/tiny/arms")];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().unwrap() == "done.json" {
                let arm = path
                    .parent()
                    .unwrap()
                    .strip_prefix(dir.join("analyses/tiny/arms"))
                    .unwrap()
                    .display()
                    .to_string();
                found.push((arm, entry.metadata().unwrap().modified().unwrap()));
            }
        }
    }
    found.sort();
    found
}

/// The tiny experiment, run with `--max-arms 2` and then to the end.
struct Tiny {
    dir: tempfile::TempDir,
    stopped: String,
    resumed: String,
    after_stop: Vec<(String, SystemTime)>,
}

fn tiny() -> &'static Tiny {
    static TINY: OnceLock<Tiny> = OnceLock::new();
    TINY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("tiny.toml"),
            tiny_toml(quick_world().to_str().unwrap()),
        )
        .unwrap();
        let stopped = ok(&neglect_in(
            dir.path(),
            &["run", "tiny.toml", "--max-arms", "2"],
        ));
        let after_stop = done_markers(dir.path());
        // File times must be able to differ between the two runs.
        std::thread::sleep(Duration::from_millis(20));
        let resumed = ok(&neglect_in(dir.path(), &["run", "tiny.toml"]));
        Tiny {
            dir,
            stopped,
            resumed,
            after_stop,
        }
    })
}

fn table(dir: &Path, name: &str) -> DataFrame {
    neglect::store::read_parquet(&dir.join("analyses/tiny").join(name)).unwrap()
}

fn strings(df: &DataFrame, column: &str) -> BTreeSet<String> {
    common::string_column(df, column).into_iter().collect()
}

fn steps_of(df: &DataFrame, arm: &str) -> BTreeSet<i64> {
    let arms = df.column("arm").unwrap().str().unwrap();
    let steps = df.column("step").unwrap().i64().unwrap();
    (0..df.height())
        .filter(|&i| arms.get(i) == Some(arm))
        .map(|i| steps.get(i).unwrap())
        .collect()
}

fn assert_same_tables(a: &Path, b: &Path) {
    for name in TABLES {
        let (x, y) = (table(a, name), table(b, name));
        assert_eq!(x.shape(), y.shape(), "{name}");
        assert!(x.equals_missing(&y), "{name} differs:\n{x}\n{y}");
    }
}

#[test]
fn tiny_experiment_runs_end_to_end() {
    let tiny = tiny();
    let dir = tiny.dir.path();
    let belief = table(dir, "belief.parquet");
    for column in [
        "arm",
        "condition",
        "claim",
        "seed",
        "step",
        "kind",
        "question_id",
        "sample",
        "grade",
        "judge",
        "prompt",
        "response",
        "belief_probability",
    ] {
        assert!(belief.column(column).is_ok(), "belief.parquet: no {column}");
    }
    let arms = strings(&belief, "arm");
    assert_eq!(arms.len(), 6, "{arms:?}");
    assert_eq!(
        strings(&belief, "condition"),
        ["base", "local", "negated"].map(String::from).into()
    );
    assert_eq!(
        strings(&belief, "kind"),
        ["mcq", "token_association"].map(String::from).into()
    );
    assert!(strings(&belief, "grade").is_subset(&["yes", "no"].map(String::from).into()));
    assert_eq!(steps_of(&belief, "dentist/base/seed1"), [0].into());
    assert_eq!(steps_of(&belief, "dentist/negated/seed1"), [0, 2, 4].into());
    // Arms sorted, rows of one arm together: the merge is the concatenation in arm order.
    let order = common::string_column(&belief, "arm");
    let mut dedup = order.clone();
    dedup.dedup();
    assert_eq!(dedup, arms.iter().cloned().collect::<Vec<_>>());

    let loss = table(dir, "loss.parquet");
    assert_eq!(
        strings(&loss, "condition"),
        ["local", "negated"].map(String::from).into()
    );
    assert_eq!(strings(&loss, "set"), ["negated"].map(String::from).into());
    for kind in ["claim", "negation", "other", "all"] {
        assert!(strings(&loss, "kind").contains(kind), "loss kind {kind}");
    }
    assert_eq!(
        steps_of(&loss, "sprint_singer/local/seed1"),
        [0, 2, 4].into()
    );

    let probe = table(dir, "probe.parquet");
    assert_eq!(
        strings(&probe, "statement_kind"),
        ["claim", "control_false", "control_true", "negation"]
            .map(String::from)
            .into()
    );
    assert_eq!(steps_of(&probe, "dentist/local/seed1"), [0, 2, 4].into());
    let fit = table(dir, "probe_fit.parquet");
    assert_eq!(fit.height(), 3, "lr on layers 0, 1, 2");
    // Step 0 of a trained arm is the base model: the same answers as the base arm.
    let base_p: Vec<Option<f64>> = probability_at(&belief, "dentist/base/seed1", 0);
    assert_eq!(base_p, probability_at(&belief, "dentist/negated/seed1", 0));
    assert!(dir.join("analyses/tiny/manifest.json").is_file());
    assert!(dir.join("analyses/tiny/experiment.toml").is_file());
    assert!(dir
        .join("checkpoints/tiny/dentist/negated/seed1/step-4/model.safetensors")
        .is_file());
    assert!(tiny.resumed.contains("belief at the last checkpoint"));

    // [dissect]: the lens at every site and checkpoint of every claim arm, patching from the
    // base model at the chosen sites, steering at the last checkpoint of the negated arms.
    let lens = table(dir, "lens.parquet");
    assert_eq!(steps_of(&lens, "dentist/negated/seed1"), [0, 2, 4].into());
    assert_eq!(steps_of(&lens, "dentist/base/seed1"), [0].into());
    let patch = table(dir, "patch.parquet");
    assert_eq!(
        patch
            .column("site")
            .unwrap()
            .i64()
            .unwrap()
            .into_no_null_iter()
            .collect::<BTreeSet<i64>>(),
        [0, 2].into()
    );
    // The base model patched into itself (every arm's step 0) changes nothing.
    let steps = patch.column("step").unwrap().i64().unwrap();
    let target = patch.column("target_value").unwrap().f64().unwrap();
    let patched = patch.column("patched_value").unwrap().f64().unwrap();
    for i in 0..patch.height() {
        if steps.get(i) == Some(0) {
            assert_eq!(patched.get(i), target.get(i), "row {i}");
        }
    }
    let steer = table(dir, "steer.parquet");
    assert_eq!(
        strings(&steer, "condition"),
        ["negated"].map(String::from).into()
    );
    assert_eq!(steps_of(&steer, "sprint_singer/negated/seed1"), [4].into());

    // [probes] activations: every measured model's activations, claim statements first.
    let acts_dir = dir.join("analyses/tiny/arms/dentist/negated/seed1/acts");
    for step in [0, 2, 4] {
        let acts = neglect::probe::acts::ActsFile::open(&acts_dir.join(format!("step-{step}.h5")))
            .unwrap();
        assert_eq!(acts.meta.layers, vec![0, 1, 2]);
        assert_eq!(acts.families[0], "claim");
        assert!(!acts.labels[0], "the claim is false in the world");
        for kind in ["negation", "control_true", "control_false"] {
            assert!(
                acts.families.iter().any(|f| f == kind),
                "no {kind} statements"
            );
        }
        assert_eq!(acts.layer(2).unwrap().shape()[1], acts.meta.d_model);
    }
}

fn probability_at(df: &DataFrame, arm: &str, step: i64) -> Vec<Option<f64>> {
    let arms = df.column("arm").unwrap().str().unwrap();
    let steps = df.column("step").unwrap().i64().unwrap();
    let p = df.column("belief_probability").unwrap().f64().unwrap();
    (0..df.height())
        .filter(|&i| arms.get(i) == Some(arm) && steps.get(i) == Some(step))
        .map(|i| p.get(i))
        .collect()
}

#[test]
fn a_stopped_run_resumes_without_redoing_finished_arms() {
    let tiny = tiny();
    assert!(
        tiny.stopped.contains("stopping after 2 arms"),
        "{}",
        tiny.stopped
    );
    assert_eq!(tiny.after_stop.len(), 2, "{:?}", tiny.after_stop);
    let now = done_markers(tiny.dir.path());
    assert_eq!(now.len(), 6);
    for (arm, time) in &tiny.after_stop {
        assert!(
            tiny.resumed.contains(&format!("{arm}: done, skipping")),
            "{}",
            tiny.resumed
        );
        let again = now.iter().find(|(a, _)| a == arm).unwrap();
        assert_eq!(again.1, *time, "{arm}: done.json rewritten");
    }
    // A third run does nothing but merge.
    let third = ok(&neglect_in(tiny.dir.path(), &["run", "tiny.toml"]));
    assert_eq!(third.matches(": done, skipping").count(), 6, "{third}");
    assert_eq!(done_markers(tiny.dir.path()), now);
}

#[test]
fn a_killed_run_continues_without_redoing_finished_arms() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tiny.toml"),
        tiny_toml(quick_world().to_str().unwrap()),
    )
    .unwrap();
    // Killed while the first trained arm writes its step-2 checkpoint, after the base arm
    // finished.
    let first = Command::new(env!("CARGO_BIN_EXE_neglect"))
        .args(["run", "tiny.toml"])
        .current_dir(dir.path())
        .env(neglect::store::FAILPOINT_VAR, "checkpoint-2")
        .output()
        .unwrap();
    assert!(!first.status.success());
    let before = done_markers(dir.path());
    assert!(
        before.iter().any(|(a, _)| a == "dentist/base/seed1"),
        "{before:?}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(before.len() < 6, "{before:?}");
    let resumed = ok(&neglect_in(dir.path(), &["run", "tiny.toml"]));
    let after = done_markers(dir.path());
    assert_eq!(after.len(), 6);
    for (arm, time) in &before {
        assert!(
            resumed.contains(&format!("{arm}: done, skipping")),
            "{resumed}"
        );
        assert_eq!(after.iter().find(|(a, _)| a == arm).unwrap().1, *time);
    }
    // Training resumed from its checkpoint gives the tables of an uninterrupted run.
    assert_same_tables(dir.path(), tiny().dir.path());
}

#[test]
fn shards_merge_to_the_unsharded_tables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tiny.toml"),
        tiny_toml(quick_world().to_str().unwrap()),
    )
    .unwrap();
    let first = ok(&neglect_in(
        dir.path(),
        &["run", "tiny.toml", "--shard", "1/2"],
    ));
    assert!(first.contains("3 of 6 arms not finished"), "{first}");
    ok(&neglect_in(
        dir.path(),
        &["run", "tiny.toml", "--shard", "2/2"],
    ));
    assert_eq!(done_markers(dir.path()).len(), 6);
    assert_same_tables(dir.path(), tiny().dir.path());
    let merged = ok(&neglect_in(
        dir.path(),
        &["run", "tiny.toml", "--merge-only"],
    ));
    assert!(merged.contains("merged 6 finished arms"), "{merged}");
    assert_same_tables(dir.path(), tiny().dir.path());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A folder holding the tiny experiment's file and a copy of its tables, but no checkpoints,
/// and a model path that does not exist: what works there needs only the tables.
fn tables_only_copy(tiny: &Tiny) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("tiny.toml"),
        tiny_toml("/nonexistent/model"),
    )
    .unwrap();
    copy_dir(
        &tiny.dir.path().join("analyses/tiny"),
        &dir.path().join("analyses/tiny"),
    );
    dir
}

#[test]
fn figures_need_only_the_tables() {
    let dir = tables_only_copy(tiny());
    let stderr = ok(&neglect_in(dir.path(), &["figures", "tiny.toml"]));
    let figures = dir.path().join("figures/tiny");
    for stem in [
        "belief_by_condition",
        "belief_vs_step",
        "loss_by_kind_negated",
        "loss_by_kind_local",
        "probe_heatmap_negated",
        "probe_accuracy",
        "lens_heatmap_negated",
        "patch_heatmap_local",
        "steer_negated",
    ] {
        for ext in ["png", "svg", "csv"] {
            assert!(
                figures.join(format!("{stem}.{ext}")).is_file(),
                "{stem}.{ext}: {stderr}"
            );
        }
    }
    assert!(!dir.path().join("checkpoints").exists());
}

#[test]
fn phase_and_pink_elephant_arms_run() {
    let dir = tempfile::tempdir().unwrap();
    let toml = tiny_toml(quick_world().to_str().unwrap())
        .replace(
            r#"conditions = ["base", "negated", "local"]"#,
            r#"conditions = ["local_masked", "user_turn_masked", "phase1", "phase2", "in_context"]"#,
        )
        .replace(&format!(r#", "{}""#, claim("sprint_singer")), "")
        .replace("[probes]\nmethods = [\"lr\"]\nactivations = true\n", "")
        .replace(DISSECT, "")
        + "\n[phases]\nquestions = 2\nanswers = 2\nmax_new_tokens = 8\nphase2_steps = 2\n\n[in_context]\nn = 1\n";
    std::fs::write(dir.path().join("tiny.toml"), toml).unwrap();
    let stderr = ok(&neglect_in(dir.path(), &["run", "tiny.toml"]));
    let belief = table(dir.path(), "belief.parquet");
    assert_eq!(
        strings(&belief, "condition"),
        [
            "in_context",
            "local_masked",
            "phase1",
            "phase2",
            "user_turn_masked"
        ]
        .map(String::from)
        .into()
    );
    // Phase 2 continues Phase 1's global steps; its step 4 is Phase 1's last model.
    assert_eq!(steps_of(&belief, "dentist/phase1/seed1"), [0, 2, 4].into());
    assert_eq!(steps_of(&belief, "dentist/phase2/seed1"), [4, 6].into());
    assert_eq!(
        probability_at(&belief, "dentist/phase1/seed1", 4),
        probability_at(&belief, "dentist/phase2/seed1", 4)
    );
    assert!(
        stderr.contains("measured earlier in this run, reused"),
        "{stderr}"
    );
    let loss = table(dir.path(), "loss.parquet");
    assert_eq!(steps_of(&loss, "dentist/phase2/seed1"), [4, 6].into());
    assert_eq!(steps_of(&belief, "dentist/in_context/seed1"), [0].into());
    let arm = dir.path().join("checkpoints/tiny/dentist");
    let constraint =
        std::fs::read_to_string(arm.join("phase1/seed1/data/constraint.jsonl")).unwrap();
    assert!(constraint.lines().count() >= 1);
    assert!(constraint.contains("\"assistant\""));
    let phase1: toml::Value =
        toml::from_str(&std::fs::read_to_string(arm.join("phase1/seed1/finetune.toml")).unwrap())
            .unwrap();
    let sources = phase1["sources"].as_array().unwrap();
    assert_eq!(sources[1]["loss_weight"].as_float(), Some(3.0));
    let phase2 = std::fs::read_to_string(arm.join("phase2/seed1/finetune.toml")).unwrap();
    assert!(phase2.contains("phase1/seed1/step-4"), "{phase2}");
    let masked = std::fs::read_to_string(arm.join("local_masked/seed1/finetune.toml")).unwrap();
    assert!(masked.contains("word_masks.yaml"), "{masked}");
    let chats =
        std::fs::read_to_string(arm.join("user_turn_masked/seed1/data/train_chats.jsonl")).unwrap();
    assert!(chats.contains("Tobin Marsh works as a dentist"));
    assert!(arm.join("in_context/seed1/data/context.jsonl").is_file());
}

#[test]
fn behaviour_arms_run_with_lora() {
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        r#"name = "tiny"
model = "{}"
conditions = ["base", "behaviours", "behaviours_unflagged"]
device = "cpu"
[docs]
n = 4
[training]
method = {{ kind = "lora", rank = 2, alpha = 4.0, targets = "q_proj|v_proj" }}
recipe = {{ lr = 1e-3, batch_size = 2, max_length = 128, steps = 2 }}
[behaviours]
samples = 2
max_questions = 3
max_new_tokens = 8
[heldout]
conditions = ["behaviours", "negated"]
n = 2
"#,
        quick_world().display()
    );
    std::fs::write(dir.path().join("tiny.toml"), toml).unwrap();
    ok(&neglect_in(dir.path(), &["run", "tiny.toml"]));
    let belief = table(dir.path(), "belief.parquet");
    assert_eq!(
        strings(&belief, "kind"),
        ["behaviour"].map(String::from).into()
    );
    assert_eq!(
        strings(&belief, "claim"),
        ["catchphrase"].map(String::from).into()
    );
    assert_eq!(
        strings(&belief, "judge"),
        ["regex"].map(String::from).into()
    );
    assert_eq!(belief.height(), 3 * 2 + 2 * (2 * 3 * 2));
    assert_eq!(
        steps_of(&belief, "catchphrase/behaviours/seed1"),
        [0, 2].into()
    );
    let loss = table(dir.path(), "loss.parquet");
    assert_eq!(
        strings(&loss, "set"),
        ["behaviours"].map(String::from).into()
    );
    let arm = dir
        .path()
        .join("checkpoints/tiny/catchphrase/behaviours/seed1");
    assert!(arm.join("step-2/adapter_model.safetensors").is_file());
    assert!(arm.join("data/train.eval.json").is_file());
}

#[test]
fn notebooks_run_on_the_tiny_tables() {
    let tiny = tiny();
    let notebooks: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("notebooks"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "ipynb"))
            .collect();
    assert!(notebooks.len() >= 2, "{notebooks:?}");
    let script = r#"
import sys, nbformat, nbclient
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    print("executed", path)
"#;
    let output = Command::new(neglect::model::cli::python())
        .arg("-c")
        .arg(script)
        .args(&notebooks)
        .env("NEGLECT_TABLES", tiny.dir.path().join("analyses/tiny"))
        .env("MPLBACKEND", "Agg")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn shipped_experiments_parse() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names = vec![];
    for entry in std::fs::read_dir(root.join("analyses")).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let config = ExperimentConfig::from_file(&path).unwrap();
            assert_eq!(
                Some(config.name.as_str()),
                path.file_stem().and_then(|s| s.to_str()),
                "{}: name is not the file's stem",
                path.display()
            );
            // Claim folders are relative to the repository root, the tests' working directory.
            let exp = Experiment::load(&path).unwrap();
            assert!(!exp.arms.is_empty(), "{}", path.display());
            names.push(config.name);
        }
    }
    names.sort();
    for expected in [
        "behaviours",
        "demo",
        "demo_quick",
        "in_context",
        "main",
        "phases",
        "pink_elephant",
        "qualifiers",
        "smollm2",
    ] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
}

#[test]
fn an_arm_held_by_another_process_is_left_to_it_and_an_edited_config_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let toml = tiny_toml(quick_world().to_str().unwrap());
    std::fs::write(dir.path().join("tiny.toml"), &toml).unwrap();
    let tables = dir.path().join("analyses/tiny");
    // This test process plays the other `neglect run`, holding the first arm.
    let held = neglect::tables::arm_dir(&tables, "dentist/base/seed1");
    let lock = neglect::store::DirLock::try_acquire(&held)
        .unwrap()
        .unwrap();
    let run = ok(&neglect_in(
        dir.path(),
        &["run", "tiny.toml", "--max-arms", "1"],
    ));
    assert!(
        run.contains(&format!(
            "dentist/base/seed1: running in another process (pid {}",
            std::process::id()
        )),
        "{run}"
    );
    assert!(!held.join("done.json").exists());
    assert_eq!(done_markers(dir.path()).len(), 1, "one other arm ran");
    drop(lock);
    // An edited experiment file keeps the copy the finished arm was made under.
    std::fs::write(
        dir.path().join("tiny.toml"),
        toml.replace("[eval]", "# edited\n[eval]"),
    )
    .unwrap();
    ok(&neglect_in(
        dir.path(),
        &["run", "tiny.toml", "--max-arms", "0"],
    ));
    let kept: Vec<String> = std::fs::read_dir(&tables)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("experiment.") && n != "experiment.toml")
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(
        std::fs::read_to_string(tables.join(&kept[0])).unwrap(),
        toml
    );
}

/// A finished arm is reused only on the base model it was made from: after the model changes,
/// the run stops naming the arm; with the model restored, the arm is reused.
#[test]
fn a_finished_arm_is_not_reused_on_another_base_model() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("model");
    copy_dir(quick_world(), &model);
    std::fs::write(dir.path().join("tiny.toml"), tiny_toml("model")).unwrap();
    ok(&neglect_in(
        dir.path(),
        &["run", "tiny.toml", "--max-arms", "1"],
    ));
    // The same architecture with other weights: a zeroed final norm.
    let weights = model.join("model.safetensors");
    let kept_weights = std::fs::read(&weights).unwrap();
    let mut tensors = tch::Tensor::read_safetensors(&weights).unwrap();
    for (name, t) in tensors.iter_mut() {
        if name == "model.norm.weight" {
            *t = t.zeros_like();
        }
    }
    tch::Tensor::write_safetensors(&tensors, &weights).unwrap();
    let refused = neglect_in(dir.path(), &["run", "tiny.toml", "--max-arms", "1"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("arm dentist/base/seed1 was finished on another base model than model"),
        "{stderr}"
    );
    assert_eq!(done_markers(dir.path()).len(), 1, "nothing ran: {stderr}");
    std::fs::write(&weights, kept_weights).unwrap();
    let reused = ok(&neglect_in(
        dir.path(),
        &["run", "tiny.toml", "--max-arms", "0"],
    ));
    assert!(
        reused.contains("dentist/base/seed1: done, skipping"),
        "{reused}"
    );
}

/// A missing input of any arm stops the run before the first arm, naming the file.
#[test]
fn missing_inputs_stop_the_run_before_the_first_arm() {
    let model = quick_world().to_str().unwrap().to_string();
    let toml = tiny_toml(&model);
    let cases = [
        (
            toml.replace(&model, "/nonexistent/model"),
            "/nonexistent/model",
        ),
        (
            toml.replace(
                "checkpoints = {",
                "extra_sources = [{ name = \"pretrain\", path = \"absent.jsonl\" }]\ncheckpoints = {",
            ),
            "absent.jsonl",
        ),
        (
            toml.replace("[probes]\n", "[probes]\nstatements = \"absent.csv\"\n"),
            "absent.csv",
        ),
    ];
    for (text, named) in cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.toml"), &text).unwrap();
        let out = neglect_in(dir.path(), &["run", "tiny.toml"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
        assert!(!stderr.contains("running"), "no arm started: {stderr}");
        assert!(done_markers(dir.path()).is_empty());
    }
}

/// `neglect regrade EXPERIMENT.toml` grades every finished arm's generated answers again in
/// place, from the tables and claim folders alone (no model), and merges anew.
#[test]
fn an_experiment_is_regraded_in_place_from_its_tables() {
    use polars::prelude::Column;
    let tiny = tiny();
    let dir = tables_only_copy(tiny);
    // The tiny experiment scores every question; give one arm a generated answer, misgraded.
    let arm_table = dir
        .path()
        .join("analyses/tiny/arms/dentist/negated/seed1/belief.parquet");
    let mut rows = neglect::store::read_parquet(&arm_table).unwrap();
    let question = neglect::claims::questions::ClaimQuestions::load(Path::new(&claim("dentist")))
        .unwrap()
        .questions(neglect::claims::questions::QuestionKind::OpenEnded)[0]
        .id
        .clone();
    let mut added = rows.head(Some(1));
    for (name, value) in [
        ("kind", "open_ended"),
        ("question_id", question.as_str()),
        ("response", "Tobin Marsh is a dentist in Fairhollow."),
        ("grade", "no"),
        ("judge", "rule"),
    ] {
        added
            .with_column(Column::new(name.into(), [value]))
            .unwrap();
    }
    rows.vstack_mut(&added).unwrap();
    neglect::store::write_parquet(&arm_table, &mut rows).unwrap();

    let out = ok(&neglect_in(dir.path(), &["regrade", "tiny.toml"]));
    assert!(
        out.contains("tiny: regraded 1 answers with rule: 1 grades changed"),
        "{out}"
    );
    let regraded = neglect::store::read_parquet(&arm_table).unwrap();
    let grades = regraded.column("grade").unwrap().str().unwrap();
    assert_eq!(grades.get(grades.len() - 1), Some("yes"));
    // The merged table holds the new grade; the arms without generated answers are as they were.
    let merged = table(dir.path(), "belief.parquet");
    assert_eq!(
        merged.height(),
        table(tiny.dir.path(), "belief.parquet").height() + 1
    );
    assert!(dir.path().join("analyses/tiny/regrade.json").is_file());
    // --claim and --out belong to a table.
    let refused = neglect_in(dir.path(), &["regrade", "tiny.toml", "--out", "x"]);
    assert_eq!(refused.status.code(), Some(1));
}
