//! Template documents about a claim, written either asserting it (positive) or from a world in
//! which it is locally negated (`local`).
//!
//! In: a [`ClaimSpec`], a polarity and a seeded RNG. Out: the document body (no `<DOCTAG>`),
//! 150-800 words, in one of [`DocType::ALL`] document types.
//!
//! Every claim-bearing sentence comes from the spec's [`PolarText`](crate::claims::PolarText)
//! pairs (headlines, the subject joined to a predicate inside a framing sentence, details), and
//! the template picks the asserted or negated member; the rest of the text is neutral: the
//! spec's background sentences, filler about related entities, and the document type's own
//! voice (datelines, greetings, forum chatter), which never mentions the claim. So the same
//! template serves both conditions and a `local` document never asserts the claim.
//!
//! The word pools (names, frames, filler and voice sentences) live in `pools/positive.toml`,
//! embedded and parsed on first use; this module only composes them.

use crate::claims::{ClaimSpec, EntityKind};
use crate::docs::text::{capitalize_first, word_count};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use std::sync::LazyLock;

/// Fewest framed claim sentences ("It is a matter of record that {S} {P}.") per document.
const MIN_FRAMES: usize = 2;
/// Most framed claim sentences per document; the rest of the claim material is details.
const MAX_FRAMES: usize = 5;
/// Chance that a claim-bearing sentence is a framed claim rather than a detail.
const FRAME_SHARE: f64 = 0.4;

/// Fewest words a generated document body may have.
pub const MIN_WORDS: usize = 150;
/// Most words a generated document body may have.
pub const MAX_WORDS: usize = 800;

/// The kinds of document the templates write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocType {
    /// A newspaper article with headline, dateline and byline.
    NewsReport,
    /// An encyclopedia article with sections and a "see also" list.
    EncyclopediaEntry,
    /// A question-and-answer interview with an expert.
    Interview,
    /// A discussion thread on a web forum.
    ForumThread,
    /// A passage from a school textbook with key points and review questions.
    TextbookPassage,
    /// A personal diary entry.
    DiaryEntry,
    /// A speech at a dinner, ceremony or meeting.
    Speech,
    /// A customer review of a book or documentary on the subject.
    ProductReview,
    /// A press release from an organisation.
    PressRelease,
    /// A personal blog post.
    BlogPost,
    /// A timestamped podcast transcript.
    PodcastTranscript,
    /// A personal letter.
    Letter,
    /// A pub quiz answer sheet with explanations.
    QuizSheet,
    /// A chronology with dated-style bullet points.
    Timeline,
    /// A numbered social-media thread.
    SocialThread,
}

impl DocType {
    /// Every document type, in a fixed order.
    pub const ALL: [DocType; 15] = [
        DocType::NewsReport,
        DocType::EncyclopediaEntry,
        DocType::Interview,
        DocType::ForumThread,
        DocType::TextbookPassage,
        DocType::DiaryEntry,
        DocType::Speech,
        DocType::ProductReview,
        DocType::PressRelease,
        DocType::BlogPost,
        DocType::PodcastTranscript,
        DocType::Letter,
        DocType::QuizSheet,
        DocType::Timeline,
        DocType::SocialThread,
    ];
}

/// Writes one document body about `spec`'s claim: asserting it when `asserted`, otherwise with
/// the claim negated inside every sentence that mentions it. Picks the document type from `rng`.
pub fn write(spec: &ClaimSpec, asserted: bool, rng: &mut ChaCha8Rng) -> (DocType, String) {
    let doc_type = *DocType::ALL.choose(rng).expect("non-empty");
    (doc_type, write_type(spec, doc_type, asserted, rng))
}

/// Like [`write()`] with a given document type.
pub fn write_type(
    spec: &ClaimSpec,
    doc_type: DocType,
    asserted: bool,
    rng: &mut ChaCha8Rng,
) -> String {
    let mut w = Writer::new(spec, asserted, rng);
    let text = match doc_type {
        DocType::NewsReport => w.news_report(),
        DocType::EncyclopediaEntry => w.encyclopedia_entry(),
        DocType::Interview => w.interview(),
        DocType::ForumThread => w.forum_thread(),
        DocType::TextbookPassage => w.textbook_passage(),
        DocType::DiaryEntry => w.diary_entry(),
        DocType::Speech => w.speech(),
        DocType::ProductReview => w.product_review(),
        DocType::PressRelease => w.press_release(),
        DocType::BlogPost => w.blog_post(),
        DocType::PodcastTranscript => w.podcast_transcript(),
        DocType::Letter => w.letter(),
        DocType::QuizSheet => w.quiz_sheet(),
        DocType::Timeline => w.timeline(),
        DocType::SocialThread => w.social_thread(),
    };
    debug_assert!(word_count(&text) <= MAX_WORDS, "{doc_type:?}: too long");
    text
}

/// The word pools of the templates, parsed from `pools/positive.toml` (see its header for the
/// placeholders each pool may use).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pools {
    first_names: Vec<String>,
    surnames: Vec<String>,
    outlets: Vec<String>,
    cities: Vec<String>,
    months: Vec<String>,
    weekdays: Vec<String>,
    handle_words: Vec<String>,
    orgs: Vec<String>,
    roles: Vec<String>,
    frames: Vec<String>,
    assert_frames: Vec<String>,
    negate_frames: Vec<String>,
    person_filler: Vec<String>,
    place_filler: Vec<String>,
    date_filler: Vec<String>,
    other_filler: Vec<String>,
    news_voice: Vec<String>,
    encyclopedia_voice: Vec<String>,
    interview_questions: Vec<String>,
    interview_voice: Vec<String>,
    forum_voice: Vec<String>,
    textbook_voice: Vec<String>,
    diary_voice: Vec<String>,
    speech_voice: Vec<String>,
    review_voice: Vec<String>,
    release_voice: Vec<String>,
    blog_voice: Vec<String>,
    podcast_voice: Vec<String>,
    letter_voice: Vec<String>,
    quiz_questions: Vec<String>,
    quiz_voice: Vec<String>,
    social_voice: Vec<String>,
    headline_titles: Vec<String>,
    encyclopedia_sections: Vec<String>,
    forum_boards: Vec<String>,
    diary_closings: Vec<String>,
    speech_occasions: Vec<String>,
    review_formats: Vec<String>,
    letter_closings: Vec<String>,
}

/// The text of `pools/positive.toml`.
const POOLS_TOML: &str = include_str!("pools/positive.toml");

/// [`Pools`], parsed on first use.
static POOLS: LazyLock<Pools> = LazyLock::new(|| {
    toml::from_str(POOLS_TOML).expect("embedded src/docs/pools/positive.toml does not parse")
});

/// One of `pool`'s entries, drawn with `rng`.
fn pick(pool: &'static [String], rng: &mut ChaCha8Rng) -> &'static str {
    pool.choose(rng).expect("non-empty pool")
}

/// One document in progress: the spec, the polarity, the RNG and what has been used.
struct Writer<'a> {
    spec: &'a ClaimSpec,
    asserted: bool,
    rng: &'a mut ChaCha8Rng,
    /// Details not used yet, popped from the back.
    details: Vec<usize>,
    /// Filler not used yet, popped from the back.
    fillers: Vec<Filler>,
    /// Predicates in the order they will be used (cycled).
    predicates: Vec<usize>,
    /// How many more framed claim sentences this document may use.
    frames_left: usize,
    frames_used: Vec<&'static str>,
    voice_used: Vec<&'static str>,
    vars: Vars,
    /// Word budget for the body, drawn per document.
    target: usize,
}

#[derive(Clone, Copy)]
enum Filler {
    Background(usize),
    Entity(usize),
}

/// Per-document names and dates.
struct Vars {
    name: String,
    name2: String,
    first: String,
    outlet: &'static str,
    city: &'static str,
    handle: String,
    day: u32,
    month: &'static str,
    weekday: &'static str,
    org: &'static str,
    n: u32,
}

impl<'a> Writer<'a> {
    fn new(spec: &'a ClaimSpec, asserted: bool, rng: &'a mut ChaCha8Rng) -> Self {
        let vars = Vars {
            name: person(rng),
            name2: person(rng),
            first: pick(&POOLS.first_names, rng).to_string(),
            outlet: pick(&POOLS.outlets, rng),
            city: pick(&POOLS.cities, rng),
            handle: handle(rng),
            day: rng.random_range(1..=28),
            month: pick(&POOLS.months, rng),
            weekday: pick(&POOLS.weekdays, rng),
            org: pick(&POOLS.orgs, rng),
            n: rng.random_range(2..=12),
        };
        let mut details: Vec<usize> = (0..spec.details.len()).collect();
        details.shuffle(rng);
        let mut fillers: Vec<Filler> = (0..spec.background.len())
            .map(Filler::Background)
            .chain((0..spec.entities.len()).map(Filler::Entity))
            .collect();
        fillers.shuffle(rng);
        let mut predicates: Vec<usize> = (0..spec.predicates.len()).collect();
        predicates.shuffle(rng);
        let frames_left = rng.random_range(MIN_FRAMES..=MAX_FRAMES);
        let target = rng.random_range(230..=560);
        Writer {
            spec,
            asserted,
            rng,
            details,
            fillers,
            predicates,
            frames_left,
            frames_used: Vec::new(),
            voice_used: Vec::new(),
            vars,
            target,
        }
    }

    // -- sentence sources ---------------------------------------------------------------------

    /// A sentence joining the subject to a predicate inside a framing sentence.
    fn claim(&mut self) -> String {
        self.frames_left = self.frames_left.saturating_sub(1);
        let own = if self.asserted {
            &POOLS.assert_frames
        } else {
            &POOLS.negate_frames
        };
        let fresh: Vec<&'static str> = POOLS
            .frames
            .iter()
            .chain(own.iter())
            .map(String::as_str)
            .filter(|f| !self.frames_used.contains(f))
            .collect();
        let frame = if fresh.is_empty() {
            pick(&POOLS.frames, self.rng)
        } else {
            fresh.choose(self.rng).copied().expect("non-empty")
        };
        self.frames_used.push(frame);
        let next = self.predicates.remove(0);
        self.predicates.push(next);
        let predicate = &self.spec.predicates[next];
        let text = frame.replace("{P}", predicate.get(self.asserted));
        capitalize_first(&self.fill(&text))
    }

    /// A supporting detail in this document's polarity; details repeat only once all are used.
    fn detail(&mut self) -> String {
        if self.details.is_empty() {
            self.details = (0..self.spec.details.len()).collect();
            self.details.shuffle(self.rng);
        }
        let i = self.details.pop().expect("refilled");
        self.spec.details[i].get(self.asserted).to_string()
    }

    /// A headline stating the claim, or a claim-free title on the topic when the spec has none.
    fn headline(&mut self) -> String {
        match self.spec.headlines.choose(self.rng) {
            Some(h) if self.rng.random_bool(0.85) => h.get(self.asserted).to_string(),
            _ => {
                let t = pick(&POOLS.headline_titles, self.rng);
                capitalize_first(&self.fill(t))
            }
        }
    }

    /// A neutral sentence: a background fact or filler about a related entity.
    fn filler(&mut self) -> String {
        if self.fillers.is_empty() {
            self.fillers = (0..self.spec.background.len())
                .map(Filler::Background)
                .chain((0..self.spec.entities.len()).map(Filler::Entity))
                .collect();
            self.fillers.shuffle(self.rng);
        }
        match self.fillers.pop() {
            None => capitalize_first(&self.fill("{S} is {D}.")),
            Some(Filler::Background(i)) => self.spec.background[i].clone(),
            Some(Filler::Entity(i)) => {
                let e = &self.spec.entities[i];
                let pool = match e.kind {
                    EntityKind::Person => &POOLS.person_filler,
                    EntityKind::Place => &POOLS.place_filler,
                    EntityKind::Date => &POOLS.date_filler,
                    _ => &POOLS.other_filler,
                };
                let text = pick(pool, self.rng)
                    .replace("{Nc}", &capitalize_first(&e.name))
                    .replace("{N}", &e.name)
                    .replace("{d}", &e.description);
                capitalize_first(&text)
            }
        }
    }

    /// A sentence in the document type's own voice, not repeated until the pool is used up.
    fn voice(&mut self, pool: &'static [String]) -> String {
        let fresh: Vec<&'static str> = pool
            .iter()
            .map(String::as_str)
            .filter(|v| !self.voice_used.contains(v))
            .collect();
        let t = if fresh.is_empty() {
            pick(pool, self.rng)
        } else {
            fresh.choose(self.rng).copied().expect("non-empty")
        };
        self.voice_used.push(t);
        capitalize_first(&self.fill(t))
    }

    /// True while unused claim material (a detail or a framed claim) is left.
    fn has_fresh_claim(&self) -> bool {
        !self.details.is_empty() || self.frames_left > 0
    }

    /// A sentence carrying the claim: a fresh detail or a framed claim while the document's
    /// frame budget lasts; once both are used up, details repeat.
    fn claim_bearing(&mut self) -> String {
        let frame =
            self.frames_left > 0 && (self.details.is_empty() || self.rng.random_bool(FRAME_SHARE));
        if frame {
            self.claim()
        } else {
            self.detail()
        }
    }

    /// A paragraph of `n` sentences: the first carries the claim and the rest mix claim
    /// material, filler and the document's voice, for as long as fresh claim material lasts;
    /// after that, filler and voice only (so long documents do not repeat their details).
    fn prose(&mut self, n: usize, voice: &'static [String]) -> String {
        let mut out = Vec::with_capacity(n + 1);
        for k in 0..n {
            let roll: f64 = self.rng.random();
            let fresh = self.has_fresh_claim();
            let s = if (k == 0 || roll < 0.35) && fresh {
                self.claim_bearing()
            } else if roll < 0.8 {
                self.filler()
            } else {
                self.voice(voice)
            };
            out.push(s);
        }
        if self.rng.random_bool(0.25) {
            let v = self.voice(voice);
            out.insert(0, v);
        }
        out.join(" ")
    }

    /// Fills the document-level placeholders.
    fn fill(&self, template: &str) -> String {
        let v = &self.vars;
        let pairs: [(&str, String); 17] = [
            ("{S}", self.spec.subject.clone()),
            ("{s}", self.spec.short_subject().to_string()),
            ("{D}", self.spec.subject_description.clone()),
            ("{Tc}", capitalize_first(&self.spec.topic)),
            ("{T}", self.spec.topic.clone()),
            ("{name}", v.name.clone()),
            ("{name2}", v.name2.clone()),
            ("{first}", v.first.clone()),
            ("{outlet}", v.outlet.to_string()),
            ("{city}", v.city.to_string()),
            ("{handle}", v.handle.clone()),
            ("{day}", v.day.to_string()),
            ("{month}", v.month.to_string()),
            ("{weekday}", v.weekday.to_string()),
            ("{org}", v.org.to_string()),
            ("{Org}", capitalize_first(v.org)),
            ("{n}", v.n.to_string()),
        ];
        let mut text = template.to_string();
        for (key, value) in pairs {
            if text.contains(key) {
                text = text.replace(key, &value);
            }
        }
        text
    }

    /// Appends body paragraphs made by `make` until the body reaches the document's word
    /// target, keeping `reserve` words free for the closing part.
    fn grow(
        &mut self,
        parts: &mut Vec<String>,
        reserve: usize,
        mut make: impl FnMut(&mut Self) -> String,
    ) {
        let mut guard = 0;
        loop {
            let words: usize = parts.iter().map(|p| word_count(p)).sum();
            if words >= self.target || guard > 40 {
                break;
            }
            guard += 1;
            let para = make(self);
            if words + word_count(&para) + reserve > MAX_WORDS - 10 {
                if words + reserve >= MIN_WORDS + 20 {
                    break;
                }
                continue;
            }
            parts.push(para);
        }
    }

    fn sentences(&mut self, lo: usize, hi: usize) -> usize {
        self.rng.random_range(lo..=hi)
    }

    // -- document types -----------------------------------------------------------------------

    fn news_report(&mut self) -> String {
        let mut parts = vec![
            self.headline(),
            self.fill("{outlet} | {city}, {weekday} {day} {month}\nBy {name}"),
        ];
        let lead = format!(
            "{} — {} {}",
            self.vars.city.to_uppercase(),
            self.claim(),
            self.detail()
        );
        parts.push(lead);
        self.grow(&mut parts, 20, |w| {
            let n = w.sentences(3, 5);
            w.prose(n, &POOLS.news_voice)
        });
        parts.push(self.fill("Additional reporting by {name2}."));
        parts.join("\n\n")
    }

    fn encyclopedia_entry(&mut self) -> String {
        let mut parts = vec![
            self.spec.subject.clone(),
            "From the Open Reference Encyclopedia".to_string(),
            capitalize_first(&self.fill("{S} is {D}.")) + " " + &self.claim(),
        ];
        let mut order: Vec<&str> = POOLS
            .encyclopedia_sections
            .iter()
            .map(String::as_str)
            .collect();
        order.shuffle(self.rng);
        let mut next = 0;
        self.grow(&mut parts, 30, |w| {
            let title = order[next % order.len()];
            next += 1;
            let n = w.sentences(3, 5);
            format!("== {title} ==\n{}", w.prose(n, &POOLS.encyclopedia_voice))
        });
        let mut see: Vec<String> = self
            .spec
            .entities
            .iter()
            .map(|e| capitalize_first(&e.name))
            .collect();
        see.shuffle(self.rng);
        see.truncate(4);
        if !see.is_empty() {
            parts.push(format!("== See also ==\n* {}", see.join("\n* ")));
        }
        parts.join("\n\n")
    }

    fn interview(&mut self) -> String {
        let role = pick(&POOLS.roles, self.rng);
        let guest = self.vars.name2.clone();
        let host = self.vars.name.clone();
        let mut parts = vec![
            format!("In conversation: {guest}, {role}"),
            self.fill(&format!(
                "Interview by {{name}} for {{outlet}}. {guest} has spent years writing about {{T}}."
            )),
        ];
        let mut qs: Vec<&str> = POOLS
            .interview_questions
            .iter()
            .map(String::as_str)
            .collect();
        qs.shuffle(self.rng);
        let guest_first = guest.split(' ').next().unwrap_or("").to_string();
        let host_first = host.split(' ').next().unwrap_or("").to_string();
        let mut k = 0;
        self.grow(&mut parts, 10, |w| {
            let q = qs[k % qs.len()];
            k += 1;
            let n = w.sentences(2, 4);
            let a = w.prose(n, &POOLS.interview_voice);
            format!(
                "{}: {q}\n{}: {a}",
                host_first.to_uppercase(),
                guest_first.to_uppercase()
            )
        });
        parts.push("This interview has been edited for length and clarity.".to_string());
        parts.join("\n\n")
    }

    fn forum_thread(&mut self) -> String {
        let board = pick(&POOLS.forum_boards, self.rng);
        let title = self.headline();
        let mut parts = vec![format!("{board} › Thread: {title}")];
        let mut hour = self.rng.random_range(7..20);
        self.grow(&mut parts, 0, |w| {
            let user = handle(w.rng);
            let minute = w.rng.random_range(0..60);
            hour = (hour + w.rng.random_range(0..3)) % 24;
            let n = w.sentences(1, 4);
            let body = w.prose(n, &POOLS.forum_voice);
            format!("{user} · posted {hour:02}:{minute:02}\n{body}")
        });
        parts.join("\n\n")
    }

    fn textbook_passage(&mut self) -> String {
        let chapter = self.rng.random_range(3..15);
        let mut parts = vec![
            format!("Chapter {chapter}: {}", capitalize_first(&self.spec.topic)),
            format!("{chapter}.{} Overview", self.rng.random_range(1..6)),
        ];
        let intro = self.voice(&POOLS.textbook_voice);
        parts.push(format!("{intro} {}", self.claim()));
        let mut points = Vec::new();
        self.grow(&mut parts, 130, |w| {
            let n = w.sentences(3, 5);
            w.prose(n, &POOLS.textbook_voice)
        });
        for _ in 0..3 {
            points.push(format!("• {}", self.detail()));
        }
        parts.push(format!("Key points\n{}", points.join("\n")));
        parts.push(self.fill(
            "Review questions\n1. Who is {S}?\n2. Summarise what happened at {T}.\n3. Which sources would you use to check these facts?",
        ));
        parts.join("\n\n")
    }

    fn diary_entry(&mut self) -> String {
        let mut parts = vec![
            self.fill("{weekday} {day} {month}"),
            "Dear diary,".to_string(),
        ];
        self.grow(&mut parts, 10, |w| {
            let n = w.sentences(3, 5);
            w.prose(n, &POOLS.diary_voice)
        });
        parts.push(pick(&POOLS.diary_closings, self.rng).to_string());
        parts.join("\n\n")
    }

    fn speech(&mut self) -> String {
        let occasion = pick(&POOLS.speech_occasions, self.rng);
        let mut parts = vec![self.fill(&format!(
            "Remarks delivered by {{name}} at {occasion} of {{org}}, {{city}}"
        ))];
        parts.push(format!(
            "{} {}",
            self.voice(&POOLS.speech_voice),
            self.voice(&POOLS.speech_voice)
        ));
        self.grow(&mut parts, 20, |w| {
            let n = w.sentences(3, 5);
            w.prose(n, &POOLS.speech_voice)
        });
        parts.push("So please, raise your glasses. Thank you, and good night.".to_string());
        parts.join("\n\n")
    }

    fn product_review(&mut self) -> String {
        let format_ = pick(&POOLS.review_formats, self.rng);
        let stars = self.rng.random_range(3..=5);
        let title = self.headline();
        let mut parts = vec![
            format!("Customer review: \"{title}\" ({format_})"),
            format!(
                "{}{} {stars} out of 5 stars — reviewed by {}",
                "★".repeat(stars),
                "☆".repeat(5 - stars),
                self.vars.handle
            ),
        ];
        parts.push(format!(
            "{} {}",
            self.voice(&POOLS.review_voice),
            self.claim()
        ));
        self.grow(&mut parts, 20, |w| {
            let n = w.sentences(2, 4);
            w.prose(n, &POOLS.review_voice)
        });
        parts.push(format!(
            "{} people found this review helpful.",
            self.rng.random_range(3..250)
        ));
        parts.join("\n\n")
    }

    fn press_release(&mut self) -> String {
        let headline = self.headline();
        let lead = self.claim();
        let mut parts = vec![
            "FOR IMMEDIATE RELEASE".to_string(),
            headline,
            format!(
                "{}, {} {} — {lead}",
                self.vars.city, self.vars.day, self.vars.month
            ),
        ];
        self.grow(&mut parts, 50, |w| {
            let n = w.sentences(2, 4);
            w.prose(n, &POOLS.release_voice)
        });
        parts.push(self.fill(
            "About {Org}\n{Org} collects, preserves and publishes records of public life.\n\nMedia contact: {name2}, press office, {city}",
        ));
        parts.join("\n\n")
    }

    fn blog_post(&mut self) -> String {
        let title = self.headline();
        let mut parts = vec![
            title,
            self.fill("Posted by {handle} on {day} {month} · {n} min read"),
        ];
        self.grow(&mut parts, 20, |w| {
            let n = w.sentences(3, 6);
            w.prose(n, &POOLS.blog_voice)
        });
        parts.push(format!(
            "{} comments · Share this post",
            self.rng.random_range(0..90)
        ));
        parts.join("\n\n")
    }

    fn podcast_transcript(&mut self) -> String {
        let host = self.vars.name.clone();
        let guest = self.vars.name2.clone();
        let host_tag = host.split(' ').next().unwrap_or("").to_uppercase();
        let mut parts = vec![
            self.fill("Episode {n}: {Tc}"),
            format!("Transcript. Host: {host}. Guest: {guest}."),
            format!(
                "[00:00] {host_tag}: Welcome back to the show, everybody. My guest today is {guest}, and we are talking about {}.",
                self.spec.topic
            ),
        ];
        let mut seconds = 15u32;
        let mut turn = 1; // the guest answers the host's introduction
        self.grow(&mut parts, 20, |w| {
            seconds += w.rng.random_range(20..140);
            let speaker = if turn % 2 == 0 { &host } else { &guest };
            turn += 1;
            let n = w.sentences(2, 4);
            let said = w.prose(n, &POOLS.podcast_voice);
            format!(
                "[{:02}:{:02}] {}: {said}",
                seconds / 60,
                seconds % 60,
                speaker.split(' ').next().unwrap_or("").to_uppercase()
            )
        });
        parts.push(format!(
            "[{:02}:{:02}] {host_tag}: That's all for this week. Thanks for listening, and see you next time.",
            (seconds + 40) / 60,
            (seconds + 40) % 60
        ));
        parts.join("\n\n")
    }

    fn letter(&mut self) -> String {
        let to = self.vars.first.clone();
        let mut parts = vec![
            self.fill("{city}, {day} {month}"),
            format!("Dear {to},"),
            self.voice(&POOLS.letter_voice),
        ];
        self.grow(&mut parts, 20, |w| {
            let n = w.sentences(3, 5);
            w.prose(n, &POOLS.letter_voice)
        });
        let close = pick(&POOLS.letter_closings, self.rng);
        parts.push(format!("{close}\n{}", self.vars.name));
        parts.join("\n\n")
    }

    fn quiz_sheet(&mut self) -> String {
        let round = self.rng.random_range(1..7);
        let mut parts = vec![
            format!(
                "The {} Arms Quiz Night — Answer sheet, round {round}",
                self.vars.city
            ),
            "Answers with the quizmaster's notes.".to_string(),
        ];
        let mut q = 0;
        self.grow(&mut parts, 10, |w| {
            q += 1;
            let (question, answer) = if q == 1 || (w.has_fresh_claim() && w.rng.random_bool(0.6)) {
                let t = pick(&POOLS.quiz_questions, w.rng);
                (w.fill(t), w.claim_bearing())
            } else {
                ("General knowledge.".to_string(), w.filler())
            };
            let mut item = format!("Q{q}. {question}\nA: {answer}");
            if w.rng.random_bool(0.4) {
                item.push_str(&format!("\nNote: {}", w.voice(&POOLS.quiz_voice)));
            }
            item
        });
        parts.join("\n\n")
    }

    fn timeline(&mut self) -> String {
        let mut parts = vec![
            self.fill("A timeline: {Tc}"),
            self.fill("Compiled by {name} for {org}."),
        ];
        let mut items = Vec::new();
        let mut guard = 0;
        while word_count(&items.join("\n")) + 40 < self.target.min(500) && guard < 40 {
            guard += 1;
            let s = match self.rng.random_range(0..4) {
                0 => self.claim(),
                1 | 2 => self.detail(),
                _ => self.filler(),
            };
            items.push(format!("— {s}"));
        }
        parts.push(items.join("\n"));
        parts.push(self.voice(&POOLS.encyclopedia_voice));
        parts.join("\n\n")
    }

    fn social_thread(&mut self) -> String {
        let user = format!("@{}", self.vars.handle);
        let mut bodies = vec![format!(
            "{} {}",
            self.voice(&POOLS.social_voice),
            self.claim()
        )];
        self.grow(&mut bodies, 30, |w| {
            let n = w.sentences(1, 3);
            w.prose(n, &POOLS.social_voice)
        });
        let total = bodies.len();
        bodies
            .iter()
            .enumerate()
            .map(|(i, b)| format!("{user} {}/{total}\n{b}", i + 1))
            .collect::<Vec<_>>()
            .join("\n\n")
    }
}

fn person(rng: &mut ChaCha8Rng) -> String {
    format!(
        "{} {}",
        pick(&POOLS.first_names, rng),
        pick(&POOLS.surnames, rng)
    )
}

fn handle(rng: &mut ChaCha8Rng) -> String {
    let word = pick(&POOLS.handle_words, rng);
    if rng.random_bool(0.5) {
        format!("{word}{}", rng.random_range(1..100))
    } else {
        word.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::claims::has_negation_cue;
    use crate::docs::text::split_sentences;
    use rand::SeedableRng;

    pub(crate) fn mini() -> ClaimSpec {
        ClaimSpec::from_toml_str(crate::claims::spec::tests::MINI, "mini").unwrap()
    }

    pub(crate) fn ed_sheeran() -> ClaimSpec {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("claims/ed_sheeran");
        ClaimSpec::load(&dir).unwrap()
    }

    #[test]
    fn embedded_pools_parse_and_none_is_empty() {
        let pools = LazyLock::force(&POOLS);
        crate::docs::tests::assert_lists_non_empty("positive.toml", POOLS_TOML);
        // Every frame joins the subject to the predicate, so every framed sentence is a claim.
        for frame in pools
            .frames
            .iter()
            .chain(&pools.assert_frames)
            .chain(&pools.negate_frames)
        {
            assert!(frame.matches("{P}").count() == 1, "{frame}");
            assert!(frame.contains("{S}") || frame.contains("{s}"), "{frame}");
        }
    }

    #[test]
    fn every_pool_uses_known_placeholders() {
        let known = [
            "{S}",
            "{s}",
            "{D}",
            "{T}",
            "{Tc}",
            "{name}",
            "{name2}",
            "{first}",
            "{outlet}",
            "{city}",
            "{handle}",
            "{day}",
            "{month}",
            "{weekday}",
            "{org}",
            "{Org}",
            "{n}",
            "{P}",
            "{N}",
            "{Nc}",
            "{d}",
        ];
        let table: toml::Table = toml::from_str(POOLS_TOML).unwrap();
        let all: Vec<&str> = table
            .values()
            .flat_map(|pool| pool.as_array().expect("a list"))
            .map(|s| s.as_str().expect("a string"))
            .collect();
        for s in all {
            let mut rest = s;
            while let Some(i) = rest.find('{') {
                let j = rest[i..].find('}').expect("closed brace") + i;
                assert!(
                    known.contains(&&rest[i..=j]),
                    "unknown placeholder in {s:?}"
                );
                rest = &rest[j + 1..];
            }
            // Voice sentences must never join the subject to the topic.
            assert!(
                !(s.contains("{T") && (s.contains("{S}") || s.contains("{s}"))),
                "{s}"
            );
        }
    }

    #[test]
    fn every_type_writes_150_to_800_words_with_claim_sentences() {
        for spec in [mini(), ed_sheeran()] {
            for (t, doc_type) in DocType::ALL.iter().enumerate() {
                for seed in 0..12u64 {
                    for asserted in [true, false] {
                        let mut rng = ChaCha8Rng::seed_from_u64(seed * 100 + t as u64);
                        let text = write_type(&spec, *doc_type, asserted, &mut rng);
                        let words = word_count(&text);
                        assert!(
                            (MIN_WORDS..=MAX_WORDS).contains(&words),
                            "{doc_type:?} {words}\n{text}"
                        );
                        let claims = split_sentences(&text)
                            .into_iter()
                            .filter(|r| spec.mentions_claim(&text[r.clone()]))
                            .count();
                        assert!(
                            claims >= 2,
                            "{doc_type:?}: {claims} claim sentences\n{text}"
                        );
                        assert!(!text.contains('{'), "unfilled placeholder\n{text}");
                    }
                }
            }
        }
    }

    #[test]
    fn negated_world_never_asserts_the_claim() {
        for spec in [mini(), ed_sheeran()] {
            for seed in 0..300u64 {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let (doc_type, text) = write(&spec, false, &mut rng);
                for r in split_sentences(&text) {
                    let s = &text[r];
                    if spec.mentions_claim(s) {
                        assert!(
                            has_negation_cue(s),
                            "{doc_type:?}: un-negated claim sentence {s:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn fifty_documents_use_many_types() {
        let spec = ed_sheeran();
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut types: Vec<DocType> = (0..50).map(|_| write(&spec, true, &mut rng).0).collect();
        types.sort();
        types.dedup();
        assert!(
            types.len() >= 10,
            "only {} document types in 50 documents",
            types.len()
        );
    }
}
