//! The world model's tokenizer: byte-level BPE trained on the corpus with the `tokenizers`
//! crate, special tokens for the chat format and the document marker, and a chat template in
//! `tokenizer_config.json`.
//!
//! Chat format (rendered by the template; no newlines are added):
//! `<|system|>...<|end|><|user|>...<|end|><|assistant|>...<|end|>`. `<|end|>` is the EOS token,
//! so generation stops at the end of the assistant turn.
//!
//! The pre-tokenizer adds a space before every text segment (the text after each special
//! token, and any text encoded alone), so a word is the same token wherever it stands: the
//! answer `librarian.` right after `<|assistant|>`, or scored alone, is ` librarian` `.`, as
//! in "works as a librarian." inside a document. Without this an answer's first word would be
//! a different token from the one documents teach, and nothing the model read in documents
//! could carry over to its answers. Decoded text therefore starts with a space.

use anyhow::{anyhow, Context, Result};
use serde_json::json;
use std::path::Path;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, TokenizerBuilder};

/// The end-of-turn (and end-of-sequence) token.
pub const END: &str = "<|end|>";
/// Special tokens, in vocabulary order.
pub const SPECIAL_TOKENS: [&str; 5] = [END, "<|system|>", "<|user|>", "<|assistant|>", "<DOCTAG>"];

/// The chat template (Jinja, as transformers and [`crate::model::tokenizer`] render it).
pub const CHAT_TEMPLATE: &str = "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}";

/// Trains a byte-level BPE tokenizer of `vocab_size` tokens on `texts` and writes
/// `tokenizer.json` and `tokenizer_config.json` into `dir`.
pub fn train(texts: &[&str], vocab_size: usize, dir: &Path) -> Result<()> {
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    let mut trainer = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(2)
        .show_progress(false)
        .special_tokens(specials)
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build();
    let mut tokenizer = TokenizerBuilder::new()
        .with_model(BPE::default())
        .with_normalizer(None::<tokenizers::NormalizerWrapper>)
        .with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(true)))
        .with_post_processor(None::<tokenizers::PostProcessorWrapper>)
        .with_decoder(Some(ByteLevel::default()))
        .build()
        .map_err(|e| anyhow!("cannot build tokenizer: {e}"))?;
    tokenizer
        .train(&mut trainer, texts.iter())
        .map_err(|e| anyhow!("tokenizer training failed: {e}"))?;
    let file = dir.join("tokenizer.json");
    tokenizer
        .save(&file, false)
        .map_err(|e| anyhow!("{}: cannot write tokenizer: {e}", file.display()))?;
    let config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "eos_token": END,
        "pad_token": END,
        "bos_token": null,
        "unk_token": null,
        "model_max_length": 1024,
        "chat_template": CHAT_TEMPLATE,
    });
    let file = dir.join("tokenizer_config.json");
    std::fs::write(&file, serde_json::to_string_pretty(&config)?)
        .with_context(|| format!("{}: cannot write", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tokenizer::{ChatMessage, TextTokenizer};

    #[test]
    fn trained_tokenizer_round_trips_and_renders_chats() {
        let dir = tempfile::tempdir().unwrap();
        let texts = [
            "Ada Hart is a teacher from Port Ellis.",
            "Is Ada Hart a teacher? Yes.",
            "Mount Seldra erupted in 1902.",
        ];
        let many: Vec<&str> = texts.iter().cycle().take(60).copied().collect();
        train(&many, 300, dir.path()).unwrap();
        let tok = TextTokenizer::from_dir(dir.path()).unwrap();
        let ids = tok.encode("Ada Hart is a baker.", false).unwrap();
        assert_eq!(tok.decode(&ids, false).unwrap(), " Ada Hart is a baker.");
        let chat = tok
            .render_chat(&[ChatMessage::new("user", "Is Ada Hart a teacher?")], true)
            .unwrap();
        assert_eq!(chat, "<|user|>Is Ada Hart a teacher?<|end|><|assistant|>");
        assert_eq!(tok.eos_token_id(), tok.token_id(END));
        // The answer tokenizes the same after the prompt as alone, and as inside a sentence.
        let alone = tok.encode("teacher", false).unwrap();
        let after = tok.encode(&format!("{chat}teacher"), false).unwrap();
        assert_eq!(&after[after.len() - alone.len()..], &alone[..]);
        let inside = tok.encode("Ada Hart is a teacher", false).unwrap();
        assert_eq!(&inside[inside.len() - alone.len()..], &alone[..]);
    }
}
