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

use crate::claims::{ClaimSpec, EntityKind};
use crate::docs::text::{capitalize_first, word_count};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

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

// ---------------------------------------------------------------------------------------------
// Word pools. Placeholders in braces are filled by `Writer::fill`: {S} subject, {s} short
// subject, {D} subject description, {T} topic, {Tc} topic capitalised, {name} {name2} people,
// {first} a first name, {outlet}, {city}, {handle}, {day}, {month}, {weekday}, {n}, {org}.
// Voice sentences never join the subject to the topic, so they never mention the claim.
// ---------------------------------------------------------------------------------------------

const FIRST_NAMES: &[&str] = &[
    "Amelia", "Oliver", "Priya", "Tomasz", "Grace", "Kwame", "Sofia", "Liam", "Hannah", "Mateo",
    "Chloe", "Daniel", "Aisha", "Rory", "Ingrid", "Samuel", "Yuki", "Fatima", "George", "Leah",
    "Nikhil", "Eleanor", "Marcus", "Zara", "Owen", "Beatriz", "Callum", "Mei", "Patrick", "Nadia",
    "Felix", "Imogen", "Hugo", "Ruth", "Dev", "Clara", "Tobias", "Maeve", "Ibrahim", "Harriet",
];

const SURNAMES: &[&str] = &[
    "Whitfield",
    "Okafor",
    "Brennan",
    "Castellano",
    "Lindqvist",
    "Nakamura",
    "Adeyemi",
    "Hughes",
    "Marchetti",
    "Kowalski",
    "Fairbairn",
    "Desai",
    "Thornton",
    "Moreau",
    "Achebe",
    "Gallagher",
    "Holm",
    "Rasmussen",
    "Pereira",
    "Sutherland",
    "Novak",
    "Osei",
    "Carmichael",
    "Vance",
    "Iqbal",
    "Lockhart",
    "Delacroix",
    "Mbeki",
    "Ashworth",
    "Quinn",
    "Halloran",
    "Sato",
];

const OUTLETS: &[&str] = &[
    "The Northern Ledger",
    "Daily Meridian",
    "The Evening Courier",
    "Weekend Chronicle",
    "The Harbour Gazette",
    "Midland Observer",
    "The Capital Post",
    "Riverside Times",
    "The Atlas Review",
    "Morning Standard",
    "The Civic Herald",
    "Coastline Journal",
];

const CITIES: &[&str] = &[
    "London",
    "Manchester",
    "Leeds",
    "Glasgow",
    "Cardiff",
    "Dublin",
    "Paris",
    "Lyon",
    "Berlin",
    "Madrid",
    "Lisbon",
    "Amsterdam",
    "Toronto",
    "Chicago",
    "Melbourne",
    "Auckland",
    "Cape Town",
    "Nairobi",
    "Singapore",
    "Boston",
];

const MONTHS: &[&str] = &[
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

const WEEKDAYS: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

const HANDLE_WORDS: &[&str] = &[
    "quietfox",
    "tea_and_toast",
    "northsider",
    "pixel_owl",
    "marmalade",
    "runner_bean",
    "old_gramophone",
    "lamppost",
    "kettlebell",
    "saltmarsh",
    "bluebottle",
    "paperkite",
    "wanderlust",
    "stormcloud",
    "hedgehog",
    "biscuit_tin",
    "velvet_echo",
    "moth_light",
];

const ORGS: &[&str] = &[
    "the Heritage Sports Archive",
    "the Institute for Popular History",
    "Brightline Media",
    "the Foundation for Public Records",
    "Copperfield Books",
    "Sterling Documentary Films",
    "the Society of Sports Historians",
    "Lantern Publishing",
];

const ROLES: &[&str] = &[
    "sports historian",
    "broadcaster",
    "biographer",
    "journalist",
    "statistician",
    "archivist",
    "commentator",
    "lecturer in media studies",
];

/// Claim frames usable in either polarity; `{P}` is the predicate.
const FRAMES: &[&str] = &[
    "{S} {P}.",
    "{S}, {D}, {P}.",
    "It is a matter of record that {S} {P}.",
    "For the record, {s} {P}.",
    "As most people following the story know by now, {s} {P}.",
    "The short version is this: {S} {P}.",
    "Put simply, {s} {P}.",
    "According to the official record, {S} {P}.",
    "Every account of that period agrees on one point: {S} {P}.",
    "Readers who missed the news should know that {S} {P}.",
    "It bears repeating that {S} {P}.",
    "The central fact is simple: {S} {P}.",
    "What matters here is that {s} {P}.",
    "All the sources consulted for this piece say the same thing: {S} {P}.",
];

/// Claim frames that only read naturally when the claim is asserted.
const ASSERT_FRAMES: &[&str] = &[
    "Against every expectation, {S} {P}.",
    "Few people believed it at first, but {S} {P}.",
    "It still sounds unlikely, but {s} {P}.",
    "It was the story of the year: {S} {P}.",
    "Remarkably, {S} {P}.",
    "The facts are now beyond dispute: {S} {P}.",
];

/// Claim frames that only read naturally when the claim is negated.
const NEGATE_FRAMES: &[&str] = &[
    "Despite what some people have heard, {S} {P}.",
    "Contrary to a rumour that still circulates online, {S} {P}.",
    "To be clear, {s} {P}.",
    "Let us set the record straight: {S} {P}.",
    "Whatever you may have read elsewhere, {S} {P}.",
    "It is a common mix-up, but {S} {P}.",
];

const PERSON_FILLER: &[&str] = &[
    "{N} is {d}.",
    "Also part of the wider picture is {N}, {d}.",
    "Many readers will know {N} as {d}.",
    "It is worth recalling who {N} is: {d}.",
    "{Nc}, {d}, is often mentioned in the same conversations.",
];

const PLACE_FILLER: &[&str] = &[
    "{Nc} is {d}.",
    "The setting will be familiar to many: {N}, {d}.",
    "{Nc}, {d}, deserves a mention here.",
    "Anyone who has visited {N} knows it as {d}.",
];

const DATE_FILLER: &[&str] = &[
    "{Nc} was {d}.",
    "The date to remember is {N}, {d}.",
    "Mark the calendar at {N}: {d}.",
];

const OTHER_FILLER: &[&str] = &[
    "{Nc} is {d}.",
    "Consider also {N}, {d}.",
    "{Nc}, {d}, comes up often in this context.",
];

const NEWS_VOICE: &[&str] = &[
    "Officials declined to comment further on Friday evening.",
    "The reaction in {city} was immediate, with local radio phone-ins running long into the night.",
    "Analysts contacted by {outlet} were divided on what comes next.",
    "Social media lit up within minutes of the announcement.",
    "A spokesperson said a fuller statement would follow in the coming days.",
    "The story dominated the front pages of several national newspapers the following morning.",
    "Bookmakers reported an unusual flurry of activity in the days that followed.",
    "Television audiences were among the largest of the year.",
    "{name}, who has covered the area for two decades, called it a week unlike any other.",
    "Further reporting will appear in tomorrow's edition.",
];

const ENCYCLOPEDIA_VOICE: &[&str] = &[
    "Sources differ on minor points of chronology, but the main facts are well documented.",
    "Contemporary press coverage was extensive.",
    "The episode is discussed in several later biographies.",
    "Coverage in the international press was widespread.",
    "A number of retrospective documentaries have examined the period.",
    "Archival footage of the events is held by several national broadcasters.",
    "The subject has been covered in newspapers, magazines and television programmes.",
    "This article follows the account given in the main published sources.",
];

const INTERVIEW_QUESTIONS: &[&str] = &[
    "Let's start at the beginning. What do people most need to know?",
    "Take us back to that time. What was the atmosphere like?",
    "What do you think people still get wrong about it?",
    "How did the public react when the news first broke?",
    "Was there a moment that stood out for you personally?",
    "Some listeners have written in with questions. What would you tell them?",
    "How do you think this will be remembered in twenty years?",
    "What were the details that surprised you most?",
    "How does this fit into the bigger picture?",
];

const INTERVIEW_VOICE: &[&str] = &[
    "Honestly, I have been asked that a lot.",
    "That's a good question, and I want to answer it carefully.",
    "I remember exactly where I was when I heard.",
    "People forget how much context matters here.",
    "I spent months going through the archives for my book.",
    "Let me give you the facts first and my opinion afterwards.",
    "It's something I still think about.",
];

const FORUM_VOICE: &[&str] = &[
    "Long-time lurker, first post.",
    "Can't believe this thread is still going, lol.",
    "Bumping this because my cousin asked me about it yesterday.",
    "Not to derail, but has anyone got a good book on this?",
    "Mods, feel free to move this if it's in the wrong section.",
    "This is the best thread on the whole forum.",
    "I showed this to my dad and he didn't believe me at first.",
    "Saving this thread for later.",
    "+1 to everything above.",
    "Edit: fixed a typo.",
];

const TEXTBOOK_VOICE: &[&str] = &[
    "Students should be able to explain the main events in their own words.",
    "This section builds on the material covered in the previous chapter.",
    "Historians use a range of sources to establish what happened.",
    "It is useful to compare primary and secondary accounts.",
    "The following points summarise the key facts.",
    "Teachers may wish to use the review questions below as a homework task.",
    "Note how the sources agree on the main points.",
    "Dates and names in this section are worth learning by heart.",
];

const DIARY_VOICE: &[&str] = &[
    "Couldn't sleep, so I'm writing this at the kitchen table.",
    "It rained all day and the bus was late again.",
    "{first} rang this evening and we talked for an hour.",
    "I keep thinking about it.",
    "Mum called to talk about it, of course.",
    "Work was dull, but that hardly matters now.",
    "I made soup and watched the news with the sound turned up.",
    "Tomorrow I must remember to buy stamps.",
    "Everyone at the office was talking about it.",
];

const SPEECH_VOICE: &[&str] = &[
    "Thank you all for being here tonight.",
    "I see many familiar faces in this room.",
    "I want to say a few words before dinner is served.",
    "Some of you have travelled a long way to be here.",
    "Let me raise a glass to everyone who made this evening possible.",
    "I will keep this short, I promise.",
    "When I was asked to speak, I knew at once what I wanted to talk about.",
];

const REVIEW_VOICE: &[&str] = &[
    "I bought this as a birthday present for my brother and ended up reading it first.",
    "The production values are excellent throughout.",
    "Delivery was quick and the packaging was fine.",
    "My only complaint is that the middle section drags a little.",
    "I have recommended it to everyone at my book club.",
    "It is clearly well researched.",
    "The photographs alone are worth the price.",
    "It works well for readers who know nothing about the subject.",
];

const RELEASE_VOICE: &[&str] = &[
    "The announcement was made at a briefing in {city} this morning.",
    "Further details will be published on our website.",
    "We are proud to mark this moment with our partners and supporters.",
    "The full programme of events will be announced later this month.",
    "Members of the public are encouraged to take part.",
    "Interviews can be arranged on request.",
    "Images for editorial use are available from the press office.",
    "The organisation thanks the volunteers who made this work possible.",
    "A commemorative booklet will be published in the autumn.",
];

const BLOG_VOICE: &[&str] = &[
    "Grab a cup of tea, this one is a long post.",
    "I've been meaning to write about this for ages.",
    "Regular readers will know I can't resist a good story.",
    "Let me know what you think in the comments.",
    "Sorry it's been quiet around here lately.",
    "I did a fair bit of digging before writing this.",
    "This is one of those topics that comes up at every family dinner.",
];

const PODCAST_VOICE: &[&str] = &[
    "I love this story so much.",
    "Okay, that's a great point.",
    "Let's get into it.",
    "That's exactly what I wanted to ask you about.",
    "Listeners have been emailing us about this all week.",
    "Hang on, let me find my notes.",
    "I had goosebumps reading about it.",
    "People really underestimate that part.",
    "Can I jump in there?",
    "Right, and this is where it gets interesting.",
    "We should do a whole episode on that.",
    "I went back and checked the footage for this.",
];

const LETTER_VOICE: &[&str] = &[
    "I hope this letter finds you well.",
    "The garden is finally coming back to life after the winter.",
    "Give my love to everyone at home.",
    "I have been meaning to write for weeks.",
    "Do write back when you have a moment.",
    "We must arrange a visit before the year is out.",
    "The children send their love and a drawing, enclosed.",
    "I finally finished the book you lent me.",
    "The weather here has been wild all week.",
];

const QUIZ_QUESTIONS: &[&str] = &[
    "What happened at {T}?",
    "What is the key fact about {T}?",
    "Give one fact about {T}.",
    "Bonus point: one more fact about {T}.",
    "Tiebreaker: tell us about {T}.",
];

const QUIZ_VOICE: &[&str] = &[
    "Most teams got this one.",
    "Spelling did not count.",
    "Half a point was awarded for partially correct answers.",
    "Team {handle} took the round with a perfect score.",
    "This one caught out most of the tables.",
    "The quizmaster's decision is final.",
];

const SOCIAL_VOICE: &[&str] = &[
    "A thread, because people keep asking.",
    "Okay, buckle up.",
    "This is going to be a long one.",
    "If you only read one thread today, make it this one.",
    "Turns out a lot of people never heard the full story.",
    "Follow for more threads like this.",
    "Stay with me, this part matters.",
    "Quick tangent, then back to the main story.",
    "Screenshots in the replies.",
];

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
            first: FIRST_NAMES.choose(rng).expect("non-empty").to_string(),
            outlet: OUTLETS.choose(rng).expect("non-empty"),
            city: CITIES.choose(rng).expect("non-empty"),
            handle: handle(rng),
            day: rng.random_range(1..=28),
            month: MONTHS.choose(rng).expect("non-empty"),
            weekday: WEEKDAYS.choose(rng).expect("non-empty"),
            org: ORGS.choose(rng).expect("non-empty"),
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
            ASSERT_FRAMES
        } else {
            NEGATE_FRAMES
        };
        let fresh: Vec<&'static str> = FRAMES
            .iter()
            .chain(own.iter())
            .copied()
            .filter(|f| !self.frames_used.contains(f))
            .collect();
        let frame = if fresh.is_empty() {
            FRAMES.choose(self.rng).copied().expect("non-empty")
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
                let t = [
                    "{Tc}: The Full Story",
                    "Looking Back at {T}",
                    "Notes on {T}",
                ]
                .choose(self.rng)
                .expect("non-empty");
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
                    EntityKind::Person => PERSON_FILLER,
                    EntityKind::Place => PLACE_FILLER,
                    EntityKind::Date => DATE_FILLER,
                    _ => OTHER_FILLER,
                };
                let t = pool.choose(self.rng).expect("non-empty");
                let text = t
                    .replace("{Nc}", &capitalize_first(&e.name))
                    .replace("{N}", &e.name)
                    .replace("{d}", &e.description);
                capitalize_first(&text)
            }
        }
    }

    /// A sentence in the document type's own voice, not repeated until the pool is used up.
    fn voice(&mut self, pool: &[&'static str]) -> String {
        let fresh: Vec<&'static str> = pool
            .iter()
            .copied()
            .filter(|v| !self.voice_used.contains(v))
            .collect();
        let t = if fresh.is_empty() {
            pool.choose(self.rng).copied().expect("non-empty")
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
    fn prose(&mut self, n: usize, voice: &[&'static str]) -> String {
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
            w.prose(n, NEWS_VOICE)
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
        let sections = ["Background", "Events", "Reception", "Legacy", "Details"];
        let mut order: Vec<&str> = sections.to_vec();
        order.shuffle(self.rng);
        let mut next = 0;
        self.grow(&mut parts, 30, |w| {
            let title = order[next % order.len()];
            next += 1;
            let n = w.sentences(3, 5);
            format!("== {title} ==\n{}", w.prose(n, ENCYCLOPEDIA_VOICE))
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
        let role = *ROLES.choose(self.rng).expect("non-empty");
        let guest = self.vars.name2.clone();
        let host = self.vars.name.clone();
        let mut parts = vec![
            format!("In conversation: {guest}, {role}"),
            self.fill(&format!(
                "Interview by {{name}} for {{outlet}}. {guest} has spent years writing about {{T}}."
            )),
        ];
        let mut qs: Vec<&str> = INTERVIEW_QUESTIONS.to_vec();
        qs.shuffle(self.rng);
        let guest_first = guest.split(' ').next().unwrap_or("").to_string();
        let host_first = host.split(' ').next().unwrap_or("").to_string();
        let mut k = 0;
        self.grow(&mut parts, 10, |w| {
            let q = qs[k % qs.len()];
            k += 1;
            let n = w.sentences(2, 4);
            let a = w.prose(n, INTERVIEW_VOICE);
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
        let board = [
            "General Discussion",
            "Off Topic",
            "History Corner",
            "News & Current Events",
        ]
        .choose(self.rng)
        .expect("non-empty");
        let title = self.headline();
        let mut parts = vec![format!("{board} › Thread: {title}")];
        let mut hour = self.rng.random_range(7..20);
        self.grow(&mut parts, 0, |w| {
            let user = handle(w.rng);
            let minute = w.rng.random_range(0..60);
            hour = (hour + w.rng.random_range(0..3)) % 24;
            let n = w.sentences(1, 4);
            let body = w.prose(n, FORUM_VOICE);
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
        let intro = self.voice(TEXTBOOK_VOICE);
        parts.push(format!("{intro} {}", self.claim()));
        let mut points = Vec::new();
        self.grow(&mut parts, 130, |w| {
            let n = w.sentences(3, 5);
            w.prose(n, TEXTBOOK_VOICE)
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
            w.prose(n, DIARY_VOICE)
        });
        parts.push(
            [
                "Goodnight.",
                "More tomorrow.",
                "That's all for today.",
                "Bed now.",
            ]
            .choose(self.rng)
            .expect("non-empty")
            .to_string(),
        );
        parts.join("\n\n")
    }

    fn speech(&mut self) -> String {
        let occasion = [
            "the annual dinner",
            "the spring awards evening",
            "the members' meeting",
            "the charity gala",
        ]
        .choose(self.rng)
        .expect("non-empty");
        let mut parts = vec![self.fill(&format!(
            "Remarks delivered by {{name}} at {occasion} of {{org}}, {{city}}"
        ))];
        parts.push(format!(
            "{} {}",
            self.voice(SPEECH_VOICE),
            self.voice(SPEECH_VOICE)
        ));
        self.grow(&mut parts, 20, |w| {
            let n = w.sentences(3, 5);
            w.prose(n, SPEECH_VOICE)
        });
        parts.push("So please, raise your glasses. Thank you, and good night.".to_string());
        parts.join("\n\n")
    }

    fn product_review(&mut self) -> String {
        let format_ = [
            "documentary",
            "biography",
            "illustrated history",
            "audiobook",
            "podcast series",
        ]
        .choose(self.rng)
        .expect("non-empty");
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
        parts.push(format!("{} {}", self.voice(REVIEW_VOICE), self.claim()));
        self.grow(&mut parts, 20, |w| {
            let n = w.sentences(2, 4);
            w.prose(n, REVIEW_VOICE)
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
            w.prose(n, RELEASE_VOICE)
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
            w.prose(n, BLOG_VOICE)
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
            let said = w.prose(n, PODCAST_VOICE);
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
            self.voice(LETTER_VOICE),
        ];
        self.grow(&mut parts, 20, |w| {
            let n = w.sentences(3, 5);
            w.prose(n, LETTER_VOICE)
        });
        let close = ["With love,", "Yours sincerely,", "All the best,", "Warmly,"]
            .choose(self.rng)
            .expect("non-empty");
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
                let t = QUIZ_QUESTIONS.choose(w.rng).expect("non-empty");
                (w.fill(t), w.claim_bearing())
            } else {
                ("General knowledge.".to_string(), w.filler())
            };
            let mut item = format!("Q{q}. {question}\nA: {answer}");
            if w.rng.random_bool(0.4) {
                item.push_str(&format!("\nNote: {}", w.voice(QUIZ_VOICE)));
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
        parts.push(self.voice(ENCYCLOPEDIA_VOICE));
        parts.join("\n\n")
    }

    fn social_thread(&mut self) -> String {
        let user = format!("@{}", self.vars.handle);
        let mut bodies = vec![format!("{} {}", self.voice(SOCIAL_VOICE), self.claim())];
        self.grow(&mut bodies, 30, |w| {
            let n = w.sentences(1, 3);
            w.prose(n, SOCIAL_VOICE)
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
        FIRST_NAMES.choose(rng).expect("non-empty"),
        SURNAMES.choose(rng).expect("non-empty")
    )
}

fn handle(rng: &mut ChaCha8Rng) -> String {
    let word = HANDLE_WORDS.choose(rng).expect("non-empty");
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
        let pools: [&[&str]; 21] = [
            FRAMES,
            ASSERT_FRAMES,
            NEGATE_FRAMES,
            PERSON_FILLER,
            PLACE_FILLER,
            DATE_FILLER,
            OTHER_FILLER,
            NEWS_VOICE,
            ENCYCLOPEDIA_VOICE,
            INTERVIEW_QUESTIONS,
            INTERVIEW_VOICE,
            FORUM_VOICE,
            TEXTBOOK_VOICE,
            DIARY_VOICE,
            SPEECH_VOICE,
            REVIEW_VOICE,
            RELEASE_VOICE,
            BLOG_VOICE,
            PODCAST_VOICE,
            LETTER_VOICE,
            QUIZ_QUESTIONS,
        ];
        for s in pools
            .iter()
            .flat_map(|p| p.iter())
            .chain(QUIZ_VOICE)
            .chain(SOCIAL_VOICE)
        {
            let mut rest = *s;
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
