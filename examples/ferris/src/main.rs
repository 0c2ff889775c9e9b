//! Example resource program: prints the text of the files named on its command line in a
//! speech bubble said by Ferris. Packed as a resource container (`ferris`) and run by
//! `hello-ferris` with the text from the `message` resource.
#![forbid(unsafe_code)]

use std::process::ExitCode;

/// Widest line of the bubble; longer lines are wrapped at word boundaries.
const WIDTH: usize = 40;

const FERRIS: &str = r"        \
         \
            _~^~^~_
        \) /  o o  \ (/
          '_   -   _'
          / '-----' \";

fn main() -> ExitCode {
    let mut text = String::new();
    for path in std::env::args().skip(1) {
        match std::fs::read_to_string(&path) {
            Ok(t) => text.push_str(&t),
            Err(e) => {
                eprintln!("ferris: {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    print!("{}", say(&text));
    ExitCode::SUCCESS
}

/// The bubble around `text`, then Ferris.
fn say(text: &str) -> String {
    let lines = wrap(text, WIDTH);
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = format!(" {}\n", "_".repeat(width + 2));
    for line in &lines {
        let pad = width - line.chars().count();
        out.push_str(&format!("< {line}{} >\n", " ".repeat(pad)));
    }
    out.push_str(&format!(" {}\n{FERRIS}\n", "-".repeat(width + 2)));
    out
}

/// Words of `text` in lines of at most `width` characters (a longer word stands alone).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_at_word_boundaries() {
        assert_eq!(wrap("a bb ccc", 4), ["a bb", "ccc"]);
        assert_eq!(wrap("", 4), [""]);
        assert_eq!(wrap("abcdefgh ij", 4), ["abcdefgh", "ij"]);
    }

    #[test]
    fn bubble_is_as_wide_as_the_longest_line() {
        let s = say("Hello from a resource!");
        assert!(s.contains("< Hello from a resource! >"), "{s}");
        assert!(s.starts_with(&format!(" {}\n", "_".repeat(24))), "{s}");
        assert!(s.ends_with("'-----' \\\n"), "{s}");
    }
}
