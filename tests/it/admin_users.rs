//! `/admin/users`: only instance admins; clear errors for bad input.

use reqwest::StatusCode;

use crate::helpers::{ADMIN_EMAIL, PASSWORD, TestApp, csrf_token, location, notice, password_link};

#[tokio::test]
async fn only_instance_admins_manage_users_and_create_projects() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    let admin_id = app.user_id(ADMIN_EMAIL).await;

    assert_eq!(
        bob.get("/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );
    let token = csrf_token(&bob.get_text("/projects").await.1).unwrap();
    for action in [
        "/admin/users".to_string(),
        format!("/admin/users/{admin_id}/disable"),
        format!("/admin/users/{admin_id}/revoke-admin"),
    ] {
        let response = bob
            .post(
                &action,
                &[
                    ("csrf_token", &token),
                    ("email", "eve@example.org"),
                    ("name", "Eve"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{action}");
    }
    let response = bob
        .post(
            "/projects",
            &[("csrf_token", &token), ("name", "Mine"), ("slug", "mine")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        !bob.get_text("/projects")
            .await
            .1
            .contains("Create a project"),
        "no create form for members"
    );
    assert_eq!(
        admin.get("/admin/users").await.status(),
        StatusCode::OK,
        "the admin is untouched"
    );
    assert!(
        keyport::db::users::find_by_email(&app.db, "eve@example.org")
            .await
            .unwrap()
            .is_none()
    );

    // Signed-out visitors are sent to sign in.
    assert_eq!(location(&app.visitor().get("/admin/users").await), "/login");
}

#[tokio::test]
async fn creating_a_user_shows_each_problem_and_keeps_the_input() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let long = format!("{}@example.org", "a".repeat(250));
    let cases: [(&str, &str, &str); 5] = [
        ("", "Bob", "Enter an email address."),
        (
            "bob-at-example",
            "Bob",
            "Enter an email address such as name@example.org.",
        ),
        (&long, "Bob", "An email address has at most 254 characters."),
        (
            &ADMIN_EMAIL.to_uppercase(),
            "Ada again",
            "A user with this email already exists.",
        ),
        ("bob@example.org", "", "Enter a name."),
    ];
    for (email, name, message) in cases {
        let response = admin
            .submit(
                "/admin/users",
                "/admin/users",
                &[("email", email), ("name", name), ("is_admin", "on")],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email:?}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{email:?}: {message}");
        assert!(
            html.contains(&format!("value=\"{}\"", name)),
            "the name is kept"
        );
        assert!(
            html.contains("name=\"is_admin\" value=\"on\" checked"),
            "the checkbox is kept"
        );
    }
    assert_eq!(keyport::db::users::count(&app.db).await.unwrap(), 1);
    // HTML in a name is shown as text, never as markup.
    let response = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[
                ("email", "x@example.org"),
                ("name", "<script>alert(1)</script>"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = admin.get_text("/admin/users").await.1;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || html.contains("&#60;script&#62;")
    );
    assert!(!html.contains("<script>alert(1)</script>"));
}

#[tokio::test]
async fn admins_grant_and_take_away_the_admin_right_but_not_their_own() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    let bob_id = app.user_id("bob@example.org").await;
    let admin_id = app.user_id(ADMIN_EMAIL).await;

    admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{bob_id}/make-admin"),
            &[],
        )
        .await;
    assert_eq!(
        bob.get("/admin/users").await.status(),
        StatusCode::OK,
        "bob is an admin now"
    );

    // With Bob as a second enabled admin, the last-admin rule would allow either change: only
    // the rule against changing one's own account can refuse them.
    for (change, refusal) in [
        (
            "revoke-admin",
            "You cannot take away your own administrator right; ask another administrator.",
        ),
        ("disable", "You cannot disable your own account."),
    ] {
        let response = admin
            .submit(
                "/admin/users",
                &format!("/admin/users/{admin_id}/{change}"),
                &[("confirm", "yes")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{change}");
        let (status, html) = admin.get_text("/admin/users").await;
        assert_eq!(status, StatusCode::OK, "still an admin, still enabled");
        assert_eq!(notice(&html), refusal, "{change}");
        let ada = keyport::db::users::find(&app.db, &admin_id)
            .await
            .unwrap()
            .unwrap();
        assert!(
            ada.is_admin && !ada.disabled,
            "{change}: nothing was changed"
        );
    }

    admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{bob_id}/revoke-admin"),
            &[],
        )
        .await;
    assert_eq!(
        bob.get("/admin/users").await.status(),
        StatusCode::FORBIDDEN
    );

    let response = admin
        .submit(
            "/admin/users",
            "/admin/users/no-such-user/disable",
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_new_password_link_replaces_the_old_one() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let first = admin
        .submit(
            "/admin/users",
            "/admin/users",
            &[("email", "dan@example.org"), ("name", "Dan")],
        )
        .await
        .text()
        .await
        .unwrap();
    let old = password_link(&first);
    let dan = app.user_id("dan@example.org").await;
    let second = admin
        .submit(
            "/admin/users",
            &format!("/admin/users/{dan}/password-link"),
            &[],
        )
        .await
        .text()
        .await
        .unwrap();
    let new = password_link(&second);
    assert_ne!(old, new);
    assert_eq!(
        app.visitor().get(&old).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(app.visitor().get(&new).await.status(), StatusCode::OK);
}

/// Two admins take each other's admin right at the same moment: one change must be refused by
/// the last-admin rule (or by the other's having gone through first), and its message shown.
#[tokio::test]
async fn two_admins_demoting_each_other_at_once_leave_one_admin() {
    const LAST_ADMIN: &str = "Refused: no enabled instance administrator would remain.";
    let app = TestApp::spawn().await;
    let ada = app.admin().await;
    let ada_id = app.user_id(ADMIN_EMAIL).await;
    let bob_id = app.insert_user("bob@example.org", "Bob", true).await;
    let bob = app.sign_in("bob@example.org", PASSWORD).await;
    let mut refused_by_rule = 0;
    for round in 0..20 {
        sqlx::query("update users set is_admin = 1")
            .execute(app.db.pool())
            .await
            .unwrap();
        let mut forms = Vec::new();
        for (who, target) in [(&ada, &bob_id), (&bob, &ada_id)] {
            let token = csrf_token(&who.get_text("/admin/users").await.1).unwrap();
            forms.push((who, format!("/admin/users/{target}/revoke-admin"), token));
        }
        let answers =
            futures::future::join_all(forms.iter().map(|(who, action, token)| async move {
                who.post(action, &[("csrf_token", token.as_str())]).await
            }))
            .await;
        let admins: i64 =
            sqlx::query_scalar("select count(*) from users where is_admin = 1 and disabled = 0")
                .fetch_one(app.db.pool())
                .await
                .unwrap();
        assert_eq!(admins, 1, "round {round}: exactly one admin remains");
        let mut outcomes = Vec::new();
        for ((who, _, _), answer) in forms.iter().zip(&answers) {
            let shown = notice(&who.get_text("/account").await.1);
            outcomes.push((answer.status(), shown));
        }
        let done = outcomes
            .iter()
            .filter(|(status, shown)| {
                *status == StatusCode::SEE_OTHER
                    && shown.ends_with("is no longer an instance administrator.")
            })
            .count();
        assert_eq!(
            done, 1,
            "round {round}: one change went through: {outcomes:?}"
        );
        for (status, shown) in &outcomes {
            if shown == LAST_ADMIN {
                assert_eq!(*status, StatusCode::SEE_OTHER);
                refused_by_rule += 1;
            } else {
                assert!(
                    *status == StatusCode::FORBIDDEN || shown.ends_with("administrator."),
                    "round {round}: {outcomes:?}"
                );
            }
        }
        if refused_by_rule > 0 {
            break;
        }
    }
    assert!(
        refused_by_rule > 0,
        "in 20 rounds the two changes never met at the last-admin rule"
    );
}

#[tokio::test]
async fn the_last_enabled_admin_stays() {
    use keyport::db::users::{self, AdminChangeError};
    let app = TestApp::spawn().await;
    app.admin().await;
    let ada = app.user_id(ADMIN_EMAIL).await;
    assert!(matches!(
        users::set_admin(&app.db, &ada, false).await,
        Err(AdminChangeError::LastAdmin)
    ));
    assert!(matches!(
        users::set_disabled(&app.db, &ada, true).await,
        Err(AdminChangeError::LastAdmin)
    ));
    let still = users::find(&app.db, &ada).await.unwrap().unwrap();
    assert!(still.is_admin && !still.disabled, "nothing was changed");
    let bob = app.insert_user("bob@example.org", "Bob", true).await;
    users::set_admin(&app.db, &ada, false)
        .await
        .expect("another admin remains");
    assert!(matches!(
        users::set_disabled(&app.db, &bob, true).await,
        Err(AdminChangeError::LastAdmin)
    ));
}
