//! `[dissect]` in an experiment: the causal dissection ([`crate::intervene`]) of every claim
//! arm's models on the claim's closed questions. The base model scores each claim's questions
//! once with its streams recorded; every checkpoint then gets the logit lens and the patching
//! from those streams, and the steered arms' last models (the base arm's model) the steering
//! sweep along the base model's probes.

use super::config::DissectConfig;
use crate::claims::questions::{ClaimQuestions, QuestionKind};
use crate::intervene::patch::{patch, record_source};
use crate::intervene::steer::{probe_directions, steer, Measures, SteerOptions};
use crate::intervene::{closed_questions, parse_sites, ClosedQuestion, Recorder};
use crate::model::LoadedModel;
use crate::probe::probes::ProbeSet;
use crate::tables::{LensRow, PatchRow, SteerRow};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tch::{Device, Kind};

/// The question kinds dissected: the closed forms.
const KINDS: [QuestionKind; 2] = [QuestionKind::Mcq, QuestionKind::TokenAssociation];

/// Lens and patching rows of one model (their checkpoint labels set by the caller).
#[derive(Debug, Clone, Default)]
pub struct Dissected {
    /// Logit-lens rows.
    pub lens: Vec<LensRow>,
    /// Patching rows (source: the base model).
    pub patch: Vec<PatchRow>,
}

/// The base model's beliefs and recorded streams on one claim's closed questions.
struct Recorded {
    beliefs: Vec<f64>,
    recorder: Arc<Recorder>,
}

/// The dissection state of an experiment run.
pub struct Dissector {
    config: DissectConfig,
    base_dir: PathBuf,
    device: Device,
    kind: Kind,
    batch: usize,
    base: Option<LoadedModel>,
    recorded: HashMap<String, Recorded>,
}

impl Dissector {
    /// A dissector of models made from `base_dir`, run on `device` in `kind`.
    pub fn new(
        config: DissectConfig,
        base_dir: &Path,
        device: Device,
        kind: Kind,
        batch: usize,
    ) -> Self {
        Dissector {
            config,
            base_dir: base_dir.to_path_buf(),
            device,
            kind,
            batch,
            base: None,
            recorded: HashMap::new(),
        }
    }

    /// The sites of `model` the config names (all when it names none).
    fn sites(&self, model: &LoadedModel) -> Result<Vec<usize>> {
        let spec = match &self.config.layers {
            Some(layers) => layers
                .iter()
                .map(usize::to_string)
                .collect::<Vec<_>>()
                .join(","),
            None => "all".into(),
        };
        parse_sites(&spec, model.decoder.config.num_layers as usize).context("dissect.layers")
    }

    /// The lens and the patching from the base model of `model` on claim `claim`.
    pub fn dissect(
        &mut self,
        model: &LoadedModel,
        claim: &str,
        questions: &ClaimQuestions,
    ) -> Result<Dissected> {
        let closed = closed_questions(model, questions, &KINDS)?;
        let mut out = Dissected::default();
        if self.config.lens {
            out.lens = crate::intervene::lens::lens(model, "", &closed, self.batch)?;
        }
        if self.config.patch {
            let sites = self.sites(model)?;
            let (source, batch) = (self.base_dir.display().to_string(), self.batch);
            let recorded = self.recorded(claim, &closed, &sites)?;
            out.patch = patch(
                &source,
                &recorded.beliefs,
                &recorded.recorder,
                model,
                "",
                &closed,
                &sites,
                None,
                batch,
            )?;
        }
        Ok(out)
    }

    /// The base model's recording on `claim`, made on first use.
    fn recorded(
        &mut self,
        claim: &str,
        closed: &[ClosedQuestion],
        sites: &[usize],
    ) -> Result<&Recorded> {
        if !self.recorded.contains_key(claim) {
            if self.base.is_none() {
                self.base = Some(
                    LoadedModel::load(&self.base_dir, self.device, self.kind).with_context(
                        || format!("dissect: the base model {}", self.base_dir.display()),
                    )?,
                );
            }
            let base = self.base.as_ref().expect("loaded above");
            let (beliefs, recorder) = record_source(base, closed, sites, self.batch)?;
            self.recorded
                .insert(claim.to_string(), Recorded { beliefs, recorder });
        }
        Ok(&self.recorded[claim])
    }

    /// The steering sweep of `model` (checkpoint `checkpoint`) along `probes` (fitted in
    /// `probe_dir`), when `[dissect]` has a `steer` section.
    pub fn steer(
        &self,
        model: &LoadedModel,
        checkpoint: &str,
        questions: &ClaimQuestions,
        probes: &ProbeSet,
        probe_dir: &Path,
    ) -> Result<Vec<SteerRow>> {
        let Some(cfg) = &self.config.steer else {
            return Ok(vec![]);
        };
        let closed = closed_questions(model, questions, &KINDS)?;
        let sites = self.sites(model)?;
        let directions = probe_directions(probes, probe_dir, cfg.method, &sites)?;
        let opts = SteerOptions {
            alphas: cfg.alphas.clone(),
            null: cfg.null,
            seed: cfg.seed,
        };
        let measures = Measures {
            closed: &closed,
            heldout: None,
            open: None,
            batch: self.batch,
        };
        steer(model, checkpoint, &directions, &measures, &opts)
    }
}
