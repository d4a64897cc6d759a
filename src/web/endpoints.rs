//! Endpoints: a service's sites, regions and URLs (added, edited and removed from the service's
//! page by admins), and `/projects/{slug}/endpoints`, every endpoint of the project for every
//! member.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};

use super::{
    AppState, PageError,
    confirm::{ConfirmPage, Confirmation},
    extract::ProjectMember,
    services::{ServicePage, form_errors, service_url},
    session,
    view::Ctx,
};
use crate::{
    domain::{roles::Action, services::Interface},
    ops::{self, Endpoint, FieldErrors, Project, Service, endpoints::EndpointInput},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/services/{id}/endpoints",
            post(endpoint_post),
        )
        .route(
            "/projects/{slug}/services/{id}/endpoints/{endpoint_id}/edit",
            get(endpoint_edit_get).post(endpoint_edit_post),
        )
        .route(
            "/projects/{slug}/services/{id}/endpoints/{endpoint_id}/delete",
            post(endpoint_delete_post),
        )
        .route("/projects/{slug}/endpoints", get(endpoints_get))
}

async fn endpoint_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<EndpointInput>,
) -> Result<Response, PageError> {
    let errors = match ops::endpoints::add_endpoint(&state.ops, &member, &id, &form).await {
        Ok(_) => {
            session::set_notice(&member.session, "Endpoint added.").await?;
            return Ok(Redirect::to(&service_url(member.project(), &id)).into_response());
        }
        Err(e) => form_errors(e)?,
    };
    let mut page = ServicePage::build(&state, member, &id).await?;
    page.endpoint = form;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "endpoint_edit.html")]
struct EndpointEditPage {
    ctx: Ctx,
    project: Project,
    service: Service,
    endpoint_id: String,
    interfaces: [Interface; 3],
    /// As stored, or as typed when it was refused.
    endpoint: EndpointInput,
    errors: FieldErrors,
}

impl EndpointEditPage {
    fn new(
        member: ProjectMember,
        service: Service,
        endpoint_id: String,
        endpoint: EndpointInput,
        errors: FieldErrors,
    ) -> Self {
        EndpointEditPage {
            project: member.principal.project().clone(),
            ctx: member.ctx,
            service,
            endpoint_id,
            interfaces: Interface::ALL,
            endpoint,
            errors,
        }
    }
}

async fn endpoint_edit_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, endpoint_id)): Path<(String, String, String)>,
) -> Result<EndpointEditPage, PageError> {
    let (service, endpoint) =
        ops::endpoints::endpoint(&state.ops, &member, &id, &endpoint_id).await?;
    let form = EndpointInput::from(&endpoint);
    Ok(EndpointEditPage::new(
        member,
        service,
        endpoint_id,
        form,
        FieldErrors::default(),
    ))
}

async fn endpoint_edit_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, endpoint_id)): Path<(String, String, String)>,
    Form(form): Form<EndpointInput>,
) -> Result<Response, PageError> {
    let changed =
        ops::endpoints::change_endpoint(&state.ops, &member, &id, &endpoint_id, |_| form.clone())
            .await;
    let errors = match changed {
        Ok(_) => {
            session::set_notice(&member.session, "Endpoint saved.").await?;
            return Ok(Redirect::to(&service_url(member.project(), &id)).into_response());
        }
        Err(e) => form_errors(e)?,
    };
    let (service, _) = ops::endpoints::endpoint(&state.ops, &member, &id, &endpoint_id).await?;
    let page = EndpointEditPage::new(member, service, endpoint_id, form, errors);
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn endpoint_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, endpoint_id)): Path<(String, String, String)>,
    Form(confirmation): Form<Confirmation>,
) -> Result<Response, PageError> {
    let back = service_url(member.project(), &id);
    if !confirmation.given() {
        let (service, endpoint) =
            ops::endpoints::endpoint(&state.ops, &member, &id, &endpoint_id).await?;
        return Ok(ConfirmPage {
            title: format!(
                "Remove the {} endpoint {} of {} ({}, {})?",
                endpoint.interface, endpoint.url, service.name, endpoint.site, endpoint.region
            ),
            message: "Snippets and tests stop using it at once; programs configured with it are not changed."
                .into(),
            action: format!("{back}/endpoints/{endpoint_id}/delete"),
            button: "Remove",
            back,
            alternative: None,
            fields: Vec::new(),
            ctx: member.ctx,
        }
        .into_response());
    }
    ops::endpoints::delete_endpoint(&state.ops, &member, &id, &endpoint_id).await?;
    session::set_notice(&member.session, "Endpoint removed.").await?;
    Ok(Redirect::to(&back).into_response())
}

/// Endpoints of one service at one site.
pub struct SiteEndpoints {
    pub service: String,
    pub site: String,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Template, WebTemplate)]
#[template(path = "endpoints.html")]
struct EndpointsPage {
    ctx: Ctx,
    project: Project,
    groups: Vec<SiteEndpoints>,
    auth: Vec<(String, Endpoint)>,
    /// The project's navigation links the audit log for those who may read it.
    may_view_audit: bool,
}

async fn endpoints_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<EndpointsPage, PageError> {
    let endpoints = ops::endpoints::project_endpoints(&state.ops, &member).await?;
    let (auth, groups) = group_by_site(endpoints);
    Ok(EndpointsPage {
        may_view_audit: member.may(Action::ViewAudit),
        ctx: member.ctx,
        project: member.principal.project().clone(),
        groups,
        auth,
    })
}

/// Auth endpoints apart; the others grouped by service and site (they come sorted by both, so
/// each group is a run).
fn group_by_site(
    endpoints: Vec<(String, Endpoint)>,
) -> (Vec<(String, Endpoint)>, Vec<SiteEndpoints>) {
    let mut groups: Vec<SiteEndpoints> = Vec::new();
    let mut auth = Vec::new();
    for (service, endpoint) in endpoints {
        if endpoint.interface == Interface::Auth {
            auth.push((service, endpoint));
            continue;
        }
        match groups.last_mut() {
            Some(group) if group.service == service && group.site == endpoint.site => {
                group.endpoints.push(endpoint)
            }
            _ => groups.push(SiteEndpoints {
                service,
                site: endpoint.site.clone(),
                endpoints: vec![endpoint],
            }),
        }
    }
    (auth, groups)
}
