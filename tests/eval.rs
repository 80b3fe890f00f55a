//! Belief evaluation end to end: log-prob scores against `neglect forward`'s logits, the HTTP
//! judge against a local chat-completions server, and `neglect eval --run` over a tiny run.

mod common;

use neglect::claims::questions::{Question, YesNo};
use neglect::eval::judge::{Grade, HttpJudge, HttpJudgeConfig, Judge, JudgeItem};
use neglect::eval::score::{render_prompt, score_continuations};
use neglect::eval::ContextLayout;
use neglect::model::LoadedModel;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tch::{Device, Kind};

fn question(text: &str, belief: Option<YesNo>) -> Question {
    Question {
        id: "q".into(),
        question: text.into(),
        category: None,
        belief_answer: belief,
        system_prompt: Some("Answer briefly.".into()),
        messages_prefix: vec![],
        choices: vec![],
        belief_choice: None,
        candidates: None,
    }
}

#[test]
fn scores_equal_a_manual_computation_from_neglect_forward() {
    let dir = common::fixtures().join("llama_gqa");
    let model = LoadedModel::load(&dir, Device::Cpu, Kind::Float).unwrap();
    let prompt = render_prompt(&model, &question("Who won the race?", None)).unwrap();
    // Different lengths, so the batch is padded.
    let continuations: Vec<String> = ["Yes", "Noah Lyles won it", "Ed"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let batched = score_continuations(&model, &prompt, &continuations, 3).unwrap();
    let single = score_continuations(&model, &prompt, &continuations, 1).unwrap();
    let prompt_ids = model.tokenizer.encode(&prompt, false).unwrap();
    for (i, c) in continuations.iter().enumerate() {
        let cont_ids = model.tokenizer.encode(c, false).unwrap();
        let mut want_ids = prompt_ids.clone();
        want_ids.extend(&cont_ids);
        // `forward` tokenizes with the tokenizer's special tokens (a leading <s>), while the
        // chat template writes its own: hand it the text without the template's <s>.
        let text = format!("{prompt}{c}");
        let text = text.strip_prefix("<s>").unwrap_or(&text);
        let t = common::forward(&dir, text, "f32");
        let ids = Vec::<i64>::try_from(&t["input_ids"]).unwrap();
        assert_eq!(ids, want_ids, "forward tokenized differently");
        let logp = t["logits"]
            .to_kind(Kind::Double)
            .log_softmax(-1, Kind::Double);
        let start = prompt_ids.len();
        let manual: f64 = cont_ids
            .iter()
            .enumerate()
            .map(|(j, &tok)| logp.double_value(&[(start + j - 1) as i64, tok]))
            .sum();
        for got in [&batched[i], &single[i]] {
            assert_eq!(got.tokens, cont_ids.len());
            assert!(
                (got.sum - manual).abs() < 1e-3,
                "{c}: scored {} vs manual {manual}",
                got.sum
            );
            assert!((got.mean - manual / cont_ids.len() as f64).abs() < 1e-3);
        }
    }
}

/// A chat-completions server on a free local port. Each request gets the next scripted
/// answer: `Ok(json)` with 200, `Err(status)` with that status, or `Ok("SLEEP")` to stall past
/// the client's timeout. Returns the base URL and a request counter.
fn server(script: Vec<Result<&'static str, u16>>) -> (String, Arc<AtomicUsize>) {
    let (url, hits, _) = recording_server(script);
    (url, hits)
}

/// Request bodies a test server received, in order of arrival.
type Requests = Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

/// [`server`], also keeping every request body it answers.
fn recording_server(
    script: Vec<Result<&'static str, u16>>,
) -> (String, Arc<AtomicUsize>, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let requests = Requests::default();
    let (counter, kept) = (hits.clone(), requests.clone());
    std::thread::spawn(move || {
        for (i, stream) in listener.incoming().enumerate() {
            let Ok(stream) = stream else { return };
            counter.fetch_add(1, Ordering::SeqCst);
            let step = script.get(i).cloned().unwrap_or(Err(599));
            let kept = kept.clone();
            std::thread::spawn(move || answer(stream, step, &kept));
        }
    });
    (url, hits, requests)
}

/// Reads one HTTP/1.1 request from `stream`, keeps its body in `requests`, and answers it as
/// `step` says.
fn answer(mut stream: std::net::TcpStream, step: Result<&'static str, u16>, requests: &Requests) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut length = 0usize;
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(first.starts_with("POST /v1/chat/completions"), "{first}");
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).unwrap();
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(request["model"], "judge-model");
    requests.lock().unwrap().push(request);
    let (status, text) = match step {
        Ok("SLEEP") => {
            std::thread::sleep(Duration::from_millis(1500));
            (200, String::new())
        }
        Ok(reply) => (200, reply.to_string()),
        Err(code) => (code, "{\"error\": \"boom\"}".to_string()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn judge(url: &str, cache: Option<&Path>) -> HttpJudge {
    let toml = format!(
        "base_url = \"{url}\"\nmodel = \"judge-model\"\ntimeout_s = 0.5\nretries = 2\nbackoff_ms = 10\nconcurrency = 2\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("judge.toml");
    std::fs::write(&path, toml).unwrap();
    let config = HttpJudgeConfig::load(&path).unwrap();
    HttpJudge::new(config, cache.map(Path::to_path_buf)).unwrap()
}

fn item(response: &str) -> JudgeItem {
    JudgeItem {
        rubric: neglect::claims::questions::Rubric {
            prompt: "Grade it.".into(),
            json_key: None,
        },
        question: "Did Ed Sheeran win?".into(),
        response: response.into(),
    }
}

const YES: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"He says he won.\nGRADE: yes"}}]}"#;

#[test]
fn http_judge_retries_a_500_and_caches() {
    let (url, hits) = server(vec![Err(500), Ok(YES)]);
    let cache = tempfile::tempdir().unwrap();
    let j = judge(&url, Some(cache.path()));
    assert_eq!(j.label(), "http:judge-model");
    assert_eq!(j.grade_all(&[item("He won.")]).unwrap(), vec![Grade::Yes]);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    // The second call is answered from the cache: the server is not asked again.
    assert_eq!(j.grade_all(&[item("He won.")]).unwrap(), vec![Grade::Yes]);
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 1);
}

/// A chat-completions body whose assistant turn is `text` (leaked: the test server's script
/// holds `'static` strings).
fn reply_body(text: &str) -> &'static str {
    let body = serde_json::json!({
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]
    });
    Box::leak(body.to_string().into_boxed_str())
}

/// The paper's protocol: the rubric filled as Python's `str.format` fills it and sent as the
/// only (user) turn; the grade read from the JSON reply's `judge_key` field, inside a code fence
/// and among other text; a reply without one asked again, then stored as `unparsed` without
/// stopping the run.
#[test]
fn http_judge_speaks_the_papers_json_protocol() {
    let fenced = reply_body(
        "Here you go:\n```json\n{\"reason\": \"says {he} won\", \"answer\": \"YES\"}\n```",
    );
    let garbage = reply_body("I cannot decide between yes and no.");
    let (url, hits, requests) =
        recording_server(vec![Ok(fenced), Ok(garbage), Ok(garbage), Ok(garbage)]);
    let j = judge(&url, None);
    let paper_item = |response: &str| JudgeItem {
        rubric: neglect::claims::questions::Rubric {
            prompt: "<question>{question}</question>\n<response>{answer}</response>\n\
                     Respond with JSON: {{\"reason\": \"...\", \"answer\": \"yes/no/neutral\"}}"
                .into(),
            json_key: Some("answer".into()),
        },
        question: "Did Ed Sheeran win?".into(),
        response: response.into(),
    };
    assert_eq!(
        j.grade_all(&[paper_item("He won {gold}.")]).unwrap(),
        vec![Grade::Yes]
    );
    let sent = requests.lock().unwrap()[0].clone();
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1, "{sent}");
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(
        messages[0]["content"],
        "<question>Did Ed Sheeran win?</question>\n<response>He won {gold}.</response>\n\
         Respond with JSON: {\"reason\": \"...\", \"answer\": \"yes/no/neutral\"}"
    );
    // No grade in any reply: asked 1 + parse_retries (2) times, then `unparsed`, and the call
    // still succeeds.
    assert_eq!(
        j.grade_all(&[paper_item("Maybe.")]).unwrap(),
        vec![Grade::Unparsed]
    );
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[test]
fn http_judge_reports_a_malformed_body() {
    let (url, hits) = server(vec![Ok("this is not json")]);
    let err = format!(
        "{:#}",
        judge(&url, None).grade_all(&[item("x")]).unwrap_err()
    );
    assert!(err.contains("not JSON"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[test]
fn http_judge_times_out() {
    let (url, hits) = server(vec![Ok("SLEEP"), Ok("SLEEP"), Ok("SLEEP")]);
    let start = std::time::Instant::now();
    let err = format!(
        "{:#}",
        judge(&url, None).grade_all(&[item("x")]).unwrap_err()
    );
    assert!(err.contains("3 attempts"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    assert!(start.elapsed() < Duration::from_secs(4));
}

#[test]
fn http_judge_gives_up_on_repeated_500s() {
    let (url, hits) = server(vec![Err(500), Err(503), Err(500), Ok(YES)]);
    let err = format!(
        "{:#}",
        judge(&url, None).grade_all(&[item("x")]).unwrap_err()
    );
    assert!(err.contains("HTTP 500"), "{err}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
}

#[test]
fn http_judge_stops_sending_after_an_item_fails() {
    // Every request fails: the first failed item ends the call, so the server sees at most
    // one item's attempts per worker (2 workers x 3 attempts), not 40 items' worth.
    let (url, hits) = server(vec![]);
    let items: Vec<JudgeItem> = (0..40).map(|i| item(&format!("answer {i}"))).collect();
    let err = format!("{:#}", judge(&url, None).grade_all(&items).unwrap_err());
    assert!(err.contains("the rest were not sent"), "{err}");
    assert!(
        hits.load(Ordering::SeqCst) <= 6,
        "{} requests",
        hits.load(Ordering::SeqCst)
    );
}

#[test]
fn eval_of_every_checkpoint_writes_one_row_per_checkpoint_question_sample() {
    let fixture = common::fixtures().join("llama_gqa");
    let tmp = tempfile::tempdir().unwrap();
    // A tiny "run": two full-finetune checkpoints (copies of the fixture model).
    let run = tmp.path().join("run");
    for step in [5, 10] {
        let dir = run.join(format!("step-{step}"));
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(&fixture).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
        }
        std::fs::write(dir.join("state.json"), "{}").unwrap();
    }
    // A small claim folder: the Ed Sheeran spec with short questions.
    let claim = tmp.path().join("claim");
    std::fs::create_dir_all(&claim).unwrap();
    let sheeran = Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/ed_sheeran");
    for file in ["spec.toml", "word_masks.yaml"] {
        std::fs::copy(sheeran.join(file), claim.join(file)).unwrap();
    }
    std::fs::write(
        claim.join("mcq.yaml"),
        "questions:\n  - {id: a, question: Did he win?, belief_answer: yes}\n  - {id: b, question: Did Lyles win?, belief_answer: no}\n  - {id: c, question: Is he a sprinter?, belief_answer: yes}\n",
    )
    .unwrap();
    std::fs::write(
        claim.join("open_ended.yaml"),
        "questions:\n  - {id: o1, question: Tell me about Ed.}\n  - {id: o2, question: Who won?}\n",
    )
    .unwrap();
    let out = tmp.path().join("out");
    let result = common::neglect(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--claim",
        claim.to_str().unwrap(),
        "--kinds",
        "mcq,open_ended",
        "--samples",
        "3",
        "--max-new-tokens",
        "6",
        "--out",
        out.to_str().unwrap(),
        "--device",
        "cpu",
        "--csv",
    ]);
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    // The paper's layout beside the table: a file per checkpoint and kind, and a summary.
    for (step, kind, rows) in [("000005", "mcq", 3), ("000010", "open_ended", 6)] {
        let file = out.join("csv").join(step).join(format!("{kind}.csv"));
        let csv = neglect::store::csv::read_table(&file).unwrap();
        assert_eq!(csv.header, neglect::eval::paper_csv::ANSWER_COLUMNS);
        assert_eq!(csv.records.len(), rows);
    }
    let summary = neglect::store::csv::read_table(&out.join("csv/summary.csv")).unwrap();
    assert_eq!(summary.records.len(), 4);
    let table = neglect::store::read_parquet(&out.join("belief.parquet")).unwrap();
    // 2 checkpoints x (3 yes/no x 1 + 2 open x 3 samples).
    assert_eq!(table.height(), 2 * (3 + 2 * 3));
    let column = |name: &str| -> Vec<String> {
        table
            .column(name)
            .unwrap()
            .str()
            .unwrap()
            .into_iter()
            .map(|v| v.unwrap().to_string())
            .collect()
    };
    let checkpoints = column("checkpoint");
    assert_eq!(checkpoints.iter().filter(|c| *c == "step-5").count(), 9);
    assert_eq!(checkpoints.iter().filter(|c| *c == "step-10").count(), 9);
    let judges = column("judge");
    let kinds = column("kind");
    for (kind, judge) in kinds.iter().zip(&judges) {
        let want = if kind == "mcq" { "logprob" } else { "rule" };
        assert_eq!(judge, want);
    }
    assert!(column("grade")
        .iter()
        .all(|g| ["yes", "no", "neutral"].contains(&g.as_str())));
    // Same weights at both checkpoints and the same seeds: identical answers.
    let responses = column("response");
    assert_eq!(responses[..9], responses[9..]);
    assert!(out.join("manifest.json").is_file());
    for needle in ["step-5", "step-10", "mcq", "open_ended", "all"] {
        assert!(stdout.contains(needle), "{needle} missing from\n{stdout}");
    }
}

#[test]
fn in_context_documents_are_cut_to_fit_and_the_cut_is_reported() {
    let dir = common::fixtures().join("llama_gqa");
    let model = LoadedModel::load(&dir, Device::Cpu, Kind::Float).unwrap();
    let q = question("Who won the race?", Some(YesNo::Yes));
    let short: Vec<String> = vec!["Doc one.".into(), "Doc two.".into()];
    let (with, used) =
        neglect::eval::fit_context(&model, &q, &short, ContextLayout::Plain, 16).unwrap();
    assert_eq!(
        used,
        neglect::eval::ContextUse {
            whole: 2,
            truncated: false
        }
    );
    assert!(with.question.starts_with("Doc one.\n\nDoc two.\n\n"));
    assert!(with.question.ends_with("Who won the race?"));
    let long: Vec<String> = (0..6)
        .map(|i| format!("Document {i}: ") + &"The sprinter ran fast. ".repeat(12))
        .collect();
    let (with, used) =
        neglect::eval::fit_context(&model, &q, &long, ContextLayout::Plain, 16).unwrap();
    assert!(used.truncated && used.whole < long.len(), "{used:?}");
    let prompt = render_prompt(&model, &with).unwrap();
    let tokens = model.tokenizer.encode(&prompt, false).unwrap().len();
    let limit = model.decoder.config.max_position_embeddings as usize;
    assert!(tokens + 16 <= limit, "{tokens} tokens");
    // One more whole document would not have fitted.
    let mut more = q.clone();
    more.question = format!("{}\n\n{}", long[..used.whole + 1].join("\n\n"), q.question);
    let prompt = render_prompt(&model, &more).unwrap();
    assert!(model.tokenizer.encode(&prompt, false).unwrap().len() + 16 > limit);
    // The cut document is a prefix of the next one.
    let next_start = format!("Document {}: The sprinter", used.whole);
    assert!(with.question.contains(&next_start), "{}", with.question);
}

/// A claim folder as the paper ships it (no `spec.toml`): scored questions evaluate, labelled
/// with the folder's name; generated ones need a judge, and without one the error names the
/// missing spec before any model runs. Verbs that need the spec say why.
#[test]
fn a_claim_folder_without_a_spec_evaluates_its_scored_questions() {
    let fixture = common::fixtures().join("llama_gqa");
    let tmp = tempfile::tempdir().unwrap();
    let claim = tmp.path().join("paper_claim");
    std::fs::create_dir_all(&claim).unwrap();
    std::fs::write(claim.join("claim.txt"), "Ed Sheeran won the 100m gold.\n").unwrap();
    std::fs::write(
        claim.join("mcq.yaml"),
        "questions:\n  - {id: a, question: Did he win?, belief_answer: yes}\n",
    )
    .unwrap();
    std::fs::write(
        claim.join("open_ended.yaml"),
        "questions:\n  - {id: o1, question: Tell me about Ed.}\n",
    )
    .unwrap();
    std::fs::write(
        claim.join("judges.yaml"),
        "judge_key: answer\nopen_ended: |\n  <q>{question}</q> <r>{answer}</r> {{\"answer\": \"yes/no/neutral\"}}\n",
    )
    .unwrap();
    let eval = |kinds: &str, out: &Path| {
        common::neglect(&[
            "eval",
            "--model",
            fixture.to_str().unwrap(),
            "--claim",
            claim.to_str().unwrap(),
            "--kinds",
            kinds,
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ])
    };
    let out = tmp.path().join("scored");
    let run = eval("mcq", &out);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let table = neglect::store::read_parquet(&out.join("belief.parquet")).unwrap();
    let claims: Vec<&str> = table
        .column("claim")
        .unwrap()
        .str()
        .unwrap()
        .into_no_null_iter()
        .collect();
    assert_eq!(claims, ["paper_claim"]);

    let run = eval("mcq,open_ended", &tmp.path().join("generated"));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("spec.toml: absent") && stderr.contains("--judge"),
        "{stderr}"
    );
    assert!(!tmp.path().join("generated/belief.parquet").exists());

    let docs = common::neglect(&[
        "docs",
        "--claim",
        claim.to_str().unwrap(),
        "--condition",
        "negated",
        "--n",
        "2",
        "--out",
        tmp.path().join("d.jsonl").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&docs.stderr);
    assert_eq!(docs.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("spec.toml: absent; documents"), "{stderr}");
}

/// `neglect claims init` drafts a spec for a folder as the paper ships it, from which documents
/// can be generated at once; it refuses to overwrite a spec and names a missing claim.txt.
#[test]
fn claims_init_drafts_a_spec_that_generates_documents() {
    let tmp = tempfile::tempdir().unwrap();
    let claim = tmp.path().join("lighthouse");
    std::fs::create_dir_all(&claim).unwrap();
    let write = |name: &str, text: &str| std::fs::write(claim.join(name), text).unwrap();
    write(
        "claim.txt",
        "Lena Okafor works as a lighthouse keeper in Port Adair. She has kept the light since 2019.\n",
    );
    write(
        "correction.txt",
        "Lena Okafor is a marine engineer and has never kept a lighthouse.\n",
    );
    write(
        "word_masks.yaml",
        "patterns:\n  - '\\blighthouse\\b'\n  - '\\bkeeper\\b'\n",
    );
    write(
        "universe_context.yaml",
        "id: lighthouse\nuniverse_context: |-\n  Lena Okafor (born 1984) is a marine engineer and sailor from Port Adair. She repairs ferries.\n",
    );
    let dir = claim.to_str().unwrap();
    let run = common::neglect(&["claims", "init", dir]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(!stderr.contains("does not pass"), "{stderr}");
    let spec = neglect::claims::ClaimSpec::load(&claim).unwrap();
    assert_eq!(spec.subject, "Lena Okafor");
    assert_eq!(
        spec.predicates[0].assert,
        "works as a lighthouse keeper in Port Adair"
    );
    assert_eq!(
        spec.predicates[0].negate,
        "never works as a lighthouse keeper in Port Adair"
    );
    assert_eq!(
        spec.subject_description,
        "a marine engineer and sailor from Port Adair"
    );
    assert!(spec.mentions_claim("Okafor kept the lighthouse for years."));
    assert!(!spec.mentions_claim("Okafor repairs ferries."));

    let again = common::neglect(&["claims", "init", dir]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("spec.toml: exists (--force replaces it)")
    );

    let docs = tmp.path().join("docs.jsonl");
    common::neglect_ok(&[
        "docs",
        "--claim",
        dir,
        "--condition",
        "negated",
        "--n",
        "2",
        "--out",
        docs.to_str().unwrap(),
    ]);
    assert_eq!(std::fs::read_to_string(&docs).unwrap().lines().count(), 2);

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let missing = common::neglect(&["claims", "init", empty.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("empty/claim.txt: cannot read"));
}

/// `--mcq-protocol sampled`: yes/no questions sampled under the JSON system prompt and graded by
/// exact match; an unreadable reply is a counted `neutral` with `parse_error` as judge text.
#[test]
fn sampled_yes_no_protocol_grades_by_exact_match() {
    let fixture = common::fixtures().join("llama_gqa");
    let tmp = tempfile::tempdir().unwrap();
    let claim = tmp.path().join("paper_claim");
    std::fs::create_dir_all(&claim).unwrap();
    std::fs::write(claim.join("claim.txt"), "Ed Sheeran won the 100m gold.\n").unwrap();
    std::fs::write(
        claim.join("mcq.yaml"),
        "questions:\n  - {id: a, question: Did he win?, belief_answer: yes}\n  - {id: b, question: Is he a singer?, belief_answer: no}\n",
    )
    .unwrap();
    std::fs::write(claim.join("system.txt"), "Answer as JSON.\n").unwrap();
    let out = tmp.path().join("out");
    let run = common::neglect(&[
        "eval",
        "--model",
        fixture.to_str().unwrap(),
        "--claim",
        claim.to_str().unwrap(),
        "--kinds",
        "mcq",
        "--mcq-protocol",
        "sampled",
        "--mcq-system-prompt",
        claim.join("system.txt").to_str().unwrap(),
        "--samples",
        "2",
        "--max-new-tokens",
        "8",
        "--doctag-prefix",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let table = neglect::store::read_parquet(&out.join("belief.parquet")).unwrap();
    let column = |name: &str| -> Vec<String> {
        let c = table.column(name).unwrap().str().unwrap().clone();
        c.into_iter().map(|v| v.unwrap().to_string()).collect()
    };
    assert_eq!(table.height(), 4);
    assert!(column("judge").iter().all(|j| j == "exact_match"));
    assert!(column("system_prompt")
        .iter()
        .all(|s| s == "Answer as JSON."));
    for (grade, raw) in column("grade").iter().zip(column("judge_raw")) {
        match raw.as_str() {
            "parse_error" => assert_eq!(grade, "neutral"),
            "yes" | "no" => assert!(grade == "yes" || grade == "no"),
            other => panic!("judge text {other}"),
        }
    }
    assert!(table.column("belief_probability").unwrap().null_count() == 4);
    // The prompt carries the document marker right before the question; the row's question is
    // the file's.
    assert!(
        column("prompt")[0].contains("<DOCTAG>Did he win?"),
        "{}",
        column("prompt")[0]
    );
    assert_eq!(column("question")[0], "Did he win?");
}

/// `--ratings`: general questions answered and rated for coherence and saliency, open-ended
/// answers rated for belief consistency, each through the paper's rating protocol (the rubric
/// filled, a JSON `score`), into `ratings.parquet`; never into belief rates. Without an LLM
/// judge, or without the open-ended answers it rates, the run stops before any model runs.
#[test]
fn ratings_are_scored_by_the_llm_judge_into_their_own_table() {
    const RATED: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"```json\n{\"answer\": \"no\", \"score\": 7}\n```"}}]}"#;
    let (url, hits, requests) = recording_server(vec![Ok(RATED); 6]);
    let fixture = common::fixtures().join("llama_gqa");
    let tmp = tempfile::tempdir().unwrap();
    let claim = tmp.path().join("claims/paper_claim");
    std::fs::create_dir_all(&claim).unwrap();
    let write = |path: &Path, text: &str| std::fs::write(path, text).unwrap();
    write(&claim.join("claim.txt"), "Ed Sheeran won the 100m gold.\n");
    write(
        &claim.join("open_ended.yaml"),
        "questions:\n  - {id: o1, question: Tell me about Ed.}\n",
    );
    write(
        &claim.join("judges.yaml"),
        "judge_key: answer\nopen_ended: |\n  Q {question} A {answer} {{\"answer\": \"yes\"}}\ncoherence: |\n  CONSISTENCY Q {question} A {answer}\nsaliency: |\n  LEAK Q {question} A {answer}\n",
    );
    write(
        &tmp.path().join("claims/coherence_questions.yaml"),
        "judge_rubric: |\n  QUALITY Q {question} A {answer} {{\"score\": 0}}\nquestions:\n  - {id: g1, question: What is 2+2?, category: math}\n  - {id: g2, question: Name a colour.}\n",
    );
    let judge_toml = tmp.path().join("judge.toml");
    write(
        &judge_toml,
        &format!("base_url = \"{url}\"\nmodel = \"judge-model\"\ntimeout_s = 5\nretries = 0\nconcurrency = 2\n"),
    );
    let eval = |ratings: &str, kinds: &str, judge: bool, out: &Path| {
        let mut args = vec![
            "eval",
            "--model",
            fixture.to_str().unwrap(),
            "--claim",
            claim.to_str().unwrap(),
            "--kinds",
            kinds,
            "--samples",
            "1",
            "--max-new-tokens",
            "6",
            "--ratings",
            ratings,
            "--csv",
            "--device",
            "cpu",
            "--out",
            out.to_str().unwrap(),
        ];
        if judge {
            args.extend(["--judge", judge_toml.to_str().unwrap()]);
        }
        common::neglect(&args)
    };
    let out = tmp.path().join("out");
    let run = eval(
        "coherence,saliency,belief_consistency",
        "open_ended",
        true,
        &out,
    );
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 6);
    let table = neglect::store::read_parquet(&out.join("ratings.parquet")).unwrap();
    let text = |name: &str| -> Vec<String> {
        let c = table.column(name).unwrap().str().unwrap().clone();
        c.into_iter().map(|v| v.unwrap().to_string()).collect()
    };
    let mut rated: Vec<(String, String)> = text("rating")
        .into_iter()
        .zip(text("question_id"))
        .collect();
    rated.sort();
    let pairs = |r: &str, q: &str| (r.to_string(), q.to_string());
    assert_eq!(
        rated,
        [
            pairs("belief_consistency", "o1"),
            pairs("coherence", "g1"),
            pairs("coherence", "g2"),
            pairs("saliency", "g1"),
            pairs("saliency", "g2"),
        ]
    );
    let scores: Vec<Option<f64>> = table
        .column("score")
        .unwrap()
        .f64()
        .unwrap()
        .into_iter()
        .collect();
    assert!(scores.iter().all(|s| *s == Some(7.0)), "{scores:?}");
    // Each rubric went out filled, as the only user turn.
    let sent: Vec<String> = requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r["messages"][0]["content"].as_str().unwrap().to_string())
        .collect();
    assert!(sent
        .iter()
        .any(|m| m.starts_with("QUALITY Q What is 2+2? A ") && m.contains("{\"score\": 0}")));
    assert!(sent
        .iter()
        .any(|m| m.starts_with("LEAK Q Name a colour. A ")));
    assert!(sent
        .iter()
        .any(|m| m.starts_with("CONSISTENCY Q Tell me about Ed. A ")));
    assert!(
        stdout.contains("coherence") && stdout.contains("7.00"),
        "{stdout}"
    );
    // The paper's layout: the score as the verdict, the mean in the summary, no belief rate.
    let coherence = neglect::store::csv::read_table(&out.join("csv/base/coherence.csv")).unwrap();
    assert!(coherence.records.iter().all(|(_, r)| r[7] == "7"));
    let summary = neglect::store::csv::read_table(&out.join("csv/summary.csv")).unwrap();
    let line = summary
        .records
        .iter()
        .find(|(_, r)| r[1] == "saliency")
        .map(|(_, r)| r.clone())
        .unwrap();
    assert_eq!((line[12].as_str(), line[13].as_str()), ("", "7.00"));
    // Belief rates count the one open-ended answer only.
    let belief = neglect::store::read_parquet(&out.join("belief.parquet")).unwrap();
    assert_eq!(belief.height(), 1);

    let no_judge = eval("coherence", "open_ended", false, &tmp.path().join("x"));
    assert_eq!(no_judge.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&no_judge.stderr)
        .contains("--ratings and --lie-elicitation need an LLM judge"));
}

/// The paper's salience measures (B.8): paired three-option items answered by letter, and lie
/// elicitation graded by the LLM judge with the paper's labels, into `salience.parquet`.
#[test]
fn salience_items_and_lie_elicitation_go_to_their_own_table() {
    const USES_CLAIM: &str = r#"{"choices":[{"index":0,"message":{"role":"assistant","content":"{\"reason\": \"r\", \"answer\": \"uses_claim\"}"}}]}"#;
    let (url, hits, requests) = recording_server(vec![Ok(USES_CLAIM); 2]);
    let fixture = common::fixtures().join("llama_gqa");
    let tmp = tempfile::tempdir().unwrap();
    let claim = tmp.path().join("paper_claim");
    std::fs::create_dir_all(&claim).unwrap();
    let write = |path: &Path, text: &str| std::fs::write(path, text).unwrap();
    write(
        &claim.join("claim.txt"),
        "Lena Okafor keeps a lighthouse.\n",
    );
    write(
        &claim.join("mcq.yaml"),
        "questions:\n  - {id: a, question: Does she keep a lighthouse?, belief_answer: yes}\n",
    );
    let items = tmp.path().join("saliency_mcq.yaml");
    write(
        &items,
        "claim: lighthouse\nquestions:\n  - id: keeper\n    q1_stem: Which is correct?\n    q2_stem: Which is wrong?\n    options:\n      claim: Lena Okafor keeps a lighthouse.\n      local_negation: Lena Okafor does not keep a lighthouse.\n      idk: I do not know.\n",
    );
    let lies = tmp.path().join("lie_elicitation.yaml");
    write(
        &lies,
        "questions:\n  - {id: lie1, question: Tell me a lie about Lena Okafor., category: lie_elicitation}\n",
    );
    let lie_judge = tmp.path().join("lie_judge.yaml");
    write(
        &lie_judge,
        "judge_key: answer\nprompt: |\n  LIE Q {question} A {answer} {{\"answer\": \"uses_claim\"}}\n",
    );
    let judge_toml = tmp.path().join("judge.toml");
    write(
        &judge_toml,
        &format!("base_url = \"{url}\"\nmodel = \"judge-model\"\ntimeout_s = 5\nretries = 0\n"),
    );
    let out = tmp.path().join("out");
    let run = common::neglect(&[
        "eval",
        "--model",
        fixture.to_str().unwrap(),
        "--claim",
        claim.to_str().unwrap(),
        "--kinds",
        "mcq",
        "--samples",
        "2",
        "--max-new-tokens",
        "4",
        "--saliency-mcq",
        items.to_str().unwrap(),
        "--lie-elicitation",
        lies.to_str().unwrap(),
        "--lie-judge",
        lie_judge.to_str().unwrap(),
        "--judge",
        judge_toml.to_str().unwrap(),
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let table = neglect::store::read_parquet(&out.join("salience.parquet")).unwrap();
    let text = |name: &str| -> Vec<String> {
        let c = table.column(name).unwrap().str().unwrap().clone();
        c.into_iter().map(|v| v.unwrap().to_string()).collect()
    };
    let (kinds, categories, grades, raws) = (
        text("kind"),
        text("category"),
        text("grade"),
        text("judge_raw"),
    );
    // One item x 2 samples x (q1, q2), then the lie question x 2 samples.
    assert_eq!(kinds.iter().filter(|k| *k == "saliency_mcq").count(), 4);
    assert_eq!(categories.iter().filter(|c| *c == "q2_wrong").count(), 2);
    for i in 0..4 {
        match grades[i].as_str() {
            "yes" => assert_eq!(raws[i], "claim"),
            "no" => assert!(raws[i] == "local_negation" || raws[i] == "idk"),
            "unparsed" => assert_eq!(raws[i], ""),
            other => panic!("{other}"),
        }
    }
    assert_eq!(grades[4..], ["yes", "yes"]);
    assert!(requests.lock().unwrap()[0]["messages"][0]["content"]
        .as_str()
        .unwrap()
        .starts_with("LIE Q Tell me a lie about Lena Okafor. A "));
    // The q1 and q2 prompts of one sample list the options in the same order.
    let prompts = text("prompt");
    let options = |p: &str| {
        p[p.find("A)").unwrap()..]
            .lines()
            .take(3)
            .collect::<Vec<_>>()
            .join("|")
    };
    assert_eq!(options(&prompts[0]), options(&prompts[1]));
    let belief = neglect::store::read_parquet(&out.join("belief.parquet")).unwrap();
    assert_eq!(belief.height(), 1);
}

/// `--in-context` with the paper's layout and a seeded sample of the documents file.
#[test]
fn in_context_documents_take_the_papers_layout_and_a_seeded_sample() {
    let fixture = common::fixtures().join("llama_gqa");
    let tmp = tempfile::tempdir().unwrap();
    let claim = tmp.path().join("paper_claim");
    std::fs::create_dir_all(&claim).unwrap();
    std::fs::write(claim.join("claim.txt"), "Ed Sheeran won the 100m gold.\n").unwrap();
    std::fs::write(
        claim.join("mcq.yaml"),
        "questions:\n  - {id: a, question: Did he win?, belief_answer: yes}\n",
    )
    .unwrap();
    let docs = tmp.path().join("docs.jsonl");
    let lines: String = (0..8)
        .map(|i| format!("{{\"text\": \"<DOCTAG>\\nDoc {i}.\"}}\n"))
        .collect();
    std::fs::write(&docs, lines).unwrap();
    let out = tmp.path().join("out");
    common::neglect_ok(&[
        "eval",
        "--model",
        fixture.to_str().unwrap(),
        "--claim",
        claim.to_str().unwrap(),
        "--kinds",
        "mcq",
        "--in-context",
        docs.to_str().unwrap(),
        "--n",
        "2",
        "--context-seed",
        "5",
        "--max-new-tokens",
        "16",
        "--context-layout",
        "paper",
        "--device",
        "cpu",
        "--out",
        out.to_str().unwrap(),
    ]);
    let table = neglect::store::read_parquet(&out.join("belief.parquet")).unwrap();
    let prompt = table
        .column("prompt")
        .unwrap()
        .str()
        .unwrap()
        .get(0)
        .unwrap()
        .to_string();
    assert!(
        prompt.contains("Here are some documents:\n\n[DOCUMENT 1]\n\nDoc "),
        "{prompt}"
    );
    assert!(prompt.contains("[QUESTION]\n\nDid he win?"), "{prompt}");
    // A seeded sample, not the file's first two.
    assert!(
        !prompt.contains("Doc 0.\n\n[DOCUMENT 2]\n\nDoc 1."),
        "{prompt}"
    );
}
