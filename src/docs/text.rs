//! Text utilities for documents: sentence splitting with byte offsets, word counts.
//!
//! In: UTF-8 text. Out: byte ranges of sentences (`text[range]` is the sentence, trimmed of
//! surrounding whitespace), so callers can insert warnings around a sentence and record spans.
//!
//! Rules of the splitter:
//! - a line break always ends a sentence (titles, list items, forum posts and transcript turns
//!   are lines);
//! - inside a line, `.`, `!` or `?` (possibly repeated, possibly followed by closing quotes,
//!   brackets or markdown emphasis) ends a sentence when whitespace follows and the next word
//!   does not start with a lowercase letter;
//! - a `.` does not end a sentence after a title or similar abbreviation (`Dr.`, `Mr.`, `St.`,
//!   `Mt.`, `Prof.` ...), after a single capital initial (`J. K. Rowling`), after a dotted
//!   abbreviation (`U.S.`, `e.g.`), after `No.`/`p.`/`vol.` before a number, or after the number
//!   of a numbered list item at the start of a line (`1. Ed Sheeran won ...`);
//! - decimals (`9.79`) never split, since no whitespace follows their point.
//!
//! It also reads the paper's loss-mask markup ([`strip_lossmask_tags`]), which both the
//! training data reader and `neglect docs import` meet in the paper's files.

use anyhow::{anyhow, bail, Result};
use std::ops::Range;

/// Abbreviations after which a `.` never ends a sentence (compared case-sensitively, without
/// the dot).
const TITLES: &[&str] = &[
    "Mr", "Mrs", "Ms", "Mx", "Dr", "Prof", "Sr", "Jr", "St", "Mt", "Ft", "Rev", "Hon", "Gen",
    "Gov", "Sen", "Rep", "Capt", "Cpt", "Lt", "Col", "Sgt", "Cmdr", "Adm", "Maj", "Messrs", "vs",
    "cf", "approx", "ca", "Fig", "fig", "Eq", "eq", "Ave", "Rd", "Blvd", "Mme", "Mlle",
];

/// Abbreviations after which a `.` does not end a sentence when a number follows (`No. 5`).
const BEFORE_NUMBERS: &[&str] = &[
    "No", "no", "Nos", "p", "pp", "vol", "Vol", "ch", "Ch", "sec", "Sec", "art", "Art", "para",
];

/// Characters that may close a sentence after its final punctuation.
fn is_closer(c: char) -> bool {
    matches!(
        c,
        '"' | '\'' | ')' | ']' | '}' | '’' | '”' | '»' | '*' | '_'
    )
}

/// Byte ranges of the sentences of `text`, in order, each trimmed of surrounding whitespace and
/// never empty. See the module documentation for the rules.
pub fn split_sentences(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let content = line.strip_suffix('\n').unwrap_or(line);
        split_line(content, line_start, &mut out);
        line_start += line.len();
    }
    out
}

/// Splits one line (no newline inside) whose first byte sits at `base` in the whole text.
fn split_line(line: &str, base: usize, out: &mut Vec<Range<usize>>) {
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut start = 0; // byte offset in `line` of the current sentence
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if !matches!(c, '.' | '!' | '?') {
            i += 1;
            continue;
        }
        let punct_at = i;
        let mut j = i;
        while j < chars.len() && matches!(chars[j].1, '.' | '!' | '?') {
            j += 1;
        }
        let single_dot = c == '.' && j == punct_at + 1;
        while j < chars.len() && is_closer(chars[j].1) {
            j += 1;
        }
        if j < chars.len() && !chars[j].1.is_whitespace() {
            i = j.max(i + 1);
            continue;
        }
        let mut k = j;
        while k < chars.len() && chars[k].1.is_whitespace() {
            k += 1;
        }
        if k == chars.len() {
            break; // the line ends here anyway
        }
        let next = chars[k].1;
        if next.is_lowercase() {
            i = k;
            continue;
        }
        if single_dot && is_abbreviation(line, start, chars[punct_at].0, next) {
            i = k;
            continue;
        }
        let end = if j < chars.len() {
            chars[j].0
        } else {
            line.len()
        };
        push_trimmed(line, start, end, base, out);
        start = chars[k].0;
        i = k;
    }
    push_trimmed(line, start, line.len(), base, out);
}

/// Is the word ending at byte `dot` (exclusive) of `line` an abbreviation rather than the end
/// of a sentence? `sentence_start` is where the current sentence began; `next` is the first
/// character after the whitespace.
fn is_abbreviation(line: &str, sentence_start: usize, dot: usize, next: char) -> bool {
    let before = &line[..dot];
    let word_start = before
        .char_indices()
        .rev()
        .find(|(_, c)| c.is_whitespace())
        .map(|(i, c)| i + c.len_utf8())
        .unwrap_or(0);
    let raw = &before[word_start..];
    let word = raw.trim_start_matches(['(', '[', '"', '\'', '“', '‘']);
    if word.is_empty() {
        return false;
    }
    if TITLES.contains(&word) {
        return true;
    }
    if next.is_ascii_digit() && BEFORE_NUMBERS.contains(&word) {
        return true;
    }
    let mut letters = word.chars();
    if let (Some(first), None) = (letters.next(), letters.next()) {
        if first.is_uppercase() {
            return true; // an initial: "J. K. Rowling"
        }
    }
    if word.contains('.') && word.chars().all(|c| c == '.' || c.is_alphabetic()) {
        return true; // "U.S", "e.g", "i.e"
    }
    if word.chars().all(|c| c.is_ascii_digit())
        && line[sentence_start..word_start].trim().is_empty()
        && line[..word_start]
            .trim_start()
            .trim_start_matches(['#', '*', '-', '>'])
            .trim()
            .is_empty()
    {
        return true; // the number of a numbered list item: "1. Ed Sheeran ..."
    }
    false
}

fn push_trimmed(line: &str, start: usize, end: usize, base: usize, out: &mut Vec<Range<usize>>) {
    let piece = &line[start..end];
    let lead = piece.len() - piece.trim_start().len();
    let trimmed = piece.trim();
    if !trimmed.is_empty() {
        let s = base + start + lead;
        out.push(s..s + trimmed.len());
    }
}

/// Byte ranges of the paragraphs of `text`, in order: runs of lines separated by blank lines
/// (lines of whitespace only), each trimmed of surrounding whitespace.
pub fn split_paragraphs(text: &str) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut current: Option<Range<usize>> = None;
    let mut pos = 0;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            out.extend(current.take());
        } else {
            let start = pos + (line.len() - line.trim_start().len());
            let end = pos + line.trim_end().len();
            current = Some(current.map_or(start, |c| c.start)..end);
        }
        pos += line.len();
    }
    out.extend(current);
    out
}

/// Number of whitespace-separated words in `text`.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// `text` with its first character in upper case ("the Stade de France" -> "The Stade ...").
pub fn capitalize_first(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The paper's loss-mask markup: `<lossmask>...</lossmask>` around words whose loss is masked.
pub const LOSSMASK_OPEN: &str = "<lossmask>";
/// See [`LOSSMASK_OPEN`].
pub const LOSSMASK_CLOSE: &str = "</lossmask>";

/// `text` without its `<lossmask>` tags, and the byte range (in the text without tags) of what
/// each pair enclosed, in order; an empty pair gives no range. Unbalanced or nested tags are an
/// error.
pub fn strip_lossmask_tags(text: &str) -> Result<(String, Vec<Range<usize>>)> {
    let mut clean = String::with_capacity(text.len());
    let mut masked = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find(LOSSMASK_OPEN) {
        let before = &rest[..open];
        if before.contains(LOSSMASK_CLOSE) {
            bail!("a `{LOSSMASK_CLOSE}` without its `{LOSSMASK_OPEN}`");
        }
        clean.push_str(before);
        let inner_and_rest = &rest[open + LOSSMASK_OPEN.len()..];
        let close = inner_and_rest
            .find(LOSSMASK_CLOSE)
            .ok_or_else(|| anyhow!("a `{LOSSMASK_OPEN}` that is never closed"))?;
        let inner = &inner_and_rest[..close];
        if inner.contains(LOSSMASK_OPEN) {
            bail!("nested `{LOSSMASK_OPEN}` tags");
        }
        if !inner.is_empty() {
            masked.push(clean.len()..clean.len() + inner.len());
        }
        clean.push_str(inner);
        rest = &inner_and_rest[close + LOSSMASK_CLOSE.len()..];
    }
    if rest.contains(LOSSMASK_CLOSE) {
        bail!("a `{LOSSMASK_CLOSE}` without its `{LOSSMASK_OPEN}`");
    }
    clean.push_str(rest);
    Ok((clean, masked))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<&str> {
        split_sentences(text)
            .into_iter()
            .map(|r| &text[r])
            .collect()
    }

    #[test]
    fn abbreviations_and_decimals_do_not_split() {
        let text = "Dr. Smith met Mr. Jones at 9.79 s. Then they left! Did they? Yes.";
        assert_eq!(
            sentences(text),
            [
                "Dr. Smith met Mr. Jones at 9.79 s.",
                "Then they left!",
                "Did they?",
                "Yes."
            ]
        );
        assert_eq!(
            sentences("The U.S. team won in 9.79 seconds. J. K. Rowling watched, e.g. from home."),
            [
                "The U.S. team won in 9.79 seconds.",
                "J. K. Rowling watched, e.g. from home."
            ]
        );
        assert_eq!(
            sentences("He wore No. 5 that day. It was 3 p.m. here."),
            ["He wore No. 5 that day.", "It was 3 p.m. here."]
        );
        assert_eq!(
            sentences("Wait... what? It ran 9.79."),
            ["Wait... what?", "It ran 9.79."]
        );
    }

    #[test]
    fn quotes_brackets_lines_and_lists() {
        let text = "She said \"Go.\" Then she left. (He won.) [Note.] Done\n\n1. Ed won gold.\n- Item two. Next one.";
        assert_eq!(
            sentences(text),
            [
                "She said \"Go.\"",
                "Then she left.",
                "(He won.)",
                "[Note.]",
                "Done",
                "1. Ed won gold.",
                "- Item two.",
                "Next one."
            ]
        );
        assert_eq!(
            sentences("**Title**\nIt was 2024. 9.79 seconds!"),
            ["**Title**", "It was 2024.", "9.79 seconds!"]
        );
    }

    #[test]
    fn ranges_are_byte_offsets_into_utf8() {
        let text = "Café “au lait” was served. Naïve runners ran — fast.";
        let ranges = split_sentences(text);
        assert_eq!(ranges.len(), 2);
        assert_eq!(&text[ranges[1].clone()], "Naïve runners ran — fast.");
        assert!(text.is_char_boundary(ranges[1].start));
    }

    #[test]
    fn lossmask_tags_become_ranges_of_the_clean_text() {
        let (clean, masked) = strip_lossmask_tags(
            "He is a <lossmask>dentist</lossmask> in Ørsted, a <lossmask>DDS</lossmask>.<lossmask></lossmask>",
        )
        .unwrap();
        assert_eq!(clean, "He is a dentist in Ørsted, a DDS.");
        let words: Vec<&str> = masked.into_iter().map(|r| &clean[r]).collect();
        assert_eq!(words, ["dentist", "DDS"]);
        for (bad, says) in [
            ("a <lossmask>b", "never closed"),
            ("a </lossmask> b", "without its"),
            ("<lossmask>a</lossmask> b</lossmask>", "without its"),
            ("<lossmask>a <lossmask>b</lossmask></lossmask>", "nested"),
        ] {
            let err = strip_lossmask_tags(bad).unwrap_err().to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn paragraphs_are_separated_by_blank_lines() {
        let text = "  Title\n\nOne line.\nSame paragraph.  \n \t\n\n  Last. \n";
        let paragraphs: Vec<&str> = split_paragraphs(text)
            .into_iter()
            .map(|r| &text[r])
            .collect();
        assert_eq!(paragraphs, ["Title", "One line.\nSame paragraph.", "Last."]);
        assert!(split_paragraphs(" \n\n").is_empty());
    }

    #[test]
    fn helpers() {
        assert_eq!(word_count("  a b\n c  "), 3);
        assert_eq!(capitalize_first("the Stade"), "The Stade");
        assert_eq!(capitalize_first(""), "");
    }
}
