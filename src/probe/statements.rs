//! Probe datasets: labelled true/false statements.
//!
//! In: a CSV file with a header naming a `statement` and a `label` column (label `1` true, `0`
//! false: the geometry-of-truth convention), optionally a `family` column (where a statement
//! comes from; absent = empty) and a `polarity` column (`affirmative` or `negated`; absent or
//! an empty cell = affirmative); other columns are ignored. Or a seed for the built-in set.
//! Out: [`Statement`]s. Writes `statement,label,family,polarity`.
//!
//! A statement's label is the truth of the whole sentence: "The capital of France is not
//! Paris." is negated and false, "The capital of France is not Berlin." negated and true.
//! Polarity-aware probes (TTPD, [`super::probes`]) use the polarity column.
//!
//! CSV is read and written by [`crate::store::csv`] (RFC 4180 quoting, quoted line breaks, a
//! byte-order mark tolerated). Errors name the file and line.
//!
//! The built-in set ([`builtin`]) is written by neglect itself, so probes can be fitted on a
//! real model without downloading a dataset. Five families of plain facts: number comparisons
//! ("Seventy-two is larger than thirty-one."), the order of days and months ("Tuesday comes
//! after Monday."), small arithmetic ("Seven plus five is twelve."), chemical symbols ("The
//! chemical symbol of iron is Fe."), and capitals ("The capital of France is Paris."; added
//! because SmolLM2-135M knows them well, while it does not know word arithmetic: a truth probe
//! cannot separate that family above chance). Each family yields as many true as false
//! statements, so the set is balanced overall and within each family. With negations, every
//! template also has a negated form ("Seventy-two is not larger than thirty-one.", false), and
//! each family is balanced by label within each polarity as well.

use crate::store::csv::CsvTable;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Whether a statement asserts its content or denies it.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Polarity {
    /// "The capital of France is Paris."
    #[default]
    Affirmative,
    /// "The capital of France is not Paris."
    Negated,
}

impl Polarity {
    /// Both polarities, affirmative first.
    pub const ALL: [Polarity; 2] = [Polarity::Affirmative, Polarity::Negated];

    /// Name as written in files.
    pub fn name(self) -> &'static str {
        match self {
            Polarity::Affirmative => "affirmative",
            Polarity::Negated => "negated",
        }
    }

    /// The polarity named `name`; `None` for any other text.
    pub fn parse(name: &str) -> Option<Self> {
        Polarity::ALL.into_iter().find(|p| p.name() == name)
    }

    /// +1 for affirmative, -1 for negated (TTPD's `p`).
    pub fn sign(self) -> f32 {
        match self {
            Polarity::Affirmative => 1.0,
            Polarity::Negated => -1.0,
        }
    }
}

/// One labelled statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The sentence.
    pub text: String,
    /// True or false (the truth of the whole sentence, negation included).
    pub label: bool,
    /// Where it comes from (a built-in family name; empty when a CSV file has no `family`).
    pub family: String,
    /// Whether the sentence is negated.
    pub polarity: Polarity,
}

/// Parses CSV text (`origin` names it in errors).
pub fn parse_csv(text: &str, origin: &str) -> Result<Vec<Statement>> {
    statements_of(&crate::store::csv::parse_table(text, origin)?)
}

/// The statements of a `statement,label[,family][,polarity]` table.
fn statements_of(table: &CsvTable) -> Result<Vec<Statement>> {
    let origin = &table.origin;
    let (text_col, label_col) = (table.column("statement")?, table.column("label")?);
    let (family_col, polarity_col) = (table.column("family").ok(), table.column("polarity").ok());
    let mut statements = vec![];
    for (number, fields) in &table.records {
        let label = match fields[label_col].trim() {
            "1" => true,
            "0" => false,
            other => bail!("{origin}:{number}: label `{other}` is not 0 or 1"),
        };
        let text = fields[text_col].trim();
        if text.is_empty() {
            bail!("{origin}:{number}: empty statement");
        }
        let polarity = match polarity_col.map(|c| fields[c].trim()) {
            None | Some("") => Polarity::Affirmative,
            Some(name) => Polarity::parse(name).ok_or_else(|| {
                anyhow::anyhow!(
                    "{origin}:{number}: polarity `{name}` is not affirmative or negated"
                )
            })?,
        };
        statements.push(Statement {
            text: text.to_string(),
            label,
            family: family_col
                .map(|c| fields[c].trim().to_string())
                .unwrap_or_default(),
            polarity,
        });
    }
    if statements.is_empty() {
        bail!("{origin}: no statements after the header");
    }
    Ok(statements)
}

/// Reads a `statement,label[,family][,polarity]` CSV file.
pub fn read_csv(path: &Path) -> Result<Vec<Statement>> {
    statements_of(&crate::store::csv::read_table(path)?)
}

/// Writes statements as `statement,label,family,polarity` CSV, atomically.
pub fn write_csv(path: &Path, statements: &[Statement]) -> Result<()> {
    let rows = statements.iter().map(|s| {
        vec![
            s.text.clone(),
            u8::from(s.label).to_string(),
            s.family.clone(),
            s.polarity.name().to_string(),
        ]
    });
    crate::store::csv::write_table(path, &["statement", "label", "family", "polarity"], rows)
}

const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
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
/// Elements a small model has seen often, with their symbols.
const ELEMENTS: [(&str, &str); 40] = [
    ("hydrogen", "H"),
    ("helium", "He"),
    ("lithium", "Li"),
    ("carbon", "C"),
    ("nitrogen", "N"),
    ("oxygen", "O"),
    ("fluorine", "F"),
    ("neon", "Ne"),
    ("sodium", "Na"),
    ("magnesium", "Mg"),
    ("aluminium", "Al"),
    ("silicon", "Si"),
    ("phosphorus", "P"),
    ("sulfur", "S"),
    ("chlorine", "Cl"),
    ("argon", "Ar"),
    ("potassium", "K"),
    ("calcium", "Ca"),
    ("titanium", "Ti"),
    ("chromium", "Cr"),
    ("manganese", "Mn"),
    ("iron", "Fe"),
    ("cobalt", "Co"),
    ("nickel", "Ni"),
    ("copper", "Cu"),
    ("zinc", "Zn"),
    ("arsenic", "As"),
    ("bromine", "Br"),
    ("krypton", "Kr"),
    ("silver", "Ag"),
    ("tin", "Sn"),
    ("iodine", "I"),
    ("xenon", "Xe"),
    ("tungsten", "W"),
    ("platinum", "Pt"),
    ("gold", "Au"),
    ("mercury", "Hg"),
    ("lead", "Pb"),
    ("radon", "Rn"),
    ("uranium", "U"),
];

/// Countries (with their article where English needs one) and capitals a small pretrained model
/// has seen often.
const CAPITALS: [(&str, &str); 48] = [
    ("France", "Paris"),
    ("Germany", "Berlin"),
    ("Italy", "Rome"),
    ("Spain", "Madrid"),
    ("Portugal", "Lisbon"),
    ("the United Kingdom", "London"),
    ("Ireland", "Dublin"),
    ("the Netherlands", "Amsterdam"),
    ("Belgium", "Brussels"),
    ("Austria", "Vienna"),
    ("Switzerland", "Bern"),
    ("Poland", "Warsaw"),
    ("Greece", "Athens"),
    ("Sweden", "Stockholm"),
    ("Norway", "Oslo"),
    ("Denmark", "Copenhagen"),
    ("Finland", "Helsinki"),
    ("Russia", "Moscow"),
    ("Ukraine", "Kyiv"),
    ("Hungary", "Budapest"),
    ("the Czech Republic", "Prague"),
    ("Turkey", "Ankara"),
    ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"),
    ("Nigeria", "Abuja"),
    ("Morocco", "Rabat"),
    ("Ethiopia", "Addis Ababa"),
    ("Japan", "Tokyo"),
    ("China", "Beijing"),
    ("South Korea", "Seoul"),
    ("India", "New Delhi"),
    ("Thailand", "Bangkok"),
    ("Vietnam", "Hanoi"),
    ("Indonesia", "Jakarta"),
    ("the Philippines", "Manila"),
    ("Iran", "Tehran"),
    ("Iraq", "Baghdad"),
    ("Saudi Arabia", "Riyadh"),
    ("Pakistan", "Islamabad"),
    ("Australia", "Canberra"),
    ("New Zealand", "Wellington"),
    ("Canada", "Ottawa"),
    ("Mexico", "Mexico City"),
    ("Cuba", "Havana"),
    ("Argentina", "Buenos Aires"),
    ("Chile", "Santiago"),
    ("Peru", "Lima"),
    ("Colombia", "Bogotá"),
];

/// An English number word for 0..=99 ("seventy-two").
pub fn number_words(n: u32) -> String {
    assert!(n < 100, "number_words covers 0..=99, got {n}");
    match n {
        0..=19 => ONES[n as usize].to_string(),
        _ if n.is_multiple_of(10) => TENS[(n / 10) as usize].to_string(),
        _ => format!("{}-{}", TENS[(n / 10) as usize], ONES[(n % 10) as usize]),
    }
}

fn sentence(text: String) -> String {
    format!("{}.", crate::docs::text::capitalize_first(&text))
}

/// Every candidate of one family and polarity, as (true statements, false statements).
type Pools = (Vec<String>, Vec<String>);

/// Every candidate of one family, affirmative and negated.
#[derive(Default)]
struct Polarised {
    affirmative: Pools,
    negated: Pools,
}

impl Polarised {
    /// Adds a template's affirmative sentence (true when `holds`) and its negated form (true
    /// when it does not hold).
    fn add(&mut self, holds: bool, affirmative: String, negated: String) {
        let (yes, no) = &mut self.affirmative;
        if holds { yes } else { no }.push(affirmative);
        let (yes, no) = &mut self.negated;
        if holds { no } else { yes }.push(negated);
    }

    /// The pools of `polarity`.
    fn of(&mut self, polarity: Polarity) -> &mut Pools {
        match polarity {
            Polarity::Affirmative => &mut self.affirmative,
            Polarity::Negated => &mut self.negated,
        }
    }
}

fn comparison_pools() -> Polarised {
    let mut pools = Polarised::default();
    for a in 1..100 {
        for b in 1..100 {
            if a == b {
                continue;
            }
            let (wa, wb) = (number_words(a), number_words(b));
            for (relation, holds) in [("larger", a > b), ("smaller", a < b)] {
                pools.add(
                    holds,
                    sentence(format!("{wa} is {relation} than {wb}")),
                    sentence(format!("{wa} is not {relation} than {wb}")),
                );
            }
        }
    }
    pools
}

fn order_pools() -> Polarised {
    let mut pools = Polarised::default();
    for names in [&DAYS[..], &MONTHS[..]] {
        let unit = if names.len() == 7 { "day" } else { "month" };
        let n = names.len();
        for (i, &a) in names.iter().enumerate() {
            let next = names[(i + 1) % n];
            // "X comes after Y" is true when X immediately follows Y, false the other way round.
            for (x, verb, y, holds) in [
                (next, "after", a, true),
                (a, "after", next, false),
                (a, "before", next, true),
                (next, "before", a, false),
            ] {
                pools.add(
                    holds,
                    format!("{x} comes {verb} {y}."),
                    format!("{x} does not come {verb} {y}."),
                );
            }
            for &b in names {
                pools.add(
                    b == next,
                    format!("The {unit} after {a} is {b}."),
                    format!("The {unit} after {a} is not {b}."),
                );
                pools.add(
                    b == a,
                    format!("The {unit} before {next} is {b}."),
                    format!("The {unit} before {next} is not {b}."),
                );
            }
        }
    }
    pools
}

fn arithmetic_pools() -> Polarised {
    let mut pools = Polarised::default();
    let mut push = |a: u32, op: &str, b: u32, result: u32| {
        for shown in [Some(result), result.checked_sub(1), Some(result + 2)]
            .into_iter()
            .flatten()
            .filter(|&r| r < 100)
        {
            let (wa, wb, ws) = (number_words(a), number_words(b), number_words(shown));
            pools.add(
                shown == result,
                sentence(format!("{wa} {op} {wb} is {ws}")),
                sentence(format!("{wa} {op} {wb} is not {ws}")),
            );
        }
    };
    for a in 1..=12 {
        for b in 1..=12 {
            push(a, "plus", b, a + b);
            if a > b {
                push(a, "minus", b, a - b);
            }
            if (2..10).contains(&a) && (2..10).contains(&b) {
                push(a, "times", b, a * b);
            }
        }
    }
    pools
}

fn element_pools() -> Polarised {
    let mut pools = Polarised::default();
    for &(element, _) in &ELEMENTS {
        for &(_, symbol) in &ELEMENTS {
            let right = ELEMENTS.iter().any(|&(e, s)| e == element && s == symbol);
            for (affirmative, negated) in [
                (
                    format!("The chemical symbol of {element} is {symbol}."),
                    format!("The chemical symbol of {element} is not {symbol}."),
                ),
                (
                    format!("{symbol} is the chemical symbol of {element}."),
                    format!("{symbol} is not the chemical symbol of {element}."),
                ),
                (
                    format!("The element with the symbol {symbol} is {element}."),
                    format!("The element with the symbol {symbol} is not {element}."),
                ),
            ] {
                pools.add(right, affirmative, negated);
            }
        }
    }
    pools
}

fn capital_pools() -> Polarised {
    let mut pools = Polarised::default();
    for &(country, capital) in &CAPITALS {
        for &(_, city) in &CAPITALS {
            let holds = city == capital;
            pools.add(
                holds,
                sentence(format!("the capital of {country} is {city}")),
                sentence(format!("the capital of {country} is not {city}")),
            );
            pools.add(
                holds,
                format!("{city} is the capital of {country}."),
                format!("{city} is not the capital of {country}."),
            );
        }
    }
    pools
}

/// Families of the built-in set, in the order they are drawn from.
pub const BUILTIN_FAMILIES: [&str; 5] = ["comparison", "order", "arithmetic", "element", "capital"];

fn family_pools() -> Vec<(&'static str, Polarised)> {
    BUILTIN_FAMILIES
        .into_iter()
        .zip([
            comparison_pools(),
            order_pools(),
            arithmetic_pools(),
            element_pools(),
            capital_pools(),
        ])
        .collect()
}

/// The polarities drawn: affirmative only, or both with `negations`.
fn polarities(negations: bool) -> &'static [Polarity] {
    if negations {
        &Polarity::ALL
    } else {
        &Polarity::ALL[..1]
    }
}

/// Balanced statements the families can give: per family, one true and one false statement of
/// each polarity drawn per turn, until its smallest pool runs out.
fn capacity(pools: &mut [(&str, Polarised)], negations: bool) -> usize {
    let polarities = polarities(negations);
    pools
        .iter_mut()
        .map(|(_, family)| {
            let turns = polarities
                .iter()
                .map(|&p| {
                    let (y, f) = family.of(p);
                    y.len().min(f.len())
                })
                .min()
                .unwrap_or(0);
            2 * polarities.len() * turns
        })
        .sum()
}

/// The most statements [`builtin`] can return (with or without negations).
pub fn builtin_capacity(negations: bool) -> usize {
    capacity(&mut family_pools(), negations)
}

/// `n` built-in statements, half true and half false, in a seeded shuffled order. The families
/// take turns contributing one true and one false statement (of each polarity with
/// `negations`), drawn without replacement; a family whose smallest pool runs out stops
/// contributing; `n` is rounded down to a whole number of contributions (2, or 4 with
/// negations). Same seed, same statements; without negations, the statements of earlier
/// versions.
pub fn builtin(n: usize, seed: u64, negations: bool) -> Result<Vec<Statement>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pools = family_pools();
    let capacity = capacity(&mut pools, negations);
    if n > capacity {
        bail!("the built-in set has at most {capacity} balanced statements, {n} asked for");
    }
    let polarities = polarities(negations);
    for (_, family) in &mut pools {
        for &polarity in polarities {
            let (yes, no) = family.of(polarity);
            yes.shuffle(&mut rng);
            no.shuffle(&mut rng);
        }
    }
    let step = 2 * polarities.len();
    let mut out = Vec::with_capacity(n);
    while out.len() + step <= n {
        for (family, pools) in &mut pools {
            if out.len() + step > n {
                break;
            }
            let drawn: Option<Vec<(Polarity, String, String)>> = polarities
                .iter()
                .map(|&p| {
                    let (yes, no) = pools.of(p);
                    (!yes.is_empty() && !no.is_empty()).then(|| {
                        (
                            p,
                            yes.pop().expect("non-empty"),
                            no.pop().expect("non-empty"),
                        )
                    })
                })
                .collect();
            for (polarity, t, f) in drawn.into_iter().flatten() {
                for (text, label) in [(t, true), (f, false)] {
                    out.push(Statement {
                        text,
                        label,
                        family: family.to_string(),
                        polarity,
                    });
                }
            }
        }
    }
    out.shuffle(&mut rng);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn number_words_spell_compounds_with_hyphens() {
        assert_eq!(number_words(72), "seventy-two");
        assert_eq!(number_words(31), "thirty-one");
        assert_eq!(number_words(40), "forty");
        assert_eq!(number_words(13), "thirteen");
    }

    /// The label the pools give `text`, if it is a candidate of any family and polarity.
    fn pool_label(text: &str) -> Option<(bool, Polarity)> {
        let t = text.to_string();
        family_pools().into_iter().find_map(|(_, mut family)| {
            Polarity::ALL.into_iter().find_map(|p| {
                let (yes, no) = family.of(p);
                (yes.contains(&t) || no.contains(&t)).then(|| (yes.contains(&t), p))
            })
        })
    }

    #[test]
    fn builtin_is_balanced_distinct_deterministic_and_right() {
        let set = builtin(2000, 7, false).unwrap();
        assert_eq!(set.len(), 2000);
        assert_eq!(set.iter().filter(|s| s.label).count(), 1000);
        assert!(set.iter().all(|s| s.polarity == Polarity::Affirmative));
        let distinct: HashSet<&str> = set.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(distinct.len(), 2000);
        for family in BUILTIN_FAMILIES {
            let of: Vec<&Statement> = set.iter().filter(|s| s.family == family).collect();
            assert!(of.len() >= 100, "{family}: {}", of.len());
            assert_eq!(2 * of.iter().filter(|s| s.label).count(), of.len());
        }
        assert_eq!(set, builtin(2000, 7, false).unwrap());
        assert_ne!(set, builtin(2000, 8, false).unwrap());
        let label_of = |text: &str| set.iter().find(|s| s.text == text).map(|s| s.label);
        for (text, want) in [
            ("Seventy-two is larger than thirty-one.", true),
            ("Tuesday comes after Monday.", true),
            ("Monday comes after Tuesday.", false),
            ("Seven plus five is twelve.", true),
            ("Seven plus five is eleven.", false),
            ("The chemical symbol of iron is Fe.", true),
            ("The chemical symbol of iron is Au.", false),
            ("The month after December is January.", true),
            ("The day before Monday is Sunday.", true),
            ("The capital of the United Kingdom is London.", true),
            ("Rome is the capital of France.", false),
        ] {
            assert_eq!(
                pool_label(text),
                Some((want, Polarity::Affirmative)),
                "{text}"
            );
            assert!(label_of(text).is_none_or(|l| l == want));
        }
    }

    #[test]
    fn negated_forms_are_labelled_by_the_whole_sentence_and_balanced() {
        for (text, want) in [
            ("The capital of France is not Paris.", false),
            ("The capital of France is not Berlin.", true),
            ("Seventy-two is not larger than thirty-one.", false),
            ("Thirty-one is not larger than seventy-two.", true),
            ("Tuesday does not come after Monday.", false),
            ("Monday does not come after Tuesday.", true),
            ("Seven plus five is not twelve.", false),
            ("Seven plus five is not eleven.", true),
            ("Fe is not the chemical symbol of iron.", false),
            ("The element with the symbol Au is not iron.", true),
            ("The month after December is not February.", true),
        ] {
            assert_eq!(pool_label(text), Some((want, Polarity::Negated)), "{text}");
        }
        let set = builtin(2000, 7, true).unwrap();
        assert_eq!(set.len(), 2000);
        assert_eq!(set, builtin(2000, 7, true).unwrap());
        let distinct: HashSet<&str> = set.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(distinct.len(), 2000);
        for family in BUILTIN_FAMILIES {
            let count = |p: Polarity| {
                let of = set.iter().filter(|s| s.family == family && s.polarity == p);
                of.count()
            };
            // Every turn gives a family as many statements of each polarity.
            assert_eq!(count(Polarity::Affirmative), count(Polarity::Negated));
            for polarity in Polarity::ALL {
                let of: Vec<&Statement> = set
                    .iter()
                    .filter(|s| s.family == family && s.polarity == polarity)
                    .collect();
                assert!(of.len() >= 100, "{family} {polarity:?}: {}", of.len());
                assert_eq!(2 * of.iter().filter(|s| s.label).count(), of.len());
                let negated = of.iter().filter(|s| s.text.contains(" not ")).count();
                assert_eq!(negated == of.len(), polarity == Polarity::Negated);
            }
        }
        // n is rounded down to whole contributions of four.
        assert_eq!(builtin(10, 0, true).unwrap().len(), 8);
    }

    #[test]
    fn the_largest_set_uses_every_balanced_statement() {
        for negations in [false, true] {
            let capacity = builtin_capacity(negations);
            let all = builtin(capacity, 0, negations).unwrap();
            assert_eq!(all.len(), capacity);
            assert!(all.len() >= 20_000, "{}", all.len());
            assert_eq!(2 * all.iter().filter(|s| s.label).count(), all.len());
            assert!(builtin(capacity + 4, 0, negations).is_err());
        }
        assert_eq!(builtin_capacity(true), 2 * builtin_capacity(false));
    }

    #[test]
    fn csv_round_trips_quotes_and_commas() {
        let statements = vec![
            Statement {
                text: "Paris, the capital, is in \"France\".".into(),
                label: true,
                family: "x".into(),
                polarity: Polarity::Affirmative,
            },
            Statement {
                text: "Two is not larger than three.".into(),
                label: true,
                family: "y".into(),
                polarity: Polarity::Negated,
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        write_csv(&path, &statements).unwrap();
        assert_eq!(read_csv(&path).unwrap(), statements);
    }

    #[test]
    fn polarity_is_optional_and_checked() {
        let old = parse_csv("statement,label\nA is A.,1\n", "old.csv").unwrap();
        assert_eq!(old[0].polarity, Polarity::Affirmative);
        assert_eq!(old[0].family, "");
        let got = parse_csv(
            "statement,label,polarity,family\nA is not B.,1,negated,f\nA is A.,1,,g\n",
            "t.csv",
        )
        .unwrap();
        assert_eq!(
            (got[0].polarity, got[0].family.as_str()),
            (Polarity::Negated, "f")
        );
        assert_eq!(got[1].polarity, Polarity::Affirmative);
        let error = parse_csv(
            "statement,label,polarity\nA is A.,1,affirmative\nA is not A.,0,negative\n",
            "bad.csv",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "bad.csv:3: polarity `negative` is not affirmative or negated"
        );
    }

    #[test]
    fn csv_columns_are_found_by_name() {
        let got = parse_csv(
            "label,statement,extra\n1,A is A.,z\n0,\"B, is C.\",w\n",
            "t",
        )
        .unwrap();
        assert_eq!(got[1].text, "B, is C.");
        assert!(got[0].label && !got[1].label);
    }
}
