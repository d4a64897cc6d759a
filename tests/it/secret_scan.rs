//! Known secrets (imported ones, and the secret Keyport generates for a new key) are written
//! through the real binary, then looked for everywhere they must not be: the database (every
//! file of SQLite's, every row of every PostgreSQL table), the server log at `debug`, and the
//! HTML of every page of every role, the client-configuration panels and confirmation pages
//! among them.

use reqwest::StatusCode;

use crate::{
    credentials::credential_ids,
    helpers::{PASSWORD, TestDb, Visitor, attrs, location, password_link},
    process::Server,
};

const IMPORTED: [&str; 2] = [
    "Zq8secretVALUEnumber1xkcd936",
    "pa55w0rd-for-the-openstack-user-77",
];

/// What the database holds, as named blobs: every file of the SQLite database (the main file
/// must exist), or the rows of every table PostgreSQL's catalog lists, as PostgreSQL prints them.
pub async fn stored_bytes(db: &TestDb) -> Vec<(String, Vec<u8>)> {
    let mut blobs = Vec::new();
    if db.url.starts_with("postgres") {
        let conn = keyport::db::Db::connect(&db.url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "select table_name::text from information_schema.tables
             where table_schema = current_schema() and table_type = 'BASE TABLE'
             order by table_name",
        )
        .fetch_all(conn.pool())
        .await
        .unwrap();
        for expected in ["credentials", "backend_users", "services", "users"] {
            assert!(
                tables.iter().any(|t| t == expected),
                "the catalog lists {expected}: {tables:?}"
            );
        }
        for table in tables {
            let rows: Option<String> = sqlx::query_scalar(&format!(
                "select string_agg(t::text, ' ') from \"{table}\" t"
            ))
            .fetch_one(conn.pool())
            .await
            .unwrap();
            blobs.push((
                format!("table {table}"),
                rows.unwrap_or_default().into_bytes(),
            ));
        }
        conn.close().await;
    } else {
        let main = db.dir.path().join("keyport.db");
        let bytes = std::fs::read(&main)
            .unwrap_or_else(|e| panic!("the database file {} is there: {e}", main.display()));
        assert!(!bytes.is_empty(), "the database file holds data");
        blobs.push(("keyport.db".to_string(), bytes));
        for entry in std::fs::read_dir(db.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("keyport.db-") {
                blobs.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    blobs
}

/// Fails when `secret` is in any blob, as text or (for PostgreSQL's bytea) as hex.
pub fn assert_not_stored(blobs: &[(String, Vec<u8>)], secret: &str, what: &str) {
    let hex: String = secret.bytes().map(|b| format!("{b:02x}")).collect();
    for (name, bytes) in blobs {
        for needle in [secret.as_bytes(), hex.as_bytes()] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle),
                "{name} holds {what} in clear"
            );
        }
    }
}

/// Submits a form and checks that it was accepted; returns where it leads and the page.
async fn accepted(
    who: &Visitor,
    page: &str,
    action: &str,
    fields: &[(&str, &str)],
) -> (String, String) {
    let response = who.submit(page, action, fields).await;
    let status = response.status();
    let location = location(&response);
    let body = response.text().await.unwrap();
    assert!(
        status.is_redirection() || status.is_success(),
        "{action}: {status}: {body}"
    );
    (location, body)
}

/// The secret Show reveals for credential `id` on `page`.
async fn shown_secret(who: &Visitor, page: &str, id: &str) -> String {
    let response = who
        .submit(
            page,
            &format!("/projects/team/credentials/{id}/reveal"),
            &[],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "Show answers");
    let (status, html) = who.get_text(&location(&response)).await;
    assert_eq!(status, StatusCode::OK, "the page shows the secret once");
    attrs(&html, &format!("input#secret-{id}"), "value")
        .pop()
        .expect("the secret is shown")
}

#[tokio::test]
async fn secrets_never_reach_the_database_in_clear_the_log_or_pages_that_do_not_reveal() {
    let db = TestDb::new().await;
    let server = Server::start(&db, &[("KEYPORT_LOG", "debug")]).await;

    let owner = server.visitor();
    accepted(
        &owner,
        "/setup",
        "/setup",
        &[
            ("email", "ada@example.org"),
            ("name", "Ada"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ],
    )
    .await;
    accepted(
        &owner,
        "/projects",
        "/projects",
        &[("name", "Team"), ("slug", "team")],
    )
    .await;
    let (_, html) = accepted(
        &owner,
        "/admin/users",
        "/admin/users",
        &[("email", "vic@example.org"), ("name", "Vic")],
    )
    .await;
    let link = password_link(&html);
    let viewer = server.visitor();
    accepted(
        &viewer,
        &link,
        &link,
        &[("password", PASSWORD), ("password_confirm", PASSWORD)],
    )
    .await;
    accepted(
        &viewer,
        "/login",
        "/login",
        &[("email", "vic@example.org"), ("password", PASSWORD)],
    )
    .await;
    accepted(
        &owner,
        "/projects/team/members",
        "/projects/team/members",
        &[("email", "vic@example.org"), ("role", "viewer")],
    )
    .await;

    let mut secrets: Vec<String> = IMPORTED.iter().map(|s| s.to_string()).collect();
    let mut every_page = vec![
        "/projects".to_string(),
        "/projects/team".into(),
        "/projects/team/services".into(),
        "/projects/team/endpoints".into(),
        "/projects/team/members".into(),
        "/projects/team/apps".into(),
        "/projects/team/audit".into(),
        "/projects/team/health".into(),
        "/projects/team/health?format=csv".into(),
        "/admin/users".into(),
        "/admin/health".into(),
        "/admin/health?format=csv".into(),
        "/account".into(),
    ];
    for (kind, secret) in [("s3", IMPORTED[0]), ("openstack", IMPORTED[1])] {
        let (service_path, _) = accepted(
            &owner,
            "/projects/team/services",
            "/projects/team/services",
            &[
                ("kind", kind),
                ("name", kind),
                ("max_keys_per_owner", "2"),
                ("os_project_name", "p"),
                ("os_user_domain", "D"),
                ("os_project_domain", "D"),
            ],
        )
        .await;
        let service = service_path.rsplit('/').next().unwrap().to_string();
        let page = format!("/projects/team/credentials?service={service}");
        accepted(
            &owner,
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", &service),
                ("name", "imported"),
                ("mode", "import"),
                ("access_key", "AKIDPUBLIC"),
                ("secret", secret),
            ],
        )
        .await;
        // A key whose secret Keyport generates.
        accepted(
            &owner,
            &page,
            "/projects/team/credentials",
            &[
                ("service_id", &service),
                ("name", "generated"),
                ("mode", "generate"),
            ],
        )
        .await;
        let ids = credential_ids(&owner.get_text(&page).await.1);
        assert_eq!(ids.len(), 2, "both credentials are listed");
        // Each revealed once, as a user would; the generated secret joins the scan.
        let mut revealed = Vec::new();
        for id in &ids {
            revealed.push(shown_secret(&owner, &page, id).await);
        }
        assert!(
            revealed.iter().any(|s| s == secret),
            "the imported secret is the one shown"
        );
        let generated: Vec<String> = revealed.into_iter().filter(|s| s != secret).collect();
        assert_eq!(generated.len(), 1, "one generated secret");
        assert!(generated[0].len() >= 16, "a real secret was generated");
        secrets.extend(generated);

        every_page.extend([
            page.clone(),
            service_path.clone(),
            format!("{service_path}/backend"),
            format!("{service_path}/reconcile"),
            format!("{service_path}/delete"),
        ]);
        for id in &ids {
            every_page.extend([
                format!("{page}&configure={id}"),
                format!("{page}&configure={id}&variant=without"),
                format!("/projects/team/credentials/{id}/edit"),
                format!("/projects/team/credentials/{id}/regenerate"),
                format!("/projects/team/credentials/{id}/delete"),
            ]);
        }
    }

    // Every page, for both roles: the owner may open each one; the viewer is refused some.
    for (role, who) in [("owner", &owner), ("viewer", &viewer)] {
        for page in &every_page {
            let (status, html) = who.get_text(page).await;
            match role {
                "owner" => assert_eq!(status, StatusCode::OK, "{role}: {page}"),
                _ => assert!(
                    matches!(
                        status,
                        StatusCode::OK | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
                    ),
                    "{role}: {page}: {status}"
                ),
            }
            for secret in &secrets {
                assert!(
                    !html.contains(secret.as_str()),
                    "{role}: {page} shows a secret"
                );
            }
        }
    }
    let log_path = server.log.clone();
    drop(server);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        log.contains("DEBUG"),
        "the log was written at debug: {} bytes",
        log.len()
    );
    let mut blobs = stored_bytes(&db).await;
    blobs.push(("the server log".to_string(), log.into_bytes()));
    for secret in &secrets {
        assert_not_stored(&blobs, secret, "a credential's secret");
    }
    assert_not_stored(&blobs, PASSWORD, "a password");
}
