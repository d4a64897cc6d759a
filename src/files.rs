//! Files Keyport writes next to its data, created readable by their owner only, and the secret
//! files it is given.

use std::{io, path::Path};

use anyhow::Context;
use zeroize::Zeroizing;

/// The secret in the file set by `setting` (its first line, blanks trimmed); an error names the
/// setting and the file, never the contents.
pub fn read_secret(setting: &str, path: &Path) -> anyhow::Result<Zeroizing<String>> {
    let contents = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {setting} {}", path.display()))?,
    );
    let secret = contents.lines().next().unwrap_or_default().trim();
    anyhow::ensure!(!secret.is_empty(), "{setting} {} is empty", path.display());
    Ok(Zeroizing::new(secret.to_string()))
}

/// Creates `dir` and its missing parents; the folders created are private to the owner (0700).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
