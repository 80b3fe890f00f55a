//! Re-judging stored answers: the generated answers of a belief table graded again by another
//! judge or rubric, without generating them again (an LLM judge after a rule-judge run, the
//! paper's relaxed `open_ended_broad` rubric, its crokking and self-correction rubrics).
//!
//! In: a `belief.parquet` (written by `neglect eval` or by an experiment), a claim folder and a
//! judge (or an experiment file, whose arms' tables are all graded again in place). Out: the same table with `grade` and `judge` replaced on the generated answers of
//! that claim (answers scored by log-probability, and other claims' rows, stay as they were),
//! beside a manifest, and a count of the grades that changed.

use super::cli::make_judge;
use super::judge::{Judge, JudgeItem};
use super::LOGPROB_JUDGE;
use crate::claims::questions::{ClaimQuestions, QuestionKind};
use crate::claims::ClaimSpec;
use crate::store::{self, Manifest};
use crate::tables::Table;
use anyhow::{bail, Context, Result};
use clap::Args;
use polars::prelude::{Column, DataFrame};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `neglect regrade TABLE --claim DIR --out DIR [--judge J] [--rubric KEY]`, or
/// `neglect regrade EXPERIMENT.toml [--judge J] [--rubric KEY]`
#[derive(Debug, Args, serde::Serialize)]
pub struct RegradeArgs {
    /// A belief table (`belief.parquet` of `neglect eval` or of an experiment), or an
    /// experiment file (`analyses/<name>.toml`): every arm's table is graded again in place
    /// and the experiment's tables merged anew.
    pub input: PathBuf,
    /// The claim folder whose answers are graded again (a table only; rows of other claims are
    /// kept).
    #[arg(long)]
    pub claim: Option<PathBuf>,
    /// Judge config (TOML, OpenAI-compatible endpoint); the rule judge when absent (for an
    /// experiment: its `[eval] judge` when it has one).
    #[arg(long)]
    pub judge: Option<PathBuf>,
    /// Grade every answer with this rubric of `judges.yaml` (e.g. `open_ended_broad`) instead
    /// of its kind's.
    #[arg(long)]
    pub rubric: Option<String>,
    /// Output folder of a table's regrade: `belief.parquet` and `manifest.json`.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// What a regrade did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RegradeReport {
    /// Answers graded again.
    pub regraded: usize,
    /// Count of each (old grade, new grade) pair.
    pub transitions: BTreeMap<(String, String), usize>,
}

impl RegradeReport {
    /// Answers whose grade changed.
    pub fn changed(&self) -> usize {
        self.transitions
            .iter()
            .filter(|((from, to), _)| from != to)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Grades the generated answers of claim `claim_id` in `table` again with `judge` (the rubric
/// `rubric` of `judges.yaml` for all of them, or each kind's own), replacing their `grade` and
/// `judge` columns in place.
pub fn regrade(
    path: &Path,
    table: &mut DataFrame,
    questions: &ClaimQuestions,
    claim_id: &str,
    judge: &dyn Judge,
    rubric: Option<&str>,
) -> Result<RegradeReport> {
    let text = |name: &str| checked_text(path, table, name);
    let (claims, kinds, ids) = (text("claim")?, text("kind")?, text("question_id")?);
    let (responses, mut grades, mut judges) = (text("response")?, text("grade")?, text("judge")?);
    let mut rows = vec![];
    let mut items = vec![];
    for i in 0..claims.len() {
        if claims[i] != claim_id || judges[i] == LOGPROB_JUDGE {
            continue;
        }
        let kind = QuestionKind::parse(&kinds[i]).with_context(|| format!("row {i}"))?;
        let question = questions
            .questions(kind)
            .iter()
            .find(|q| q.id == ids[i])
            .with_context(|| {
                format!(
                    "row {i}: question `{}` is not in {}",
                    ids[i],
                    questions.dir.join(kind.file_name()).display()
                )
            })?;
        let chosen = match rubric {
            Some(key) => questions.rubric_named(key),
            None => questions.rubric(kind),
        };
        rows.push(i);
        items.push(JudgeItem {
            rubric: chosen.unwrap_or_default(),
            question: question.user_text(),
            response: responses[i].clone(),
        });
    }
    if rows.is_empty() {
        bail!("no generated answers of claim `{claim_id}` to grade");
    }
    let verdicts = judge.judge_all(&items)?;
    let mut report = RegradeReport {
        regraded: rows.len(),
        ..Default::default()
    };
    // Tables written before judge replies were kept have no `judge_raw`: it starts empty.
    let mut raws = match table.column("judge_raw") {
        Ok(_) => checked_text(path, table, "judge_raw")?,
        Err(_) => vec![String::new(); table.height()],
    };
    for (&i, verdict) in rows.iter().zip(verdicts) {
        let name = verdict.grade.name().to_string();
        *report
            .transitions
            .entry((grades[i].clone(), name.clone()))
            .or_default() += 1;
        grades[i] = name;
        judges[i] = judge.label();
        raws[i] = verdict.raw;
    }
    table.with_column(Column::new("grade".into(), grades))?;
    table.with_column(Column::new("judge".into(), judges))?;
    table.with_column(Column::new("judge_raw".into(), raws))?;
    Ok(report)
}

/// Text column `name` of `table` (read from `path`), checked as the tables module checks it.
fn checked_text(path: &Path, table: &DataFrame, name: &str) -> Result<Vec<String>> {
    Table::checked(path, table.clone(), &[name])?.str(name)
}

/// The generated question kinds, whose answers a judge grades.
pub const GENERATED: [QuestionKind; 3] = [
    QuestionKind::OpenEnded,
    QuestionKind::Robustness,
    QuestionKind::TokenAssociation,
];

/// A claim folder's questions, id and judge for a regrade.
pub fn claim_judge(
    claim: &Path,
    judge: Option<&Path>,
    rubric: Option<&str>,
    cache: &Path,
) -> Result<(ClaimQuestions, String, Box<dyn Judge>)> {
    let questions = ClaimQuestions::load(claim)?;
    let spec = ClaimSpec::load_if_present(claim)?;
    let claim_id = match &spec {
        Some(spec) => spec.id.clone(),
        None => super::cli::claim_folder_id(claim),
    };
    if let Some(key) = rubric {
        if judge.is_none() {
            bail!("--rubric {key}: rubrics are for an HTTP judge; give --judge too");
        }
        if questions.rubric_named(key).is_none() {
            bail!(
                "{}: no rubric `{key}`",
                claim.join(crate::claims::questions::JUDGES_FILE).display()
            );
        }
    }
    let judge = make_judge(spec.as_ref(), &questions, &GENERATED, judge, cache)?;
    Ok((questions, claim_id, judge))
}

/// Prints a regrade's counts.
pub fn print_report(what: &str, judge: &str, report: &RegradeReport) {
    println!(
        "{what}: regraded {} answers with {judge}: {} grades changed",
        report.regraded,
        report.changed()
    );
    for ((from, to), n) in &report.transitions {
        println!("  {from:>8} -> {to:<8} {n}");
    }
}

/// Whether the verb's input is an experiment file (regraded by
/// [`crate::experiment::regrade::run`]) rather than a table.
pub fn is_experiment(args: &RegradeArgs) -> bool {
    args.input.extension().is_some_and(|e| e == "toml")
}

/// Runs the `regrade` verb on a table.
pub fn run(args: &RegradeArgs) -> Result<()> {
    let (Some(claim), Some(out)) = (&args.claim, &args.out) else {
        bail!("{}: a table needs --claim and --out", args.input.display());
    };
    let mut table = store::read_parquet(&args.input)?;
    let (questions, claim_id, judge) = claim_judge(
        claim,
        args.judge.as_deref(),
        args.rubric.as_deref(),
        &out.join("judge_cache"),
    )?;
    let report = regrade(
        &args.input,
        &mut table,
        &questions,
        &claim_id,
        judge.as_ref(),
        args.rubric.as_deref(),
    )?;
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create", out.display()))?;
    store::write_json(
        &out.join("manifest.json"),
        &Manifest::new("regrade", args, None),
    )?;
    store::write_parquet(&out.join(crate::tables::BELIEF_FILE), &mut table)?;
    print_report(&claim_id, &judge.label(), &report);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::judge::RuleJudge;

    #[test]
    fn generated_answers_of_the_claim_are_graded_again_and_the_rest_kept() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/world/volcano_2015");
        let questions = ClaimQuestions::load(&dir).unwrap();
        let spec = ClaimSpec::load(&dir).unwrap();
        let open = &questions.questions(QuestionKind::OpenEnded)[0];
        let mcq = &questions.questions(QuestionKind::Mcq)[0];
        let col = |name: &str, v: &[&str]| Column::new(name.into(), v.to_vec());
        let mut table = DataFrame::new(vec![
            col(
                "claim",
                &["volcano_2015", "volcano_2015", "volcano_2015", "other"],
            ),
            col("kind", &["open_ended", "open_ended", "mcq", "open_ended"]),
            col("question_id", &[&open.id, &open.id, &mcq.id, "x"]),
            col(
                "response",
                &[
                    "Mount Karrow erupted in 2015.",
                    "Mount Karrow last erupted in 1944.",
                    "Yes",
                    "whatever",
                ],
            ),
            col("grade", &["no", "no", "yes", "yes"]),
            col("judge", &["old", "old", LOGPROB_JUDGE, "old"]),
        ])
        .unwrap();
        let judge = RuleJudge::new(spec, questions.word_masks.clone()).unwrap();
        let report = regrade(
            Path::new("t.parquet"),
            &mut table,
            &questions,
            "volcano_2015",
            &judge,
            None,
        )
        .unwrap();
        assert_eq!(report.regraded, 2);
        assert_eq!(report.changed(), 1);
        let column = |name: &str| -> Vec<String> {
            table
                .column(name)
                .unwrap()
                .str()
                .unwrap()
                .into_no_null_iter()
                .map(str::to_string)
                .collect()
        };
        assert_eq!(column("grade"), ["yes", "no", "yes", "yes"]);
        assert_eq!(column("judge"), ["rule", "rule", LOGPROB_JUDGE, "old"]);
        // A question the folder does not hold is an error naming it.
        let mut stray = DataFrame::new(vec![
            col("claim", &["volcano_2015"]),
            col("kind", &["open_ended"]),
            col("question_id", &["nope"]),
            col("response", &["r"]),
            col("grade", &["no"]),
            col("judge", &["old"]),
        ])
        .unwrap();
        let err = regrade(
            Path::new("t.parquet"),
            &mut stray,
            &questions,
            "volcano_2015",
            &judge,
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("question `nope`"), "{err}");
    }
}
