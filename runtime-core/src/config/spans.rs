//! Where things are in the configuration text: the key path at a byte offset (for errors
//! the TOML parser reports with a span) and the line of a key path (for errors found by
//! validation after parsing).
//!
//! It works on the parser's spanned document tree and never interprets values.

use std::ops::Range;
use toml::{
    de::{DeTable, DeValue},
    Spanned,
};

/// One step of a key path: a table key or an array index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Render a key path as `a.b[2].c`.
pub fn render(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &[u8], offset: usize) -> usize {
    let newlines = text.iter().take(offset).filter(|b| **b == b'\n').count();
    newlines.saturating_add(1)
}

/// The deepest key path whose key or value contains `offset`; empty when none does.
pub fn path_at(root: &DeTable<'_>, offset: usize) -> Vec<Step> {
    let mut best = Vec::new();
    let mut current = Vec::new();
    search_table(root, offset, &mut current, &mut best);
    best
}

fn contains(span: &Range<usize>, offset: usize) -> bool {
    span.start <= offset && (offset < span.end || span.is_empty() && offset == span.start)
}

fn search_table(table: &DeTable<'_>, offset: usize, current: &mut Vec<Step>, best: &mut Vec<Step>) {
    for (key, value) in table.iter() {
        current.push(Step::Key(key.get_ref().to_string()));
        let hit = contains(&key.span(), offset) || contains(&value.span(), offset);
        if hit && current.len() > best.len() {
            *best = current.clone();
        }
        search_value(value.get_ref(), offset, current, best);
        current.pop();
    }
}

fn search_value(value: &DeValue<'_>, offset: usize, current: &mut Vec<Step>, best: &mut Vec<Step>) {
    match value {
        DeValue::Table(table) => search_table(table, offset, current, best),
        DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                current.push(Step::Index(i));
                if contains(&item.span(), offset) && current.len() > best.len() {
                    *best = current.clone();
                }
                search_value(item.get_ref(), offset, current, best);
                current.pop();
            }
        }
        _ => {}
    }
}

/// The span of the deepest key of `path` present in the document (the whole path when the
/// key exists, else its nearest existing parent), or `None` when not even the first exists.
pub fn span_of<'t, 'i>(root: &'t DeTable<'i>, path: &[Step]) -> Option<Range<usize>> {
    let mut found = None;
    let mut table: Option<&'t DeTable<'i>> = Some(root);
    let mut array: Option<&'t [Spanned<DeValue<'i>>]> = None;
    for step in path {
        let (span, value) = match (step, table, array) {
            (Step::Key(key), Some(table), _) => match entry(table, key) {
                Some((k, v)) => (k.span(), v),
                None => break,
            },
            (Step::Index(i), _, Some(items)) => match items.get(*i) {
                Some(v) => (v.span(), v),
                None => break,
            },
            _ => break,
        };
        found = Some(span);
        (table, array) = match value.get_ref() {
            DeValue::Table(t) => (Some(t), None),
            DeValue::Array(a) => (None, Some(&a[..])),
            _ => (None, None),
        };
    }
    found
}

type Entry<'t, 'i> = (
    &'t Spanned<toml::de::DeString<'i>>,
    &'t Spanned<DeValue<'i>>,
);

fn entry<'t, 'i>(table: &'t DeTable<'i>, key: &str) -> Option<Entry<'t, 'i>> {
    table.iter().find(|(k, _)| k.get_ref() == key)
}
