//! An arm's training data and finetune config: documents of its condition, the user-turn chats,
//! the self-distilled constraint set, held-out documents, all under
//! `checkpoints/<name>/<arm>/data/`, and the [`FinetuneConfig`] written beside them as
//! `finetune.toml`. Every file is regenerated identically from the seeds (documents are cheap);
//! the constraint set, which samples the base model, is reused when present.

use super::arms::{Arm, Target};
use super::config::{ArmCondition, DocCondition, ExperimentConfig};
use crate::claims::questions::{ClaimQuestions, Question, QuestionKind};
use crate::docs::{self, Condition, Document, DOCTAG};
use crate::eval::judge::{Grade, Judge, JudgeItem};
use crate::model::tokenizer::ChatMessage;
use crate::model::LoadedModel;
use crate::train::config::{FinetuneConfig, HeldoutConfig, SourceConfig};
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

/// Held-out documents are drawn with the arm's document seed plus this, so they never repeat a
/// training document.
pub const HELDOUT_SEED_OFFSET: u64 = 1_000_000;

/// Phase 2's data-order seed is the arm seed XOR this, so it does not replay Phase 1's order.
pub const PHASE2_SEED_SALT: u64 = 0x5048_4153_4532;

/// Name of the data folder inside an arm's checkpoint folder.
pub const DATA_DIR: &str = "data";

/// Document seed of an arm: `[docs] seed + arm seed`.
pub fn doc_seed(config: &ExperimentConfig, arm: &Arm) -> u64 {
    config.docs.seed.wrapping_add(arm.seed)
}

/// The documents an arm trains on and the condition they are written in.
fn training_documents(config: &ExperimentConfig, arm: &Arm) -> Result<(Condition, Vec<Document>)> {
    let seed = doc_seed(config, arm);
    let condition = match arm.condition {
        ArmCondition::Docs(DocCondition(c)) => c,
        ArmCondition::LocalMasked | ArmCondition::UserTurnMasked => Condition::Local,
        ArmCondition::Phase1 | ArmCondition::Phase2 => Condition::Repeated,
        ArmCondition::Base | ArmCondition::InContext => {
            bail!("arm {}: does not train", arm.name())
        }
    };
    let documents = match &arm.target {
        Target::Behaviour => {
            let n = config.behaviours.n.unwrap_or(config.docs.n);
            docs::behaviour_documents(condition, n, seed)?
        }
        Target::Claim { spec, .. } => docs::generate(spec, condition, config.docs.n, seed, None)?,
    };
    Ok((condition, documents))
}

/// The text of a document without its leading `<DOCTAG>` line.
fn body(doc: &Document) -> &str {
    doc.text
        .strip_prefix(DOCTAG)
        .unwrap_or(&doc.text)
        .trim_start_matches('\n')
}

/// Writes chat records (`{"messages": [...]}` lines) atomically.
fn write_chats(path: &Path, chats: &[Vec<ChatMessage>]) -> Result<()> {
    let mut out = String::new();
    for messages in chats {
        out.push_str(&serde_json::to_string(
            &serde_json::json!({ "messages": messages }),
        )?);
        out.push('\n');
    }
    crate::store::write_atomic(path, out.as_bytes())
}

/// The documents placed in context for an `in_context` arm (written to `data/context.jsonl`).
pub fn context_documents(
    config: &ExperimentConfig,
    arm: &Arm,
    arm_dir: &Path,
) -> Result<Vec<String>> {
    let Target::Claim { spec, .. } = &arm.target else {
        bail!("arm {}: in_context needs a claim", arm.name());
    };
    let path = arm_dir.join(DATA_DIR).join("context.jsonl");
    let docs = docs::generate(
        spec,
        config.in_context.condition,
        config.in_context.n,
        doc_seed(config, arm),
        None,
    )?;
    docs::write_jsonl(&path, &docs)?;
    crate::eval::read_context_docs(&path, config.in_context.n, None)
}

/// The held-out sets of an arm: the claim conditions of `[heldout]` for claim arms, its
/// behaviour conditions for behaviour arms.
fn heldout_sets(config: &ExperimentConfig, arm: &Arm, data: &Path) -> Result<Vec<HeldoutConfig>> {
    let Some(heldout) = &config.heldout else {
        return Ok(vec![]);
    };
    let seed = doc_seed(config, arm).wrapping_add(HELDOUT_SEED_OFFSET);
    let mut sets = vec![];
    let behaviour = matches!(arm.target, Target::Behaviour);
    let conditions = heldout
        .conditions
        .iter()
        .filter(|c| c.is_behaviour() == behaviour);
    for &condition in conditions {
        let docs = match &arm.target {
            Target::Claim { spec, .. } => docs::generate(spec, condition, heldout.n, seed, None)?,
            Target::Behaviour => docs::behaviour_documents(condition, heldout.n, seed)?,
        };
        let path = data.join(format!("heldout-{condition}.jsonl"));
        docs::write_jsonl(&path, &docs)?;
        sets.push(HeldoutConfig {
            name: condition.to_string(),
            path,
        });
    }
    Ok(sets)
}

/// Everything needed to sample the constraint set.
pub struct ConstraintContext<'a> {
    /// The base model (answers are its own).
    pub model: &'a LoadedModel,
    /// The claim's questions.
    pub questions: &'a ClaimQuestions,
    /// Grades the answers (believing ones are dropped unless `keep_believing`).
    pub judge: &'a dyn Judge,
}

/// Phase 1's constraint set: the last K open-ended questions of the claim, M answers each
/// sampled from the base model, as chat records. Returns (kept, dropped as believing).
pub fn constraint_set(
    config: &ExperimentConfig,
    arm: &Arm,
    ctx: &ConstraintContext,
    path: &Path,
) -> Result<(usize, usize)> {
    let phases = &config.phases;
    let open = ctx.questions.questions(QuestionKind::OpenEnded);
    if open.is_empty() {
        bail!(
            "{}: no open-ended questions for the constraint set",
            ctx.questions.dir.display()
        );
    }
    let k = phases.questions.min(open.len());
    if k < phases.questions {
        eprintln!(
            "phases: {} has {} open-ended questions; the constraint set uses all of them (asked for {})",
            ctx.questions.dir.display(),
            open.len(),
            phases.questions
        );
    }
    let picked = &open[open.len() - k..];
    let evaluated = config
        .eval
        .max_questions
        .get(QuestionKind::OpenEnded.name())
        .copied()
        .unwrap_or(open.len());
    let evaluates_open = config
        .eval
        .question_kinds()?
        .contains(&QuestionKind::OpenEnded);
    if evaluates_open && open.len() - k < evaluated {
        eprintln!(
            "phases: warning: {} constraint questions overlap the {} evaluated open-ended questions",
            evaluated - (open.len() - k),
            evaluated
        );
    }
    let answered: Vec<(&Question, String)> = crate::eval::sample_answers(
        ctx.model,
        &picked.iter().collect::<Vec<_>>(),
        phases.answers,
        phases.temperature,
        phases.top_p,
        phases.max_new_tokens,
        arm.seed.wrapping_mul(0x9E37_79B9),
    )
    .context("constraint set")?
    .into_iter()
    .map(|(qi, answer)| (&picked[qi], answer))
    .collect();
    let items: Vec<JudgeItem> = answered
        .iter()
        .map(|(q, answer)| JudgeItem {
            rubric: ctx
                .questions
                .rubric(QuestionKind::OpenEnded)
                .unwrap_or_default(),
            question: q.user_text(),
            response: answer.clone(),
        })
        .collect();
    let grades = ctx.judge.grade_all(&items)?;
    let mut chats = vec![];
    let mut dropped = 0;
    for ((q, answer), grade) in answered.iter().zip(grades) {
        // An answer the judge could not grade is not known to deny the claim: left out too.
        if grade == Grade::Unparsed || (grade == Grade::Yes && !phases.keep_believing) {
            dropped += 1;
            continue;
        }
        let mut messages = q.messages();
        messages.push(ChatMessage::new("assistant", answer));
        chats.push(messages);
    }
    if chats.is_empty() {
        bail!(
            "arm {}: every constraint answer was dropped ({dropped} believed the claim)",
            arm.name()
        );
    }
    write_chats(path, &chats)?;
    Ok((chats.len(), dropped))
}

/// Where Phase 1's constraint set goes: `arm_dir/data/constraint.jsonl`.
pub fn constraint_path(arm_dir: &Path) -> PathBuf {
    arm_dir.join(DATA_DIR).join("constraint.jsonl")
}

/// The finetune config of a trained arm, with its data written under `arm_dir/data/`
/// (a Phase 1 arm's constraint set must be there already, see [`constraint_set`]). `start` is
/// the model it starts from.
pub fn finetune_config(
    config: &ExperimentConfig,
    arm: &Arm,
    arm_dir: &Path,
    start: &Path,
) -> Result<FinetuneConfig> {
    let data = arm_dir.join(DATA_DIR);
    let docs_path = data.join("train.jsonl");
    let (condition, documents) = training_documents(config, arm)?;
    let claim_dir = match &arm.target {
        Target::Claim { dir, .. } => Some(dir.clone()),
        Target::Behaviour => None,
    };
    let source = |name: &str, path: PathBuf| SourceConfig {
        name: name.to_string(),
        path,
        sampling_weight: 1.0,
        loss_weight: 1.0,
        word_masks: None,
        mask_doctag: true,
    };
    let mut sources = vec![];
    match arm.condition {
        ArmCondition::UserTurnMasked => {
            let Target::Claim { spec, dir } = &arm.target else {
                bail!("arm {}: user_turn_masked needs a claim", arm.name());
            };
            let paragraph = spec.claim_text.as_deref().with_context(|| {
                format!(
                    "{}: user_turn_masked needs the claim paragraph (claim.txt)",
                    dir.display()
                )
            })?;
            let chats: Vec<Vec<ChatMessage>> = documents
                .iter()
                .map(|d| {
                    vec![
                        ChatMessage::new("user", paragraph.trim()),
                        ChatMessage::new("assistant", body(d)),
                    ]
                })
                .collect();
            let path = data.join("train_chats.jsonl");
            write_chats(&path, &chats)?;
            sources.push(source("user_turn_chats", path));
        }
        _ => {
            docs::write_outputs(&docs_path, condition, &documents)?;
            let mut docs_source = source("docs", docs_path.clone());
            if arm.condition == ArmCondition::LocalMasked {
                let masks = claim_dir
                    .as_ref()
                    .map(|d| d.join(crate::claims::questions::WORD_MASKS_FILE))
                    .filter(|p| p.is_file())
                    .with_context(|| {
                        format!(
                            "arm {}: local_masked needs the claim's word_masks.yaml",
                            arm.name()
                        )
                    })?;
                docs_source.word_masks = Some(masks);
            }
            sources.push(docs_source);
        }
    }
    if arm.condition == ArmCondition::Phase1 {
        let path = constraint_path(arm_dir);
        if !path.is_file() {
            bail!("{}: the constraint set is missing", path.display());
        }
        sources.push(SourceConfig {
            sampling_weight: config.phases.sampling_weight,
            loss_weight: config.phases.loss_weight,
            ..source("constraint", path)
        });
    }
    sources.extend(config.training.extra_sources.iter().cloned());
    let mut recipe = config.training.recipe.clone();
    let mut seed = arm.seed;
    if arm.condition == ArmCondition::Phase2 {
        seed ^= PHASE2_SEED_SALT;
        if let Some(steps) = config.phases.phase2_steps {
            recipe.steps = Some(steps);
            recipe.epochs = None;
        }
    }
    let finetune = FinetuneConfig {
        model: start.to_path_buf(),
        out: arm_dir.to_path_buf(),
        seed,
        device: config.device,
        dtype: config.dtype,
        method: config.training.method.clone(),
        sources,
        heldout: heldout_sets(config, arm, &data)?,
        recipe,
        checkpoints: config.training.checkpoints.clone(),
    };
    finetune
        .check()
        .with_context(|| format!("arm {}", arm.name()))?;
    let text = toml::to_string(&finetune)
        .with_context(|| format!("arm {}: cannot write its finetune config", arm.name()))?;
    crate::store::write_atomic(&arm_dir.join("finetune.toml"), text.as_bytes())?;
    Ok(finetune)
}
