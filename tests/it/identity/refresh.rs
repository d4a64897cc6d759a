//! Refresh tokens that are sealed by Keyport and name their family: an exchange writes nothing, a refresh
//! writes its family's one row; what a refresh token is refused for (its key deleted, disabled,
//! expired, its user disabled; tampered, forged ahead of its family, expired, signed by another
//! key; taken for an access token or the other way round); reuse revoked and audited once; a
//! signing key rotation.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use keyport::{crypto::jwt::SigningKey, db, ops::api_keys::Change};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Portal, answer, iam_error, jwt_part};

/// Exchanges `refresh`; the status and answer.
async fn refresh(portal: &Portal, refresh: &str) -> (StatusCode, Value) {
    answer(
        portal
            .exchange(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await,
    )
    .await
}

async fn count(portal: &Portal, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(portal.db.pool())
        .await
        .unwrap()
}

fn refresh_token(answer: &Value) -> String {
    answer["refresh_token"].as_str().unwrap().to_string()
}

/// The claims of a refresh token (`kpr1.KID.CLAIMS.TAG`), read without checking anything.
fn refresh_claims(token: &str) -> Value {
    let claims = token
        .split('.')
        .nth(2)
        .expect("a refresh token has four parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("base64url")).expect("JSON")
}

fn refresh_kid(token: &str) -> &str {
    token
        .split('.')
        .nth(1)
        .expect("a refresh token names its key")
}

const REUSED: &str = "select count(*) from audit_events where action = 'token.refresh_reused'";

#[tokio::test]
async fn an_exchange_writes_nothing_and_a_refresh_moves_its_family_on() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let audited = count(&portal, "select count(*) from audit_events").await;

    let mut families = Vec::new();
    for _ in 0..5 {
        let tokens = portal.tokens(&key.secret).await;
        let claims = refresh_claims(&refresh_token(&tokens));
        assert!(refresh_token(&tokens).starts_with("kpr1."));
        assert_eq!(claims["use"], "refresh", "{claims}");
        assert_eq!(claims["key"], key.key.id.as_str());
        assert_eq!(claims["place"], 0);
        assert_eq!(
            refresh_kid(&refresh_token(&tokens)),
            jwt_part(tokens["access_token"].as_str().unwrap(), 0)["kid"],
            "sealed under the key that signs access tokens"
        );
        families.push(claims["fam"].as_str().unwrap().to_string());
        families.dedup();
    }
    assert_eq!(families.len(), 5, "each exchange starts a family");
    assert_eq!(
        count(&portal, "select count(*) from refresh_families").await,
        0,
        "no family has a row before its first refresh"
    );
    assert_eq!(
        count(&portal, "select count(*) from audit_events").await,
        audited
    );

    let first = portal.tokens(&key.secret).await;
    let (status, second) = refresh(&portal, &refresh_token(&first)).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let (status, third) = refresh(&portal, &refresh_token(&second)).await;
    assert_eq!(status, StatusCode::OK, "{third}");
    let claims = refresh_claims(&refresh_token(&third));
    assert_eq!(claims["place"], 2);
    assert_eq!(claims["fam"], refresh_claims(&refresh_token(&first))["fam"]);
    let next: i64 = sqlx::query_scalar("select next_place from refresh_families where family = $1")
        .bind(claims["fam"].as_str().unwrap())
        .fetch_one(portal.db.pool())
        .await
        .unwrap();
    assert_eq!(
        next, 2,
        "the family's row names the one token that may be used"
    );
    assert_eq!(
        count(&portal, "select count(*) from refresh_families").await,
        1
    );
}

#[tokio::test]
async fn access_and_refresh_tokens_are_not_taken_for_each_other() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let tokens = portal.tokens(&key.secret).await;
    let access = tokens["access_token"].as_str().unwrap();

    assert_eq!(
        portal.project_slugs(&refresh_token(&tokens)).await,
        Err(StatusCode::UNAUTHORIZED),
        "a refresh token is no bearer token"
    );
    let (status, body) = refresh(&portal, access).await;
    iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0407E");
    // Both still work as what they are.
    assert_eq!(
        portal.project_slugs(access).await,
        Ok(vec!["team".to_string()])
    );
    let (status, body) = refresh(&portal, &refresh_token(&tokens)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A refresh token of `claims`, sealed under `key`.
fn signed(key: &SigningKey, claims: &Value) -> String {
    key.seal_refresh(claims)
}

#[tokio::test]
async fn refresh_tokens_keyport_did_not_issue_as_they_are_are_refused() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let tokens = portal.tokens(&key.secret).await;
    let issued = refresh_token(&tokens);
    let claims = refresh_claims(&issued);
    let signing = portal.signing_key().await;
    // The claims as issued, signed again by the same key: accepted, so the changes below are
    // what is refused.
    let mut same = claims.clone();
    same["place"] = json!(0);

    let mut ahead = claims.clone();
    ahead["place"] = json!(5);
    let mut expired = claims.clone();
    expired["iat"] = json!(db::now() - 100);
    expired["exp"] = json!(db::now() - 10);
    let mut too_long = claims.clone();
    too_long["exp"] = json!(db::now() + 400 * 86_400);
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://elsewhere.example");
    let mut other_use = claims.clone();
    other_use["use"] = json!("access");
    let parts: Vec<&str> = issued.split('.').collect();
    let tampered = format!(
        "{}.{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&ahead).unwrap()),
        parts[3]
    );
    let stranger = SigningKey::generate();
    let strangers = signed(&stranger, &claims);
    let renamed = strangers.replacen(&stranger.kid, &signing.kid, 1);
    for (why, token) in [
        ("ahead of its family", signed(&signing, &ahead)),
        ("expired", signed(&signing, &expired)),
        (
            "living longer than Keyport issues them",
            signed(&signing, &too_long),
        ),
        ("of another issuer", signed(&signing, &other_issuer)),
        ("not a refresh token", signed(&signing, &other_use)),
        ("changed after signing", tampered),
        ("sealed by another key", strangers),
        ("sealed by another key, named as Keyport's", renamed),
        (
            "an access token",
            tokens["access_token"].as_str().unwrap().to_string(),
        ),
    ] {
        let (status, body) = refresh(&portal, &token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{why}: {body}");
        assert_eq!(body["errorCode"], "BXNIM0407E", "{why}: {body}");
    }
    assert_eq!(count(&portal, REUSED).await, 0, "none of them is a reuse");

    let (status, body) = refresh(&portal, &signed(&signing, &same)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_family_and_is_audited_once() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let r0 = refresh_token(&portal.tokens(&key.secret).await);
    let (status, body) = refresh(&portal, &r0).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let r1 = refresh_token(&body);

    for _ in 0..3 {
        let (status, body) = refresh(&portal, &r0).await;
        iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0407E");
    }
    let (status, body) = refresh(&portal, &r1).await;
    iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0407E");
    assert_eq!(
        count(&portal, REUSED).await,
        1,
        "one revocation, audited once"
    );
}

#[tokio::test]
async fn a_refresh_token_is_refused_once_its_key_or_user_no_longer_works() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;

    // Expired key.
    let key = portal.personal_key(&member).await;
    let token = refresh_token(&portal.tokens(&key.secret).await);
    portal
        .set_time(
            "update api_keys set expires_at = $1 where id = $2",
            -1,
            &key.key.id,
        )
        .await;
    let (status, body) = refresh(&portal, &token).await;
    iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0415E");

    // Disabled user.
    let key = portal.personal_key(&member).await;
    let token = refresh_token(&portal.tokens(&key.secret).await);
    sqlx::query("update users set disabled = 1 where id = $1")
        .bind(&member.id)
        .execute(portal.db.pool())
        .await
        .unwrap();
    let (status, body) = refresh(&portal, &token).await;
    iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0415E");
    sqlx::query("update users set disabled = 0 where id = $1")
        .bind(&member.id)
        .execute(portal.db.pool())
        .await
        .unwrap();
    let (status, body) = refresh(&portal, &token).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "refused for its user, not used up: {body}"
    );

    // Deleted key: its families go with it.
    let token = refresh_token(&portal.tokens(&key.secret).await);
    let (status, body) = refresh(&portal, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let next = refresh_token(&body);
    portal
        .change_key(&member, &key.key.id, Change::Delete)
        .await;
    let (status, body) = refresh(&portal, &next).await;
    iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0407E");
    let left: i64 =
        sqlx::query_scalar("select count(*) from refresh_families where api_key_id = $1")
            .bind(&key.key.id)
            .fetch_one(portal.db.pool())
            .await
            .unwrap();
    assert_eq!(left, 0);
    assert_eq!(count(&portal, REUSED).await, 0, "no false reuse");
}

#[tokio::test]
async fn a_refresh_token_from_before_a_signing_key_rotation_still_refreshes() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let token = refresh_token(&portal.tokens(&key.secret).await);
    let old_kid = refresh_kid(&token).to_string();

    let new_kid = keyport::ops::tokens::rotate_signing_key(&portal.ops)
        .await
        .unwrap();
    let (status, body) = refresh(&portal, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let successor = refresh_token(&body);
    assert_eq!(refresh_kid(&successor), new_kid);
    assert_ne!(refresh_kid(&successor), old_kid);
    let (status, body) = refresh(&portal, &successor).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
