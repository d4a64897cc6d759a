//! S3's rules for bucket names and object keys, checked before any request: a name S3 would
//! refuse is explained on the form, and a key a URL cannot carry is never sent.

/// A bucket name S3 accepts (the general-purpose bucket rules): 3 to 63 lowercase letters,
/// digits, dots and hyphens, starting and ending with a letter or digit, no two dots in a row,
/// not shaped like an IP address, none of the prefixes and suffixes AWS keeps for itself.
pub fn bucket_name(value: &str) -> Result<String, &'static str> {
    let name = value.trim();
    if name.is_empty() {
        return Err("Name the bucket, e.g. team-backups.");
    }
    if !(3..=63).contains(&name.len()) {
        return Err("A bucket name has 3 to 63 characters.");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err("A bucket name has lowercase letters, digits, dots and hyphens only.");
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(name.chars().next()) || !edge(name.chars().last()) {
        return Err("A bucket name starts and ends with a letter or a digit.");
    }
    if name.contains("..") {
        return Err("A bucket name has no two dots in a row.");
    }
    if name.parse::<std::net::Ipv4Addr>().is_ok() {
        return Err("A bucket name is not an IP address.");
    }
    if ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|p| name.starts_with(p))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3"]
            .iter()
            .any(|s| name.ends_with(s))
    {
        return Err("S3 keeps names with this prefix or suffix for itself; choose another.");
    }
    Ok(name.to_string())
}

/// An object key Keyport can send: 1 to 1024 bytes, no control characters, and no path segment
/// `.` or `..` (a URL cannot carry one: clients resolve it away before the request is sent).
pub fn object_key(value: &str) -> Result<String, &'static str> {
    if value.is_empty() {
        return Err("Name the object.");
    }
    if value.len() > 1024 {
        return Err("An object name has at most 1024 bytes.");
    }
    if value.chars().any(char::is_control) {
        return Err("An object name has no control characters.");
    }
    if value
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return Err(
            "An object name with a part that is only . or .. (as in a/../b) cannot be sent in a URL; rename the file.",
        );
    }
    Ok(value.to_string())
}

/// A prefix to list under: a folder path as S3 gives it, or what a user typed.
pub fn prefix(value: &str) -> Result<String, &'static str> {
    if value.len() > 1024 {
        return Err("A folder path has at most 1024 bytes.");
    }
    if value.chars().any(char::is_control) {
        return Err("A folder path has no control characters.");
    }
    Ok(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3s_rules() {
        for good in [
            "abc",
            "team-backups",
            "a.b-c.1",
            &"a".repeat(63),
            "192.168.5.4x",
        ] {
            assert_eq!(bucket_name(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "ab",
            &"a".repeat(64),
            "Team",
            "team_backups",
            "-team",
            "team-",
            "team..backups",
            "192.168.5.4",
            "xn--team",
            "team-s3alias",
            "bücket",
            "a b c",
        ] {
            assert!(bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn object_keys_a_url_cannot_carry_are_refused() {
        for good in [
            "a b.txt",
            "résumé ✓.pdf",
            "a+b%20c#d?e",
            "..hidden",
            "a/..b/c..",
            "dir/",
        ] {
            assert_eq!(object_key(good).as_deref(), Ok(good), "{good}");
        }
        for bad in [
            "",
            "a/../b",
            "..",
            "./a",
            "a/.",
            "tab\there",
            &"x".repeat(1025),
        ] {
            assert!(object_key(bad).is_err(), "{bad}");
        }
    }
}
