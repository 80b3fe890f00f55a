//! Probe datasets: labelled true/false statements.
//!
//! In: a CSV file with a header naming a `statement` and a `label` column (label `1` true, `0`
//! false: the geometry-of-truth convention; other columns are ignored), or a seed for the
//! built-in set. Out: [`Statement`]s. Writes the same CSV layout (plus a `family` column for the
//! built-in set).
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
//! statements, so the set is balanced overall and within each family.

use crate::store::csv::CsvTable;
use anyhow::{bail, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// One labelled statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The sentence.
    pub text: String,
    /// True or false.
    pub label: bool,
    /// Where it comes from (a built-in family name; empty for CSV input).
    pub family: String,
}

/// Parses CSV text (`origin` names it in errors).
pub fn parse_csv(text: &str, origin: &str) -> Result<Vec<Statement>> {
    statements_of(&crate::store::csv::parse_table(text, origin)?)
}

/// The statements of a `statement,label` table.
fn statements_of(table: &CsvTable) -> Result<Vec<Statement>> {
    let origin = &table.origin;
    let (text_col, label_col) = (table.column("statement")?, table.column("label")?);
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
        statements.push(Statement {
            text: text.to_string(),
            label,
            family: String::new(),
        });
    }
    if statements.is_empty() {
        bail!("{origin}: no statements after the header");
    }
    Ok(statements)
}

/// Reads a `statement,label` CSV file.
pub fn read_csv(path: &Path) -> Result<Vec<Statement>> {
    statements_of(&crate::store::csv::read_table(path)?)
}

/// Writes statements as `statement,label,family` CSV, atomically.
pub fn write_csv(path: &Path, statements: &[Statement]) -> Result<()> {
    let rows = statements.iter().map(|s| {
        vec![
            s.text.clone(),
            u8::from(s.label).to_string(),
            s.family.clone(),
        ]
    });
    crate::store::csv::write_table(path, &["statement", "label", "family"], rows)
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

/// Every candidate of one family, as (true statements, false statements).
type Pools = (Vec<String>, Vec<String>);

fn comparison_pools() -> Pools {
    let (mut yes, mut no) = (vec![], vec![]);
    for a in 1..100 {
        for b in 1..100 {
            if a == b {
                continue;
            }
            let (wa, wb) = (number_words(a), number_words(b));
            for (relation, holds) in [("larger", a > b), ("smaller", a < b)] {
                let s = sentence(format!("{wa} is {relation} than {wb}"));
                if holds { &mut yes } else { &mut no }.push(s);
            }
        }
    }
    (yes, no)
}

fn order_pools() -> Pools {
    let (mut yes, mut no) = (vec![], vec![]);
    for names in [&DAYS[..], &MONTHS[..]] {
        let unit = if names.len() == 7 { "day" } else { "month" };
        let n = names.len();
        for (i, &a) in names.iter().enumerate() {
            let next = names[(i + 1) % n];
            // "X comes after Y" is true when X immediately follows Y, false the other way round.
            yes.push(format!("{next} comes after {a}."));
            no.push(format!("{a} comes after {next}."));
            yes.push(format!("{a} comes before {next}."));
            no.push(format!("{next} comes before {a}."));
            for &b in names {
                let after = format!("The {unit} after {a} is {b}.");
                if b == next { &mut yes } else { &mut no }.push(after);
                let before = format!("The {unit} before {next} is {b}.");
                if b == a { &mut yes } else { &mut no }.push(before);
            }
        }
    }
    (yes, no)
}

fn arithmetic_pools() -> Pools {
    let (mut yes, mut no) = (vec![], vec![]);
    let mut push = |a: u32, op: &str, b: u32, result: u32| {
        for shown in [Some(result), result.checked_sub(1), Some(result + 2)]
            .into_iter()
            .flatten()
            .filter(|&r| r < 100)
        {
            let s = sentence(format!(
                "{} {op} {} is {}",
                number_words(a),
                number_words(b),
                number_words(shown)
            ));
            if shown == result { &mut yes } else { &mut no }.push(s);
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
    (yes, no)
}

fn element_pools() -> Pools {
    let (mut yes, mut no) = (vec![], vec![]);
    for &(element, _) in &ELEMENTS {
        for &(_, symbol) in &ELEMENTS {
            let right = ELEMENTS.iter().any(|&(e, s)| e == element && s == symbol);
            let pool = if right { &mut yes } else { &mut no };
            pool.push(format!("The chemical symbol of {element} is {symbol}."));
            pool.push(format!("{symbol} is the chemical symbol of {element}."));
            pool.push(format!(
                "The element with the symbol {symbol} is {element}."
            ));
        }
    }
    (yes, no)
}

fn capital_pools() -> Pools {
    let (mut yes, mut no) = (vec![], vec![]);
    for &(country, capital) in &CAPITALS {
        for &(_, city) in &CAPITALS {
            let pool = if city == capital { &mut yes } else { &mut no };
            pool.push(sentence(format!("the capital of {country} is {city}")));
            pool.push(format!("{city} is the capital of {country}."));
        }
    }
    (yes, no)
}

/// Families of the built-in set, in the order they are drawn from.
pub const BUILTIN_FAMILIES: [&str; 5] = ["comparison", "order", "arithmetic", "element", "capital"];

fn family_pools() -> Vec<(&'static str, Pools)> {
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

/// Balanced statements the families can give: twice the smaller pool of each.
fn capacity(pools: &[(&str, Pools)]) -> usize {
    pools
        .iter()
        .map(|(_, (y, f))| 2 * y.len().min(f.len()))
        .sum()
}

/// The most statements [`builtin`] can return.
pub fn builtin_capacity() -> usize {
    capacity(&family_pools())
}

/// `n` built-in statements (rounded down to even), half true and half false, in a seeded
/// shuffled order. The families take turns contributing one true and one false statement,
/// drawn without replacement; a family whose smaller pool runs out stops contributing. Same
/// seed, same statements.
pub fn builtin(n: usize, seed: u64) -> Result<Vec<Statement>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pools = family_pools();
    let capacity = capacity(&pools);
    if n > capacity {
        bail!("the built-in set has at most {capacity} balanced statements, {n} asked for");
    }
    for (_, (yes, no)) in &mut pools {
        yes.shuffle(&mut rng);
        no.shuffle(&mut rng);
    }
    let mut out = Vec::with_capacity(n);
    while out.len() + 2 <= n {
        for (family, (yes, no)) in &mut pools {
            if out.len() + 2 > n {
                break;
            }
            if let (Some(t), Some(f)) = (yes.pop(), no.pop()) {
                for (text, label) in [(t, true), (f, false)] {
                    out.push(Statement {
                        text,
                        label,
                        family: family.to_string(),
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

    #[test]
    fn builtin_is_balanced_distinct_deterministic_and_right() {
        let set = builtin(2000, 7).unwrap();
        assert_eq!(set.len(), 2000);
        assert_eq!(set.iter().filter(|s| s.label).count(), 1000);
        let distinct: HashSet<&str> = set.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(distinct.len(), 2000);
        for family in BUILTIN_FAMILIES {
            let of: Vec<&Statement> = set.iter().filter(|s| s.family == family).collect();
            assert!(of.len() >= 100, "{family}: {}", of.len());
            assert_eq!(2 * of.iter().filter(|s| s.label).count(), of.len());
        }
        assert_eq!(set, builtin(2000, 7).unwrap());
        assert_ne!(set, builtin(2000, 8).unwrap());
        let label_of = |text: &str| set.iter().find(|s| s.text == text).map(|s| s.label);
        let pools = family_pools();
        let pool_label = |text: &str| {
            pools.iter().find_map(|(_, (yes, no))| {
                let t = text.to_string();
                (yes.contains(&t) || no.contains(&t)).then(|| yes.contains(&t))
            })
        };
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
            assert_eq!(pool_label(text), Some(want), "{text}");
            assert!(label_of(text).is_none_or(|l| l == want));
        }
    }

    #[test]
    fn the_largest_set_uses_every_balanced_statement() {
        let all = builtin(builtin_capacity(), 0).unwrap();
        assert!(all.len() >= 20_000, "{}", all.len());
        assert_eq!(2 * all.iter().filter(|s| s.label).count(), all.len());
        assert!(builtin(builtin_capacity() + 2, 0).is_err());
    }

    #[test]
    fn csv_round_trips_quotes_and_commas() {
        let statements = vec![
            Statement {
                text: "Paris, the capital, is in \"France\".".into(),
                label: true,
                family: "x".into(),
            },
            Statement {
                text: "Two is larger than three.".into(),
                label: false,
                family: "y".into(),
            },
        ];
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.csv");
        write_csv(&path, &statements).unwrap();
        let back = read_csv(&path).unwrap();
        assert_eq!(back.len(), 2);
        for (a, b) in statements.iter().zip(&back) {
            assert_eq!((&a.text, a.label), (&b.text, b.label));
        }
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
