//! View Credentials: adding, showing, regenerating and deleting keys, by every role.

use reqwest::StatusCode;

use crate::helpers::{TestApp, Visitor, csrf_token, location, notice};

pub struct Team {
    pub owner: Visitor,
    pub member: Visitor,
    pub viewer: Visitor,
    pub service: String,
    pub page: String,
}

/// A project "team" (owner: the instance admin; a member; a viewer) with one service of `kind`.
pub async fn team(app: &TestApp, kind: &str) -> Team {
    let owner = app.admin().await;
    app.project(&owner, "team", "").await;
    let mut people = Vec::new();
    for role in ["member", "viewer"] {
        let email = format!("{role}@example.org");
        people.push(app.user(&email, role).await);
        owner
            .submit(
                "/projects/team/members",
                "/projects/team/members",
                &[("email", &email), ("role", role)],
            )
            .await;
    }
    let service_path = app.service(&owner, kind, "Object storage", "team").await;
    app.endpoint(
        &owner,
        &service_path,
        ["Si Racha", "th-1", "public", "https://s3.example.org"],
    )
    .await;
    let service = service_path.rsplit('/').next().unwrap().to_string();
    let viewer = people.pop().unwrap();
    let member = people.pop().unwrap();
    Team {
        owner,
        member,
        viewer,
        page: format!("/projects/team/credentials?service={service}"),
        service,
    }
}

impl Team {
    /// `who` adds a credential named `name`; returns the response.
    pub async fn add(
        &self,
        who: &Visitor,
        name: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut fields = vec![("service_id", self.service.as_str()), ("name", name)];
        fields.extend_from_slice(extra);
        who.submit(&self.page, "/projects/team/credentials", &fields)
            .await
    }

    /// The owner creates the app `backup` and gives it a key named `name`.
    /// Returns the app's id and the key's id.
    pub async fn add_app_key(&self, app: &TestApp, name: &str) -> (String, String) {
        self.owner
            .submit(
                "/projects/team/apps",
                "/projects/team/apps",
                &[("name", "backup")],
            )
            .await;
        let app_id: String = sqlx::query_scalar("select id from apps")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        let response = self
            .add(&self.owner, name, &[("owner", &format!("app:{app_id}"))])
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let key_id = sqlx::query_scalar("select id from credentials where owner_app_id = $1")
            .bind(&app_id)
            .fetch_one(app.db.pool())
            .await
            .unwrap();
        (app_id, key_id)
    }
}

/// The ids of the credentials shown on a page, in order.
pub fn credential_ids(html: &str) -> Vec<String> {
    crate::helpers::attrs(html, "article.credential[id^=credential-]", "id")
        .into_iter()
        .map(|id| id["credential-".len()..].to_string())
        .collect()
}

/// The revealed secret of a credential on a page.
pub fn revealed_secret(html: &str, id: &str) -> Option<String> {
    crate::helpers::attrs(html, &format!("input#secret-{id}"), "value").pop()
}

pub async fn reveal(who: &Visitor, team: &Team, id: &str) -> (StatusCode, String) {
    let token = csrf_token(&who.get_text(&team.page).await.1).unwrap();
    let response = who
        .post(
            &format!("/projects/team/credentials/{id}/reveal"),
            &[("csrf_token", &token)],
        )
        .await;
    // Show leads back to the page, which shows the secret once.
    if response.status() == StatusCode::SEE_OTHER {
        return who.get_text(&crate::helpers::location(&response)).await;
    }
    (response.status(), response.text().await.unwrap())
}

async fn audit_actions(app: &TestApp) -> Vec<String> {
    sqlx::query_scalar("select action from audit_events order by id")
        .fetch_all(app.db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_member_adds_a_key_and_sees_its_secret_only_after_show() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    let response = team
        .add(&team.member, "laptop", &[("description", "aws cli")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (status, html) = team.member.get_text(&team.page).await;
    assert_eq!(status, StatusCode::OK);
    let ids = credential_ids(&html);
    assert_eq!(ids.len(), 1);
    let my_keys = html.find("My keys").unwrap();
    let app_keys = html.find("App keys").unwrap();
    let card = html.find(&format!("credential-{}", ids[0])).unwrap();
    assert!(my_keys < card && card < app_keys, "listed under My keys");
    assert!(
        html.contains("https://s3.example.org"),
        "the service's endpoint is shown"
    );
    assert!(
        !html.contains(&format!("id=\"secret-{}", ids[0])),
        "masked: the secret is not in the page"
    );

    let before = audit_actions(&app).await.len();
    let (status, html) = reveal(&team.member, &team, &ids[0]).await;
    assert_eq!(status, StatusCode::OK);
    let secret = revealed_secret(&html, &ids[0]).expect("Show reveals the secret");
    assert_eq!(secret.len(), 40);
    assert_eq!(
        audit_actions(&app).await[before..],
        ["credential.reveal".to_string()]
    );

    for person in [&team.member, &team.owner, &team.viewer] {
        let html = person.get_text(&team.page).await.1;
        assert!(!html.contains(&secret), "a later GET shows no secret");
    }
    let access_key = crate::helpers::attrs(
        &html,
        &format!("#credential-{} p.key label > input", ids[0]),
        "value",
    )[0]
    .clone();
    assert!(
        access_key.starts_with("KP")
            && access_key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    );
}

#[tokio::test]
async fn at_most_the_limit_of_keys_per_owner() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    for name in ["one", "two"] {
        assert_eq!(
            team.add(&team.member, name, &[]).await.status(),
            StatusCode::SEE_OTHER
        );
    }
    let response = team
        .add(&team.member, "three", &[("description", "kept")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(
        html.contains(
            "a maximum of two credentials at once, so you can rotate without interruption"
        )
    );
    assert!(
        html.contains("value=\"three\"") && html.contains("value=\"kept\""),
        "the input is kept"
    );
    // The refusal is summed up at the top, where the reloaded page is read, and the form is open.
    let summary = crate::helpers::text(&html, "#problems[role=alert]").expect("a summary");
    assert!(
        summary.contains("a maximum of two credentials"),
        "{summary}"
    );
    assert!(html.find("id=\"problems\"") < html.find("<h3>My keys</h3>"));
    assert_eq!(
        crate::helpers::attrs(&html, "details#add[open]", "id"),
        ["add"]
    );
    // At the limit, the page says why instead of offering a form that cannot succeed.
    let html = team.member.get_text(&team.page).await.1;
    assert_eq!(credential_ids(&html).len(), 2);
    assert!(
        html.contains("You hold 2 of the 2 keys an owner may hold for this service")
            && html.contains("Regenerate one of yours")
    );
    assert!(
        crate::helpers::attrs(
            &html,
            "form[method=post][action='/projects/team/credentials']",
            "action"
        )
        .is_empty(),
        "no Add form at the limit"
    );
    // The limit is per owner: the owner still adds their own.
    assert_eq!(
        team.add(&team.owner, "mine", &[]).await.status(),
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn each_role_acts_only_on_the_keys_it_may() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "member key", &[]).await;
    let member_key: String = sqlx::query_scalar("select id from credentials")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let (app_id, app_key) = team.add_app_key(&app, "app key").await;

    // The viewer sees metadata only, holds no keys, and acts on nothing.
    let html = team.viewer.get_text(&team.page).await.1;
    assert!(
        html.contains("app key") && !html.contains("member key"),
        "app keys are listed; other members' keys are not"
    );
    assert!(!html.contains("/reveal") && !html.contains("Add credential"));
    assert_eq!(
        team.add(&team.viewer, "mine", &[]).await.status(),
        StatusCode::FORBIDDEN
    );
    let token = csrf_token(&html).unwrap();
    for id in [&app_key, &member_key] {
        for action in ["reveal", "regenerate", "delete"] {
            let response = team
                .viewer
                .post(
                    &format!("/projects/team/credentials/{id}/{action}"),
                    &[("csrf_token", &token), ("confirm", "yes")],
                )
                .await;
            assert!(
                matches!(
                    response.status(),
                    StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
                ),
                "viewer {action}"
            );
        }
    }
    // The member manages their own key, not the app's.
    let html = team.member.get_text(&team.page).await.1;
    let token = csrf_token(&html).unwrap();
    for action in ["reveal", "regenerate", "delete"] {
        let response = team
            .member
            .post(
                &format!("/projects/team/credentials/{app_key}/{action}"),
                &[("csrf_token", &token), ("confirm", "yes")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::FORBIDDEN,
            "member {action} of an app key"
        );
    }
    assert_eq!(
        team.add(
            &team.member,
            "sneaky",
            &[("owner", &format!("app:{app_id}"))]
        )
        .await
        .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        reveal(&team.member, &team, &member_key).await.0,
        StatusCode::OK
    );
    // The owner (an admin) reveals and manages any key, and sees other members' keys.
    let html = team.owner.get_text(&team.page).await.1;
    assert!(
        html.contains("Other members&#x27;s keys") || html.contains("Other members"),
        "a section for others' keys"
    );
    assert!(html.contains("member key"));
    let (status, html) = reveal(&team.owner, &team, &member_key).await;
    assert_eq!(status, StatusCode::OK);
    assert!(revealed_secret(&html, &member_key).is_some());
    // Outsiders get 404 for everything.
    let outsider = app.user("out@example.org", "Out").await;
    assert_eq!(
        outsider.get(&team.page).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        outsider
            .get(&format!("/projects/team/credentials/{member_key}/delete"))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    // Every GET above changed nothing.
    let reveals = audit_actions(&app)
        .await
        .iter()
        .filter(|a| *a == "credential.reveal")
        .count();
    assert_eq!(reveals, 2);
}

#[tokio::test]
async fn regenerate_asks_first_then_replaces_the_secret() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    let old = revealed_secret(&reveal(&team.member, &team, &id).await.1, &id).unwrap();
    let page = format!("/projects/team/credentials/{id}/regenerate");

    let (status, html) = team.member.get_text(&page).await;
    assert_eq!(status, StatusCode::OK);
    // No provider is behind a stored service: the page says so, and asks for the new key.
    assert!(html.contains("No provider is called"), "{html}");
    assert!(!html.contains("stops working"));
    assert!(
        html.contains("name=\"secret\""),
        "a field for the provider's new key"
    );
    // Without the confirmation, nothing happens.
    let response = team.member.submit(&page, &page, &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&response), page);
    let same = revealed_secret(&reveal(&team.member, &team, &id).await.1, &id).unwrap();
    assert_eq!(same, old);

    let response = team
        .member
        .submit(&page, &page, &[("confirm", "yes")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = reveal(&team.member, &team, &id).await.1;
    let new = revealed_secret(&html, &id).unwrap();
    assert_ne!(new, old);
    assert!(!html.contains("never rotated"));
    assert!(
        audit_actions(&app)
            .await
            .contains(&"credential.regenerate".to_string())
    );
}

/// On an OpenStack service without a backend, Regenerate replaces the password Keyport keeps
/// with the one typed in, and says that nothing changed at the cloud.
#[tokio::test]
async fn openstack_regeneration_without_a_backend_takes_the_new_password() {
    let app = TestApp::spawn().await;
    let team = team(&app, "openstack").await;
    team.add(&team.member, "cli", &[]).await;
    let html = team.member.get_text(&team.page).await.1;
    let id = credential_ids(&html)[0].clone();
    assert!(
        html.contains("User name") && html.contains("keyport-"),
        "an OpenStack user name"
    );
    let (_, confirm) = team
        .member
        .get_text(&format!("/projects/team/credentials/{id}/regenerate"))
        .await;
    assert!(confirm.contains("Keyport replaces the password of the OpenStack user keyport-"));
    assert!(confirm.contains("New password"));
    assert!(
        html.contains("Keyport replaces the password of the OpenStack user ‹key›"),
        "the same warning in the page's one dialog"
    );
    let path = format!("/projects/team/credentials/{id}/regenerate");
    let response = team
        .member
        .submit(&path, &path, &[("confirm", "yes"), ("secret", "   ")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = team
        .member
        .submit(
            &path,
            &path,
            &[("confirm", "yes"), ("secret", "from-the-cloud-console")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = team.member.get_text(&location(&response)).await.1;
    assert!(
        notice(&page).contains(
            "cli now holds the new key you entered. Nothing was changed at your provider"
        ),
        "{}",
        notice(&page)
    );
    let shown = reveal(&team.member, &team, &id).await.1;
    assert_eq!(
        revealed_secret(&shown, &id).as_deref(),
        Some("from-the-cloud-console")
    );
}

#[tokio::test]
async fn delete_asks_first_then_removes_the_key() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    let page = format!("/projects/team/credentials/{id}/delete");
    let (status, html) = team.member.get_text(&page).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Delete laptop?"));
    team.member.submit(&page, &page, &[]).await;
    assert_eq!(
        credential_ids(&team.member.get_text(&team.page).await.1).len(),
        1,
        "not without confirmation"
    );
    let response = team
        .member
        .submit(&page, &page, &[("confirm", "yes")])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(credential_ids(&team.member.get_text(&team.page).await.1).is_empty());
    assert_eq!(team.member.get(&page).await.status(), StatusCode::NOT_FOUND);
    assert!(
        audit_actions(&app)
            .await
            .contains(&"credential.delete".to_string())
    );
}

/// On a service without a backend, Add records the key the provider gave: members record
/// their own, admins anyone's; the key is shown once right after.
#[tokio::test]
async fn members_and_admins_record_the_keys_their_provider_gave() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    let imported = [
        ("mode", "import"),
        ("access_key", "AKIAIOSFODNN7EXAMPLE"),
        ("secret", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
    ];
    let response = team
        .add(
            &team.member,
            "imported",
            &[
                ("mode", "import"),
                ("access_key", "AKIAIOSFODNN7EXAMPLE"),
                ("secret", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.unwrap();
    assert!(html.contains("Enter the secret"), "{html}");
    assert!(
        html.contains("value=\"AKIAIOSFODNN7EXAMPLE\""),
        "what was typed is kept"
    );
    // No provider issues keys here: the page offers no key made up by Keyport.
    assert!(
        !html.contains("value=\"generate\""),
        "no made-up key on a stored service"
    );
    let response = team.add(&team.member, "imported", &imported).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = team.member.get_text(&location(&response)).await;
    assert!(
        notice(&html).contains("imported recorded: Keyport keeps the key your provider gave you."),
        "{}",
        notice(&html)
    );
    let id = credential_ids(&html)[0].clone();
    assert_eq!(
        revealed_secret(&html, &id).as_deref(),
        Some("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
        "shown once right after"
    );
    let again = team.member.get_text(&location(&response)).await.1;
    assert_eq!(revealed_secret(&again, &id), None, "and hidden on reload");

    assert_eq!(
        team.add(&team.owner, "imported", &imported).await.status(),
        StatusCode::SEE_OTHER
    );
    let html = team.owner.get_text(&team.page).await.1;
    let id = credential_ids(&html)[0].clone();
    assert!(html.contains("AKIAIOSFODNN7EXAMPLE"));
    let secret = revealed_secret(&reveal(&team.owner, &team, &id).await.1, &id).unwrap();
    assert_eq!(secret, "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_credential_is_reported_as_damaged() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "a", &[]).await;
    team.add(&team.member, "b", &[]).await;
    let ids: Vec<String> = sqlx::query_scalar("select id from credentials order by name")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    sqlx::query("update credentials set secret = (select secret from credentials where id = $1) where id = $2")
        .bind(&ids[0])
        .bind(&ids[1])
        .execute(app.db.pool())
        .await
        .unwrap();
    let (status, html) = reveal(&team.member, &team, &ids[1]).await;
    assert_eq!(status, StatusCode::OK, "no crash");
    assert!(html.contains("This credential is damaged"));
    assert!(revealed_secret(&html, &ids[1]).is_none());
    assert!(
        revealed_secret(&reveal(&team.member, &team, &ids[0]).await.1, &ids[0]).is_some(),
        "the original still opens"
    );
}

#[tokio::test]
async fn editing_sets_description_expiry_and_state() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[("expires", "2099-01-31")])
        .await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    let edit = format!("/projects/team/credentials/{id}/edit");
    let response = team
        .member
        .submit(
            &edit,
            &edit,
            &[("name", "laptop"), ("expires", "31/01/2099")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Enter a date such as")
    );
    let response = team
        .member
        .submit(
            &edit,
            &edit,
            &[
                ("name", "old laptop"),
                ("description", "retire"),
                ("expires", "2020-01-01"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = team.member.get_text(&team.page).await.1;
    assert!(html.contains("old laptop") && html.contains("retire"));
    assert!(html.contains("badge warn\">disabled") && html.contains("badge warn\">expired"));
    let response = team
        .add(&team.member, "bad date", &[("expires", "tomorrow")])
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn the_search_box_picks_the_service() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.owner
        .submit(
            "/projects/team/services",
            "/projects/team/services",
            &[
                ("kind", "api"),
                ("name", "Billing API"),
                ("max_keys_per_owner", "1"),
            ],
        )
        .await;
    let html = team
        .member
        .get_text("/projects/team/credentials?q=billing")
        .await
        .1;
    assert!(html.contains("Billing API") && !html.contains(">Object storage <"));
    let html = team
        .member
        .get_text("/projects/team/credentials?q=nothing-matches")
        .await
        .1;
    assert!(html.contains("No service matches"));
}

#[tokio::test]
async fn the_audit_log_is_for_owners_and_admins_newest_first_and_filtered() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    team.add(&team.member, "laptop", &[]).await;
    let id = credential_ids(&team.member.get_text(&team.page).await.1)[0].clone();
    reveal(&team.member, &team, &id).await;
    let (status, html) = team.owner.get_text("/projects/team/audit").await;
    assert_eq!(status, StatusCode::OK);
    let reveal_at = html.find("credential.reveal</span>").unwrap();
    let create_at = html.find("credential.create</span>").unwrap();
    assert!(reveal_at < create_at, "newest first");
    assert!(html.contains("member@example.org") && html.contains("127.0.0.1"));
    let html = team
        .owner
        .get_text("/projects/team/audit?action=credential.reveal")
        .await
        .1;
    assert!(
        html.contains("credential.reveal</span>") && !html.contains("credential.create</span>")
    );
    let html = team
        .owner
        .get_text("/projects/team/audit?actor=ada@example.org")
        .await
        .1;
    assert!(
        !html.contains("<td>member@example.org</td><td><span"),
        "only Ada's events"
    );
    for who in [&team.member, &team.viewer] {
        assert_eq!(
            who.get("/projects/team/audit").await.status(),
            StatusCode::FORBIDDEN
        );
    }
    // Pagination: 60 more events make an "Older events" link.
    for _ in 0..60 {
        reveal(&team.member, &team, &id).await;
    }
    let html = team.owner.get_text("/projects/team/audit").await.1;
    assert_eq!(
        html.matches("<span class=\"badge\">credential.").count(),
        50
    );
    let start = html
        .find("/projects/team/audit?actor=")
        .expect("a link to older events");
    let older = html[start..start + html[start..].find('"').unwrap()]
        .replace("&#38;", "&")
        .replace("&amp;", "&");
    let html = team.owner.get_text(&older).await.1;
    assert!(
        html.contains("credential.create</span>"),
        "the oldest events are on the next page"
    );
}

/// A Test that could not reach the service is told in the warning colours with its own words,
/// never in the success box.
#[tokio::test]
async fn a_failed_test_is_not_shown_as_a_success() {
    let app = TestApp::spawn().await;
    let owner = app.admin().await;
    app.project(&owner, "team", "").await;
    let service = app.service(&owner, "s3", "Closed storage", "team").await;
    // Nothing listens on the discard port of the loopback address.
    app.endpoint(
        &owner,
        &service,
        ["Here", "local-1", "public", "http://127.0.0.1:9"],
    )
    .await;
    let service_id = service.rsplit('/').next().unwrap();
    let page = format!("/projects/team/credentials?service={service_id}");
    let added = owner
        .submit(
            &page,
            "/projects/team/credentials",
            &[("service_id", service_id), ("name", "laptop")],
        )
        .await;
    assert_eq!(added.status(), StatusCode::SEE_OTHER);
    let id = credential_ids(&owner.get_text(&page).await.1)[0].clone();
    let response = owner
        .submit(&page, &format!("/projects/team/credentials/{id}/test"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = owner.get_text(&page).await.1;
    let said = notice(&html);
    assert!(
        said.starts_with("⚠ Test of laptop: unreachable in"),
        "{said}"
    );
    assert_eq!(
        crate::helpers::attrs(&html, "p[role=status]", "class"),
        ["notice warning"],
        "the warning colours"
    );
}
