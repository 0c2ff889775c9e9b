//! Finding the line of a field in the manifest text, for error messages.
//!
//! serde gives no positions for values that parsed fine but break a rule checked afterwards,
//! so this scans the text: block mappings by indentation, keys plain or quoted. It is best
//! effort: when a key cannot be found (flow style `{ a: 1 }`, anchors, odd layouts) the line
//! of the deepest enclosing key that was found is returned.

/// The 1-based line of the key at `path` (segments of keys from the top; segments starting with
/// `[`, i.e. sequence indices, are skipped), or of its deepest found ancestor.
pub(crate) fn find_line<S: AsRef<str>>(text: &str, path: &[S]) -> Option<usize> {
    let keys: Vec<&str> = path
        .iter()
        .map(AsRef::as_ref)
        .filter(|segment| !segment.starts_with('['))
        .collect();
    let mut found = None;
    let mut next = 0; // index into `keys` of the key searched for
    let mut parent_indent: Option<usize> = None; // None: at the top level
    let mut child_indent: Option<usize> = None; // indentation of the parent's entries
    for (number, raw) in text.lines().enumerate() {
        let Some(wanted) = keys.get(next) else {
            break;
        };
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') || raw.starts_with("---") {
            continue;
        }
        let mut content = trimmed;
        // A sequence item `- key: value` starts a mapping indented past the dash.
        while let Some(rest) = content.strip_prefix("- ") {
            content = rest.trim_start_matches(' ');
        }
        // `content` is the end of `raw`: the indentation is what comes before it.
        let indent = raw.len().saturating_sub(content.len());
        if let Some(parent) = parent_indent {
            if indent <= parent {
                break; // left the parent's block without finding the key
            }
        }
        let level = *child_indent.get_or_insert(indent);
        if indent != level {
            continue; // deeper than the entries searched
        }
        if let Some(key) = key_of(content) {
            if same_key(&key, wanted) {
                found = Some(number.saturating_add(1));
                next = next.saturating_add(1);
                parent_indent = Some(indent);
                child_indent = None;
            }
        }
    }
    found
}

/// The key of a `key: value` or `key:` line, unquoted.
fn key_of(content: &str) -> Option<String> {
    if let Some(quote) = content.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let (key, _) = content.strip_prefix(quote)?.split_once(quote)?;
        return Some(key.to_string());
    }
    // The first `:` followed by a blank or the end of the line ends the key.
    content.match_indices(':').find_map(|(colon, _)| {
        let (key, after) = content.split_at_checked(colon)?;
        let after = after.strip_prefix(':')?;
        let ends = after.is_empty() || after.starts_with(' ') || after.starts_with('\t');
        ends.then(|| key.trim_end().to_string())
    })
}

/// Keys compare equal ignoring a trailing `/` (mount points are normalized).
fn same_key(text_key: &str, wanted: &str) -> bool {
    let normalize = |key: &str| -> String {
        let trimmed = key.trim_end_matches('/');
        if trimmed.is_empty() {
            key.to_string()
        } else {
            trimmed.to_string()
        }
    };
    text_key == wanted || normalize(text_key) == normalize(wanted)
}

#[cfg(test)]
mod tests {
    use super::find_line;

    const TEXT: &str = "name: x\nmounts:\n  /data:\n    type: persist\n  /res/:\n    type: resource\n    dir: /\n  '/q':\n    type: proc\nenv:\n  # comment\n  A: b\nrlimits:\n  nofile: { soft: 1, hard: 2 }\n";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(find_line(TEXT, &["name"]), Some(1));
        assert_eq!(find_line(TEXT, &["mounts", "/data", "type"]), Some(4));
        assert_eq!(find_line(TEXT, &["mounts", "/res", "dir"]), Some(7));
        assert_eq!(find_line(TEXT, &["mounts", "/q"]), Some(8));
        assert_eq!(find_line(TEXT, &["env", "A"]), Some(12));
    }

    #[test]
    fn falls_back_to_the_deepest_found_key() {
        assert_eq!(find_line(TEXT, &["rlimits", "nofile", "soft"]), Some(14));
        assert_eq!(find_line(TEXT, &["mounts", "/data", "dir"]), Some(3));
        assert_eq!(find_line(TEXT, &["missing"]), None);
    }

    #[test]
    fn does_not_match_deeper_keys_of_the_same_name() {
        // `type` exists only below mounts, never at the top level.
        assert_eq!(find_line(TEXT, &["type"]), None);
    }

    #[test]
    fn skips_sequence_indices() {
        let text = "capabilities:\n- CAP_KILL\n- CAP_FOO\n";
        assert_eq!(find_line(text, &["capabilities", "[1]"]), Some(1));
    }
}
