//! Services and endpoints: admins and owners manage them, every member sees them.

use reqwest::StatusCode;

use crate::helpers::{TestApp, Visitor, csrf_token};

/// A project "team" with an owner (the instance admin) and a member and a viewer.
async fn team(app: &TestApp) -> (Visitor, Visitor, Visitor) {
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
    let viewer = people.pop().unwrap();
    let member = people.pop().unwrap();
    (owner, member, viewer)
}

/// Adds a service and returns its path.
async fn add_service(owner: &Visitor, fields: &[(&str, &str)]) -> String {
    let response = owner
        .submit("/projects/team/services", "/projects/team/services", fields)
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "service added");
    crate::helpers::location(&response)
}

const S3: [(&str, &str); 4] = [
    ("kind", "s3"),
    ("name", "Object storage"),
    ("description", "Our buckets"),
    ("max_keys_per_owner", "2"),
];

#[tokio::test]
async fn admins_add_services_and_endpoints_that_every_member_sees() {
    let app = TestApp::spawn().await;
    let (owner, member, viewer) = team(&app).await;
    let service = add_service(&owner, &S3).await;
    for (interface, url) in [
        ("public", "https://s3.example.org"),
        ("private", "http://10.0.0.5:7480"),
        ("auth", "https://keystone.example.org/v3"),
    ] {
        let response = owner
            .submit(
                &service,
                &format!("{service}/endpoints"),
                &[
                    ("site", "Si Racha, Thailand"),
                    ("region", "th-sr-1"),
                    ("interface", interface),
                    ("url", url),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
    }
    for person in [&owner, &member, &viewer] {
        let (status, html) = person.get_text("/projects/team/endpoints").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Si Racha, Thailand"));
        assert!(html.contains(">https://s3.example.org</code>"));
        assert!(
            html.contains("data-copy=\"endpoint-"),
            "a Copy button per URL"
        );
        let auth = html
            .find("Authentication endpoints")
            .expect("auth endpoints apart");
        assert!(html[auth..].contains("https://keystone.example.org/v3"));
        assert!(!html[..auth].contains("https://keystone.example.org/v3"));
        let (status, html) = person.get_text("/projects/team/services").await;
        assert_eq!(status, StatusCode::OK);
        assert!(html.contains("Object storage"));
        assert_eq!(html.contains("Add a service"), std::ptr::eq(person, &owner));
    }
    let events: Vec<String> = sqlx::query_scalar("select action from audit_events order by id")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert!(
        events.starts_with(&[
            "project.create".into(),
            "member.add".into(),
            "member.add".into(),
            "service.create".into(),
            "endpoint.add".into()
        ]),
        "{events:?}"
    );
}

#[tokio::test]
async fn members_and_viewers_do_not_change_services() {
    let app = TestApp::spawn().await;
    let (owner, member, viewer) = team(&app).await;
    let service = add_service(&owner, &S3).await;
    for person in [&member, &viewer] {
        let token = csrf_token(&person.get_text("/projects/team/services").await.1).unwrap();
        for (action, fields) in [
            ("/projects/team/services".to_string(), S3.to_vec()),
            (service.clone(), S3.to_vec()),
            (format!("{service}/delete"), vec![("confirm", "yes")]),
            (format!("{service}/backend"), vec![("driver", "stored")]),
            (
                format!("{service}/backend/link"),
                vec![("owner", "user:x"), ("backend_name", "root")],
            ),
            (format!("{service}/backend/import-endpoints"), vec![]),
            (format!("{service}/reconcile/finish"), vec![]),
            (
                format!("{service}/reconcile/key"),
                vec![("access_key", "AKIA"), ("action", "revoke")],
            ),
            (
                format!("{service}/reconcile/forget"),
                vec![("credential_id", "x")],
            ),
            (
                format!("{service}/endpoints"),
                vec![
                    ("site", "A"),
                    ("region", "r"),
                    ("interface", "public"),
                    ("url", "https://x.org"),
                ],
            ),
        ] {
            let mut fields = fields;
            fields.push(("csrf_token", &token));
            assert_eq!(
                person.post(&action, &fields).await.status(),
                StatusCode::FORBIDDEN,
                "{action}"
            );
        }
        for page in ["delete", "backend", "reconcile"] {
            assert_eq!(
                person.get(&format!("{service}/{page}")).await.status(),
                StatusCode::FORBIDDEN,
                "{page}"
            );
        }
        assert!(
            !person
                .get_text(&service)
                .await
                .1
                .contains("Add an endpoint")
        );
    }
    let outsider = app.user("outsider@example.org", "Out").await;
    for path in [
        service.as_str(),
        "/projects/team/services",
        "/projects/team/endpoints",
    ] {
        assert_eq!(
            outsider.get(path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    assert_eq!(
        owner
            .get("/projects/team/services/not-a-service")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn service_and_endpoint_forms_show_each_problem_and_keep_the_input() {
    let app = TestApp::spawn().await;
    let (owner, _, _) = team(&app).await;
    add_service(&owner, &S3).await;
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("kind", "s3"), ("name", ""), ("max_keys_per_owner", "2")],
            "Enter a name for the service.",
        ),
        (
            &[
                ("kind", "s3"),
                ("name", "Object storage"),
                ("max_keys_per_owner", "2"),
            ],
            "A service with this name already exists",
        ),
        (
            &[
                ("kind", "s3"),
                ("name", "Five"),
                ("max_keys_per_owner", "9"),
            ],
            "Enter a number from 1 to 5.",
        ),
        (
            &[
                ("kind", "s3"),
                ("name", "Zero"),
                ("max_keys_per_owner", "zero"),
            ],
            "Enter a number from 1 to 5.",
        ),
        (
            &[
                ("kind", "ftp"),
                ("name", "Odd"),
                ("max_keys_per_owner", "2"),
            ],
            "Choose the kind of service.",
        ),
        (
            &[
                ("kind", "openstack"),
                ("name", "Cloud"),
                ("max_keys_per_owner", "2"),
                ("os_project_name", ""),
                ("os_user_domain", "Default"),
                ("os_project_domain", "Default"),
            ],
            "Enter the OpenStack project.",
        ),
    ];
    for (fields, message) in cases {
        let response = owner
            .submit("/projects/team/services", "/projects/team/services", fields)
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{message}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{message}");
        let name = fields.iter().find(|(k, _)| *k == "name").unwrap().1;
        assert!(
            html.contains(&format!("id=\"name\" name=\"name\" value=\"{name}\"")),
            "the name is kept"
        );
    }
    let cloud = add_service(
        &owner,
        &[
            ("kind", "openstack"),
            ("name", "Cloud"),
            ("max_keys_per_owner", "1"),
            ("os_project_name", "team"),
            ("os_user_domain", "Default"),
            ("os_project_domain", "Default"),
        ],
    )
    .await;
    let endpoint_cases = [
        ("", "r", "public", "https://x.org", "Enter the site"),
        (
            "S",
            "r",
            "sideways",
            "https://x.org",
            "Choose public, private or auth.",
        ),
        ("S", "r", "public", "x.org", "Enter a full URL"),
        (
            "S",
            "r",
            "public",
            "ftp://x.org",
            "Use an http:// or https:// URL.",
        ),
        (
            "S",
            "r",
            "public",
            "https://admin:secret@x.org",
            "Keep user names and passwords out of the URL",
        ),
    ];
    for (site, region, interface, url, message) in endpoint_cases {
        let response = owner
            .submit(
                &cloud,
                &format!("{cloud}/endpoints"),
                &[
                    ("site", site),
                    ("region", region),
                    ("interface", interface),
                    ("url", url),
                ],
            )
            .await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{message}"
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(message), "{message}");
        assert!(
            html.contains(&format!("value=\"{url}\"")),
            "the URL is kept"
        );
        assert!(
            !html.contains("secret@x.org") || html.contains("value=\"https://admin:secret@x.org\"")
        );
    }
    let count: i64 = sqlx::query_scalar("select count(*) from endpoints")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn deleting_a_service_asks_first() {
    let app = TestApp::spawn().await;
    let (owner, _, _) = team(&app).await;
    let service = add_service(&owner, &S3).await;
    let (status, html) = owner.get_text(&format!("{service}/delete")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a confirmation page, for browsers without JavaScript"
    );
    assert!(html.contains("Delete the service Object storage?"));
    assert!(
        owner
            .get_text("/projects/team/services")
            .await
            .1
            .contains("Object storage"),
        "asking deletes nothing"
    );
    let response = owner
        .submit(
            &format!("{service}/delete"),
            &format!("{service}/delete"),
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let html = owner.get_text("/projects/team/services").await.1;
    assert!(html.contains("Service Object storage deleted."));
    assert!(
        !html.contains(&format!("href=\"{service}\"")),
        "no longer listed"
    );
    assert_eq!(owner.get(&service).await.status(), StatusCode::NOT_FOUND);
}

/// OpenStack's own fields are offered only for OpenStack services.
#[tokio::test]
async fn only_openstack_services_show_openstack_fields() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    app.project(&admin, "team", "").await;
    let s3 = app.service(&admin, "s3", "Object storage", "").await;
    let cloud = app.service(&admin, "openstack", "Cloud", "team").await;
    let (_, html) = admin.get_text(&s3).await;
    assert!(
        !html.contains("os_project_name"),
        "no OpenStack fields for S3"
    );
    assert!(
        html.contains("/credentials?service="),
        "the service links to its credentials"
    );
    let (_, html) = admin.get_text(&cloud).await;
    assert!(html.contains("name=\"os_project_name\""));
}

/// A page that does not exist keeps the way back: the main navigation.
#[tokio::test]
async fn the_not_found_page_keeps_the_navigation() {
    let app = TestApp::spawn().await;
    let admin = app.admin().await;
    let (status, html) = admin.get_text("/projects/no-such-project").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("href=\"/projects\"") && html.contains("href=\"/account\""));
}

/// Within a project, its pages link each other; the audit log only for those who may read it.
#[tokio::test]
async fn the_project_navigation_links_the_audit_log_only_for_those_who_may_read_it() {
    let app = TestApp::spawn().await;
    let team = crate::credentials::team(&app, "s3").await;
    for page in [
        "/projects/team/credentials",
        "/projects/team/services",
        "/projects/team/endpoints",
        "/projects/team/apps",
    ] {
        let links = |html: &str| crate::helpers::attrs(html, "nav.project-nav a", "href");
        let owner = links(&team.owner.get_text(page).await.1);
        assert!(
            owner.contains(&"/projects/team/audit".to_string()),
            "{page}: {owner:?}"
        );
        assert!(
            owner.contains(&"/projects/team/members".to_string()),
            "{page}"
        );
        let member = links(&team.member.get_text(page).await.1);
        assert!(
            !member.contains(&"/projects/team/audit".to_string()),
            "{page}: {member:?}"
        );
        assert!(
            member.contains(&"/projects/team/endpoints".to_string()),
            "{page}"
        );
    }
}

/// A confirmation page loads what it confirms: an endpoint of another project's service (or
/// none at all) answers 404 at once, and the page names the endpoint it removes.
#[tokio::test]
async fn the_remove_confirmation_names_the_endpoint_and_refuses_another_projects() {
    let app = TestApp::spawn().await;
    let (owner, _, _) = team(&app).await;
    let service = add_service(&owner, &S3).await;
    owner
        .submit(
            &service,
            &format!("{service}/endpoints"),
            &[
                ("site", "Bang Na"),
                ("region", "th-bn-1"),
                ("interface", "public"),
                ("url", "https://s3.bangna.example.org"),
            ],
        )
        .await;
    app.project(&owner, "other", "").await;
    let other = owner
        .submit("/projects/other/services", "/projects/other/services", &S3)
        .await;
    let other = crate::helpers::location(&other);
    owner
        .submit(
            &other,
            &format!("{other}/endpoints"),
            &[
                ("site", "Elsewhere"),
                ("region", "x-1"),
                ("interface", "public"),
                ("url", "https://s3.elsewhere.example.org"),
            ],
        )
        .await;
    let endpoint_ids: Vec<(String, String)> =
        sqlx::query_as("select id, url from endpoints order by url")
            .fetch_all(app.db.pool())
            .await
            .unwrap();
    let ours = &endpoint_ids
        .iter()
        .find(|(_, url)| url.contains("bangna"))
        .unwrap()
        .0;
    let theirs = &endpoint_ids
        .iter()
        .find(|(_, url)| url.contains("elsewhere"))
        .unwrap()
        .0;

    let response = owner
        .submit(&service, &format!("{service}/endpoints/{ours}/delete"), &[])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("https://s3.bangna.example.org") && page.contains("Object storage"),
        "the page names the endpoint and its service: {page}"
    );
    for foreign in [theirs.as_str(), "no-such-endpoint"] {
        let response = owner
            .submit(
                &service,
                &format!("{service}/endpoints/{foreign}/delete"),
                &[],
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{foreign}");
    }
    // The Reconcile page's confirmations likewise: another project's service is not found.
    let other_id = other.rsplit('/').next().unwrap();
    for (action, fields) in [
        ("key", vec![("access_key", "AKIA"), ("action", "revoke")]),
        ("forget", vec![("credential_id", "x")]),
    ] {
        let response = owner
            .submit(
                &service,
                &format!("/projects/team/services/{other_id}/reconcile/{action}"),
                &fields,
            )
            .await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{action}");
    }
    let response = owner
        .submit(
            &service,
            &format!("{service}/reconcile/key"),
            &[("access_key", "AKIA"), ("action", "revoke")],
        )
        .await;
    let page = response.text().await.unwrap();
    assert!(
        page.contains("Object storage"),
        "the page names the service"
    );
    let left: i64 = sqlx::query_scalar("select count(*) from endpoints")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(left, 2, "nothing was removed");
}

/// An endpoint is edited on its own page: the form starts from what is stored, a refused change
/// shows each problem and keeps what was typed, a saved one is what every page shows; only
/// admins and owners reach it, and only for their project's endpoints.
#[tokio::test]
async fn an_endpoint_is_edited_with_its_problems_shown_and_only_by_admins() {
    let app = TestApp::spawn().await;
    let (owner, member, viewer) = team(&app).await;
    let service = add_service(&owner, &S3).await;
    owner
        .submit(
            &service,
            &format!("{service}/endpoints"),
            &[
                ("site", "Bang Na"),
                ("region", "th-bn-1"),
                ("interface", "public"),
                ("url", "https://s3.bangna.example.org"),
            ],
        )
        .await;
    let id: String = sqlx::query_scalar("select id from endpoints")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let edit = format!("{service}/endpoints/{id}/edit");
    let (status, page) = owner.get_text(&service).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&format!("href=\"{edit}\"")), "{page}");
    let (status, page) = owner.get_text(&edit).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("value=\"Bang Na\"")
            && page.contains("value=\"https://s3.bangna.example.org\""),
        "the form starts from the endpoint: {page}"
    );

    let response = owner
        .submit(
            &edit,
            &edit,
            &[
                ("site", ""),
                ("region", "th-bn-2"),
                ("interface", "public"),
                ("url", "ftp://s3.bangna.example.org"),
                ("s3_region", "us east"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = response.text().await.unwrap();
    assert_eq!(page.matches("class=\"field-error\"").count(), 3, "{page}");
    assert!(
        page.contains("value=\"ftp://s3.bangna.example.org\"")
            && page.contains("value=\"th-bn-2\""),
        "what was typed is kept: {page}"
    );
    let stored: (String, String) = sqlx::query_as("select site, url from endpoints")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(stored.0, "Bang Na", "nothing changed");

    let response = owner
        .submit(
            &edit,
            &edit,
            &[
                ("site", "Bang Na 2"),
                ("region", "th-bn-2"),
                ("interface", "private"),
                ("url", "https://s3.bn2.example.org"),
                ("s3_region", "us-east-1"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, page) = owner.get_text(&crate::helpers::location(&response)).await;
    assert!(page.contains("Endpoint saved."), "{page}");
    for person in [&owner, &member, &viewer] {
        let (_, page) = person.get_text("/projects/team/endpoints").await;
        assert!(
            page.contains("https://s3.bn2.example.org") && page.contains("Bang Na 2"),
            "{page}"
        );
        assert!(!page.contains("s3.bangna.example.org"), "{page}");
    }
    let detail: String =
        sqlx::query_scalar("select detail from audit_events where action = 'endpoint.change'")
            .fetch_one(app.db.pool())
            .await
            .unwrap();
    assert!(
        detail.contains("https://s3.bangna.example.org")
            && detail.contains("https://s3.bn2.example.org (S3 region us-east-1)"),
        "{detail}"
    );

    for person in [&member, &viewer] {
        assert_eq!(person.get(&edit).await.status(), StatusCode::FORBIDDEN);
        let token = csrf_token(&person.get_text("/projects/team/services").await.1).unwrap();
        let fields = [
            ("site", "Mine"),
            ("region", "r"),
            ("interface", "public"),
            ("url", "https://x.org"),
            ("csrf_token", &token),
        ];
        assert_eq!(
            person.post(&edit, &fields).await.status(),
            StatusCode::FORBIDDEN
        );
    }
    app.project(&owner, "other", "").await;
    let other = owner
        .submit("/projects/other/services", "/projects/other/services", &S3)
        .await;
    let other = crate::helpers::location(&other);
    for path in [
        format!("{other}/endpoints/{id}/edit"),
        format!("{service}/endpoints/no-such-endpoint/edit"),
    ] {
        assert_eq!(
            owner.get(&path).await.status(),
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let site: String = sqlx::query_scalar("select site from endpoints")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(site, "Bang Na 2", "the refused changes changed nothing");

    // A service without an S3 API shows no S3 region, and its form keeps the one the API set.
    sqlx::query("update services set kind = 'api'")
        .execute(app.db.pool())
        .await
        .unwrap();
    let (_, page) = owner.get_text(&edit).await;
    assert!(!page.contains("id=\"s3_region\""), "{page}");
    assert!(
        page.contains("<input type=\"hidden\" name=\"s3_region\" value=\"us-east-1\">"),
        "{page}"
    );
}
