//! Checks of what users type, each returning the cleaned value or a message for the form.

pub type Checked = Result<String, &'static str>;

pub const PASSWORD_MIN: usize = 12;
pub const PASSWORD_MAX: usize = 1024;

/// A character that hides or disguises text: control characters, zero-width characters and the
/// bidirectional overrides, embeddings and isolates (a name such as `admin\u{202E}nimda` reads
/// differently from what it is). The one check behind every name, label and description.
pub fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{00AD}'                // soft hyphen
            | '\u{034F}'              // combining grapheme joiner
            | '\u{061C}'              // Arabic letter mark
            | '\u{115F}' | '\u{1160}' // Hangul fillers
            | '\u{17B4}' | '\u{17B5}' // Khmer inherent vowels
            | '\u{180B}'..='\u{180F}' // Mongolian variation selectors and vowel separator
            | '\u{200B}'..='\u{200F}' // zero-width space, joiners, left-to-right and right-to-left marks
            | '\u{2028}'..='\u{202E}' // line and paragraph separators, bidi embeddings and overrides
            | '\u{2060}'..='\u{206F}' // word joiner, invisible operators, bidi isolates
            | '\u{3164}'              // Hangul filler
            | '\u{FEFF}'              // zero-width no-break space
            | '\u{FFA0}'              // halfwidth Hangul filler
            | '\u{FFF9}'..='\u{FFFB}' // interlinear annotation
            | '\u{E0000}'..='\u{E007F}' // tags
        )
}

fn has_control(value: &str) -> bool {
    value.chars().any(is_hidden_or_control)
}

/// The message for a value refused by [`has_control`].
const HIDDEN_CHARACTERS: &str =
    "Control, zero-width and text-direction characters are not allowed.";

pub fn email(value: &str) -> Checked {
    let value = value.trim().to_lowercase();
    if value.is_empty() {
        return Err("Enter an email address.");
    }
    if value.len() > 254 {
        return Err("An email address has at most 254 characters.");
    }
    let valid = match value.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !value.chars().any(|c| {
                    c.is_whitespace() || is_hidden_or_control(c) || "<>\"(),;:[]\\".contains(c)
                })
        }
        None => false,
    };
    if valid {
        Ok(value)
    } else {
        Err("Enter an email address such as name@example.org.")
    }
}

pub fn person_name(value: &str) -> Checked {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter a name.");
    }
    if value.chars().count() > 100 {
        return Err("A name has at most 100 characters.");
    }
    if has_control(value) {
        return Err(HIDDEN_CHARACTERS);
    }
    Ok(value.to_string())
}

pub fn project_name(value: &str) -> Checked {
    person_name(value).map_err(|e| match e {
        "Enter a name." => "Enter a project name.",
        other => other,
    })
}

/// A slug names a project in URLs: lowercase letters, digits and single hyphens.
/// A short name for URLs made from a name: lowercase letters and digits, words joined by single
/// hyphens, at most 40 characters ("Object storage (TH)" → "object-storage-th").
pub fn slug_from_name(name: &str) -> String {
    let mut slug = String::new();
    for word in name
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if slug.len() + word.len() + 1 > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('-');
        }
        slug.push_str(&word.to_ascii_lowercase());
    }
    slug
}

pub fn slug(value: &str) -> Checked {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter a short name for URLs.");
    }
    if value.len() < 2 || value.len() > 40 {
        return Err("A short name has 2 to 40 characters.");
    }
    let allowed = value
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !allowed || value.starts_with('-') || value.ends_with('-') || value.contains("--") {
        return Err("Use lowercase letters, digits and single hyphens, e.g. team-storage.");
    }
    Ok(value.to_string())
}

/// A short free text (a description): optional, at most 500 characters, no control characters
/// but line breaks.
pub fn description(value: &str) -> Checked {
    let value = value.trim();
    if value.chars().count() > 500 {
        return Err("A description has at most 500 characters.");
    }
    if value
        .chars()
        .any(|c| is_hidden_or_control(c) && c != '\n' && c != '\r')
    {
        return Err(HIDDEN_CHARACTERS);
    }
    Ok(value.to_string())
}

/// A label such as a site, region or Keystone domain: 1 to 100 characters.
pub fn label(value: &str, missing: &'static str) -> Checked {
    let value = value.trim();
    if value.is_empty() {
        return Err(missing);
    }
    if value.chars().count() > 100 {
        return Err("At most 100 characters.");
    }
    if has_control(value) {
        return Err(HIDDEN_CHARACTERS);
    }
    Ok(value.to_string())
}

/// An endpoint URL: http or https, a host, no user name or password in it.
pub fn endpoint_url(value: &str) -> Checked {
    let value = value.trim();
    if value.is_empty() {
        return Err("Enter the endpoint's URL.");
    }
    if value.len() > 2000 {
        return Err("A URL has at most 2000 characters.");
    }
    let Ok(url) = url::Url::parse(value) else {
        return Err("Enter a full URL such as https://s3.example.org.");
    };
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err("Use an http:// or https:// URL.");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("Enter a full URL such as https://s3.example.org.");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Keep user names and passwords out of the URL: they belong in credentials.");
    }
    Ok(value.to_string())
}

pub fn new_password(value: &str, confirmation: &str) -> Result<(), &'static str> {
    let length = value.chars().count();
    if length < PASSWORD_MIN {
        return Err("A password has at least 12 characters.");
    }
    if value.len() > PASSWORD_MAX {
        return Err("A password has at most 1024 bytes.");
    }
    if value != confirmation {
        return Err("The two passwords differ.");
    }
    Ok(())
}

/// `https://host:port` of a URL: where Swift's S3 API answers, beside `/v1/AUTH_...`.
pub fn origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    Some(url.origin().ascii_serialization()).filter(|o| o != "null")
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_short_name_is_made_from_the_name() {
        assert_eq!(slug_from_name("Object storage (TH)"), "object-storage-th");
        assert_eq!(slug_from_name("  Ümlaut & co  "), "mlaut-co");
        assert_eq!(slug_from_name("!!!"), "");
        let long = slug_from_name(&"word ".repeat(20));
        assert!(long.len() <= 40 && !long.ends_with('-'), "{long}");
        assert!(slug(&slug_from_name("Team storage")).is_ok());
    }

    use super::*;

    #[test]
    fn emails_are_case_folded_and_checked() {
        assert_eq!(email("  Ada@Example.ORG "), Ok("ada@example.org".into()));
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a b@example.org",
            "a@b@c.org",
            "ada@.org",
        ] {
            assert!(email(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(email(&format!("{}@example.org", "a".repeat(250))).is_err());
    }

    #[test]
    fn slugs_are_url_safe() {
        assert_eq!(slug("team-storage"), Ok("team-storage".into()));
        for bad in [
            "",
            "a",
            "Team",
            "team storage",
            "-team",
            "team-",
            "te--am",
            "tëam",
            &"a".repeat(41),
        ] {
            assert!(slug(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn endpoint_urls() {
        assert_eq!(
            endpoint_url(" https://s3.example.org "),
            Ok("https://s3.example.org".into())
        );
        assert!(endpoint_url("http://127.0.0.1:8080/v3").is_ok());
        for bad in [
            "",
            "s3.example.org",
            "ftp://x.org",
            "https://user:pw@x.org",
            "https://user@x.org",
            "javascript:alert(1)",
            "http://",
        ] {
            assert!(endpoint_url(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn names_and_passwords() {
        assert_eq!(person_name("  Ada Lovelace "), Ok("Ada Lovelace".into()));
        assert!(person_name("   ").is_err());
        assert!(person_name("a\u{0}b").is_err());
        assert!(person_name(&"x".repeat(101)).is_err());
        assert_eq!(person_name("Zoë Ørsted-李"), Ok("Zoë Ørsted-李".into()));
    }

    #[test]
    fn hidden_and_direction_characters_are_refused_everywhere() {
        // Zero-width space, joiners, marks, overrides, isolates, BOM, soft hyphen, a tag, a NUL.
        for hidden in [
            '\u{0}',
            '\u{7}',
            '\u{1b}',
            '\u{85}',
            '\u{AD}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}',
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}',
            '\u{2060}',
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}',
            '\u{FEFF}',
            '\u{E0041}',
            '\u{061C}',
            '\u{2028}',
        ] {
            let value = format!("adm{hidden}in");
            assert!(
                person_name(&value).is_err(),
                "{hidden:?} in a person's name"
            );
            assert!(
                project_name(&value).is_err(),
                "{hidden:?} in a project name"
            );
            assert!(label(&value, "x").is_err(), "{hidden:?} in a label");
            assert!(description(&value).is_err(), "{hidden:?} in a description");
            assert!(
                email(&format!("{value}@example.org")).is_err(),
                "{hidden:?} in an email"
            );
        }
        assert_eq!(description("two\nlines"), Ok("two\nlines".into()));
        assert_eq!(label("Si Racha, ไทย", "x"), Ok("Si Racha, ไทย".into()));
        assert!(new_password("short", "short").is_err());
        assert!(new_password("long enough pass", "long enough pasS").is_err());
        assert!(new_password("long enough pass", "long enough pass").is_ok());
    }
}
