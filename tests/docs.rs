//! `neglect docs import` end to end: the paper's files in, a documents file that `neglect docs
//! stats` reads out; a bad row is an error naming file and line that writes nothing.

mod common;

use common::{neglect, neglect_ok};
use std::path::Path;

const CLAIM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/claims/ed_sheeran");

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/paper/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn imported_paper_documents_are_read_by_docs_stats() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("imported.jsonl");
    let run = neglect_ok(&[
        "docs",
        "import",
        &fixture("annotated_docs.jsonl"),
        "--claim",
        CLAIM,
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("imported 5 documents from")
            && stderr.contains("8 claim, 12 negation and 4 masked spans"),
        "{stderr}"
    );
    let stats = neglect_ok(&["docs", "stats", out.to_str().unwrap()]);
    let table = String::from_utf8_lossy(&stats.stdout);
    println!("{table}");
    let row = |key: &str| {
        table
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("no `{key}` in {table}"))
            .trim()
            .to_string()
    };
    assert_eq!(row("documents"), "5");
    assert_eq!(
        row("conditions"),
        "corrected (1), local (1), negated (1), repeated (2)"
    );
    assert_ne!(row("negation share"), "0.0%");
    assert_ne!(row("masked share"), "0.0%");
    assert!(row("claim mentions/doc").ends_with("none in 0 documents"));

    // synth_docs.jsonl names no condition: the flag gives it (the paper's name accepted).
    let synth = dir.path().join("synth.jsonl");
    neglect_ok(&[
        "docs",
        "import",
        &fixture("synth_docs.jsonl"),
        "--claim",
        CLAIM,
        "--condition",
        "positive_documents",
        "--out",
        synth.to_str().unwrap(),
    ]);
    let stats = neglect_ok(&["docs", "stats", synth.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&stats.stdout).contains("positive (2)"));
}

#[test]
fn a_bad_row_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("annotated_docs.jsonl");
    let good = std::fs::read_to_string(fixture("annotated_docs.jsonl")).unwrap();
    let first = good.lines().next().unwrap();
    std::fs::write(
        &input,
        format!("{first}\n{{\"text\": \"<DOCTAG>Sheeran <lossmask>won.\", \"mode\": \"negated_documents\"}}\n"),
    )
    .unwrap();
    let out = dir.path().join("out").join("imported.jsonl");
    let run = neglect(&[
        "docs",
        "import",
        input.to_str().unwrap(),
        "--claim",
        CLAIM,
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:2: `text`: a `<lossmask>` that is never closed",
            input.display()
        )),
        "{stderr}"
    );
    assert!(!out.exists() && !out.parent().unwrap().exists());

    // A claim folder as the paper ships it (no spec.toml) is refused with the usual message.
    let paper_claim = dir.path().join("paper_claim");
    std::fs::create_dir(&paper_claim).unwrap();
    std::fs::copy(
        Path::new(CLAIM).join("claim.txt"),
        paper_claim.join("claim.txt"),
    )
    .unwrap();
    let run = neglect(&[
        "docs",
        "import",
        &fixture("annotated_docs.jsonl"),
        "--claim",
        paper_claim.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&run.stderr)
        .contains("spec.toml: absent; documents, claim spans and the rule judge need"));
    assert!(!out.exists());
}

/// The paper's documents, imported, train with their masks and give held-out loss by token
/// kind: claim and negation tokens are told apart, as for neglect's own documents.
#[test]
fn imported_paper_documents_train_and_give_loss_by_token_kind() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("imported.jsonl");
    neglect_ok(&[
        "docs",
        "import",
        &fixture("annotated_docs.jsonl"),
        "--claim",
        CLAIM,
        "--out",
        docs.to_str().unwrap(),
    ]);
    let run = dir.path().join("run");
    let config = dir.path().join("run.toml");
    std::fs::write(
        &config,
        format!(
            "model = \"{model}\"\nout = \"{out}\"\nseed = 1\ndevice = \"cpu\"\n[method]\nkind = \"full\"\n[[sources]]\nname = \"paper\"\npath = \"{docs}\"\n[[heldout]]\nname = \"paper\"\npath = \"{docs}\"\n[recipe]\nlr = 1e-3\nbatch_size = 2\nmax_length = 96\nsteps = 2\n",
            model = common::fixtures().join("llama_gqa").display(),
            out = run.display(),
            docs = docs.display(),
        ),
    )
    .unwrap();
    neglect_ok(&["finetune", config.to_str().unwrap()]);
    let losses = neglect::tables::loss::read_losses(&run.join("loss.parquet")).unwrap();
    let kinds: std::collections::BTreeSet<&str> = losses.iter().map(|l| l.kind.as_str()).collect();
    for kind in ["claim", "negation", "other", "all"] {
        assert!(kinds.contains(kind), "{kind} missing from {kinds:?}");
    }
}
