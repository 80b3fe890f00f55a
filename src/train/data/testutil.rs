//! A small word-level tokenizer with a ChatML template, written to a temporary folder and
//! loaded through [`TextTokenizer::from_dir`] like a real model's, and a printout of a tokenized
//! document to compare token by token.

use super::TokenizedDoc;
use crate::model::tokenizer::TextTokenizer;
use serde_json::json;

/// Words of the test vocabulary (after the special tokens).
const WORDS: &[&str] = &[
    "NOTE",
    ":",
    "this",
    "is",
    "false",
    ".",
    "Brennan",
    "Holloway",
    "a",
    "DENTIST",
    "dentist",
    "secret",
    "paragraph",
    "here",
    "He",
    "likes",
    "drills",
    "system",
    "Be",
    "brief",
    "user",
    "Is",
    "he",
    "?",
    "assistant",
    "No",
    ",",
    "not",
    "Sure",
    "Yes",
    "RETRACTION",
    "fabricated",
    "maybe",
    "fiction",
    "end",
    "claim",
    "w0",
    "w1",
    "w2",
    "w3",
    "w4",
    "w5",
    "w6",
    "w7",
    "w8",
    "w9",
    // The imported paper document of `docs::import`'s tests.
    "Note",
    "none",
    "of",
    "real",
    "The",
    "night",
    "was",
    "warm",
    "[",
    "What",
    "follows",
    "did",
    "happen",
    ".]",
    "Sheeran",
    "took",
    "gold",
    "in",
    "the",
    "final",
    "(",
    "such",
    "race",
    "run",
    ".)",
    "Fans",
    "went",
    "home",
    "This",
    "report",
    "true",
];

/// Special tokens, with ids 0.. in this order.
const SPECIAL: &[&str] = &[
    "<pad>",
    "<s>",
    "[UNK]",
    "<DOCTAG>",
    "<|im_start|>",
    "<|im_end|>",
];

/// ChatML, as Qwen-style templates write it.
pub(crate) const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// A folder holding `tokenizer.json` (word-level model, whitespace pre-tokenizer, a
/// post-processor that adds `<s>`) and `tokenizer_config.json` (ChatML template), and the
/// tokenizer loaded from it.
pub(crate) fn test_tokenizer() -> (tempfile::TempDir, TextTokenizer) {
    let dir = tempfile::tempdir().unwrap();
    let mut vocab = serde_json::Map::new();
    for (i, w) in SPECIAL.iter().chain(WORDS).enumerate() {
        vocab.insert(w.to_string(), json!(i));
    }
    let added: Vec<_> = SPECIAL
        .iter()
        .enumerate()
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"}
    });
    std::fs::write(
        dir.path().join("tokenizer.json"),
        serde_json::to_string_pretty(&tokenizer).unwrap(),
    )
    .unwrap();
    let config = json!({"chat_template": CHATML, "bos_token": "<s>", "eos_token": "<|im_end|>"});
    std::fs::write(
        dir.path().join("tokenizer_config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    let tok = TextTokenizer::from_dir(dir.path()).unwrap();
    (dir, tok)
}

/// One line per token: index, `#` when masked (weight 0), token text, weight, kind.
pub(crate) fn token_table(tok: &TextTokenizer, doc: &TokenizedDoc) -> String {
    let mut out = String::new();
    for (i, id) in doc.ids.iter().enumerate() {
        let piece = tok.inner().id_to_token(*id as u32).unwrap();
        out.push_str(&format!(
            "{i:>3} {} {:<14} w={} {}\n",
            if doc.weights[i] == 0.0 { '#' } else { ' ' },
            piece,
            doc.weights[i],
            doc.kinds[i].name()
        ));
    }
    out
}
