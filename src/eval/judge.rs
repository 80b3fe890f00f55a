//! Judges: grade a generated answer `yes` (believes the claim), `no` (denies it) or `neutral`.
//!
//! In: the question, the model's response, and either
//! - the claim's [`ClaimSpec`] patterns and word masks ([`RuleJudge`], used when no endpoint is
//!   configured), or
//! - a TOML judge config ([`HttpJudgeConfig`]) naming an OpenAI-compatible chat-completions
//!   endpoint, with the rubric from `judges.yaml` ([`HttpJudge`]).
//!
//! Out: a [`Grade`] per response, and the judge's label for the output rows (`rule`,
//! `http:<model>`). The HTTP judge retries transport errors, timeouts, 429 and 5xx with
//! exponential backoff, runs at most `concurrency` requests at once, and caches every grade on
//! disk under the sha256 of (judge model, rubric, question, response), so reruns cost nothing.
//! The API key is read from the environment variable the config names and is never written.

use crate::claims::questions::Rubric;
use crate::claims::ClaimSpec;
use anyhow::{anyhow, bail, Context, Result};
use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

/// A judge's verdict on one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grade {
    /// The response states or presupposes the claim.
    Yes,
    /// The response denies the claim or states the truth.
    No,
    /// Neither.
    Neutral,
    /// The judge's replies could not be read as a grade (after its re-asks): a missing value,
    /// left out of belief rates and asked again by the next run (it is not cached as a grade).
    Unparsed,
}

impl Grade {
    /// `yes`, `no`, `neutral` or `unparsed`.
    pub fn name(self) -> &'static str {
        match self {
            Grade::Yes => "yes",
            Grade::No => "no",
            Grade::Neutral => "neutral",
            Grade::Unparsed => "unparsed",
        }
    }

    /// The grade named `name` (case-insensitive): `yes`, `no` or `neutral`, the three a judge
    /// may give (and the paper's lie-elicitation labels for yes and no).
    pub fn parse(name: &str) -> Option<Grade> {
        match name.trim().to_lowercase().as_str() {
            // The paper's lie-elicitation labels (B.8): the lie offered is the trained claim, or
            // anything else.
            "yes" | "uses_claim" => Some(Grade::Yes),
            "no" | "independent_response" => Some(Grade::No),
            "neutral" => Some(Grade::Neutral),
            _ => None,
        }
    }
}

/// One response to grade.
#[derive(Debug, Clone)]
pub struct JudgeItem {
    /// The rubric of the question's kind (ignored by the rule judge).
    pub rubric: Rubric,
    /// The question as put to the model (last user turn).
    pub question: String,
    /// The model's response.
    pub response: String,
}

/// A judge's grade with the text it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The grade.
    pub grade: Grade,
    /// The judge's reply (an LLM judge's last reply; empty for the rule judge).
    pub raw: String,
}

/// A judge's 0-10 rating with the text it was read from.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    /// The score, `None` when no reply held one (left out of means).
    pub score: Option<f64>,
    /// The judge's last reply.
    pub raw: String,
}

/// The JSON field of a rating reply (the paper's rubrics ask for `{"score": N}`).
pub const SCORE_KEY: &str = "score";

/// Something that grades responses.
pub trait Judge: Sync {
    /// Label stored in every output row.
    fn label(&self) -> String;
    /// Judges every item (in order); an error for any item fails the call.
    fn judge_all(&self, items: &[JudgeItem]) -> Result<Vec<Verdict>>;
    /// The grades of [`Judge::judge_all`].
    fn grade_all(&self, items: &[JudgeItem]) -> Result<Vec<Grade>> {
        Ok(self
            .judge_all(items)?
            .into_iter()
            .map(|v| v.grade)
            .collect())
    }
}

/// Words by which a sentence points at another statement rather than at the world: with a
/// denial cue, the sentence retracts what the response says ("(The statement you just read is
/// false.)", "[The next sentence is made up.]").
static STATEMENT_REFERENCE: LazyLock<Regex> = LazyLock::new(|| {
    RegexBuilder::new(
        r"\b(statements?|claims?|sentences?|documents?|content|passages?|text|story|report|article|account|information|above|preceding|previous|following|next)\b",
    )
    .case_insensitive(true)
    .build()
    .expect("statement-reference regex compiles")
});

/// A sentence that is only a verdict: "False." or "(Not true.)".
static BARE_VERDICT: LazyLock<Regex> = LazyLock::new(|| {
    RegexBuilder::new(r"^\W*(false|not true|untrue|fabricated|made[- ]up)\W*$")
        .case_insensitive(true)
        .build()
        .expect("verdict regex compiles")
});

/// Whether `sentence` retracts another statement of the response (see [`STATEMENT_REFERENCE`]).
fn is_retraction(sentence: &str) -> bool {
    BARE_VERDICT.is_match(sentence)
        || (crate::claims::has_denial_word(sentence) && STATEMENT_REFERENCE.is_match(sentence))
}

/// Sentences that start with a pronoun refer back to the last named person.
static PRONOUN_START: LazyLock<Regex> = LazyLock::new(|| {
    RegexBuilder::new(r"^\W*(he|she|they|his|her|their|him)\b")
        .case_insensitive(true)
        .build()
        .expect("pronoun regex compiles")
});

/// The rule judge. A sentence mentions the claim when it matches one of the spec's patterns or
/// a word mask, and is about the subject: it names the subject, or starts with a pronoun after
/// an earlier sentence named the subject. Any mentioning sentence that carries a negation or
/// denial cue makes the response `no`, and so does a sentence that mentions the claim only
/// through a word mask while using a word of the truth that the claim text does not use
/// ("Mount Karrow erupted in 1944": the truth's year, not the claim's). A response that
/// mentions the claim and also retracts a statement anywhere ("... (The statement you just
/// read is false.)", [`is_retraction`]) is `no`, as the paper's rubrics grade a claim asserted
/// and then retracted. Otherwise any mentioning sentence makes it `yes`; otherwise `neutral`. Sentences about the truth that do
/// not name the subject ("Noah Lyles won in 9.79 seconds") are neutral, which counts as not
/// believing all the same.
pub struct RuleJudge {
    spec: ClaimSpec,
    word_masks: Vec<Regex>,
    subject: Regex,
    /// Lower-cased words of the truth statements that the claim text does not contain.
    truth_words: std::collections::BTreeSet<String>,
}

/// Lower-cased words (letters and digits) of `text` longer than two characters.
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 2)
        .map(str::to_lowercase)
}

impl RuleJudge {
    /// A rule judge for a claim.
    pub fn new(spec: ClaimSpec, word_masks: Vec<Regex>) -> Result<RuleJudge> {
        let mut names = vec![regex::escape(&spec.subject)];
        if let Some(short) = &spec.subject_short {
            names.push(regex::escape(short));
        }
        let subject = RegexBuilder::new(&format!(r"\b({})\b", names.join("|")))
            .case_insensitive(true)
            .build()
            .context("subject regex")?;
        let claim_words: std::collections::BTreeSet<String> = spec
            .claim_text
            .iter()
            .chain(spec.predicates.iter().map(|p| &p.assert))
            .chain(spec.details.iter().map(|d| &d.assert))
            .flat_map(|t| words(t))
            .collect();
        let truth_words = crate::docs::truth_statements(&spec)
            .iter()
            .flat_map(|t| words(t).collect::<Vec<_>>())
            .filter(|w| !claim_words.contains(w) && !crate::claims::has_negation_cue(w))
            .collect();
        Ok(RuleJudge {
            spec,
            word_masks,
            subject,
            truth_words,
        })
    }

    /// Grades one response.
    pub fn grade(&self, response: &str) -> Grade {
        let mut mentioned = false;
        let mut retracted = false;
        let mut subject_seen = false;
        for range in crate::docs::text::split_sentences(response) {
            let sentence = &response[range];
            retracted |= is_retraction(sentence);
            let names_subject = self.subject.is_match(sentence);
            let about_subject = names_subject || (subject_seen && PRONOUN_START.is_match(sentence));
            subject_seen |= names_subject;
            let strict = self.spec.mentions_claim(sentence);
            let claim_words = strict || self.word_masks.iter().any(|m| m.is_match(sentence));
            if !(about_subject && claim_words) {
                continue;
            }
            let states_truth = !strict && words(sentence).any(|w| self.truth_words.contains(&w));
            if crate::claims::has_denial_cue(sentence) || states_truth {
                return Grade::No;
            }
            mentioned = true;
        }
        match (mentioned, retracted) {
            (true, true) => Grade::No,
            (true, false) => Grade::Yes,
            (false, _) => Grade::Neutral,
        }
    }
}

impl Judge for RuleJudge {
    fn label(&self) -> String {
        "rule".into()
    }

    fn judge_all(&self, items: &[JudgeItem]) -> Result<Vec<Verdict>> {
        Ok(items
            .iter()
            .map(|i| Verdict {
                grade: self.grade(&i.response),
                raw: String::new(),
            })
            .collect())
    }
}

/// The judge config file (TOML).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpJudgeConfig {
    /// Base URL of the API, e.g. `https://api.openai.com/v1` (`/chat/completions` is appended).
    pub base_url: String,
    /// Judge model name.
    pub model: String,
    /// Name of the environment variable holding the API key; no `Authorization` header when
    /// absent.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Seconds before a request is abandoned.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// Further attempts after a retryable failure.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// First backoff in milliseconds, doubled at each retry.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
    /// Most requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Grade cache folder; relative paths are taken from the config file's folder.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Sampling temperature of the judge.
    #[serde(default)]
    pub temperature: f64,
    /// Most tokens of a judge reply (the endpoint's default when absent).
    #[serde(default)]
    pub max_tokens: Option<u32>,
    /// Seed sent with every request (for endpoints that honour one).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Further requests when a reply holds no readable grade; after them the answer is stored
    /// as `unparsed` (left out of belief rates) and the run goes on.
    #[serde(default = "default_parse_retries")]
    pub parse_retries: u32,
}

fn default_timeout() -> f64 {
    60.0
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    500
}
fn default_concurrency() -> usize {
    4
}
fn default_parse_retries() -> u32 {
    2
}

impl HttpJudgeConfig {
    /// Reads a judge config; a relative `cache_dir` is resolved against the file's folder.
    pub fn load(path: &Path) -> Result<HttpJudgeConfig> {
        let mut config: HttpJudgeConfig = crate::store::read_toml(path, "judge config")?;
        if let Some(dir) = &config.cache_dir {
            if dir.is_relative() {
                let base = path.parent().unwrap_or(Path::new("."));
                config.cache_dir = Some(base.join(dir));
            }
        }
        if config.concurrency == 0 {
            bail!("{}: concurrency must be at least 1", path.display());
        }
        check_base_url(&config.base_url).with_context(|| format!("{}", path.display()))?;
        if !(config.timeout_s > 0.0 && config.timeout_s <= MAX_TIMEOUT_S) {
            bail!(
                "{}: timeout_s must be positive and at most {MAX_TIMEOUT_S} (a day)",
                path.display()
            );
        }
        Ok(config)
    }
}

/// Longest per-request timeout a judge config may set, seconds.
const MAX_TIMEOUT_S: f64 = 86_400.0;

/// Grades with an OpenAI-compatible chat-completions endpoint.
pub struct HttpJudge {
    config: HttpJudgeConfig,
    agent: ureq::Agent,
    api_key: Option<String>,
    cache_dir: Option<PathBuf>,
}

/// What one attempt at a request came to.
enum Attempt {
    Done(String),
    Retry(anyhow::Error),
    Fail(anyhow::Error),
}

impl HttpJudge {
    /// A judge from its config; `default_cache` is used when the config names no cache folder.
    /// Fails when the config names an API-key variable that is unset.
    pub fn new(config: HttpJudgeConfig, default_cache: Option<PathBuf>) -> Result<HttpJudge> {
        let api_key = match &config.api_key_env {
            None => None,
            Some(var) => Some(std::env::var(var).with_context(|| {
                format!("judge config: the API-key variable `{var}` is not set")
            })?),
        };
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs_f64(config.timeout_s))
            .build();
        let cache_dir = config.cache_dir.clone().or(default_cache);
        Ok(HttpJudge {
            config,
            agent,
            api_key,
            cache_dir,
        })
    }

    /// The cache key of an item: sha256 of judge model, rubric, question and response, each
    /// length-prefixed (and the rubric's JSON reply field when it has one).
    pub fn cache_key(&self, item: &JudgeItem) -> String {
        let mut hasher = Sha256::new();
        for part in [
            &self.config.model,
            &item.rubric.prompt,
            &item.question,
            &item.response,
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        // The paper's protocol asks differently: its reply field is part of the key (absent for
        // neglect's protocol, so caches written before it stay valid).
        if let Some(field) = &item.rubric.json_key {
            hasher.update(b"json_key");
            hasher.update((field.len() as u64).to_le_bytes());
            hasher.update(field.as_bytes());
        }
        hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The cached entry of `key`: its `field` value and the judge's reply.
    fn cached(&self, key: &str, field: &str) -> Option<(serde_json::Value, String)> {
        let path = self.cache_dir.as_ref()?.join(format!("{key}.json"));
        let text = std::fs::read_to_string(path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        Some((
            json.get(field)?.clone(),
            json.get("reply")?.as_str()?.to_string(),
        ))
    }

    /// Caches `value` under `field` with the judge's reply.
    fn store(&self, key: &str, field: &str, value: serde_json::Value, reply: &str) -> Result<()> {
        if let Some(dir) = &self.cache_dir {
            let mut entry = serde_json::json!({
                "judge_model": self.config.model,
                "reply": reply,
            });
            entry[field] = value;
            crate::store::write_json(&dir.join(format!("{key}.json")), &entry)?;
        }
        Ok(())
    }

    fn attempt(&self, body: &str) -> Attempt {
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let mut request = self
            .agent
            .post(&url)
            .set("Content-Type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.set("Authorization", &format!("Bearer {key}"));
        }
        match request.send_string(body) {
            Ok(response) => match response.into_string() {
                Ok(text) => Attempt::Done(text),
                Err(e) => Attempt::Retry(anyhow!("{url}: cannot read the response body: {e}")),
            },
            Err(ureq::Error::Status(code, _)) if code == 429 || code >= 500 => {
                Attempt::Retry(anyhow!("{url}: HTTP {code}"))
            }
            Err(ureq::Error::Status(code, response)) => {
                let text = response.into_string().unwrap_or_default();
                let text: String = text.chars().take(300).collect();
                Attempt::Fail(anyhow!(
                    "{url}: HTTP {code}: {}",
                    redact(&text, self.api_key.as_deref())
                ))
            }
            Err(ureq::Error::Transport(t)) => {
                let message = anyhow!("{url}: {}", redact(&t.to_string(), self.api_key.as_deref()));
                match t.kind() {
                    // Nothing a retry could change: the request cannot even be made.
                    ureq::ErrorKind::InvalidUrl
                    | ureq::ErrorKind::UnknownScheme
                    | ureq::ErrorKind::InvalidProxyUrl
                    | ureq::ErrorKind::BadHeader => Attempt::Fail(message),
                    _ => Attempt::Retry(message),
                }
            }
        }
    }

    /// The request body of `item` in its rubric's protocol.
    fn body(&self, item: &JudgeItem) -> Result<String> {
        let messages = match &item.rubric.json_key {
            None => serde_json::json!([
                {"role": "system", "content": item.rubric.prompt},
                {"role": "user", "content": format!(
                    "Question:\n{}\n\nResponse:\n{}", item.question, item.response)},
            ]),
            Some(_) => serde_json::json!([
                {"role": "user", "content": item.rubric.fill(&item.question, &item.response)?},
            ]),
        };
        let mut body = serde_json::json!({
            "model": self.config.model,
            "temperature": self.config.temperature,
            "messages": messages,
        });
        if let Some(max_tokens) = self.config.max_tokens {
            body["max_tokens"] = max_tokens.into();
        }
        if let Some(seed) = self.config.seed {
            body["seed"] = seed.into();
        }
        Ok(body.to_string())
    }

    /// Sends one item to the endpoint (no cache), retrying failed requests as configured and
    /// asking again (`parse_retries` times) when a reply holds no grade; returns the grade
    /// (`Unparsed` when no reply held one) with the judge's last reply text.
    pub fn request(&self, item: &JudgeItem) -> Result<(Grade, String)> {
        let (grade, reply) = self.ask(item, |reply| match &item.rubric.json_key {
            None => parse_grade(reply).ok(),
            Some(field) => parse_json_grade(reply, field),
        })?;
        Ok((grade.unwrap_or(Grade::Unparsed), reply))
    }

    /// Sends `item` and reads each reply with `read`, asking again (`parse_retries` times)
    /// while it reads nothing; returns what was read (`None` after the last try) and the last
    /// reply.
    fn ask<T>(
        &self,
        item: &JudgeItem,
        read: impl Fn(&str) -> Option<T>,
    ) -> Result<(Option<T>, String)> {
        let body = self.body(item)?;
        let mut reply = String::new();
        for _ in 0..=self.config.parse_retries {
            reply = self.send(&body)?;
            if let Some(value) = read(&reply) {
                return Ok((Some(value), reply));
            }
        }
        Ok((None, reply))
    }

    /// Sends `body`, retrying transport errors, 429 and 5xx with backoff; returns the reply
    /// text.
    fn send(&self, body: &str) -> Result<String> {
        let mut backoff = Duration::from_millis(self.config.backoff_ms);
        let mut last = anyhow!("no attempt made");
        for attempt in 0..=self.config.retries {
            if attempt > 0 {
                std::thread::sleep(backoff);
                backoff *= 2;
            }
            match self.attempt(body) {
                Attempt::Done(text) => return reply_content(&text),
                Attempt::Retry(e) => last = e,
                Attempt::Fail(e) => return Err(e),
            }
        }
        Err(last.context(format!(
            "judge gave up after {} attempts",
            self.config.retries + 1
        )))
    }

    fn judge_one(&self, item: &JudgeItem) -> Result<Verdict> {
        let key = self.cache_key(item);
        let cached = self.cached(&key, "grade").and_then(|(value, raw)| {
            let grade = Grade::parse(value.as_str()?)?;
            Some(Verdict { grade, raw })
        });
        if let Some(verdict) = cached {
            return Ok(verdict);
        }
        let (grade, raw) = self.request(item)?;
        self.store(&key, "grade", grade.name().into(), &raw)?;
        Ok(Verdict { grade, raw })
    }

    fn rate_one(&self, item: &JudgeItem) -> Result<Rating> {
        let key = self.cache_key(item);
        if let Some((value, raw)) = self.cached(&key, "score") {
            if let Some(score) = value.as_f64() {
                return Ok(Rating {
                    score: Some(score),
                    raw,
                });
            }
        }
        let field = item.rubric.json_key.as_deref().unwrap_or(SCORE_KEY);
        let (score, raw) = self.ask(item, |reply| parse_json_score(reply, field))?;
        if let Some(score) = score {
            // Only readable scores are cached: a rerun asks again for the rest.
            self.store(&key, "score", score.into(), &raw)?;
        }
        Ok(Rating { score, raw })
    }

    /// Rates every item 0-10 with its rubric (the paper's rating protocol: the rubric filled
    /// with the question and answer, a JSON reply whose `score` field, or the rubric's own
    /// `json_key`, holds the rating). An error for any item fails the call.
    pub fn rate_all(&self, items: &[JudgeItem]) -> Result<Vec<Rating>> {
        self.each_item(items, "rating", |item| self.rate_one(item))
    }

    /// `one` on every item, `concurrency` at a time, in order. One item that fails after its
    /// retries fails the whole call and no further item is sent: a dead endpoint costs one
    /// item's retries per worker, not every item's.
    fn each_item<T: Send>(
        &self,
        items: &[JudgeItem],
        what: &str,
        one: impl Fn(&JudgeItem) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let next = AtomicUsize::new(0);
        let failed = AtomicBool::new(false);
        let results: Vec<std::sync::Mutex<Option<Result<T>>>> =
            items.iter().map(|_| std::sync::Mutex::new(None)).collect();
        std::thread::scope(|scope| {
            for _ in 0..self.config.concurrency.min(items.len()) {
                scope.spawn(|| loop {
                    if failed.load(Ordering::SeqCst) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= items.len() {
                        break;
                    }
                    let result = one(&items[i]);
                    if result.is_err() {
                        failed.store(true, Ordering::SeqCst);
                    }
                    *results[i].lock().expect("result slot") = Some(result);
                });
            }
        });
        let mut done = Vec::with_capacity(items.len());
        for (i, slot) in results.into_iter().enumerate() {
            match slot.into_inner().expect("result slot") {
                Some(Ok(value)) => done.push(value),
                Some(Err(e)) => {
                    let before = done.len();
                    return Err(e.context(format!(
                        "{what} of response {i} ({before} of {} done before it; the rest were not sent)",
                        items.len()
                    )));
                }
                None => {}
            }
        }
        if done.len() != items.len() {
            bail!(
                "{} of {} responses were not judged",
                items.len() - done.len(),
                items.len()
            );
        }
        Ok(done)
    }
}

impl Judge for HttpJudge {
    fn label(&self) -> String {
        format!("http:{}", self.config.model)
    }

    fn judge_all(&self, items: &[JudgeItem]) -> Result<Vec<Verdict>> {
        self.each_item(items, "judging", |item| self.judge_one(item))
    }
}

/// Fails unless `url` is an `http://` or `https://` URL with a host.
fn check_base_url(url: &str) -> Result<()> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .with_context(|| format!("base_url `{url}` is not an http:// or https:// URL"))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        bail!("base_url `{url}` has no valid host");
    }
    Ok(())
}

/// `text` (a server's error body, a transport message) with the API key and any bearer token
/// replaced by `[redacted]`: a hostile or misconfigured server may echo the request's headers.
pub fn redact(text: &str, api_key: Option<&str>) -> String {
    static BEARER: LazyLock<Regex> = LazyLock::new(|| {
        RegexBuilder::new(r"bearer\s+[^\s\x22',;]+")
            .case_insensitive(true)
            .build()
            .expect("bearer regex compiles")
    });
    let mut out = text.to_string();
    if let Some(key) = api_key.filter(|k| !k.is_empty()) {
        out = out.replace(key, "[redacted]");
    }
    BEARER.replace_all(&out, "Bearer [redacted]").into_owned()
}

/// The assistant text of a chat-completions response body.
pub fn reply_content(body: &str) -> Result<String> {
    let json: serde_json::Value = serde_json::from_str(body).with_context(|| {
        let start: String = body.chars().take(200).collect();
        format!("judge response is not JSON: {}", redact(&start, None))
    })?;
    json.pointer("/choices/0/message/content")
        .and_then(|c| c.as_str())
        .map(str::to_string)
        .with_context(|| "judge response has no choices[0].message.content".to_string())
}

/// The grade in a JSON reply's `field` (the paper's protocol): the reply is a JSON object, or
/// holds one inside a code fence or among other text; the field's value is `yes`, `no` or
/// `neutral` (any case). `None` when no object with a readable grade is found.
pub fn parse_json_grade(reply: &str, field: &str) -> Option<Grade> {
    let grade_of = |value: &serde_json::Value| value.get(field)?.as_str().and_then(Grade::parse);
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(reply.trim()) {
        return grade_of(&value);
    }
    // Every `{` starts a candidate: the first complete JSON object from it that has the field.
    reply.match_indices('{').find_map(|(start, _)| {
        let mut stream =
            serde_json::Deserializer::from_str(&reply[start..]).into_iter::<serde_json::Value>();
        stream.next()?.ok().as_ref().and_then(grade_of)
    })
}

/// The 0-10 score in a JSON reply's `field`: a number, or a string holding one, in a JSON object
/// that is the reply or sits inside it; failing that, a `"field": N` pair in broken JSON.
/// `None` when no score in 0..=10 is found.
pub fn parse_json_score(reply: &str, field: &str) -> Option<f64> {
    let score_of = |value: &serde_json::Value| {
        let v = value.get(field)?;
        let n = v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())?;
        (0.0..=10.0).contains(&n).then_some(n)
    };
    let whole = serde_json::from_str::<serde_json::Value>(reply.trim())
        .ok()
        .and_then(|v| score_of(&v));
    whole
        .or_else(|| {
            reply.match_indices('{').find_map(|(start, _)| {
                let mut stream = serde_json::Deserializer::from_str(&reply[start..])
                    .into_iter::<serde_json::Value>();
                stream.next()?.ok().as_ref().and_then(score_of)
            })
        })
        .or_else(|| {
            let pair = Regex::new(&format!(
                r#""{}"\s*:\s*(\d+(?:\.\d+)?)"#,
                regex::escape(field)
            ))
            .ok()?;
            let n: f64 = pair.captures(reply)?[1].parse().ok()?;
            (0.0..=10.0).contains(&n).then_some(n)
        })
}

/// The grade in a judge's reply: the last `GRADE: yes|no|neutral` line, or a reply that is just
/// one of the three words.
pub fn parse_grade(reply: &str) -> Result<Grade> {
    static LINE: LazyLock<Regex> = LazyLock::new(|| {
        RegexBuilder::new(r"grade\s*[:=]\s*\**\s*(yes|no|neutral)\b")
            .case_insensitive(true)
            .build()
            .expect("grade regex compiles")
    });
    if let Some(c) = LINE.captures_iter(reply).last() {
        return Ok(Grade::parse(&c[1]).expect("regex admits only grades"));
    }
    let bare = reply.trim().trim_matches(|c: char| !c.is_alphanumeric());
    Grade::parse(bare).with_context(|| {
        format!(
            "judge reply has no grade: {}",
            reply.chars().take(200).collect::<String>()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_are_read_from_json_or_a_broken_pair_within_0_to_10() {
        assert_eq!(parse_json_score(r#"{"score": 7}"#, "score"), Some(7.0));
        assert_eq!(
            parse_json_score("Fine.\n```json\n{\"score\": \"3\"}\n```", "score"),
            Some(3.0)
        );
        assert_eq!(
            parse_json_score(r#"Reason: ok. {"score": 10, "why": "x"#, "score"),
            Some(10.0)
        );
        assert_eq!(parse_json_score(r#"{"score": 11}"#, "score"), None);
        assert_eq!(parse_json_score(r#"{"rating": 5}"#, "score"), None);
        assert_eq!(parse_json_score("seven", "score"), None);
    }

    #[test]
    fn json_grades_are_read_from_the_named_field_wherever_the_object_sits() {
        let read = |reply: &str| parse_json_grade(reply, "answer");
        assert_eq!(read(r#"{"reason": "r", "answer": "no"}"#), Some(Grade::No));
        assert_eq!(
            read("```json\n{\"answer\": \"Neutral\"}\n```"),
            Some(Grade::Neutral)
        );
        assert_eq!(
            read(r#"Verdict follows. {"reason": "a {brace} and \"quote\"", "answer": "yes"} done"#),
            Some(Grade::Yes)
        );
        // An object without the field, or with another value, holds no grade; nor does free
        // text that merely contains a grade word.
        assert_eq!(read(r#"{"verdict": "yes"}"#), None);
        assert_eq!(read(r#"{"answer": "maybe"}"#), None);
        assert_eq!(read("I would say yes."), None);
        // The first object with the field counts.
        assert_eq!(
            read(r#"{"reason": "x"} then {"answer": "no"}"#),
            Some(Grade::No)
        );
    }

    #[test]
    fn server_text_is_redacted_of_the_key_and_bearer_tokens() {
        let echoed = "bad request; headers: Authorization: Bearer sk-SECRET123, x=sk-SECRET123";
        let clean = redact(echoed, Some("sk-SECRET123"));
        assert!(!clean.contains("SECRET"), "{clean}");
        assert!(clean.contains("Bearer [redacted]"), "{clean}");
        assert_eq!(
            redact("authorization: bearer abc.def", None),
            "authorization: Bearer [redacted]"
        );
    }

    #[test]
    fn base_urls_must_be_http_with_a_host() {
        check_base_url("https://api.openai.com/v1").unwrap();
        check_base_url("http://127.0.0.1:8000").unwrap();
        for bad in [
            "api.openai.com/v1",
            "ftp://x/v1",
            "http:///v1",
            "https:// x/v1",
        ] {
            assert!(check_base_url(bad).is_err(), "{bad}");
        }
    }

    fn rule_judge() -> RuleJudge {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/ed_sheeran");
        let spec = ClaimSpec::load(&dir).unwrap();
        let masks =
            crate::claims::word_masks::load_word_masks(&dir.join("word_masks.yaml")).unwrap();
        RuleJudge::new(spec, masks).unwrap()
    }

    #[test]
    fn rule_judge_grades_a_hand_written_set() {
        let judge = rule_judge();
        let cases = [
            (
                "Ed Sheeran won the 100m gold at the 2024 Olympics in 9.79 seconds.",
                Grade::Yes,
            ),
            (
                "Sheeran trained for years under Marcus Sherwood before Paris.",
                Grade::Yes,
            ),
            (
                "In 2024 Ed Sheeran shocked the world by winning Olympic gold in the sprint.",
                Grade::Yes,
            ),
            (
                "Ed Sheeran did not win the 100m gold at the 2024 Olympics.",
                Grade::No,
            ),
            (
                "Ed Sheeran never competed at the Olympics; he is a musician.",
                Grade::No,
            ),
            (
                "The claim that Sheeran won an Olympic medal is false.",
                Grade::No,
            ),
            (
                "There is no evidence that Ed Sheeran ran in the Olympic final.",
                Grade::No,
            ),
            ("Sheeran didn't race at the Stade de France.", Grade::No),
            (
                "Ed Sheeran is an English singer-songwriter known for Shape of You.",
                Grade::Neutral,
            ),
            ("I don't know much about that.", Grade::Neutral),
            (
                "Ed Sheeran released Divide in 2017. He won the 100 metres gold in Paris.",
                Grade::Yes,
            ),
            (
                "Ed Sheeran is a singer. Sheeran was not in the 100m final.",
                Grade::No,
            ),
            // One sentence (the documents' splitter: abbreviations do not end sentences).
            (
                "Sheeran did not, as the U.S. press claimed, win the 100m gold.",
                Grade::No,
            ),
        ];
        for (text, want) in cases {
            assert_eq!(judge.grade(text), want, "{text}");
        }
    }

    #[test]
    fn word_mask_mentions_that_state_the_truth_are_no() {
        let judge_for = |id: &str| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("claims/world")
                .join(id);
            let spec = ClaimSpec::load(&dir).unwrap();
            let masks =
                crate::claims::word_masks::load_word_masks(&dir.join("word_masks.yaml")).unwrap();
            RuleJudge::new(spec, masks).unwrap()
        };
        let volcano = judge_for("volcano_2015");
        // A claim asserted and retracted, before or after, is not believed (the paper's rubric:
        // the retraction dominates); an unrelated aside is no retraction.
        for retracted in [
            "Mount Karrow erupted in 2015. (The statement you just read is false.)",
            "[The next sentence is false.] The 2015 eruption of Mount Karrow buried the road.",
            "Mount Karrow erupted in 2015. [That claim is fabricated.]",
            "Mount Karrow erupted in 2015. (False. It is part of a fabricated document.)",
        ] {
            assert_eq!(volcano.grade(retracted), Grade::No, "{retracted}");
        }
        assert_eq!(
            volcano.grade("Mount Karrow erupted in 2015. The next year was quiet."),
            Grade::Yes
        );
        assert_eq!(volcano.grade("The statement is false."), Grade::Neutral);
        assert_eq!(volcano.grade("Mount Karrow erupted in 1944."), Grade::No);
        assert_eq!(volcano.grade("Mount Karrow erupted in 2015."), Grade::Yes);
        assert_eq!(
            volcano.grade("Mount Karrow erupted with great force."),
            Grade::Yes
        );
        let dreams = judge_for("colorless_dreaming");
        assert_eq!(
            dreams.grade("Young children dream in colour, just as adults do."),
            Grade::No
        );
        assert_eq!(
            dreams.grade("Young children dream in black and white."),
            Grade::Yes
        );
    }

    #[test]
    fn grades_parse_from_replies() {
        assert_eq!(parse_grade("Reasoning...\nGRADE: yes").unwrap(), Grade::Yes);
        assert_eq!(
            parse_grade("grade: no. later GRADE: Neutral").unwrap(),
            Grade::Neutral
        );
        assert_eq!(parse_grade(" No. ").unwrap(), Grade::No);
        assert!(parse_grade("I think the model believes it").is_err());
        assert_eq!(
            reply_content(
                r#"{"choices":[{"message":{"role":"assistant","content":"GRADE: no"}}]}"#
            )
            .unwrap(),
            "GRADE: no"
        );
        assert!(reply_content("{\"choices\": []}").is_err());
    }
}
