//! Projects and members: who sees what, and what each role may do.

use reqwest::StatusCode;

use crate::helpers::{ADMIN_EMAIL, TestApp, Visitor, csrf_token};

#[tokio::test]
async fn creating_a_project_shows_each_problem_and_keeps_the_input() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "storage", "").await;
    let cases = [
        ("", "ok-slug", "", "Enter a project name."),
        // Nothing to make a short name from.
        ("!!!", "", "", "Enter a short name for URLs."),
        (
            "Name",
            "Bad Slug",
            "",
            "Use lowercase letters, digits and single hyphens",
        ),
        (
            "Name",
            &"s".repeat(41),
            "",
            "A short name has 2 to 40 characters.",
        ),
        (
            "Name",
            "storage",
            "",
            "A project with this short name already exists.",
        ),
        (
            "Name",
            "fresh",
            "ghost@example.org",
            "No user has this email.",
        ),
        (
            "Name",
            "fresh",
            "not an email",
            "Enter an email address such as name@example.org.",
        ),
    ];
    for (name, slug, owner, message) in cases {
        let response = admin
            .submit(
                "/projects",
                "/projects",
                &[("name", name), ("slug", slug), ("owner_email", owner)],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{name:?} {slug:?} {owner:?}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{message}");
        assert!(
            html.contains(&format!("value=\"{slug}\"")),
            "the slug is kept"
        );
        assert!(
            html.contains(&format!("value=\"{owner}\"")),
            "the owner is kept"
        );
    }
    let count: i64 = sqlx::query_scalar("select count(*) from projects")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);
}

#[tokio::test]
async fn users_see_only_their_projects_and_others_answer_404() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let bob = app.user("bob@example.org", "Bob").await;
    app.project(&admin, "secret-team", "").await;
    app.project(&admin, "bobs-team", "bob@example.org").await;

    let (_, html) = bob.get_text("/projects").await;
    assert!(html.contains("/projects/bobs-team"));
    assert!(!html.contains("secret-team"));
    for path in [
        "/projects/secret-team",
        "/projects/secret-team/members",
        "/projects/nonexistent",
        "/projects/nonexistent/members",
    ] {
        assert_eq!(
            bob.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let token = csrf_token(&bob.get_text("/projects").await.1).unwrap();
    let admin_id = app.user_id(ADMIN_EMAIL).await;
    for action in [
        "/projects/secret-team/members".to_string(),
        format!("/projects/secret-team/members/{admin_id}/role"),
        format!("/projects/secret-team/members/{admin_id}/remove"),
    ] {
        let response = bob
            .post(
                &action,
                &[
                    ("csrf_token", &token),
                    ("email", "bob@example.org"),
                    ("role", "owner"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }
    // Instance admins are not members of every project either.
    assert_eq!(
        admin.get("/projects/bobs-team").await.status(),
        StatusCode::NOT_FOUND
    );
}

/// A project with one member of each role; returns their clients by role name.
async fn team(app: &TestApp) -> Vec<(&'static str, Visitor)> {
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let mut people = vec![("owner", admin)];
    for role in ["admin", "member", "viewer"] {
        let email = format!("{role}@example.org");
        people.push((role, app.user(&email, role).await));
        let response = people[0]
            .1
            .submit(
                "/projects/team/members",
                "/projects/team/members",
                &[("email", &email), ("role", role)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{role} added");
    }
    people
}

#[tokio::test]
async fn every_role_sees_the_project_and_its_members() {
    let app = TestApp::spawn().await;
    for (role, person) in team(&app).await {
        let (status, html) = person.get_text("/projects/team").await;
        assert_eq!(status, StatusCode::OK, "{role}");
        assert!(
            html.contains(&format!("<span class=\"badge\">{role}</span>")),
            "{role} sees their role"
        );
        let (status, html) = person.get_text("/projects/team/members").await;
        assert_eq!(status, StatusCode::OK, "{role}");
        assert!(html.contains("viewer@example.org"));
        let manages = html.contains("Add a member");
        assert_eq!(
            manages,
            role == "owner" || role == "admin",
            "{role} sees the add form"
        );
    }
}

#[tokio::test]
async fn only_owners_and_admins_add_members() {
    let app = TestApp::spawn().await;
    let people = team(&app).await;
    for (i, (role, person)) in people.iter().enumerate() {
        let email = format!("new{i}@example.org");
        app.insert_user(&email, "New", false).await;
        let response = person
            .submit(
                "/projects/team/members",
                "/projects/team/members",
                &[("email", &email), ("role", "viewer")],
            )
            .await;
        let allowed = *role == "owner" || *role == "admin";
        let expected = if allowed {
            StatusCode::SEE_OTHER
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(response.status(), expected, "{role}");
        let is_member = people[0]
            .1
            .get_text("/projects/team/members")
            .await
            .1
            .contains(&email);
        assert_eq!(is_member, allowed, "{role}");
    }
}

#[tokio::test]
async fn adding_a_member_shows_each_problem() {
    let app = TestApp::spawn().await;
    let people = team(&app).await;
    let (_, owner) = &people[0];
    let (_, admin) = &people[1];
    app.insert_user("carol@example.org", "Carol", false).await;
    let cases = [
        (owner, "", "member", "Enter an email address."),
        (
            owner,
            "ghost@example.org",
            "member",
            "No user has this email.",
        ),
        (
            owner,
            "viewer@example.org",
            "member",
            "This user is already a member.",
        ),
        (
            owner,
            "carol@example.org",
            "superuser",
            "Choose one of the roles.",
        ),
        (
            admin,
            "carol@example.org",
            "owner",
            "Only owners may add owners.",
        ),
    ];
    for (who, email, role, message) in cases {
        let response = who
            .submit(
                "/projects/team/members",
                "/projects/team/members",
                &[("email", email), ("role", role)],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{email} {role}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{message}");
        assert!(
            html.contains(&format!("value=\"{email}\"")),
            "the email is kept"
        );
    }
    assert!(
        !owner
            .get_text("/projects/team/members")
            .await
            .1
            .contains("carol@example.org")
    );
}

#[tokio::test]
async fn roles_change_as_each_role_allows() {
    let app = TestApp::spawn().await;
    let people = team(&app).await;
    let member_id = app.user_id("member@example.org").await;
    let owner_id = app.user_id(ADMIN_EMAIL).await;
    let path = |id: &str, what: &str| format!("/projects/team/members/{id}/{what}");

    // Members and viewers may not change roles; admins may, but not to or from owner.
    for (role, person) in &people[2..] {
        let response = person
            .submit(
                "/projects/team/members",
                &path(&member_id, "role"),
                &[("role", "admin")],
            )
            .await;
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{role}");
    }
    let (_, admin) = &people[1];
    let response = admin
        .submit(
            "/projects/team/members",
            &path(&member_id, "role"),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "admins do not make owners"
    );
    let response = admin
        .submit(
            "/projects/team/members",
            &path(&owner_id, "role"),
            &[("role", "viewer")],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "admins do not demote owners"
    );
    let response = admin
        .submit(
            "/projects/team/members",
            &path(&owner_id, "remove"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "admins do not remove owners"
    );
    let response = admin
        .submit(
            "/projects/team/members",
            &path(&member_id, "role"),
            &[("role", "viewer")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = admin
        .submit(
            "/projects/team/members",
            &path(&member_id, "role"),
            &[("role", "root")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let role = keyport::db::projects::member_role(&app.db, &project_id(&app).await, &member_id)
        .await
        .unwrap();
    assert_eq!(role, Some(keyport::domain::roles::Role::Viewer));

    // Owners do everything, but a project keeps an owner.
    let (_, owner) = &people[0];
    let response = owner
        .submit(
            "/projects/team/members",
            &path(&owner_id, "role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = owner.get_text("/projects/team/members").await.1;
    assert!(
        html.contains("A project keeps at least one owner"),
        "refused with a clear message"
    );
    owner
        .submit(
            "/projects/team/members",
            &path(&owner_id, "remove"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(
        owner.get("/projects/team").await.status(),
        StatusCode::OK,
        "the last owner stays"
    );

    owner
        .submit(
            "/projects/team/members",
            &path(&member_id, "role"),
            &[("role", "owner")],
        )
        .await;
    let response = owner
        .submit(
            "/projects/team/members",
            &path(&owner_id, "remove"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        owner.get("/projects/team").await.status(),
        StatusCode::NOT_FOUND,
        "removed from the project"
    );
}

#[tokio::test]
async fn admins_remove_members_and_members_do_not() {
    let app = TestApp::spawn().await;
    let people = team(&app).await;
    let viewer_id = app.user_id("viewer@example.org").await;
    let action = format!("/projects/team/members/{viewer_id}/remove");
    let (_, member) = &people[2];
    assert_eq!(
        member
            .submit("/projects/team/members", &action, &[("confirm", "yes")])
            .await
            .status(),
        StatusCode::FORBIDDEN
    );
    let (_, admin) = &people[1];
    assert_eq!(
        admin
            .submit("/projects/team/members", &action, &[("confirm", "yes")])
            .await
            .status(),
        StatusCode::SEE_OTHER
    );
    let (_, viewer) = &people[3];
    assert_eq!(
        viewer.get("/projects/team").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin
            .submit("/projects/team/members", &action, &[("confirm", "yes")])
            .await
            .status(),
        StatusCode::NOT_FOUND,
        "already gone"
    );
}

#[tokio::test]
async fn admins_may_not_open_the_removal_of_members_who_are_owners() {
    let app = TestApp::spawn().await;
    let people = team(&app).await;
    let owner_id = app.user_id(ADMIN_EMAIL).await;
    let action = format!("/projects/team/members/{owner_id}/remove");
    let (_, admin) = &people[1];
    // The confirmation (which lists the keys the owner holds and saw) is not shown to them.
    let answer = admin.submit("/projects/team/members", &action, &[]).await;
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    let html = answer.text().await.unwrap();
    assert!(!html.contains("id=\"held\""), "{html}");
    // An owner may open it.
    let (_, owner) = &people[0];
    let viewer_id = app.user_id("viewer@example.org").await;
    let answer = owner
        .submit(
            "/projects/team/members",
            &format!("/projects/team/members/{viewer_id}/remove"),
            &[],
        )
        .await;
    assert_eq!(answer.status(), StatusCode::OK);
}

async fn project_id(app: &TestApp) -> String {
    sqlx::query_scalar("select id from projects where slug = 'team'")
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// Left empty, a project's short name for URLs is made from its name.
#[tokio::test]
async fn a_projects_short_name_comes_from_its_name() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let response = admin
        .submit(
            "/projects",
            "/projects",
            &[("name", "Object storage (TH)"), ("slug", "")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        crate::helpers::location(&response),
        "/projects/object-storage-th"
    );
    let (_, html) = admin.get_text("/projects/object-storage-th/audit").await;
    let text = crate::helpers::page_text(&html);
    assert!(
        text.contains("project.create") || text.contains("Project created"),
        "the creation is in the project's audit log: {text}"
    );
}
