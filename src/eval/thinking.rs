//! Reasoning traces of thinking models: `<think>...</think>` blocks are taken out of an answer
//! before it is graded, and kept beside it.
//!
//! Rules: every closed `<think>...</think>` block is a trace; an opening tag that is never
//! closed (the answer was cut off while reasoning) makes the rest of the text a trace; a closing
//! tag without an opening one (a chat template that opened the block in the prompt) makes the
//! text before it a trace. An answer that is empty once the traces are out is graded as
//! [`NO_ANSWER`], so a judge never reads the reasoning as the answer.

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

/// What the judge is given when nothing is left after the reasoning.
pub const NO_ANSWER: &str = "[no answer after the reasoning]";

/// An answer split into what is graded and the reasoning it carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitAnswer {
    /// The answer without its traces, trimmed ([`NO_ANSWER`] when traces left nothing).
    pub answer: String,
    /// The traces, trimmed, one per line; empty when the answer had none.
    pub trace: String,
}

/// Splits `text` into answer and reasoning traces (see the module rules). Text without think
/// tags is returned trimmed, with an empty trace.
pub fn split(text: &str) -> SplitAnswer {
    if !text.contains(OPEN) && !text.contains(CLOSE) {
        return SplitAnswer {
            answer: text.trim().to_string(),
            trace: String::new(),
        };
    }
    let mut traces: Vec<&str> = vec![];
    let mut answer = String::new();
    let mut rest = text;
    // A close before any open: the block was opened in the prompt.
    if let Some(close) = rest.find(CLOSE) {
        if rest.find(OPEN).is_none_or(|open| close < open) {
            traces.push(&rest[..close]);
            rest = &rest[close + CLOSE.len()..];
        }
    }
    while let Some(open) = rest.find(OPEN) {
        answer.push_str(&rest[..open]);
        let inside = &rest[open + OPEN.len()..];
        match inside.find(CLOSE) {
            Some(close) => {
                traces.push(&inside[..close]);
                rest = &inside[close + CLOSE.len()..];
            }
            None => {
                traces.push(inside);
                rest = "";
            }
        }
    }
    answer.push_str(rest);
    // Stray closing tags left in the answer are not text of the answer.
    let answer = answer.replace(CLOSE, " ").trim().to_string();
    SplitAnswer {
        answer: if answer.is_empty() {
            NO_ANSWER.to_string()
        } else {
            answer
        },
        trace: traces
            .iter()
            .map(|t| t.trim())
            .filter(|t| !t.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(text: &str) -> (String, String) {
        let s = split(text);
        (s.answer, s.trace)
    }

    #[test]
    fn traces_come_out_of_the_answer_in_every_form() {
        let own = |a: &str, t: &str| (a.to_string(), t.to_string());
        assert_eq!(parts("  Plain answer. "), own("Plain answer.", ""));
        assert_eq!(
            parts("<think>Is it 2015?\nNo.</think>\n\nIt erupted in 1944."),
            own("It erupted in 1944.", "Is it 2015?\nNo.")
        );
        assert_eq!(
            parts("<think>a</think>First. <think> b </think>Second."),
            own("First. Second.", "a\nb")
        );
        // Cut off while reasoning: nothing to grade.
        assert_eq!(
            parts("<think>Let me recall"),
            own(NO_ANSWER, "Let me recall")
        );
        // Opened by the chat template in the prompt.
        assert_eq!(
            parts("recalling the record</think>He is a dentist."),
            own("He is a dentist.", "recalling the record")
        );
        assert_eq!(parts("<think></think>"), own(NO_ANSWER, ""));
    }
}
