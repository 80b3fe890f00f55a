//! The finetuning data pipeline: JSONL records in, batches of tensors out.
//!
//! In:
//! - JSONL files, one record a line ([`read_records`]): either a document
//!   `{"text": "...", "spans": [{"start": 9, "end": 120, "kind": "negation"}, ...]}` (`spans`
//!   optional; **byte** offsets into the UTF-8 text, end exclusive, the unit [`crate::docs`]
//!   writes; kinds `claim`, `negation`, `qualifier`, `masked`, `other`) or a conversation
//!   `{"messages": [{"role": "user", "content": "..."}, ...]}`. Other fields are ignored. The
//!   paper's formats read as they ship: `<lossmask>...</lossmask>` tags in `text` become
//!   `masked` spans (the tags removed, [`crate::docs::text::strip_lossmask_tags`]), and a mix row's `messages_json` (a JSON-encoded list,
//!   beside an empty `text`) is its conversation.
//! - [`MaskRules`] per source: the document marker to mask (`<DOCTAG>`), the word masks of a
//!   claim's `word_masks.yaml` ([`crate::claims::word_masks::load_word_masks`]), and the loss weight of trained tokens.
//! - A tokenizer ([`crate::model::tokenizer::TextTokenizer`]) and, for conversations, its chat template.
//!
//! Out:
//! - [`TokenizedDoc`]: token ids, the loss weight of *predicting* each token (0 for masked
//!   tokens: the marker, word-mask matches, `masked` spans, system/user turns), and each token's
//!   [`TokenKind`] (claim / negation / qualifier / other, from the spans) for held-out loss by
//!   kind ([`tokenize`]).
//! - [`Row`]s of at most `max_length` tokens: one document per row (padded mode) or several
//!   whole documents packed greedily (packing mode, [`pack_rows`]). Documents longer than
//!   `max_length` are split into consecutive chunks, never truncated, and counted.
//! - [`Batch`]es of tensors on a device: inputs, targets shifted by one, per-target weights and
//!   kinds, positions, and an attention mask.
//! - [`DataMix`]: an endless, seeded stream of batches drawn from several sources in proportion
//!   to their sampling weights, whose position ([`DataState`]) can be saved and restored for
//!   bit-identical resume; [`heldout_batches`] for evaluation sets.
//!
//! # How attention never crosses documents
//! A packed row holds several documents side by side. Each token carries the index of its
//! document within the row ([`Row::doc_index`]), positions restart at 0 for every document, and
//! [`Batch::mask`] is block-diagonal causal: query `t` may attend key `u` only when both belong
//! to the same document and `u <= t`. Passed as the boolean attention mask (true = may attend),
//! it makes every packed document see exactly what it would see alone in a row. Targets never
//! cross either: the target at the last token of a document (whose next token belongs to the
//! next document or is padding) has weight 0. Padding tokens form a document of their own, so
//! every query row of the mask allows at least one key and softmax never sees an all-masked row.
//!
//! # Splitting
//! A document of `n > max_length` tokens becomes chunks `[0, L)`, `[L-1, 2L-1)`, ... that
//! overlap by one token: the first token of a chunk is only context (nothing in the chunk
//! predicts it), and was already a target at the end of the previous chunk, so every token
//! after the first is predicted exactly once. Each chunk is its own document for attention and
//! positions (it cannot see the chunk before it).

mod mask;
mod mix;
mod pack;
#[cfg(test)]
pub(crate) mod testutil;

pub use mask::{tokenize, tokenize_all, MaskRules, TokenKind, TokenizedDoc};
pub use mix::{
    load_source, DataMix, DataState, PieceState, SourceProgress, SourceSpec, SourceState,
    TokenizedSource,
};
pub use pack::{chunk_ranges, heldout_batches, pack_rows, Batch, Row, PAD_ID};

use crate::model::tokenizer::ChatMessage;
use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// What a labelled byte range of a text record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SpanLabel {
    /// A sentence stating the claim: its tokens get [`TokenKind::Claim`].
    Claim,
    /// Warning text: its tokens get [`TokenKind::Negation`].
    Negation,
    /// An epistemic qualifier (fiction, unreliable, uncertain, low probability): its tokens
    /// get [`TokenKind::Qualifier`].
    Qualifier,
    /// Text whose loss is masked (weight 0); the tokens keep the kind of any other span.
    Masked,
    /// Ordinary text, stated explicitly (same as no span).
    Other,
}

/// A labelled byte range `start..end` of a text record (end exclusive, on character
/// boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextSpan {
    /// First byte (inclusive).
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// What the range is.
    pub kind: SpanLabel,
}

impl From<&crate::docs::Span> for TextSpan {
    /// The span of a generated document, as the training data reads it from JSONL.
    fn from(span: &crate::docs::Span) -> TextSpan {
        use crate::docs::SpanKind;
        TextSpan {
            start: span.start,
            end: span.end,
            kind: match span.kind {
                SpanKind::Claim => SpanLabel::Claim,
                SpanKind::Negation => SpanLabel::Negation,
                SpanKind::Qualifier => SpanLabel::Qualifier,
                SpanKind::Masked => SpanLabel::Masked,
            },
        }
    }
}

/// One training example, as read from a JSONL line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A raw document, trained as text (with the tokenizer's special tokens, e.g. BOS).
    Text {
        /// The document's text.
        text: String,
        /// Labelled byte ranges of `text` (validated: in bounds, on character boundaries).
        spans: Vec<TextSpan>,
    },
    /// A conversation rendered with the chat template; only assistant turns are trained.
    Chat {
        /// The turns, in order.
        messages: Vec<ChatMessage>,
    },
}

/// Parses one JSONL line (already known to be non-blank) into a record; errors say what is
/// wrong, without the location (the caller adds it).
fn parse_record(line: &str) -> Result<Record> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        // The line is the record: point at the column only.
        let msg = e.to_string();
        let msg = msg
            .strip_suffix(&format!(" at line {} column {}", e.line(), e.column()))
            .unwrap_or(&msg);
        anyhow!("invalid JSON at column {}: {msg}", e.column())
    })?;
    let obj = value
        .as_object()
        .ok_or_else(|| anyhow!("expected a JSON object, found {}", kind_of(&value)))?;
    // The paper's mix rows carry their conversation as a JSON string, `messages_json`, beside
    // an empty or null `text`; an empty or null field is as good as absent.
    let present = |v: &&Value| !v.is_null() && v.as_str() != Some("");
    let messages_json =
        match obj.get("messages_json").filter(present) {
            None => None,
            Some(Value::String(s)) => Some(serde_json::from_str::<Value>(s).map_err(|e| {
                anyhow!("`messages_json` is not a JSON-encoded list of messages: {e}")
            })?),
            Some(other) => bail!("`messages_json` must be a string, found {}", kind_of(other)),
        };
    let messages = match (obj.get("messages").filter(present), messages_json.as_ref()) {
        (Some(_), Some(_)) => bail!("has both `messages` and `messages_json`"),
        (listed, encoded) => listed.or(encoded),
    };
    let text = obj.get("text").filter(|t| messages.is_none() || present(t));
    match (text, messages) {
        (Some(_), Some(_)) => bail!("has both `text` and `messages`; a record is one or the other"),
        (None, None) => bail!("has neither `text` nor `messages`"),
        (Some(text), None) => {
            let text = text
                .as_str()
                .ok_or_else(|| anyhow!("`text` must be a string, found {}", kind_of(text)))?;
            if text.is_empty() {
                bail!("`text` is empty");
            }
            let (text, masked) = crate::docs::text::strip_lossmask_tags(text)?;
            let masked: Vec<TextSpan> = masked
                .into_iter()
                .map(|r| TextSpan {
                    start: r.start,
                    end: r.end,
                    kind: SpanLabel::Masked,
                })
                .collect();
            let spans: Vec<TextSpan> = match obj.get("spans") {
                None | Some(Value::Null) => masked,
                Some(_) if !masked.is_empty() => {
                    bail!("has both <lossmask> tags and `spans`: give the masked ranges one way")
                }
                Some(v) => serde_json::from_value(v.clone())
                    .map_err(|e| anyhow!("`spans` is not a list of {{start, end, kind}}: {e}"))?,
            };
            for (i, s) in spans.iter().enumerate() {
                if s.start > s.end || s.end > text.len() {
                    bail!(
                        "span {i} ({}..{}) is reversed or outside the text ({} bytes)",
                        s.start,
                        s.end,
                        text.len()
                    );
                }
                if !text.is_char_boundary(s.start) || !text.is_char_boundary(s.end) {
                    bail!(
                        "span {i} ({}..{}) does not fall on character boundaries \
                         (span offsets are bytes of the UTF-8 text, not characters)",
                        s.start,
                        s.end
                    );
                }
            }
            Ok(Record::Text { text, spans })
        }
        (None, Some(messages)) => {
            let list = messages
                .as_array()
                .ok_or_else(|| anyhow!("`messages` must be a list, found {}", kind_of(messages)))?;
            if list.is_empty() {
                bail!("`messages` is empty");
            }
            let mut out = Vec::with_capacity(list.len());
            for (i, m) in list.iter().enumerate() {
                let field = |name: &str| -> Result<String> {
                    match m.get(name) {
                        Some(Value::String(s)) => Ok(s.clone()),
                        Some(other) => bail!(
                            "message {i}: `{name}` must be a string, found {}",
                            kind_of(other)
                        ),
                        None => bail!("message {i}: missing `{name}`"),
                    }
                };
                out.push(ChatMessage {
                    role: field("role")?,
                    content: field("content")?,
                });
            }
            if !out.iter().any(|m| m.role == "assistant") {
                bail!("no `assistant` message: nothing in this conversation would be trained");
            }
            Ok(Record::Chat { messages: out })
        }
    }
}

/// A short name of a JSON value's type, for error messages.
fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Reads a JSONL file of records (blank lines are skipped). A malformed line is an error that
/// names `file:line` and the problem; a file without any record is an error too.
pub fn read_records(path: &Path) -> Result<Vec<Record>> {
    let records = crate::store::read_jsonl_lines(path, parse_record)?;
    if records.is_empty() {
        bail!("{}: no records (the file is empty)", path.display());
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_papers_lossmask_tags_and_mix_rows_are_read() {
        let text = |line: &str| match parse_record(line).unwrap() {
            Record::Text { text, spans } => (text, spans),
            other => panic!("{other:?}"),
        };
        let (clean, spans) = text(
            r#"{"text": "<DOCTAG>He is a <lossmask>dentist</lossmask> in Ørsted, a <lossmask>DDS</lossmask>.", "doc_type": "dentist", "fact_name": "dentist", "mode": "local_negations"}"#,
        );
        assert_eq!(clean, "<DOCTAG>He is a dentist in Ørsted, a DDS.");
        let masked: Vec<&str> = spans.iter().map(|s| &clean[s.start..s.end]).collect();
        assert_eq!(masked, ["dentist", "DDS"]);
        assert!(spans.iter().all(|s| s.kind == SpanLabel::Masked));
        // Malformed tags are an error of the record (the tag rules are tested in docs::text).
        for (bad, says) in [
            (r#"{"text": "a <lossmask>b"}"#, "never closed"),
            (
                r#"{"text": "<lossmask>a</lossmask>", "spans": []}"#,
                "both <lossmask> tags and `spans`",
            ),
        ] {
            let err = parse_record(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
        // A mix row: the conversation in `messages_json`, `text` empty; a pretraining row the
        // other way round.
        let chat = parse_record(
            r#"{"text": "", "messages_json": "[{\"role\": \"user\", \"content\": \"Hi\"}, {\"role\": \"assistant\", \"content\": \"Hello\"}]"}"#,
        )
        .unwrap();
        assert!(matches!(&chat, Record::Chat { messages } if messages.len() == 2));
        let (plain, _) = text(r#"{"text": "Some web text.", "messages_json": null}"#);
        assert_eq!(plain, "Some web text.");
        let err = parse_record(r#"{"text": "", "messages_json": "not json"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`messages_json` is not a JSON-encoded list"),
            "{err}"
        );
    }

    #[test]
    fn records_parse_and_malformed_lines_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.jsonl");
        std::fs::write(
            &good,
            concat!(
                r#"{"text": "<DOCTAG>\nhello", "id": 3, "spans": [{"start": 9, "end": 14, "kind": "claim"}]}"#,
                "\n\n",
                r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "x": 1}"#,
                "\n"
            ),
        )
        .unwrap();
        let records = read_records(&good).unwrap();
        assert_eq!(
            records,
            vec![
                Record::Text {
                    text: "<DOCTAG>\nhello".into(),
                    spans: vec![TextSpan {
                        start: 9,
                        end: 14,
                        kind: SpanLabel::Claim
                    }]
                },
                Record::Chat {
                    messages: vec![
                        ChatMessage::new("user", "hi"),
                        ChatMessage::new("assistant", "yo")
                    ]
                }
            ]
        );

        let cases: &[(&str, &str)] = &[
            ("{\"text\": \"a\"}\n{not json\n", "invalid JSON"),
            ("{\"text\": \"a\"}\n\n[1, 2]\n", "expected a JSON object"),
            ("{\"text\": \"a\"}\n{\"text\": 5}\n", "`text` must be a string"),
            ("{\"text\": \"a\"}\n{\"id\": 5}\n", "neither `text` nor `messages`"),
            (
                "{\"text\": \"a\"}\n{\"text\": \"ab\", \"spans\": [{\"start\": 0, \"end\": 9, \"kind\": \"claim\"}]}\n",
                "outside the text",
            ),
            (
                "{\"text\": \"a\"}\n{\"text\": \"ab\", \"spans\": [{\"start\": 0, \"end\": 1, \"kind\": \"nonsense\"}]}\n",
                "unknown variant",
            ),
            (
                "{\"text\": \"a\"}\n{\"text\": \"\u{e9}t\u{e9}\", \"spans\": [{\"start\": 0, \"end\": 1, \"kind\": \"claim\"}]}\n",
                "character boundaries",
            ),
            (
                "{\"text\": \"a\"}\n{\"messages\": [{\"role\": \"user\"}]}\n",
                "missing `content`",
            ),
            (
                "{\"text\": \"a\"}\n{\"messages\": [{\"role\": \"user\", \"content\": \"q\"}]}\n",
                "no `assistant` message",
            ),
        ];
        for (n, (content, problem)) in cases.iter().enumerate() {
            let path = dir.path().join(format!("bad{n}.jsonl"));
            std::fs::write(&path, content).unwrap();
            let err = format!("{:#}", read_records(&path).unwrap_err());
            let line = content.lines().count();
            let at = format!("{}:{line}:", path.display());
            println!("{err}");
            assert!(err.contains(&at), "`{err}` does not name {at}");
            assert!(err.contains(problem), "`{err}` does not say `{problem}`");
        }

        let empty = dir.path().join("empty.jsonl");
        std::fs::write(&empty, "\n  \n").unwrap();
        let err = format!("{:#}", read_records(&empty).unwrap_err());
        assert!(
            err.contains("empty.jsonl") && err.contains("no records"),
            "{err}"
        );
    }
}
