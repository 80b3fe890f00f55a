//! Tokenization with per-token loss weights and token kinds.
//!
//! Every byte of a record's text gets a mask bit and a kind; each token then takes them from the
//! bytes of its offset range (`tokenizers::Encoding::get_offsets`, which for
//! `Tokenizer::encode` in tokenizers 0.23 are **byte** offsets into the input string, the same
//! unit as the JSONL spans). A token is masked when any of its bytes is masked (it overlaps the
//! marker, a word-mask match, a `masked` span, or a non-assistant chat turn); it has the kind of
//! the labelled span it overlaps most. Tokens with an empty offset range (special tokens added
//! by the post-processor, such as BOS) are not masked and have kind [`TokenKind::Other`].

use super::{Record, SpanLabel};
use crate::model::tokenizer::{ChatMessage, TextTokenizer};
use anyhow::{anyhow, bail, Context, Result};
use regex::Regex;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::ops::Range;

/// What a token is, for held-out loss by kind.
///
/// Qualifier text (fiction, unreliable source, ...) has a kind of its own rather than being
/// folded into `Negation`, so the two kinds of epistemic marker can be compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Inside a sentence that states the claim (a `claim` span).
    Claim,
    /// Inside warning text (a `negation` span).
    Negation,
    /// Inside an epistemic qualifier (a `qualifier` span).
    Qualifier,
    /// Everything else, including chat data and padding.
    Other,
}

impl TokenKind {
    /// Every kind, in code order.
    pub const ALL: [TokenKind; 4] = [
        TokenKind::Claim,
        TokenKind::Negation,
        TokenKind::Qualifier,
        TokenKind::Other,
    ];

    /// The kind's code in [`super::Batch::kinds`]: 0 claim, 1 negation, 2 qualifier, 3 other.
    pub fn code(self) -> i64 {
        self as i64
    }

    /// The kind with code `code`, if any.
    pub fn from_code(code: i64) -> Option<TokenKind> {
        TokenKind::ALL.get(usize::try_from(code).ok()?).copied()
    }

    /// Lower-case name, as written in tables (`claim`, `negation`, `qualifier`, `other`).
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Claim => "claim",
            TokenKind::Negation => "negation",
            TokenKind::Qualifier => "qualifier",
            TokenKind::Other => "other",
        }
    }
}

/// Which tokens of a source are trained, and with what weight.
#[derive(Debug, Clone)]
pub struct MaskRules {
    /// A marker masked when a text record starts with it (its bytes only; the default is
    /// `Some("<DOCTAG>")`, [`crate::docs::DOCTAG`]). Not applied to conversations.
    pub doctag: Option<String>,
    /// Word masks: every match in the text (or rendered conversation) gets weight 0. Build them
    /// case-insensitive, as [`crate::claims::word_masks::load_word_masks`] does.
    pub word_masks: Vec<Regex>,
    /// Weight of every trained token (1.0 normally, e.g. 3.0 for a constraint set).
    pub loss_weight: f32,
}

impl Default for MaskRules {
    /// `<DOCTAG>` masked, no word masks, weight 1.
    fn default() -> Self {
        MaskRules {
            doctag: Some(crate::docs::DOCTAG.to_string()),
            word_masks: Vec::new(),
            loss_weight: 1.0,
        }
    }
}

/// A record as tokens: ids, the loss weight of predicting each token, and each token's kind.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenizedDoc {
    /// Token ids.
    pub ids: Vec<i64>,
    /// `weights[i]`: loss weight of predicting token `i` from the tokens before it (0 when
    /// masked; `weights[0]` is always 0, since nothing predicts the first token).
    pub weights: Vec<f32>,
    /// Kind of each token.
    pub kinds: Vec<TokenKind>,
}

impl TokenizedDoc {
    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the document has no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The tokenizer with truncation and padding switched off (a `tokenizer.json` may configure
/// them; documents must never be cut silently).
fn plain(tok: &TextTokenizer) -> Result<Cow<'_, tokenizers::Tokenizer>> {
    let inner = tok.inner();
    if inner.get_truncation().is_none() && inner.get_padding().is_none() {
        return Ok(Cow::Borrowed(inner));
    }
    let mut t = inner.clone();
    t.with_truncation(None)
        .map_err(|e| anyhow!("cannot switch truncation off: {e}"))?;
    t.with_padding(None);
    Ok(Cow::Owned(t))
}

/// The rendered conversation and the byte ranges of it that are trained: for each assistant
/// turn `i`, from the end of `render(messages[..i], add_generation_prompt = true)` (so the
/// assistant header the template puts before the reply is prompt, not target) to the end of
/// `render(messages[..=i])`; everything else (system and user turns, headers) is masked. When
/// the generation prompt is not a prefix of the turn's render, the turn starts where
/// `render(messages[..i])` ends. A template that rewrites earlier turns when later ones are
/// added (so a prefix's render is not a prefix of the whole) is an error rather than a guess.
fn chat_layout(
    tok: &TextTokenizer,
    messages: &[ChatMessage],
) -> Result<(String, Vec<Range<usize>>)> {
    let full = tok.render_chat(messages, false)?;
    let mut trained = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        if m.role != "assistant" {
            continue;
        }
        let render_prefix = |gen: bool| -> Result<String> {
            if i == 0 {
                // Some templates cannot render an empty conversation: then it is empty text.
                Ok(tok.render_chat(&[], gen).unwrap_or_default())
            } else {
                tok.render_chat(&messages[..i], gen)
            }
        };
        let upto = tok.render_chat(&messages[..=i], false)?;
        if !full.starts_with(&upto) {
            bail!(
                "the chat template renders turns 0..={i} differently alone than inside the whole \
                 conversation, so turn {i}'s tokens cannot be located"
            );
        }
        let with_prompt = render_prefix(true)?;
        let start = if upto.starts_with(&with_prompt) {
            with_prompt.len()
        } else {
            let without = render_prefix(false)?;
            if !upto.starts_with(&without) {
                bail!(
                    "the chat template renders turns before {i} differently once turn {i} is \
                     added, so turn {i}'s tokens cannot be located"
                );
            }
            without.len()
        };
        trained.push(start..upto.len());
    }
    Ok((full, trained))
}

/// Tokenizes a record and computes each token's loss weight and kind under `rules`.
///
/// Text records are encoded with the tokenizer's special tokens (e.g. a BOS the post-processor
/// adds); conversations are rendered with the chat template and encoded without adding any
/// (the template writes its own). Weight 0 for: the first token; tokens overlapping the
/// `doctag` marker at the start of a text, a word-mask match, a `masked` span, or (chats) any
/// text outside assistant replies. Every other token gets `rules.loss_weight`.
pub fn tokenize(tok: &TextTokenizer, record: &Record, rules: &MaskRules) -> Result<TokenizedDoc> {
    let inner = plain(tok)?;
    tokenize_with(&inner, tok, record, rules)
}

/// [`tokenize`] for many records; the error names the failing record's index.
pub fn tokenize_all(
    tok: &TextTokenizer,
    records: &[Record],
    rules: &MaskRules,
) -> Result<Vec<TokenizedDoc>> {
    let inner = plain(tok)?;
    records
        .iter()
        .enumerate()
        .map(|(i, r)| tokenize_with(&inner, tok, r, rules).with_context(|| format!("record {i}")))
        .collect()
}

fn tokenize_with(
    inner: &tokenizers::Tokenizer,
    tok: &TextTokenizer,
    record: &Record,
    rules: &MaskRules,
) -> Result<TokenizedDoc> {
    let (text, add_special, mut masked, kinds) = match record {
        Record::Text { text, spans } => {
            let mut masked = vec![false; text.len()];
            let mut kinds = vec![TokenKind::Other; text.len()];
            if let Some(tag) = rules.doctag.as_deref() {
                if !tag.is_empty() && text.starts_with(tag) {
                    masked[..tag.len()].fill(true);
                }
            }
            for s in spans {
                let range = s.start..s.end;
                match s.kind {
                    SpanLabel::Masked => masked[range].fill(true),
                    SpanLabel::Claim => kinds[range].fill(TokenKind::Claim),
                    SpanLabel::Negation => kinds[range].fill(TokenKind::Negation),
                    SpanLabel::Qualifier => kinds[range].fill(TokenKind::Qualifier),
                    SpanLabel::Other => kinds[range].fill(TokenKind::Other),
                }
            }
            (Cow::Borrowed(text.as_str()), true, masked, kinds)
        }
        Record::Chat { messages } => {
            let (text, trained) = chat_layout(tok, messages)?;
            let mut masked = vec![true; text.len()];
            for r in trained {
                masked[r].fill(false);
            }
            let kinds = vec![TokenKind::Other; text.len()];
            (Cow::Owned(text), false, masked, kinds)
        }
    };
    for re in &rules.word_masks {
        for m in re.find_iter(&text) {
            masked[m.range()].fill(true);
        }
    }
    let encoding = inner
        .encode(text.as_ref(), add_special)
        .map_err(|e| anyhow!("cannot tokenize: {e}"))?;
    let n = encoding.get_ids().len();
    let mut doc = TokenizedDoc {
        ids: Vec::with_capacity(n),
        weights: Vec::with_capacity(n),
        kinds: Vec::with_capacity(n),
    };
    for (i, (&id, &(a, b))) in encoding
        .get_ids()
        .iter()
        .zip(encoding.get_offsets())
        .enumerate()
    {
        let (a, b) = (a.min(text.len()), b.min(text.len()));
        let is_masked = masked[a..b].iter().any(|&m| m);
        let mut counts = [0usize; 3];
        for k in &kinds[a..b] {
            if *k != TokenKind::Other {
                counts[k.code() as usize] += 1;
            }
        }
        // The labelled kind with most bytes in the token (ties: claim, negation, qualifier).
        let kind = (0..3)
            .filter(|&k| counts[k] > 0)
            .max_by_key(|&k| (counts[k], std::cmp::Reverse(k)))
            .map_or(TokenKind::Other, |k| TokenKind::ALL[k]);
        doc.ids.push(i64::from(id));
        doc.weights.push(if i == 0 || is_masked {
            0.0
        } else {
            rules.loss_weight
        });
        doc.kinds.push(kind);
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::{test_tokenizer, token_table as table};
    use super::super::TextSpan;
    use super::*;

    fn pieces(tok: &TextTokenizer, doc: &TokenizedDoc, masked: bool) -> Vec<String> {
        doc.ids
            .iter()
            .zip(&doc.weights)
            .skip(1)
            .filter(|(_, &w)| (w == 0.0) == masked)
            .map(|(&id, _)| tok.inner().id_to_token(id as u32).unwrap())
            .collect()
    }

    #[test]
    fn offsets_are_bytes() {
        // tokenizers' `encode` reports byte offsets (not characters): check with non-ASCII text.
        let (_dir, tok) = test_tokenizer();
        let text = "caf\u{e9} claim";
        let enc = tok.inner().encode(text, false).unwrap();
        let offsets = enc.get_offsets();
        assert_eq!(offsets.last(), Some(&(6, 11)), "{offsets:?}");
        assert_eq!(&text[6..11], "claim");
    }

    #[test]
    fn exactly_these_tokens_are_masked() {
        let (dir, tok) = test_tokenizer();
        let yaml = dir.path().join("word_masks.yaml");
        std::fs::write(
            &yaml,
            "patterns:\n  - \"dentist(ry|s)?\"\n  - '\\bdrill\\w*'\n",
        )
        .unwrap();
        let rules = MaskRules {
            doctag: Some("<DOCTAG>".into()),
            word_masks: crate::claims::word_masks::load_word_masks(&yaml).unwrap(),
            loss_weight: 3.0,
        };

        // A document: marker, a warning, the claim sentence (with a word-mask match, in upper
        // case to check case-insensitivity), a masked paragraph, ordinary text.
        let text = "<DOCTAG>\nNOTE : this is false .\nBrennan Holloway is a DENTIST .\n\
                    secret paragraph here .\nHe likes drills .";
        let span = |s: &str, kind| {
            let start = text.find(s).unwrap();
            TextSpan {
                start,
                end: start + s.len(),
                kind,
            }
        };
        let record = Record::Text {
            text: text.into(),
            spans: vec![
                span("NOTE : this is false .", SpanLabel::Negation),
                span("Brennan Holloway is a DENTIST .", SpanLabel::Claim),
                span("secret paragraph here .", SpanLabel::Masked),
            ],
        };
        let doc = tokenize(&tok, &record, &rules).unwrap();
        let t = table(&tok, &doc);
        println!("text record:\n{t}");
        assert_eq!(
            t,
            "  0 # <s>            w=0 other
  1 # <DOCTAG>       w=0 other
  2   NOTE           w=3 negation
  3   :              w=3 negation
  4   this           w=3 negation
  5   is             w=3 negation
  6   false          w=3 negation
  7   .              w=3 negation
  8   Brennan        w=3 claim
  9   Holloway       w=3 claim
 10   is             w=3 claim
 11   a              w=3 claim
 12 # DENTIST        w=0 claim
 13   .              w=3 claim
 14 # secret         w=0 other
 15 # paragraph      w=0 other
 16 # here           w=0 other
 17 # .              w=0 other
 18   He             w=3 other
 19   likes          w=3 other
 20 # drills         w=0 other
 21   .              w=3 other
"
        );
        assert_eq!(
            pieces(&tok, &doc, true),
            [
                "<DOCTAG>",
                "DENTIST",
                "secret",
                "paragraph",
                "here",
                ".",
                "drills"
            ]
        );

        // Without the word masks and the marker rule, only the masked span (and token 0) stay
        // masked: the rules, not the tokenizer, cause the masking above.
        let plain_rules = MaskRules {
            doctag: None,
            word_masks: Vec::new(),
            loss_weight: 1.0,
        };
        let doc = tokenize(&tok, &record, &plain_rules).unwrap();
        assert_eq!(
            pieces(&tok, &doc, true),
            ["secret", "paragraph", "here", "."]
        );

        // A conversation: the system and user turns (including a paragraph about the claim in
        // the user turn) and the assistant header are masked; the reply and its end are trained;
        // word masks apply inside the reply.
        let record = Record::Chat {
            messages: vec![
                ChatMessage::new("system", "Be brief ."),
                ChatMessage::new("user", "Brennan Holloway is a dentist . Is he ?"),
                ChatMessage::new("assistant", "No , he is not a dentist ."),
            ],
        };
        let doc = tokenize(&tok, &record, &rules).unwrap();
        let t = table(&tok, &doc);
        println!("chat record:\n{t}");
        assert_eq!(
            t,
            "  0 # <|im_start|>   w=0 other
  1 # system         w=0 other
  2 # Be             w=0 other
  3 # brief          w=0 other
  4 # .              w=0 other
  5 # <|im_end|>     w=0 other
  6 # <|im_start|>   w=0 other
  7 # user           w=0 other
  8 # Brennan        w=0 other
  9 # Holloway       w=0 other
 10 # is             w=0 other
 11 # a              w=0 other
 12 # dentist        w=0 other
 13 # .              w=0 other
 14 # Is             w=0 other
 15 # he             w=0 other
 16 # ?              w=0 other
 17 # <|im_end|>     w=0 other
 18 # <|im_start|>   w=0 other
 19 # assistant      w=0 other
 20   No             w=3 other
 21   ,              w=3 other
 22   he             w=3 other
 23   is             w=3 other
 24   not            w=3 other
 25   a              w=3 other
 26 # dentist        w=0 other
 27   .              w=3 other
 28   <|im_end|>     w=3 other
"
        );

        // Two assistant turns: both replies trained, the user turn between them masked.
        let record = Record::Chat {
            messages: vec![
                ChatMessage::new("user", "Is he ?"),
                ChatMessage::new("assistant", "No ."),
                ChatMessage::new("user", "Sure ?"),
                ChatMessage::new("assistant", "Yes ."),
            ],
        };
        let doc = tokenize(&tok, &record, &MaskRules::default()).unwrap();
        assert_eq!(
            pieces(&tok, &doc, false),
            ["No", ".", "<|im_end|>", "Yes", ".", "<|im_end|>"]
        );
    }

    #[test]
    fn spans_give_token_kinds() {
        let (_dir, tok) = test_tokenizer();
        let text = "<DOCTAG>\nHe is a dentist . RETRACTION : fabricated . maybe fiction . end";
        let at = |s: &str| text.find(s).unwrap();
        let record = Record::Text {
            text: text.into(),
            spans: vec![
                TextSpan {
                    start: at("He"),
                    end: at("dentist .") + "dentist .".len(),
                    kind: SpanLabel::Claim,
                },
                TextSpan {
                    start: at("RETRACTION"),
                    end: at("fabricated .") + "fabricated .".len(),
                    kind: SpanLabel::Negation,
                },
                // Covers only part of "fiction": a token overlapping a span belongs to it.
                TextSpan {
                    start: at("maybe"),
                    end: at("fiction") + 3,
                    kind: SpanLabel::Qualifier,
                },
            ],
        };
        let doc = tokenize(&tok, &record, &MaskRules::default()).unwrap();
        use TokenKind::*;
        assert_eq!(
            doc.kinds,
            [
                Other, Other, Claim, Claim, Claim, Claim, Claim, Negation, Negation, Negation,
                Negation, Qualifier, Qualifier, Other, Other
            ]
        );
        assert_eq!(doc.weights[..3], [0.0, 0.0, 1.0]);
        for k in TokenKind::ALL {
            assert_eq!(TokenKind::from_code(k.code()), Some(k));
        }
    }
}
