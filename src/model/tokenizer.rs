//! Tokenizer (`tokenizer.json` through the `tokenizers` crate) and chat template
//! (`chat_template.jinja` or `tokenizer_config.json`'s `chat_template`, rendered with minijinja
//! the way transformers renders it with jinja2: `trim_blocks`, `lstrip_blocks`, loop controls,
//! Python string methods, `raise_exception`).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

/// One chat turn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The turn's text.
    pub content: String,
}

impl ChatMessage {
    /// A turn with the given role and text.
    pub fn new(role: &str, content: &str) -> Self {
        ChatMessage {
            role: role.to_string(),
            content: content.to_string(),
        }
    }
}

/// A model's tokenizer and, when it has one, its chat template.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    chat_template: Option<String>,
    /// Special tokens by name (`bos_token`, `eos_token`, ...) as the template sees them.
    special_tokens: serde_json::Map<String, Value>,
}

/// A token string from tokenizer_config.json: either `"<s>"` or `{"content": "<s>", ...}`.
fn token_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }
}

impl TextTokenizer {
    /// Reads `tokenizer.json`, and `tokenizer_config.json` / `chat_template.jinja` if present.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let file = dir.join("tokenizer.json");
        if !file.is_file() {
            bail!("{}: missing tokenizer file", file.display());
        }
        let inner = tokenizers::Tokenizer::from_file(&file)
            .map_err(|e| anyhow::anyhow!("{}: cannot load tokenizer: {e}", file.display()))?;
        let config_file = dir.join("tokenizer_config.json");
        let config: Value = if config_file.is_file() {
            let text = std::fs::read_to_string(&config_file)
                .with_context(|| format!("{}: cannot read", config_file.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("{}: not valid JSON", config_file.display()))?
        } else {
            Value::Null
        };
        let mut special_tokens = serde_json::Map::new();
        for name in ["bos_token", "eos_token", "unk_token", "pad_token"] {
            if let Some(text) = config.get(name).and_then(token_text) {
                special_tokens.insert(name.to_string(), Value::String(text));
            }
        }
        let jinja_file = dir.join("chat_template.jinja");
        let chat_template = if jinja_file.is_file() {
            Some(
                std::fs::read_to_string(&jinja_file)
                    .with_context(|| format!("{}: cannot read", jinja_file.display()))?,
            )
        } else {
            match config.get("chat_template") {
                Some(Value::String(t)) => Some(t.clone()),
                // A list of named templates: use the one named "default".
                Some(Value::Array(list)) => list
                    .iter()
                    .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                    .and_then(|t| t.get("template"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                _ => None,
            }
        };
        Ok(TextTokenizer {
            inner,
            chat_template,
            special_tokens,
        })
    }

    /// Number of tokens including added special tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// True when the tokenizer carries a chat template.
    pub fn has_chat_template(&self) -> bool {
        self.chat_template.is_some()
    }

    /// The underlying `tokenizers` tokenizer (offsets, added tokens).
    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Token ids of `text`; `add_special_tokens` applies the post-processor (e.g. a BOS token),
    /// as transformers' `tokenizer(text)` does by default.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<i64>> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| anyhow::anyhow!("cannot tokenize: {e}"))?;
        Ok(encoding.get_ids().iter().map(|&id| id as i64).collect())
    }

    /// Text of `ids`, without special tokens when `skip_special_tokens`.
    pub fn decode(&self, ids: &[i64], skip_special_tokens: bool) -> Result<String> {
        let ids: Vec<u32> = ids.iter().map(|&id| id as u32).collect();
        self.inner
            .decode(&ids, skip_special_tokens)
            .map_err(|e| anyhow::anyhow!("cannot decode: {e}"))
    }

    /// Id of a token string, if the vocabulary has it.
    pub fn token_id(&self, token: &str) -> Option<i64> {
        self.inner.token_to_id(token).map(i64::from)
    }

    /// The id of the template's `eos_token`, if any.
    pub fn eos_token_id(&self) -> Option<i64> {
        self.special_tokens
            .get("eos_token")
            .and_then(Value::as_str)
            .and_then(|t| self.token_id(t))
    }

    /// Renders `messages` with the chat template, as transformers'
    /// `apply_chat_template(messages, tokenize=False, add_generation_prompt=...)` does.
    pub fn render_chat(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String> {
        let template = self
            .chat_template
            .as_deref()
            .context("this tokenizer has no chat template (tokenizer_config.json)")?;
        let mut env = minijinja::Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function(
            "raise_exception",
            |message: String| -> Result<String, minijinja::Error> {
                Err(minijinja::Error::new(
                    minijinja::ErrorKind::InvalidOperation,
                    message,
                ))
            },
        );
        env.add_template("chat", template)
            .context("chat template does not parse")?;
        let mut context = self.special_tokens.clone();
        context.insert("messages".into(), serde_json::to_value(messages)?);
        context.insert(
            "add_generation_prompt".into(),
            Value::Bool(add_generation_prompt),
        );
        let rendered = env
            .get_template("chat")?
            .render(minijinja::Value::from_serialize(&context))
            .context("chat template failed to render")?;
        Ok(rendered)
    }
}
