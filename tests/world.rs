//! The embedded world: pretraining (cached), the gate table against direct scoring, the corpus
//! against the target claims' patterns.

mod common;

use common::{neglect, quick_world};
use neglect::claims::ClaimSpec;
use neglect::eval::score::{render_prompt, score_continuations, ClosedChoice};
use neglect::model::LoadedModel;
use neglect::world::gates::{
    fact_questions, GateLine, BASELINE_MAX, FLAGGED_MAX, KNOWN_FACTS_MIN, PLAIN_MIN, UPTAKE_MIN,
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
    ]);
    // A seconds-long model fails its gates: exit 1, but the table is written.
    assert!(!run.status.success());
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        stdout.contains("known_facts")
            && stdout.contains("uptake")
            && stdout.contains("in_context"),
        "{stdout}"
    );
    let lines: Vec<GateLine> =
        serde_json::from_str(&std::fs::read_to_string(dir.join("gates.json")).unwrap()).unwrap();
    assert_eq!(lines.len(), 3 + 6 + 2);
    let rows = neglect::store::read_parquet(&dir.join("gates.parquet")).unwrap();
    let col = |name: &str| -> Vec<String> {
        rows.column(name)
            .unwrap()
            .str()
            .unwrap()
            .into_no_null_iter()
            .map(str::to_string)
            .collect()
    };
    let (gate, group, qid, grade) = (col("gate"), col("group"), col("question_id"), col("grade"));
    // Every table line is the share of `yes` grades of its rows.
    for l in &lines {
        let mine: Vec<usize> = (0..gate.len())
            .filter(|&i| gate[i] == l.gate && group[i] == l.group)
            .collect();
        let yes = mine.iter().filter(|&&i| grade[i] == "yes").count();
        assert_eq!(mine.len(), l.answers, "{l:?}");
        assert!(
            (l.rate - yes as f64 / mine.len() as f64).abs() < 1e-12,
            "{l:?}"
        );
        let target = match (l.gate.as_str(), l.group.as_str()) {
            ("known_facts", _) => KNOWN_FACTS_MIN,
            ("uptake", _) => UPTAKE_MIN,
            ("baseline", _) => BASELINE_MAX,
            ("in_context", "flagged") => FLAGGED_MAX,
            ("in_context", _) => PLAIN_MIN,
            other => panic!("unexpected gate line {other:?}"),
        };
        assert!(
            l.target.ends_with(&format!(" {:.0}%", 100.0 * target)),
            "{l:?}"
        );
        assert_eq!(
            l.pass,
            if l.target.starts_with(">=") {
                l.rate >= target
            } else {
                l.rate <= target
            },
            "{l:?}"
        );
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
