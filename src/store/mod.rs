//! Output files: atomic writes and run manifests.
//!
//! Every output is written under a temporary name in its final directory and renamed into
//! place, so a crash never leaves a half-written file that looks complete. Every output
//! directory gets a `manifest.json` naming the config, seed, versions and git commit that made it.

use anyhow::{Context, Result};
use serde::Serialize;
use std::path::Path;

pub mod csv;

/// Version of this crate, recorded in manifests.
pub const NEGLECT_VERSION: &str = env!("CARGO_PKG_VERSION");
/// Git commit the binary was built from (`unknown` outside a checkout).
pub const GIT_COMMIT: &str = env!("NEGLECT_GIT_COMMIT");

/// The directory `path` goes in, created if missing (`.` for a bare file name).
fn existing_parent(path: &Path) -> Result<&Path> {
    let parent = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) => parent,
        None => Path::new("."),
    };
    std::fs::create_dir_all(parent)
        .with_context(|| format!("{}: cannot create directory", parent.display()))?;
    Ok(parent)
}

/// tempfile creates owner-only files and directories; outputs get ordinary permissions.
fn set_mode(path: &Path, mode: u32) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("{}: cannot set permissions", path.display()))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

/// Runs `write` on a temporary path beside `path`, then renames it to `path`. On error the
/// temporary file is removed and `path` is untouched.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if path.is_dir() {
        anyhow::bail!("{}: is a directory, not a file", path.display());
    }
    let parent = existing_parent(path)?;
    let tmp = tempfile::Builder::new()
        .prefix(FILE_TEMP_PREFIX)
        .suffix(FILE_TEMP_SUFFIX)
        .tempfile_in(parent)
        .with_context(|| format!("{}: cannot create a temporary file", parent.display()))?;
    write(tmp.path())?;
    set_mode(tmp.path(), 0o644)?;
    // The error holds the temporary file; dropping it here (not wherever the error ends up)
    // removes the file even when the process exits right after reporting.
    tmp.persist(path).map_err(|e| {
        let message = format!("{}: cannot rename into place: {}", path.display(), e.error);
        drop(e.file);
        anyhow::anyhow!(message)
    })?;
    Ok(())
}

/// Fills a temporary directory beside `path` with `write`, then renames it to `path` (replacing
/// an older one). On error the temporary directory is removed, so a directory named `path` is
/// always complete.
pub fn write_dir_atomic(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let parent = existing_parent(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}{DIR_TEMP_MARKER}"))
        .tempdir_in(parent)
        .with_context(|| format!("{}: cannot create a temporary directory", parent.display()))?;
    write(tmp.path())?;
    set_mode(tmp.path(), 0o755)?;
    if path.exists() {
        std::fs::remove_dir_all(path)
            .with_context(|| format!("{}: cannot replace", path.display()))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, path).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        anyhow::anyhow!("{}: cannot rename into place: {e}", path.display())
    })
}

/// An advisory lock on a directory (`.lock` inside it, locked with the OS's file lock), held
/// until dropped; the OS releases it when the holder exits or is killed. The file names the
/// holder, so a process that finds it taken can say who holds it.
#[derive(Debug)]
pub struct DirLock {
    _file: std::fs::File,
}

impl DirLock {
    /// Name of the lock file inside the locked directory.
    pub const FILE: &'static str = ".lock";

    /// Takes the lock of `dir` (created if missing): `Ok(Err(holder))` when another process
    /// holds it, `holder` being what that process wrote ("pid 123 since 1796000000").
    pub fn try_acquire(dir: &Path) -> Result<std::result::Result<DirLock, String>> {
        use std::io::{Read, Seek, Write};
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create directory", dir.display()))?;
        let path = dir.join(Self::FILE);
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("{}: cannot open", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                return Ok(Err(if holder.is_empty() {
                    "another process".to_string()
                } else {
                    holder.to_string()
                }));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("{}: cannot lock", path.display()))
            }
        }
        file.set_len(0)
            .and_then(|()| file.rewind())
            .and_then(|()| writeln!(file, "pid {} since {}", std::process::id(), unix_now()))
            .with_context(|| format!("{}: cannot write", path.display()))?;
        Ok(Ok(DirLock { _file: file }))
    }
}

/// Names of the temporary files of [`write_atomic_with`]: `.neglect-<random>.tmp`.
const FILE_TEMP_PREFIX: &str = ".neglect-";
const FILE_TEMP_SUFFIX: &str = ".tmp";
/// What the temporary directories of [`write_dir_atomic`] carry after the final name.
const DIR_TEMP_MARKER: &str = ".tmp-";

/// Seconds since the Unix epoch (0 on a clock set before it).
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The `config` object of a `manifest.json` (see [`Manifest`]).
pub fn read_manifest_config(path: &Path) -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut manifest: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not valid JSON", path.display()))?;
    Ok(manifest["config"].take())
}

/// Removes what an interrupted writer (killed before its rename) left in `dir`: temporary
/// files of [`write_atomic_with`] and temporary directories of [`write_dir_atomic`]. Returns
/// how many it removed. Call it only where no other writer is at work in `dir`.
pub fn remove_abandoned_temporaries(dir: &Path) -> Result<usize> {
    let mut removed = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e).with_context(|| format!("{}: cannot list", dir.display())),
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("{}: cannot list", dir.display()))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let file_temp = name.starts_with(FILE_TEMP_PREFIX) && name.ends_with(FILE_TEMP_SUFFIX);
        let dir_temp = name.starts_with('.') && name.contains(DIR_TEMP_MARKER);
        if path.is_dir() && dir_temp {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
            removed += 1;
        } else if path.is_file() && file_temp {
            std::fs::remove_file(&path)
                .with_context(|| format!("{}: cannot remove", path.display()))?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Environment variable of [`failpoint`].
pub const FAILPOINT_VAR: &str = "NEGLECT_FAILPOINT";

/// Fault injection for the crash tests: when [`FAILPOINT_VAR`] is `<name>-<n>`, the process
/// aborts here, without destructors or cleanup (a SIGKILL at a known point instead of a timed
/// one). Unset, it does nothing.
pub fn failpoint(name: &str, n: i64) {
    if let Ok(wanted) = std::env::var(FAILPOINT_VAR) {
        if wanted == format!("{name}-{n}") {
            eprintln!("{FAILPOINT_VAR}={wanted}: aborting here");
            std::process::abort();
        }
    }
}

/// Errors, naming `dir`, unless a file can be created in it: checked before long work whose
/// first write comes late (a resumed run writes nothing until its next checkpoint).
pub fn check_writable(dir: &Path) -> Result<()> {
    tempfile::Builder::new()
        .prefix(FILE_TEMP_PREFIX)
        .suffix(FILE_TEMP_SUFFIX)
        .tempfile_in(dir)
        .map(drop)
        .with_context(|| format!("{}: cannot write here", dir.display()))
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        std::fs::write(tmp, bytes).with_context(|| format!("{}: cannot write", tmp.display()))
    })
}

/// Writes `value` as pretty JSON to `path` atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Parses every non-blank line of a JSONL file with `parse`; a failure is reported as
/// `file:line: <parse's message>`.
pub fn read_jsonl_lines<T>(
    path: &Path,
    mut parse: impl FnMut(&str) -> Result<T>,
) -> Result<Vec<T>> {
    let content = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    content
        .strip_prefix('\u{feff}')
        .unwrap_or(&content)
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            parse(line).map_err(|e| anyhow::anyhow!("{}:{}: {e:#}", path.display(), i + 1))
        })
        .collect()
}

/// Reads a TOML file of `what` (for the message) into `T`; errors name the file (and, for
/// syntax or unknown keys, the line and key).
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read {what}", path.display()))?;
    toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Writes a table to `path` as Parquet, atomically.
pub fn write_parquet(path: &Path, table: &mut polars::prelude::DataFrame) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let file = std::fs::File::create(tmp)
            .with_context(|| format!("{}: cannot create", tmp.display()))?;
        polars::prelude::ParquetWriter::new(file)
            .finish(table)
            .with_context(|| format!("{}: cannot write Parquet", path.display()))?;
        Ok(())
    })
}

/// Reads a Parquet table.
pub fn read_parquet(path: &Path) -> Result<polars::prelude::DataFrame> {
    use polars::prelude::SerReader;
    let file =
        std::fs::File::open(path).with_context(|| format!("{}: cannot open", path.display()))?;
    polars::prelude::ParquetReader::new(file)
        .finish()
        .with_context(|| format!("{}: not a readable Parquet table", path.display()))
}

/// Provenance of an output: what made it, with which code.
#[derive(Debug, Serialize)]
pub struct Manifest<C: Serialize> {
    /// The command or stage that wrote the output (`forward`, `finetune`, ...).
    pub command: String,
    /// The configuration it ran with.
    pub config: C,
    /// Seed of every random choice, when the stage has one.
    pub seed: Option<u64>,
    /// neglect's crate version.
    pub neglect_version: &'static str,
    /// Git commit of the build.
    pub git_commit: &'static str,
    /// libtorch version the binary links (tch 0.24 accepts exactly this one).
    pub torch_version: &'static str,
    /// When it was written (seconds since the Unix epoch).
    pub created_unix: u64,
}

impl<C: Serialize> Manifest<C> {
    /// A manifest for `command` run with `config` and `seed`.
    pub fn new(command: &str, config: C, seed: Option<u64>) -> Self {
        Manifest {
            command: command.to_string(),
            config,
            seed,
            neglect_version: NEGLECT_VERSION,
            git_commit: GIT_COMMIT,
            torch_version: TORCH_VERSION,
            created_unix: unix_now(),
        }
    }
}

/// libtorch version tch 0.24 is built against (torch-sys checks it at build time).
pub const TORCH_VERSION: &str = "2.11.0";

#[cfg(test)]
mod tests {
    use super::*;

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn failed_write_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let err = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, b"partial")?;
            anyhow::bail!("boom")
        });
        assert!(err.is_err());
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        write_atomic(&path, b"done").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"done");
    }

    #[test]
    fn writing_over_a_directory_is_an_error_that_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"x").unwrap();
        let err = write_atomic(&target, b"data").unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        assert_eq!(names(dir.path()), ["out"]);
        assert!(target.join("keep").exists());
    }

    #[test]
    fn a_directory_is_writable_or_named() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        check_writable(dir.path()).unwrap();
        assert!(names(dir.path()).is_empty(), "the probe file is removed");
        let missing = dir.path().join("absent");
        let err = format!("{:#}", check_writable(&missing).unwrap_err());
        assert!(err.contains("absent: cannot write here"), "{err}");
        // A read-only directory refuses every process but a privileged one (root in CI
        // containers writes anyway; the check then rightly passes).
        let locked = dir.path().join("locked");
        std::fs::create_dir(&locked).unwrap();
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
        let privileged = std::fs::write(locked.join("probe"), b"x").is_ok();
        assert_eq!(check_writable(&locked).is_ok(), privileged);
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn jsonl_with_a_byte_order_mark_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(&path, "\u{feff}{\"a\": 1}\n\n{\"a\": 2}\n").unwrap();
        let values = read_jsonl_lines(&path, |line| {
            Ok(serde_json::from_str::<serde_json::Value>(line)?)
        })
        .unwrap();
        assert_eq!(values.len(), 2);
        assert_eq!(values[0]["a"], 1);
    }

    #[test]
    fn a_held_directory_lock_names_its_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = DirLock::try_acquire(dir.path()).unwrap().unwrap();
        let holder = DirLock::try_acquire(dir.path()).unwrap().unwrap_err();
        assert!(
            holder.starts_with(&format!("pid {} since ", std::process::id())),
            "{holder}"
        );
        drop(lock);
        assert!(DirLock::try_acquire(dir.path()).unwrap().is_ok());
    }

    #[test]
    fn abandoned_temporaries_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir(d.join(".step-4.tmp-Ab12")).unwrap();
        std::fs::write(d.join(".step-4.tmp-Ab12/model.safetensors"), b"half").unwrap();
        std::fs::write(d.join(".neglect-x1y2.tmp"), b"half").unwrap();
        std::fs::create_dir(d.join("step-2")).unwrap();
        std::fs::write(d.join("train.parquet"), b"kept").unwrap();
        std::fs::write(d.join(".hidden"), b"kept").unwrap();
        assert_eq!(remove_abandoned_temporaries(d).unwrap(), 2);
        assert_eq!(names(d), [".hidden", "step-2", "train.parquet"]);
        assert_eq!(remove_abandoned_temporaries(&d.join("absent")).unwrap(), 0);
    }
}
