//! Activation sets: the residual stream of labelled statements, cached in HDF5.
//!
//! In: a loaded model and statements. Out: an `.h5` file holding
//! - `layer_NN` (`NN` = 00, 01, ...): `[n, d_model]`, f32 or f16, one dataset per cached layer.
//!   Layer 0 is the embeddings and layer i the residual stream after block i, so a model with L
//!   blocks has layers 0..=L, as in transformers' `hidden_states` (the last one taken before
//!   the final norm);
//! - `labels` `[n]` (u8, 1 true / 0 false) and `statements` `[n]` (UTF-8 strings);
//! - `families` `[n]` (UTF-8 strings, empty when the statements had none) and `polarities`
//!   `[n]` (u8, 0 affirmative / 1 negated); files written before these existed read as empty
//!   families and affirmative statements;
//! - attributes on the root: `model`, `checkpoint`, `step` (when the folder is a `step-N`
//!   checkpoint), `position`, `dtype`, `layers`, `d_model`, `statements_file`,
//!   `neglect_version`, `git_commit`.
//!
//! Statements are tokenized as plain text with the tokenizer's special tokens (a BOS where the
//! tokenizer adds one) and run `batch_size` at a time, right-padded with a padding-aware causal
//! mask. Only a statement's own tokens are pooled: `last` takes the residual stream at its last
//! token, `mean` averages over its tokens; special tokens added by the tokenizer are attended
//! to but never pooled. Every batch is written into pre-sized datasets as it comes, so memory
//! does not grow with the number of statements; the file is written under a temporary name and
//! renamed when complete. HDF5's file locks are off: the rename already keeps readers away from
//! unfinished files, and a lock (an `flock`) is inherited by any child process spawned while the
//! file is open, which then makes the next open of the file fail.

use super::statements::{Polarity, Statement};
use crate::model::decoder::{padded_causal_mask, ForwardArgs, Logits};
use crate::model::LoadedModel;
use anyhow::{bail, Context, Result};
use hdf5::types::VarLenUnicode;
use ndarray::{s, Array2};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Which token positions of a statement make its activation vector.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Position {
    /// The statement's last token (its final punctuation for a sentence).
    Last,
    /// The mean over the statement's tokens.
    Mean,
}

impl Position {
    /// Name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            Position::Last => "last",
            Position::Mean => "mean",
        }
    }

    fn parse(name: &str) -> Result<Self> {
        match name {
            "last" => Ok(Position::Last),
            "mean" => Ok(Position::Mean),
            _ => bail!("unknown position `{name}` (expected last or mean)"),
        }
    }
}

/// Storage dtype of cached activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActDtype {
    /// 32-bit float.
    F32,
    /// IEEE half (half the disk; activations are read back as f32).
    F16,
}

impl ActDtype {
    /// Name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            ActDtype::F32 => "f32",
            ActDtype::F16 => "f16",
        }
    }
}

/// Name of the dataset of `layer` (`layer_00`).
pub fn layer_name(layer: usize) -> String {
    format!("layer_{layer:02}")
}

/// Parses `all` (`None`) or a comma-separated list of layer indices.
pub fn parse_layers(spec: &str) -> Result<Option<Vec<usize>>> {
    if spec.trim() == "all" {
        return Ok(None);
    }
    let mut layers = vec![];
    for part in spec.split(',') {
        let layer: usize = part
            .trim()
            .parse()
            .with_context(|| format!("--layers: `{part}` is not a layer index or `all`"))?;
        if !layers.contains(&layer) {
            layers.push(layer);
        }
    }
    Ok(Some(layers))
}

/// What an activation file records about where its activations come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActsMeta {
    /// The model folder.
    pub model: String,
    /// The checkpoint's folder name (`step-120`, or the model folder's name).
    pub checkpoint: String,
    /// Training step, when the folder is a `step-N` checkpoint.
    pub step: Option<i64>,
    /// Pooling of token positions.
    pub position: Position,
    /// Storage dtype.
    pub dtype: ActDtype,
    /// Layers cached, in dataset order.
    pub layers: Vec<usize>,
    /// Width of each activation vector.
    pub d_model: usize,
    /// Where the statements came from.
    pub statements_file: String,
}

impl ActsMeta {
    /// Model, checkpoint and step of a model folder (a `step-N` folder gives its step).
    pub fn describe_model(dir: &Path) -> (String, String, Option<i64>) {
        let checkpoint = dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let step = checkpoint
            .strip_prefix("step-")
            .and_then(|s| s.parse().ok());
        (dir.display().to_string(), checkpoint, step)
    }
}

/// Token ids of a batch of statements and which positions belong to the statements themselves.
struct EncodedBatch {
    /// `[b, s]` ids, right-padded.
    ids: Tensor,
    /// Sequence lengths.
    lengths: Vec<usize>,
    /// `[b, s]` f32: 1 at positions to pool.
    pooled: Tensor,
    /// `[b]` index of the last pooled position.
    last: Tensor,
}

fn encode_batch(model: &LoadedModel, texts: &[&str]) -> Result<EncodedBatch> {
    let limit = model.decoder.config.max_position_embeddings as usize;
    let mut rows = vec![];
    for text in texts {
        let encoding = model
            .tokenizer
            .inner()
            .encode(*text, true)
            .map_err(|e| anyhow::anyhow!("statement `{text}`: cannot tokenize: {e}"))?;
        let own: Vec<bool> = encoding
            .get_special_tokens_mask()
            .iter()
            .map(|&m| m == 0)
            .collect();
        if !own.contains(&true) {
            bail!("statement `{text}` has no tokens of its own");
        }
        if own.len() > limit {
            bail!(
                "statement `{text}`: {} tokens exceed the model's {limit} positions",
                own.len()
            );
        }
        let ids: Vec<i64> = encoding.get_ids().iter().map(|&i| i64::from(i)).collect();
        rows.push((ids, own));
    }
    let seq = rows.iter().map(|(ids, _)| ids.len()).max().unwrap_or(1);
    let (mut ids, mut pooled) = (vec![0i64; rows.len() * seq], vec![0f32; rows.len() * seq]);
    let mut last = vec![];
    for (b, (row_ids, own)) in rows.iter().enumerate() {
        ids[b * seq..b * seq + row_ids.len()].copy_from_slice(row_ids);
        for (i, &mine) in own.iter().enumerate() {
            pooled[b * seq + i] = f32::from(u8::from(mine));
        }
        last.push(own.iter().rposition(|&m| m).expect("checked above") as i64);
    }
    let device = model.decoder.device();
    let shape = [rows.len() as i64, seq as i64];
    Ok(EncodedBatch {
        ids: Tensor::from_slice(&ids).view(shape).to_device(device),
        lengths: rows.iter().map(|(ids, _)| ids.len()).collect(),
        pooled: Tensor::from_slice(&pooled).view(shape).to_device(device),
        last: Tensor::from_slice(&last).to_device(device),
    })
}

/// Activations of one batch of statements: for each of `layers`, a `[b, d_model]` f32 CPU
/// tensor pooled at `position`.
pub fn statement_activations(
    model: &LoadedModel,
    texts: &[&str],
    layers: &[usize],
    position: Position,
) -> Result<Vec<Tensor>> {
    let blocks = model.decoder.config.num_layers as usize;
    if let Some(bad) = layers.iter().find(|&&l| l > blocks) {
        bail!("layer {bad} does not exist (the model has layers 0..={blocks})");
    }
    let batch = encode_batch(model, texts)?;
    let seq = batch.ids.size()[1] as usize;
    let mask = padded_causal_mask(&batch.lengths, seq, model.decoder.device());
    tch::no_grad(|| {
        let out = model.decoder.forward(
            &batch.ids,
            ForwardArgs {
                mask: Some(&mask),
                logits: Logits::Skip,
                capture_hidden: true,
                ..Default::default()
            },
        );
        let pool = |h: &Tensor| {
            let h = h.to_kind(Kind::Float);
            match position {
                Position::Last => {
                    let d = h.size()[2];
                    let index = batch.last.view([-1, 1, 1]).expand([-1, 1, d], false);
                    h.gather(1, &index, false).squeeze_dim(1)
                }
                Position::Mean => {
                    let weights = batch.pooled.unsqueeze(-1);
                    (h * &weights).sum_dim_intlist(1, false, Kind::Float)
                        / weights.sum_dim_intlist(1, false, Kind::Float)
                }
            }
        };
        Ok(layers
            .iter()
            .map(|&l| pool(&out.hidden[l]).to_device(Device::Cpu))
            .collect())
    })
}

fn string_attr(file: &hdf5::File, name: &str, value: &str) -> Result<()> {
    let value: VarLenUnicode = value
        .parse()
        .map_err(|e| anyhow::anyhow!("attribute {name}: {e}"))?;
    file.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)?
        .as_writer()
        .write_scalar(&value)?;
    Ok(())
}

/// Streams activation batches into an HDF5 file whose datasets are created at full size.
pub struct ActsWriter {
    file: hdf5::File,
    datasets: Vec<hdf5::Dataset>,
    dtype: ActDtype,
    rows: usize,
    written: usize,
}

impl ActsWriter {
    /// Creates `path` with empty `[n, d_model]` layer datasets, the statements, the labels
    /// and the attributes of `meta`.
    pub fn create(path: &Path, meta: &ActsMeta, statements: &[Statement]) -> Result<Self> {
        let file = hdf5::File::with_options()
            .with_fapl(|p| p.file_locking(false))
            .create(path)
            .with_context(|| format!("{}: cannot create HDF5 file", path.display()))?;
        let (n, d) = (statements.len(), meta.d_model);
        let mut datasets = vec![];
        for &layer in &meta.layers {
            let builder = match meta.dtype {
                ActDtype::F32 => file.new_dataset::<f32>(),
                ActDtype::F16 => file.new_dataset::<half::f16>(),
            };
            datasets.push(builder.shape((n, d)).create(layer_name(layer).as_str())?);
        }
        let labels: Vec<u8> = statements.iter().map(|s| u8::from(s.label)).collect();
        file.new_dataset_builder()
            .with_data(&labels)
            .create("labels")?;
        let polarities: Vec<u8> = statements
            .iter()
            .map(|s| u8::from(s.polarity == Polarity::Negated))
            .collect();
        file.new_dataset_builder()
            .with_data(&polarities)
            .create(POLARITIES)?;
        let unicode = |texts: Vec<&str>| -> Result<Vec<VarLenUnicode>> {
            texts
                .into_iter()
                .map(|t| t.parse().map_err(|e| anyhow::anyhow!("`{t}`: {e}")))
                .collect()
        };
        file.new_dataset_builder()
            .with_data(&unicode(
                statements.iter().map(|s| s.text.as_str()).collect(),
            )?)
            .create("statements")?;
        file.new_dataset_builder()
            .with_data(&unicode(
                statements.iter().map(|s| s.family.as_str()).collect(),
            )?)
            .create(FAMILIES)?;
        string_attr(&file, "model", &meta.model)?;
        string_attr(&file, "checkpoint", &meta.checkpoint)?;
        if let Some(step) = meta.step {
            file.new_attr::<i64>()
                .shape(())
                .create("step")?
                .write_scalar(&step)?;
        }
        string_attr(&file, "position", meta.position.name())?;
        string_attr(&file, "dtype", meta.dtype.name())?;
        string_attr(&file, "statements_file", &meta.statements_file)?;
        string_attr(&file, "neglect_version", crate::store::NEGLECT_VERSION)?;
        string_attr(&file, "git_commit", crate::store::GIT_COMMIT)?;
        let layers: Vec<i64> = meta.layers.iter().map(|&l| l as i64).collect();
        file.new_attr_builder()
            .with_data(&layers)
            .create("layers")?;
        file.new_attr::<i64>()
            .shape(())
            .create("d_model")?
            .write_scalar(&(d as i64))?;
        Ok(ActsWriter {
            file,
            datasets,
            dtype: meta.dtype,
            rows: n,
            written: 0,
        })
    }

    /// Writes the next rows: one `[b, d_model]` tensor per layer, in the layers' order.
    pub fn append(&mut self, batch: &[Tensor]) -> Result<()> {
        if batch.len() != self.datasets.len() {
            bail!(
                "{} layers given, {} cached",
                batch.len(),
                self.datasets.len()
            );
        }
        let b = batch[0].size()[0] as usize;
        if self.written + b > self.rows {
            bail!("more rows than statements ({})", self.rows);
        }
        let rows = self.written..self.written + b;
        for (dataset, t) in self.datasets.iter().zip(batch) {
            let d = t.size()[1] as usize;
            let t = t.contiguous();
            match self.dtype {
                ActDtype::F32 => {
                    let v = Vec::<f32>::try_from(&t.to_kind(Kind::Float).view([-1]))?;
                    dataset
                        .write_slice(&Array2::from_shape_vec((b, d), v)?, s![rows.clone(), ..])?
                }
                ActDtype::F16 => {
                    let v = Vec::<half::f16>::try_from(&t.to_kind(Kind::Half).view([-1]))?;
                    dataset
                        .write_slice(&Array2::from_shape_vec((b, d), v)?, s![rows.clone(), ..])?
                }
            }
        }
        self.written += b;
        Ok(())
    }

    /// Checks every row was written and closes the file.
    pub fn finish(self) -> Result<()> {
        if self.written != self.rows {
            bail!("{} of {} rows written", self.written, self.rows);
        }
        drop(self.datasets);
        self.file.close()?;
        Ok(())
    }
}

/// Dataset of the statements' families.
const FAMILIES: &str = "families";
/// Dataset of the statements' polarities.
const POLARITIES: &str = "polarities";

/// An activation file opened for reading.
pub struct ActsFile {
    file: hdf5::File,
    /// Where it is.
    pub path: std::path::PathBuf,
    /// Its attributes.
    pub meta: ActsMeta,
    /// One label per row.
    pub labels: Vec<bool>,
    /// One statement per row.
    pub statements: Vec<String>,
    /// One family per row (empty when unknown).
    pub families: Vec<String>,
    /// One polarity per row.
    pub polarities: Vec<Polarity>,
}

fn read_string_attr(file: &hdf5::File, name: &str) -> Result<String> {
    let value: VarLenUnicode = file
        .attr(name)
        .with_context(|| format!("no `{name}` attribute"))?
        .read_scalar()?;
    Ok(value.as_str().to_string())
}

impl ActsFile {
    /// Opens an activation file and reads its attributes, labels and statements.
    pub fn open(path: &Path) -> Result<Self> {
        let read = || -> Result<Self> {
            let file = hdf5::File::with_options()
                .with_fapl(|p| p.file_locking(false))
                .open(path)?;
            let dtype = match read_string_attr(&file, "dtype")?.as_str() {
                "f32" => ActDtype::F32,
                "f16" => ActDtype::F16,
                other => bail!("unknown dtype `{other}`"),
            };
            let meta = ActsMeta {
                model: read_string_attr(&file, "model")?,
                checkpoint: read_string_attr(&file, "checkpoint")?,
                step: match file.attr("step") {
                    Ok(attr) => Some(attr.read_scalar()?),
                    Err(_) => None,
                },
                position: Position::parse(&read_string_attr(&file, "position")?)?,
                dtype,
                layers: file
                    .attr("layers")
                    .context("no `layers` attribute")?
                    .read_raw::<i64>()?
                    .into_iter()
                    .map(|l| l as usize)
                    .collect(),
                d_model: file.attr("d_model")?.read_scalar::<i64>()? as usize,
                statements_file: read_string_attr(&file, "statements_file")?,
            };
            let labels: Vec<bool> = file
                .dataset("labels")?
                .read_raw::<u8>()?
                .into_iter()
                .map(|l| l != 0)
                .collect();
            let strings = |name: &str| -> Result<Vec<String>> {
                Ok(file
                    .dataset(name)?
                    .read_raw::<VarLenUnicode>()?
                    .into_iter()
                    .map(|s| s.as_str().to_string())
                    .collect())
            };
            let statements = strings("statements")?;
            let n = labels.len();
            let families = if file.link_exists(FAMILIES) {
                strings(FAMILIES)?
            } else {
                vec![String::new(); n]
            };
            let polarities: Vec<Polarity> = if file.link_exists(POLARITIES) {
                file.dataset(POLARITIES)?
                    .read_raw::<u8>()?
                    .into_iter()
                    .map(|p| match p {
                        0 => Ok(Polarity::Affirmative),
                        1 => Ok(Polarity::Negated),
                        other => bail!("{POLARITIES}: value {other} is not 0 or 1"),
                    })
                    .collect::<Result<_>>()?
            } else {
                vec![Polarity::Affirmative; n]
            };
            for (name, len) in [
                ("statements", statements.len()),
                (FAMILIES, families.len()),
                (POLARITIES, polarities.len()),
            ] {
                if len != n {
                    bail!("{len} {name} but {n} labels");
                }
            }
            Ok(ActsFile {
                file,
                path: path.to_path_buf(),
                meta,
                labels,
                statements,
                families,
                polarities,
            })
        };
        read().with_context(|| format!("{}: not a readable activation file", path.display()))
    }

    /// The `[n, d_model]` activations of `layer`, as f32.
    pub fn layer(&self, layer: usize) -> Result<Array2<f32>> {
        let name = layer_name(layer);
        let read = || -> Result<Array2<f32>> {
            let array: Array2<f32> = self.file.dataset(&name)?.read_2d()?;
            if array.dim() != (self.labels.len(), self.meta.d_model) {
                bail!(
                    "shape {:?}, expected [{}, {}]",
                    array.dim(),
                    self.labels.len(),
                    self.meta.d_model
                );
            }
            Ok(array)
        };
        read().with_context(|| format!("{}: dataset {name}", self.path.display()))
    }
}

/// Options of [`cache`].
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Layers to cache (0 = embeddings).
    pub layers: Vec<usize>,
    /// Pooling of token positions.
    pub position: Position,
    /// Storage dtype.
    pub dtype: ActDtype,
    /// Statements per forward pass.
    pub batch_size: usize,
}

/// Runs every statement through `model` and writes the activations of `options.layers` to
/// `out` (atomically). `statements_file` is recorded as the statements' origin.
pub fn cache(
    model: &LoadedModel,
    statements: &[Statement],
    statements_file: &str,
    options: &CacheOptions,
    out: &Path,
) -> Result<()> {
    if statements.is_empty() {
        bail!("no statements to cache");
    }
    let (model_name, checkpoint, step) = ActsMeta::describe_model(&model.dir);
    let meta = ActsMeta {
        model: model_name,
        checkpoint,
        step,
        position: options.position,
        dtype: options.dtype,
        layers: options.layers.clone(),
        d_model: model.decoder.config.hidden_size as usize,
        statements_file: statements_file.to_string(),
    };
    crate::store::write_atomic_with(out, |tmp| {
        let mut writer = ActsWriter::create(tmp, &meta, statements)
            .with_context(|| format!("{}: cannot write", out.display()))?;
        for chunk in statements.chunks(options.batch_size.max(1)) {
            let texts: Vec<&str> = chunk.iter().map(|s| s.text.as_str()).collect();
            let acts = statement_activations(model, &texts, &options.layers, options.position)?;
            writer
                .append(&acts)
                .with_context(|| format!("{}: cannot write", out.display()))?;
        }
        writer
            .finish()
            .with_context(|| format!("{}: cannot write", out.display()))
    })
}
