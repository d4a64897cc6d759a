//! `/projects/{slug}/services` and `/projects/{slug}/endpoints`: the services a project keeps
//! credentials for, and where they are reached. Everyone in the project sees them; admins and
//! owners add, edit and remove them.

use askama::Template;
use askama_web::WebTemplate;
use axum::{
    Form, Router,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;

use super::{AppState, PageError, extract::ProjectMember, forms::FieldErrors, session, view::Ctx};
use crate::{
    db::{
        self,
        projects::Project,
        services::{Endpoint, Service, ServiceError, ServiceFields},
    },
    domain::{
        roles::Action,
        services::{DEFAULT_MAX_KEYS, Interface, MAX_KEYS_RANGE, ServiceKind},
        validate,
    },
};

const NAME_TAKEN: &str = "A service with this name already exists in the project.";

fn service_url(project: &Project, id: &str) -> String {
    format!("/projects/{}/services/{id}", project.slug)
}

/// The service of this project named in the path, if the member may manage services.
pub(super) async fn managed_service(
    state: &AppState,
    member: &ProjectMember,
    id: &str,
) -> Result<Service, PageError> {
    member.require(Action::ManageServices)?;
    db::services::find(&state.db, &member.project.id, id)
        .await?
        .ok_or(PageError::NotFound)
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
        .route(
            "/projects/{slug}/services/{id}/endpoints",
            post(endpoint_post),
        )
        .route(
            "/projects/{slug}/services/{id}/endpoints/{endpoint_id}/delete",
            post(endpoint_delete_post),
        )
        .route("/projects/{slug}/endpoints", get(endpoints_get))
}

/// The service form, as typed.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ServiceForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    max_keys_per_owner: String,
    #[serde(default)]
    os_user_domain: String,
    #[serde(default)]
    os_project_name: String,
    #[serde(default)]
    os_project_domain: String,
}

impl ServiceForm {
    fn from_service(service: &Service) -> Self {
        ServiceForm {
            kind: service.kind.as_str().into(),
            name: service.name.clone(),
            description: service.description.clone(),
            max_keys_per_owner: service.max_keys_per_owner.to_string(),
            os_user_domain: service.os_user_domain.clone(),
            os_project_name: service.os_project_name.clone(),
            os_project_domain: service.os_project_domain.clone(),
        }
    }

    fn blank() -> Self {
        ServiceForm {
            kind: ServiceKind::S3.as_str().into(),
            max_keys_per_owner: DEFAULT_MAX_KEYS.to_string(),
            os_user_domain: "Default".into(),
            os_project_domain: "Default".into(),
            ..Default::default()
        }
    }

    fn check(&self, errors: &mut FieldErrors) -> Option<ServiceFields> {
        let kind = ServiceKind::parse(&self.kind);
        if kind.is_none() {
            errors.add("kind", "Choose the kind of service.");
        }
        let name = errors.check(
            "name",
            validate::label(&self.name, "Enter a name for the service."),
        );
        let description = errors.check("description", validate::description(&self.description));
        let max_keys = match self.max_keys_per_owner.trim().parse::<i64>() {
            Ok(n) if MAX_KEYS_RANGE.contains(&n) => n,
            _ => {
                errors.add("max_keys_per_owner", "Enter a number from 1 to 5.");
                DEFAULT_MAX_KEYS
            }
        };
        let openstack = kind == Some(ServiceKind::OpenStack);
        let (user_domain, project, project_domain) = if openstack {
            (
                errors.check(
                    "os_user_domain",
                    validate::label(
                        &self.os_user_domain,
                        "Enter the users' domain, e.g. Default.",
                    ),
                ),
                errors.check(
                    "os_project_name",
                    validate::label(&self.os_project_name, "Enter the OpenStack project."),
                ),
                errors.check(
                    "os_project_domain",
                    validate::label(
                        &self.os_project_domain,
                        "Enter the project's domain, e.g. Default.",
                    ),
                ),
            )
        } else {
            (String::new(), String::new(), String::new())
        };
        let kind = kind?;
        errors.is_empty().then_some(ServiceFields {
            kind,
            name,
            description,
            max_keys_per_owner: max_keys,
            os_user_domain: user_domain,
            os_project_name: project,
            os_project_domain: project_domain,
        })
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "services.html")]
struct ServicesPage {
    ctx: Ctx,
    project: Project,
    services: Vec<Service>,
    may_manage: bool,
    kinds: [ServiceKind; 3],
    form: ServiceForm,
    errors: FieldErrors,
}

impl ServicesPage {
    async fn build(state: &AppState, member: ProjectMember) -> Result<Self, PageError> {
        let services = db::services::list(&state.db, &member.project.id).await?;
        Ok(ServicesPage {
            may_manage: member.may(Action::ManageServices),
            ctx: member.ctx,
            project: member.project,
            services,
            kinds: ServiceKind::ALL,
            form: ServiceForm::blank(),
            errors: FieldErrors::default(),
        })
    }
}

async fn services_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<ServicesPage, PageError> {
    member.require(Action::ViewProject)?;
    ServicesPage::build(&state, member).await
}

async fn services_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Form(form): Form<ServiceForm>,
) -> Result<Response, PageError> {
    member.require(Action::ManageServices)?;
    let mut errors = FieldErrors::default();
    if let Some(fields) = form.check(&mut errors) {
        match db::services::create(&state.db, &member.project.id, &fields).await {
            Ok(id) => {
                member
                    .audit(&state, "service.create", &fields.name, fields.kind.as_str())
                    .await?;
                session::set_notice(
                    &member.session,
                    format!("Service {} added. Add its endpoints next.", fields.name),
                )
                .await?;
                return Ok(Redirect::to(&service_url(&member.project, &id)).into_response());
            }
            Err(ServiceError::NameTaken) => errors.add("name", NAME_TAKEN),
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
    }
    let mut page = ServicesPage::build(&state, member).await?;
    page.form = form;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "service.html")]
struct ServicePage {
    ctx: Ctx,
    project: Project,
    service: Service,
    endpoints: Vec<Endpoint>,
    may_manage: bool,
    interfaces: [Interface; 3],
    form: ServiceForm,
    endpoint: EndpointForm,
    errors: FieldErrors,
}

impl ServicePage {
    async fn build(state: &AppState, member: ProjectMember, id: &str) -> Result<Self, PageError> {
        let service = db::services::find(&state.db, &member.project.id, id)
            .await?
            .ok_or(PageError::NotFound)?;
        let endpoints = db::services::endpoints(&state.db, &service.id).await?;
        Ok(ServicePage {
            may_manage: member.may(Action::ManageServices),
            ctx: member.ctx,
            project: member.project,
            form: ServiceForm::from_service(&service),
            service,
            endpoints,
            interfaces: Interface::ALL,
            endpoint: EndpointForm::default(),
            errors: FieldErrors::default(),
        })
    }
}

async fn service_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ServicePage, PageError> {
    member.require(Action::ViewProject)?;
    ServicePage::build(&state, member, &id).await
}

async fn service_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(mut form): Form<ServiceForm>,
) -> Result<Response, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    // The kind is fixed once a service exists.
    form.kind = service.kind.as_str().into();
    let mut errors = FieldErrors::default();
    if let Some(fields) = form.check(&mut errors) {
        match db::services::update(&state.db, &member.project.id, &id, &fields).await {
            Ok(()) => {
                member
                    .audit(&state, "service.update", &fields.name, "")
                    .await?;
                session::set_notice(&member.session, "Service saved.").await?;
                return Ok(Redirect::to(&service_url(&member.project, &id)).into_response());
            }
            Err(ServiceError::NameTaken) => errors.add("name", NAME_TAKEN),
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
    }
    let mut page = ServicePage::build(&state, member, &id).await?;
    page.form = form;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    pub ctx: Ctx,
    pub title: String,
    pub message: String,
    pub action: String,
    pub button: &'static str,
    pub back: String,
    /// A safer way to the same end, as (label, link): "Add a second key first".
    pub alternative: Option<(&'static str, String)>,
}

async fn service_delete_get(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<ConfirmPage, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let base = service_url(&member.project, &id);
    Ok(ConfirmPage {
        ctx: member.ctx,
        title: format!("Delete the service {}?", service.name),
        message: "The service and its endpoints are removed from the project. A service that still has credentials cannot be deleted: delete its credentials first.".into(),
        action: format!("{base}/delete"),
        button: "Delete service",
        back: base,
        alternative: None,
    })
}

async fn service_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let slug = member.project.slug.clone();
    match db::services::delete(&state.db, &member.project.id, &id).await {
        Ok(()) => {
            member
                .audit(&state, "service.delete", &service.name, "")
                .await?;
            session::set_notice(
                &member.session,
                format!("Service {} deleted.", service.name),
            )
            .await?;
            Ok(Redirect::to(&format!("/projects/{slug}/services")))
        }
        Err(ServiceError::HasCredentials) => {
            session::set_notice(
                &member.session,
                format!("{} still has credentials: delete them first.", service.name),
            )
            .await?;
            Ok(Redirect::to(&service_url(&member.project, &id)))
        }
        Err(e) => Err(anyhow::Error::from(e).into()),
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct EndpointForm {
    #[serde(default)]
    site: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    interface: String,
    #[serde(default)]
    url: String,
}

async fn endpoint_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id)): Path<(String, String)>,
    Form(form): Form<EndpointForm>,
) -> Result<Response, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    let mut errors = FieldErrors::default();
    let site = errors.check(
        "site",
        validate::label(&form.site, "Enter the site, e.g. Si Racha, Thailand."),
    );
    let region = errors.check(
        "region",
        validate::label(&form.region, "Enter the region, e.g. th-sr-1."),
    );
    let interface = Interface::parse(&form.interface);
    if interface.is_none() {
        errors.add("interface", "Choose public, private or auth.");
    }
    let url = errors.check("url", validate::endpoint_url(&form.url));
    if let (true, Some(interface)) = (errors.is_empty(), interface) {
        db::services::add_endpoint(&state.db, &service.id, &site, &region, interface, &url).await?;
        member
            .audit(
                &state,
                "endpoint.add",
                &service.name,
                &format!("{interface} {url}"),
            )
            .await?;
        session::set_notice(&member.session, "Endpoint added.").await?;
        return Ok(Redirect::to(&service_url(&member.project, &id)).into_response());
    }
    let mut page = ServicePage::build(&state, member, &id).await?;
    page.endpoint = form;
    page.errors = errors;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

async fn endpoint_delete_post(
    State(state): State<AppState>,
    member: ProjectMember,
    Path((_, id, endpoint_id)): Path<(String, String, String)>,
) -> Result<Redirect, PageError> {
    let service = managed_service(&state, &member, &id).await?;
    if !db::services::delete_endpoint(&state.db, &service.id, &endpoint_id).await? {
        return Err(PageError::NotFound);
    }
    member
        .audit(&state, "endpoint.delete", &service.name, "")
        .await?;
    session::set_notice(&member.session, "Endpoint removed.").await?;
    Ok(Redirect::to(&service_url(&member.project, &id)))
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
}

async fn endpoints_get(
    State(state): State<AppState>,
    member: ProjectMember,
) -> Result<EndpointsPage, PageError> {
    member.require(Action::ViewProject)?;
    let services = db::services::list(&state.db, &member.project.id).await?;
    let endpoints = db::services::project_endpoints(&state.db, &member.project.id).await?;
    let name_of = |service_id: &str| {
        services
            .iter()
            .find(|s| s.id == service_id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    let mut groups: Vec<SiteEndpoints> = Vec::new();
    let mut auth = Vec::new();
    // Endpoints come sorted by service and site, so each group is a run.
    for endpoint in endpoints {
        let service = name_of(&endpoint.service_id);
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
    Ok(EndpointsPage {
        ctx: member.ctx,
        project: member.project,
        groups,
        auth,
    })
}
