//! The health page's keys as CSV: the filtered list in the page's order, every page of it.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};
use time::format_description::well_known::Rfc3339;

use super::PageError;
use crate::{
    domain::credentials::Owner,
    ops::key_health::{HealthReport, KeyHealth},
};

const HEADER: [&str; 17] = [
    "project",
    "service",
    "key",
    "key_id",
    "owner",
    "owner_kind",
    "state",
    "enabled",
    "created",
    "last_rotated",
    "age_days",
    "rotate_by",
    "last_used",
    "last_used_at_backend",
    "expires",
    "flags",
    "rotation_step",
];

/// The report's keys as a CSV download named `file`.
pub fn download(report: &HealthReport, file: &str) -> Result<Response, PageError> {
    let mut out = csv::Writer::from_writer(Vec::with_capacity(report.keys.len() * 200));
    let written: Result<(), csv::Error> = (|| {
        out.write_record(HEADER)?;
        for key in &report.keys {
            out.write_record(row(key))?;
        }
        out.flush()?;
        Ok(())
    })();
    written.map_err(|e| PageError::Internal(e.into()))?;
    let body = out
        .into_inner()
        .map_err(|e| PageError::Internal(anyhow::anyhow!("{e}")))?;
    let disposition = format!("attachment; filename=\"{file}\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response())
}

fn row(health: &KeyHealth) -> [String; 17] {
    let key = &health.key;
    let flags: Vec<&str> = health.flags.iter().map(|f| f.as_str()).collect();
    [
        key.service.project_slug.clone(),
        cell(&key.service.name),
        cell(&key.name),
        key.id.clone(),
        cell(&key.owner_name),
        match key.owner {
            Owner::User(_) => "member".into(),
            Owner::App(_) => "app".into(),
        },
        key.state.as_str().into(),
        key.enabled.to_string(),
        moment(Some(key.created_at)),
        moment(key.rotated_at),
        health.age_days.to_string(),
        moment(health.rotation.map(|due| due.at)),
        moment(key.last_used),
        health
            .backend_last_used
            .as_deref()
            .map(cell)
            .unwrap_or_default(),
        moment(key.expires_at),
        flags.join(" "),
        key.rotation_step
            .map(|(step, new)| format!("{}:{}", step.as_str(), if new { "new" } else { "old" }))
            .unwrap_or_default(),
    ]
}

/// Unix seconds as RFC 3339 (`2026-11-29T14:05:09Z`); empty for none.
fn moment(at: Option<i64>) -> String {
    at.and_then(|at| time::OffsetDateTime::from_unix_timestamp(at).ok())
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// A value typed by a user: one that a spreadsheet would take for a formula (`=`, `+`, `-`,
/// `@` first) is written after a `'`, as OWASP advises against CSV injection.
fn cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@') => format!("'{value}"),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_formula_is_written_as_text() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(cell("@SUM(1)"), "'@SUM(1)");
        assert_eq!(cell("nightly job"), "nightly job");
        assert_eq!(moment(Some(0)), "1970-01-01T00:00:00Z");
        assert_eq!(moment(None), "");
    }
}
