//! Model stack against HF transformers: logits and hidden states of every architecture, sharded
//! loading, tokenizer ids, chat templates, greedy generation, the imported SmolLM2, and the
//! errors bad model folders give.
//!
//! The reference outputs come from `python/make_fixtures.py`, which `make test` runs once and
//! caches; it passes their folder in `NEGLECT_FIXTURES` and the imported SmolLM2 folder in
//! `NEGLECT_SMOLLM2`.

mod common;

use common::{fixtures, forward_on, max_abs_diff, neglect, neglect_ok, read_tensors, smollm2};
use neglect::model::generate::{generate, Sampling};
use neglect::model::tokenizer::ChatMessage;
use neglect::model::LoadedModel;
use serde_json::Value;
use std::path::Path;
use tch::{Device, Kind};

/// Architectures the fixtures cover.
const ARCHS: [&str; 17] = [
    "llama_gqa",
    "llama3_scaled",
    "qwen2_tied",
    "qwen2_untied",
    "qwen3_tied",
    "qwen3_untied",
    "gpt2",
    "mistral_sliding",
    "olmo2",
    "olmo3",
    "phi3",
    "gemma2",
    "gemma3_text",
    "qwen3_moe",
    "qwen3_moe_step2",
    "qwen3_5_text",
    "qwen3_5_moe_text",
];

/// f32 parity bound the design sets (max abs difference of logits and hidden states).
const F32_TOLERANCE: f64 = 1e-4;

fn texts() -> Value {
    let text = std::fs::read_to_string(fixtures().join("texts.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs `neglect forward` on a fixture model and returns its tensors with the reference's.
fn forward_pair(arch: &str, dtype: &str) -> (common::Tensors, common::Tensors) {
    let dir = fixtures().join(arch);
    let text = texts()["forward"].as_str().unwrap().to_string();
    (
        common::forward(&dir, &text, dtype),
        read_tensors(&dir.join("reference.safetensors")),
    )
}

#[test]
fn f32_logits_and_hidden_states_match_transformers() {
    for arch in ARCHS {
        let (ours, reference) = forward_pair(arch, "f32");
        assert!(
            ours["input_ids"].equal(&reference["input_ids"]),
            "{arch}: token ids differ"
        );
        let layers = reference
            .keys()
            .filter(|k| k.starts_with("hidden."))
            .count();
        assert!(layers >= 4, "{arch}: reference has {layers} hidden states");
        let mut names = vec!["logits".to_string()];
        names.extend((0..layers).map(|i| format!("hidden.{i}")));
        for name in names {
            let diff = max_abs_diff(&ours[&name], &reference[&name]);
            assert!(diff <= F32_TOLERANCE, "{arch}: {name} differs by {diff:e}");
        }
    }
}

/// bf16: each implementation rounds to 8 significant bits at every op, so exact agreement
/// is not expected. The bound is self-calibrating: our bf16 logits may be at most twice as
/// far from transformers' f32 logits as transformers' own bf16 logits are (plus 1e-3 slack for
/// models whose reference error is tiny). An implementation that rounds at the same points
/// as HF sits near 1x; a wrong dtype path (an f16 cast, a norm not upcast to f32) lands far
/// above 2x.
#[test]
fn bf16_logits_are_as_close_to_f32_as_transformers_own_bf16() {
    for arch in ARCHS {
        let (ours, reference) = forward_pair(arch, "bf16");
        let reference_error = max_abs_diff(&reference["logits_bf16"], &reference["logits"]);
        let our_error = max_abs_diff(&ours["logits"], &reference["logits"]);
        let to_hf_bf16 = max_abs_diff(&ours["logits"], &reference["logits_bf16"]);
        eprintln!("{arch}: bf16 error ours {our_error:.2e}, transformers {reference_error:.2e}, ours vs hf bf16 {to_hf_bf16:.2e}");
        assert!(
            our_error <= 2.0 * reference_error + 1e-3,
            "{arch}: bf16 logits off by {our_error:e}; transformers' bf16 is off by {reference_error:e}"
        );
    }
}

#[test]
fn sharded_checkpoint_loads_the_same_tensors_as_single_file() {
    let single =
        LoadedModel::load(&fixtures().join("llama_gqa"), Device::Cpu, Kind::Float).unwrap();
    let sharded = LoadedModel::load(
        &fixtures().join("llama_gqa_sharded"),
        Device::Cpu,
        Kind::Float,
    )
    .unwrap();
    assert!(fixtures()
        .join("llama_gqa_sharded/model.safetensors.index.json")
        .is_file());
    let a = single.vs.variables();
    let b = sharded.vs.variables();
    assert_eq!(a.len(), b.len());
    for (name, tensor) in &a {
        assert!(
            tensor.equal(&b[name]),
            "{name} differs between sharded and single-file loads"
        );
    }
}

fn model_dir(label: &str) -> std::path::PathBuf {
    if label == "smollm2" {
        smollm2()
    } else {
        fixtures().join(label)
    }
}

#[test]
fn token_ids_match_transformers() {
    let cases: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("tokenizers.json")).unwrap())
            .unwrap();
    assert!(
        cases.iter().any(|c| c["model"] == "smollm2"),
        "no SmolLM2 cases"
    );
    for case in cases {
        let dir = model_dir(case["model"].as_str().unwrap());
        let tokenizer = neglect::model::tokenizer::TextTokenizer::from_dir(&dir).unwrap();
        let text = case["text"].as_str().unwrap();
        let expected: Vec<i64> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        assert_eq!(
            tokenizer.encode(text, true).unwrap(),
            expected,
            "{}: {text:?}",
            dir.display()
        );
    }
}

#[test]
fn chat_templates_render_like_transformers() {
    let rows: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join("chat.json")).unwrap())
            .unwrap();
    let smol_rows = rows.iter().filter(|r| r["model"] == "smollm2").count();
    assert!(
        smol_rows >= 6,
        "expected SmolLM2 chat cases, found {smol_rows}"
    );
    for row in rows {
        let dir = model_dir(row["model"].as_str().unwrap());
        let tokenizer = neglect::model::tokenizer::TextTokenizer::from_dir(&dir).unwrap();
        let messages: Vec<ChatMessage> = serde_json::from_value(row["messages"].clone()).unwrap();
        let add = row["add_generation_prompt"].as_bool().unwrap();
        let rendered = tokenizer.render_chat(&messages, add).unwrap();
        assert_eq!(
            rendered,
            row["text"].as_str().unwrap(),
            "{}: {messages:?}",
            dir.display()
        );
    }
}

#[test]
fn chat_template_errors_surface() {
    let tokenizer =
        neglect::model::tokenizer::TextTokenizer::from_dir(&fixtures().join("llama_gqa")).unwrap();
    let bad = [ChatMessage::new("assistant", "hi")];
    let err = tokenizer.render_chat(&bad, true).unwrap_err();
    assert!(
        format!("{err:#}").contains("roles must alternate"),
        "{err:#}"
    );
}

#[test]
fn greedy_generation_matches_transformers() {
    for arch in ARCHS {
        let dir = fixtures().join(arch);
        let expected: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("generate.json")).unwrap())
                .unwrap();
        let ids = |key: &str| -> Vec<i64> {
            expected[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_i64().unwrap())
                .collect()
        };
        let model = LoadedModel::load(&dir, Device::Cpu, Kind::Float).unwrap();
        let ours = generate(
            &model.decoder,
            &ids("prompt_ids"),
            20,
            Sampling::Greedy,
            &model.stop_ids(),
        )
        .unwrap();
        assert_eq!(ours, ids("new_ids"), "{arch}: greedy continuation differs");
    }
}

#[test]
fn smollm2_logits_match_transformers() {
    let text = texts()["paris"].as_str().unwrap().to_string();
    let ours = common::forward(&smollm2(), &text, "f32");
    let reference = read_tensors(&fixtures().join("smollm2.safetensors"));
    assert!(ours["input_ids"].equal(&reference["input_ids"]));
    let diff = max_abs_diff(&ours["logits"], &reference["logits"]);
    assert!(diff <= 1e-3, "SmolLM2 logits differ by {diff:e}");
    assert_eq!(ours.keys().filter(|k| k.starts_with("hidden.")).count(), 31);
}

#[test]
fn smollm2_knows_capitals() {
    let dir = smollm2();
    let dir = dir.to_str().unwrap();
    let run = neglect(&[
        "generate",
        dir,
        "--prompt",
        "The capital of France is",
        "--max-new-tokens",
        "8",
        "--device",
        "cpu",
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && text.contains("Paris"),
        "completion: {text:?}"
    );
    let run = neglect(&[
        "generate",
        dir,
        "--chat",
        "--prompt",
        "What is the capital of Japan?",
        "--max-new-tokens",
        "24",
        "--device",
        "cpu",
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success() && text.contains("Tokyo"),
        "chat answer: {text:?}"
    );
}

#[test]
fn model_info_reports_smollm2_shape() {
    let run = neglect(&["model", "info", smollm2().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    for expected in [
        "llama",
        "layers          30",
        "d_model         576",
        "heads           9",
        "kv heads        3",
        "49152",
        "tied embeddings true",
        "saved dtype     ",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

/// `model info` shows layer types (sliding windows, sparse layers) and the experts.
#[test]
fn model_info_shows_layer_types_and_experts() {
    for (arch, expected) in [
        (
            "qwen3_moe_step2",
            vec![
                "architecture    qwen3_moe",
                "active params   147392 per token",
                "experts         6 per sparse layer, top 3, expert mlp dim 24; sparse: layers 1, 3 (2 of 4)",
            ],
        ),
        (
            "gemma3_text",
            vec![
                "norms           sandwich (rms_unit_offset), q/k norm per_head",
                "attention       full: layers 2; sliding (window 8): layers 0-1, 3; logits capped at 1.5",
            ],
        ),
        (
            "phi3",
            vec!["sliding (window 12): layers 0-3; rotary on 8 of 16 dims"],
        ),
        (
            "qwen3_5_text",
            vec!["attention       full: layers 2; gated DeltaNet (2 key / 4 value heads of 16 / 12, conv 4): layers 0-1, 3; gated attention output; rotary on 4 of 16 dims"],
        ),
    ] {
        let run = neglect_ok(&["model", "info", fixtures().join(arch).to_str().unwrap()]);
        let text = String::from_utf8_lossy(&run.stdout);
        for line in expected {
            assert!(text.contains(line), "{arch}: missing {line:?} in:\n{text}");
        }
    }
}

#[test]
fn model_info_reads_the_weights_dtype_and_refuses_unreadable_weights() {
    let dir = broken_copy();
    let run = neglect(&["model", "info", dir.path().to_str().unwrap()]);
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stdout).contains("saved dtype     f32"));
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let run = neglect(&["model", "info", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("model.safetensors") && stderr.contains("invalid safetensors file"),
        "{stderr}"
    );
}

/// A copy of the llama fixture that a test may break.
fn broken_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(fixtures().join("llama_gqa")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

fn edit_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) {
    let path = dir.join("config.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(config.as_object_mut().unwrap());
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
}

/// Runs `neglect model info` and `neglect forward` on `dir`, expects exit code 1 with a message
/// naming `file` and containing `problem`, and no output file.
fn assert_clean_failure(dir: &Path, file: &str, problem: &str) {
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("out.safetensors");
    let run = neglect(&[
        "forward",
        dir.to_str().unwrap(),
        "--text",
        "hello",
        "--out",
        target.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(
        stderr.contains(file),
        "error does not name {file}: {stderr}"
    );
    assert!(
        stderr.contains(problem),
        "error does not say {problem:?}: {stderr}"
    );
    assert!(!target.exists(), "output written despite the error");
}

#[test]
fn missing_config_key_is_named() {
    let dir = broken_copy();
    edit_config(dir.path(), |c| {
        c.remove("hidden_size");
    });
    assert_clean_failure(dir.path(), "config.json", "missing key `hidden_size`");
}

#[test]
fn unknown_model_type_is_named() {
    let dir = broken_copy();
    edit_config(dir.path(), |c| {
        c.insert("model_type".into(), Value::String("mamba".into()));
    });
    assert_clean_failure(dir.path(), "config.json", "unknown model_type `mamba`");
}

#[test]
fn truncated_safetensors_is_named() {
    let dir = broken_copy();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_clean_failure(dir.path(), "model.safetensors", "invalid safetensors file");
}

#[test]
fn wrong_tensor_shape_is_named() {
    let dir = broken_copy();
    edit_config(dir.path(), |c| {
        c.insert("intermediate_size".into(), Value::from(96));
    });
    assert_clean_failure(dir.path(), "model.safetensors", "the model expects [");
}

#[test]
fn tokenizer_larger_than_embedding_is_named() {
    let dir = broken_copy();
    edit_config(dir.path(), |c| {
        c.insert("vocab_size".into(), Value::from(100));
    });
    assert_clean_failure(
        dir.path(),
        "tokenizer.json",
        "but the model's embedding has only 100 rows",
    );
}

#[test]
fn missing_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model");
    assert_clean_failure(&missing, "no-such-model", "model directory does not exist");
}

/// `--device cuda` runs where libtorch sees a GPU and is a clear error where it does not
/// (CI): the test checks whichever branch the machine is on.
#[test]
fn cuda_runs_or_is_a_clear_error() {
    let dir = fixtures().join("llama_gqa");
    let run = neglect(&[
        "generate",
        dir.to_str().unwrap(),
        "--prompt",
        "hi",
        "--max-new-tokens",
        "4",
        "--device",
        "cuda",
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    if tch::Cuda::is_available() {
        assert!(run.status.success(), "{stderr}");
    } else {
        assert_eq!(run.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("--device cuda: libtorch sees no CUDA device"),
            "{stderr}"
        );
    }
}

/// `neglect bench device` (the GPU self-check) on the CPU with a tiny Qwen3-shaped model:
/// every check runs and passes (parity, LoRA training, bit-identical resume, batched
/// generation, evaluation of every checkpoint); a config too small for the tokenizer is a
/// clear error.
#[test]
fn device_self_check_runs_on_the_cpu() {
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("tiny.json");
    let write = |vocab: i64| {
        std::fs::write(
            &config,
            format!(
                r#"{{"model_type":"qwen3","vocab_size":{vocab},"hidden_size":64,"intermediate_size":128,
                "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"head_dim":16,
                "max_position_embeddings":512,"rms_norm_eps":1e-6,"rope_theta":10000,
                "tie_word_embeddings":true,"hidden_act":"silu","attention_bias":false}}"#
            ),
        )
        .unwrap()
    };
    let args = |keep: &str| {
        vec![
            "bench".to_string(),
            "device".into(),
            "--random".into(),
            config.to_str().unwrap().into(),
            "--device".into(),
            "cpu".into(),
            "--steps".into(),
            "6".into(),
            "--batch".into(),
            "2".into(),
            "--seq".into(),
            "64".into(),
            "--gen-batch".into(),
            "4".into(),
            "--new-tokens".into(),
            "8".into(),
            "--keep".into(),
            keep.into(),
        ]
    };
    write(4096);
    let keep = scratch.path().join("work");
    let argv = args(keep.to_str().unwrap());
    let run = neglect_ok(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    let stdout = String::from_utf8_lossy(&run.stdout);
    for line in [
        "parity f32",
        "parity bf16",
        "forward bf16",
        "train lora bf16",
        "train tokens/s",
        "resume from step 3: adapter at step 6 max |diff| 0.00e0 vs a straight run (bit-identical",
        "generate bf16 greedy",
        "batched rows equal to their prompt alone (greedy and sampled, 16 tokens): 4 of 4: ok",
        "eval bf16: 3 checkpoints x 50 questions",
        "device check: 6 of 6 checks passed",
    ] {
        assert!(stdout.contains(line), "no `{line}` in:\n{stdout}");
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
    assert!(keep.join("run/step-6/adapter_model.safetensors").is_file());

    write(64);
    let argv = args(scratch.path().join("small").to_str().unwrap());
    let run = neglect(&argv.iter().map(String::as_str).collect::<Vec<_>>());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("tokens do not fit the 64 rows") && stderr.contains("tiny.json"),
        "{stderr}"
    );
}

/// The GPU check (README, "Running on a GPU"): logits on CUDA equal the CPU's within f32
/// kernel noise, and bf16 within bf16's.
#[test]
#[ignore = "needs a CUDA GPU: cargo test --release --test model -- --ignored cuda"]
fn cuda_logits_match_the_cpu() {
    assert!(tch::Cuda::is_available(), "libtorch sees no CUDA device");
    let dir = fixtures().join("llama_gqa");
    let text = "The volcano erupted in the spring and the town was covered in ash.";
    for (dtype, tolerance) in [("f32", 1e-4), ("bf16", 5e-2)] {
        let cpu = forward_on(&dir, text, "cpu", "f32");
        let gpu = forward_on(&dir, text, "cuda", dtype);
        let diff = max_abs_diff(&cpu["logits"], &gpu["logits"]);
        assert!(diff < tolerance, "{dtype}: logits differ by {diff}");
    }
}

/// Batched generation gives every row exactly the tokens that its prompt and sampling give
/// alone: left padding masked out, positions per row, greedy and sampled rows, mixed prompt
/// lengths, and a row that stops early while the others go on.
#[test]
fn batched_generation_matches_one_prompt_at_a_time() {
    use neglect::model::generate::generate_batch;
    for arch in [
        "llama_gqa",
        "gpt2",
        "qwen3_tied",
        "mistral_sliding",
        "gemma3_text",
        "qwen3_moe",
        "qwen3_5_text",
        "qwen3_5_moe_text",
    ] {
        let model = LoadedModel::load(&fixtures().join(arch), Device::Cpu, Kind::Float).unwrap();
        let prompts: Vec<Vec<i64>> = [
            "The weather today",
            "Once upon a time in a land far away there lived",
            "A",
            "Numbers: one two three",
        ]
        .iter()
        .map(|t| model.tokenizer.encode(t, false).unwrap())
        .collect();
        let samplings: Vec<Sampling> = (0..prompts.len())
            .map(|i| {
                if i % 2 == 0 {
                    Sampling::Greedy
                } else {
                    Sampling::TopP {
                        temperature: 0.9,
                        top_p: 0.95,
                        seed: 11 + i as u64,
                    }
                }
            })
            .collect();
        // The first greedy token of prompt 0 is a stop token: that row ends after one token.
        let first = generate(&model.decoder, &prompts[0], 1, Sampling::Greedy, &[]).unwrap()[0];
        let stop = [first];
        let batched = generate_batch(&model.decoder, &prompts, 12, &samplings, &stop).unwrap();
        assert_eq!(batched[0], [first], "{arch}");
        for (i, prompt) in prompts.iter().enumerate() {
            let alone = generate(&model.decoder, prompt, 12, samplings[i], &stop).unwrap();
            assert_eq!(batched[i], alone, "{arch}: row {i}");
        }
        assert!(batched[1..].iter().any(|r| r.len() > 1), "{arch}");
    }
}

/// Adapters saved by HF peft (target_modules as a list, a regex or `all-linear`, rank-stabilised
/// scaling, per-layer rank and alpha) load in memory onto their base model with logits equal to
/// peft's within 1e-4 (f32); a DoRA adapter is refused, naming the key.
#[test]
fn peft_adapters_load_with_peft_logits() {
    use neglect::model::checkpoints::RunLoader;
    for case in ["peft_llama_list", "peft_llama_patterns", "peft_qwen3"] {
        let dir = fixtures().join(case);
        let reference = read_tensors(&dir.join("reference.safetensors"));
        let mut loader = RunLoader::new(Device::Cpu, Kind::Float);
        let model = loader.load(&dir).unwrap();
        let ids = reference["input_ids"].unsqueeze(0);
        let logits = tch::no_grad(|| {
            model
                .decoder
                .forward(&ids, neglect::model::decoder::ForwardArgs::default())
        })
        .logits
        .unwrap()
        .squeeze_dim(0);
        let diff = max_abs_diff(&logits, &reference["logits"]);
        assert!(diff < 1e-4, "{case}: logits differ from peft's by {diff:e}");
    }
    let mut loader = RunLoader::new(Device::Cpu, Kind::Float);
    let error = format!(
        "{:#}",
        loader.load(&fixtures().join("peft_dora")).err().unwrap()
    );
    assert!(
        error.contains("use_dora: DoRA adapters are not supported"),
        "{error}"
    );

    // `--adapter` on a verb: forward with the adapter gives peft's logits.
    let case = fixtures().join("peft_llama_patterns");
    let reference = read_tensors(&case.join("reference.safetensors"));
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("forward.safetensors");
    let text = texts()["forward"].as_str().unwrap().to_string();
    let run = neglect(&[
        "forward",
        fixtures().join("llama_gqa").to_str().unwrap(),
        "--adapter",
        case.to_str().unwrap(),
        "--text",
        &text,
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let ours = read_tensors(&out);
    assert!(ours["input_ids"].equal(&reference["input_ids"]));
    let diff = max_abs_diff(&ours["logits"], &reference["logits"]);
    assert!(
        diff < 1e-4,
        "forward --adapter differs from peft by {diff:e}"
    );

    // A Trainer run: `checkpoint-<N>/` folders, complete once they hold trainer_state.json.
    let run_dir = tmp.path().join("trainer");
    for (step, complete) in [(5, true), (10, false)] {
        let checkpoint = run_dir.join(format!("checkpoint-{step}"));
        std::fs::create_dir_all(&checkpoint).unwrap();
        for name in ["adapter_config.json", "adapter_model.safetensors"] {
            std::fs::copy(case.join(name), checkpoint.join(name)).unwrap();
        }
        if complete {
            std::fs::write(checkpoint.join("trainer_state.json"), "{}").unwrap();
        }
    }
    let models = neglect::model::checkpoints::run_models(&run_dir).unwrap();
    assert_eq!(models, [(5, run_dir.join("checkpoint-5"))]);
}

/// Every architecture: the parameter count from the config equals what the decoder allocates;
/// a fresh LoRA adapter on every linear layer (experts included) leaves the logits unchanged,
/// and merging a trained one gives the adapter's logits; one training step of the full model
/// and of the adapter gives finite gradients, reaching the embedding and every adapter.
#[test]
fn every_architecture_takes_lora_and_a_training_step() {
    use common::all_logits as logits_of;
    use neglect::model::lora::LoraConfig;
    use tch::nn::VarStore;
    use tch::Tensor;
    let loss_of = |model: &LoadedModel, ids: &Tensor| {
        let logits = logits_of(model, ids);
        let n = ids.size()[1];
        let vocab = logits.size()[2];
        logits
            .narrow(1, 0, n - 1)
            .reshape([-1, vocab])
            .cross_entropy_for_logits(&ids.narrow(1, 1, n - 1).reshape([-1]))
    };
    let text = texts()["forward"].as_str().unwrap().to_string();
    for arch in ARCHS {
        let dir = fixtures().join(arch);
        let mut model = LoadedModel::load(&dir, Device::Cpu, Kind::Float).unwrap();
        let allocated: i64 = model
            .vs
            .variables()
            .values()
            .map(|t| t.numel() as i64)
            .sum();
        assert_eq!(
            model.decoder.config.parameter_count(),
            allocated,
            "{arch}: parameter count"
        );
        let ids = Tensor::from_slice(&model.tokenizer.encode(&text, true).unwrap()).unsqueeze(0);

        // Full finetuning: one step's gradients.
        loss_of(&model, &ids).backward();
        let grads: Vec<(String, Tensor)> = model
            .vs
            .variables()
            .into_iter()
            .filter_map(|(name, t)| {
                let g = t.grad();
                g.defined().then_some((name, g))
            })
            .collect();
        assert!(
            grads
                .iter()
                .any(|(name, _)| name.contains("embed") || name.contains("wte")),
            "{arch}: the embedding gets a gradient"
        );
        for (name, g) in &grads {
            assert!(
                bool::try_from(g.isfinite().all()).unwrap(),
                "{arch}: gradient of {name} is not finite"
            );
        }

        // LoRA on every linear layer.
        let base = tch::no_grad(|| logits_of(&model, &ids));
        let adapters = VarStore::new(Device::Cpu);
        let config = LoraConfig {
            rank: 2,
            alpha: 4.0,
            dropout: 0.0,
            targets: ".*".into(),
            rslora: false,
        };
        let names = model.decoder.attach_lora(&adapters, &config).unwrap();
        assert_eq!(names.len(), model.decoder.linears_mut().len(), "{arch}");
        let unchanged = tch::no_grad(|| logits_of(&model, &ids));
        assert!(unchanged.equal(&base), "{arch}: B = 0 changed the logits");
        loss_of(&model, &ids).backward();
        for (name, t) in adapters.variables() {
            let g = t.grad();
            if name.contains("lora_B") && !name.contains("experts") {
                assert!(g.defined(), "{arch}: {name} has no gradient");
            }
            if g.defined() {
                assert!(
                    bool::try_from(g.isfinite().all()).unwrap(),
                    "{arch}: gradient of {name} is not finite"
                );
            }
        }
        tch::no_grad(|| {
            for (name, mut t) in adapters.variables() {
                if name.contains("lora_B") {
                    let _ = t.normal_(0.0, 0.05);
                }
            }
        });
        let with_adapter = tch::no_grad(|| logits_of(&model, &ids));
        assert!(
            max_abs_diff(&with_adapter, &base) > 1e-3,
            "{arch}: the adapter must change the logits"
        );
        model.decoder.merge_lora();
        let merged = tch::no_grad(|| logits_of(&model, &ids));
        let diff = max_abs_diff(&merged, &with_adapter);
        assert!(diff < 1e-4, "{arch}: merged logits differ by {diff:e}");
    }
}

/// A Qwen3.5 image-text checkpoint (`qwen3_5` with a `text_config`, the language model under
/// `model.language_model`) loads as its language model, with transformers' text-only logits.
#[test]
fn qwen3_5_image_text_checkpoint_loads_its_language_model() {
    let dir = fixtures().join("qwen3_5_multimodal");
    let (ours, reference) = (
        common::forward(&dir, texts()["forward"].as_str().unwrap(), "f32"),
        read_tensors(&dir.join("reference.safetensors")),
    );
    assert!(ours["input_ids"].equal(&reference["input_ids"]));
    let diff = max_abs_diff(&ours["logits"], &reference["logits"]);
    assert!(diff <= F32_TOLERANCE, "logits differ by {diff:e}");
    let run = neglect_ok(&["model", "info", dir.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(text.contains("architecture    qwen3_5_text"), "{text}");
}
