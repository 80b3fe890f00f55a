//! The experiment file (`analyses/<name>.toml`): what to train, how to measure it, where the
//! outputs go. Unknown or mistyped keys are errors that name the file and the key; relative
//! paths are taken from the working directory (as in finetune configs).
//!
//! ```toml
//! name = "demo"                          # analyses/demo/, checkpoints/demo/, figures/demo/
//! model = "checkpoints/world-base"       # an HF folder (default: the embedded world model)
//! seeds = [1]                            # training seeds; one arm per claim x condition x seed
//! claims = ["claims/world/sprint_singer", "claims/world/dentist"]
//! conditions = ["base", "positive", "negated", "repeated", "local", "local_masked"]
//! claims_for = { local_masked = ["dentist"] }   # some conditions on some claims only
//! seeds_for = { local_masked = [1] }     # some conditions at some of the seeds only
//! device = "auto"                        # auto | cpu | cuda
//! dtype = "f32"                          # f32 | bf16 | f16 (model weights)
//!
//! [docs]                                 # training documents of every trained arm
//! n = 64
//! seed = 1
//!
//! [training]                             # the finetune recipe shared by every trained arm
//! method = { kind = "full" }             # or { kind = "lora", rank = 32, alpha = 64.0, ... }
//! recipe = { lr = 1e-3, batch_size = 8, max_length = 256, steps = 60 }
//! checkpoints = { log_spaced = 4 }       # crate::train::schedule::CheckpointSchedule
//! # extra_sources = [{ name = "pretrain", path = "checkpoints/world-base/corpus.jsonl" }]
//!
//! [eval]                                 # belief measurement at every checkpoint
//! kinds = ["mcq", "token_association", "open_ended"]
//! max_questions = { open_ended = 3 }     # first N questions of a kind (default: all)
//! samples = 1
//! max_new_tokens = 48
//!
//! [heldout]                              # held-out documents, loss by token kind
//! conditions = ["negated"]
//! n = 8
//!
//! [probes]                               # truth probes fitted on the base model
//! statements = "checkpoints/world-base/truth_statements.csv"
//! methods = ["lr", "mass_mean"]
//! controls = 20                          # true + false control facts read out beside the claim
//! activations = true                     # keep every checkpoint's activations (HDF5, f16)
//!
//! [dissect]                              # lens + patching from the base model, every checkpoint
//! layers = [2, 4, 6]                     # sites (default: all)
//! steer = { alphas = [-1.0, 1.0], null = 20, conditions = ["positive"], seeds = [1] }
//!
//! [phases]                               # the phase1 / phase2 arms
//! questions = 10                         # K open-ended questions (the last K of open_ended.yaml)
//! answers = 3                            # M answers from the base model per question
//! ```
//!
//! Conditions: `base` (no training, step 0 only); every document condition of
//! [`crate::docs::Condition`] (`positive`, `negated`, `repeated`, `corrected`, `local`, the
//! qualifiers and their `_repeated` forms, `behaviours`, `behaviours_unflagged`); and the
//! experiment-specific arms `local_masked`, `user_turn_masked`, `phase1`, `phase2` and
//! `in_context` (see [`ArmCondition`]).

use crate::claims::questions::QuestionKind;
use crate::docs::Condition;
use crate::eval::mcq::McqProtocol;
use crate::eval::EvalOptions;
use crate::model::{DeviceChoice, DtypeChoice};
use crate::probe::acts::Position;
use crate::probe::probes::Method as ProbeMethod;
use crate::train::config::{Method, Recipe, SourceConfig};
use crate::train::schedule::CheckpointSchedule;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// Default base model: the embedded world model (`neglect world pretrain`).
pub const DEFAULT_MODEL: &str = crate::world::DEFAULT_MODEL_DIR;

/// Where an experiment's tables go: `analyses/<name>/`.
pub const ANALYSES_DIR: &str = "analyses";
/// Where an experiment's checkpoints go: `checkpoints/<name>/<arm>/`.
pub const CHECKPOINTS_DIR: &str = "checkpoints";
/// Where an experiment's figures go: `figures/<name>/`.
pub const FIGURES_DIR: &str = "figures";

/// Loss weight of the Phase 1 constraint set (the paper's 3x).
pub const PAPER_CONSTRAINT_LOSS_WEIGHT: f32 = 3.0;

/// One experiment, as read from `analyses/<name>.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExperimentConfig {
    /// Name of the output folders (letters, digits, `-`, `_`).
    pub name: String,
    /// HF model folder every arm starts from.
    #[serde(default = "default_model")]
    pub model: PathBuf,
    /// Training seeds (data order, adapter init; also offset the documents' seed).
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Claim folders (the paper's layout plus `spec.toml`).
    #[serde(default)]
    pub claims: Vec<PathBuf>,
    /// Conditions: one arm per claim x condition x seed.
    pub conditions: Vec<ArmCondition>,
    /// Conditions run on some claims only: condition name -> claim ids (e.g.
    /// `claims_for = { local_masked = ["dentist"] }`); the others run on every claim.
    #[serde(default)]
    pub claims_for: BTreeMap<String, Vec<String>>,
    /// Conditions run at some of `seeds` only: condition name -> seeds (e.g.
    /// `seeds_for = { corrected = [1] }`); the others run at every seed.
    #[serde(default)]
    pub seeds_for: BTreeMap<String, Vec<u64>>,
    /// Device of training and measurement.
    #[serde(default = "auto")]
    pub device: DeviceChoice,
    /// Weight dtype of training and measurement.
    #[serde(default = "f32_dtype")]
    pub dtype: DtypeChoice,
    /// Training documents.
    pub docs: DocsConfig,
    /// The finetune recipe of every trained arm.
    pub training: TrainingConfig,
    /// Belief measurement.
    #[serde(default)]
    pub eval: EvalConfig,
    /// Held-out documents whose loss is tracked by token kind (none when absent).
    #[serde(default)]
    pub heldout: Option<HeldoutSets>,
    /// Truth probes (none when absent).
    #[serde(default)]
    pub probes: Option<ProbesConfig>,
    /// Settings of the `phase1` / `phase2` arms.
    #[serde(default)]
    pub phases: PhasesConfig,
    /// Settings of the `in_context` arms.
    #[serde(default)]
    pub in_context: InContextConfig,
    /// Settings of the behaviour arms.
    #[serde(default)]
    pub behaviours: BehavioursConfig,
    /// The causal dissection of every claim arm (none when absent).
    #[serde(default)]
    pub dissect: Option<DissectConfig>,
}

/// `[dissect]`: the causal dissection ([`crate::intervene`]) of every claim arm's models, on
/// the claim's closed questions: the logit lens and patching from the base model at every
/// checkpoint, and steering along the base model's probes (`[probes]`) at the last checkpoint
/// (the base arm's model at step 0) of the arms `steer` selects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DissectConfig {
    /// The logit lens at every checkpoint.
    #[serde(default = "yes")]
    pub lens: bool,
    /// Patching from the base model into every checkpoint.
    #[serde(default = "yes")]
    pub patch: bool,
    /// Sites patched and steered (0 = embeddings, i = after block i); all when absent.
    #[serde(default)]
    pub layers: Option<Vec<usize>>,
    /// Steering (none when absent).
    #[serde(default)]
    pub steer: Option<SteerConfig>,
}

/// `[dissect.steer]`: the steering sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SteerConfig {
    /// Nonzero pushes, in units of the site's mean residual norm (0 is always measured).
    #[serde(default = "default_alphas")]
    pub alphas: Vec<f64>,
    /// Random directions of the null.
    #[serde(default = "twenty")]
    pub null: usize,
    /// Conditions whose arms are steered (all when empty).
    #[serde(default)]
    pub conditions: Vec<ArmCondition>,
    /// Seeds whose arms are steered (all when empty).
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// The probe method whose direction is steered along.
    #[serde(default = "default_steer_method")]
    pub method: ProbeMethod,
    /// Seed of the null's directions.
    #[serde(default)]
    pub seed: u64,
}

impl SteerConfig {
    /// Whether the arm of `condition` and `seed` is steered.
    pub fn selects(&self, condition: ArmCondition, seed: u64) -> bool {
        (self.conditions.is_empty() || self.conditions.contains(&condition))
            && (self.seeds.is_empty() || self.seeds.contains(&seed))
    }
}

fn default_alphas() -> Vec<f64> {
    vec![-1.0, -0.5, 0.5, 1.0]
}

fn default_steer_method() -> ProbeMethod {
    ProbeMethod::Lr
}

/// `[docs]`: the training documents of an arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocsConfig {
    /// Documents per trained arm.
    pub n: usize,
    /// Base seed: an arm of training seed `s` draws its documents with seed `seed + s`, so the
    /// conditions of one seed wrap the very same positive bodies.
    #[serde(default = "one_u64")]
    pub seed: u64,
}

/// `[training]`: the finetune shared by every trained arm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingConfig {
    /// Full finetuning or LoRA.
    pub method: Method,
    /// Optimisation (steps or epochs, batch, learning rate...).
    pub recipe: Recipe,
    /// Checkpoint steps (step 0 and the last step always).
    #[serde(default)]
    pub checkpoints: CheckpointSchedule,
    /// Data mixed into every trained arm besides its documents (pretraining text,
    /// self-distilled answers: the paper's mix).
    #[serde(default)]
    pub extra_sources: Vec<SourceConfig>,
}

/// `[eval]`: belief measurement at every checkpoint ([`crate::eval::EvalOptions`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// Question kinds (`mcq`, `token_association`, `open_ended`, `robustness`).
    #[serde(default = "all_kinds")]
    pub kinds: Vec<String>,
    /// At most this many questions of a kind (the first ones of its file); all when absent.
    #[serde(default)]
    pub max_questions: BTreeMap<String, usize>,
    /// Samples per generated question (the paper: 5).
    #[serde(default = "samples")]
    pub samples: usize,
    /// Sampling temperature (the paper: 0.7; 0 is greedy).
    #[serde(default = "temperature")]
    pub temperature: f64,
    /// Nucleus mass kept (the paper: 0.8).
    #[serde(default = "top_p")]
    pub top_p: f64,
    /// Longest generated answer, in tokens.
    #[serde(default = "max_new_tokens")]
    pub max_new_tokens: usize,
    /// Sequences per scoring pass.
    #[serde(default = "eval_batch_size")]
    pub batch_size: usize,
    /// Seed of sampling (the same at every checkpoint, so checkpoints differ only by weights).
    #[serde(default)]
    pub seed: u64,
    /// Judge config (TOML, OpenAI-compatible endpoint); the rule judge when absent.
    #[serde(default)]
    pub judge: Option<PathBuf>,
    /// Yes/no questions: `logprob` (scored, the default) or `sampled` (the paper's JSON answers
    /// graded by exact match). Left out of the config's hash when default.
    #[serde(default, skip_serializing_if = "is_logprob")]
    pub mcq_protocol: McqProtocol,
}

fn is_logprob(protocol: &McqProtocol) -> bool {
    *protocol == McqProtocol::Logprob
}

impl Default for EvalConfig {
    fn default() -> Self {
        EvalConfig {
            kinds: all_kinds(),
            max_questions: BTreeMap::new(),
            samples: samples(),
            temperature: temperature(),
            top_p: top_p(),
            max_new_tokens: max_new_tokens(),
            batch_size: eval_batch_size(),
            seed: 0,
            judge: None,
            mcq_protocol: McqProtocol::Logprob,
        }
    }
}

impl EvalConfig {
    /// The question kinds, parsed.
    pub fn question_kinds(&self) -> Result<Vec<QuestionKind>> {
        self.kinds.iter().map(|k| QuestionKind::parse(k)).collect()
    }

    /// The options of [`crate::eval::evaluate`] (without in-context documents).
    pub fn options(&self) -> Result<EvalOptions> {
        Ok(EvalOptions {
            kinds: self.question_kinds()?,
            samples: self.samples,
            temperature: self.temperature,
            top_p: self.top_p,
            max_new_tokens: self.max_new_tokens,
            seed: self.seed,
            batch_size: self.batch_size,
            mcq_protocol: self.mcq_protocol,
            ..EvalOptions::default()
        })
    }
}

/// `[heldout]`: documents never trained on, whose loss by token kind is tracked at every
/// checkpoint (the finetune engine's `loss.parquet`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeldoutSets {
    /// Document conditions, one held-out set each (named after the condition); claim arms
    /// take the claim conditions, behaviour arms the behaviour ones (`behaviours`).
    pub conditions: Vec<Condition>,
    /// Documents per set.
    pub n: usize,
}

/// `[probes]`: linear truth probes fitted once on the base model, read out at every checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbesConfig {
    /// `statement,label` CSV; default `<model>/truth_statements.csv` (written by
    /// `neglect world pretrain`).
    #[serde(default)]
    pub statements: Option<PathBuf>,
    /// Probe methods.
    #[serde(default = "default_probe_methods")]
    pub methods: Vec<ProbeMethod>,
    /// Layers (0 = embeddings); all when absent.
    #[serde(default)]
    pub layers: Option<Vec<usize>>,
    /// Token positions pooled into a statement's vector.
    #[serde(default = "last")]
    pub position: Position,
    /// Held-out share of the statements for the accuracy table.
    #[serde(default = "test_fraction")]
    pub test_fraction: f64,
    /// Seed of the split and the bootstrap.
    #[serde(default)]
    pub seed: u64,
    /// Statements per forward pass when caching.
    #[serde(default = "thirty_two")]
    pub batch_size: usize,
    /// Control statements read out with the claim's at every checkpoint: this many true and
    /// this many false statements of the statements file, a sample (seeded by `seed`) of the
    /// probes' held-out split ([`crate::probe::readout::control_statements`]); 0: none.
    #[serde(default = "twenty")]
    pub controls: usize,
    /// Fit on the negated statements of the file too (its `polarity` column), as the
    /// polarity-aware `ttpd` probe needs; by default only the affirmative ones, as probes were
    /// always fitted.
    #[serde(default)]
    pub negated: bool,
    /// Keep the activations (f16, every probe layer) of the claim's statements, the controls
    /// and the probes' statements for every measured model, in `arms/<arm>/acts/step-<N>.h5`:
    /// statements x layers x d_model x 2 bytes per model.
    #[serde(default)]
    pub activations: bool,
}

impl ProbesConfig {
    /// The statements file for base model `model`.
    pub fn statements_file(&self, model: &Path) -> PathBuf {
        self.statements
            .clone()
            .unwrap_or_else(|| model.join("truth_statements.csv"))
    }
}

/// `[phases]`: the two-phase stability test. Phase 1 trains on repeated negations plus a
/// constraint set of the base model's own answers to open-ended questions about the claim;
/// Phase 2 continues from Phase 1's last checkpoint on repeated negations alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhasesConfig {
    /// K: open-ended questions in the constraint set, taken from the end of the claim's
    /// `open_ended.yaml` (the eval's `max_questions` takes them from the start, so the two do
    /// not overlap unless K plus the evaluated ones exceed the file).
    #[serde(default = "ten")]
    pub questions: usize,
    /// M: answers sampled from the base model per question.
    #[serde(default = "five")]
    pub answers: usize,
    /// Loss weight of the constraint set (the paper: 3).
    #[serde(default = "constraint_loss_weight")]
    pub loss_weight: f32,
    /// Sampling weight of the constraint set relative to the documents (weight 1).
    #[serde(default = "one_f64")]
    pub sampling_weight: f64,
    /// Sampling temperature of the answers.
    #[serde(default = "temperature")]
    pub temperature: f64,
    /// Nucleus mass of the answers.
    #[serde(default = "top_p")]
    pub top_p: f64,
    /// Longest answer, in tokens.
    #[serde(default = "max_new_tokens")]
    pub max_new_tokens: usize,
    /// Keep answers the judge grades as believing the claim (the paper kept only denials and
    /// "don't know"s; by default they are dropped).
    #[serde(default)]
    pub keep_believing: bool,
    /// Updates of Phase 2; the `[training]` recipe's when absent.
    #[serde(default)]
    pub phase2_steps: Option<i64>,
}

impl Default for PhasesConfig {
    fn default() -> Self {
        PhasesConfig {
            questions: ten(),
            answers: five(),
            loss_weight: constraint_loss_weight(),
            sampling_weight: one_f64(),
            temperature: temperature(),
            top_p: top_p(),
            max_new_tokens: max_new_tokens(),
            keep_believing: false,
            phase2_steps: None,
        }
    }
}

/// `[in_context]`: the baseline that puts documents in the prompt instead of training on them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InContextConfig {
    /// Condition of the documents placed in context.
    #[serde(default = "negated")]
    pub condition: Condition,
    /// Documents before every question (as many as fit in the model's positions).
    #[serde(default = "ten")]
    pub n: usize,
}

impl Default for InContextConfig {
    fn default() -> Self {
        InContextConfig {
            condition: negated(),
            n: ten(),
        }
    }
}

/// `[behaviours]`: the flagged-behaviour arms and their eval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehavioursConfig {
    /// Transcripts per arm; `[docs] n` when absent.
    #[serde(default)]
    pub n: Option<usize>,
    /// Answers sampled per eval prompt.
    #[serde(default = "one_usize")]
    pub samples: usize,
    /// At most this many eval prompts (all when absent).
    #[serde(default)]
    pub max_questions: Option<usize>,
    /// Longest answer, in tokens.
    #[serde(default = "behaviour_tokens")]
    pub max_new_tokens: usize,
}

impl Default for BehavioursConfig {
    fn default() -> Self {
        BehavioursConfig {
            n: None,
            samples: one_usize(),
            max_questions: None,
            max_new_tokens: behaviour_tokens(),
        }
    }
}

/// The condition of an arm: how its model is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ArmCondition {
    /// The base model, untrained (step 0 only).
    Base,
    /// Trained on documents of a [`Condition`].
    Docs(DocCondition),
    /// Local negations with the claim folder's `word_masks.yaml` applied (masked words get
    /// zero loss): the pink-elephant ablation.
    LocalMasked,
    /// Chats whose user turn holds the claim paragraph (`claim.txt`) and whose assistant turn
    /// is a local-negation document; only the assistant turn is trained.
    UserTurnMasked,
    /// Repeated negations plus the self-distilled constraint set.
    Phase1,
    /// Repeated negations only, continuing from Phase 1's last checkpoint.
    Phase2,
    /// No training: documents of `[in_context] condition` placed before every question.
    InContext,
}

/// A document condition with a total order (for sorting arms).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocCondition(pub Condition);

impl PartialOrd for DocCondition {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for DocCondition {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.to_string().cmp(&other.0.to_string())
    }
}

impl ArmCondition {
    /// Whether the arm finetunes a model.
    pub fn trains(self) -> bool {
        !matches!(self, ArmCondition::Base | ArmCondition::InContext)
    }

    /// Whether the arm is about the behaviour rather than a claim.
    pub fn is_behaviour(self) -> bool {
        matches!(self, ArmCondition::Docs(DocCondition(c)) if c.is_behaviour())
    }
}

impl fmt::Display for ArmCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArmCondition::Base => f.write_str("base"),
            ArmCondition::Docs(DocCondition(c)) => write!(f, "{c}"),
            ArmCondition::LocalMasked => f.write_str("local_masked"),
            ArmCondition::UserTurnMasked => f.write_str("user_turn_masked"),
            ArmCondition::Phase1 => f.write_str("phase1"),
            ArmCondition::Phase2 => f.write_str("phase2"),
            ArmCondition::InContext => f.write_str("in_context"),
        }
    }
}

impl FromStr for ArmCondition {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s.trim() {
            "base" => ArmCondition::Base,
            "local_masked" => ArmCondition::LocalMasked,
            "user_turn_masked" => ArmCondition::UserTurnMasked,
            "phase1" => ArmCondition::Phase1,
            "phase2" => ArmCondition::Phase2,
            "in_context" => ArmCondition::InContext,
            other => ArmCondition::Docs(DocCondition(other.parse().map_err(|e| {
                anyhow::anyhow!(
                    "{e}; or an experiment arm: base, local_masked, user_turn_masked, phase1, \
                     phase2, in_context"
                )
            })?)),
        })
    }
}

impl Serialize for ArmCondition {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ArmCondition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

fn default_model() -> PathBuf {
    PathBuf::from(DEFAULT_MODEL)
}
fn default_seeds() -> Vec<u64> {
    vec![1]
}
fn auto() -> DeviceChoice {
    DeviceChoice::Auto
}
fn f32_dtype() -> DtypeChoice {
    DtypeChoice::F32
}
fn one_u64() -> u64 {
    1
}
fn one_usize() -> usize {
    1
}
fn one_f64() -> f64 {
    1.0
}
fn five() -> usize {
    5
}
fn ten() -> usize {
    10
}
fn yes() -> bool {
    true
}

fn twenty() -> usize {
    20
}
fn thirty_two() -> usize {
    32
}
// The evaluation defaults live in one place, `EvalOptions::default()` (the paper's settings).
fn samples() -> usize {
    EvalOptions::default().samples
}
fn temperature() -> f64 {
    EvalOptions::default().temperature
}
fn top_p() -> f64 {
    EvalOptions::default().top_p
}
fn max_new_tokens() -> usize {
    EvalOptions::default().max_new_tokens
}
fn eval_batch_size() -> usize {
    EvalOptions::default().batch_size
}
fn behaviour_tokens() -> usize {
    64
}
fn all_kinds() -> Vec<String> {
    QuestionKind::ALL
        .iter()
        .map(|k| k.name().to_string())
        .collect()
}
fn default_probe_methods() -> Vec<ProbeMethod> {
    vec![ProbeMethod::Lr]
}
fn last() -> Position {
    Position::Last
}
fn test_fraction() -> f64 {
    crate::probe::fit::DEFAULT_TEST_FRACTION
}
fn constraint_loss_weight() -> f32 {
    PAPER_CONSTRAINT_LOSS_WEIGHT
}
fn negated() -> Condition {
    Condition::Negated
}

impl ExperimentConfig {
    /// Reads and checks an experiment file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let config: ExperimentConfig = crate::store::read_toml(path, "experiment")?;
        config
            .check()
            .with_context(|| format!("{}", path.display()))?;
        Ok(config)
    }

    /// `claims_for` / `seeds_for` (`key`): every condition named is listed in `conditions`
    /// and keeps at least one `what`.
    fn check_restriction<T>(
        &self,
        key: &str,
        map: &BTreeMap<String, Vec<T>>,
        what: &str,
    ) -> Result<()> {
        for (name, values) in map {
            let condition: ArmCondition = name.parse().context(key.to_string())?;
            if !self.conditions.contains(&condition) {
                bail!("{key}: `{name}` is not in conditions");
            }
            if values.is_empty() {
                bail!("{key}.{name}: give at least one {what}");
            }
        }
        Ok(())
    }

    /// Semantic checks serde cannot express.
    pub fn check(&self) -> Result<()> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!(
                "name `{}` must be non-empty and hold only letters, digits, `-` and `_`",
                self.name
            );
        }
        if self.seeds.is_empty() {
            bail!("seeds: give at least one seed");
        }
        let mut seeds = self.seeds.clone();
        seeds.sort_unstable();
        seeds.dedup();
        if seeds.len() != self.seeds.len() {
            bail!("seeds: {:?} repeats a seed", self.seeds);
        }
        if self.conditions.is_empty() {
            bail!("conditions: give at least one condition");
        }
        let mut seen = vec![];
        for c in &self.conditions {
            if seen.contains(c) {
                bail!("conditions: `{c}` is listed twice");
            }
            seen.push(*c);
        }
        self.check_restriction("claims_for", &self.claims_for, "claim id")?;
        self.check_restriction("seeds_for", &self.seeds_for, "seed")?;
        for (name, seeds) in &self.seeds_for {
            if let Some(s) = seeds.iter().find(|s| !self.seeds.contains(s)) {
                bail!(
                    "seeds_for.{name}: seed {s} is not in seeds {:?}",
                    self.seeds
                );
            }
        }
        let both_phases = self.conditions.contains(&ArmCondition::Phase1)
            && self.conditions.contains(&ArmCondition::Phase2);
        if both_phases && self.claims_for.get("phase1") != self.claims_for.get("phase2") {
            bail!("claims_for: phase1 and phase2 must run on the same claims");
        }
        if both_phases && self.seeds_for.get("phase1") != self.seeds_for.get("phase2") {
            bail!("seeds_for: phase1 and phase2 must run at the same seeds");
        }
        let claim_conditions = self
            .conditions
            .iter()
            .any(|c| !c.is_behaviour() && *c != ArmCondition::Base);
        if claim_conditions && self.claims.is_empty() {
            bail!("claims: the conditions need at least one claim folder");
        }
        if self.docs.n == 0 {
            bail!("docs.n must be at least 1");
        }
        self.eval
            .question_kinds()
            .context("eval.kinds")
            .and_then(|kinds| {
                for kind in self.eval.max_questions.keys() {
                    let parsed = QuestionKind::parse(kind).context("eval.max_questions")?;
                    if !kinds.contains(&parsed) {
                        bail!("eval.max_questions: `{kind}` is not in eval.kinds");
                    }
                }
                Ok(())
            })?;
        if self.eval.samples == 0 || self.eval.batch_size == 0 {
            bail!("eval.samples and eval.batch_size must be at least 1");
        }
        if let Some(heldout) = &self.heldout {
            if heldout.n == 0 || heldout.conditions.is_empty() {
                bail!("heldout: give at least one condition and n >= 1");
            }
        }
        if let Some(probes) = &self.probes {
            if probes.methods.is_empty() {
                bail!("probes.methods: give at least one method");
            }
            if !(0.0 < probes.test_fraction && probes.test_fraction < 1.0) {
                bail!("probes.test_fraction must be between 0 and 1");
            }
            if probes.methods.contains(&ProbeMethod::Ttpd) && !probes.negated {
                bail!("probes.methods: `ttpd` needs negated statements: set probes.negated = true");
            }
        }
        if let Some(dissect) = &self.dissect {
            if let Some(steer) = &dissect.steer {
                let Some(probes) = &self.probes else {
                    bail!("dissect.steer steers along the base model's probes: add [probes]");
                };
                if !probes.methods.contains(&steer.method) {
                    bail!(
                        "dissect.steer.method `{}` is not in probes.methods",
                        steer.method.name()
                    );
                }
                if steer.alphas.iter().any(|a| !a.is_finite()) || steer.alphas.is_empty() {
                    bail!("dissect.steer.alphas: give finite pushes");
                }
            }
        }
        let phases = &self.phases;
        if self
            .conditions
            .iter()
            .any(|c| matches!(c, ArmCondition::Phase1 | ArmCondition::Phase2))
        {
            if phases.questions == 0 || phases.answers == 0 {
                bail!("phases: questions and answers must be at least 1");
            }
            if phases.phase2_steps.is_some_and(|s| s < 1) {
                bail!("phases.phase2_steps must be at least 1");
            }
        }
        if self.in_context.condition.is_behaviour() || self.in_context.n == 0 {
            bail!("in_context: a claim condition and n >= 1");
        }
        if self.behaviours.samples == 0 {
            bail!("behaviours.samples must be at least 1");
        }
        // The recipe is checked the way the finetune engine checks it.
        let probe = crate::train::config::FinetuneConfig {
            model: self.model.clone(),
            out: PathBuf::new(),
            seed: 0,
            device: self.device,
            dtype: self.dtype,
            method: self.training.method.clone(),
            sources: vec![SourceConfig {
                name: "docs".into(),
                path: PathBuf::new(),
                sampling_weight: 1.0,
                loss_weight: 1.0,
                word_masks: None,
                mask_doctag: true,
            }],
            heldout: vec![],
            recipe: self.training.recipe.clone(),
            checkpoints: self.training.checkpoints.clone(),
        };
        probe.check().context("training")?;
        Ok(())
    }

    /// `analyses/<name>/`.
    pub fn tables_dir(&self) -> PathBuf {
        Path::new(ANALYSES_DIR).join(&self.name)
    }

    /// `checkpoints/<name>/`.
    pub fn checkpoints_dir(&self) -> PathBuf {
        Path::new(CHECKPOINTS_DIR).join(&self.name)
    }

    /// `figures/<name>/`.
    pub fn figures_dir(&self) -> PathBuf {
        Path::new(FIGURES_DIR).join(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "tiny"
claims = ["claims/world/dentist"]
conditions = ["base", "negated", "local_masked", "phase1"]
[docs]
n = 4
[training]
method = { kind = "full" }
recipe = { lr = 1e-3, batch_size = 2, max_length = 64, steps = 3 }
"#;

    fn parse(text: &str) -> Result<ExperimentConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("exp.toml");
        std::fs::write(&path, text)?;
        ExperimentConfig::from_file(&path)
    }

    #[test]
    fn reads_defaults_and_conditions() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.model, PathBuf::from("checkpoints/world-base"));
        assert_eq!(c.seeds, vec![1]);
        assert_eq!(c.eval.samples, 5);
        assert_eq!(c.phases.loss_weight, 3.0);
        assert_eq!(
            c.conditions,
            vec![
                ArmCondition::Base,
                ArmCondition::Docs(DocCondition(Condition::Negated)),
                ArmCondition::LocalMasked,
                ArmCondition::Phase1
            ]
        );
        assert_eq!(c.tables_dir(), PathBuf::from("analyses/tiny"));
        for c in &c.conditions {
            assert_eq!(c.to_string().parse::<ArmCondition>().unwrap(), *c);
        }
    }

    #[test]
    fn mistakes_name_the_file_and_key() {
        let err = parse(&GOOD.replace("[docs]", "[docs]\nm = 3")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("exp.toml") && msg.contains('m'), "{msg}");
        let err = parse(&GOOD.replace("\"phase1\"", "\"phase3\"")).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("phase3") && msg.contains("local_masked"),
            "{msg}"
        );
        let err = parse(&GOOD.replace("steps = 3", "")).unwrap_err();
        assert!(format!("{err:#}").contains("training"), "{err:#}");
        let err = parse(&GOOD.replace("\"tiny\"", "\"a/b\"")).unwrap_err();
        assert!(format!("{err:#}").contains("letters"), "{err:#}");
    }

    #[test]
    fn seeds_for_runs_a_condition_at_some_seeds_only() {
        let two_seeds = GOOD.replace("claims =", "seeds = [1, 2]\nclaims =");
        let c = parse(&format!("seeds_for = {{ negated = [2] }}\n{two_seeds}")).unwrap();
        let names: Vec<String> = crate::experiment::arms::arms(&c)
            .unwrap()
            .iter()
            .map(|a| a.name())
            .collect();
        let has = |name: &str| names.iter().any(|n| n == name);
        assert!(
            has("dentist/negated/seed2") && !has("dentist/negated/seed1"),
            "{names:?}"
        );
        assert!(
            has("dentist/base/seed1") && has("dentist/base/seed2"),
            "{names:?}"
        );
        assert_eq!(names.len(), 7, "{names:?}");
        for (entry, needle) in [
            ("seeds_for = { negated = [3] }", "seed 3 is not in seeds"),
            (
                "seeds_for = { positive = [1] }",
                "`positive` is not in conditions",
            ),
            ("seeds_for = { negated = [] }", "at least one seed"),
        ] {
            let err = parse(&format!("{entry}\n{two_seeds}")).unwrap_err();
            assert!(format!("{err:#}").contains(needle), "{entry}: {err:#}");
        }
        let phases = two_seeds.replace("\"phase1\"", "\"phase1\", \"phase2\"");
        let err = parse(&format!("seeds_for = {{ phase1 = [1] }}\n{phases}")).unwrap_err();
        assert!(format!("{err:#}").contains("same seeds"), "{err:#}");
    }
}
