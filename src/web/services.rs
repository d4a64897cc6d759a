//! `/projects/{slug}/services`: the services a project keeps credentials for. Everyone in the
//! project sees them; admins and owners add, edit and remove them.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::get,
};

use super::{
    AppState, PageError, confirm::ConfirmPage, extract::ProjectMember, forms::FieldErrors, session,
    view::Ctx,
};
use crate::{
    domain::{
        roles::Action,
        services::{DEFAULT_MAX_KEYS, Interface, ServiceKind},
    },
    ops::{
        self, Endpoint, OpError, Project, Service, endpoints::EndpointInput, services::ServiceInput,
    },
};

pub(super) fn service_url(project: &Project, id: &str) -> String {
    format!("/projects/{}/services/{id}", project.slug)
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/projects/{slug}/services",
            get(services_get).post(services_post),
        )
        .route(
            "/projects/{slug}/services/{id}",
            get(service_get).post(service_post),
        )
        .route(
            "/projects/{slug}/services/{id}/delete",
            get(service_delete_get).post(service_delete_post),
        )
}

/// The service form as a service fills it.
fn form_of(service: &Service) -> ServiceInput {
    ServiceInput {
        kind: service.kind.as_str().into(),
        name: service.name.clone(),
        description: service.description.clone(),
        max_keys_per_owner: service.max_keys_per_owner.to_string(),
        os_user_domain: service.os_user_domain.clone(),
        os_project_name: service.os_project_name.clone(),
        os_project_domain: service.os_project_domain.clone(),
        max_key_age_days: days(service.policy.max_age_days),
        rotation_warning_days: days(service.policy.warning_days),
    }
}

/// A policy's number of days as the form shows it: empty for none.
fn days(days: Option<i64>) -> String {
    days.map(|d| d.to_string()).unwrap_or_default()
}

/// The form for a new service.
fn blank_form() -> ServiceInput {
    ServiceInput {
        kind: ServiceKind::S3.as_str().into(),
        max_keys_per_owner: DEFAULT_MAX_KEYS.to_string(),
        os_user_domain: "Default".into(),
        os_project_domain: "Default".into(),
        ..Default::default()
    }
}

/// The field errors of a refused form; any other error is an error page.
pub(super) fn form_errors(error: OpError) -> Result<FieldErrors, PageError> {
    match error {
        OpError::Invalid(errors) => Ok(errors),
        e => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "services.html")]
struct ServicesPage {
    ctx: Ctx,
    project: Project,
    services: Vec<Service>,
    may_manage: bool,
    /// The project's navigation links the audit log for those who may read it.
    may_view_audit: bool,
    kinds: [ServiceKind; 3],
    form: ServiceInput,
    errors: FieldErrors,
}

impl ServicesPage {
    async fn build(state: &AppState, member: ProjectMember) -> Result<Self, PageError> {
        let services = ops::services::list(&state.ops, &member).await?;
        Ok(ServicesPage {
            may_manage: member.may(Action::ManageServices),
            may_view_audit: member.may(Action::ViewAudit),
            ctx: member.ctx,
            project: member.principal.project().clone(),
            services,
            kinds: ServiceKind::ALL,
            form: blank_form(),
            errors: FieldErrors::default(),
        })
    }
}

async fn services_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<ServicesPage, PageError> {
    ServicesPage::build(&state, member).await
}

async fn services_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<ServiceInput>,
) -> Result<Response, PageError> {
    let errors = match ops::services::create(&state.ops, &member, &form).await {
        Ok((id, name)) => {
            let notice = format!("Service {name} added. Add its endpoints next.");
            session::set_notice(&member.session, notice).await?;
            return Ok(Redirect::to(&service_url(member.project(), &id)).into_response());
        }
        Err(e) => form_errors(e)?,
    };
    let mut page = ServicesPage::build(&state, member).await?;
    page.form = form;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "service.html")]
pub(super) struct ServicePage {
    ctx: Ctx,
    project: Project,
    service: Service,
    endpoints: Vec<Endpoint>,
    may_manage: bool,
    interfaces: [Interface; 3],
    form: ServiceInput,
    pub(super) endpoint: EndpointInput,
    pub(super) errors: FieldErrors,
}

impl ServicePage {
    pub(super) async fn build(
        state: &AppState,
        member: ProjectMember,
        id: &str,
    ) -> Result<Self, PageError> {
        let (service, endpoints) = ops::services::find(&state.ops, &member, id).await?;
        Ok(ServicePage {
            may_manage: member.may(Action::ManageServices),
            ctx: member.ctx,
            project: member.principal.project().clone(),
            form: form_of(&service),
            service,
            endpoints,
            interfaces: Interface::ALL,
            endpoint: EndpointInput::default(),
            errors: FieldErrors::default(),
        })
    }
}

async fn service_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ServicePage, PageError> {
    ServicePage::build(&state, member, &id).await
}

async fn service_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<ServiceInput>,
) -> Result<Response, PageError> {
    let errors = match ops::services::update(&state.ops, &member, &id, &form).await {
        Ok(()) => {
            session::set_notice(&member.session, "Service saved.").await?;
            return Ok(Redirect::to(&service_url(member.project(), &id)).into_response());
        }
        Err(e) => form_errors(e)?,
    };
    let mut page = ServicePage::build(&state, member, &id).await?;
    // The kind is fixed once a service exists.
    page.form = ServiceInput {
        kind: page.form.kind.clone(),
        ..form
    };
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn service_delete_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ConfirmPage, PageError> {
    let service = ops::services::to_delete(&state.ops, &member, &id).await?;
    let base = service_url(member.project(), &id);
    Ok(ConfirmPage {
        ctx: member.ctx,
        title: format!("Delete the service {}?", service.name),
        message: "The service and its endpoints are removed from the project. A service that still has credentials cannot be deleted: delete its credentials first.".into(),
        action: format!("{base}/delete"),
        button: "Delete service",
        back: base,
        alternative: None,
        fields: Vec::new(),
    })
}

async fn service_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((slug, id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let (notice, to) = match ops::services::delete(&state.ops, &member, &id).await {
        Ok(service) => (
            format!("Service {} deleted.", service.name),
            format!("/projects/{slug}/services"),
        ),
        Err(refusal @ OpError::Refused(_)) => {
            (refusal.message(), service_url(member.project(), &id))
        }
        Err(e) => return Err(e.into()),
    };
    session::set_notice(&member.session, notice).await?;
    Ok(Redirect::to(&to))
}
