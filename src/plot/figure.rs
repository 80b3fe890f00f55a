//! What a figure shows, as plain data: panels of lines, bars or a heatmap, with every number
//! that is drawn. The `*_data` functions build these from tables; [`super::render()`] draws them;
//! [`Figure::to_csv`] writes the same numbers as a long table for citing.

/// A figure: a title over one or more panels stacked vertically.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// File stem of its outputs (`belief_by_condition` -> `.png`, `.svg`, `.csv`).
    pub stem: String,
    /// Title drawn above the panels.
    pub title: String,
    /// Panels, top to bottom.
    pub panels: Vec<Panel>,
}

/// One chart: axes, their labels, and what is drawn on them.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    /// Caption above the chart (may be empty).
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis (for a heatmap: of its rows).
    pub y_label: String,
    /// Fixed y range; fitted to the data when `None`.
    pub y_range: Option<(f64, f64)>,
    /// The data.
    pub plot: Plot,
}

/// What a panel draws.
#[derive(Debug, Clone, PartialEq)]
pub enum Plot {
    /// Lines over a numeric x axis, with optional interval bands and vertical markers.
    Lines {
        /// One line per series.
        series: Vec<Series>,
        /// Vertical markers (a phase boundary).
        markers: Vec<Marker>,
    },
    /// Grouped bars over named groups.
    Bars(Bars),
    /// A grid of values with a colour bar.
    Heatmap(Heatmap),
}

/// A labelled line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// Points in increasing x.
    pub points: Vec<Point>,
}

/// A point of a line, with its 95% interval when there is one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// x value.
    pub x: f64,
    /// y value.
    pub y: f64,
    /// Lower end of the interval.
    pub lo: Option<f64>,
    /// Upper end of the interval.
    pub hi: Option<f64>,
    /// What the value is over (answers, tokens, test statements).
    pub n: usize,
}

/// A vertical line across a line chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    /// Legend label.
    pub label: String,
    /// Where it stands on the x axis.
    pub x: f64,
}

/// Bars in groups: every series has one slot in every group and keeps its colour across groups.
#[derive(Debug, Clone, PartialEq)]
pub struct Bars {
    /// Group names along the x axis.
    pub groups: Vec<String>,
    /// One series per colour (a condition).
    pub series: Vec<BarSeries>,
}

/// One colour of bars.
#[derive(Debug, Clone, PartialEq)]
pub struct BarSeries {
    /// Legend label.
    pub label: String,
    /// One entry per group; `None` leaves the slot empty.
    pub bars: Vec<Option<Bar>>,
}

/// A bar with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bar {
    /// Height.
    pub value: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// What the value is over (answers).
    pub n: usize,
}

/// Values on a grid of named columns (x) and rows (y), drawn evenly spaced whatever their
/// labels (checkpoints are usually log-spaced).
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Column labels, left to right.
    pub xs: Vec<i64>,
    /// Row labels, bottom to top.
    pub ys: Vec<i64>,
    /// `cells[row][column]`: the value and what it is a mean of; `None` where no data.
    pub cells: Vec<Vec<Option<(f64, usize)>>>,
    /// What the colour means.
    pub value_label: String,
    /// Values mapped to the two ends of the colour scale.
    pub value_range: (f64, f64),
    /// `validity[row]`: whether the row's values can be read (a probe layer whose base-model
    /// probe is at chance cannot). Rows that are not [`Validity::Valid`] are greyed and hatched.
    pub validity: Vec<Validity>,
    /// What the hatching means: one line per kind of row that is not valid, drawn as a key above
    /// the grid (empty when every row is valid).
    pub key: Vec<(Validity, String)>,
}

/// Whether the values of a heatmap row can be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validity {
    /// Drawn plainly.
    Valid,
    /// Greyed and hatched (`///`).
    Invalid,
    /// Nothing says whether it is valid: greyed and cross-hatched (`xxx`).
    Unknown,
}

impl Validity {
    /// As written in the `valid` column of a figure's CSV.
    pub fn name(self) -> &'static str {
        match self {
            Validity::Valid => "true",
            Validity::Invalid => "false",
            Validity::Unknown => "unknown",
        }
    }
}

impl Figure {
    /// Every number drawn, as CSV with columns `panel,series,x,y,value,lo,hi,n,valid`: a line
    /// point is (series, x, value = y); a bar is (series, x = group, value); a heatmap cell is
    /// (x = column, y = row, value, valid = its row's [`Validity`]). `valid` is empty for lines
    /// and bars.
    pub fn to_csv(&self) -> String {
        let mut rows: Vec<Vec<String>> = vec![];
        let mut row = |panel: &str,
                       series: &str,
                       x: &str,
                       y: &str,
                       v: f64,
                       lo,
                       hi,
                       n: usize,
                       valid: Option<Validity>| {
            let opt = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
            rows.push(vec![
                panel.to_string(),
                series.to_string(),
                x.to_string(),
                y.to_string(),
                v.to_string(),
                opt(lo),
                opt(hi),
                n.to_string(),
                valid.map(Validity::name).unwrap_or_default().to_string(),
            ]);
        };
        for panel in &self.panels {
            let name = if panel.title.is_empty() {
                &panel.y_label
            } else {
                &panel.title
            };
            match &panel.plot {
                Plot::Lines { series, .. } => {
                    for s in series {
                        for p in &s.points {
                            let x = p.x.to_string();
                            row(name, &s.label, &x, "", p.y, p.lo, p.hi, p.n, None);
                        }
                    }
                }
                Plot::Bars(bars) => {
                    for s in &bars.series {
                        for (group, bar) in bars.groups.iter().zip(&s.bars) {
                            if let Some(b) = bar {
                                row(
                                    name,
                                    &s.label,
                                    group,
                                    "",
                                    b.value,
                                    Some(b.lo),
                                    Some(b.hi),
                                    b.n,
                                    None,
                                );
                            }
                        }
                    }
                }
                Plot::Heatmap(map) => {
                    for (i, (y, cells)) in map.ys.iter().zip(&map.cells).enumerate() {
                        let valid = map.validity.get(i).copied();
                        for (x, cell) in map.xs.iter().zip(cells) {
                            if let Some((v, n)) = cell {
                                let (x, y) = (x.to_string(), y.to_string());
                                row(name, "", &x, &y, *v, None, None, *n, valid);
                            }
                        }
                    }
                }
            }
        }
        const HEADER: [&str; 9] = [
            "panel", "series", "x", "y", "value", "lo", "hi", "n", "valid",
        ];
        crate::store::csv::to_text(&HEADER, rows).expect("CSV of strings into memory")
    }
}

/// Conditions in the paper's order; others follow alphabetically.
const CONDITION_ORDER: &[&str] = &[
    "base",
    "positive",
    "negated",
    "repeated",
    "corrected",
    "local",
    "local_masked",
    "user_turn_masked",
    "fiction",
    "unreliable",
    "uncertain",
    "low_probability",
    "phase1",
    "phase2",
];

/// Token kinds in the order the loss tables list them; others follow alphabetically.
const KIND_ORDER: &[&str] = &["claim", "negation", "qualifier", "other", "all"];

/// `names` deduplicated and sorted by `order`, unknown names last and alphabetical.
fn ordered<'a>(names: impl IntoIterator<Item = &'a str>, order: &[&str]) -> Vec<String> {
    let mut names: Vec<&str> = names.into_iter().collect();
    names.sort_by_key(|n| (order.iter().position(|o| o == n).unwrap_or(order.len()), *n));
    names.dedup();
    names.into_iter().map(str::to_string).collect()
}

/// Conditions in display order (base first).
pub fn condition_order<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    ordered(names, CONDITION_ORDER)
}

/// Token kinds in display order.
pub fn kind_order<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    ordered(names, KIND_ORDER)
}

/// `name` with everything but ASCII letters, digits, `-` and `_` replaced by `_`, for file stems.
pub fn stem_part(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_conditions_and_kinds() {
        assert_eq!(
            condition_order(["zeta", "negated", "base", "alpha", "negated", "positive"]),
            ["base", "positive", "negated", "alpha", "zeta"]
        );
        assert_eq!(kind_order(["all", "x", "claim"]), ["claim", "all", "x"]);
        assert_eq!(stem_part("a b/c-d_e"), "a_b_c-d_e");
    }

    #[test]
    fn csv_lists_every_number() {
        let point = |x, y| Point {
            x,
            y,
            lo: Some(y - 1.0),
            hi: None,
            n: 3,
        };
        let figure = Figure {
            stem: "f".into(),
            title: "t".into(),
            panels: vec![
                Panel {
                    title: String::new(),
                    x_label: "step".into(),
                    y_label: "belief, %".into(),
                    y_range: None,
                    plot: Plot::Lines {
                        series: vec![Series {
                            label: "neg \"a\"".into(),
                            points: vec![point(0.0, 2.0), point(10.0, 5.5)],
                        }],
                        markers: vec![],
                    },
                },
                Panel {
                    title: "bars".into(),
                    x_label: String::new(),
                    y_label: String::new(),
                    y_range: None,
                    plot: Plot::Bars(Bars {
                        groups: vec!["g1".into(), "g2".into()],
                        series: vec![BarSeries {
                            label: "s".into(),
                            bars: vec![
                                None,
                                Some(Bar {
                                    value: 75.0,
                                    lo: 50.0,
                                    hi: 100.0,
                                    n: 4,
                                }),
                            ],
                        }],
                    }),
                },
                Panel {
                    title: "map".into(),
                    x_label: String::new(),
                    y_label: String::new(),
                    y_range: None,
                    plot: Plot::Heatmap(Heatmap {
                        xs: vec![0, 5],
                        ys: vec![1],
                        cells: vec![vec![Some((0.25, 2)), None]],
                        value_label: "p".into(),
                        value_range: (0.0, 1.0),
                        validity: vec![Validity::Invalid],
                        key: vec![(Validity::Invalid, "hatched: at chance".into())],
                    }),
                },
            ],
        };
        assert_eq!(
            figure.to_csv(),
            "panel,series,x,y,value,lo,hi,n,valid\n\
             \"belief, %\",\"neg \"\"a\"\"\",0,,2,1,,3,\n\
             \"belief, %\",\"neg \"\"a\"\"\",10,,5.5,4.5,,3,\n\
             bars,s,g2,,75,50,100,4,\n\
             map,,0,1,0.25,,,2,false\n"
        );
    }
}
