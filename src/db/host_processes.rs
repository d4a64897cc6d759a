//! The portal processes of this host, told alive or dead by a lock each holds on a file of its
//! own: the kernel drops a lock when its process dies, however it dies. A process starting
//! beside the data finds the files whose lock it can take: their processes are gone, at once,
//! without waiting for their heartbeats to fall silent (`instances`). Processes on other hosts
//! are not seen here; for them the heartbeat's timeout stays the rule.

use std::{
    fs::{self, File, TryLockError},
    path::{Path, PathBuf},
};

/// This process's lock, held until the process ends.
pub struct HostLock {
    _file: File,
    path: PathBuf,
}

impl Drop for HostLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Locks `instance`'s file in `dir` (made if missing) and returns the instances whose files
/// are no longer locked: processes of this host that stopped without deregistering (killed,
/// crashed). Their files are removed.
pub fn take(dir: &Path, instance: &str) -> std::io::Result<(HostLock, Vec<String>)> {
    fs::create_dir_all(dir)?;
    let path = dir.join(format!("{instance}.lock"));
    let file = File::create(&path)?;
    file.try_lock().map_err(|e| match e {
        TryLockError::Error(e) => e,
        TryLockError::WouldBlock => std::io::Error::other("a new instance id is locked already"),
    })?;
    let mut dead = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(other) = name.to_str().and_then(|n| n.strip_suffix(".lock")) else {
            continue;
        };
        if other == instance {
            continue;
        }
        let Ok(other_file) = File::open(entry.path()) else {
            continue;
        };
        // A lock taken here means no process holds the file any more; one refused means its
        // process runs.
        if other_file.try_lock().is_ok() {
            let _ = fs::remove_file(entry.path());
            dead.push(other.to_string());
        }
    }
    Ok((HostLock { _file: file, path }, dead))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_left_by_a_dropped_holder_is_found_dead_and_a_held_one_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let (alive, found) = take(dir.path(), "alive").unwrap();
        assert!(found.is_empty());
        // A killed process leaves its file behind, and no lock on it.
        let gone_path = dir.path().join("gone.lock");
        std::fs::write(&gone_path, "").unwrap();
        let (_new, found) = take(dir.path(), "new").unwrap();
        assert_eq!(
            found,
            vec!["gone".to_string()],
            "only the unlocked one is dead"
        );
        assert!(!gone_path.exists(), "its file is removed");
        let alive_path = alive.path.clone();
        drop(alive);
        assert!(
            !alive_path.exists(),
            "a process that stops removes its file"
        );
    }
}
