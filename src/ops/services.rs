//! A project's services: everyone in the project sees them; admins and owners add, change and
//! remove them (their endpoints: `endpoints`).

use serde::Deserialize;

use super::{FieldErrors, OpError, Ops, Principal};
use crate::{
    db::{
        self,
        services::{Endpoint, Service, ServiceError, ServiceFields},
    },
    domain::{
        audit::AuditAction,
        roles::Action,
        rotation::RotationPolicy,
        services::{DEFAULT_MAX_KEYS, MAX_KEYS_RANGE, ServiceKind},
        validate,
    },
};

const NAME_TAKEN: &str = "A service with this name already exists in the project.";

/// The service `id` of the principal's project, if the principal manages services.
pub(crate) async fn managed_service(
    ops: &Ops,
    who: &Principal,
    id: &str,
) -> Result<Service, OpError> {
    who.require(Action::ManageServices)?;
    db::services::find(&ops.db, &who.project().id, id)
        .await?
        .ok_or(OpError::NotFound)
}

pub async fn list(ops: &Ops, who: &Principal) -> Result<Vec<Service>, OpError> {
    who.require(Action::ViewProject)?;
    Ok(db::services::list(&ops.db, &who.project().id).await?)
}

/// A service and its endpoints.
pub async fn find(
    ops: &Ops,
    who: &Principal,
    id: &str,
) -> Result<(Service, Vec<Endpoint>), OpError> {
    who.require(Action::ViewProject)?;
    let service = db::services::find(&ops.db, &who.project().id, id)
        .await?
        .ok_or(OpError::NotFound)?;
    let endpoints = db::services::endpoints(&ops.db, &service.id).await?;
    Ok((service, endpoints))
}

/// A service as typed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceInput {
    pub kind: String,
    pub name: String,
    pub description: String,
    pub max_keys_per_owner: String,
    pub os_user_domain: String,
    pub os_project_name: String,
    pub os_project_domain: String,
    /// The rotation policy: days, or empty for none.
    pub max_key_age_days: String,
    pub rotation_warning_days: String,
}

impl ServiceInput {
    fn check(&self) -> Result<ServiceFields, OpError> {
        let mut errors = FieldErrors::default();
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
        let mut os_field = |field, value: &str, message| {
            if openstack {
                errors.check(field, validate::label(value, message))
            } else {
                String::new()
            }
        };
        let user_domain = os_field(
            "os_user_domain",
            &self.os_user_domain,
            "Enter the users' domain, e.g. Default.",
        );
        let project = os_field(
            "os_project_name",
            &self.os_project_name,
            "Enter the OpenStack project.",
        );
        let project_domain = os_field(
            "os_project_domain",
            &self.os_project_domain,
            "Enter the project's domain, e.g. Default.",
        );
        let policy = RotationPolicy::check(&self.max_key_age_days, &self.rotation_warning_days)
            .unwrap_or_else(|refused| {
                for e in refused {
                    errors.add(e.field(), e.message());
                }
                RotationPolicy::default()
            });
        errors.into_result()?;
        Ok(ServiceFields {
            kind: kind.expect("checked above"),
            name,
            description,
            max_keys_per_owner: max_keys,
            os_user_domain: user_domain,
            os_project_name: project,
            os_project_domain: project_domain,
            policy,
        })
    }
}

fn name_taken(error: ServiceError) -> OpError {
    match error {
        ServiceError::NameTaken => OpError::field("name", NAME_TAKEN),
        e => OpError::Internal(e.into()),
    }
}

/// Adds a service; returns its id and name.
pub async fn create(
    ops: &Ops,
    who: &Principal,
    input: &ServiceInput,
) -> Result<(String, String), OpError> {
    who.require(Action::ManageServices)?;
    let fields = input.check()?;
    let id = db::services::create(&ops.db, &who.project().id, &fields)
        .await
        .map_err(name_taken)?;
    ops.record(
        who,
        AuditAction::ServiceCreate,
        &fields.name,
        fields.kind.as_str(),
    )
    .await?;
    Ok((id, fields.name))
}

/// Changes a service; its kind stays what it was.
pub async fn update(
    ops: &Ops,
    who: &Principal,
    id: &str,
    input: &ServiceInput,
) -> Result<(), OpError> {
    let service = managed_service(ops, who, id).await?;
    let input = ServiceInput {
        kind: service.kind.as_str().into(),
        ..input.clone()
    };
    let fields = input.check()?;
    db::services::update(&ops.db, &who.project().id, id, &fields)
        .await
        .map_err(name_taken)?;
    ops.record(who, AuditAction::ServiceUpdate, &fields.name, "")
        .await
}

/// The service, for its delete confirmation.
pub async fn to_delete(ops: &Ops, who: &Principal, id: &str) -> Result<Service, OpError> {
    managed_service(ops, who, id).await
}

/// The service, for the confirmation of a change to it (a key at its backend, a credential it
/// no longer has): `NotFound` for a service of another project, `Forbidden` for who may not.
pub async fn to_change(ops: &Ops, who: &Principal, id: &str) -> Result<Service, OpError> {
    managed_service(ops, who, id).await
}

/// Deletes a service and its endpoints; refused while it holds credentials, which would
/// otherwise go with it.
pub async fn delete(ops: &Ops, who: &Principal, id: &str) -> Result<Service, OpError> {
    let service = managed_service(ops, who, id).await?;
    match db::services::delete(&ops.db, &who.project().id, id).await {
        Ok(()) => {}
        Err(ServiceError::HasCredentials) => {
            return Err(OpError::Refused(format!(
                "{} still has credentials: delete them first.",
                service.name
            )));
        }
        Err(e) => return Err(OpError::Internal(e.into())),
    }
    ops.record(who, AuditAction::ServiceDelete, &service.name, "")
        .await?;
    Ok(service)
}
