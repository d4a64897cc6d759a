//! What the View Credentials page shows a principal: per service, their own keys, the project's
//! app keys and (for admins) other members' keys, without secrets.

use std::sync::Arc;

use super::{OpError, Ops, Principal, managed};
use crate::{
    db::{
        self,
        apps::App,
        credentials::{CredentialInfo, Owner},
        services::{Endpoint, Service},
    },
    domain::{
        roles::{Action, CredentialAction, Whose},
        services::DriverKind,
        time::utc,
    },
    ops::key_status::{KnownKey, key_status},
};

/// A credential as a principal sees it.
pub struct Listed {
    pub credential: Arc<CredentialInfo>,
    /// Whether the principal may reveal, regenerate, edit and delete it.
    pub may_manage: bool,
    /// How many keys its owner holds for the service.
    pub held: i64,
    /// The key's status and last use as the backend reports them (IAM), else empty.
    pub backend_status: String,
    /// The departed members who saw its secret since it last changed: rotate it.
    pub seen_by_departed: Vec<String>,
}

pub struct Listing {
    /// The services matching the search.
    pub services: Vec<Service>,
    pub selected: Option<Service>,
    pub endpoints: Vec<Endpoint>,
    pub mine: Vec<Listed>,
    pub app_keys: Vec<Listed>,
    /// Other members' keys: only for those who manage them.
    pub others: Vec<Listed>,
    pub apps: Arc<[App]>,
    /// Why the backend's view of the keys could not be shown, if it could not.
    pub backend_problem: String,
}

/// Whose credentials `who` sees: their own, the project's app keys and, for those who manage
/// them (admins and owners), other members' keys. Viewers and members learn that others hold
/// keys only through admins. View Credentials, the API's list and the health page ask it.
pub(crate) fn visible_to(who: &Principal) -> impl Fn(&Owner) -> bool + '_ {
    let sees_others = who.may(Action::Credential(CredentialAction::Reveal, Whose::Others));
    move |owner| matches!(owner, Owner::App(_)) || sees_others || who.whose(owner) == Whose::Own
}

/// The credentials of `service_id` (or of the first service matching `q`).
pub async fn list(
    ops: &Ops,
    who: &Principal,
    service_id: Option<&str>,
    q: &str,
) -> Result<Listing, OpError> {
    who.require(Action::ViewProject)?;
    let needle = q.trim().to_lowercase();
    let snapshot = ops.snapshots.project(&ops.db, who.project()).await?;
    let services: Vec<Service> = snapshot
        .services
        .iter()
        .filter(|s| {
            needle.is_empty()
                || s.name.to_lowercase().contains(&needle)
                || s.kind.as_str() == needle
        })
        .cloned()
        .collect();
    let selected = match service_id {
        Some(id) => services.iter().find(|s| s.id == id).cloned(),
        None => services.first().cloned(),
    };
    let mut listing = Listing {
        services,
        selected: None,
        endpoints: Vec::new(),
        mine: Vec::new(),
        app_keys: Vec::new(),
        others: Vec::new(),
        apps: snapshot.apps.clone(),
        backend_problem: String::new(),
    };
    let Some(service) = selected else {
        return Ok(listing);
    };
    let lists = snapshot.service(&ops.db, &service.id).await?;
    listing.endpoints = lists.endpoints.clone();
    let credentials = &lists.credentials;
    // The backend's status is asked for only when there are keys to show it on.
    let mut backend_keys = Arc::default();
    if service.driver == DriverKind::AwsIam && !credentials.is_empty() {
        match key_status(ops, &service).await {
            Some((status, current)) => {
                let mut notes = Vec::new();
                if let Some(problem) = &status.problem {
                    notes.push(format!(
                        "The backend's key status is not available: {problem}"
                    ));
                }
                if let Some((at, keys)) = status.keys {
                    if !current {
                        notes.push(format!(
                            "The key status shown is the backend's as of {}.",
                            utc(at)
                        ));
                    }
                    backend_keys = keys;
                }
                listing.backend_problem = notes.join(" ");
            }
            None => {
                listing.backend_problem = "The backend's key status is being fetched; reload the page in a moment to see it.".into();
            }
        }
    }
    let mut departed = db::departures::flagged(&ops.db, &service.id).await?;
    let visible = visible_to(who);
    for (credential, held) in credentials {
        if !visible(&credential.owner) {
            continue;
        }
        let whose = who.whose(&credential.owner);
        let listed = Listed {
            may_manage: who.may(Action::Credential(CredentialAction::Reveal, whose)),
            held: *held,
            backend_status: backend_keys
                .iter()
                .find(|k| k.access_key == credential.access_key)
                .map(KnownKey::describe)
                .unwrap_or_default(),
            seen_by_departed: departed.remove(&credential.id).unwrap_or_default(),
            credential: credential.clone(),
        };
        match (&credential.owner, whose) {
            (Owner::User(_), Whose::Own) => listing.mine.push(listed),
            (Owner::App(_), _) => listing.app_keys.push(listed),
            (Owner::User(_), Whose::Others) => listing.others.push(listed),
        }
    }
    listing.selected = Some(service);
    Ok(listing)
}

/// One page of the credentials of `service_id` the principal sees (as [`list`] shows them),
/// in the order of their ids, from the project's snapshot, where they are sorted once: those
/// after `after`, at most `limit`, and whether more remain.
pub async fn page(
    ops: &Ops,
    who: &Principal,
    service_id: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<Arc<CredentialInfo>>, bool), OpError> {
    who.require(Action::ViewProject)?;
    let snapshot = ops.snapshots.project(&ops.db, who.project()).await?;
    if !snapshot.services.iter().any(|s| s.id == service_id) {
        return Err(OpError::NotFound);
    }
    let lists = snapshot.service(&ops.db, service_id).await?;
    let visible = visible_to(who);
    let start = after.map_or(0, |after| {
        lists
            .by_id
            .partition_point(|&i| lists.credentials[i].0.id.as_str() <= after)
    });
    let mut seen = lists.by_id[start..]
        .iter()
        .map(|&i| &lists.credentials[i].0)
        .filter(|c| visible(&c.owner));
    let page = seen.by_ref().take(limit).cloned().collect();
    Ok((page, seen.next().is_some()))
}

/// What a confirmation page (Regenerate, Delete) needs: the credential, its service, and how
/// many keys its owner holds there.
pub async fn confirm(
    ops: &Ops,
    who: &Principal,
    id: &str,
    action: CredentialAction,
) -> Result<(Arc<CredentialInfo>, Service, i64), OpError> {
    let (credential, service) = managed(ops, who, id, action).await?;
    let held = db::credentials::count_for_owner(&ops.db, &service.id, &credential.owner).await?;
    Ok((credential.info, service, held))
}
