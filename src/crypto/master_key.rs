//! The master key: loaded from the environment or a file, generated on the first run of a new
//! database, and checked against the key id the database recorded.

use std::{fmt, io::Write, path::Path};

use anyhow::Context;
use base64::{Engine, engine::general_purpose::STANDARD};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub struct MasterKey(Zeroizing<[u8; 32]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterKey({})", self.id())
    }
}

impl MasterKey {
    pub fn generate() -> Self {
        MasterKey(Zeroizing::new(super::random_bytes::<32>()))
    }

    /// Reads base64 text (what Keyport writes) or 32 raw bytes.
    pub fn decode(contents: &[u8]) -> anyhow::Result<Self> {
        if contents.len() == 32 {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(contents);
            return Ok(MasterKey(key));
        }
        let text = std::str::from_utf8(contents).map_err(|_| anyhow::anyhow!("not base64 text"))?;
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text.trim())
                .map_err(|_| anyhow::anyhow!("not valid base64"))?,
        );
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            anyhow::anyhow!("a master key is 32 bytes, this one is {}", bytes.len())
        })?;
        Ok(MasterKey(Zeroizing::new(key)))
    }

    /// A public fingerprint of the key, stored in the database to recognise the right key.
    pub fn id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"keyport master key id\0")
            .chain_update(self.0.as_slice())
            .finalize();
        super::hex(&digest[..8])
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Writes the key as base64 to a new file readable by its owner only.
    pub fn write_new_file(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::files::create_private_dir(dir)
                .with_context(|| format!("cannot create the folder {}", dir.display()))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .with_context(|| format!("cannot create the master key file {}", path.display()))?;
        let text = Zeroizing::new(format!("{}\n", STANDARD.encode(self.0.as_slice())));
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    }
}

/// Reads a master key file (e.g. the new key of a rotation).
pub fn read_file(path: &Path) -> anyhow::Result<MasterKey> {
    let contents = Zeroizing::new(
        std::fs::read(path)
            .with_context(|| format!("cannot read the master key file {}", path.display()))?,
    );
    MasterKey::decode(&contents)
        .with_context(|| format!("the file {} is not a valid master key", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_what_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/master.key");
        let key = MasterKey::generate();
        key.write_new_file(&path).unwrap();
        let again = MasterKey::decode(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(key.id(), again.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dir_mode = std::fs::metadata(path.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                dir_mode & 0o777,
                0o700,
                "a folder Keyport creates is private"
            );
        }
        // Never overwrites an existing key.
        assert!(MasterKey::generate().write_new_file(&path).is_err());
    }

    #[test]
    fn refuses_keys_of_the_wrong_length() {
        assert!(MasterKey::decode(STANDARD.encode([1u8; 16]).as_bytes()).is_err());
        assert!(MasterKey::decode(b"not base64 at all!").is_err());
    }

    #[test]
    fn debug_shows_only_the_id() {
        let key = MasterKey::decode(&[7u8; 32]).unwrap();
        let shown = format!("{key:?}");
        assert_eq!(shown, format!("MasterKey({})", key.id()));
    }
}
