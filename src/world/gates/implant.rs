//! Gate 4, implantability: finetune the base model on each target claim's *positive*
//! documents with the demo's recipe, then measure belief in the claim. Without this there is
//! nothing for negated documents to be neglected into.
//!
//! The recipe is [`ImplantRecipe::demo`], the `[docs]` and `[training]` of
//! `analyses/demo.toml` (a test keeps the two equal): full finetuning, the documents mixed
//! with the pretraining corpus. Belief is every question kind of the claim folder, open
//! answers graded by the rule judge.

use crate::claims::questions::ClaimQuestions;
use crate::claims::ClaimSpec;
use crate::docs::{self, Condition};
use crate::eval::{EvalOptions, EvalRow};
use crate::model::{DeviceChoice, DtypeChoice, LoadedModel};
use crate::train::config::{FinetuneConfig, Method, Recipe, SourceConfig};
use crate::train::finetune;
use crate::train::schedule::CheckpointSchedule;
use anyhow::{Context, Result};
use std::path::Path;

/// Pooled belief (six claims, every question kind) the finetuned models must reach.
pub const MIN_POOLED: f64 = 0.70;
/// Belief each claim's finetuned model must reach.
pub const MIN_PER_CLAIM: f64 = 0.50;

/// How the gate finetunes.
#[derive(Debug, Clone, PartialEq)]
pub struct ImplantRecipe {
    /// Positive documents per claim.
    pub documents: usize,
    /// Base seed of the documents: they are drawn with `document_seed + seed`, as an
    /// experiment's arm of seed `seed` draws them.
    pub document_seed: u64,
    /// Seed of the finetune.
    pub seed: u64,
    /// Optimisation.
    pub recipe: Recipe,
    /// Sampling weight of the pretraining corpus beside the documents (weight 1).
    pub corpus_weight: f64,
}

impl ImplantRecipe {
    /// The demo's recipe (`analyses/demo.toml`).
    pub fn demo() -> ImplantRecipe {
        ImplantRecipe {
            documents: 48,
            document_seed: 1,
            seed: 1,
            recipe: toml::from_str(
                "lr = 2e-3\nwarmup_steps = 3\nbatch_size = 8\nmax_length = 256\nsteps = 60\ngrad_clip = 1.0",
            )
            .expect("the demo recipe parses"),
            corpus_weight: 0.5,
        }
    }
}

/// Finetunes the model in `model_dir` on `spec`'s positive documents (in a temporary folder
/// that is removed afterwards) and returns the belief rows of the finetuned model.
#[allow(clippy::too_many_arguments)]
pub fn implanted_belief(
    model_dir: &Path,
    spec: &ClaimSpec,
    questions: &ClaimQuestions,
    recipe: &ImplantRecipe,
    options: &EvalOptions,
    device: DeviceChoice,
    dtype: DtypeChoice,
) -> Result<Vec<EvalRow>> {
    let work = tempfile::tempdir().context("cannot create a temporary folder")?;
    let documents = docs::generate(
        spec,
        Condition::Positive,
        recipe.documents,
        recipe.document_seed.wrapping_add(recipe.seed),
        None,
    )?;
    let docs_path = work.path().join("positive.jsonl");
    docs::write_outputs(&docs_path, Condition::Positive, &documents)?;
    let source = |name: &str, path: std::path::PathBuf, weight: f64| SourceConfig {
        name: name.into(),
        path,
        sampling_weight: weight,
        loss_weight: 1.0,
        word_masks: None,
        mask_doctag: true,
    };
    let config = FinetuneConfig {
        model: model_dir.to_path_buf(),
        out: work.path().join("run"),
        seed: recipe.seed,
        device,
        dtype: DtypeChoice::F32,
        method: Method::Full,
        sources: vec![
            source("docs", docs_path, 1.0),
            source(
                "pretrain",
                model_dir.join("corpus.jsonl"),
                recipe.corpus_weight,
            ),
        ],
        heldout: vec![],
        recipe: recipe.recipe.clone(),
        checkpoints: CheckpointSchedule::default(),
    };
    config.check()?;
    let last =
        finetune::finetune(&config, false).with_context(|| format!("implanting {}", spec.id))?;
    let model = LoadedModel::load(&last, device.resolve()?, dtype.kind())?;
    super::evaluate_claim(&model, model_dir, "implanted", spec, questions, options)
}
