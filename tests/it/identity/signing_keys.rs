//! The keys that sign access tokens: `keyport token-key rotate` while the portal serves, and
//! `keyport master-key rotate`, which re-seals them.

use std::process::Output;

use keyport::crypto::master_key::MasterKey;

use super::{Portal, jwt_part};
use crate::process::keyport;

/// Runs `keyport ARGS` on the portal's database (off the runtime the portal serves on).
async fn run(portal: &Portal, args: &[&str]) -> String {
    let mut command = keyport(&portal.test_db);
    command.args(args);
    let output: Output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the keyport binary runs");
    assert!(
        output.status.success(),
        "keyport {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn kid(token: &str) -> String {
    jwt_part(token, 0)["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn after_token_key_rotate_new_tokens_use_the_new_key_and_old_ones_still_verify() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let before = portal.access_token(&key.secret).await;
    let old_kid = kid(&before);
    assert_eq!(portal.published_kids().await, vec![old_kid.clone()]);

    let printed = run(&portal, &["token-key", "rotate"]).await;
    let new_kid = printed
        .trim()
        .rsplit(' ')
        .next()
        .expect("the command names the new key")
        .to_string();
    assert_ne!(new_kid, old_kid, "{printed}");

    // The portal that was serving all along signs with the new key from the next exchange on.
    let after = portal.access_token(&key.secret).await;
    assert_eq!(kid(&after), new_kid);
    let mut published = portal.published_kids().await;
    published.sort();
    let mut both = vec![old_kid, new_kid];
    both.sort();
    assert_eq!(published, both);
    assert_eq!(
        portal.project_slugs(&before).await,
        Ok(vec!["team".to_string()])
    );
    assert_eq!(
        portal.project_slugs(&after).await,
        Ok(vec!["team".to_string()])
    );

    // A portal started afresh verifies both as well (nothing held over in memory).
    let key_file = portal.test_db.key_file.clone();
    let portal = portal.restart(key_file).await;
    assert_eq!(
        portal.project_slugs(&before).await,
        Ok(vec!["team".to_string()])
    );
    assert_eq!(
        portal.project_slugs(&after).await,
        Ok(vec!["team".to_string()])
    );
}

#[tokio::test]
async fn after_master_key_rotate_the_signing_key_still_signs_and_verifies() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let before = portal.access_token(&key.secret).await;

    let new_key_file = portal.test_db.dir.path().join("new-master.key");
    MasterKey::generate().write_new_file(&new_key_file).unwrap();
    let new_key = new_key_file.to_str().unwrap().to_string();
    run(
        &portal,
        &["master-key", "rotate", "--new-key-file", &new_key],
    )
    .await;

    let portal = portal.restart(new_key_file).await;
    let after = portal.access_token(&key.secret).await;
    assert_eq!(kid(&after), kid(&before), "the same key, sealed anew");
    assert_eq!(
        portal.project_slugs(&before).await,
        Ok(vec!["team".to_string()])
    );
    assert_eq!(
        portal.project_slugs(&after).await,
        Ok(vec!["team".to_string()])
    );
    // And it still opens for whoever holds the new master key.
    portal.signing_key().await;
}
