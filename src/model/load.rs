//! Safetensors checkpoints in and out of a `VarStore`, by HF key name.
//!
//! Reads `model.safetensors` or a sharded `model.safetensors.index.json`. Each file is
//! memory-mapped and tensors are copied into the store's variables one at a time (converting
//! dtype and device on the way), so loading never holds two copies of the model.

use super::config::ModelConfig;
use anyhow::{bail, Context, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};
use tch::{nn::VarStore, Kind, Tensor};

/// Name of a single-file checkpoint.
pub const SINGLE_FILE: &str = "model.safetensors";
/// Name of a sharded checkpoint's index.
pub const INDEX_FILE: &str = "model.safetensors.index.json";

/// Checkpoint tensors that are buffers in some HF versions and have no variable here.
const IGNORED_SUFFIXES: [&str; 3] = [".attn.bias", ".attn.masked_bias", "rotary_emb.inv_freq"];

/// Which file holds each tensor of a checkpoint directory.
fn weight_files(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let index = dir.join(INDEX_FILE);
    if index.is_file() {
        let text = std::fs::read_to_string(&index)
            .with_context(|| format!("{}: cannot read", index.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{}: not valid JSON", index.display()))?;
        let map = json
            .get("weight_map")
            .and_then(|m| m.as_object())
            .with_context(|| format!("{}: missing object `weight_map`", index.display()))?;
        return map
            .iter()
            .map(|(name, file)| {
                let file = file.as_str().with_context(|| {
                    format!(
                        "{}: weight_map entry `{name}` is not a file name",
                        index.display()
                    )
                })?;
                Ok((name.clone(), dir.join(file)))
            })
            .collect();
    }
    let single = dir.join(SINGLE_FILE);
    if !single.is_file() {
        bail!("{}: no {SINGLE_FILE} or {INDEX_FILE}", dir.display());
    }
    let mmap = map_file(&single)?;
    let st = parse(&mmap, &single)?;
    Ok(st
        .names()
        .into_iter()
        .map(|n| (n.to_string(), single.clone()))
        .collect())
}

/// SHA-256 of the model in `dir`: its `config.json` and every weight file, in name order.
/// Two folders with the same digest hold the same model.
pub fn weights_sha256(dir: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let config = dir.join("config.json");
    let mut hasher = Sha256::new();
    hasher.update(
        std::fs::read(&config).with_context(|| format!("{}: cannot read", config.display()))?,
    );
    let files: std::collections::BTreeSet<PathBuf> = weight_files(dir)?.into_values().collect();
    for path in files {
        hasher.update(&map_file(&path)?[..]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// The dtypes of the tensors stored in the checkpoint in `dir` ("bf16", "f32", ...), read from
/// every weight file's header; an unreadable or truncated file is an error naming it.
pub fn stored_dtypes(dir: &Path) -> Result<std::collections::BTreeSet<String>> {
    let files: std::collections::BTreeSet<PathBuf> = weight_files(dir)?.into_values().collect();
    let mut dtypes = std::collections::BTreeSet::new();
    for path in files {
        let mmap = map_file(&path)?;
        let st = parse(&mmap, &path)?;
        for (_, view) in st.tensors() {
            dtypes.insert(format!("{:?}", view.dtype()).to_lowercase());
        }
    }
    Ok(dtypes)
}

fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let file = File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    // SAFETY: the mapping is read-only and only lives while the checkpoint is being copied.
    unsafe { memmap2::Mmap::map(&file) }.with_context(|| format!("{}: cannot map", path.display()))
}

fn parse<'a>(bytes: &'a [u8], path: &Path) -> Result<SafeTensors<'a>> {
    SafeTensors::deserialize(bytes)
        .map_err(|e| anyhow::anyhow!("{}: invalid safetensors file: {e}", path.display()))
}

fn kind_of(dtype: Dtype, name: &str, path: &Path) -> Result<Kind> {
    Ok(match dtype {
        Dtype::F32 => Kind::Float,
        Dtype::F16 => Kind::Half,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F64 => Kind::Double,
        other => bail!(
            "{}: tensor `{name}` has unsupported dtype {other:?}",
            path.display()
        ),
    })
}

/// The checkpoint name to read for variable `var`: the same name, or without the body prefix
/// (`transformer.h.0...` -> `h.0...`) as in checkpoints saved from the bare body model, or
/// under `checkpoint_prefix` (`model.layers.0...` -> `model.language_model.layers.0...`).
fn source_name<'a>(
    var: &'a str,
    files: &'a BTreeMap<String, PathBuf>,
    body_prefix: &str,
    checkpoint_prefix: Option<&str>,
) -> Option<&'a str> {
    if files.contains_key(var) {
        return Some(var);
    }
    let stripped = var.strip_prefix(body_prefix)?.strip_prefix('.')?;
    if let Some((name, _)) = files.get_key_value(stripped) {
        return Some(name.as_str());
    }
    let moved = format!("{}.{stripped}", checkpoint_prefix?);
    files.get_key_value(&moved).map(|(k, _)| k.as_str())
}

/// Copies every variable of `vs` from the checkpoint in `dir`. Each variable must be present
/// with the same shape; extra checkpoint tensors are reported on stderr.
pub fn load_into(vs: &VarStore, dir: &Path, config: &ModelConfig) -> Result<()> {
    let body_prefix = config.arch.body_prefix();
    let checkpoint_prefix = config.checkpoint_prefix.as_deref();
    let files = weight_files(dir)?;
    let variables = vs.variables();
    // Group variables by the file that holds them, so each file is mapped once.
    let mut by_file: BTreeMap<&Path, Vec<(&str, &str)>> = BTreeMap::new();
    for var in variables.keys() {
        let source = source_name(var, &files, body_prefix, checkpoint_prefix)
            .with_context(|| format!("{}: checkpoint has no tensor `{var}`", dir.display()))?;
        by_file
            .entry(files[source].as_path())
            .or_default()
            .push((var.as_str(), source));
    }
    for (path, entries) in &by_file {
        let mmap = map_file(path)?;
        let st = parse(&mmap, path)?;
        for (var, source) in entries {
            let view = st
                .tensor(source)
                .map_err(|e| anyhow::anyhow!("{}: tensor `{source}`: {e}", path.display()))?;
            let target = &variables[*var];
            let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
            if shape != target.size() {
                bail!(
                    "{}: tensor `{source}` has shape {shape:?}, the model expects {:?}",
                    path.display(),
                    target.size()
                );
            }
            let kind = kind_of(view.dtype(), source, path)?;
            let value = Tensor::f_from_data_size(view.data(), &shape, kind)
                .with_context(|| format!("{}: tensor `{source}`", path.display()))?;
            tch::no_grad(|| target.shallow_clone().copy_(&value));
        }
    }
    let used: std::collections::HashSet<&str> = by_file
        .values()
        .flatten()
        .map(|(_, source)| *source)
        .collect();
    let unused: Vec<&String> = files
        .keys()
        .filter(|n| !used.contains(n.as_str()))
        .filter(|n| !IGNORED_SUFFIXES.iter().any(|s| n.ends_with(s)))
        .filter(|n| n.as_str() != "lm_head.weight")
        .collect();
    if !unused.is_empty() {
        eprintln!(
            "warning: {}: {} checkpoint tensors not used by the model (first: {})",
            dir.display(),
            unused.len(),
            unused[0]
        );
    }
    Ok(())
}

/// Writes `tensors` to `path` as one safetensors file (CPU copies, in their current dtype),
/// through a temporary file renamed into place.
pub fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let mut named: Vec<(&String, Tensor)> = tensors
        .iter()
        .map(|(name, t)| (name, t.detach().to_device(tch::Device::Cpu).contiguous()))
        .collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    crate::store::write_atomic_with(path, |tmp| {
        Tensor::write_safetensors(&named, tmp)
            .with_context(|| format!("{}: cannot write safetensors", path.display()))
    })
}

/// Copies tensors saved by name (e.g. an adapter file) into `targets`.
pub fn copy_tensors(targets: &HashMap<String, Tensor>, file: &Path) -> Result<()> {
    let saved: HashMap<String, Tensor> = Tensor::read_safetensors(file)
        .with_context(|| format!("{}: cannot read", file.display()))?
        .into_iter()
        .collect();
    for (name, target) in targets {
        let value = saved
            .get(name)
            .with_context(|| format!("{}: has no tensor `{name}`", file.display()))?;
        tch::no_grad(|| target.shallow_clone().copy_(value));
    }
    Ok(())
}
