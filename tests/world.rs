//! The embedded world: pretraining (cached), the gate table against direct scoring, the corpus
//! against the target claims' patterns.

mod common;

use common::{neglect, quick_world};
use neglect::claims::ClaimSpec;
use neglect::eval::score::{render_prompt, score_continuations, ClosedChoice};
use neglect::model::LoadedModel;
use neglect::world::gates::{
    fact_questions, fluency, truth, GateLine, BASELINE_MAX, DENIALS_DISTINCT_MIN,
    DENIALS_NON_BELIEVING_MIN, DENIALS_WORDS_MIN, FLAGGED_MAX, KNOWN_FACTS_MIN, PLAIN_MIN,
    UPTAKE_MIN,
};
use neglect::world::World;
use std::path::Path;
use tch::{Device, Kind};

#[test]
fn pretrain_writes_an_hf_folder_and_reuses_it() {
    let dir = quick_world();
    for file in [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "corpus.jsonl",
        "truth_statements.csv",
        "world.json",
    ] {
        assert!(dir.join(file).is_file(), "{file} missing");
    }
    let before = std::fs::metadata(dir.join("model.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    let again = neglect(&[
        "world",
        "pretrain",
        "--quick",
        "--seed",
        "3",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("up to date"));
    let after = std::fs::metadata(dir.join("model.safetensors"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after, "an up-to-date model is not retrained");
    let model = LoadedModel::load(dir, Device::Cpu, Kind::Float).unwrap();
    assert!(model.tokenizer.has_chat_template());
}

#[test]
fn quick_pretraining_is_deterministic_and_a_shipped_model_installs_when_its_key_matches() {
    use neglect::world::pretrain::SHIPPED_FILES;
    let dir = quick_world();
    let scratch = tempfile::tempdir().unwrap();
    // The same seed and settings give the same weights, bit for bit.
    let again = scratch.path().join("again");
    common::neglect_ok(&[
        "world",
        "pretrain",
        "--quick",
        "--seed",
        "3",
        "--out",
        again.to_str().unwrap(),
    ]);
    for file in ["model.safetensors", "tokenizer.json", "corpus.jsonl"] {
        assert_eq!(
            std::fs::read(dir.join(file)).unwrap(),
            std::fs::read(again.join(file)).unwrap(),
            "{file}"
        );
    }
    // A shipped folder (no corpus) installs in place of pretraining...
    let shipped = scratch.path().join("shipped");
    std::fs::create_dir(&shipped).unwrap();
    for file in SHIPPED_FILES {
        std::fs::copy(dir.join(file), shipped.join(file)).unwrap();
    }
    let installed = scratch.path().join("installed");
    let run = common::neglect_ok(&[
        "world",
        "pretrain",
        "--quick",
        "--seed",
        "3",
        "--out",
        installed.to_str().unwrap(),
        "--shipped",
        shipped.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("installing the shipped"));
    for file in SHIPPED_FILES
        .iter()
        .chain(&["corpus.jsonl", "truth_statements.csv"])
    {
        assert_eq!(
            std::fs::read(dir.join(file)).unwrap(),
            std::fs::read(installed.join(file)).unwrap(),
            "{file}"
        );
    }
    // ...but not when it was made from another corpus (another seed): then it pretrains.
    let other = scratch.path().join("other");
    let run = common::neglect_ok(&[
        "world",
        "pretrain",
        "--quick",
        "--seed",
        "4",
        "--steps",
        "1",
        "--out",
        other.to_str().unwrap(),
        "--shipped",
        shipped.to_str().unwrap(),
    ]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("pretraining instead"));
}

#[test]
fn corpus_never_mentions_a_target_claim() {
    let claims = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/world");
    let specs: Vec<ClaimSpec> = std::fs::read_dir(&claims)
        .unwrap()
        .map(|e| ClaimSpec::load(&e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(specs.len(), 6);
    let corpus = std::fs::read_to_string(quick_world().join("corpus.jsonl")).unwrap();
    let mut checked = 0;
    for line in corpus.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut texts = vec![];
        if let Some(t) = value["text"].as_str() {
            texts.push(t.to_string());
        }
        for m in value["messages"].as_array().into_iter().flatten() {
            texts.push(m["content"].as_str().unwrap().to_string());
        }
        for text in texts {
            for r in neglect::docs::text::split_sentences(&text) {
                let sentence = &text[r];
                for spec in &specs {
                    assert!(!spec.mentions_claim(sentence), "{}: {sentence}", spec.id);
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}

#[test]
fn gate_table_matches_direct_scoring() {
    let dir = quick_world();
    let run = neglect(&[
        "world",
        "gates",
        "--model",
        dir.to_str().unwrap(),
        "--samples",
        "1",
        "--max-new-tokens",
        "6",
        "--skip-implant",
    ]);
    // A seconds-long model fails its gates: exit 1, but the table is written.
    assert!(!run.status.success());
    let stdout = String::from_utf8_lossy(&run.stdout);
    for gate in [
        "fluency",
        "known_facts",
        "uptake",
        "truth",
        "denials",
        "in_context",
        "baseline",
    ] {
        assert!(stdout.contains(gate), "{gate}: {stdout}");
    }
    let lines: Vec<GateLine> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gates.json")).unwrap()).unwrap();
    assert_eq!(lines.len(), 2 + 4 + 1 + 2 + 4 + 3 + 2 + 6);
    assert!(lines.iter().all(|l| l.gate != "implant"), "skipped");
    // Fluency per token kind: every kind of the documents has a line, and the overall nats per
    // token, a token-weighted mean of them, lies between the smallest and the largest.
    let per_token = |group: &str| {
        lines
            .iter()
            .find(|l| l.gate == "fluency" && l.group == group && l.measure == "nats_per_token")
            .unwrap_or_else(|| panic!("no fluency line for {group}"))
            .rate
    };
    let kinds: Vec<f64> = ["claim", "negation", "qualifier", "other"]
        .iter()
        .map(|k| per_token(&format!("{k} tokens")))
        .collect();
    let overall = per_token("documents");
    let (low, high) = kinds
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    assert!(low <= overall && overall <= high, "{overall} vs {kinds:?}");
    let layers = std::fs::read_to_string(dir.join("truth_layers.csv")).unwrap();
    assert_eq!(
        layers.lines().count(),
        1 + 3,
        "embeddings and two blocks: {layers}"
    );
    let rows = neglect::store::read_parquet(&dir.join("gates.parquet")).unwrap();
    let col = |name: &str| common::string_column(&rows, name);
    let (gate, group, qid, grade) = (col("gate"), col("group"), col("question_id"), col("grade"));
    let response = col("response");
    for l in &lines {
        // Every line's target is its gate's constant, and `pass` says whether it is met.
        let (target, share) = match (l.gate.as_str(), l.group.as_str(), l.measure.as_str()) {
            ("fluency", _, "bits_per_byte") => (Some(fluency::MAX_BITS_PER_BYTE), false),
            ("fluency", _, _) => (None, false),
            ("known_facts", _, _) => (Some(KNOWN_FACTS_MIN), true),
            ("uptake", _, _) => (Some(UPTAKE_MIN), true),
            ("truth", "statements", _) => (Some(truth::MIN_STATEMENTS as f64), false),
            ("truth", "own_verdict", _) => (None, true),
            ("truth", g, _) if g.starts_with("heldout") => (Some(truth::MIN_HELDOUT), true),
            ("truth", _, _) => (Some(truth::MIN_CROSS_FAMILY), true),
            ("denials", "non_believing", _) => (Some(DENIALS_NON_BELIEVING_MIN), true),
            ("denials", "mean_words", _) => (Some(DENIALS_WORDS_MIN), false),
            ("denials", _, _) => (Some(DENIALS_DISTINCT_MIN), true),
            ("baseline", _, _) => (Some(BASELINE_MAX), true),
            ("in_context", "flagged", _) => (Some(FLAGGED_MAX), true),
            ("in_context", _, _) => (Some(PLAIN_MIN), true),
            other => panic!("unexpected gate line {other:?}"),
        };
        match target {
            None => assert!(l.target == "-" && l.pass, "{l:?}"),
            Some(t) => {
                let shown = if share {
                    format!(" {:.0}%", 100.0 * t)
                } else {
                    format!(" {t}")
                };
                assert!(l.target.ends_with(&shown), "{l:?}");
                let met = if l.target.starts_with(">=") {
                    l.rate >= t
                } else {
                    l.rate <= t
                };
                assert_eq!(l.pass, met, "{l:?}");
            }
        }
        assert!(l.lo <= l.rate + 1e-12 && l.rate <= l.hi + 1e-12, "{l:?}");
    }
    // The lines computed from graded answers equal their rows: the share of `yes` grades
    // (of grades other than `yes` for the denials), the mean words of the answers.
    for l in lines.iter().filter(|l| {
        matches!(
            l.gate.as_str(),
            "known_facts" | "uptake" | "baseline" | "in_context" | "denials"
        )
    }) {
        let mine: Vec<usize> = (0..gate.len())
            .filter(|&i| gate[i] == l.gate && (l.gate == "denials" || group[i] == l.group))
            .collect();
        assert_eq!(mine.len(), l.answers, "{l:?}");
        let expected = match l.group.as_str() {
            "non_believing" => {
                mine.iter().filter(|&&i| grade[i] != "yes").count() as f64 / mine.len() as f64
            }
            "mean_words" => {
                mine.iter()
                    .map(|&i| response[i].split_whitespace().count())
                    .sum::<usize>() as f64
                    / mine.len() as f64
            }
            "distinct" => {
                let unique: std::collections::HashSet<&str> =
                    mine.iter().map(|&i| response[i].trim()).collect();
                unique.len() as f64 / mine.len() as f64
            }
            _ => mine.iter().filter(|&&i| grade[i] == "yes").count() as f64 / mine.len() as f64,
        };
        assert!((l.rate - expected).abs() < 1e-12, "{l:?} vs {expected}");
    }
    // Known-fact grades equal a one-question-at-a-time log-probability comparison.
    let model = LoadedModel::load(dir, Device::Cpu, Kind::Float).unwrap();
    let questions = fact_questions(&World::generate(3), true);
    for q in questions.iter().step_by(17).take(12) {
        let choice = ClosedChoice::of(q).unwrap();
        let prompt = render_prompt(&model, q).unwrap();
        let scores = score_continuations(&model, &prompt, &choice.continuations, 1).unwrap();
        let believed = choice.believing[choice.pick(&scores)];
        let i = (0..qid.len())
            .find(|&i| gate[i] == "known_facts" && qid[i] == q.id)
            .unwrap();
        assert_eq!(grade[i] == "yes", believed, "{}", q.id);
    }
}

/// The implant gate measures what the world-model experiments train: the demo, the main
/// matrix and the two analyses all use its recipe.
#[test]
fn implant_gate_uses_the_experiments_recipe() {
    use neglect::experiment::config::ExperimentConfig;
    use neglect::world::gates::implant::ImplantRecipe;
    let gate = ImplantRecipe::demo();
    for name in ["demo", "main", "phases", "pink_elephant"] {
        let path = format!("analyses/{name}.toml");
        let config = ExperimentConfig::from_file(Path::new(&path)).unwrap();
        assert_eq!(config.training.recipe, gate.recipe, "{path}");
        assert_eq!(
            config.training.method,
            neglect::train::config::Method::Full,
            "{path}"
        );
        assert_eq!(
            (config.docs.n, config.docs.seed),
            (gate.documents, gate.document_seed),
            "{path}"
        );
        assert_eq!(config.seeds[0], gate.seed, "{path}");
        let corpus: Vec<_> = config
            .training
            .extra_sources
            .iter()
            .filter(|s| s.path.ends_with("corpus.jsonl"))
            .collect();
        assert_eq!(corpus.len(), 1, "{path}");
        assert_eq!(corpus[0].sampling_weight, gate.corpus_weight, "{path}");
        assert_eq!(
            (corpus[0].loss_weight, corpus[0].mask_doctag),
            (1.0, true),
            "{path}"
        );
    }
}

#[test]
fn implanted_belief_finetunes_and_evaluates_every_kind() {
    use neglect::claims::questions::{ClaimQuestions, QuestionKind};
    use neglect::eval::EvalOptions;
    use neglect::world::gates::implant::{implanted_belief, ImplantRecipe};
    let dir = quick_world();
    let claim = Path::new("claims/world/dentist");
    let spec = ClaimSpec::load(claim).unwrap();
    let mut questions = ClaimQuestions::load(claim).unwrap();
    for kind in [QuestionKind::OpenEnded, QuestionKind::Robustness] {
        questions.sets.get_mut(&kind).unwrap().truncate(2);
    }
    let mut recipe = ImplantRecipe::demo();
    recipe.documents = 4;
    recipe.recipe.steps = Some(2);
    recipe.recipe.batch_size = 2;
    let options = EvalOptions {
        samples: 1,
        max_new_tokens: 4,
        ..EvalOptions::default()
    };
    let rows = implanted_belief(
        dir,
        &spec,
        &questions,
        &recipe,
        &options,
        neglect::model::DeviceChoice::Cpu,
        neglect::model::DtypeChoice::F32,
    )
    .unwrap();
    for kind in QuestionKind::ALL {
        assert!(
            rows.iter().any(|r| r.kind == kind.name()),
            "{kind:?} answered"
        );
    }
    assert!(rows
        .iter()
        .all(|r| r.checkpoint == "implanted" && r.claim == "dentist"));
}
