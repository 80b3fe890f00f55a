//! CSV tables, read and written with the `csv` crate (RFC 4180: quoted fields may hold commas,
//! quotes and line breaks). Reading tolerates a UTF-8 byte-order mark and blank lines; errors
//! name the file and the line. Writing is atomic (see [`super::write_atomic`]).

use anyhow::{bail, Context, Result};
use std::path::Path;

/// A CSV file's header and records, each record with the line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub struct CsvTable {
    /// Column names as written (surrounding spaces trimmed).
    pub header: Vec<String>,
    /// `(line, fields)`: every record has as many fields as the header.
    pub records: Vec<(u64, Vec<String>)>,
    /// The file's name in messages.
    pub origin: String,
}

impl CsvTable {
    /// Index of the column named `name` (ASCII case ignored).
    pub fn column(&self, name: &str) -> Result<usize> {
        self.header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name))
            .with_context(|| {
                format!(
                    "{}:1: no `{name}` column in the header {:?}",
                    self.origin, self.header
                )
            })
    }
}

/// Parses CSV `text` (`origin` names it in errors).
pub fn parse_table(text: &str, origin: &str) -> Result<CsvTable> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Some(line) = unterminated_quote(text) {
        bail!("{origin}:{line}: unterminated quoted field");
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| anyhow::anyhow!("{origin}: {}", csv_message(&e)))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    if header.iter().all(String::is_empty) {
        bail!("{origin}: empty file (expected a header line)");
    }
    let mut records = vec![];
    for record in reader.records() {
        let record = record.map_err(|e| anyhow::anyhow!("{origin}: {}", csv_message(&e)))?;
        let line = record.position().map_or(0, |p| p.line());
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != header.len() {
            bail!(
                "{origin}:{line}: {} fields, the header has {}",
                record.len(),
                header.len()
            );
        }
        records.push((line, record.iter().map(str::to_string).collect()));
    }
    Ok(CsvTable {
        header,
        records,
        origin: origin.to_string(),
    })
}

/// Reads the CSV file at `path`.
pub fn read_table(path: &Path) -> Result<CsvTable> {
    let bytes = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{}: not UTF-8 text ({e})", path.display()))?;
    parse_table(&text, &path.display().to_string())
}

/// `header` and `rows` as CSV text (fields quoted where they need it, `\n` line ends).
pub fn to_text<R, F>(header: &[&str], rows: R) -> Result<String>
where
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<str>,
{
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(vec![]);
    writer.write_record(header)?;
    for row in rows {
        writer.write_record(row.iter().map(AsRef::as_ref))?;
    }
    let bytes = writer.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(String::from_utf8(bytes)?)
}

/// Writes `header` and `rows` to `path` as CSV, atomically.
pub fn write_table<R, F>(path: &Path, header: &[&str], rows: R) -> Result<()>
where
    R: IntoIterator<Item = Vec<F>>,
    F: AsRef<str>,
{
    super::write_atomic(path, to_text(header, rows)?.as_bytes())
}

/// The line of a quote that is never closed (the csv crate reads such a field to the end of
/// the file). Every quote toggles the state, an escaped `""` twice, so a field left open ends
/// the text inside quotes.
fn unterminated_quote(text: &str) -> Option<usize> {
    let (mut open_at, mut line) = (None, 1);
    for c in text.chars() {
        match c {
            '"' => open_at = if open_at.is_some() { None } else { Some(line) },
            '\n' => line += 1,
            _ => {}
        }
    }
    open_at
}

/// A csv error as a message with its line.
fn csv_message(e: &csv::Error) -> String {
    match e.position() {
        Some(p) => format!("line {}: {e}", p.line()),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_newlines_quotes_and_a_byte_order_mark_are_read() {
        let text = "\u{feff}statement,label\r\n\"one, \"\"two\"\"\nthree\",1\nplain,0\n\n";
        let t = parse_table(text, "s.csv").unwrap();
        assert_eq!(t.header, ["statement", "label"]);
        assert_eq!(t.records.len(), 2);
        assert_eq!(t.records[0].1, ["one, \"two\"\nthree", "1"]);
        assert_eq!(
            t.records[1],
            (4, vec!["plain".to_string(), "0".to_string()])
        );
        assert_eq!(t.column("LABEL").unwrap(), 1);
        let err = t.column("family").unwrap_err().to_string();
        assert!(err.contains("s.csv") && err.contains("family"), "{err}");
    }

    #[test]
    fn text_round_trips_through_the_reader() {
        let rows = vec![
            vec!["a, b".to_string(), "say \"hi\"".to_string()],
            vec!["line\nbreak".to_string(), String::new()],
        ];
        let text = to_text(&["x", "y"], rows.clone()).unwrap();
        let back = parse_table(&text, "t").unwrap();
        let fields: Vec<Vec<String>> = back.records.into_iter().map(|(_, f)| f).collect();
        assert_eq!(fields, rows);
    }

    #[test]
    fn ragged_rows_and_empty_files_are_errors_naming_the_file() {
        let err = parse_table("a,b\n1,2,3\n", "r.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("r.csv:2") && err.contains("3 fields"), "{err}");
        let err = parse_table("", "e.csv").unwrap_err().to_string();
        assert!(err.contains("e.csv") && err.contains("empty"), "{err}");
        let err = parse_table("a,b\n\"ok\"\"\",1\n\"open,1\nx,2\n", "q.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("q.csv:3: unterminated quoted field"), "{err}");
    }
}
