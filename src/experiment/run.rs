//! The orchestrator: loops over arms and checkpoints, owns resume and the file layout.
//!
//! For each arm of the run (all, or one `--shard`), in sorted order, unless its `done.json` is
//! there:
//! 1. trained arms: write its data and `finetune.toml` ([`super::prepare`]) and run
//!    [`crate::train::finetune::finetune`] with `resume`, which continues from the newest
//!    checkpoint and does nothing for a finished run; `phase2` first makes sure `phase1` is
//!    trained and starts from its last checkpoint (LoRA adapters merged first);
//! 2. at every checkpoint (step 0 is the starting model; `base` and `in_context` arms have
//!    only step 0): belief ([`crate::eval::evaluate`], or the behaviour rate) and, with
//!    `[probes]`, the readout of the claim's statements and of the control statements (true and
//!    false facts of the probes' held-out split) by probes fitted once on the base model;
//! 3. held-out loss by token kind from the run's `loss.parquet`;
//! 4. the arm's tables, then its `done.json`, each written atomically.
//!
//! A run ends by merging every finished arm's tables into the experiment tables (also
//! `--merge-only`), writing `manifest.json`, and printing the summary ([`super::summary`]:
//! belief per condition with 95% CIs, and the base model's gates).
//! Measurements of one starting model are made once per process and reused by every arm that
//! starts from it (they are deterministic: same weights, same seeds).

use super::arms::{self, Arm, Shard, Target};
use super::config::{ArmCondition, ExperimentConfig};
use super::dissect::{Dissected, Dissector};
use super::prepare;
use crate::claims::questions::{ClaimQuestions, QuestionKind};
use crate::docs::behaviours::{BehaviourEval, CATCHPHRASE};
use crate::eval::behaviour::{evaluate_behaviour, BehaviourOptions};
use crate::eval::judge::Judge;
use crate::eval::{EvalOptions, EvalRow, RowLabels};
use crate::model::checkpoints::RunLoader;
use crate::model::LoadedModel;
use crate::probe::probes::ProbeSet;
use crate::probe::readout::{ReadoutRow, StatementKind};
use crate::probe::statements::Polarity;
use crate::store::{self, Manifest};
use crate::tables::{self, ArmLabels};
use crate::train::finetune::{self, newest_checkpoint};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind};

/// The marker an arm writes after its tables: its presence means the arm is finished.
pub const DONE_FILE: &str = "done.json";
/// Folder of the fitted probes and the base model's activations, inside the tables folder.
pub const PROBES_DIR: &str = "probes";
/// Copy of the experiment file inside the tables folder.
pub const CONFIG_COPY: &str = "experiment.toml";

/// How `neglect run` runs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunOptions {
    /// Only this slice of the arms.
    #[serde(serialize_with = "display")]
    pub shard: Option<Shard>,
    /// Only merge finished arms' tables.
    pub merge_only: bool,
    /// Stop after running this many unfinished arms (the rest are left for a later run).
    pub max_arms: Option<usize>,
}

fn display<S: serde::Serializer>(shard: &Option<Shard>, s: S) -> Result<S::Ok, S::Error> {
    match shard {
        Some(shard) => s.collect_str(shard),
        None => s.serialize_none(),
    }
}

/// What `done.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DoneMarker {
    /// The arm.
    pub arm: String,
    /// Global steps measured.
    pub steps: Vec<i64>,
    /// Rows of the arm's belief, loss and probe tables.
    pub rows: [usize; 3],
    /// Wall time of the arm in this process, seconds (training included).
    pub seconds: f64,
    /// SHA-256 of the experiment config that made it (a later run with another config warns).
    pub config_sha256: String,
    /// SHA-256 of the base model it started from ([`crate::model::load::weights_sha256`]); a
    /// later run on another base model refuses to reuse the arm. Absent in markers written
    /// before neglect recorded it.
    #[serde(default)]
    pub model_sha256: Option<String>,
    /// neglect's version.
    pub neglect_version: String,
    /// Git commit of the build.
    pub git_commit: String,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Arms run to completion by this process.
    pub ran: Vec<String>,
    /// Arms skipped because they were already finished.
    pub skipped: Vec<String>,
    /// Arms of the experiment not finished yet (other shards, `--max-arms`).
    pub unfinished: Vec<String>,
}

/// One experiment: its config and where its outputs go.
pub struct Experiment {
    /// The parsed config.
    pub config: ExperimentConfig,
    /// The file it came from.
    pub path: PathBuf,
    /// SHA-256 of the config.
    pub config_sha256: String,
    /// Every arm, sorted.
    pub arms: Vec<Arm>,
}

impl Experiment {
    /// Reads an experiment file and lists its arms.
    pub fn load(path: &Path) -> Result<Experiment> {
        let config = ExperimentConfig::from_file(path)?;
        let arms = arms::arms(&config).with_context(|| format!("{}", path.display()))?;
        let config_sha256 = format!(
            "{:x}",
            Sha256::digest(serde_json::to_string(&config)?.as_bytes())
        );
        Ok(Experiment {
            config,
            path: path.to_path_buf(),
            config_sha256,
            arms,
        })
    }

    /// `analyses/<name>/`.
    pub fn tables(&self) -> PathBuf {
        self.config.tables_dir()
    }

    /// `analyses/<name>/arms/<arm>/`.
    pub fn arm_tables(&self, arm: &Arm) -> PathBuf {
        tables::arm_dir(&self.tables(), &arm.name())
    }

    /// `checkpoints/<name>/<arm>/`.
    pub fn arm_checkpoints(&self, arm: &Arm) -> PathBuf {
        self.config.checkpoints_dir().join(arm.name())
    }

    /// The arm's `done.json`, when it is finished.
    pub fn done(&self, arm: &Arm) -> Result<Option<DoneMarker>> {
        let path = self.arm_tables(arm).join(DONE_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("{}: cannot read", path.display()))?;
        Ok(Some(serde_json::from_str(&text).with_context(|| {
            format!("{}: not a done marker", path.display())
        })?))
    }
}

/// A claim's questions (limited to `[eval] max_questions`) and judge.
struct ClaimTools {
    questions: ClaimQuestions,
    judge: Box<dyn Judge>,
}

/// What one model measures: answers, probe readouts and the dissection's lens and patching
/// (steps filled in by the caller).
#[derive(Clone, Default)]
struct Measured {
    belief: Vec<EvalRow>,
    probe: Vec<ReadoutRow>,
    dissected: Dissected,
}

/// A trained arm's run.
struct TrainedRun {
    /// Its checkpoint folder.
    dir: PathBuf,
    /// The model it started from (step 0).
    start: PathBuf,
    /// Added to its steps to make global steps (Phase 2 continues after Phase 1).
    offset: i64,
    /// Its last step (local).
    last: i64,
}

/// The base model's probes and the control statements read out with every claim.
struct Probing {
    set: ProbeSet,
    controls: Vec<(String, StatementKind)>,
    /// The statements the probes were fitted on.
    statements: Vec<crate::probe::statements::Statement>,
}

/// Measurement state of one process: tools per claim, probes, and memoised measurements.
struct Session<'a> {
    exp: &'a Experiment,
    /// SHA-256 of the base model's config and weights, recorded in every `done.json`.
    model_sha256: String,
    device: Device,
    kind: Kind,
    options: EvalOptions,
    claims: HashMap<String, ClaimTools>,
    probes: Option<Probing>,
    memo: HashMap<(PathBuf, String), Measured>,
    /// Loads checkpoints, holding a base model with adapters between LoRA checkpoints (taken
    /// out while a measurement borrows its model).
    loader: Option<RunLoader>,
    /// `[dissect]`, when the experiment has it.
    dissector: Option<Dissector>,
}

impl<'a> Session<'a> {
    /// Refuses a finished arm made from another base model than the experiment's now (its
    /// tables would mix two models); warns when the marker predates the record.
    fn check_same_model(&self, arm: &Arm, done: &DoneMarker) -> Result<()> {
        let name = arm.name();
        match done.model_sha256.as_deref() {
            Some(sha) if sha != self.model_sha256 => bail!(
                "arm {name} was finished on another base model than {} holds now (SHA-256 {} \
                 then, {} now); its tables would mix two models: remove {} and {} to redo it, \
                 or restore that model",
                self.exp.config.model.display(),
                &sha[..sha.len().min(12)],
                &self.model_sha256[..12],
                self.exp.arm_tables(arm).display(),
                self.exp.arm_checkpoints(arm).display()
            ),
            Some(_) => Ok(()),
            None => {
                eprintln!(
                    "{name}: warning: finished before neglect recorded the base model; kept \
                     without checking that {} is the model it started from",
                    self.exp.config.model.display()
                );
                Ok(())
            }
        }
    }

    fn new(exp: &'a Experiment) -> Result<Self> {
        let (device, kind) = (exp.config.device.resolve()?, exp.config.dtype.kind());
        let model_sha256 = crate::model::load::weights_sha256(&exp.config.model)
            .with_context(|| format!("base model {}", exp.config.model.display()))?;
        Ok(Session {
            exp,
            model_sha256,
            device,
            kind,
            options: exp.config.eval.options()?,
            claims: HashMap::new(),
            probes: None,
            memo: HashMap::new(),
            loader: None,
            dissector: exp.config.dissect.clone().map(|config| {
                Dissector::new(
                    config,
                    &exp.config.model,
                    device,
                    kind,
                    exp.config.eval.batch_size,
                )
            }),
        })
    }

    fn config(&self) -> &ExperimentConfig {
        &self.exp.config
    }

    /// Questions and judge of a claim, made on first use.
    fn claim_tools(&mut self, target: &Target) -> Result<&ClaimTools> {
        let Target::Claim { dir, spec } = target else {
            bail!("the behaviour has no claim questions");
        };
        if !self.claims.contains_key(&spec.id) {
            let mut questions = ClaimQuestions::load(dir)?;
            for (kind, n) in &self.config().eval.max_questions {
                let kind = QuestionKind::parse(kind)?;
                if let Some(set) = questions.sets.get_mut(&kind) {
                    set.truncate(*n);
                }
            }
            let judge = crate::eval::cli::make_judge(
                Some(spec),
                &questions,
                &self.options.kinds,
                self.config().eval.judge.as_deref(),
                &self.exp.tables().join("judge_cache"),
            )?;
            self.claims
                .insert(spec.id.clone(), ClaimTools { questions, judge });
        }
        Ok(&self.claims[&spec.id])
    }

    /// Reads every input the arms of `arms` will read, so that a missing or broken one stops
    /// the run before the first arm rather than when its arm comes: the model's config, the
    /// extra sources, the truth statements, and each claim's questions and judge.
    fn check_inputs(&mut self, arms: &[Arm]) -> Result<()> {
        let config = self.config();
        crate::model::config::ModelConfig::from_dir(&config.model).context("model")?;
        for source in &config.training.extra_sources {
            if !source.path.is_file() {
                bail!(
                    "training.extra_sources: {}: no such file (source `{}`)",
                    source.path.display(),
                    source.name
                );
            }
        }
        if let Some(probes) = &config.probes {
            let file = probes.statements_file(&config.model);
            crate::probe::statements::read_csv(&file).context("probes.statements")?;
        }
        for arm in arms {
            if matches!(arm.target, Target::Claim { .. }) {
                self.claim_tools(&arm.target)?;
            }
        }
        Ok(())
    }

    /// The probes fitted on the base model (loaded from `analyses/<name>/probes/fit/`, or
    /// fitted there on first use, activations cached in `probes/acts.h5`) and the control
    /// statements: `[probes] controls` true and false statements drawn from the fit's held-out
    /// split (the split is seeded, so it is the same whether the probes were fitted now or by
    /// an earlier run).
    fn probes(&mut self) -> Result<Option<&Probing>> {
        let Some(cfg) = self.config().probes.clone() else {
            return Ok(None);
        };
        if self.probes.is_none() {
            let dir = self.exp.tables().join(PROBES_DIR);
            let fit_dir = dir.join("fit");
            let file = cfg.statements_file(&self.config().model);
            let statements: Vec<_> = crate::probe::statements::read_csv(&file)?
                .into_iter()
                .filter(|s| cfg.negated || s.polarity == Polarity::Affirmative)
                .collect();
            if !fit_dir.join(crate::probe::probes::CONFIG_FILE).is_file() {
                let started = Instant::now();
                let model = LoadedModel::load(&self.config().model, self.device, self.kind)?;
                let layers = cfg
                    .layers
                    .clone()
                    .unwrap_or_else(|| (0..=model.decoder.config.num_layers as usize).collect());
                let acts_path = dir.join("acts.h5");
                crate::probe::acts::cache(
                    &model,
                    &statements,
                    &file.display().to_string(),
                    &crate::probe::acts::CacheOptions {
                        layers,
                        position: cfg.position,
                        dtype: crate::probe::acts::ActDtype::F32,
                        batch_size: cfg.batch_size,
                    },
                    &acts_path,
                )?;
                let acts = crate::probe::acts::ActsFile::open(&acts_path)?;
                let options = crate::probe::fit::FitOptions {
                    methods: cfg.methods.clone(),
                    split: crate::probe::fit::Split::Holdout {
                        test_fraction: cfg.test_fraction,
                    },
                    seed: cfg.seed,
                    resamples: crate::probe::fit::DEFAULT_RESAMPLES,
                    logistic: Default::default(),
                    solver: crate::probe::probes::Solver::Batched,
                    layers: None,
                    train_polarity: None,
                    device: self.device,
                };
                let (set, rows) = crate::probe::fit::fit_probes(&acts, &options)?;
                let written = store::write_dir_atomic(&fit_dir, |tmp| {
                    set.save(tmp)?;
                    store::write_parquet(
                        &tmp.join(crate::probe::cli::FIT_FILE),
                        &mut crate::probe::fit::fit_frame(&rows)?,
                    )?;
                    store::write_json(
                        &tmp.join("manifest.json"),
                        &Manifest::new("run: probe fit", (&cfg, &options), Some(cfg.seed)),
                    )
                });
                // Another shard may have fitted the same probes at the same time.
                if let Err(e) = written {
                    if !fit_dir.join(crate::probe::probes::CONFIG_FILE).is_file() {
                        return Err(e);
                    }
                }
                eprint!("{}", crate::probe::fit::format_table(&rows));
                eprintln!(
                    "probes: fitted on {} statements of {} in {:.1}s -> {}",
                    statements.len(),
                    self.config().model.display(),
                    started.elapsed().as_secs_f64(),
                    fit_dir.display()
                );
            }
            let labels: Vec<bool> = statements.iter().map(|s| s.label).collect();
            let (_, held_out) =
                crate::probe::fit::holdout_split(&labels, cfg.test_fraction, cfg.seed);
            let controls = crate::probe::readout::control_statements(
                &statements,
                &held_out,
                cfg.controls,
                cfg.seed,
            );
            self.probes = Some(Probing {
                set: ProbeSet::load(&fit_dir)?,
                controls,
                statements,
            });
        }
        Ok(self.probes.as_ref())
    }

    /// Belief (or behaviour rate) and probe readouts of the model in `dir` for `arm`'s target,
    /// with `context` documents before every question. Memoised per (model, target) when
    /// `memo` is set and there is no context.
    fn measure(
        &mut self,
        arm: &Arm,
        dir: &Path,
        context: &[String],
        memo: bool,
    ) -> Result<Measured> {
        let key = (
            dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()),
            arm.target.id().to_string(),
        );
        let memo = memo && context.is_empty();
        if memo {
            if let Some(found) = self.memo.get(&key) {
                eprintln!("  {}: measured earlier in this run, reused", dir.display());
                return Ok(found.clone());
            }
        }
        let started = Instant::now();
        let mut loader = self
            .loader
            .take()
            .unwrap_or_else(|| RunLoader::new(self.device, self.kind));
        let measured = self.measure_model(arm, dir, loader.load(dir)?, context);
        self.loader = Some(loader);
        let measured = measured?;
        let believed = measured
            .belief
            .iter()
            .filter(|r| r.grade == crate::eval::judge::Grade::Yes)
            .count();
        eprintln!(
            "  {}: {believed}/{} answers graded yes, {} probe readouts, {:.1}s",
            dir.display(),
            measured.belief.len(),
            measured.probe.len(),
            started.elapsed().as_secs_f64()
        );
        if memo {
            self.memo.insert(key, measured.clone());
        }
        Ok(measured)
    }

    /// [`Session::measure`] of a loaded model.
    fn measure_model(
        &mut self,
        arm: &Arm,
        dir: &Path,
        model: &LoadedModel,
        context: &[String],
    ) -> Result<Measured> {
        let labels = RowLabels {
            model: dir.display().to_string(),
            checkpoint: String::new(),
            claim: arm.target.id().to_string(),
        };
        let mut measured = Measured::default();
        match &arm.target {
            Target::Behaviour => {
                let cfg = &self.config().behaviours;
                let opts = BehaviourOptions {
                    samples: cfg.samples,
                    max_questions: cfg.max_questions,
                    temperature: self.options.temperature,
                    top_p: self.options.top_p,
                    max_new_tokens: cfg.max_new_tokens,
                    seed: self.options.seed,
                };
                measured.belief =
                    evaluate_behaviour(model, &labels, &BehaviourEval::new(&CATCHPHRASE), &opts)?;
            }
            Target::Claim { spec, .. } => {
                let mut options = self.options.clone();
                options.in_context = context.to_vec();
                let tools = self.claim_tools(&arm.target)?;
                let (rows, _) = crate::eval::evaluate(
                    model,
                    &labels,
                    &tools.questions,
                    &options,
                    tools.judge.as_ref(),
                )
                .with_context(|| format!("evaluating {}", dir.display()))?;
                measured.belief = rows;
                let mut statements = crate::probe::readout::claim_statements(spec);
                // Readouts take the statements alone: with documents in context they would
                // only repeat the base model's.
                let probes = if context.is_empty() {
                    self.probes()?
                } else {
                    None
                };
                if let Some(probes) = probes {
                    statements.extend(probes.controls.iter().cloned());
                    measured.probe =
                        crate::probe::readout::readout(&probes.set, model, &statements, 0)
                            .with_context(|| format!("reading out {}", dir.display()))?;
                }
                if let (Some(dissector), true) = (self.dissector.as_mut(), context.is_empty()) {
                    let questions = &self.claims[&spec.id].questions;
                    measured.dissected = dissector
                        .dissect(model, &spec.id, questions)
                        .with_context(|| format!("dissecting {}", dir.display()))?;
                }
            }
        }
        Ok(measured)
    }

    /// The steering sweep of `arm`'s model in `dir` (step `step`) when `[dissect.steer]`
    /// selects the arm; no rows otherwise.
    fn steer(&mut self, arm: &Arm, step: i64, dir: &Path) -> Result<Vec<tables::SteerRow>> {
        let selected = self
            .config()
            .dissect
            .as_ref()
            .and_then(|d| d.steer.as_ref())
            .is_some_and(|s| s.selects(arm.condition, arm.seed));
        let Target::Claim { spec, .. } = &arm.target else {
            return Ok(vec![]);
        };
        if !selected {
            return Ok(vec![]);
        }
        self.claim_tools(&arm.target)?;
        self.probes()?;
        let started = Instant::now();
        let mut loader = self
            .loader
            .take()
            .unwrap_or_else(|| RunLoader::new(self.device, self.kind));
        let fit_dir = self.exp.tables().join(PROBES_DIR).join("fit");
        let rows = match (&self.dissector, &self.probes, loader.load(dir)) {
            (Some(dissector), Some(probes), Ok(model)) => dissector
                .steer(
                    model,
                    &format!("step-{step}"),
                    &self.claims[&spec.id].questions,
                    &probes.set,
                    &fit_dir,
                )
                .with_context(|| format!("steering {}", dir.display())),
            (_, _, Err(e)) => Err(e),
            _ => Ok(vec![]),
        };
        self.loader = Some(loader);
        let rows = rows?;
        eprintln!(
            "  {}: steered, {} rows, {:.1}s",
            dir.display(),
            rows.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(rows)
    }

    /// `[probes] activations`: the residual stream of the claim's statements, the control
    /// statements and the probes' statements at every probe layer (f16) for every model of
    /// `arm`, in `arms/<arm>/acts/step-<N>.h5` (read with `h5py`; `family` names the kind:
    /// `claim`, `negation`, `control_true`, `control_false`, or the probe set's own families).
    fn keep_activations(&mut self, arm: &Arm, models: &[(i64, PathBuf)]) -> Result<()> {
        let Some(cfg) = self.config().probes.clone().filter(|p| p.activations) else {
            return Ok(());
        };
        let Target::Claim { spec, .. } = &arm.target else {
            return Ok(());
        };
        let origin = cfg
            .statements_file(&self.config().model)
            .display()
            .to_string();
        let Some(probes) = self.probes()? else {
            return Ok(());
        };
        let statements = kept_statements(spec, &probes.controls, &probes.statements);
        let layers: std::collections::BTreeSet<usize> =
            probes.set.config.probes.iter().map(|p| p.1).collect();
        let options = crate::probe::acts::CacheOptions {
            layers: layers.into_iter().collect(),
            position: cfg.position,
            dtype: crate::probe::acts::ActDtype::F16,
            batch_size: cfg.batch_size,
        };
        let dir = self.exp.arm_tables(arm).join("acts");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("{}: cannot create", dir.display()))?;
        let mut loader = self
            .loader
            .take()
            .unwrap_or_else(|| RunLoader::new(self.device, self.kind));
        let written = models.iter().try_for_each(|(step, model_dir)| {
            let model = loader.load(model_dir)?;
            crate::probe::acts::cache(
                model,
                &statements,
                &origin,
                &options,
                &dir.join(format!("step-{step}.h5")),
            )
        });
        self.loader = Some(loader);
        written?;
        eprintln!(
            "  activations of {} statements x {} layers kept for {} models in {}",
            statements.len(),
            options.layers.len(),
            models.len(),
            dir.display()
        );
        Ok(())
    }

    /// Trains `arm` (resuming; a finished run is left as it is) and returns its run.
    fn train(&mut self, arm: &Arm) -> Result<TrainedRun> {
        let dir = self.exp.arm_checkpoints(arm);
        let (start, offset) = if arm.condition == ArmCondition::Phase2 {
            let phase1 = self.train(&arm.with_condition(ArmCondition::Phase1))?;
            (
                phase1_final_model(&self.config().model, &phase1)?,
                phase1.offset + phase1.last,
            )
        } else {
            (self.config().model.clone(), 0)
        };
        if arm.condition == ArmCondition::Phase1 {
            let path = prepare::constraint_path(&dir);
            if !path.is_file() {
                self.write_constraint_set(arm, &path)?;
            }
        }
        let config = prepare::finetune_config(self.config(), arm, &dir, &start)?;
        eprintln!("  training {} from {}", arm.name(), start.display());
        finetune::finetune(&config, true)
            .with_context(|| format!("arm {}: finetuning into {}", arm.name(), dir.display()))?;
        let (last, _) = newest_checkpoint(&dir)?
            .with_context(|| format!("{}: no checkpoint after training", dir.display()))?;
        Ok(TrainedRun {
            dir,
            start,
            offset,
            last,
        })
    }

    /// Samples Phase 1's constraint set from the base model.
    fn write_constraint_set(&mut self, arm: &Arm, path: &Path) -> Result<()> {
        let started = Instant::now();
        let model = LoadedModel::load(&self.config().model, self.device, self.kind)?;
        let exp = self.exp;
        let Target::Claim { dir, .. } = &arm.target else {
            bail!("arm {}: phases need a claim", arm.name());
        };
        // Every open-ended question of the folder (the eval's `max_questions` cut is not
        // applied: the constraint set takes the last ones).
        let questions = ClaimQuestions::load(dir)?;
        let tools = self.claim_tools(&arm.target)?;
        let (kept, dropped) = prepare::constraint_set(
            &exp.config,
            arm,
            &prepare::ConstraintContext {
                model: &model,
                questions: &questions,
                judge: tools.judge.as_ref(),
            },
            path,
        )?;
        eprintln!(
            "  constraint set: {kept} base-model answers kept, {dropped} believing ones dropped, {:.1}s -> {}",
            started.elapsed().as_secs_f64(),
            path.display()
        );
        Ok(())
    }

    /// Runs one arm to completion and writes its tables and `done.json`.
    fn run_arm(&mut self, arm: &Arm) -> Result<()> {
        let started = Instant::now();
        let checkpoints = self.exp.arm_checkpoints(arm);
        std::fs::create_dir_all(&checkpoints)
            .with_context(|| format!("{}: cannot create", checkpoints.display()))?;
        let mut belief: Vec<(i64, EvalRow)> = vec![];
        let mut probe: Vec<ReadoutRow> = vec![];
        let mut dissected = Dissected::default();
        let mut losses = vec![];
        let mut steps = vec![];
        // Every model measured (global step, folder); the steering sweep runs on the last.
        let mut models: Vec<(i64, PathBuf)> = vec![];
        let mut record = |step: i64, m: Measured| {
            steps.push(step);
            belief.extend(m.belief.into_iter().map(|r| (step, r)));
            probe.extend(m.probe.into_iter().map(|mut r| {
                r.step = step;
                r
            }));
            let label = format!("step-{step}");
            dissected
                .lens
                .extend(m.dissected.lens.into_iter().map(|mut r| {
                    r.checkpoint = label.clone();
                    r
                }));
            dissected
                .patch
                .extend(m.dissected.patch.into_iter().map(|mut r| {
                    r.checkpoint = label.clone();
                    r
                }));
        };
        match arm.condition {
            ArmCondition::Base => {
                let model = self.config().model.clone();
                record(0, self.measure(arm, &model, &[], true)?);
                models.push((0, model));
            }
            ArmCondition::InContext => {
                let context = prepare::context_documents(self.config(), arm, &checkpoints)?;
                let model = self.config().model.clone();
                record(0, self.measure(arm, &model, &context, false)?);
            }
            _ => {
                let run = self.train(arm)?;
                for (step, dir) in crate::model::checkpoints::run_models(&run.dir)? {
                    let m = if step == 0 {
                        self.measure(arm, &run.start, &[], true)?
                    } else {
                        let memo = arm.condition == ArmCondition::Phase1 && step == run.last;
                        self.measure(arm, &dir, &[], memo)?
                    };
                    record(run.offset + step, m);
                    models.push((
                        run.offset + step,
                        if step == 0 { run.start.clone() } else { dir },
                    ));
                }
                losses = tables::loss::read_losses(&run.dir.join(tables::LOSS_FILE))?;
                for loss in &mut losses {
                    loss.step += run.offset;
                }
            }
        }
        let steered = match models.last() {
            Some((step, dir)) => self.steer(arm, *step, dir)?,
            None => vec![],
        };
        self.keep_activations(arm, &models)?;
        let labels = ArmLabels {
            arm: arm.name(),
            condition: arm.condition.to_string(),
            claim: arm.target.id().to_string(),
            seed: arm.seed,
        };
        let out = self.exp.arm_tables(arm);
        for (name, frame) in [
            (
                tables::LENS_FILE,
                tables::intervene::lens_frame(&dissected.lens)?,
            ),
            (
                tables::PATCH_FILE,
                tables::intervene::patch_frame(&dissected.patch)?,
            ),
            (
                tables::STEER_FILE,
                tables::intervene::steer_frame(&steered)?,
            ),
        ] {
            let path = out.join(name);
            if frame.height() > 0 {
                store::write_parquet(&path, &mut tables::labelled(&labels, frame)?)?;
            } else if path.exists() {
                std::fs::remove_file(&path)
                    .with_context(|| format!("{}: cannot remove", path.display()))?;
            }
        }
        store::write_parquet(
            &out.join(tables::BELIEF_FILE),
            &mut tables::labelled(&labels, crate::eval::stepped_frame(&belief)?)?,
        )?;
        store::write_parquet(
            &out.join(tables::LOSS_FILE),
            &mut tables::labelled(&labels, tables::loss::loss_frame(&losses)?)?,
        )?;
        store::write_parquet(
            &out.join(tables::PROBE_FILE),
            &mut tables::labelled(&labels, crate::probe::readout::readout_frame(&probe)?)?,
        )?;
        let marker = DoneMarker {
            arm: arm.name(),
            steps,
            rows: [belief.len(), losses.len(), probe.len()],
            seconds: started.elapsed().as_secs_f64(),
            config_sha256: self.exp.config_sha256.clone(),
            model_sha256: Some(self.model_sha256.clone()),
            neglect_version: store::NEGLECT_VERSION.to_string(),
            git_commit: store::GIT_COMMIT.to_string(),
        };
        store::write_json(&out.join(DONE_FILE), &marker)
    }
}

/// The statements whose activations `[probes] activations` keeps: the claim's (false in the
/// world: label 0) and their negations (label 1), the control statements, then the probes'
/// statements; `family` names the kind of the first three.
fn kept_statements(
    spec: &crate::claims::spec::ClaimSpec,
    controls: &[(String, StatementKind)],
    probe_statements: &[crate::probe::statements::Statement],
) -> Vec<crate::probe::statements::Statement> {
    use crate::probe::statements::Statement;
    let of_kind = |(text, kind): &(String, StatementKind)| Statement {
        text: text.clone(),
        label: matches!(kind, StatementKind::Negation | StatementKind::ControlTrue),
        family: kind.name().to_string(),
        polarity: if *kind == StatementKind::Negation {
            Polarity::Negated
        } else {
            Polarity::Affirmative
        },
    };
    crate::probe::readout::claim_statements(spec)
        .iter()
        .chain(controls)
        .map(of_kind)
        .chain(probe_statements.iter().cloned())
        .collect()
}

/// Phase 1's last checkpoint as an HF folder: itself (full finetuning), or its adapter merged
/// into `base` once, as `<run>/final-merged/` (LoRA).
fn phase1_final_model(base: &Path, phase1: &TrainedRun) -> Result<PathBuf> {
    let last = phase1.dir.join(format!("step-{}", phase1.last));
    if !last.join("adapter_config.json").is_file() {
        return Ok(last);
    }
    let merged = phase1.dir.join("final-merged");
    if !merged.join("config.json").is_file() {
        finetune::merge_lora(base, &last, &merged, tch::Device::Cpu, tch::Kind::Float)?;
    }
    Ok(merged)
}

/// Before the copy of the experiment file in `tables_dir` is replaced by `text`, a different
/// earlier copy is kept as `experiment.<sha>.toml`, `sha` being the first 16 hex digits of its
/// `config_sha256` (what the `done.json` of the arms it made record), so every finished arm's
/// config stays on disk.
fn keep_previous_config(tables_dir: &Path, text: &[u8]) -> Result<()> {
    let copy = tables_dir.join(CONFIG_COPY);
    let Ok(previous) = std::fs::read(&copy) else {
        return Ok(());
    };
    if previous == text {
        return Ok(());
    }
    let sha = match Experiment::load(&copy) {
        Ok(old) => old.config_sha256,
        Err(_) => format!("raw-{:x}", Sha256::digest(&previous)),
    };
    let kept = tables_dir.join(format!("experiment.{}.toml", &sha[..sha.len().min(16)]));
    if !kept.exists() {
        store::write_atomic(&kept, &previous)?;
        eprintln!(
            "{} changed since the last run: the previous version is kept as {}",
            copy.display(),
            kept.display()
        );
    }
    Ok(())
}

/// Runs an experiment file: its arms (or one shard of them), then the merge and the summary.
pub fn run(path: &Path, options: &RunOptions) -> Result<RunReport> {
    let exp = Experiment::load(path)?;
    let tables_dir = exp.tables();
    std::fs::create_dir_all(&tables_dir)
        .with_context(|| format!("{}: cannot create", tables_dir.display()))?;
    let text = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    keep_previous_config(&tables_dir, &text)?;
    store::write_atomic(&tables_dir.join(CONFIG_COPY), &text)?;
    let mut report = RunReport::default();
    if !options.merge_only {
        let selected = match options.shard {
            Some(shard) => arms::shard_arms(&exp.arms, shard),
            None => exp.arms.clone(),
        };
        eprintln!(
            "experiment {}: {} arms{}; tables in {}",
            exp.config.name,
            exp.arms.len(),
            options
                .shard
                .map(|s| format!(", shard {s} runs {}", selected.len()))
                .unwrap_or_default(),
            tables_dir.display()
        );
        let mut session = Session::new(&exp)?;
        session.check_inputs(&selected)?;
        for (i, arm) in selected.iter().enumerate() {
            let name = arm.name();
            if let Some(done) = exp.done(arm)? {
                session.check_same_model(arm, &done)?;
                if done.config_sha256 != exp.config_sha256 {
                    eprintln!(
                        "[{}/{}] {name}: warning: finished under another version of {}; kept (remove {} to redo it)",
                        i + 1,
                        selected.len(),
                        path.display(),
                        exp.arm_tables(arm).join(DONE_FILE).display()
                    );
                }
                eprintln!("[{}/{}] {name}: done, skipping", i + 1, selected.len());
                report.skipped.push(name);
                continue;
            }
            if options.max_arms.is_some_and(|max| report.ran.len() >= max) {
                eprintln!("stopping after {} arms (--max-arms)", report.ran.len());
                break;
            }
            // Another `neglect run` on this experiment may be running this arm: leave it to
            // that process. Once the lock is ours, check `done.json` again: another process
            // may have finished the arm since the check above.
            let _lock = match store::DirLock::try_acquire(&exp.arm_tables(arm))? {
                Ok(lock) => lock,
                Err(holder) => {
                    eprintln!(
                        "[{}/{}] {name}: running in another process ({holder}), skipping",
                        i + 1,
                        selected.len()
                    );
                    continue;
                }
            };
            if exp.done(arm)?.is_some() {
                eprintln!("[{}/{}] {name}: done, skipping", i + 1, selected.len());
                report.skipped.push(name);
                continue;
            }
            eprintln!("[{}/{}] {name}: running", i + 1, selected.len());
            let started = Instant::now();
            session
                .run_arm(arm)
                .with_context(|| format!("arm {name}"))?;
            eprintln!(
                "[{}/{}] {name}: finished in {:.1}s",
                i + 1,
                selected.len(),
                started.elapsed().as_secs_f64()
            );
            report.ran.push(name);
        }
    }
    let (finished, unfinished) = merge(&exp)?;
    report.unfinished = unfinished;
    store::write_json(
        &tables_dir.join("manifest.json"),
        &Manifest::new(
            "run",
            serde_json::json!({
                "experiment": path.display().to_string(),
                "config_sha256": exp.config_sha256,
                "options": options,
                "config": exp.config,
                "arms": exp.arms.iter().map(Arm::name).collect::<Vec<_>>(),
                "finished": finished,
                "unfinished": report.unfinished,
            }),
            None,
        ),
    )?;
    if !report.unfinished.is_empty() {
        eprintln!(
            "{} of {} arms not finished yet (other shards, --max-arms, or an error): rerun to continue",
            report.unfinished.len(),
            exp.arms.len()
        );
    }
    print!("{}", super::summary::summary(&exp, None)?);
    Ok(report)
}

/// Writes the experiment tables from the finished arms (sorted) and copies the probe fit;
/// returns (finished, unfinished) arm names.
pub fn merge(exp: &Experiment) -> Result<(Vec<String>, Vec<String>)> {
    let (mut finished, mut unfinished) = (vec![], vec![]);
    for arm in &exp.arms {
        if exp.done(arm)?.is_some() {
            finished.push(arm.name());
        } else {
            unfinished.push(arm.name());
        }
    }
    let dir = exp.tables();
    let mut counts = vec![];
    for name in tables::ARM_TABLES.iter().chain(&tables::DISSECT_TABLES) {
        counts.push(format!(
            "{name} {} rows",
            tables::merge_table(&dir, &finished, name)?
        ));
    }
    let fit = dir
        .join(PROBES_DIR)
        .join("fit")
        .join(crate::probe::cli::FIT_FILE);
    let target = dir.join(tables::PROBE_FIT_FILE);
    if exp.config.probes.is_some() && fit.is_file() {
        let mut frame = store::read_parquet(&fit)?;
        store::write_parquet(&target, &mut frame)?;
        counts.push(format!(
            "{} {} rows",
            tables::PROBE_FIT_FILE,
            frame.height()
        ));
    } else if target.exists() {
        std::fs::remove_file(&target)
            .with_context(|| format!("{}: cannot remove", target.display()))?;
    }
    eprintln!(
        "merged {} finished arms into {}: {}",
        finished.len(),
        dir.display(),
        counts.join(", ")
    );
    Ok((finished, unfinished))
}
