//! `/projects/{slug}/health` and `/admin/health`: every key with its age against its service's
//! rotation policy, its last use, its expiry and its flags; counts per flag, filters, order and
//! page as query parameters, a chart of key ages, and the filtered list as CSV (`format=csv`).
//! Members see their own keys and the app keys, admins and owners all of the project's; the
//! instance's administrators see every project's. No secret is on either page.

mod chart;
mod csv;

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Router,
    extract::{Query, State},
    response::{IntoResponse, Response},
    routing::get,
};
use serde::Deserialize;

use super::{
    AppState, PageError,
    extract::{InstanceAdmin, ProjectMember},
    view::{Ctx, UnixTime},
};
use crate::{
    domain::{
        credentials::Owner,
        key_health::{KeyFlag, UNUSED_DAYS},
        roles::Action,
    },
    ops::{
        self, Project,
        key_health::{HealthQuery, HealthReport, KeyHealth, PAGE_SIZE, SortBy},
    },
};
use chart::AgeChart;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/projects/{slug}/health", get(project_health_get))
        .route("/admin/health", get(instance_health_get))
}

/// The page's query: every part optional; what cannot be read is left out.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
struct HealthForm {
    flag: String,
    service: String,
    sort: String,
    dir: String,
    page: String,
    format: String,
}

impl HealthForm {
    fn wants_csv(&self) -> bool {
        self.format == "csv"
    }

    fn query(&self) -> HealthQuery {
        let sort = SortBy::parse(&self.sort).unwrap_or_default();
        HealthQuery {
            flag: KeyFlag::parse(&self.flag),
            service: Some(self.service.clone()).filter(|s| !s.is_empty()),
            sort,
            descending: match self.dir.as_str() {
                "asc" => false,
                "desc" => true,
                // Oldest first, by default.
                _ => sort == SortBy::Age,
            },
            page: if self.wants_csv() {
                None
            } else {
                Some(self.page.parse().unwrap_or(1))
            },
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "key_health.html")]
struct HealthPage {
    ctx: Ctx,
    /// The project's page; `None` for the instance's.
    project: Option<Project>,
    /// The project's navigation links the audit log for those who may read it.
    may_view_audit: bool,
    /// The page's own path.
    path: String,
    report: HealthReport,
    query: HealthQuery,
    chart: AgeChart,
    flags: [KeyFlag; KeyFlag::ALL.len()],
    unused_days: i64,
}

/// The page's or the CSV's answer to `form`, once the report is made.
fn answer(
    ctx: Ctx,
    project: Option<Project>,
    may_view_audit: bool,
    form: &HealthForm,
    report: HealthReport,
) -> Result<Response, PageError> {
    let (path, file) = match &project {
        Some(p) => (
            format!("/projects/{}/health", p.slug),
            format!("keyport-health-{}.csv", p.slug),
        ),
        None => ("/admin/health".into(), "keyport-health.csv".into()),
    };
    if form.wants_csv() {
        return csv::download(&report, &file);
    }
    let page = HealthPage {
        ctx,
        project,
        may_view_audit,
        path,
        chart: AgeChart::new(&report),
        report,
        query: form.query(),
        flags: KeyFlag::ALL,
        unused_days: UNUSED_DAYS,
    };
    Ok(page.into_response())
}

async fn project_health_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Query(form): Query<HealthForm>,
) -> Result<Response, PageError> {
    let report = ops::key_health::project(&state.ops, &member, &form.query()).await?;
    let project = member.principal.project().clone();
    let may_view_audit = member.may(Action::ViewAudit);
    answer(member.ctx, Some(project), may_view_audit, &form, report)
}

async fn instance_health_get(
    State(state): State<AppState>,
    InstanceAdmin(admin): InstanceAdmin,
    Query(form): Query<HealthForm>,
) -> Result<Response, PageError> {
    let report = ops::key_health::instance(&state.ops, &admin.user, &form.query()).await?;
    answer(admin.ctx, None, false, &form, report)
}

impl HealthPage {
    /// The page's address with the current filters and order, `changes` applied (an empty
    /// value leaves the parameter out); the page number goes unless it is changed.
    fn link(&self, changes: &[(&str, &str)]) -> String {
        let q = &self.query;
        let mut params: Vec<(&str, &str)> = vec![
            ("flag", q.flag.map_or("", KeyFlag::as_str)),
            ("service", q.service.as_deref().unwrap_or("")),
            ("sort", q.sort.as_str()),
            ("dir", if q.descending { "desc" } else { "asc" }),
        ];
        for &(name, value) in changes {
            match params.iter_mut().find(|(n, _)| *n == name) {
                Some(param) => param.1 = value,
                None => params.push((name, value)),
            }
        }
        let mut url = form_urlencoded::Serializer::new(String::new());
        for (name, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
            url.append_pair(name, value);
        }
        format!("{}?{}", self.path, url.finish())
    }

    fn flag_link(&self, flag: &KeyFlag) -> String {
        self.link(&[("flag", flag.as_str())])
    }

    fn all_link(&self) -> String {
        self.link(&[("flag", "")])
    }

    fn csv_link(&self) -> String {
        self.link(&[("format", "csv")])
    }

    fn page_link(&self, page: usize) -> String {
        self.link(&[("page", &page.to_string())])
    }

    /// The column's heading link: ascending first, then the other way.
    fn sort_link(&self, column: &str) -> String {
        let current = self.query.sort.as_str() == column;
        let dir = match (current, self.query.descending) {
            (true, true) => "asc",
            (true, false) => "desc",
            (false, _) if column == SortBy::Age.as_str() => "desc",
            (false, _) => "asc",
        };
        self.link(&[("sort", column), ("dir", dir)])
    }

    /// `aria-sort` of the column's heading.
    fn aria_sort(&self, column: &str) -> &'static str {
        match (self.query.sort.as_str() == column, self.query.descending) {
            (false, _) => "none",
            (true, true) => "descending",
            (true, false) => "ascending",
        }
    }

    fn flag_count(&self, flag: &KeyFlag) -> usize {
        self.report
            .counts
            .iter()
            .find(|(f, _)| f == flag)
            .map_or(0, |(_, n)| *n)
    }

    fn is_flag(&self, flag: &KeyFlag) -> bool {
        self.query.flag == Some(*flag)
    }

    fn is_service(&self, id: &str) -> bool {
        self.query.service.as_deref() == Some(id)
    }

    /// "Keys 101–200 of 1,234".
    fn range(&self) -> (usize, usize) {
        let first = (self.report.page - 1) * PAGE_SIZE;
        (first + 1, first + self.report.keys.len())
    }

    /// An app's key gets an "app" badge beside its owner's name.
    fn is_app(&self, key: &KeyHealth) -> bool {
        matches!(key.key.owner, Owner::App(_))
    }

    /// The key's age as the table shows it.
    fn age(&self, key: &KeyHealth) -> String {
        match key.age_days {
            0 => "less than a day".into(),
            1 => "1 day".into(),
            n => format!("{n} days"),
        }
    }

    fn credentials_link(&self, key: &KeyHealth) -> String {
        format!(
            "/projects/{}/credentials?service={}#credential-{}",
            key.key.service.project_slug, key.key.service.id, key.key.id
        )
    }

    /// The guided rotation the key takes part in.
    fn rotation_link(&self, key: &KeyHealth) -> String {
        format!(
            "/projects/{}/credentials/{}/rotation",
            key.key.service.project_slug, key.key.id
        )
    }
}

fn chart_width() -> u32 {
    chart::WIDTH
}

fn chart_height() -> u32 {
    chart::HEIGHT
}
