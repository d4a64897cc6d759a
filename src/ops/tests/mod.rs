//! The life of a credential at a backend, without a backend: every operation runs against
//! [`fake::FakeDriver`] over a fresh SQLite database, and each test walks one row of the
//! reconcile table of `ops::lifecycle` or one inline path of add, regenerate and delete.
//!
//! Interrupted operations are reached honestly: the real operation runs and the fake fails
//! uncertainly at the right step, which leaves the row in its intent state.

mod fake;
mod finish_failures;
mod inline;
mod races;
mod reconcile_rows;

use std::sync::Arc;

use tempfile::TempDir;

use self::fake::{FakeDriver, Method, Outcome};
use super::{
    Field, OpError, Ops, Principal, ProjectId, RowId, Subject,
    credentials::{self, AddCredential, Added, KeySource, OwnerChoice},
    reconcile,
};
use crate::{
    crypto::master_key::MasterKey,
    db::{
        self, Db,
        audit::Actor,
        credentials::Credential,
        services::{Service, ServiceFields},
        users::NewUser,
    },
    domain::{
        roles::Role,
        services::{CredentialState, DEFAULT_MAX_KEYS, DriverKind, ServiceKind},
    },
};

/// How the owner is named in the audit log when they ask.
const OWNER: &str = "ada@example.org";
/// The actor that runs `finish` in these tests.
const RECONCILER: &str = "keyport (reconcile under test)";

/// Who picks a new key.
#[derive(Clone, Copy, Debug)]
enum Choice {
    /// Keyport picks it before calling the backend, like Keystone's EC2 pairs.
    Keyport,
    /// The backend invents it in `issue`, like IAM.
    Backend,
}

const BOTH: [Choice; 2] = [Choice::Keyport, Choice::Backend];

/// One audit event: `(actor, action, target, detail)`.
type AuditRow = (String, String, String, String);

struct Harness {
    ops: Ops,
    fake: Arc<FakeDriver>,
    who: Principal,
    service: Service,
    _dir: TempDir,
}

impl Harness {
    async fn new(choice: Choice) -> Harness {
        Harness::with_limit(choice, DEFAULT_MAX_KEYS).await
    }

    async fn with_limit(choice: Choice, limit: i64) -> Harness {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let url = format!("sqlite://{}", dir.path().join("keyport.db").display());
        let db = Db::connect(&url).await.expect("the database opens");
        db.migrate().await.expect("the migrations run");
        let new = NewUser {
            email: OWNER,
            name: "Ada Lovelace",
            password_hash: None,
            is_admin: false,
        };
        let user = db::users::create(db.pool(), new).await.expect("a user");
        let project = db::projects::create(&db, "team", "Team", &user.id)
            .await
            .expect("a project");
        let (kind, driver) = match choice {
            Choice::Keyport => (ServiceKind::OpenStack, DriverKind::Keystone),
            Choice::Backend => (ServiceKind::S3, DriverKind::AwsIam),
        };
        let fields = ServiceFields {
            kind,
            name: "store".into(),
            description: String::new(),
            max_keys_per_owner: limit,
            os_user_domain: "Default".into(),
            os_project_name: "team".into(),
            os_project_domain: "Default".into(),
            policy: Default::default(),
        };
        let service_id = db::services::create(&db, &project.id, &fields)
            .await
            .expect("a service");
        db::services::set_driver(&db, &project.id, &service_id, driver, None)
            .await
            .expect("the service's driver");
        let service = db::services::find(&db, &project.id, &service_id)
            .await
            .unwrap()
            .expect("the service");
        let fake = FakeDriver::new(matches!(choice, Choice::Keyport));
        let ops = Ops::new(
            db,
            Arc::new(MasterKey::generate()),
            "http://keyport.test".into(),
        )
        .with_fake_driver(fake.clone());
        let actor = Actor {
            user_id: Some(user.id.clone()),
            label: OWNER.into(),
            ip: "192.0.2.7".into(),
            user_agent: "test".into(),
        };
        let who = Principal::for_tests(Subject::Member(user), project, Role::Owner, actor);
        Harness {
            ops,
            fake,
            who,
            service,
            _dir: dir,
        }
    }

    fn reconciler() -> Actor {
        Actor {
            label: RECONCILER.into(),
            ..Actor::default()
        }
    }

    fn input(&self, name: &str) -> AddCredential {
        AddCredential {
            service_id: self.service.id.clone(),
            owner: OwnerChoice::Me,
            name: name.into(),
            description: String::new(),
            expires: String::new(),
            kind: match self.service.kind {
                ServiceKind::OpenStack => "ec2".into(),
                _ => String::new(),
            },
            source: KeySource::Generate,
        }
    }

    async fn add(&self, name: &str) -> Result<Added, OpError> {
        credentials::add(&self.ops, &self.who, self.input(name)).await
    }

    /// A credential added without trouble.
    async fn added(&self, name: &str) -> Credential {
        self.add(name).await.expect("the credential is added");
        self.rows()
            .await
            .into_iter()
            .find(|c| c.name == name)
            .expect("its row")
    }

    async fn regenerate(&self, id: &str) -> Result<credentials::Regenerated, OpError> {
        credentials::regenerate(&self.ops, &self.who, id).await
    }

    async fn delete(&self, id: &str) -> Result<credentials::Deleted, OpError> {
        credentials::delete(&self.ops, &self.who, id).await
    }

    async fn finish(&self, credential: &Credential) -> Result<String, OpError> {
        reconcile::finish(&self.ops, credential, &Harness::reconciler()).await
    }

    async fn row(&self, id: &str) -> Option<Credential> {
        db::credentials::find(&self.ops.db, &self.who.project().id, id)
            .await
            .unwrap()
    }

    async fn rows(&self) -> Vec<Credential> {
        db::credentials::all_for_service(&self.ops.db, &self.service.id)
            .await
            .unwrap()
    }

    /// The credential's secret, opened.
    async fn secret(&self, credential: &Credential) -> String {
        let place = (ProjectId(&credential.project_id), RowId(&credential.id));
        let secret = self
            .ops
            .open(place.0, place.1, Field::Secret, &credential.secret);
        secret.await.expect("the secret opens").to_string()
    }

    /// Whether the credential as Keyport holds it works at the backend.
    async fn works(&self, credential: &Credential) -> bool {
        self.fake
            .works(&credential.access_key, &self.secret(credential).await)
    }

    async fn audit(&self) -> Vec<AuditRow> {
        sqlx::query_as("select actor, action, target, detail from audit_events order by id")
            .fetch_all(self.ops.db.pool())
            .await
            .unwrap()
    }

    /// The audit events of one action.
    async fn audited(&self, action: &str) -> Vec<AuditRow> {
        let mut events = self.audit().await;
        events.retain(|e| e.1 == action);
        events
    }

    fn target(&self, credential: &Credential) -> String {
        format!("{} / {}", self.service.name, credential.name)
    }

    /// A credential left `Creating`: added while `issue` failed uncertainly with `outcome`.
    async fn creating(&self, outcome: Outcome) -> Credential {
        self.fake.set(Method::Issue, outcome);
        let added = self.add("interrupted add").await;
        assert!(uncertain(&added), "{:?}", added.err());
        self.fake.set(Method::Issue, Outcome::Succeed);
        self.in_state("interrupted add", CredentialState::Creating)
            .await
    }

    /// A credential left `Rotating`: regenerated while `issue` failed uncertainly with
    /// `outcome`. Returns it and its key from before.
    async fn rotating(&self, outcome: Outcome) -> (Credential, String) {
        let before = self.added("rotated").await;
        self.fake.set(Method::Issue, outcome);
        let done = self.regenerate(&before.id).await;
        assert!(uncertain(&done), "{:?}", done.err());
        self.fake.set(Method::Issue, Outcome::Succeed);
        let row = self.in_state("rotated", CredentialState::Rotating).await;
        (row, before.access_key.clone())
    }

    /// A credential left `Retiring`: regenerated while revoking the old key failed with
    /// `outcome`. Returns it and its key from before.
    async fn retiring(&self, outcome: Outcome) -> (Credential, String) {
        let before = self.added("retired").await;
        self.fake.set(Method::Revoke, outcome);
        let done = self
            .regenerate(&before.id)
            .await
            .expect("the new key works");
        assert!(done.warning.is_some(), "the old key's failure is told");
        self.fake.set(Method::Revoke, Outcome::Succeed);
        let row = self.in_state("retired", CredentialState::Retiring).await;
        (row, before.access_key.clone())
    }

    /// A credential left `Deleting`: deleted while `revoke` failed uncertainly with `outcome`.
    async fn deleting(&self, outcome: Outcome) -> Credential {
        let before = self.added("deleted").await;
        self.fake.set(Method::Revoke, outcome);
        let done = self.delete(&before.id).await;
        assert!(uncertain(&done), "{:?}", done.err());
        self.fake.set(Method::Revoke, Outcome::Succeed);
        self.in_state("deleted", CredentialState::Deleting).await
    }

    async fn in_state(&self, name: &str, state: CredentialState) -> Credential {
        let row = self
            .rows()
            .await
            .into_iter()
            .find(|c| c.name == name)
            .expect("the row stays");
        assert_eq!(row.state, state, "the row of {name}");
        row
    }
}

fn uncertain<T>(result: &Result<T, OpError>) -> bool {
    matches!(
        result,
        Err(OpError::Backend(crate::providers::DriverError::Uncertain(
            _
        )))
    )
}

/// What a row holds, to compare it before and after.
fn snapshot(c: &Credential) -> (CredentialState, String, String, bool, String, Vec<u8>) {
    (
        c.state,
        c.access_key.clone(),
        c.pending_access_key.clone(),
        c.pending_secret.is_some(),
        c.requested_by.clone(),
        c.secret.clone(),
    )
}

/// Who the row says asked for its operation.
fn requester(c: &Credential) -> Actor {
    serde_json::from_str(&c.requested_by).expect("the row names who asked")
}
