//! The credential health page: a project with keys of every condition, its counts and rows in
//! the HTML and in the CSV download, filters, order and pages, and who sees which keys.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::{
    credentials::{Team, reveal, team},
    helpers::{TestApp, attrs, text, texts},
    rotation_policy::{DAY, now, set_key, set_policy},
};

const HEALTH: &str = "/projects/team/health";

async fn id_of(app: &TestApp, name: &str) -> String {
    sqlx::query_scalar("select id from credentials where name = $1")
        .bind(name)
        .fetch_one(app.db.pool())
        .await
        .unwrap()
}

/// A project whose keys each show one condition (with the 30-day policy, warned 7 days before):
/// the owner's `overdue`, `due-soon`, `expired`, `expiring` and `disabled`; the member's
/// `unfinished` (an operation under way) and `damaged` (its secret moved from `unfinished`, and
/// a Show found it so); the app's `stale` (last shown 100 days ago) and `used` (shown today).
/// Only `stale` and `used` have a record of use: the seven others were never used.
async fn seeded(app: &TestApp) -> Team {
    let team = team(app, "s3").await;
    assert_eq!(
        set_policy(&team.owner, &team, "30", "7").await.status(),
        StatusCode::SEE_OTHER
    );
    for name in ["overdue", "due-soon", "expired", "expiring", "disabled"] {
        assert_eq!(
            team.add(&team.owner, name, &[]).await.status(),
            StatusCode::SEE_OTHER
        );
    }
    for name in ["unfinished", "damaged"] {
        assert_eq!(
            team.add(&team.member, name, &[]).await.status(),
            StatusCode::SEE_OTHER
        );
    }
    let (app_id, _) = team.add_app_key(app, "stale").await;
    let response = team
        .add(&team.owner, "used", &[("owner", &format!("app:{app_id}"))])
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    let now = now();
    set_key(app, "overdue", "rotated_at = $1", now - 40 * DAY).await;
    set_key(app, "due-soon", "created_at = $1", now - 25 * DAY).await;
    set_key(app, "expired", "expires_at = $1", now - DAY).await;
    set_key(app, "expiring", "expires_at = $1", now + 3 * DAY).await;
    set_key(app, "disabled", "enabled = 0 + $1 * 0", 0).await;
    // An operation under way since now, claimed by no process: reconcile leaves it for minutes.
    set_key(
        app,
        "unfinished",
        "state = 'rotating', state_since = $1",
        now,
    )
    .await;
    let damaged = id_of(app, "damaged").await;
    let unfinished = id_of(app, "unfinished").await;
    sqlx::query("update credentials set secret = (select secret from credentials where id = $1) where id = $2")
        .bind(&unfinished)
        .bind(&damaged)
        .execute(app.db.pool())
        .await
        .unwrap();
    let (status, html) = reveal(&team.member, &team, &damaged).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("This credential is damaged"));
    // Shown for real today; and a Show of long ago, as the audit log keeps it.
    let used = id_of(app, "used").await;
    assert_eq!(reveal(&team.owner, &team, &used).await.0, StatusCode::OK);
    let stale = id_of(app, "stale").await;
    sqlx::query(
        "insert into audit_events (at, project_id, actor, action, target, detail, credential_id)
         values ($1, (select project_id from credentials where id = $2), 'ada@example.org',
                 'credential.reveal', 'Object storage / stale', '', $2)",
    )
    .bind(now - 100 * DAY)
    .bind(&stale)
    .execute(app.db.pool())
    .await
    .unwrap();
    team
}

/// The page's counts: flag label (or "all keys") → number.
fn counts(html: &str) -> BTreeMap<String, usize> {
    texts(html, "ul.flag-counts a")
        .into_iter()
        .map(|t| {
            let (label, n) = t.rsplit_once(' ').unwrap();
            (label.to_string(), n.parse().unwrap())
        })
        .collect()
}

/// The rows of the page: key name → its flags' names (the page read once: it has 100 rows).
fn rows(html: &str) -> Vec<(String, Vec<String>)> {
    let document = Html::parse_document(html);
    let selector = |css: &str| Selector::parse(css).unwrap();
    let (row, key, flag) = (
        selector("table.health tbody tr"),
        selector("td[data-label=Key]"),
        selector("span[data-flag]"),
    );
    document
        .select(&row)
        .map(|tr| {
            let name = tr.select(&key).next().unwrap().text().collect::<String>();
            let flags = tr
                .select(&flag)
                .filter_map(|f| f.value().attr("data-flag").map(str::to_string))
                .collect();
            (name.trim().to_string(), flags)
        })
        .collect()
}

/// The names of the page's keys, in the page's order.
fn names(html: &str) -> Vec<String> {
    rows(html).into_iter().map(|(name, _)| name).collect()
}

/// The keys of the health page `who` sees, by name.
async fn sorted_names(who: &crate::helpers::Visitor) -> Vec<String> {
    let mut names = names(&who.get_text(HEALTH).await.1);
    names.sort();
    names
}

/// The names of the keys on `path`, as `who` sees them, in the page's order.
async fn names_at(who: &crate::helpers::Visitor, path: &str) -> Vec<String> {
    names(&who.get_text(path).await.1)
}

/// The expected flags of each seeded key, as the CSV and the page name them.
fn expected() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([
        ("overdue", "overdue never-used"),
        ("due-soon", "due-soon never-used"),
        ("expired", "expired never-used"),
        ("expiring", "expiring-soon never-used"),
        ("disabled", "never-used disabled"),
        ("unfinished", "never-used unfinished"),
        ("damaged", "never-used damaged"),
        ("stale", "unused"),
        ("used", ""),
    ])
}

/// The CSV at `path`, parsed: its header and its records.
async fn csv_of(
    who: &crate::helpers::Visitor,
    path: &str,
) -> (Vec<String>, Vec<csv::StringRecord>) {
    let response = who.get(path).await;
    assert_eq!(response.status(), StatusCode::OK, "{path}");
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    let body = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(body.as_bytes());
    let header = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_string)
        .collect();
    let records = reader.records().map(Result::unwrap).collect();
    (header, records)
}

#[tokio::test]
async fn the_health_page_counts_and_lists_keys_of_every_condition_in_html_and_csv() {
    let app = TestApp::spawn().await;
    let team = seeded(&app).await;

    let (status, html) = team.owner.get_text(HEALTH).await;
    assert_eq!(status, StatusCode::OK);
    let counts = counts(&html);
    let want: BTreeMap<String, usize> = [
        ("all keys", 9),
        ("overdue", 1),
        ("rotation due soon", 1),
        ("expired", 1),
        ("expiring soon", 1),
        ("never used", 7),
        ("unused for 90 days", 1),
        ("damaged", 1),
        ("unfinished operation", 1),
        ("disabled", 1),
        ("rotate: seen by a departed member", 0),
    ]
    .into_iter()
    .map(|(l, n)| (l.to_string(), n))
    .collect();
    assert_eq!(counts, want);
    let shown: BTreeMap<String, String> = rows(&html)
        .into_iter()
        .map(|(name, flags)| (name, flags.join(" ")))
        .collect();
    let expected: BTreeMap<String, String> = expected()
        .into_iter()
        .map(|(n, f)| (n.to_string(), f.to_string()))
        .collect();
    assert_eq!(shown, expected);
    // Age, last rotation, last use and expiry in words; no secret, no access key.
    let row_of = |name: &str| {
        let id = attrs(&html, "table.health tbody tr", "id")
            .into_iter()
            .find(|id| text(&html, &format!("tr#{id} td[data-label=Key]")).as_deref() == Some(name))
            .unwrap();
        text(&html, &format!("tr#{id}")).unwrap()
    };
    assert!(
        row_of("overdue").contains("40 days overdue by 10 days"),
        "{}",
        row_of("overdue")
    );
    assert!(row_of("due-soon").contains("25 days rotate in 5 days"));
    assert!(row_of("expiring").contains("expires in 3 days"));
    assert!(row_of("expired").contains("expired 1 day ago"));
    assert!(
        row_of("stale").contains("not known"),
        "no backend use known"
    );
    let access_keys: Vec<String> = sqlx::query_scalar("select access_key from credentials")
        .fetch_all(app.db.pool())
        .await
        .unwrap();
    assert!(
        access_keys.iter().all(|k| !html.contains(k.as_str())),
        "no key is shown"
    );
    // The chart of ages: 8 keys under 30 days, the overdue one of 40.
    let chart = text(&html, "figure.age-chart svg title").unwrap();
    assert!(chart.contains("0–29 days: 8; 30–89 days: 1;"), "{chart}");
    assert_eq!(attrs(&html, "figure.age-chart svg", "role"), ["img"]);

    let (header, records) = csv_of(&team.owner, &format!("{HEALTH}?format=csv")).await;
    assert_eq!(header[..4], ["project", "service", "key", "key_id"]);
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let from_csv: BTreeMap<String, String> = records
        .iter()
        .map(|r| (r[column("key")].to_string(), r[column("flags")].to_string()))
        .collect();
    assert_eq!(from_csv, expected);
    let overdue = records
        .iter()
        .find(|r| &r[column("key")] == "overdue")
        .unwrap();
    assert_eq!(&overdue[column("age_days")], "40");
    assert_eq!(&overdue[column("project")], "team");
    assert_eq!(&overdue[column("last_used")], "");
    let used = records
        .iter()
        .find(|r| &r[column("key")] == "used")
        .unwrap();
    assert!(used[column("last_used")].ends_with('Z'), "{used:?}");
    assert_eq!(&used[column("owner_kind")], "app");

    // The CSV is of the filtered list.
    let (_, never) = csv_of(&team.owner, &format!("{HEALTH}?flag=never-used&format=csv")).await;
    assert_eq!(never.len(), 7);
}

#[tokio::test]
async fn the_health_page_filters_by_flag_and_service_and_sorts_by_column() {
    let app = TestApp::spawn().await;
    let team = seeded(&app).await;
    let (_, html) = team.owner.get_text(&format!("{HEALTH}?flag=overdue")).await;
    assert_eq!(names(&html), ["overdue"]);
    assert_eq!(counts(&html)["all keys"], 9, "the counts are of every key");
    let (_, html) = team.owner.get_text(&format!("{HEALTH}?flag=damaged")).await;
    assert_eq!(names(&html), ["damaged"]);

    // A second service with one key: the filter by service shows it alone, and counts it alone.
    let other = app.service(&team.owner, "api", "Billing API", "team").await;
    let other_id = other.rsplit('/').next().unwrap().to_string();
    let response = team
        .owner
        .submit(
            &format!("/projects/team/credentials?service={other_id}"),
            "/projects/team/credentials",
            &[("service_id", other_id.as_str()), ("name", "billing")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = team
        .owner
        .get_text(&format!("{HEALTH}?service={other_id}"))
        .await;
    assert_eq!(names(&html), ["billing"]);
    assert_eq!(counts(&html)["all keys"], 1);
    let (_, html) = team.owner.get_text(HEALTH).await;
    assert_eq!(counts(&html)["all keys"], 10);

    // Oldest first by default; by name either way; the order's links keep the filter.
    let (_, html) = team.owner.get_text(HEALTH).await;
    assert_eq!(names(&html)[..2], ["overdue", "due-soon"]);
    let by_name = format!("{HEALTH}?service={}&sort=key", team.service);
    let (_, html) = team.owner.get_text(&format!("{by_name}&dir=asc")).await;
    let mut sorted = expected().into_keys().collect::<Vec<_>>();
    sorted.sort();
    assert_eq!(names(&html), sorted);
    let links = attrs(&html, "table.health thead a", "href");
    assert!(
        links
            .iter()
            .all(|l| l.contains(&format!("service={}", team.service))),
        "{links:?}"
    );
    sorted.reverse();
    assert_eq!(
        names_at(&team.owner, &format!("{by_name}&dir=desc")).await,
        sorted
    );
    let (_, html) = team
        .owner
        .get_text(&format!(
            "{HEALTH}?sort=expires&dir=asc&service={}",
            team.service
        ))
        .await;
    assert_eq!(names(&html)[..2], ["expired", "expiring"]);
    // What cannot be read is left out, not refused.
    let (status, _) = team
        .owner
        .get_text(&format!("{HEALTH}?flag=nonsense&sort=nonsense&page=x"))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn members_see_their_own_and_app_keys_viewers_the_app_keys_and_strangers_nothing() {
    let app = TestApp::spawn().await;
    let team = seeded(&app).await;
    let member = sorted_names(&team.member).await;
    assert_eq!(member, ["damaged", "stale", "unfinished", "used"]);
    let (_, csv) = csv_of(&team.member, &format!("{HEALTH}?format=csv")).await;
    assert_eq!(csv.len(), 4, "the CSV too");
    let html = team.member.get_text(HEALTH).await.1;
    assert_eq!(counts(&html)["all keys"], 4);
    assert_eq!(counts(&html)["overdue"], 0, "nobody else's key is counted");

    let viewer = sorted_names(&team.viewer).await;
    assert_eq!(viewer, ["stale", "used"]);

    let stranger = app.user("stranger@example.org", "Stranger").await;
    assert_eq!(stranger.get(HEALTH).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        stranger.get(&format!("{HEALTH}?format=csv")).await.status(),
        StatusCode::NOT_FOUND
    );
    // The instance's page is for its administrators.
    assert_eq!(
        team.member.get("/admin/health").await.status(),
        StatusCode::FORBIDDEN
    );
    // The project's navigation leads to the page.
    let nav = attrs(
        &team.member.get_text("/projects/team/credentials").await.1,
        "nav.project-nav a",
        "href",
    );
    assert!(nav.contains(&HEALTH.to_string()), "{nav:?}");
}

#[tokio::test]
async fn instance_admins_see_every_projects_keys_with_their_project() {
    let app = TestApp::spawn().await;
    let team = seeded(&app).await;
    // The owner is the instance's administrator too; a project they are not in.
    let other = app.user("other@example.org", "Olga Other").await;
    app.project(&team.owner, "other", "other@example.org").await;
    let response = other
        .submit(
            "/projects/other/services",
            "/projects/other/services",
            &[
                ("kind", "api"),
                ("name", "Zeta API"),
                ("max_keys_per_owner", "2"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let service = crate::helpers::location(&response);
    let service_id = service.rsplit('/').next().unwrap();
    let response = other
        .submit(
            &format!("/projects/other/credentials?service={service_id}"),
            "/projects/other/credentials",
            &[("service_id", service_id), ("name", "mailer")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        team.owner.get("/projects/other/health").await.status(),
        StatusCode::NOT_FOUND
    );

    let (status, html) = team.owner.get_text("/admin/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(counts(&html)["all keys"], 10);
    let projects = texts(&html, "td[data-label=Project]");
    assert_eq!(projects.iter().filter(|p| *p == "Project other").count(), 1);
    let (_, html) = team
        .owner
        .get_text("/admin/health?sort=project&dir=asc")
        .await;
    assert_eq!(names(&html)[0], "mailer");
    let (header, records) = csv_of(&team.owner, "/admin/health?format=csv").await;
    let project = header.iter().position(|h| h == "project").unwrap();
    assert_eq!(records.iter().filter(|r| &r[project] == "other").count(), 1);
    assert_eq!(records.len(), 10);
}

#[tokio::test]
async fn the_list_pages_by_100_and_the_csv_holds_every_page() {
    let app = TestApp::spawn().await;
    let team = team(&app, "s3").await;
    let (app_id, _) = team.add_app_key(&app, "first").await;
    let project: String = sqlx::query_scalar("select id from projects where slug = 'team'")
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    let now = now();
    let mut tx = app.db.pool().begin().await.unwrap();
    for n in 1..250 {
        sqlx::query(
            "insert into credentials (id, project_id, service_id, owner_app_id, name, access_key,
                 secret, created_at, created_by)
             values ($1, $2, $3, $4, $5, $6, $7, $8, 'seed')",
        )
        .bind(format!("seeded-{n:03}"))
        .bind(&project)
        .bind(&team.service)
        .bind(&app_id)
        .bind(format!("key {n:03}"))
        .bind(format!("AK{n:03}"))
        .bind(vec![0u8; 8])
        .bind(now - n * DAY)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let (_, html) = team.owner.get_text(HEALTH).await;
    let first = names(&html);
    assert_eq!(first.len(), 100);
    assert_eq!(first[0], "key 249", "oldest first");
    assert!(text(&html, "nav.pages").unwrap().contains("Page 1 of 3"));
    let next = attrs(&html, "nav.pages a[rel=next]", "href");
    assert_eq!(next.len(), 1);
    let (_, html) = team.owner.get_text(&next[0]).await;
    let second = names(&html);
    assert_eq!(second[0], "key 149");
    assert!(
        first.iter().all(|n| !second.contains(n)),
        "pages do not overlap"
    );
    let (_, html) = team.owner.get_text(&format!("{HEALTH}?page=3")).await;
    assert_eq!(rows(&html).len(), 50);
    assert_eq!(names(&html)[49], "first");
    let (_, html) = team.owner.get_text(&format!("{HEALTH}?page=99")).await;
    assert!(text(&html, "nav.pages").unwrap().contains("Page 3 of 3"));
    let (_, records) = csv_of(&team.owner, &format!("{HEALTH}?format=csv&page=2")).await;
    assert_eq!(records.len(), 250, "every page");
}
