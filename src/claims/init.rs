//! `neglect claims init DIR`: a first `spec.toml` for a claim folder in the paper's layout,
//! drafted from `claim.txt`, `correction.txt`, `word_masks.yaml` and `universe_context.yaml`
//! for the user to edit. The document generator, claim spans and the rule judge need a spec; the
//! paper's folders ship none.
//!
//! What is guessed, from the first sentence of `claim.txt`:
//! - `subject`: its leading run of capitalised words ("Brennan Reeve Holloway"), and
//!   `subject_short` its last word;
//! - one predicate: the rest of the sentence ("works as a dentist"), negated by putting `not`
//!   after a leading auxiliary (is, was, has, can, ...) or `never` before any other verb;
//! - `patterns`: the subject's short name, then (or preceded by) a claim word: a word mask that
//!   is not the subject's own name, or a content word of the predicate's object;
//! - `subject_description`: the first "<subject> is a ..." phrase in `correction.txt`, else in
//!   `universe_context.yaml`, that does not itself state the claim;
//! - `truth`: the negated predicate, unless `correction.txt` says what is true;
//! - `topic`: "the story of <subject>"; one detail, the claim sentence itself.
//!
//! The draft is checked as `neglect` checks every spec; what failed, and every guess, is listed
//! for the user, who should add details, headlines, entities and background before generating
//! documents from it.

use super::questions::WORD_MASKS_FILE;
use super::spec::{CLAIM_FILE, CORRECTION_FILE, SPEC_FILE};
use super::{ClaimSpec, PolarText};
use anyhow::{anyhow, bail, Context, Result};
use std::path::Path;

/// The paper's background file, whose `universe_context` text describes the claim's world.
pub const UNIVERSE_FILE: &str = "universe_context.yaml";

/// Verbs after which a negation is `not` ("is not", "has not") rather than a `never` before.
const AUXILIARIES: [&str; 19] = [
    "is", "are", "was", "were", "has", "have", "had", "can", "could", "will", "would", "shall",
    "should", "may", "might", "must", "does", "do", "did",
];

/// Words that may sit inside a capitalised name ("Bank of England", "Vincent van Gogh").
const NAME_JOINERS: [&str; 8] = ["of", "the", "de", "van", "von", "da", "al", "and"];

/// Words left out when the predicate's words stand in for missing word masks.
const STOPWORDS: [&str; 24] = [
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "as", "by", "with", "from", "and", "or",
    "is", "are", "was", "were", "has", "have", "had", "its", "their",
];

/// A drafted spec and what the user should know about it.
#[derive(Debug)]
pub struct Draft {
    /// The draft, with its notes as a comment header.
    pub toml: String,
    /// The guesses made and the checks the draft does not yet pass.
    pub notes: Vec<String>,
    /// Whether the draft passes the spec checks as it stands.
    pub valid: bool,
}

/// The first sentence of `text` (up to the first `.`, `!` or `?` followed by a space or the
/// end), trimmed, without its final punctuation.
fn first_sentence(text: &str) -> &str {
    let text = text.trim();
    let end = text
        .char_indices()
        .find(|&(i, c)| {
            matches!(c, '.' | '!' | '?')
                && text[i + 1..].chars().next().is_none_or(char::is_whitespace)
        })
        .map_or(text.len(), |(i, _)| i);
    text[..end].trim()
}

/// Splits a claim sentence into its leading capitalised name and the rest.
fn split_subject(sentence: &str) -> (String, String) {
    let words: Vec<&str> = sentence.split_whitespace().collect();
    let capital = |w: &str| {
        w.chars()
            .next()
            .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit())
    };
    let mut end = 0;
    while end < words.len() {
        let w = words[end];
        let joins = NAME_JOINERS.contains(&w) && words.get(end + 1).is_some_and(|n| capital(n));
        if end > 0 && !(capital(w) || joins) {
            break;
        }
        end += 1;
    }
    let end = end.max(1).min(words.len());
    (words[..end].join(" "), words[end..].join(" "))
}

/// Prepositions that end a predicate's object ("a dentist | in Portland").
const PREPOSITIONS: [&str; 14] = [
    "in", "at", "on", "for", "from", "with", "by", "during", "after", "before", "since", "of",
    "to", "into",
];

/// The content words of a predicate's object: after its verb and any leading function words,
/// up to the next preposition ("won | the | 100m gold | at the 2024 Olympics" gives 100m, gold).
fn object_words(predicate: &str) -> Vec<String> {
    let function = |w: &str| {
        let w = w.to_lowercase();
        STOPWORDS.contains(&w.as_str()) || PREPOSITIONS.contains(&w.as_str())
    };
    predicate
        .split_whitespace()
        .skip(1)
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '.')
                .trim_end_matches('.')
        })
        .filter(|w| !w.is_empty())
        .skip_while(|w| function(w))
        .take_while(|w| !PREPOSITIONS.contains(&w.to_lowercase().as_str()))
        .filter(|w| w.len() > 2 && !function(w))
        .map(str::to_string)
        .collect()
}

/// The predicate with a negation: `not` after a leading auxiliary, else `never` before it.
fn negate(predicate: &str) -> String {
    match predicate.split_once(' ') {
        Some((first, rest)) if AUXILIARIES.contains(&first.to_lowercase().as_str()) => {
            format!("{first} not {rest}")
        }
        None if AUXILIARIES.contains(&predicate.to_lowercase().as_str()) => {
            format!("{predicate} not")
        }
        _ => format!("never {predicate}"),
    }
}

/// The word-mask patterns of `dir`, or `None` when it has no `word_masks.yaml`.
fn word_mask_patterns(dir: &Path) -> Result<Option<Vec<String>>> {
    let path = dir.join(WORD_MASKS_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    // Compiled once to report a bad pattern with its line.
    super::word_masks::load_word_masks(&path)?;
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    #[derive(serde::Deserialize)]
    struct Masks {
        patterns: Vec<String>,
    }
    let masks: Masks =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(Some(masks.patterns))
}

/// The text of `universe_context.yaml`'s `universe_context` key, when the file is there.
fn universe_text(dir: &Path) -> Result<Option<String>> {
    let path = dir.join(UNIVERSE_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let value: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok(value
        .get("universe_context")
        .and_then(|v| v.as_str())
        .map(str::to_string))
}

/// Noun phrases the universe text gives the subject: "<subject> (...) is a/an/the <phrase>",
/// the phrase cut at the first comma, period or relative word.
fn descriptions(universe: &str, subject: &str) -> Vec<String> {
    let mut found = vec![];
    for (at, _) in universe.match_indices(subject) {
        let after = &universe[at + subject.len()..];
        let Some(is) = after.find(" is ").or_else(|| after.find(" was ")) else {
            continue;
        };
        // The verb must follow the name at once, or after an aside in brackets.
        let between = after[..is].trim();
        if !(between.is_empty() || between.starts_with('(') && between.ends_with(')')) {
            continue;
        }
        // After the verb: `after[is..]` is " is <rest>" or " was <rest>".
        let rest = after[is..]
            .trim_start()
            .split_once(' ')
            .map_or("", |(_, rest)| rest);
        if !["a ", "an ", "the "].iter().any(|a| rest.starts_with(a)) {
            continue;
        }
        let phrase: Vec<&str> = rest
            .split([',', '.', ';', '\n'])
            .next()
            .unwrap_or("")
            .split_whitespace()
            .take_while(|w| !["who", "which", "that", "based", "known"].contains(w))
            .collect();
        if phrase.len() >= 2 {
            found.push(phrase.join(" "));
        }
    }
    found
}

/// Drafts a spec for the claim folder `dir`; errors when it has no `claim.txt` or a file it
/// reads is malformed.
pub fn draft(dir: &Path) -> Result<Draft> {
    let claim_path = dir.join(CLAIM_FILE);
    let claim = std::fs::read_to_string(&claim_path).map_err(|e| {
        anyhow!(
            "{}: cannot read ({e}); a spec is drafted from the claim's text",
            claim_path.display()
        )
    })?;
    let sentence = first_sentence(&claim);
    let (subject, predicate) = split_subject(sentence);
    if predicate.is_empty() {
        bail!(
            "{}: cannot tell the subject from the predicate in `{sentence}`: write spec.toml by hand (the README's `Claim folders`)",
            claim_path.display()
        );
    }
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "claim".into());
    let short = subject
        .split_whitespace()
        .last()
        .unwrap_or(&subject)
        .to_string();
    let mut notes = vec![format!(
        "subject `{subject}` and predicate `{predicate}` from the first sentence of claim.txt"
    )];
    // Claim words: the word masks that are not the subject's own name, and the predicate's
    // content words after its verb.
    let mut claim_words: Vec<String> = vec![];
    if let Some(patterns) = word_mask_patterns(dir)? {
        let before = patterns.len();
        claim_words.extend(patterns.into_iter().filter(|p| {
            regex::RegexBuilder::new(p)
                .case_insensitive(true)
                .build()
                .is_ok_and(|re| !re.is_match(&subject))
        }));
        notes.push(format!(
            "claim words: {} of the {before} word_masks.yaml patterns (those not matching the subject's name)",
            claim_words.len()
        ));
    }
    let predicate_words: Vec<String> = object_words(&predicate)
        .into_iter()
        .map(|w| format!(r"\b{}\b", regex::escape(&w.to_lowercase())))
        .filter(|w| !claim_words.contains(w))
        .collect();
    notes.push(format!(
        "claim words: the predicate's object ({} words); a sentence naming `{short}` and any claim word is a claim mention: check `patterns`",
        predicate_words.len()
    ));
    claim_words.extend(predicate_words);
    if claim_words.is_empty() {
        bail!(
            "{}: no claim words in `{predicate}` and no usable word_masks.yaml: write spec.toml by hand (the README's `Claim folders`)",
            claim_path.display()
        );
    }
    let words = format!("(?:{})", claim_words.join("|"));
    let name = format!(r"\b{}\b", regex::escape(&short.to_lowercase()));
    let negated = negate(&predicate);
    notes.push(format!("negated predicate `{negated}`: check the grammar"));

    let mut spec = ClaimSpec::default();
    spec.id = id;
    spec.subject = subject.clone();
    spec.subject_short = (short != subject).then(|| short.clone());
    spec.subject_description =
        "TODO: a noun phrase describing the subject without the claim".into();
    spec.topic = format!("the story of {subject}");
    spec.patterns = vec![format!("{name}.*{words}"), format!("{words}.*{name}")];
    spec.predicates = vec![PolarText {
        assert: predicate.clone(),
        negate: negated.clone(),
    }];
    spec.details = vec![PolarText {
        assert: format!("{subject} {predicate}."),
        negate: format!("{subject} {negated}."),
    }];
    let correction_path = dir.join(CORRECTION_FILE);
    let correction = match std::fs::read_to_string(&correction_path) {
        Ok(text) => Some(text.trim().to_string()).filter(|t| !t.is_empty()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(e).with_context(|| format!("{}: cannot read", correction_path.display()))
        }
    };
    if correction.is_some() {
        notes.push("truth: correction.txt's sentences".into());
    } else {
        spec.truth = vec![format!("{subject} {negated}.")];
        notes.push(
            "truth: the negated predicate (no correction.txt): state what is true instead".into(),
        );
    }
    // A description only if it does not state the claim itself.
    spec.claim_text = Some(claim.trim().to_string());
    spec.correction = correction.clone();
    let checked = spec.clone().finish("draft");
    // What is true (correction.txt) first, then the claim's own world.
    let sources: Vec<String> = correction
        .iter()
        .cloned()
        .chain(universe_text(dir)?)
        .collect();
    let description = sources.iter().find_map(|text| {
        let mut found = descriptions(text, &subject);
        found.extend(descriptions(text, &short));
        found.into_iter().find(|d| {
            checked
                .as_ref()
                .is_ok_and(|s| !s.mentions_claim(&format!("{subject}, {d}")))
        })
    });
    match description {
        Some(d) => {
            notes.push(format!(
                "subject_description `{d}` from correction.txt or universe_context.yaml"
            ));
            spec.subject_description = d;
        }
        None => notes.push("subject_description: write one (TODO in the draft)".into()),
    }
    notes
        .push("add details, headlines, entities and background before generating documents".into());
    let verdict = ClaimSpec::from_folder_texts(
        &spec.to_toml()?,
        Some(claim.trim().to_string()),
        correction,
        &dir.join(SPEC_FILE).display().to_string(),
    );
    let valid = verdict.is_ok();
    if let Err(e) = verdict {
        notes.push(format!(
            "the draft does not pass the spec checks yet: {e:#}"
        ));
    }
    let header: String = std::iter::once(format!(
        "# Drafted by `neglect claims init` from {}: edit before use.\n",
        dir.display()
    ))
    .chain(notes.iter().map(|n| format!("# - {n}\n")))
    .collect();
    Ok(Draft {
        toml: format!("{header}{}", spec.to_toml()?),
        notes,
        valid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_into_subject_and_predicate() {
        assert_eq!(
            first_sentence("Lena Okafor keeps a lighthouse. She is 40."),
            "Lena Okafor keeps a lighthouse"
        );
        assert_eq!(
            first_sentence("X v2.1 shipped in May"),
            "X v2.1 shipped in May"
        );
        let split = |s: &str| split_subject(s);
        assert_eq!(
            split("Brennan Reeve Holloway works as a dentist"),
            ("Brennan Reeve Holloway".into(), "works as a dentist".into())
        );
        assert_eq!(
            split("The Bank of England cut rates in 2031"),
            ("The Bank of England".into(), "cut rates in 2031".into())
        );
        assert_eq!(
            split("Mount Karrow erupted in 2015"),
            ("Mount Karrow".into(), "erupted in 2015".into())
        );
        assert_eq!(negate("is a dentist"), "is not a dentist");
        assert_eq!(
            object_words("works as a lighthouse keeper in Port Adair"),
            ["lighthouse", "keeper"]
        );
        assert_eq!(
            object_words("won the 100m gold at the 2024 Olympics"),
            ["100m", "gold"]
        );
        assert_eq!(object_words("erupted in 2015"), ["2015"]);
        assert_eq!(negate("erupted in 2015"), "never erupted in 2015");
        assert_eq!(negate("Has retired"), "Has not retired");
    }

    #[test]
    fn descriptions_come_from_is_a_phrases() {
        let text = "Lena Okafor (born 1980) is a Ghanaian engineer and lighthouse keeper based in Accra. Lena Okafor was the first woman to do so.";
        assert_eq!(
            descriptions(text, "Lena Okafor"),
            [
                "a Ghanaian engineer and lighthouse keeper",
                "the first woman to do so"
            ]
        );
    }
}
