//! Several portal processes on one database, as a team that scales out runs them: what one
//! process leaves unfinished when it is killed is finished by exactly one other, and a session
//! ended or an API key disabled on one process is refused by the others at once.

use reqwest::StatusCode;

use crate::{
    backends::Moto,
    driven::{KilledRegeneration, add_then_kill_a_regeneration, arrange_iam, iam_access_keys},
    helpers::{TestDb, Visitor},
    process::{Server, wait_for_any_log},
};

#[tokio::test]
async fn a_regeneration_killed_on_one_process_is_finished_by_exactly_one_other() {
    let (moto, admin_key) = Moto::start().await;
    let db = TestDb::new().await;
    // The first process stops after the new key is recorded, before IAM deletes the old one.
    let first = Server::start(&db, &[("KEYPORT_FAILPOINT", "after-record")]).await;
    let (admin, page) = arrange_iam(&first, &moto, &admin_key).await;
    let others = [Server::start(&db, &[]).await, Server::start(&db, &[]).await];
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let KilledRegeneration {
        id,
        old_key,
        new_key,
        backend_user: user,
    } = add_then_kill_a_regeneration(first, &keyport, &admin, &page, "shared").await;

    // Once the killed process has been silent long enough, one of the others finishes it.
    let finisher = wait_for_any_log(&others, "reconciled an interrupted operation").await;
    let at_backend = iam_access_keys(&moto, &admin_key, &user);
    assert!(
        !at_backend.contains(&old_key),
        "IAM no longer holds the old key"
    );
    assert!(at_backend.contains(&new_key), "IAM holds the new key");
    let state: String = sqlx::query_scalar("select state from credentials where id = $1")
        .bind(&id)
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(state, "active");
    // Both survivors run further rounds (each heartbeat begins a round, so a heartbeat two
    // seconds on means a whole round has run since); the operation was finished once.
    let since = keyport::db::now() + 2;
    let started = std::time::Instant::now();
    loop {
        let fresh: i64 =
            sqlx::query_scalar("select count(*) from instances where heartbeat_at >= $1")
                .bind(since)
                .fetch_one(keyport.pool())
                .await
                .unwrap();
        if fresh >= 2 {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "both survivors go on"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let finished: Vec<(String, String)> = sqlx::query_as(
        "select actor, detail from audit_events where action = 'credential.reconcile' order by id",
    )
    .fetch_all(keyport.pool())
    .await
    .unwrap();
    assert_eq!(
        finished,
        vec![(
            "keyport (reconcile)".to_string(),
            format!("finished: {old_key} revoked")
        )],
        "finished exactly once"
    );
    assert!(
        !others[1 - finisher]
            .log_text()
            .contains("reconciled an interrupted operation"),
        "the other process left it alone"
    );
    keyport.close().await;
}

/// A single portal killed in the middle of Regenerate and started again finishes the operation
/// before it serves: its first page shows the credential done, although the killed process's
/// heartbeat is not yet old enough for the timeout (an hour here) to say it stopped. The lock
/// the killed process held on its file beside the database told the new one at once.
#[tokio::test]
async fn a_portal_killed_mid_regeneration_and_restarted_shows_it_finished_on_its_first_page() {
    let (moto, admin_key) = Moto::start().await;
    let db = TestDb::new().await;
    let long_timeout = ("KEYPORT_PROCESS_TIMEOUT_SECONDS", "3600");
    let first = Server::start(&db, &[("KEYPORT_FAILPOINT", "after-record"), long_timeout]).await;
    let (admin, page) = arrange_iam(&first, &moto, &admin_key).await;
    let keyport = keyport::db::Db::connect(&db.url).await.unwrap();
    let killed = add_then_kill_a_regeneration(first, &keyport, &admin, &page, "rotated").await;
    let (id, old_key, user) = (killed.id, killed.old_key, killed.backend_user);

    let second = Server::start(&db, &[long_timeout]).await;
    let cookie = admin.session_cookie().expect("a signed-in session");
    let on_second = Visitor::new(&second.base);
    on_second.jar.add_cookie_str(
        &format!("keyport_session={cookie}"),
        &second.base.parse().unwrap(),
    );
    let (status, first_page) = on_second.get_text(&page).await;
    assert_eq!(status, StatusCode::OK, "{first_page}");
    assert!(first_page.contains("rotated"), "the credential is listed");
    assert!(
        !first_page.contains("not finished"),
        "the first page shows the regeneration finished: {first_page}"
    );
    let state: String = sqlx::query_scalar("select state from credentials where id = $1")
        .bind(&id)
        .fetch_one(keyport.pool())
        .await
        .unwrap();
    assert_eq!(state, "active");
    assert!(
        !iam_access_keys(&moto, &admin_key, &user).contains(&old_key),
        "IAM no longer holds the old key"
    );
    keyport.close().await;
}

#[tokio::test]
async fn a_session_ended_on_one_process_is_refused_by_the_other_at_once() {
    let db = TestDb::new().await;
    let one = Server::start(&db, &[]).await;
    let other = Server::start(&db, &[]).await;
    let on_one = one.visitor();
    crate::helpers::complete_setup(&on_one).await;
    let cookie = on_one.session_cookie().expect("a signed-in session");
    let on_other = Visitor::new(&other.base);
    on_other.jar.add_cookie_str(
        &format!("keyport_session={cookie}"),
        &other.base.parse().unwrap(),
    );
    let (status, _) = on_other.get_text("/projects").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the session is good on both processes"
    );

    let response = on_one.submit("/projects", "/logout", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed out");
    let response = on_other.get("/projects").await;
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "the other process sends the ended session to sign in"
    );
    assert_eq!(crate::helpers::location(&response), "/login");
}

#[tokio::test]
async fn a_change_made_on_one_process_shows_on_the_others_next_page() {
    let db = TestDb::new().await;
    let one = Server::start(&db, &[]).await;
    let other = Server::start(&db, &[]).await;
    let on_one = one.visitor();
    crate::helpers::complete_setup(&on_one).await;
    crate::helpers::create_project(&on_one, "team", crate::helpers::ADMIN_EMAIL).await;
    let on_other = other.visitor();
    crate::helpers::sign_in_as_admin(&on_other).await;
    let page = "/projects/team/credentials";
    let (status, html) = on_other.get_text(page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("Archive"), "no service yet");

    // Kept in memory on the other process, and still replaced by the next page there.
    let service = crate::helpers::add_service(&on_one, "s3", "Archive", "").await;
    let html = on_other.get_text(page).await.1;
    assert!(
        html.contains("Archive"),
        "the other process lists the new service"
    );
    crate::helpers::add_endpoint(
        &on_other,
        &service,
        ["Lab", "lab-1", "public", "https://archive.example.org"],
    )
    .await;
    let id = service.rsplit('/').next().unwrap();
    let html = on_one.get_text(&format!("{page}?service={id}")).await.1;
    assert!(
        html.contains("https://archive.example.org"),
        "the first process shows the endpoint added on the other"
    );
}

/// The id and secret of a personal API key `who` creates on the API access page.
async fn create_api_key(who: &Visitor) -> (String, String) {
    let page = "/account/api-access";
    let fields = [("name", "ci"), ("description", ""), ("expires", "")];
    let response = who.submit(page, "/account/api-access/keys", &fields).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let html = response.text().await.unwrap();
    let secret = crate::helpers::raw_text(&html, "textarea#new-api-key").expect("the key");
    let id = crate::helpers::attrs(&html, "table.api-keys tr[id^=key-]", "id")[0]["key-".len()..]
        .to_string();
    (id, secret)
}

/// What `base` answers to a token exchange (`form`), and to `/api/v1/projects` with `token`.
async fn exchange(base: &str, form: &[(&str, &str)]) -> (StatusCode, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{base}/identity/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn projects(base: &str, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{base}/api/v1/projects/team/services"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn an_api_key_disabled_on_one_process_is_refused_by_the_other_at_once() {
    let db = TestDb::new().await;
    // Behind one address, as a team's processes are: their tokens name the same issuer.
    let address = [("KEYPORT_PUBLIC_URL", "http://keyport.example.org")];
    let one = Server::start(&db, &address).await;
    let other = Server::start(&db, &address).await;
    let on_one = one.visitor();
    crate::helpers::complete_setup(&on_one).await;
    crate::helpers::create_project(&on_one, "team", crate::helpers::ADMIN_EMAIL).await;
    let (id, key) = create_api_key(&on_one).await;
    let grant = "urn:ibm:params:oauth:grant-type:apikey";

    let (status, tokens) = exchange(&other.base, &[("grant_type", grant), ("apikey", &key)]).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap().to_string();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(projects(&other.base, &access).await, StatusCode::OK);

    let keys = "/account/api-access/keys";
    let response = on_one
        .submit("/account/api-access", &format!("{keys}/{id}/disable"), &[])
        .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(
        projects(&other.base, &access).await,
        StatusCode::UNAUTHORIZED,
        "the other process refuses the key's access token"
    );
    let refreshed = [("grant_type", "refresh_token"), ("refresh_token", &refresh)];
    let (status, body) = exchange(&other.base, &refreshed).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "and its refresh token: {body}"
    );
    let (status, body) = exchange(&other.base, &[("grant_type", grant), ("apikey", &key)]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "and the key: {body}");

    // Enabled again on the other process: the token from before stays refused on the first,
    // the refresh token (refused, not used up) works there once, and the key again.
    let on_other = other.visitor();
    crate::helpers::sign_in_as_admin(&on_other).await;
    let response = on_other
        .submit("/account/api-access", &format!("{keys}/{id}/enable"), &[])
        .await;
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(projects(&one.base, &access).await, StatusCode::UNAUTHORIZED);
    let (status, body) = exchange(&one.base, &refreshed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = exchange(&other.base, &refreshed).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "used once, on the first process: {body}"
    );
    let (status, body) = exchange(&one.base, &[("grant_type", grant), ("apikey", &key)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
