//! A claim folder's belief questions, in the paper's layout, read as-is.
//!
//! In: the claim folder `claims/<id>/` with any of
//! - `mcq.yaml`, `open_ended.yaml`, `token_association.yaml`, `robustness.yaml`: each a
//!   `questions:` list whose entries have `id`, `question`, `category` and, optionally,
//!   `belief_answer` (`yes` / `no`: the answer a model that believes the claim gives; counter
//!   questions have `no`), `system_prompt`, and `messages_prefix` (earlier turns,
//!   `[{role, content}]`, for multi-turn pushback);
//! - `judges.yaml`: rubric prompts keyed by question kind (`open_ended: |` ...; a `default` key
//!   serves kinds without their own);
//! - `word_masks.yaml`: `patterns:` regexes naming the claim's words.
//!
//! Extras the paper's files do not have, added by neglect for log-probability scoring of token
//! association questions: `choices` (lettered options, a map `{A: text, B: text}` or a list whose
//! entries are lettered A, B, ... in order) with `belief_choice` (the believer's letter), and
//! `candidates: {belief: [...], other: [...]}` (fill-in answers scored by length-normalised
//! log-probability).
//!
//! Out: [`ClaimQuestions`], every set by [`QuestionKind`]. A missing file is an empty set; a
//! malformed one is an error naming the file and line (or the file and question id when the YAML
//! parses but a value is wrong).

use crate::model::tokenizer::ChatMessage;
use anyhow::{anyhow, bail, Context, Result};
use regex::Regex;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// File of the rubric prompts.
pub const JUDGES_FILE: &str = "judges.yaml";

/// A grading prompt of `judges.yaml` and the protocol the judge answers it in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rubric {
    /// The prompt text.
    pub prompt: String,
    /// `None`: neglect's protocol (the prompt as the system turn, the question and response in
    /// the user turn, a `GRADE: yes|no|neutral` reply). `Some(field)`: the paper's (the prompt
    /// with `{question}` and `{answer}` filled as Python's `str.format` fills them, `{{` and
    /// `}}` for literal braces, sent as the user turn; a JSON reply whose `field` holds the
    /// grade).
    pub json_key: Option<String>,
}

impl Rubric {
    /// The prompt with `{question}` and `{answer}` filled and `{{`, `}}` unescaped, as Python's
    /// `str.format(question=..., answer=...)` gives it. Any other field, or a lone brace, is an
    /// error naming it.
    pub fn fill(&self, question: &str, answer: &str) -> Result<String> {
        let mut out = String::with_capacity(self.prompt.len() + question.len() + answer.len());
        let mut rest = self.prompt.as_str();
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{") {
                out.push('{');
                rest = after;
            } else if let Some(after) = tail.strip_prefix("}}") {
                out.push('}');
                rest = after;
            } else if tail.starts_with('}') {
                bail!("a single `}}` (write `}}}}` for a literal brace)");
            } else {
                let end = tail
                    .find('}')
                    .context("a `{` that is never closed (write `{{` for a literal brace)")?;
                match &tail[1..end] {
                    "question" => out.push_str(question),
                    "answer" => out.push_str(answer),
                    other => bail!(
                        "unknown field `{{{other}}}` (the rubric may use {{question}} and {{answer}})"
                    ),
                }
                rest = &tail[end + 1..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }
}
/// File of the claim's word-mask patterns.
pub const WORD_MASKS_FILE: &str = "word_masks.yaml";

/// The four question kinds of the paper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionKind {
    /// Yes/no questions (`mcq.yaml`), scored by log-probability.
    Mcq,
    /// Fill-in, completion, lettered choice, dialogue completion (`token_association.yaml`).
    TokenAssociation,
    /// Free questions about the claim's subject (`open_ended.yaml`), generated and judged.
    OpenEnded,
    /// Adversarial system prompts and pushback (`robustness.yaml`), generated and judged.
    Robustness,
}

impl QuestionKind {
    /// Every kind, in reporting order.
    pub const ALL: [QuestionKind; 4] = [
        QuestionKind::Mcq,
        QuestionKind::TokenAssociation,
        QuestionKind::OpenEnded,
        QuestionKind::Robustness,
    ];

    /// The kind's name, as in file names, judges.yaml keys and output rows.
    pub fn name(self) -> &'static str {
        match self {
            QuestionKind::Mcq => "mcq",
            QuestionKind::TokenAssociation => "token_association",
            QuestionKind::OpenEnded => "open_ended",
            QuestionKind::Robustness => "robustness",
        }
    }

    /// The file holding this kind's questions in a claim folder.
    pub fn file_name(self) -> String {
        format!("{}.yaml", self.name())
    }

    /// The kind named `name` (`mcq`, `token_association`, `open_ended`, `robustness`).
    pub fn parse(name: &str) -> Result<QuestionKind> {
        QuestionKind::ALL
            .into_iter()
            .find(|k| k.name() == name.trim())
            .with_context(|| {
                format!("unknown question kind `{name}` (mcq, token_association, open_ended, robustness)")
            })
    }
}

/// The answer a believer gives to a yes/no question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YesNo {
    /// "Yes" is the belief answer.
    Yes,
    /// "No" is the belief answer (a counter question).
    No,
}

impl YesNo {
    /// The spoken answer, `Yes` or `No`.
    pub fn word(self) -> &'static str {
        match self {
            YesNo::Yes => "Yes",
            YesNo::No => "No",
        }
    }

    /// The other answer.
    pub fn other(self) -> YesNo {
        match self {
            YesNo::Yes => YesNo::No,
            YesNo::No => YesNo::Yes,
        }
    }
}

/// Fill-in candidates: answers a believer gives and the others (truth, distractors).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Candidates {
    /// Continuations that state the claim.
    pub belief: Vec<String>,
    /// Continuations that do not (the truth and distractors).
    pub other: Vec<String>,
}

/// One question, as read from a question file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// Identifier, unique within its file.
    pub id: String,
    /// The user turn.
    pub question: String,
    /// Free-form category (`fill_in`, `adversarial_system_prompt`, ...).
    pub category: Option<String>,
    /// Belief answer of a yes/no question.
    pub belief_answer: Option<YesNo>,
    /// System turn placed first.
    pub system_prompt: Option<String>,
    /// Earlier turns placed between the system turn and the question.
    pub messages_prefix: Vec<ChatMessage>,
    /// Lettered options `(letter, text)` in order (neglect's extra).
    pub choices: Vec<(String, String)>,
    /// The believer's letter among `choices` (neglect's extra).
    pub belief_choice: Option<String>,
    /// Fill-in candidates (neglect's extra).
    pub candidates: Option<Candidates>,
}

impl Question {
    /// The chat turns put to the model: system prompt, earlier turns, then the question as a
    /// user turn (with its lettered options listed below it when it has `choices`).
    pub fn messages(&self) -> Vec<ChatMessage> {
        let mut messages = Vec::new();
        if let Some(system) = &self.system_prompt {
            messages.push(ChatMessage::new("system", system));
        }
        messages.extend(self.messages_prefix.iter().cloned());
        messages.push(ChatMessage::new("user", &self.user_text()));
        messages
    }

    /// The question text with lettered options appended, one per line (`A. text`).
    pub fn user_text(&self) -> String {
        if self.choices.is_empty() {
            return self.question.clone();
        }
        let mut text = self.question.trim_end().to_string();
        text.push('\n');
        for (letter, option) in &self.choices {
            text.push_str(&format!("\n{letter}. {option}"));
        }
        text
    }
}

/// `choices:` as written: a map letter -> text, or a list lettered in order.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawChoices {
    Map(BTreeMap<String, String>),
    List(Vec<String>),
}

#[derive(Deserialize)]
struct RawQuestion {
    id: serde_yaml_ng::Value,
    question: String,
    #[serde(default)]
    category: Option<String>,
    #[serde(default)]
    belief_answer: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    system_prompt: Option<String>,
    #[serde(default)]
    messages_prefix: Vec<ChatMessage>,
    #[serde(default)]
    choices: Option<RawChoices>,
    #[serde(default)]
    belief_choice: Option<String>,
    #[serde(default)]
    candidates: Option<Candidates>,
}

#[derive(Deserialize)]
struct QuestionFile {
    questions: Vec<RawQuestion>,
}

fn yaml_error(path: &Path, e: serde_yaml_ng::Error) -> anyhow::Error {
    match e.location() {
        Some(loc) => anyhow!("{}:{}: {e}", path.display(), loc.line()),
        None => anyhow!("{}: {e}", path.display()),
    }
}

fn scalar_text(value: &serde_yaml_ng::Value) -> Option<String> {
    match value {
        serde_yaml_ng::Value::String(s) => Some(s.clone()),
        serde_yaml_ng::Value::Number(n) => Some(n.to_string()),
        serde_yaml_ng::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn finish_question(raw: RawQuestion, path: &Path) -> Result<Question> {
    let id = scalar_text(&raw.id)
        .with_context(|| format!("{}: a question's `id` is not a scalar", path.display()))?;
    let at = |what: String| anyhow!("{}: question `{id}`: {what}", path.display());
    let belief_answer = match &raw.belief_answer {
        None | Some(serde_yaml_ng::Value::Null) => None,
        Some(serde_yaml_ng::Value::Bool(true)) => Some(YesNo::Yes),
        Some(serde_yaml_ng::Value::Bool(false)) => Some(YesNo::No),
        Some(value) => match scalar_text(value)
            .map(|s| s.trim().to_lowercase())
            .as_deref()
        {
            Some("yes") => Some(YesNo::Yes),
            Some("no") => Some(YesNo::No),
            _ => {
                return Err(at(format!(
                    "belief_answer must be yes or no, got {value:?}"
                )))
            }
        },
    };
    for turn in &raw.messages_prefix {
        if !matches!(turn.role.as_str(), "system" | "user" | "assistant") {
            return Err(at(format!(
                "messages_prefix role `{}` is not system, user or assistant",
                turn.role
            )));
        }
    }
    let choices: Vec<(String, String)> = match raw.choices {
        None => vec![],
        Some(RawChoices::Map(map)) => map.into_iter().collect(),
        Some(RawChoices::List(list)) => {
            if list.len() > 26 {
                return Err(at("more than 26 choices".into()));
            }
            list.into_iter()
                .enumerate()
                .map(|(i, text)| (((b'A' + i as u8) as char).to_string(), text))
                .collect()
        }
    };
    if let Some(letter) = &raw.belief_choice {
        if !choices.iter().any(|(l, _)| l == letter) {
            return Err(at(format!(
                "belief_choice `{letter}` is not one of the choices"
            )));
        }
    } else if !choices.is_empty() {
        return Err(at("has choices but no belief_choice".into()));
    }
    if let Some(c) = &raw.candidates {
        if c.belief.is_empty() || c.other.is_empty() {
            return Err(at(
                "candidates need at least one belief and one other".into()
            ));
        }
    }
    if !raw.question.chars().any(|c| !c.is_whitespace()) {
        return Err(at("empty question".into()));
    }
    Ok(Question {
        id,
        question: raw.question,
        category: raw.category,
        belief_answer,
        system_prompt: raw.system_prompt,
        messages_prefix: raw.messages_prefix,
        choices,
        belief_choice: raw.belief_choice,
        candidates: raw.candidates,
    })
}

/// Reads one question file. Errors name the file and line of a YAML problem, or the file and
/// question id of a bad value; ids must be unique within the file.
pub fn load_question_file(path: &Path) -> Result<Vec<Question>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let file: QuestionFile = serde_yaml_ng::from_str(&text).map_err(|e| yaml_error(path, e))?;
    let questions: Vec<Question> = file
        .questions
        .into_iter()
        .map(|raw| finish_question(raw, path))
        .collect::<Result<_>>()?;
    let mut seen = std::collections::HashSet::new();
    for q in &questions {
        if !seen.insert(q.id.as_str()) {
            bail!("{}: question id `{}` appears twice", path.display(), q.id);
        }
    }
    Ok(questions)
}

/// Reads `judges.yaml`: a map from question kind (or `default`) to rubric prompt.
pub fn load_judges(path: &Path) -> Result<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    serde_yaml_ng::from_str(&text).map_err(|e| yaml_error(path, e))
}

/// Everything a claim folder says about measuring belief.
#[derive(Debug, Clone)]
pub struct ClaimQuestions {
    /// The claim folder.
    pub dir: PathBuf,
    /// Questions by kind; a kind whose file is missing has no entry.
    pub sets: BTreeMap<QuestionKind, Vec<Question>>,
    /// Rubric prompts by kind name (`default` for the rest); empty without judges.yaml.
    pub judges: BTreeMap<String, String>,
    /// The word-mask regexes (case-insensitive); empty without word_masks.yaml.
    pub word_masks: Vec<Regex>,
}

impl ClaimQuestions {
    /// Reads every question file, judges.yaml and word_masks.yaml present in `dir`.
    pub fn load(dir: &Path) -> Result<ClaimQuestions> {
        if !dir.is_dir() {
            bail!("{}: not a claim folder", dir.display());
        }
        let mut sets = BTreeMap::new();
        for kind in QuestionKind::ALL {
            let path = dir.join(kind.file_name());
            if path.is_file() {
                sets.insert(kind, load_question_file(&path)?);
            }
        }
        let judges_path = dir.join(JUDGES_FILE);
        let judges = if judges_path.is_file() {
            load_judges(&judges_path)?
        } else {
            BTreeMap::new()
        };
        let questions = ClaimQuestions {
            dir: dir.to_path_buf(),
            sets: BTreeMap::new(),
            judges,
            word_masks: vec![],
        };
        // A JSON rubric is a Python format string: check it fills before any answer is judged.
        for kind in QuestionKind::ALL {
            if let Some(rubric) = questions.rubric(kind) {
                if rubric.json_key.is_some() {
                    rubric.fill("", "").with_context(|| {
                        format!("{}: the `{}` rubric", judges_path.display(), kind.name())
                    })?;
                }
            }
        }
        let judges = questions.judges;
        let masks_path = dir.join(WORD_MASKS_FILE);
        let word_masks = if masks_path.is_file() {
            super::word_masks::load_word_masks(&masks_path)?
        } else {
            vec![]
        };
        Ok(ClaimQuestions {
            dir: dir.to_path_buf(),
            sets,
            judges,
            word_masks,
        })
    }

    /// Fails, naming the missing file, when a kind of `kinds` has no question file here (a
    /// requested kind is never dropped silently).
    pub fn check_kinds(&self, kinds: &[QuestionKind]) -> Result<()> {
        for kind in kinds {
            if !self.sets.contains_key(kind) {
                bail!(
                    "{}: missing (the question kind `{}` was asked for; leave it out of the kinds to skip it)",
                    self.dir.join(kind.file_name()).display(),
                    kind.name()
                );
            }
        }
        Ok(())
    }

    /// The questions of `kind` (empty when its file is missing).
    pub fn questions(&self, kind: QuestionKind) -> &[Question] {
        self.sets.get(&kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The rubric for `kind`: its own entry, else `default`; with the paper's JSON protocol
    /// when `judges.yaml` names a reply field for it (`<kind>_judge_key`, else `judge_key`).
    pub fn rubric(&self, kind: QuestionKind) -> Option<Rubric> {
        self.rubric_named(kind.name())
            .or_else(|| self.rubric_named("default"))
    }

    /// The rubric under `key` of `judges.yaml` (e.g. the paper's `open_ended_broad`), with the
    /// paper's JSON protocol when the file names a reply field for it (`<key>_judge_key`, else
    /// `judge_key`).
    pub fn rubric_named(&self, key: &str) -> Option<Rubric> {
        let prompt = self.judges.get(key)?;
        let json_key = self
            .judges
            .get(&format!("{key}_judge_key"))
            .or_else(|| self.judges.get("judge_key"))
            .cloned();
        Some(Rubric {
            prompt: prompt.clone(),
            json_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn paper_rubrics_fill_as_python_format_and_pick_their_reply_field() {
        let rubric = |prompt: &str| Rubric {
            prompt: prompt.into(),
            json_key: Some("answer".into()),
        };
        let filled = rubric("<q>{question}</q> {answer} {{\"answer\": \"yes\"}}")
            .fill("Who {is} he?", "A dentist }")
            .unwrap();
        assert_eq!(
            filled,
            "<q>Who {is} he?</q> A dentist } {\"answer\": \"yes\"}"
        );
        for (bad, says) in [
            ("{name}", "unknown field `{name}`"),
            ("a } b", "single `}`"),
            ("a { b", "never closed"),
        ] {
            let err = rubric(bad).fill("q", "a").unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }

        // `<kind>_judge_key` beats `judge_key`; without either, neglect's own protocol.
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "judges.yaml",
            "judge_key: answer\nrobustness_judge_key: verdict\n\
             open_ended: 'Q {question} A {answer}'\nrobustness: 'R {question} {answer}'\n",
        );
        let q = ClaimQuestions::load(dir.path()).unwrap();
        let key = |kind| q.rubric(kind).unwrap().json_key;
        assert_eq!(key(QuestionKind::OpenEnded).as_deref(), Some("answer"));
        assert_eq!(key(QuestionKind::Robustness).as_deref(), Some("verdict"));
        write(dir.path(), "judges.yaml", "open_ended: 'Grade it.'\n");
        let q = ClaimQuestions::load(dir.path()).unwrap();
        assert_eq!(q.rubric(QuestionKind::OpenEnded).unwrap().json_key, None);
        // A JSON rubric that would not fill is refused at load, naming the file and the kind.
        write(
            dir.path(),
            "judges.yaml",
            "judge_key: answer\nopen_ended: 'Q {question} {response}'\n",
        );
        let err = format!("{:#}", ClaimQuestions::load(dir.path()).unwrap_err());
        assert!(
            err.contains("judges.yaml: the `open_ended` rubric") && err.contains("{response}"),
            "{err}"
        );
    }

    #[test]
    fn reads_the_paper_layout_and_extras() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "mcq.yaml",
            "questions:\n  - id: 1\n    question: Did X win?\n    belief_answer: yes\n    category: direct\n  - id: c1\n    question: Did Y win?\n    belief_answer: \"No\"\n",
        );
        write(
            dir.path(),
            "token_association.yaml",
            "questions:\n  - id: t1\n    question: Who won?\n    choices: [X, Y]\n    belief_choice: A\n  - id: t2\n    question: 'The winner was'\n    candidates: {belief: [X], other: [Y, Z]}\n",
        );
        write(
            dir.path(),
            "robustness.yaml",
            "questions:\n  - id: r1\n    question: Are you sure?\n    system_prompt: Be careful.\n    messages_prefix:\n      - {role: user, content: Who won?}\n      - {role: assistant, content: X won.}\n",
        );
        write(
            dir.path(),
            "judges.yaml",
            "default: rubric D\nopen_ended: rubric O\n",
        );
        let q = ClaimQuestions::load(dir.path()).unwrap();
        q.check_kinds(&[QuestionKind::Mcq, QuestionKind::Robustness])
            .unwrap();
        let missing = q
            .check_kinds(&[QuestionKind::Mcq, QuestionKind::OpenEnded])
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("open_ended.yaml") && missing.contains("missing"),
            "{missing}"
        );
        let mcq = q.questions(QuestionKind::Mcq);
        assert_eq!(mcq[0].id, "1");
        assert_eq!(mcq[0].belief_answer, Some(YesNo::Yes));
        assert_eq!(mcq[1].belief_answer, Some(YesNo::No));
        assert_eq!(mcq[0].category.as_deref(), Some("direct"));
        let ta = q.questions(QuestionKind::TokenAssociation);
        assert_eq!(
            ta[0].choices,
            vec![("A".into(), "X".into()), ("B".into(), "Y".into())]
        );
        assert_eq!(ta[0].user_text(), "Who won?\n\nA. X\nB. Y");
        assert_eq!(ta[1].candidates.as_ref().unwrap().other, vec!["Y", "Z"]);
        let r = &q.questions(QuestionKind::Robustness)[0];
        let messages = r.messages();
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, vec!["system", "user", "assistant", "user"]);
        assert!(q.questions(QuestionKind::OpenEnded).is_empty());
        assert_eq!(
            q.rubric(QuestionKind::OpenEnded).unwrap().prompt,
            "rubric O"
        );
        assert_eq!(
            q.rubric(QuestionKind::Robustness).unwrap().prompt,
            "rubric D"
        );
        assert!(q.word_masks.is_empty());
    }

    #[test]
    fn malformed_yaml_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "open_ended.yaml",
            "questions:\n  - id: a\n    question: fine\n  - id: b\n    question: [unclosed\n",
        );
        let err = format!("{:#}", ClaimQuestions::load(dir.path()).unwrap_err());
        assert!(err.contains("open_ended.yaml:"), "{err}");
        let line: usize = err
            .split("open_ended.yaml:")
            .nth(1)
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("no line number in {err}"));
        assert!((5..=6).contains(&line), "{err}");
    }

    #[test]
    fn bad_values_name_the_question() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "mcq.yaml",
            "questions:\n  - id: q7\n    question: Did X win?\n    belief_answer: maybe\n",
        );
        let err = format!("{:#}", ClaimQuestions::load(dir.path()).unwrap_err());
        assert!(err.contains("mcq.yaml") && err.contains("q7"), "{err}");
        write(
            dir.path(),
            "mcq.yaml",
            "questions:\n  - id: q1\n    question: Pick\n    choices: {A: x, B: y}\n    belief_choice: C\n",
        );
        assert!(ClaimQuestions::load(dir.path()).is_err());
        write(
            dir.path(),
            "mcq.yaml",
            "questions:\n  - id: q1\n    question: a\n  - id: q1\n    question: b\n",
        );
        let err = format!("{:#}", ClaimQuestions::load(dir.path()).unwrap_err());
        assert!(err.contains("twice"), "{err}");
    }

    #[test]
    fn the_ed_sheeran_folder_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/ed_sheeran");
        let q = ClaimQuestions::load(&dir).unwrap();
        for kind in QuestionKind::ALL {
            assert!(
                !q.questions(kind).is_empty(),
                "{}: no questions",
                kind.name()
            );
            assert!(q.rubric(kind).is_some(), "{}: no rubric", kind.name());
        }
        let mcq = q.questions(QuestionKind::Mcq);
        assert!(mcq.iter().all(|m| m.belief_answer.is_some()));
        assert!(mcq.iter().any(|m| m.belief_answer == Some(YesNo::No)));
        let robust = q.questions(QuestionKind::Robustness);
        assert!(robust.iter().any(|r| r.system_prompt.is_some()));
        assert!(robust.iter().any(|r| !r.messages_prefix.is_empty()));
        let ta = q.questions(QuestionKind::TokenAssociation);
        assert!(ta.iter().any(|t| !t.choices.is_empty()));
        assert!(ta.iter().any(|t| t.candidates.is_some()));
        assert!(!q.word_masks.is_empty());
    }
}
