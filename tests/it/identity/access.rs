//! What an access token is refused for at `/api/v1`: a key disabled, a member disabled or
//! removed, an app deleted, all from the next request on; and tokens Keyport did not issue as they
//! are (changed, unsigned, signed by another key or algorithm, expired, issued in the future).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use keyport::{
    crypto::jwt::SigningKey,
    db,
    ops::{self, api_keys::Change},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use super::{Portal, jwt_part};

#[tokio::test]
async fn an_access_token_stops_working_once_its_key_is_disabled() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let token = portal.access_token(&key.secret).await;
    assert!(portal.project_slugs(&token).await.is_ok());

    portal
        .change_key(&member, &key.key.id, Change::Disable)
        .await;
    assert_eq!(
        portal.project_slugs(&token).await,
        Err(StatusCode::UNAUTHORIZED)
    );

    // Enabled again, the key works, but a token issued before it was disabled stays refused:
    // it carries the key's generation of then.
    portal
        .change_key(&member, &key.key.id, Change::Enable)
        .await;
    assert_eq!(
        portal.project_slugs(&token).await,
        Err(StatusCode::UNAUTHORIZED),
        "a token from before the disable"
    );
    let token = portal.access_token(&key.secret).await;
    assert!(portal.project_slugs(&token).await.is_ok());
    portal
        .set_time(
            "update api_keys set expires_at = $1 where id = $2",
            -10,
            &key.key.id,
        )
        .await;
    assert_eq!(
        portal.project_slugs(&token).await,
        Err(StatusCode::UNAUTHORIZED),
        "the key expired"
    );
}

#[tokio::test]
async fn an_access_token_stops_working_once_its_member_is_disabled() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let token = portal
        .access_token(&portal.personal_key(&member).await.secret)
        .await;
    assert!(portal.project_slugs(&token).await.is_ok());

    db::users::set_disabled(&portal.db, &member.id, true)
        .await
        .unwrap();
    assert_eq!(
        portal.project_slugs(&token).await,
        Err(StatusCode::UNAUTHORIZED)
    );
    // Enabled again, the member's tokens from before stay refused.
    db::users::set_disabled(&portal.db, &member.id, false)
        .await
        .unwrap();
    assert_eq!(
        portal.project_slugs(&token).await,
        Err(StatusCode::UNAUTHORIZED),
        "a token from before the user was disabled"
    );
}

#[tokio::test]
async fn a_member_removed_from_a_project_no_longer_sees_it() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    let team = portal.project("team", &[&member]).await;
    portal.project("other", &[&member]).await;
    let token = portal
        .access_token(&portal.personal_key(&member).await.secret)
        .await;
    assert_eq!(
        portal.api("/projects/team/services", &token).await.status(),
        StatusCode::OK
    );

    ops::members::remove(&portal.ops, &portal.owner_of(&team).await, &member.id)
        .await
        .unwrap();
    assert_eq!(
        portal.api("/projects/team/services", &token).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        portal.project_slugs(&token).await,
        Ok(vec!["other".to_string()])
    );
    assert_eq!(
        portal
            .api("/projects/other/services", &token)
            .await
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_apps_token_reaches_its_project_only_and_stops_when_the_app_is_deleted() {
    let portal = Portal::start().await;
    let team = portal.project("team", &[]).await;
    portal.project("other", &[]).await;
    let (app_id, key) = portal.app_key(&team, "deployer").await;
    let token = portal.access_token(&key.secret).await;
    let claims = jwt_part(&token, 1);
    assert_eq!(claims["sub"], format!("app:{app_id}"));
    assert_eq!(claims["name"], "team/deployer");
    assert_eq!(
        portal.project_slugs(&token).await,
        Ok(vec!["team".to_string()])
    );
    assert_eq!(
        portal.api("/projects/team/services", &token).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        portal
            .api("/projects/other/services", &token)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    assert!(
        db::apps::delete(&portal.db, &team.id, &app_id)
            .await
            .unwrap()
    );
    assert_eq!(
        portal.project_slugs(&token).await,
        Err(StatusCode::UNAUTHORIZED)
    );
}

fn encode(part: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(part).unwrap())
}

/// `header.claims.` signed with HMAC-SHA256 under `secret`.
fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let input = format!("{}.{}", encode(header), encode(claims));
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
    let tag = ring::hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

#[tokio::test]
async fn tokens_keyport_did_not_issue_as_they_are_are_refused() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    let other = portal.insert_user("otto@example.org", false).await;
    portal.project("team", &[&member]).await;
    let token = portal
        .access_token(&portal.personal_key(&member).await.secret)
        .await;
    let other_key = portal.personal_key(&other).await;
    let header = jwt_part(&token, 0);
    let claims = jwt_part(&token, 1);
    let signature = token.rsplit('.').next().unwrap();
    let signer = portal.signing_key().await;
    assert_eq!(header["kid"], signer.kid);

    // The control: claims signed by the portal's key are accepted, so each refusal below is for
    // what was changed, not for how the token was made.
    let resigned = signer.sign(&claims);
    assert_eq!(
        portal.project_slugs(&resigned).await,
        Ok(vec!["team".to_string()])
    );

    let mut forged: Vec<(&str, String)> = Vec::new();
    let mut as_other = claims.clone();
    as_other["sub"] = json!(format!("user:{}", other.id));
    as_other["key"] = json!(other_key.key.id);
    forged.push((
        "payload changed",
        format!("{}.{}.{signature}", encode(&header), encode(&as_other)),
    ));
    let mut later = claims.clone();
    later["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    forged.push((
        "expiry extended",
        format!("{}.{}.{signature}", encode(&header), encode(&later)),
    ));
    let none = json!({"alg": "none", "typ": "JWT", "kid": signer.kid});
    forged.push((
        "alg none",
        format!("{}.{}.", encode(&none), encode(&claims)),
    ));
    forged.push((
        "alg none, signature kept",
        format!("{}.{}.{signature}", encode(&none), encode(&claims)),
    ));
    let hs = json!({"alg": "HS256", "typ": "JWT", "kid": signer.kid});
    forged.push((
        "HS256 with the public key (base64url) as secret",
        hs256(&hs, &claims, signer.public_key.as_bytes()),
    ));
    forged.push((
        "HS256 with the public key (bytes) as secret",
        hs256(
            &hs,
            &claims,
            &URL_SAFE_NO_PAD.decode(&signer.public_key).unwrap(),
        ),
    ));
    let foreign = SigningKey::generate();
    forged.push(("a foreign key with its own kid", foreign.sign(&claims)));
    let impostor =
        SigningKey::from_pkcs8(signer.kid.clone(), Zeroizing::new(foreign.pkcs8().to_vec()))
            .unwrap();
    forged.push((
        "a foreign key with the portal's kid",
        impostor.sign(&claims),
    ));
    let now = db::now();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 3700);
    expired["exp"] = json!(now - 100);
    forged.push(("expired", signer.sign(&expired)));
    let mut just_expired = claims.clone();
    just_expired["exp"] = json!(now - 1);
    forged.push(("expired a second ago", signer.sign(&just_expired)));
    let mut future = claims.clone();
    future["iat"] = json!(now + 3600);
    future["exp"] = json!(now + 7200);
    forged.push(("issued an hour from now", signer.sign(&future)));
    let mut no_expiry = claims.clone();
    no_expiry.as_object_mut().unwrap().remove("exp");
    forged.push(("no exp", signer.sign(&no_expiry)));
    let mut other_subject = claims.clone();
    other_subject["sub"] = json!(format!("user:{}", other.id));
    forged.push((
        "a subject that is not the key's holder",
        signer.sign(&other_subject),
    ));
    let mut other_issuer = claims.clone();
    other_issuer["iss"] = json!("https://keyport.elsewhere.example");
    forged.push((
        "signed by Keyport's key for another issuer",
        signer.sign(&other_issuer),
    ));
    let mut long_lived = claims.clone();
    long_lived["exp"] = json!(claims["iat"].as_i64().unwrap() + 3601);
    forged.push((
        "living longer than Keyport issues",
        signer.sign(&long_lived),
    ));
    forged.push(("not a JWT", "kp_notajwt".to_string()));
    forged.push(("the refresh token", "a".repeat(43)));

    for (what, forged) in &forged {
        assert_eq!(
            portal.project_slugs(forged).await,
            Err(StatusCode::UNAUTHORIZED),
            "{what}"
        );
    }
    let response = portal
        .http
        .get(format!("{}/api/v1/projects", portal.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "no token");
    assert_eq!(
        response.headers()[reqwest::header::WWW_AUTHENTICATE],
        "Bearer realm=\"keyport\"",
        "a 401 names the scheme (RFC 6750)"
    );
    assert_eq!(
        portal.project_slugs(&token).await,
        Ok(vec!["team".to_string()])
    );
}
