//! Redis glob matching for KEYS and SCAN MATCH (`* ? [abc] [^a] [a-z] \x`).
//! Invariant: same answers as Redis's `stringmatchlen` (case-sensitive),
//! including its handling of unterminated `[` and trailing `\`.

/// Recursion bound for `*`, as Redis uses, so hostile patterns cannot blow the stack.
const NESTING_MAX: usize = 1000;

/// True when `text` matches the glob `pattern`.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let mut skip_longer = false;
    match_from(pattern, text, &mut skip_longer, 0)
}

fn match_from(mut pattern: &[u8], mut text: &[u8], skip_longer: &mut bool, nesting: usize) -> bool {
    if nesting > NESTING_MAX {
        return false;
    }
    while !pattern.is_empty() && !text.is_empty() {
        match pattern[0] {
            b'*' => {
                while pattern.len() > 1 && pattern[1] == b'*' {
                    pattern = &pattern[1..];
                }
                if pattern.len() == 1 {
                    return true;
                }
                while !text.is_empty() {
                    if match_from(&pattern[1..], text, skip_longer, nesting + 1) {
                        return true;
                    }
                    // The tail failed even against a suffix that reached the end of the
                    // text; trying shorter suffixes cannot succeed either.
                    if *skip_longer {
                        return false;
                    }
                    text = &text[1..];
                }
                *skip_longer = true;
                return false;
            }
            b'?' => text = &text[1..],
            b'[' => {
                pattern = &pattern[1..];
                let negate = pattern.first() == Some(&b'^');
                if negate {
                    pattern = &pattern[1..];
                }
                let c = text[0];
                let mut matched = false;
                loop {
                    match pattern {
                        [b'\\', escaped, ..] => {
                            pattern = &pattern[1..];
                            if *escaped == c {
                                matched = true;
                            }
                        }
                        [b']', ..] => break,
                        // Unterminated class: Redis stops at the end of the pattern.
                        [] => break,
                        [start, b'-', end, ..] => {
                            let (low, high) = if start <= end {
                                (*start, *end)
                            } else {
                                (*end, *start)
                            };
                            pattern = &pattern[2..];
                            if low <= c && c <= high {
                                matched = true;
                            }
                        }
                        [literal, ..] => {
                            if *literal == c {
                                matched = true;
                            }
                        }
                    }
                    pattern = &pattern[1..];
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                text = &text[1..];
                // Consume the closing ']' (the loop below skips the generic advance).
                if !pattern.is_empty() {
                    pattern = &pattern[1..];
                }
                if text.is_empty() {
                    while pattern.first() == Some(&b'*') {
                        pattern = &pattern[1..];
                    }
                    break;
                }
                continue;
            }
            b'\\' if pattern.len() >= 2 => {
                if pattern[1] != text[0] {
                    return false;
                }
                pattern = &pattern[1..];
                text = &text[1..];
            }
            literal => {
                if literal != text[0] {
                    return false;
                }
                text = &text[1..];
            }
        }
        pattern = &pattern[1..];
        if text.is_empty() {
            while pattern.first() == Some(&b'*') {
                pattern = &pattern[1..];
            }
            break;
        }
    }
    pattern.is_empty() && text.is_empty()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn glob_matches_redis_examples() {
        let cases: &[(&str, &str, bool)] = &[
            // stringmatchlen itself never matches an empty text against "*";
            // KEYS and SCAN special-case a lone "*" before calling it.
            ("*", "", false),
            ("*", "anything", true),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h*llo", "heeeello", true),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h[b-a]llo", "hallo", true),
            ("h[a-b]llo", "hcllo", false),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hello", false),
            ("[\\]]", "]", true),
            ("a*", "a", true),
            ("a*b*", "a", false),
            ("a*b*", "ab", true),
            ("*a", "ba", true),
            ("*a", "ab", false),
            ("", "", true),
            ("", "a", false),
            ("abc", "ab", false),
            ("[abc", "a", true),
            ("[abc", "d", false),
            ("user:*:name", "user:42:name", true),
            ("user:*:name", "user:42:mail", false),
            ("a\\", "a\\", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(
                glob_match(pattern.as_bytes(), text.as_bytes()),
                *expected,
                "pattern {pattern:?} text {text:?}"
            );
        }
    }

    /// A pathological pattern must terminate quickly and not overflow the stack.
    #[test]
    fn glob_pathological_pattern_terminates() {
        let pattern = "a*".repeat(2000) + "b";
        let text = "a".repeat(5000);
        assert!(!glob_match(pattern.as_bytes(), text.as_bytes()));
    }
}
