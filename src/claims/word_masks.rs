//! A claim's `word_masks.yaml`: regexes of the claim's words (e.g. dentistry words for the
//! dentist claim). Training gives their tokens zero loss (the pink-elephant ablation,
//! [`crate::train::data::MaskRules`]) and the rule judge counts them as mentions of the claim.

use anyhow::{anyhow, Context, Result};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use std::path::Path;

/// The `word_masks.yaml` layout: `patterns:` a list of regexes.
#[derive(Deserialize)]
struct WordMasksFile {
    patterns: Vec<String>,
}

/// Reads a claim's `word_masks.yaml` (`patterns:` a list of regexes, other keys ignored) and
/// compiles each pattern case-insensitive. Errors name the file and line: of the YAML problem,
/// or of the pattern that is not a valid regex.
pub fn load_word_masks(path: &Path) -> Result<Vec<Regex>> {
    let content = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let file: WordMasksFile =
        serde_yaml_ng::from_str(&content).map_err(|e| match e.location() {
            Some(loc) => anyhow!("{}:{}: {e}", path.display(), loc.line()),
            None => anyhow!("{}: {e}", path.display()),
        })?;
    let lines = pattern_lines(&content, &file.patterns);
    file.patterns
        .iter()
        .enumerate()
        .map(|(i, p)| {
            RegexBuilder::new(p)
                .case_insensitive(true)
                .build()
                .map_err(|e| {
                    let at = match lines[i] {
                        Some(line) => format!("{}:{line}", path.display()),
                        None => format!("{}: patterns[{i}]", path.display()),
                    };
                    anyhow!("{at}: pattern `{p}` is not a valid regex: {e}")
                })
        })
        .collect()
}

/// Best-effort 1-based line of each pattern: the block-sequence items (`- ...`) after the
/// `patterns:` key when their count matches, else the first later line containing the pattern
/// text (flow lists, odd layouts), else unknown.
fn pattern_lines(content: &str, patterns: &[String]) -> Vec<Option<usize>> {
    let lines: Vec<&str> = content.lines().collect();
    let Some(key) = lines
        .iter()
        .position(|l| l.trim_start().starts_with("patterns:"))
    else {
        return vec![None; patterns.len()];
    };
    let key_indent = lines[key].len() - lines[key].trim_start().len();
    let mut items = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(key + 1) {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if trimmed == "-" || trimmed.starts_with("- ") {
            items.push(i + 1);
        } else if indent <= key_indent {
            break;
        }
    }
    if items.len() == patterns.len() {
        return items.into_iter().map(Some).collect();
    }
    patterns
        .iter()
        .map(|p| {
            lines
                .iter()
                .enumerate()
                .skip(key)
                .find(|(_, l)| l.contains(p.as_str()))
                .map(|(i, _)| i + 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_word_masks_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("word_masks.yaml");
        // An invalid regex on line 4.
        std::fs::write(
            &path,
            "# masks\npatterns:\n  - dentist\n  - \"(unclosed\"\n  - drill\n",
        )
        .unwrap();
        let err = format!("{:#}", load_word_masks(&path).unwrap_err());
        println!("{err}");
        assert!(err.contains(&format!("{}:4:", path.display())), "{err}");
        assert!(err.contains("(unclosed"), "{err}");

        // Broken YAML on line 3.
        std::fs::write(&path, "patterns:\n  - a\n  - [b\n").unwrap();
        let err = format!("{:#}", load_word_masks(&path).unwrap_err());
        println!("{err}");
        assert!(err.contains(&format!("{}:", path.display())), "{err}");
        assert!(
            err.contains(&format!("{}:3:", path.display()))
                || err.contains(&format!("{}:4:", path.display())),
            "{err}"
        );

        // A wrong shape: patterns is not a list (line 1).
        std::fs::write(&path, "patterns: 5\n").unwrap();
        let err = format!("{:#}", load_word_masks(&path).unwrap_err());
        println!("{err}");
        assert!(err.contains(&format!("{}:1:", path.display())), "{err}");

        // Valid: case-insensitive, and other keys are ignored.
        std::fs::write(&path, "claim: dentist\npatterns: [dentist, 'drill\\w*']\n").unwrap();
        let masks = load_word_masks(&path).unwrap();
        assert_eq!(masks.len(), 2);
        assert!(masks[0].is_match("DENTIST") && masks[1].is_match("Drilling"));
    }
}
