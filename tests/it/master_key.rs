//! `keyport master-key rotate`: every data key re-wrapped in one transaction, the portal then
//! starts only with the new key, and an interrupted rotation loses nothing.

use std::{
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use keyport::{
    App,
    crypto::{
        envelope::{DataKey, SecretPlace},
        master_key::{self, MasterKey},
    },
    db::{self, Db},
};

use crate::{
    helpers::TestDb,
    process::{keyport, set_hook},
};

const PROJECTS: usize = 6;
const PROVIDER_TOKEN: &[u8] = b"the provider's refresh token";

/// The owner's provider refresh token as stored, opened under `master`.
async fn provider_token(db: &Db, master: &MasterKey) -> Option<Vec<u8>> {
    let owner = db::users::find_by_email(db, "o@example.org")
        .await
        .unwrap()
        .unwrap();
    let sealed = db::sso::find(db, &owner.id)
        .await
        .unwrap()
        .unwrap()
        .refresh_token
        .unwrap();
    keyport::crypto::envelope::open_provider_token(master, &owner.id, &sealed)
        .ok()
        .map(|t| t.to_vec())
}

/// Projects with data keys under the current master key, and a secret sealed in each.
async fn seed(db: &TestDb) -> Vec<(String, Vec<u8>)> {
    let app = App::build(db.config())
        .await
        .expect("first start creates the master key");
    let master = master_key::read_file(&db.key_file).unwrap();
    let owner = db::users::create(
        app.db().pool(),
        db::users::NewUser {
            email: "o@example.org",
            name: "O",
            password_hash: None,
            is_admin: true,
        },
    )
    .await
    .unwrap();
    // Their refresh token at the single sign-on provider, sealed under the master key too.
    let token = keyport::crypto::envelope::seal_provider_token(&master, &owner.id, PROVIDER_TOKEN);
    db::sso::signed_in(
        app.db(),
        &owner.id,
        "https://provider.example",
        "o",
        "",
        Some(&token),
    )
    .await
    .unwrap();
    let mut sealed = Vec::new();
    for i in 0..PROJECTS {
        let project = db::projects::create(app.db(), &format!("p{i}"), "P", &owner.id)
            .await
            .unwrap();
        let key = project_key(app.db(), &master, &project.id).await.unwrap();
        let place = SecretPlace {
            project_id: &project.id,
            credential_id: "c",
            field: "secret",
        };
        sealed.push((project.id.clone(), key.seal(place, &format!("secret {i}"))));
    }
    sealed
}

/// Project `project_id`'s data key under `master`, made on first use as the vault makes it.
async fn project_key(db: &Db, master: &MasterKey, project_id: &str) -> anyhow::Result<DataKey> {
    let wrapped = match db::keys::wrapped_data_key(db, project_id).await? {
        Some(wrapped) => wrapped,
        None => {
            let key = DataKey::generate();
            db::keys::add_data_key(db, project_id, &key.wrap(master, project_id)).await?
        }
    };
    DataKey::unwrap(master, project_id, &wrapped).map_err(|_| anyhow::anyhow!("does not open"))
}

/// Every sealed secret opens with its project's data key under `master`.
async fn all_open(db: &Db, master: &MasterKey, sealed: &[(String, Vec<u8>)]) -> bool {
    for (i, (project_id, ciphertext)) in sealed.iter().enumerate() {
        let Ok(key) = project_key(db, master, project_id).await else {
            return false;
        };
        let place = SecretPlace {
            project_id,
            credential_id: "c",
            field: "secret",
        };
        match key.open(place, ciphertext) {
            Ok(secret) if *secret == format!("secret {i}") => {}
            _ => return false,
        }
    }
    true
}

fn rotate(db: &TestDb, new_key: &std::path::Path, pause_ms: Option<u64>) -> Command {
    let mut command = keyport(db);
    command
        .args(["master-key", "rotate", "--new-key-file"])
        .arg(new_key)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(ms) = pause_ms {
        set_hook(
            &mut command,
            "KEYPORT_TEST_ROTATE_PAUSE_MS",
            &ms.to_string(),
        );
    }
    command
}

/// The statement that re-wraps one project's data key, as sqlx logs it at `debug`.
const REWRAP: &str = "update projects set data_key";

#[tokio::test]
async fn rotation_rewraps_every_data_key_and_the_old_key_stops_working() {
    let test_db = TestDb::new().await;
    let sealed = seed(&test_db).await;
    let new_file = test_db.dir.path().join("new.key");
    MasterKey::generate().write_new_file(&new_file).unwrap();

    let output = rotate(&test_db, &new_file, None).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        String::from_utf8_lossy(&output.stdout)
            .contains(&format!("re-wrapped {PROJECTS} project keys"))
    );

    let error = App::build(test_db.config())
        .await
        .err()
        .expect("the old key is refused");
    assert!(format!("{error:#}").contains("is not the one this database was written with"));
    let mut config = test_db.config();
    config.master_key.file = new_file.clone();
    let app = App::build(config)
        .await
        .expect("the portal starts with the new key");
    let new = master_key::read_file(&new_file).unwrap();
    let old = master_key::read_file(&test_db.key_file).unwrap();
    assert!(
        all_open(app.db(), &new, &sealed).await,
        "every secret opens under the new key"
    );
    assert!(!all_open(app.db(), &old, &sealed).await);
    assert_eq!(
        provider_token(app.db(), &new).await.as_deref(),
        Some(PROVIDER_TOKEN),
        "the provider's refresh token opens under the new key"
    );
    assert_eq!(provider_token(app.db(), &old).await, None);

    // Rotating to the key in use, or from a wrong key, is refused.
    let output = rotate(&test_db, &new_file, None).output().unwrap();
    assert!(!output.status.success());
}

#[tokio::test]
async fn an_interrupted_rotation_changes_nothing() {
    let test_db = TestDb::new().await;
    let sealed = seed(&test_db).await;
    let new_file = test_db.dir.path().join("new.key");
    MasterKey::generate().write_new_file(&new_file).unwrap();

    // Slowed to 400 ms a project; sqlx logs each statement, so the log shows when the rotation
    // has re-wrapped some data keys inside its transaction. Killed then, before it can finish.
    let log = test_db.dir.path().join("rotate.log");
    let mut child = rotate(&test_db, &new_file, Some(400))
        .env("KEYPORT_LOG", "sqlx::query=debug")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let rewrapped = loop {
        let seen = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches(REWRAP)
            .count();
        if seen >= 2 {
            break seen;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "the rotation ended before it was seen re-wrapping: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the rotation starts re-wrapping"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(rewrapped < PROJECTS, "killed part of the way: {rewrapped}");
    assert!(
        child.try_wait().unwrap().is_none(),
        "still rotating when killed"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let app = App::build(test_db.config())
        .await
        .expect("the old key still opens the database");
    let old = master_key::read_file(&test_db.key_file).unwrap();
    assert!(
        all_open(app.db(), &old, &sealed).await,
        "every secret still opens under the old key"
    );
    assert_eq!(
        provider_token(app.db(), &old).await.as_deref(),
        Some(PROVIDER_TOKEN)
    );
    drop(app);
    let mut config = test_db.config();
    config.master_key.file = new_file.clone();
    assert!(
        App::build(config).await.is_err(),
        "the new key was never recorded"
    );

    // Run to the end, it completes.
    let output = rotate(&test_db, &new_file, None).output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
