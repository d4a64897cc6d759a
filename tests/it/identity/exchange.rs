//! `POST /identity/token`: the grants IAM clients send, IAM's answers and errors, single-use
//! refresh tokens, and the throttle.

use keyport::{db, ops::api_keys::Change};
use reqwest::{StatusCode, header};
use serde_json::Value;

use super::{APIKEY_GRANT, BAD_KEY_MESSAGE, Portal, answer, iam_error, jwt_part};

/// The burst of exchanges one key may make (`by_key` in src/api/identity.rs): 60, then 10 a second.
const KEY_BURST: usize = 60;

#[tokio::test]
async fn an_api_key_is_exchanged_for_a_signed_token_in_iams_shape() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;

    // As IBM's SDKs send it: the full grant name, response_type, and (older SDKs) Basic bx:bx.
    let response = portal
        .http
        .post(format!("{}/identity/token", portal.url))
        .header(header::AUTHORIZATION, "Basic Yng6Yng=")
        .header(header::ACCEPT, "application/json")
        .form(&[
            ("grant_type", APIKEY_GRANT),
            ("apikey", key.secret.as_str()),
            ("response_type", "cloud_iam"),
        ])
        .send()
        .await
        .unwrap();
    let (status, tokens) = answer(response).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(tokens["scope"].as_str().is_some_and(|s| !s.is_empty()));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(refresh.len() >= 32, "a refresh token: {refresh}");
    let access = tokens["access_token"].as_str().unwrap();

    let head = jwt_part(access, 0);
    assert_eq!(head["alg"], "EdDSA");
    let kid = head["kid"].as_str().expect("a kid in the header");
    assert!(portal.published_kids().await.iter().any(|k| k == kid));
    let claims = jwt_part(access, 1);
    assert_eq!(claims["sub"], format!("user:{}", member.id));
    assert_eq!(claims["iss"], portal.public_url);
    assert_eq!(claims["key"], key.key.id);
    assert_eq!(claims["name"], member.email);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
    assert_eq!(tokens["expiration"], exp);
    assert!((iat - db::now()).abs() <= 5, "issued now");
    assert_eq!(
        portal.project_slugs(access).await,
        Ok(vec!["team".to_string()])
    );

    // The short grant name works too.
    let response = portal
        .exchange(&[("grant_type", "apikey"), ("apikey", key.secret.as_str())])
        .await;
    let (status, tokens) = answer(response).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        portal.project_slugs(access).await,
        Ok(vec!["team".to_string()])
    );
}

/// Exchanging `key` is refused as IAM refuses a key that does not work.
async fn assert_key_refused(portal: &Portal, key: &str, why: &str) {
    let (status, body) = answer(
        portal
            .exchange(&[("grant_type", APIKEY_GRANT), ("apikey", key)])
            .await,
    )
    .await;
    let message = iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0415E");
    assert_eq!(message, BAD_KEY_MESSAGE, "{why}");
}

#[tokio::test]
async fn keys_that_do_not_work_are_refused_with_iams_error() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    let project = portal.project("team", &[&member]).await;

    assert_key_refused(
        &portal,
        "kp_NotAKeyAnybodyMadeXXXXXXXXXXXXXXXXXXXXX",
        "unknown",
    )
    .await;

    let disabled = portal.personal_key(&member).await;
    portal.tokens(&disabled.secret).await;
    portal
        .change_key(&member, &disabled.key.id, Change::Disable)
        .await;
    assert_key_refused(&portal, &disabled.secret, "disabled key").await;

    let expired = portal.personal_key(&member).await;
    portal.tokens(&expired.secret).await;
    portal
        .set_time(
            "update api_keys set expires_at = $1 where id = $2",
            -10,
            &expired.key.id,
        )
        .await;
    assert_key_refused(&portal, &expired.secret, "expired key").await;

    let of_disabled_user = portal.personal_key(&member).await;
    portal.tokens(&of_disabled_user.secret).await;
    db::users::set_disabled(&portal.db, &member.id, true)
        .await
        .unwrap();
    assert_key_refused(&portal, &of_disabled_user.secret, "disabled user").await;

    let (app_id, app_key) = portal.app_key(&project, "deployer").await;
    portal.tokens(&app_key.secret).await;
    assert!(
        db::apps::delete(&portal.db, &project.id, &app_id)
            .await
            .unwrap()
    );
    assert_key_refused(&portal, &app_key.secret, "deleted app").await;
}

#[tokio::test]
async fn malformed_requests_are_refused_with_400() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    let key = portal.personal_key(&member).await;
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("grant_type", "password"), ("apikey", &key.secret)],
            "BXNIM0109E",
        ),
        (&[("grant_type", "client_credentials")], "BXNIM0109E"),
        (&[("apikey", &key.secret)], "BXNIM0109E"),
        (&[("grant_type", APIKEY_GRANT)], "BXNIM0106E"),
        (
            &[("grant_type", APIKEY_GRANT), ("apikey", "  ")],
            "BXNIM0106E",
        ),
        (&[("grant_type", "refresh_token")], "BXNIM0106E"),
    ];
    for (form, code) in cases {
        let (status, body) = answer(portal.exchange(form).await).await;
        iam_error(status, &body, StatusCode::BAD_REQUEST, code);
    }
    // None of them used the key up: it still works.
    portal.tokens(&key.secret).await;
}

/// What the form extractor, the method router and the body limit refuse is answered in IAM's
/// shape too, with its own status: IAM clients read `errorCode` and `errorMessage` of every 4xx.
#[tokio::test]
async fn malformed_requests_to_the_token_endpoint_answer_in_iams_shape() {
    let portal = Portal::start().await;
    let url = format!("{}/identity/token", portal.url);
    let form = "application/x-www-form-urlencoded";
    let cases = [
        (
            "a JSON body",
            portal
                .http
                .post(&url)
                .json(&serde_json::json!({"grant_type": "apikey", "apikey": "x"})),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "a field twice",
            portal
                .http
                .post(&url)
                .header(header::CONTENT_TYPE, form)
                .body("grant_type=apikey&apikey=a&apikey=b"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("GET", portal.http.get(&url), StatusCode::METHOD_NOT_ALLOWED),
        (
            "a body past the limit",
            portal
                .http
                .post(&url)
                .header(header::CONTENT_TYPE, form)
                .body(format!("grant_type=apikey&apikey={}", "k".repeat(70_000))),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (what, request, expected) in cases {
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{what}: a JSON body ({e})"));
        assert_eq!(status, expected, "{what}: {body}");
        assert!(
            body["errorCode"]
                .as_str()
                .is_some_and(|c| c.starts_with("BXNIM"))
                && body["errorMessage"].as_str().is_some_and(|m| !m.is_empty())
                && body["context"].is_object(),
            "{what}: {body}"
        );
    }
}

/// Exchanges `refresh`; the status and answer.
async fn refresh(portal: &Portal, refresh: &str) -> (StatusCode, Value) {
    answer(
        portal
            .exchange(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await,
    )
    .await
}

#[tokio::test]
async fn a_refresh_token_works_once_and_presenting_it_again_revokes_its_family() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let first = portal.tokens(&key.secret).await;
    let other_family = portal.tokens(&key.secret).await;

    let r0 = first["refresh_token"].as_str().unwrap();
    let (status, second) = refresh(&portal, r0).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let access = second["access_token"].as_str().unwrap();
    assert_eq!(jwt_part(access, 1)["key"], key.key.id);
    assert_eq!(
        portal.project_slugs(access).await,
        Ok(vec!["team".to_string()])
    );
    let r1 = second["refresh_token"].as_str().unwrap();
    assert_ne!(r1, r0);

    // r0 again: refused, and r1 (issued by r0's use, never used) is revoked with it.
    let (status, body) = refresh(&portal, r0).await;
    iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0407E");
    let (status, body) = refresh(&portal, r1).await;
    iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0407E");
    let reused: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'token.refresh_reused'",
    )
    .fetch_one(portal.db.pool())
    .await
    .unwrap();
    assert!(reused >= 1, "the reuse is in the audit log");

    // Another family of the same key is untouched; a token nobody issued is refused.
    let (status, body) = refresh(&portal, other_family["refresh_token"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = refresh(&portal, "not-a-refresh-token").await;
    iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0407E");

    // A refresh token of a key disabled since does not work either.
    let latest = fresh_refresh_token(&portal, &key.secret).await;
    portal
        .change_key(&member, &key.key.id, Change::Disable)
        .await;
    let (status, body) = refresh(&portal, &latest).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    // Refused for its key, it was not used up: with the key enabled again it works, and no
    // reuse is recorded.
    portal
        .change_key(&member, &key.key.id, Change::Enable)
        .await;
    let (status, body) = refresh(&portal, &latest).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reused_after: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'token.refresh_reused'",
    )
    .fetch_one(portal.db.pool())
    .await
    .unwrap();
    assert_eq!(reused_after, reused, "no false reuse");
}

/// Two presentations of one refresh token at once: one gets a successor, the other is taken for
/// the copy and revokes the family, and the successor is revoked with it, whichever ran first.
/// Repeated, so that the loser's revocation meets the winner between using its token and
/// recording the successor (where a successor written after the revocation would live on).
#[tokio::test]
async fn a_raced_refresh_leaves_no_token_of_the_family_alive() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    portal.project("team", &[&member]).await;
    let key = portal.personal_key(&member).await;
    let mut both_answered = 0;
    for trial in 0..20 {
        let r0 = fresh_refresh_token(&portal, &key.secret).await;
        let (a, b) = futures::future::join(refresh(&portal, &r0), refresh(&portal, &r0)).await;
        let winners: Vec<&Value> = [&a, &b]
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .map(|(_, body)| body)
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "trial {trial}: one of two wins: {a:?} {b:?}"
        );
        both_answered += 1;
        let r1 = winners[0]["refresh_token"].as_str().unwrap();
        let (status, body) = refresh(&portal, r1).await;
        iam_error(status, &body, StatusCode::UNAUTHORIZED, "BXNIM0407E");
    }
    assert_eq!(both_answered, 20, "every trial raced two presentations");
    let reused: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where action = 'token.refresh_reused'",
    )
    .fetch_one(portal.db.pool())
    .await
    .unwrap();
    assert!(reused >= 20, "each race is a reuse, audited: {reused}");
}

/// A fresh refresh token of `key`.
async fn fresh_refresh_token(portal: &Portal, key: &str) -> String {
    portal.tokens(key).await["refresh_token"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn exchanges_past_a_keys_burst_are_throttled_and_other_keys_still_work() {
    let portal = Portal::start().await;
    let member = portal.insert_user("mia@example.org", false).await;
    let busy = portal.personal_key(&member).await;
    let quiet = portal.personal_key(&member).await;

    // All at once, so that the quota refills little while they are answered.
    let attempts = KEY_BURST * 3;
    let form = [
        ("grant_type", APIKEY_GRANT),
        ("apikey", busy.secret.as_str()),
    ];
    let answers = futures::future::join_all((0..attempts).map(|_| portal.exchange(&form))).await;
    let mut exchanged = 0;
    let mut throttled = Vec::new();
    for response in answers {
        match response.status() {
            StatusCode::OK => exchanged += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled.push(response),
            other => panic!("{other}: {}", response.text().await.unwrap()),
        }
    }
    assert!(exchanged >= KEY_BURST, "the burst is allowed: {exchanged}");
    assert!(!throttled.is_empty(), "{exchanged} of {attempts} exchanged");
    let response = throttled.pop().unwrap();
    let wait: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=60).contains(&wait), "Retry-After: {wait}");
    let (status, body) = answer(response).await;
    iam_error(status, &body, StatusCode::TOO_MANY_REQUESTS, "BXNIM0429E");

    // Another key from the same address is not held back by the busy one.
    portal.tokens(&quiet.secret).await;
}
