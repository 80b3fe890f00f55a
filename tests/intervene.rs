//! Steering, patching and the logit lens (src/intervene/) on the quick world model: a zero
//! push and a model patched into itself change nothing, a planted direction moves the scored
//! answer its way, patching the last site reproduces the source's beliefs, the lens at the last
//! site is the model's own distribution; and the three verbs end to end, with their errors.

mod common;

use common::{neglect, neglect_ok, quick_world};
use neglect::claims::questions::{ClaimQuestions, QuestionKind};
use neglect::eval::score::{score_items, ScoreItem};
use neglect::intervene::lens::lens_beliefs;
use neglect::intervene::patch::{patch, record_source, subject_masks};
use neglect::intervene::{
    closed_beliefs, closed_questions, subject_positions, AddVector, ClosedQuestion,
};
use neglect::model::decoder::{ForwardArgs, Logits};
use neglect::model::LoadedModel;
use std::path::Path;
use std::sync::Arc;
use tch::{Device, Kind, Tensor};

const CLAIM: &str = "claims/world/volcano_2015";
const CLOSED: [QuestionKind; 2] = [QuestionKind::Mcq, QuestionKind::TokenAssociation];

fn load() -> LoadedModel {
    LoadedModel::load(quick_world(), Device::Cpu, Kind::Float).unwrap()
}

fn closed(model: &LoadedModel) -> Vec<ClosedQuestion> {
    let questions = ClaimQuestions::load(Path::new(CLAIM)).unwrap();
    closed_questions(model, &questions, &CLOSED).unwrap()
}

#[test]
fn a_zero_push_and_a_self_patch_change_nothing() {
    let model = load();
    let closed = closed(&model);
    let plain = closed_beliefs(&model, &closed, 8).unwrap();
    let sites = model.decoder.config.num_layers as usize + 1;
    for site in [0, sites / 2, sites - 1] {
        let zero = Tensor::zeros(
            [model.decoder.config.hidden_size],
            (Kind::Float, Device::Cpu),
        );
        let _installed = model
            .decoder
            .install_edit(Arc::new(AddVector::new(site, zero)))
            .unwrap();
        assert_eq!(
            closed_beliefs(&model, &closed, 8).unwrap(),
            plain,
            "site {site}"
        );
    }
    let all: Vec<usize> = (0..sites).collect();
    let (source, recorder) = record_source(&model, &closed, &all, 8).unwrap();
    assert_eq!(source, plain);
    let rows = patch(
        "self", &source, &recorder, &model, "-", &closed, &all, None, 8,
    )
    .unwrap();
    assert!(!rows.is_empty());
    for r in &rows {
        assert_eq!(
            r.patched_value, r.target_value,
            "site {} {}",
            r.site, r.measure
        );
        assert_eq!(r.restored, None, "no gap to restore");
    }
}

/// Scores of "Yes" and "No" after a yes/no question of the claim.
fn yes_minus_no(model: &LoadedModel, closed: &[ClosedQuestion]) -> f64 {
    let q = closed
        .iter()
        .find(|q| q.kind == QuestionKind::Mcq)
        .expect("a yes/no question");
    let prompt = q.items[0].prompt.clone();
    let item = |word: &str| ScoreItem {
        prompt: prompt.clone(),
        continuation: model.tokenizer.encode(word, false).unwrap(),
    };
    let scores = score_items(model, &[item("Yes"), item("No")], 2).unwrap();
    scores[0].sum - scores[1].sum
}

#[test]
fn a_planted_direction_moves_the_answer_its_way() {
    let model = load();
    let closed = closed(&model);
    let last = model.decoder.config.num_layers as usize;
    // The direction the final norm and unembedding read as "Yes" rather than "No".
    let token = |w: &str| model.tokenizer.encode(w, false).unwrap()[0];
    let unembed = model.decoder.embedding();
    let gain = model
        .vs
        .variables()
        .into_iter()
        .find(|(name, _)| name.ends_with("norm.weight") && !name.contains("layers"))
        .expect("final norm weight")
        .1;
    let towards_yes = (unembed.get(token("Yes")) - unembed.get(token("No"))) * gain;
    let direction = &towards_yes / towards_yes.norm();
    let base = yes_minus_no(&model, &closed);
    let norm =
        neglect::intervene::steer::mean_residual_norms(&model, &closed, &[last], 8).unwrap()[&last];
    let pushed = |alpha: f64| {
        let _installed = model
            .decoder
            .install_edit(Arc::new(AddVector::new(last, &direction * alpha)))
            .unwrap();
        yes_minus_no(&model, &closed)
    };
    let (up, down) = (pushed(4.0 * norm), pushed(-4.0 * norm));
    // The final norm bounds what a push at the last site can do (about one nat here).
    assert!(up > base + 0.5, "pushing towards Yes: {base} -> {up}");
    assert!(down < base - 0.5, "pushing towards No: {base} -> {down}");
    // Only one edit at a time.
    let _first = model
        .decoder
        .install_edit(Arc::new(AddVector::new(last, &direction * 1.0)))
        .unwrap();
    assert!(model
        .decoder
        .install_edit(Arc::new(AddVector::new(last, &direction * 1.0)))
        .is_err());
}

/// The quick world with its first block's MLP perturbed: it differs from [`load`]'s model in
/// its blocks only (final norm and head shared).
fn perturbed() -> LoadedModel {
    let target = load();
    tch::no_grad(|| {
        tch::manual_seed(1);
        for (name, mut weight) in target.vs.variables() {
            if name.contains("layers.0.mlp") {
                let _ = weight.f_add_(&(weight.randn_like() * 0.5)).unwrap();
            }
        }
    });
    target
}

#[test]
fn patching_the_last_site_reproduces_the_source() {
    let source = load();
    let target = perturbed();
    let closed = closed(&target);
    let last = target.decoder.config.num_layers as usize;
    let sites = [0, 1, last];
    let (from, recorder) = record_source(&source, &closed, &sites, 8).unwrap();
    let unpatched = closed_beliefs(&target, &closed, 8).unwrap();
    assert_ne!(
        from, unpatched,
        "the perturbation changes the target's beliefs"
    );
    let rows = patch(
        "source", &from, &recorder, &target, "-", &closed, &sites, None, 8,
    )
    .unwrap();
    for r in rows.iter().filter(|r| r.site == last) {
        assert_eq!(r.patched_value, r.source_value, "{}", r.measure);
        if let Some(restored) = r.restored {
            assert!((restored - 1.0).abs() < 1e-9, "{restored}");
        }
    }
    // Site 0 (the embeddings, which the perturbation does not touch) changes nothing.
    for r in rows.iter().filter(|r| r.site == 0) {
        assert_eq!(r.patched_value, r.target_value, "{}", r.measure);
    }
}

#[test]
fn subject_positions_are_the_tokens_naming_the_subject() {
    let model = load();
    let closed = closed(&model);
    let names = ["Mount Karrow", "Karrow"];
    let mut naming = 0;
    for q in &closed {
        let at = subject_positions(&model, &q.prompt, &names).unwrap();
        if !q.prompt.contains("Karrow") {
            assert!(at.is_empty(), "{}", q.id);
            continue;
        }
        naming += 1;
        let tokens: Vec<i64> = at.iter().map(|&p| q.items[0].prompt[p]).collect();
        let text = model.tokenizer.decode(&tokens, false).unwrap();
        assert!(text.contains("Karrow"), "{}: {text:?}", q.id);
    }
    assert!(naming > 0, "no question names the subject");
    // Patched from another model at the subject's tokens only, the last site cannot reach
    // the answer positions: the target's beliefs stay (patching every position there gives
    // the source's, `patching_the_last_site_reproduces_the_source`).
    let target = perturbed();
    let questions = ClaimQuestions::load(Path::new(CLAIM)).unwrap();
    let closed = closed_questions(&target, &questions, &CLOSED).unwrap();
    let last = target.decoder.config.num_layers as usize;
    let masks = subject_masks(&target, &closed, &names, 8).unwrap();
    let (source, recorder) = record_source(&model, &closed, &[last], 8).unwrap();
    assert_ne!(source, closed_beliefs(&target, &closed, 8).unwrap());
    let rows = patch(
        "source",
        &source,
        &recorder,
        &target,
        "-",
        &closed,
        &[last],
        Some(&masks),
        8,
    )
    .unwrap();
    for r in &rows {
        assert_eq!(
            r.patched_value, r.target_value,
            "site {} {}",
            r.site, r.measure
        );
    }
}

#[test]
fn the_lens_at_the_last_site_is_the_model_itself() {
    let model = load();
    let closed = closed(&model);
    let (beliefs, skipped) = lens_beliefs(&model, &closed, 8).unwrap();
    assert!(!beliefs.is_empty());
    assert_eq!(beliefs.len() + skipped, closed.len());
    let last = model.decoder.config.num_layers as usize;
    for reading in &beliefs {
        let values = &reading.beliefs;
        assert_eq!(values.len(), last + 1);
        let q = &closed[reading.question];
        let prompt = Tensor::from_slice(&q.items[0].prompt).unsqueeze(0);
        let log_probs = tch::no_grad(|| {
            model
                .decoder
                .forward(
                    &prompt,
                    ForwardArgs {
                        logits: Logits::Last,
                        ..Default::default()
                    },
                )
                .logits
                .unwrap()
                .view([-1])
                .log_softmax(-1, Kind::Float)
        });
        let mass = |believing: bool| -> f64 {
            let mut firsts: Vec<i64> = q
                .items
                .iter()
                .zip(&q.choice.believing)
                .filter(|(_, &b)| b == believing)
                .map(|(item, _)| item.continuation[0])
                .collect();
            firsts.sort_unstable();
            firsts.dedup();
            firsts
                .iter()
                .map(|&t| log_probs.double_value(&[t]).exp())
                .sum()
        };
        let own = mass(true) / (mass(true) + mass(false));
        assert!(
            (values[last] - own).abs() < 1e-5,
            "question {}: {} vs {own}",
            q.id,
            values[last]
        );
    }
}

#[test]
fn steer_patch_and_lens_verbs_write_their_tables() {
    let world = quick_world().to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    neglect_ok(&[
        "probe",
        "statements",
        "--builtin",
        "--n",
        "200",
        "--out",
        &path("s.csv"),
    ]);
    neglect_ok(&[
        "cache",
        "--model",
        world,
        "--statements",
        &path("s.csv"),
        "--out",
        &path("acts.h5"),
        "--device",
        "cpu",
    ]);
    neglect_ok(&[
        "probe",
        "fit",
        "--acts",
        &path("acts.h5"),
        "--out",
        &path("probes"),
        "--device",
        "cpu",
    ]);
    let probes = path("probes");
    let steer = |out: &str, options: &[&str]| {
        let out = path(out);
        let mut args = vec![
            "steer", "--model", world, "--probes", &probes, "--claim", CLAIM, "--out", &out,
            "--device", "cpu",
        ];
        args.extend_from_slice(options);
        neglect_ok(&args)
    };
    let run = steer(
        "steer",
        &["--layers", "1,2", "--alphas=-0.5,0,0.5", "--null", "3"],
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("null 5-95%"), "{stdout}");
    // Per site: unsteered + 2 pushes x (probe + 3 random) = 9 settings, each with 3 measures
    // (belief of each closed kind and pooled).
    let table = neglect::store::read_parquet(&dir.path().join("steer/steer.parquet")).unwrap();
    let sites = table.column("site").unwrap().i64().unwrap();
    assert_eq!(sites.into_iter().flatten().filter(|&s| s == 1).count(), 27);
    assert!(dir.path().join("steer/manifest.json").is_file());
    // Generated kinds are answered under each push and judged.
    steer(
        "steer_open",
        &[
            "--layers",
            "1",
            "--alphas=0,0.5",
            "--null",
            "1",
            "--kinds",
            "mcq,open_ended",
            "--max-new-tokens",
            "4",
        ],
    );
    let table = neglect::store::read_parquet(&dir.path().join("steer_open/steer.parquet")).unwrap();
    let measures = common::string_column(&table, "measure");
    // Unsteered, the probe and one random direction, each with both kinds.
    assert_eq!(
        measures
            .iter()
            .filter(|m| *m == "belief:open_ended")
            .count(),
        3
    );

    neglect_ok(&[
        "patch",
        "--source",
        world,
        "--model",
        world,
        "--claim",
        CLAIM,
        "--layers",
        "0,2",
        "--out",
        &path("patch"),
        "--device",
        "cpu",
    ]);
    assert!(dir.path().join("patch/patch.parquet").is_file());
    neglect_ok(&[
        "lens",
        "--model",
        world,
        "--claim",
        CLAIM,
        "--out",
        &path("lens"),
        "--device",
        "cpu",
    ]);
    assert!(dir.path().join("lens/lens.parquet").is_file());

    // Errors: a site the model lacks, open-ended kinds only, a missing probe folder.
    let bad = neglect(&[
        "lens",
        "--model",
        world,
        "--claim",
        CLAIM,
        "--kinds",
        "open_ended",
        "--out",
        &path("bad"),
        "--device",
        "cpu",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("no closed-form questions"));
    let bad = neglect(&[
        "patch",
        "--source",
        world,
        "--model",
        world,
        "--claim",
        CLAIM,
        "--layers",
        "99",
        "--out",
        &path("bad"),
        "--device",
        "cpu",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("site 99 does not exist"));
    let bad = neglect(&[
        "steer",
        "--model",
        world,
        "--probes",
        &path("nothing"),
        "--claim",
        CLAIM,
        "--out",
        &path("bad"),
        "--device",
        "cpu",
    ]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(!dir.path().join("bad").exists(), "no output after an error");
}
