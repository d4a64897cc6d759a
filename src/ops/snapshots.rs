//! What a project's pages list (its services, apps, and per service its endpoints and
//! credentials), kept in memory for as long as the project's version is the one the lists were
//! read at. Database triggers move the version on with every change to any of them (migration
//! 0009), so a page reads the version with the project (which it reads anyway to authorize) and
//! the lists only after a change, in whichever process made it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::db::{
    self, Db,
    apps::App,
    credentials::{CredentialInfo, Owner},
    projects::Project,
    services::{Endpoint, Service},
};

/// Projects kept at most; past it, the oldest reads start over.
const MAX_PROJECTS: usize = 1024;

/// A project's lists at one version.
pub struct Snapshot {
    version: i64,
    pub services: Vec<Service>,
    pub apps: Arc<[App]>,
    by_service: Mutex<HashMap<String, Arc<ServiceLists>>>,
}

/// A service's endpoints and credentials (those `list_for_service` shows).
pub struct ServiceLists {
    pub endpoints: Vec<Endpoint>,
    /// Each credential with how many keys its owner holds for the service; shared with every
    /// listing made from them: a page view copies and counts none of them.
    /// They carry no secret: the rows' sealed parts are dropped when the lists are read.
    pub credentials: Vec<(Arc<CredentialInfo>, i64)>,
    /// The places in `credentials` in the order of the credentials' ids: the API pages by id.
    pub by_id: Vec<usize>,
}

#[derive(Default)]
pub struct Snapshots {
    projects: Mutex<HashMap<String, Arc<Snapshot>>>,
}

impl Snapshots {
    /// The lists of `project` at the version it was read at (or later).
    pub async fn project(&self, db: &Db, project: &Project) -> sqlx::Result<Arc<Snapshot>> {
        if let Some(snapshot) = self.current(project) {
            return Ok(snapshot);
        }
        // Read after the version: what is read is at least as new as the version says.
        let snapshot = Arc::new(Snapshot {
            version: project.version,
            services: db::services::list(db, &project.id).await?,
            apps: db::apps::list(db, &project.id).await?.into(),
            by_service: Mutex::default(),
        });
        let mut projects = self.projects.lock().expect("snapshot lock");
        if projects.len() >= MAX_PROJECTS {
            projects.clear();
        }
        projects.insert(project.id.clone(), snapshot.clone());
        Ok(snapshot)
    }

    fn current(&self, project: &Project) -> Option<Arc<Snapshot>> {
        let projects = self.projects.lock().expect("snapshot lock");
        projects
            .get(&project.id)
            .filter(|s| s.version == project.version)
            .cloned()
    }
}

impl Snapshot {
    /// The endpoints and credentials of `service_id`, one of the snapshot's services.
    pub async fn service(&self, db: &Db, service_id: &str) -> sqlx::Result<Arc<ServiceLists>> {
        if let Some(lists) = self
            .by_service
            .lock()
            .expect("snapshot lock")
            .get(service_id)
        {
            return Ok(lists.clone());
        }
        let credentials = db::credentials::list_for_service(db, service_id).await?;
        let mut by_owner: HashMap<&Owner, i64> = HashMap::new();
        for credential in &credentials {
            *by_owner.entry(&credential.owner).or_default() += 1;
        }
        let held: Vec<i64> = credentials.iter().map(|c| by_owner[&c.owner]).collect();
        let credentials: Vec<_> = credentials.into_iter().map(|c| c.info).zip(held).collect();
        let mut by_id: Vec<usize> = (0..credentials.len()).collect();
        by_id.sort_by(|&a, &b| credentials[a].0.id.cmp(&credentials[b].0.id));
        let lists = Arc::new(ServiceLists {
            endpoints: db::services::endpoints(db, service_id).await?,
            credentials,
            by_id,
        });
        self.by_service
            .lock()
            .expect("snapshot lock")
            .insert(service_id.to_string(), lists.clone());
        Ok(lists)
    }
}
