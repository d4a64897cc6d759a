//! A project's services and their endpoints.

use sqlx::FromRow;

use super::{Db, new_id, now, unique_as};
use crate::domain::{
    rotation::RotationPolicy,
    services::{DriverKind, Interface, ServiceKind},
};

#[derive(Clone, Debug)]
pub struct Service {
    pub id: String,
    pub project_id: String,
    pub kind: ServiceKind,
    pub name: String,
    pub description: String,
    pub driver: DriverKind,
    pub max_keys_per_owner: i64,
    pub os_user_domain: String,
    pub os_project_name: String,
    pub os_project_domain: String,
    pub created_at: i64,
    /// How old its keys may grow, and when the pages warn.
    pub policy: RotationPolicy,
}

#[derive(FromRow)]
struct ServiceRow {
    id: String,
    project_id: String,
    kind: String,
    name: String,
    description: String,
    driver: String,
    max_keys_per_owner: i64,
    os_user_domain: String,
    os_project_name: String,
    os_project_domain: String,
    created_at: i64,
    max_key_age_days: Option<i64>,
    rotation_warning_days: Option<i64>,
}

impl TryFrom<ServiceRow> for Service {
    type Error = sqlx::Error;

    fn try_from(row: ServiceRow) -> Result<Self, Self::Error> {
        let kind = ServiceKind::parse(&row.kind).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown service kind {:?}", row.kind).into())
        })?;
        let driver = DriverKind::parse(&row.driver).ok_or_else(|| {
            sqlx::Error::Decode(format!("unknown service driver {:?}", row.driver).into())
        })?;
        Ok(Service {
            id: row.id,
            project_id: row.project_id,
            kind,
            name: row.name,
            description: row.description,
            driver,
            max_keys_per_owner: row.max_keys_per_owner,
            os_user_domain: row.os_user_domain,
            os_project_name: row.os_project_name,
            os_project_domain: row.os_project_domain,
            created_at: row.created_at,
            policy: RotationPolicy {
                max_age_days: row.max_key_age_days,
                warning_days: row.rotation_warning_days,
            },
        })
    }
}

const COLUMNS: &str = "id, project_id, kind, name, description, driver, max_keys_per_owner, \
                       os_user_domain, os_project_name, os_project_domain, created_at, \
                       max_key_age_days, rotation_warning_days";

/// What an admin enters for a service.
#[derive(Clone, Debug)]
pub struct ServiceFields {
    pub kind: ServiceKind,
    pub name: String,
    pub description: String,
    pub max_keys_per_owner: i64,
    pub os_user_domain: String,
    pub os_project_name: String,
    pub os_project_domain: String,
    pub policy: RotationPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("a service with this name already exists in the project")]
    NameTaken,
    #[error("the service still has credentials")]
    HasCredentials,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub async fn list(db: &Db, project_id: &str) -> sqlx::Result<Vec<Service>> {
    let rows: Vec<ServiceRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from services where project_id = $1 order by name"
    ))
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(Service::try_from).collect()
}

pub async fn find(db: &Db, project_id: &str, id: &str) -> sqlx::Result<Option<Service>> {
    let row: Option<ServiceRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from services where project_id = $1 and id = $2"
    ))
    .bind(project_id)
    .bind(id)
    .fetch_optional(db.pool())
    .await?;
    row.map(Service::try_from).transpose()
}

pub async fn create(
    db: &Db,
    project_id: &str,
    fields: &ServiceFields,
) -> Result<String, ServiceError> {
    let id = new_id();
    sqlx::query(
        "insert into services (id, project_id, kind, name, description, driver, max_keys_per_owner,
             os_user_domain, os_project_name, os_project_domain, created_at, max_key_age_days,
             rotation_warning_days)
         values ($1, $2, $3, $4, $5, 'stored', $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&id)
    .bind(project_id)
    .bind(fields.kind.as_str())
    .bind(&fields.name)
    .bind(&fields.description)
    .bind(fields.max_keys_per_owner)
    .bind(&fields.os_user_domain)
    .bind(&fields.os_project_name)
    .bind(&fields.os_project_domain)
    .bind(now())
    .bind(fields.policy.max_age_days)
    .bind(fields.policy.warning_days)
    .execute(db.pool())
    .await
    .map_err(|e| unique_as(e, ServiceError::NameTaken))?;
    Ok(id)
}

/// Updates a service; its kind stays what it was created as. Under the project's lock, taken
/// first as by every write that holds it (the trigger that moves the project's version on locks
/// the project row too: the other order could deadlock with them on PostgreSQL).
pub async fn update(
    db: &Db,
    project_id: &str,
    id: &str,
    fields: &ServiceFields,
) -> Result<(), ServiceError> {
    let mut tx = db.pool().begin().await?;
    super::projects::lock(&mut tx, project_id).await?;
    sqlx::query(
        "update services set name = $1, description = $2, max_keys_per_owner = $3,
             os_user_domain = $4, os_project_name = $5, os_project_domain = $6,
             max_key_age_days = $7, rotation_warning_days = $8
         where project_id = $9 and id = $10",
    )
    .bind(&fields.name)
    .bind(&fields.description)
    .bind(fields.max_keys_per_owner)
    .bind(&fields.os_user_domain)
    .bind(&fields.os_project_name)
    .bind(&fields.os_project_domain)
    .bind(fields.policy.max_age_days)
    .bind(fields.policy.warning_days)
    .bind(project_id)
    .bind(id)
    .execute(&mut *tx)
    .await
    .map_err(|e| unique_as(e, ServiceError::NameTaken))?;
    tx.commit().await?;
    Ok(())
}

/// Deletes a service with its endpoints; refused while it has credentials, so that no key is
/// lost by accident.
pub async fn delete(db: &Db, project_id: &str, id: &str) -> Result<(), ServiceError> {
    let mut tx = db.pool().begin().await?;
    super::projects::lock(&mut tx, project_id).await?;
    // Counted before deleting: credentials would go with the service (on delete cascade).
    let credentials: i64 =
        sqlx::query_scalar("select count(*) from credentials where service_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    if credentials > 0 {
        return Err(ServiceError::HasCredentials);
    }
    sqlx::query("delete from services where project_id = $1 and id = $2")
        .bind(project_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(Clone, Debug, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub site: String,
    pub region: String,
    pub interface: Interface,
    pub url: String,
    /// The region its S3 API signs with, where it differs from `region`; empty otherwise.
    pub s3_region: String,
}

impl Endpoint {
    /// The region S3 requests at this endpoint are signed for: the S3 region where one is
    /// known, else the endpoint's region, else S3's default.
    pub fn signing_region(&self) -> &str {
        if !self.s3_region.is_empty() {
            &self.s3_region
        } else if !self.region.is_empty() {
            &self.region
        } else {
            "us-east-1"
        }
    }
}

type EndpointRow = (String, String, String, String, String, String, String);

fn endpoint(row: EndpointRow) -> sqlx::Result<Endpoint> {
    let (id, service_id, site, region, interface, url, s3_region) = row;
    let interface = Interface::parse(&interface)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown interface {interface:?}").into()))?;
    Ok(Endpoint {
        id,
        service_id,
        site,
        region,
        interface,
        url,
        s3_region,
    })
}

/// Every endpoint of a project's services, by service, site, region and interface.
pub async fn project_endpoints(db: &Db, project_id: &str) -> sqlx::Result<Vec<Endpoint>> {
    let rows: Vec<EndpointRow> = sqlx::query_as(
        "select e.id, e.service_id, e.site, e.region, e.interface, e.url, e.s3_region
         from endpoints e join services s on s.id = e.service_id
         where s.project_id = $1 order by s.name, e.site, e.region, e.interface, e.url",
    )
    .bind(project_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(endpoint).collect()
}

pub async fn endpoints(db: &Db, service_id: &str) -> sqlx::Result<Vec<Endpoint>> {
    let rows: Vec<EndpointRow> = sqlx::query_as(
        "select id, service_id, site, region, interface, url, s3_region from endpoints
         where service_id = $1 order by site, region, interface, url",
    )
    .bind(service_id)
    .fetch_all(db.pool())
    .await?;
    rows.into_iter().map(endpoint).collect()
}

/// An endpoint to add, or an endpoint's new values.
pub struct NewEndpoint<'a> {
    pub site: &'a str,
    pub region: &'a str,
    pub interface: Interface,
    pub url: &'a str,
    /// Empty unless known (see [`Endpoint::s3_region`]).
    pub s3_region: &'a str,
}

pub async fn add_endpoint(db: &Db, service_id: &str, new: NewEndpoint<'_>) -> sqlx::Result<String> {
    let id = new_id();
    sqlx::query(
        "insert into endpoints (id, service_id, site, region, interface, url, s3_region, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(service_id)
    .bind(new.site)
    .bind(new.region)
    .bind(new.interface.as_str())
    .bind(new.url)
    .bind(new.s3_region)
    .bind(now())
    .execute(db.pool())
    .await?;
    Ok(id)
}

/// Gives the service's endpoint `id` the values of `new`; `false` when it is not one of the
/// service's.
pub async fn change_endpoint(
    db: &Db,
    service_id: &str,
    id: &str,
    new: NewEndpoint<'_>,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "update endpoints set site = $1, region = $2, interface = $3, url = $4, s3_region = $5
         where service_id = $6 and id = $7",
    )
    .bind(new.site)
    .bind(new.region)
    .bind(new.interface.as_str())
    .bind(new.url)
    .bind(new.s3_region)
    .bind(service_id)
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(changed.rows_affected() == 1)
}

/// Records the region the endpoint's S3 API signs with (empty: its own region).
pub async fn set_s3_region(db: &Db, service_id: &str, id: &str, region: &str) -> sqlx::Result<()> {
    sqlx::query("update endpoints set s3_region = $1 where service_id = $2 and id = $3")
        .bind(region)
        .bind(service_id)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(())
}

/// `false` when the endpoint is not one of the service's.
pub async fn delete_endpoint(db: &Db, service_id: &str, id: &str) -> sqlx::Result<bool> {
    let deleted = sqlx::query("delete from endpoints where service_id = $1 and id = $2")
        .bind(service_id)
        .bind(id)
        .execute(db.pool())
        .await?;
    Ok(deleted.rows_affected() == 1)
}

/// The service's driver settings, sealed; `None` for `stored`.
pub async fn driver_settings(db: &Db, id: &str) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar("select driver_settings from services where id = $1")
        .bind(id)
        .fetch_optional(db.pool())
        .await
        .map(Option::flatten)
}

/// Sets the service's driver and its sealed settings. A service with credentials keeps its
/// driver (their keys live at the old backend); only its settings change.
pub async fn set_driver(
    db: &Db,
    project_id: &str,
    id: &str,
    driver: DriverKind,
    sealed: Option<&[u8]>,
) -> Result<(), ServiceError> {
    let mut tx = db.pool().begin().await?;
    super::projects::lock(&mut tx, project_id).await?;
    let (current, credentials): (String, i64) = sqlx::query_as(
        "select driver, (select count(*) from credentials where service_id = $1) from services where id = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if current != driver.as_str() && credentials > 0 {
        return Err(ServiceError::HasCredentials);
    }
    sqlx::query(
        "update services set driver = $1, driver_settings = $2 where project_id = $3 and id = $4",
    )
    .bind(driver.as_str())
    .bind(sealed)
    .bind(project_id)
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
