//! Quoting a value for each file format, or saying plainly that the format cannot hold it.
//!
//! Every renderer goes through these functions, so the rules live in one place and the property
//! tests (tests/it/snippet_parsers.rs) check them against the real parsers: bash and dash, Python's
//! configparser (AWS CLI, boto3), s3cmd's own parser, rclone, PyYAML (openstacksdk) and Python.

use std::borrow::Cow;

/// Why a value cannot be written in a format. The message names the field, never its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrepresentable(pub String);

impl std::fmt::Display for Unrepresentable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whitespace as Python's `str.strip()` sees it: INI readers written in Python strip it from
/// both ends of a value, so a value that starts or ends with it would not survive.
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// A POSIX shell word that stands for exactly `value` (single quotes; no expansion at all).
pub fn shell(field: &str, value: &str) -> Result<String, Unrepresentable> {
    shlex::try_quote(value).map(Cow::into_owned).map_err(|_| {
        Unrepresentable(format!(
            "The {field} contains a NUL character, which a shell variable cannot hold."
        ))
    })
}

/// A value for an INI file read by Python's configparser or by rclone: one line, no surrounding
/// whitespace, no control characters. Those formats have no escapes, so anything else is refused.
pub fn ini<'v>(field: &str, value: &'v str) -> Result<&'v str, Unrepresentable> {
    if value.chars().any(char::is_control) {
        return Err(Unrepresentable(format!(
            "The {field} contains a line break or another control character, which this file format cannot hold. \
             Use the environment variant instead."
        )));
    }
    if value.starts_with(python_space) || value.ends_with(python_space) {
        return Err(Unrepresentable(format!(
            "The {field} starts or ends with a space, which this file format drops. Use the environment variant instead."
        )));
    }
    Ok(value)
}

/// A value for rclone's config file. Its reader (goconfig) takes a value that starts with a
/// backtick or with three double quotes as quoted, up to the last such quote on the line; such a
/// value is wrapped in backticks, which gives it back whole.
///
/// It also replaces `%(name)s` with another key's value, with no escape, so such text is refused.
pub fn rclone(field: &str, value: &str) -> Result<String, Unrepresentable> {
    let value = ini(field, value)?;
    let substituted = value.match_indices("%(").any(|(at, _)| {
        let rest = &value[at + 2..];
        rest.find(')')
            .is_some_and(|end| end > 0 && rest[end + 1..].starts_with('s'))
    });
    if substituted {
        return Err(Unrepresentable(format!(
            "The {field} contains text like %(name)s, which rclone replaces. Use the environment variant instead."
        )));
    }
    if value.starts_with('`') || value.starts_with("\"\"\"") {
        Ok(format!("`{value}`"))
    } else {
        Ok(value.to_string())
    }
}

/// A value for s3cmd's `.s3cfg`: its reader strips one pair of surrounding double quotes, so
/// every value is wrapped in them and may then start or end with anything but a line break.
pub fn s3cfg(field: &str, value: &str) -> Result<String, Unrepresentable> {
    if value.chars().any(char::is_control) {
        return Err(Unrepresentable(format!(
            "The {field} contains a line break or another control character, which .s3cfg cannot hold."
        )));
    }
    Ok(format!("\"{value}\""))
}

/// A Python string literal for exactly `value`. JSON's string syntax is a subset of Python's.
pub fn python(value: &str) -> String {
    serde_json::to_string(value).expect("a string always serializes")
}

/// A YAML double-quoted scalar for exactly `value`, read the same by YAML 1.1 (PyYAML, which
/// openstacksdk uses) and YAML 1.2 readers. Serde's YAML emitters write 1.2 plain scalars, which
/// 1.1 misreads (`=` is a tag there, `yes` a boolean); quoting everything leaves no room for that.
pub fn yaml(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            // Control characters, and the characters YAML reads as line breaks or a byte-order mark.
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A value for an HTTP header that curl and Python's `requests` both send as given: printable
/// ASCII, inner spaces. A line break would start another header, HTTP drops surrounding spaces,
/// and `requests` writes headers as Latin-1, so anything else is refused.
pub fn header<'v>(field: &str, value: &'v str) -> Result<&'v str, Unrepresentable> {
    if !value.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return Err(Unrepresentable(format!(
            "The {field} contains a line break, a control character or a non-ASCII character, which an HTTP header cannot carry."
        )));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(Unrepresentable(format!(
            "The {field} starts or ends with a space, which HTTP drops from a header."
        )));
    }
    Ok(value)
}

/// Refuses NUL, which no format here can carry.
pub fn no_nul(field: &str, value: &str) -> Result<(), Unrepresentable> {
    if value.contains('\0') {
        Err(Unrepresentable(format!(
            "The {field} contains a NUL character."
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ini_refuses_what_it_cannot_hold_and_keeps_the_rest() {
        assert_eq!(ini("secret", "a=b;c#d%e'\"\\"), Ok("a=b;c#d%e'\"\\"));
        assert!(ini("secret", "line\nbreak").is_err());
        assert!(ini("secret", " padded").is_err());
        assert!(ini("secret", "padded\u{a0}").is_err());
        assert!(ini("secret", "\u{1f}x").is_err());
    }

    #[test]
    fn refusals_never_repeat_the_value() {
        let secret = "hunter2\n";
        let message = ini("secret", secret).unwrap_err().0;
        assert!(!message.contains("hunter2"));
        assert!(
            !shell("secret", "hunter2\0")
                .unwrap_err()
                .0
                .contains("hunter2")
        );
    }

    #[test]
    fn yaml_quotes_everything_that_could_be_read_as_syntax() {
        assert_eq!(yaml("="), "\"=\"");
        assert_eq!(yaml("a\"b\\\n\u{85}é"), "\"a\\\"b\\\\\\u000a\\u0085é\"");
    }

    #[test]
    fn rclone_quotes_what_its_reader_would_unquote_and_refuses_substitutions() {
        assert_eq!(rclone("secret", "`a`b").unwrap(), "``a`b`");
        assert_eq!(rclone("secret", "\"plain\"").unwrap(), "\"plain\"");
        assert_eq!(rclone("secret", "100%(x").unwrap(), "100%(x");
        assert!(rclone("secret", "a%(here)s").is_err());
    }

    #[test]
    fn headers_hold_printable_ascii_only() {
        assert_eq!(header("instance id", "a b:c'\"$"), Ok("a b:c'\"$"));
        assert!(header("instance id", "a\r\nX-Other: 1").is_err());
        assert!(header("instance id", " a").is_err());
        assert!(header("instance id", "é").is_err());
    }

    #[test]
    fn python_literals_escape_quotes_and_backslashes() {
        assert_eq!(python("a\"b\\c\n"), r#""a\"b\\c\n""#);
    }
}
