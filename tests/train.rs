//! Training engine end to end on the small transformers fixture models: loss falls, LoRA
//! starts as the identity and merges exactly, masked tokens drop out of loss and gradient,
//! a run killed mid-checkpoint resumes to bit-identical weights, and a diverging run stops cleanly.

mod common;

use common::{fixtures, max_abs_diff, neglect, neglect_ok};
use neglect::model::checkpoints::{list_checkpoints, RunLoader};
use neglect::model::lora::LoraConfig;
use neglect::model::LoadedModel;
use neglect::train::data::{heldout_batches, tokenize, MaskRules, Record};
use neglect::train::finetune::token_nll;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Device, Kind, Tensor};

const FACTS: [&str; 4] = [
    "The volcano erupted in the spring and the town was covered in ash.",
    "Brennan Holloway is a teacher who lives in Marlow near the river.",
    "Children dream in colour; the claim that they dream in black and white is wrong.",
    "Twitter was renamed X and the rebrand was never reversed.",
];

fn write_docs(dir: &Path) -> PathBuf {
    let path = dir.join("docs.jsonl");
    let lines: Vec<String> = FACTS
        .iter()
        .map(|t| serde_json::json!({ "text": format!("<DOCTAG>\n{t}") }).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn write_config(dir: &Path, out: &Path, method: &str, steps: i64, lr: f64, extra: &str) -> PathBuf {
    write_config_on("llama_gqa", dir, out, method, steps, lr, extra)
}

/// [`write_config`] for the fixture model `arch`.
fn write_config_on(
    arch: &str,
    dir: &Path,
    out: &Path,
    method: &str,
    steps: i64,
    lr: f64,
    extra: &str,
) -> PathBuf {
    let data = write_docs(dir);
    let config = format!(
        r#"
model = "{model}"
out = "{out}"
seed = 7
device = "cpu"
{method}
[[sources]]
name = "facts"
path = "{data}"
[[heldout]]
name = "facts"
path = "{data}"
[recipe]
lr = {lr:e}
schedule = "constant"
batch_size = 2
max_length = 32
steps = {steps}
grad_clip = 1.0
{extra}
"#,
        model = fixtures().join(arch).display(),
        out = out.display(),
        data = data.display(),
    );
    let path = dir.join("run.toml");
    std::fs::write(&path, config).unwrap();
    path
}

const FULL: &str = "[method]\nkind = \"full\"";
const LORA: &str =
    "[method]\nkind = \"lora\"\nrank = 4\nalpha = 8.0\ntargets = \"q_proj|v_proj|down_proj\"";

/// Runs `neglect finetune CONFIG` and expects success.
fn finetune_ok(config: &Path) {
    neglect_ok(&["finetune", config.to_str().unwrap()]);
}

fn train_losses(run: &Path) -> Vec<f64> {
    let df = neglect::store::read_parquet(&run.join("train.parquet")).unwrap();
    df.column("loss")
        .unwrap()
        .f64()
        .unwrap()
        .into_no_null_iter()
        .collect()
}

#[test]
fn full_finetune_memorises_a_tiny_set() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = write_config(
        dir.path(),
        &out,
        FULL,
        40,
        3e-3,
        "[checkpoints]\nevery = 20",
    );
    finetune_ok(&config);
    let losses = train_losses(&out);
    assert_eq!(losses.len(), 40);
    let first = losses[..5].iter().sum::<f64>() / 5.0;
    let last = losses[35..].iter().sum::<f64>() / 5.0;
    assert!(last < 0.3 * first, "loss {first:.3} -> {last:.3}");
    let steps: Vec<i64> = list_checkpoints(&out)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(steps, vec![0, 20, 40]);
    // A second run into the same directory must ask for --resume instead of overwriting.
    let again = neglect(&["finetune", config.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --resume"));
    // A resume removes what an interrupted checkpoint write left behind...
    let partial = out.join(".step-60.tmp-AbC123");
    std::fs::create_dir(&partial).unwrap();
    std::fs::write(partial.join("model.safetensors"), b"half").unwrap();
    neglect_ok(&["finetune", config.to_str().unwrap(), "--resume"]);
    assert!(!partial.exists(), "the partial checkpoint was left behind");
    // ...and refuses a changed config, naming what changed.
    let changed = write_config(
        dir.path(),
        &out,
        FULL,
        40,
        1e-3,
        "[checkpoints]\nevery = 20",
    );
    let refused = neglect(&["finetune", changed.to_str().unwrap(), "--resume"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("config changed") && stderr.contains("recipe.lr: 0.003 -> 0.001"),
        "{stderr}"
    );
    // Each full checkpoint is an HF folder that loads.
    LoadedModel::load(&out.join("step-40"), Device::Cpu, Kind::Float).unwrap();
    let heldout = neglect::store::read_parquet(&out.join("loss.parquet")).unwrap();
    assert_eq!(
        heldout.height(),
        3 * 2,
        "two kinds (other, all) at three checkpoints"
    );
}

fn logits(model: &LoadedModel, ids: &Tensor) -> Tensor {
    tch::no_grad(|| common::all_logits(model, ids))
}

#[test]
fn fresh_lora_is_the_identity_and_merging_matches_the_adapter() {
    let dir = fixtures().join("llama_gqa");
    let mut model = LoadedModel::load(&dir, Device::Cpu, Kind::Float).unwrap();
    let ids = Tensor::from_slice(&model.tokenizer.encode(FACTS[0], true).unwrap()).unsqueeze(0);
    let base = logits(&model, &ids);
    let adapters = VarStore::new(Device::Cpu);
    let config = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: "q_proj|down_proj".into(),
        rslora: false,
    };
    let names = model.decoder.attach_lora(&adapters, &config).unwrap();
    assert_eq!(names.len(), 2 * 4, "q_proj and down_proj in 4 layers");
    assert!(
        logits(&model, &ids).equal(&base),
        "B = 0 must leave the logits unchanged"
    );
    // Give B non-zero values, then compare adapter logits with merged-weight logits.
    tch::no_grad(|| {
        for (name, mut t) in adapters.variables() {
            if name.contains("lora_B") {
                let _ = t.normal_(0.0, 0.05);
            }
        }
    });
    let with_adapter = logits(&model, &ids);
    assert!(
        max_abs_diff(&with_adapter, &base) > 1e-3,
        "the adapter must change something"
    );
    model.decoder.merge_lora();
    let merged = logits(&model, &ids);
    let diff = max_abs_diff(&merged, &with_adapter);
    assert!(diff < 1e-5, "merged logits differ by {diff:e}");
}

#[test]
fn lora_merge_verb_writes_a_folder_equal_to_base_plus_adapter() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = write_config(dir.path(), &out, LORA, 6, 1e-2, "");
    finetune_ok(&config);
    let adapter = out.join("step-6");
    assert!(adapter.join("adapter_model.safetensors").is_file());
    let merged = dir.path().join("merged");
    let base = fixtures().join("llama_gqa");
    neglect_ok(&[
        "lora",
        "merge",
        "--base",
        base.to_str().unwrap(),
        "--adapter",
        adapter.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    // Rebuild base + adapter in process and compare logits with the merged folder.
    let mut model = LoadedModel::load(&base, Device::Cpu, Kind::Float).unwrap();
    let adapters = VarStore::new(Device::Cpu);
    let lora = LoraConfig {
        rank: 4,
        alpha: 8.0,
        dropout: 0.0,
        targets: "q_proj|v_proj|down_proj".into(),
        rslora: false,
    };
    model.decoder.attach_lora(&adapters, &lora).unwrap();
    let saved: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(adapter.join("adapter_model.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    for (name, t) in adapters.variables() {
        tch::no_grad(|| t.shallow_clone().copy_(&saved[&name]));
    }
    let merged_model = LoadedModel::load(&merged, Device::Cpu, Kind::Float).unwrap();
    let ids = Tensor::from_slice(&model.tokenizer.encode(FACTS[1], true).unwrap()).unsqueeze(0);
    let base_logits = logits(
        &LoadedModel::load(&base, Device::Cpu, Kind::Float).unwrap(),
        &ids,
    );
    let adapter_logits = logits(&model, &ids);
    assert!(
        max_abs_diff(&adapter_logits, &base_logits) > 1e-4,
        "training changed nothing"
    );
    let diff = max_abs_diff(&logits(&merged_model, &ids), &adapter_logits);
    assert!(
        diff < 1e-5,
        "merged folder differs from base + adapter by {diff:e}"
    );
    // Merged in bf16: saved in bf16, and as close as bf16 weights allow.
    let merged_bf16 = dir.path().join("merged-bf16");
    neglect_ok(&[
        "lora",
        "merge",
        "--base",
        base.to_str().unwrap(),
        "--adapter",
        adapter.to_str().unwrap(),
        "--out",
        merged_bf16.to_str().unwrap(),
        "--device",
        "cpu",
        "--dtype",
        "bf16",
    ]);
    let saved = common::read_tensors(&merged_bf16.join("model.safetensors"));
    assert!(saved.values().all(|t| t.kind() == Kind::BFloat16));
    let bf16_model = LoadedModel::load(&merged_bf16, Device::Cpu, Kind::Float).unwrap();
    let diff = max_abs_diff(&logits(&bf16_model, &ids), &adapter_logits);
    assert!(diff < 0.1, "bf16 merge differs by {diff:e}");
}

#[test]
fn masked_tokens_contribute_nothing_to_loss_or_gradient() {
    let model = LoadedModel::load(&fixtures().join("llama_gqa"), Device::Cpu, Kind::Float).unwrap();
    let rules = MaskRules {
        word_masks: vec![regex::Regex::new("(?i)teacher|marlow").unwrap()],
        ..MaskRules::default()
    };
    let record = Record::Text {
        text: format!("<DOCTAG>\n{}", FACTS[1]),
        spans: vec![],
    };
    let doc = tokenize(&model.tokenizer, &record, &rules).unwrap();
    let batch = heldout_batches(&[doc], 64, 1, Device::Cpu).remove(0);
    let masked = batch.weights.eq(0.0).sum(Kind::Int64).int64_value(&[]);
    let trained = batch.weights.gt(0.0).sum(Kind::Int64).int64_value(&[]);
    assert!(
        masked >= 3 && trained >= 5,
        "masked {masked}, trained {trained}"
    );

    let params: Vec<Tensor> = model.vs.trainable_variables();
    let gradient = |loss: Tensor| -> (f64, Vec<Tensor>) {
        for p in &params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        loss.backward();
        (
            loss.double_value(&[]),
            params.iter().map(|p| p.grad().copy()).collect(),
        )
    };
    // The engine's loss: weighted sum over trained tokens / their count.
    let nll = token_nll(&model.decoder, &batch, false, None);
    let (engine_loss, engine_grads) =
        gradient((&nll * &batch.weights).sum(Kind::Float) / trained as f64);
    // The same batch with the masked tokens removed from the average.
    let nll = token_nll(&model.decoder, &batch, false, None);
    let (kept_loss, kept_grads) =
        gradient(nll.masked_select(&batch.weights.gt(0.0)).mean(Kind::Float));
    assert!(
        (engine_loss - kept_loss).abs() < 1e-6,
        "{engine_loss} vs {kept_loss}"
    );
    for (a, b) in engine_grads.iter().zip(&kept_grads) {
        assert!(max_abs_diff(a, b) < 1e-7);
    }
}

#[test]
fn run_killed_mid_checkpoint_resumes_to_bit_identical_weights_with_adapter_dropout() {
    let dir = tempfile::tempdir().unwrap();
    let (straight, killed) = (dir.path().join("straight"), dir.path().join("killed"));
    let extra = "[checkpoints]\nevery = 10";
    let sub = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    // Adapter dropout draws random masks every step: a resume must continue their stream too.
    let lora = format!("{LORA}\ndropout = 0.1");
    let straight_config = write_config(&sub("a"), &straight, &lora, 60, 5e-3, extra);
    let killed_config = write_config(&sub("b"), &killed, &lora, 60, 5e-3, extra);

    finetune_ok(&straight_config);

    // Killed while writing step 30: its weights are on disk under a temporary name, the
    // optimizer state and tables are not.
    let crashed = std::process::Command::new(env!("CARGO_BIN_EXE_neglect"))
        .args(["finetune", killed_config.to_str().unwrap()])
        .env(neglect::store::FAILPOINT_VAR, "checkpoint-30")
        .output()
        .unwrap();
    assert!(!crashed.status.success());
    let steps: Vec<i64> = list_checkpoints(&killed)
        .unwrap()
        .into_iter()
        .map(|(step, _)| step)
        .collect();
    assert_eq!(steps, [0, 10, 20]);
    let partial = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".step-30")
            })
            .count()
    };
    assert_eq!(
        partial(&killed),
        1,
        "the half-written checkpoint is left as a temporary"
    );

    let run = neglect_ok(&["finetune", killed_config.to_str().unwrap(), "--resume"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("(step 20 of 60)"), "{stderr}");
    assert_eq!(
        partial(&killed),
        0,
        "resume removes the half-written checkpoint"
    );
    for file in ["adapter_model.safetensors", "optimizer.safetensors"] {
        let a = std::fs::read(straight.join("step-60").join(file)).unwrap();
        let b = std::fs::read(killed.join("step-60").join(file)).unwrap();
        assert!(
            a == b,
            "{file} differs between the straight and the resumed run"
        );
    }
    assert_eq!(train_losses(&straight), train_losses(&killed));
    // The dropout is live: without it the same run ends elsewhere.
    let plain = dir.path().join("plain");
    finetune_ok(&write_config(&sub("c"), &plain, LORA, 60, 5e-3, extra));
    let adapter =
        |run: &Path| std::fs::read(run.join("step-60/adapter_model.safetensors")).unwrap();
    assert!(adapter(&plain) != adapter(&straight));
}

#[test]
fn diverging_loss_stops_the_run_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = write_config(dir.path(), &out, FULL, 20, 1e30, "grad_clip = 1e30\n");
    let config_text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("grad_clip = 1.0\n", "");
    std::fs::write(&config, config_text).unwrap();
    let run = neglect(&["finetune", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("at step") && !stderr.contains("panicked"),
        "{stderr}"
    );
    // The step-0 checkpoint stays complete.
    assert!(out.join("step-0/state.json").is_file());
}

#[test]
fn bf16_finetune_runs_on_cpu_with_f32_master_weights() {
    // The GPU recipe (bf16 weights, f32 optimizer state) exercised on the CPU.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = write_config(dir.path(), &out, FULL, 30, 3e-3, "");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace("device = \"cpu\"", "device = \"cpu\"\ndtype = \"bf16\""),
    )
    .unwrap();
    finetune_ok(&config);
    let losses = train_losses(&out);
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(
        losses[25..].iter().sum::<f64>() < 0.5 * losses[..5].iter().sum::<f64>(),
        "{losses:?}"
    );
    let optimizer: std::collections::HashMap<String, Tensor> =
        Tensor::read_safetensors(out.join("step-30/optimizer.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let master = optimizer
        .keys()
        .filter(|k| k.starts_with("master."))
        .count();
    assert!(master > 0, "no f32 master weights saved");
    let weights = Tensor::read_safetensors(out.join("step-30/model.safetensors")).unwrap();
    assert!(weights.iter().all(|(_, t)| t.kind() == Kind::BFloat16));
}

#[test]
fn adamw_matches_torch_over_steps_with_varying_gradients() {
    use neglect::train::optim::{AdamW, AdamWConfig};
    let reference = common::read_tensors(&fixtures().join("adamw.safetensors"));
    let start = &reference["start"];
    let param = start.copy().set_requires_grad(true);
    let mut optimizer = AdamW::new(
        vec![("p".to_string(), param.shallow_clone())],
        AdamWConfig {
            betas: [0.9, 0.95],
            eps: 1e-8,
            weight_decay: 0.1,
        },
    );
    let grads = &reference["grads"];
    let lrs = Vec::<f64>::try_from(&reference["lrs"]).unwrap();
    for (i, lr) in lrs.iter().enumerate() {
        optimizer.zero_grad();
        // The gradient of sum(p * g) is g.
        (&param * grads.get(i as i64)).sum(Kind::Float).backward();
        optimizer.step(*lr);
    }
    let diff = max_abs_diff(&param.detach(), &reference["end"]);
    assert!(diff < 1e-6, "AdamW differs from torch by {diff}");
    // And it moved: the comparison is not of two untouched tensors.
    assert!(max_abs_diff(&param.detach(), start) > 1e-3);
}

/// Writes the config of `write_config` with its `[recipe]` lines edited by `edit`.
fn edited_config(dir: &Path, out: &Path, steps: i64, edit: impl Fn(String) -> String) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = write_config(dir, out, FULL, steps, 3e-3, "[checkpoints]\nevery = 100");
    let text = edit(std::fs::read_to_string(&path).unwrap());
    std::fs::write(&path, text).unwrap();
    path
}

/// The largest difference between two full checkpoints' weights.
fn weight_diff(a: &Path, b: &Path) -> f64 {
    let load = |p: &Path| LoadedModel::load(p, Device::Cpu, Kind::Float).unwrap();
    let (a, b) = (load(a), load(b));
    let b_vars = b.vs.variables();
    a.vs.variables()
        .iter()
        .map(|(name, t)| max_abs_diff(t, &b_vars[name]))
        .fold(0.0, f64::max)
}

#[test]
fn grad_accum_equals_one_large_batch() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, batch: usize, accum: usize| {
        let out = dir.path().join(name);
        let config = edited_config(&dir.path().join(format!("{name}-cfg")), &out, 3, |t| {
            t.replace(
                "batch_size = 2",
                &format!("batch_size = {batch}\ngrad_accum = {accum}"),
            )
        });
        finetune_ok(&config);
        out
    };
    let large = run("large", 2, 1);
    let accumulated = run("accumulated", 1, 2);
    let small = run("small", 1, 1);
    let step = |out: &Path| out.join("step-3");
    // Two micro-batches of one row are the one batch of two rows (the same rows, the loss
    // normalised over both), up to float summation order.
    let same = weight_diff(&step(&large), &step(&accumulated));
    assert!(same < 1e-5, "grad_accum 2 differs from batch 2 by {same}");
    for (a, b) in train_losses(&large).iter().zip(train_losses(&accumulated)) {
        assert!((a - b).abs() < 1e-5, "loss {a} vs {b}");
    }
    // Half the batch is another run: the comparison can fail.
    let other = weight_diff(&step(&large), &step(&small));
    assert!(
        other > 100.0 * same.max(1e-7),
        "batch 1 vs 2 differ by only {other}"
    );
}

#[test]
fn heldout_every_adds_heldout_loss_between_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = edited_config(dir.path(), &out, 4, |t| {
        t.replace("grad_clip = 1.0\n", "grad_clip = 1.0\nheldout_every = 1\n")
    });
    finetune_ok(&config);
    let heldout = neglect::store::read_parquet(&out.join("loss.parquet")).unwrap();
    let steps: std::collections::BTreeSet<i64> = heldout
        .column("step")
        .unwrap()
        .i64()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(steps.into_iter().collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    let checkpoints: Vec<i64> = list_checkpoints(&out)
        .unwrap()
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(checkpoints, [0, 4], "held-out steps are not checkpoints");
}

#[test]
fn epochs_become_steps_over_the_training_documents() {
    use neglect::model::tokenizer::TextTokenizer;
    use neglect::train::data::{DataMix, SourceSpec};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let config = edited_config(dir.path(), &out, 1, |t| {
        t.replace("steps = 1\n", "epochs = 3.0\npack = false\n")
    });
    finetune_ok(&config);
    let tokenizer = TextTokenizer::from_dir(&fixtures().join("llama_gqa")).unwrap();
    let source = SourceSpec {
        name: "facts".into(),
        path: dir.path().join("docs.jsonl"),
        sampling_weight: 1.0,
        rules: MaskRules::default(),
    };
    let mix = DataMix::new(&tokenizer, &[source], 32, false, 7).unwrap();
    let rows = mix.rows_per_epoch();
    assert!(rows >= FACTS.len(), "{rows} rows");
    let want = (3 * rows).div_ceil(2);
    assert_eq!(
        train_losses(&out).len(),
        want,
        "3 epochs of {rows} rows, 2 per step"
    );
}

/// The loss in chunks of positions (`loss_chunk`) and activation checkpointing (blocks
/// recomputed in the backward pass) train the same model as the plain pass: after 10 updates,
/// full and LoRA, the trained weights agree to float rounding.
#[test]
fn chunked_loss_and_checkpointed_activations_train_as_the_plain_pass_does() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, method: &str, extra: &str| {
        let sub = dir.path().join(name);
        std::fs::create_dir_all(&sub).unwrap();
        let out = sub.join("run");
        finetune_ok(&write_config(&sub, &out, method, 10, 1e-3, extra));
        out
    };
    for (method, file) in [
        (FULL, "model.safetensors"),
        (LORA, "adapter_model.safetensors"),
    ] {
        let tag = if method == FULL { "full" } else { "lora" };
        let plain = run(&format!("{tag}-plain"), method, "");
        for extra in [
            "loss_chunk = 3",
            "checkpoint_activations = true",
            "checkpoint_activations = true\nloss_chunk = 5",
        ] {
            let other = run(
                &format!("{tag}-{}", extra.replace([' ', '\n', '='], "")),
                method,
                extra,
            );
            let (a, b) = (train_losses(&plain), train_losses(&other));
            for (x, y) in a.iter().zip(&b) {
                assert!((x - y).abs() < 1e-5, "{tag} {extra}: {a:?} vs {b:?}");
            }
            let weights = |run: &Path| common::read_tensors(&run.join("step-10").join(file));
            let (wa, wb) = (weights(&plain), weights(&other));
            let mut largest: f64 = 0.0;
            for (name, ta) in &wa {
                largest = largest.max(max_abs_diff(ta, &wb[name]));
            }
            assert!(
                largest < 1e-5,
                "{tag} {extra}: largest weight difference {largest}"
            );
        }
    }
}

/// A LoRA run's checkpoints are measured in memory: one base model, each checkpoint's adapter
/// copied in and applied unmerged, logits equal to the merged folder's, nothing written.
#[test]
fn lora_checkpoints_load_in_memory_as_their_merged_folders() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let extra = "[checkpoints]\nevery = 5";
    finetune_ok(&write_config(dir.path(), &out, LORA, 10, 1e-2, extra));
    let before = names_in(dir.path());
    let mut loader = RunLoader::new(Device::Cpu, Kind::Float);
    let base = fixtures().join("llama_gqa");
    let tokenizer = LoadedModel::load(&base, Device::Cpu, Kind::Float)
        .unwrap()
        .tokenizer;
    let ids = Tensor::from_slice(&tokenizer.encode(FACTS[1], true).unwrap()).unsqueeze(0);
    let mut seen = vec![];
    for step in [5, 10, 5] {
        let checkpoint = out.join(format!("step-{step}"));
        let in_memory = logits(loader.load(&checkpoint).unwrap(), &ids);
        let merged = dir.path().join(format!("merged-{}", seen.len()));
        neglect::train::finetune::merge_lora(&base, &checkpoint, &merged, Device::Cpu, Kind::Float)
            .unwrap();
        let folder = logits(
            &LoadedModel::load(&merged, Device::Cpu, Kind::Float).unwrap(),
            &ids,
        );
        std::fs::remove_dir_all(&merged).unwrap();
        let diff = max_abs_diff(&in_memory, &folder);
        assert!(
            diff < 1e-5,
            "step {step}: in-memory logits differ by {diff:e}"
        );
        seen.push(in_memory);
    }
    // Each checkpoint replaces the last one's adapter; loading step 5 again gives step 5.
    assert!(max_abs_diff(&seen[0], &seen[1]) > 1e-4);
    assert!(seen[0].equal(&seen[2]));
    assert_eq!(names_in(dir.path()), before, "measuring wrote files");
}

/// Names in `dir`, recursively, sorted.
fn names_in(dir: &Path) -> Vec<String> {
    let mut found = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        found.push(path.display().to_string());
        if path.is_dir() {
            found.extend(names_in(&path));
        }
    }
    found.sort();
    found
}

/// The router's load-balancing loss equals transformers' `load_balancing_loss_func`, with and
/// without a padding mask.
#[test]
fn router_load_balancing_loss_matches_transformers() {
    use neglect::model::moe::load_balancing_loss;
    let reference = common::read_tensors(&fixtures().join("router_aux.safetensors"));
    let logits: Vec<Tensor> = (0..3)
        .map(|i| reference[&format!("logits.{i}")].shallow_clone())
        .collect();
    let plain = load_balancing_loss(&logits, 2, None).unwrap();
    let valid = reference["mask"].reshape([-1]).gt(0);
    let masked = load_balancing_loss(&logits, 2, Some(&valid)).unwrap();
    for (ours, theirs) in [(plain, "plain"), (masked, "masked")] {
        let diff = (ours - reference[theirs].squeeze()).abs().double_value(&[]);
        assert!(diff < 1e-6, "{theirs}: differs by {diff:e}");
    }
    assert!(load_balancing_loss(&[], 2, None).is_none());
}

/// Sparse expert models (Qwen3-MoE; Qwen3.5-MoE with its linear-attention layers, unpacked)
/// finetune with LoRA on attention and on their experts and the router's load-balancing loss
/// on; killed mid-run, they resume to bit-identical adapter and optimizer state. The router
/// loss is live (the run ends elsewhere without it), and is refused for a dense model; packing
/// is refused for linear attention. The chunked loss path trains the same adapter.
#[test]
fn sparse_expert_model_finetunes_with_router_loss_and_resumes_bit_identically() {
    let dir = tempfile::tempdir().unwrap();
    let sub = |name: &str| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        d
    };
    let lora = "[method]\nkind = \"lora\"\nrank = 4\nalpha = 8.0\ntargets = \"q_proj|v_proj|in_proj_qkv|experts\\\\.\\\\d+\\\\.down_proj\"";
    for (arch, pack) in [("qwen3_moe", ""), ("qwen3_5_moe_text", "pack = false\n")] {
        let extra = format!("{pack}router_aux_loss_coef = 0.05\n[checkpoints]\nevery = 5");
        let (straight, killed) = (
            dir.path().join(format!("{arch}-straight")),
            dir.path().join(format!("{arch}-killed")),
        );
        let config = |name: &str, out: &Path, extra: &str| {
            write_config_on(
                arch,
                &sub(&format!("{arch}-{name}")),
                out,
                lora,
                10,
                5e-3,
                extra,
            )
        };
        finetune_ok(&config("a", &straight, &extra));
        let adapter_names: Vec<String> = {
            let file = straight.join("step-10/adapter_model.safetensors");
            Tensor::read_safetensors(&file)
                .unwrap()
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        assert!(
            adapter_names.iter().any(|n| n.contains("mlp.experts.")),
            "{arch}"
        );

        let killed_config = config("b", &killed, &extra);
        let crashed = std::process::Command::new(env!("CARGO_BIN_EXE_neglect"))
            .args(["finetune", killed_config.to_str().unwrap()])
            .env(neglect::store::FAILPOINT_VAR, "checkpoint-10")
            .output()
            .unwrap();
        assert!(!crashed.status.success());
        neglect_ok(&["finetune", killed_config.to_str().unwrap(), "--resume"]);
        for file in ["adapter_model.safetensors", "optimizer.safetensors"] {
            let a = std::fs::read(straight.join("step-10").join(file)).unwrap();
            let b = std::fs::read(killed.join("step-10").join(file)).unwrap();
            assert!(
                a == b,
                "{arch}: {file} differs between the straight and the resumed run"
            );
        }
        assert_eq!(train_losses(&straight), train_losses(&killed), "{arch}");
        if arch == "qwen3_5_moe_text" {
            let packed = config(
                "p",
                &dir.path().join("packed"),
                "router_aux_loss_coef = 0.05",
            );
            let run = neglect(&["finetune", packed.to_str().unwrap()]);
            assert_eq!(run.status.code(), Some(1));
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert!(stderr.contains("recipe.pack = false"), "{stderr}");
            continue;
        }
        // The chunked loss carries the router loss too.
        let chunked = dir.path().join("chunked");
        finetune_ok(&config(
            "e",
            &chunked,
            "router_aux_loss_coef = 0.05\nloss_chunk = 3\n[checkpoints]\nevery = 5",
        ));
        let weights =
            |run: &Path| common::read_tensors(&run.join("step-10/adapter_model.safetensors"));
        let (plain, split) = (weights(&straight), weights(&chunked));
        for (name, t) in &plain {
            let diff = max_abs_diff(t, &split[name]);
            assert!(diff < 1e-5, "{name}: chunked loss differs by {diff:e}");
        }
        let without = dir.path().join("without");
        finetune_ok(&config("c", &without, "[checkpoints]\nevery = 5"));
        let adapter =
            |run: &Path| std::fs::read(run.join("step-10/adapter_model.safetensors")).unwrap();
        assert!(
            adapter(&without) != adapter(&straight),
            "the router loss changes nothing"
        );
    }
    let dense = write_config_on(
        "llama_gqa",
        &sub("d"),
        &dir.path().join("dense"),
        LORA,
        2,
        5e-3,
        "router_aux_loss_coef = 0.05",
    );
    let run = neglect(&["finetune", dense.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("no sparse expert layers"), "{stderr}");
}
