//! A service's rotation policy: set by admins and owners on the service's form (checked, and
//! kept as typed when refused), and told per key on View Credentials ("rotate in 5 days",
//! "overdue by 12 days") beside the key's own expiry ("expires in 3 days").

use reqwest::{Response, StatusCode};

use crate::{
    credentials::{Team, credential_ids, team},
    helpers::{TestApp, Visitor, input_value, text, texts},
};

pub const DAY: i64 = 86_400;

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// `who` saves the service's form with the policy `max` days, warning `warn` days before.
pub async fn set_policy(who: &Visitor, team: &Team, max: &str, warn: &str) -> Response {
    let path = format!("/projects/team/services/{}", team.service);
    who.submit(
        &path,
        &path,
        &[
            ("name", "Object storage"),
            ("max_keys_per_owner", "5"),
            ("max_key_age_days", max),
            ("rotation_warning_days", warn),
        ],
    )
    .await
}

/// Runs `sql` on the credential named `name`, with `at` as `$1`; the project's lists are read
/// again at the next page (not every column moves the project's version on).
pub async fn set_key(app: &TestApp, name: &str, sql: &str, at: i64) {
    let id: String = sqlx::query_scalar("select id from credentials where name = $1")
        .bind(name)
        .fetch_one(app.db.pool())
        .await
        .unwrap_or_else(|e| panic!("credential {name}: {e}"));
    sqlx::query(&format!("update credentials set {sql} where id = $2"))
        .bind(at)
        .bind(&id)
        .execute(app.db.pool())
        .await
        .unwrap();
    sqlx::query("update projects set version = version + 1")
        .execute(app.db.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn the_policy_form_refuses_bad_days_keeps_what_was_typed_and_saves_good_ones() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    let service_page = format!("/projects/team/services/{}", team.service);

    let response = set_policy(&team.owner, &team, "0", "soon").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    let errors = texts(&html, "p.field-error");
    assert!(
        errors.iter().any(|e| e.contains("from 1 to 3650")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("from 1 to 365,")),
        "{errors:?}"
    );
    assert_eq!(input_value(&html, "max_key_age_days").as_deref(), Some("0"));
    assert_eq!(
        input_value(&html, "rotation_warning_days").as_deref(),
        Some("soon")
    );

    let response = set_policy(&team.owner, &team, "30", "30").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        texts(&html, "p.field-error")
            .iter()
            .any(|e| e.contains("fewer days than the maximum age")),
        "{html}"
    );
    assert_eq!(
        input_value(&html, "max_key_age_days").as_deref(),
        Some("30")
    );

    let response = set_policy(&team.owner, &team, "30", "7").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = team.owner.get_text(&service_page).await.1;
    assert!(html.contains("keys rotated every 30 days"), "{html}");
    assert!(html.contains("warned 7 days before"));
    assert_eq!(
        input_value(&html, "max_key_age_days").as_deref(),
        Some("30")
    );
    assert_eq!(
        input_value(&html, "rotation_warning_days").as_deref(),
        Some("7")
    );

    // Members and viewers see the policy but cannot change it.
    for who in [&team.member, &team.viewer] {
        let response = set_policy(who, &team, "", "").await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let html = who.get_text(&service_page).await.1;
        assert!(html.contains("keys rotated every 30 days"));
    }

    let response = set_policy(&team.owner, &team, "", "").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = team.owner.get_text(&service_page).await.1;
    assert!(!html.contains("keys rotated every"), "the policy is gone");
}

/// The words in the header of each credential on the page, by name.
fn headers(html: &str) -> Vec<(String, String)> {
    credential_ids(html)
        .into_iter()
        .map(|id| {
            let name = text(html, &format!("#credential-{id} header h4")).unwrap();
            let header = text(html, &format!("#credential-{id} header")).unwrap();
            (name, header)
        })
        .collect()
}

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    &headers.iter().find(|(n, _)| n == name).unwrap().1
}

#[tokio::test]
async fn view_credentials_tells_each_key_when_to_rotate_and_when_it_expires() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    assert_eq!(
        set_policy(&team.owner, &team, "", "").await.status(),
        StatusCode::SEE_OTHER,
        "room for four keys"
    );
    for name in ["fresh", "late", "ending", "ended"] {
        let response = team.add(&team.owner, name, &[]).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{name}");
    }
    let now = now();
    // Ten minutes past the day: 4.99 days left is "in 5 days", 12.01 days past is "by 12".
    set_key(&app, "fresh", "created_at = $1", now - 25 * DAY - 600).await;
    set_key(&app, "late", "rotated_at = $1", now - 42 * DAY - 600).await;
    set_key(&app, "ending", "expires_at = $1", now + 3 * DAY - 600).await;
    set_key(&app, "ended", "expires_at = $1", now - 2 * DAY - 600).await;

    // Without a policy, no rotation is asked for; expiry is told all the same.
    let shown = headers(&team.owner.get_text(&team.page).await.1);
    assert!(
        shown
            .iter()
            .all(|(_, h)| !h.contains("rotate in") && !h.contains("overdue")),
        "{shown:?}"
    );
    assert!(header_of(&shown, "ending").contains("expires in 3 days"));
    assert!(header_of(&shown, "ended").contains("expired 2 days ago"));

    // The policy is seen by the very next page.
    assert_eq!(
        set_policy(&team.owner, &team, "30", "7").await.status(),
        StatusCode::SEE_OTHER
    );
    let shown = headers(&team.owner.get_text(&team.page).await.1);
    assert!(
        header_of(&shown, "fresh").contains("rotate in 5 days"),
        "{shown:?}"
    );
    assert!(
        header_of(&shown, "late").contains("overdue by 12 days"),
        "{shown:?}"
    );
    assert!(header_of(&shown, "ending").contains("rotate in 30 days"));
    assert!(header_of(&shown, "ending").contains("expires in 3 days"));
    assert!(header_of(&shown, "ended").contains("expired 2 days ago"));

    // A wider warning window makes a far expiry "soon"; without it, its date only.
    set_key(&app, "ending", "expires_at = $1", now + 20 * DAY - 600).await;
    let shown = headers(&team.owner.get_text(&team.page).await.1);
    assert!(!header_of(&shown, "ending").contains("expires in"));
    assert_eq!(
        set_policy(&team.owner, &team, "30", "25").await.status(),
        StatusCode::SEE_OTHER
    );
    let shown = headers(&team.owner.get_text(&team.page).await.1);
    assert!(header_of(&shown, "ending").contains("expires in 20 days"));

    // A service without a policy again shows nothing of rotation.
    set_policy(&team.owner, &team, "", "").await;
    let shown = headers(&team.owner.get_text(&team.page).await.1);
    assert!(
        shown.iter().all(|(_, h)| !h.contains("rotate in")),
        "{shown:?}"
    );
}
