//! Keystone as a [`Driver`]: owners' users, their passwords and EC2 key pairs.

use async_trait::async_trait;
use reqwest::{Method, StatusCode};
use serde_json::json;
use zeroize::Zeroizing;

use super::{HEX, Keystone, first, id_of, missing_user, new_password, or_default, urlencode};
use crate::{
    crypto::random_string,
    domain::services::CredentialKind,
    providers::{BackendKey, BackendUser, Driver, DriverError, IssuedKey},
};

/// Whether an access key can go into a URL path as it is: Keystone's are hex, but a user may
/// create EC2 credentials with any `access`, and `..` in a path would reach another resource.
fn safe_key(access_key: &str) -> bool {
    !access_key.is_empty()
        && access_key.len() <= 128
        && access_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[async_trait]
impl Driver for Keystone<'_> {
    async fn user(&self, name: &str, create: bool) -> Result<BackendUser, DriverError> {
        let token = self.admin_token().await?;
        let domain = self
            .domain_id(&token, or_default(self.place.user_domain))
            .await?;
        let project = self.project_id(&token).await?;
        let path = format!("users?name={}&domain_id={domain}", urlencode(name));
        let existing = id_of(first(
            &self.get(&token, &path, "list users").await?,
            "users",
        ));
        let (id, created) = match (existing, create) {
            (Some(_), true) => {
                return Err(DriverError::Refused(format!(
                    "A Keystone user named {name} already exists. An admin can link it to this \
                     owner on the service's page."
                )));
            }
            (None, false) => {
                return Err(DriverError::Refused(format!(
                    "Keystone has no user named {name}."
                )));
            }
            (Some(id), false) => (id, false),
            (None, true) => {
                let body = json!({"user": {
                    "name": name, "domain_id": domain, "default_project_id": project,
                    "enabled": true, "description": "Managed by Keyport",
                    "password": new_password().as_str()}});
                let (_, answer) = self
                    .call(&token, Method::POST, "users", Some(body), "create the user")
                    .await?;
                let id = answer["user"]["id"]
                    .as_str()
                    .map(str::to_string)
                    .ok_or_else(|| DriverError::Refused("Keystone created no user.".into()))?;
                (id, true)
            }
        };
        if let Err(e) = self.grant_member(&token, &project, &id).await {
            if created {
                // Not left half-made: the next add would find it and refuse to take it over.
                let path = format!("users/{id}");
                let _ = self
                    .call(&token, Method::DELETE, &path, None, "delete the user")
                    .await;
            }
            return Err(e);
        }
        Ok(BackendUser {
            id,
            name: name.to_string(),
        })
    }

    fn choose(
        &self,
        kind: CredentialKind,
        user: &BackendUser,
        _current: Option<&str>,
    ) -> Option<IssuedKey> {
        Some(match kind {
            CredentialKind::Key => IssuedKey {
                access_key: user.name.clone(),
                secret: new_password(),
            },
            // The style Keystone itself uses for EC2 pairs.
            CredentialKind::Ec2 => IssuedKey {
                access_key: random_string(32, HEX),
                secret: Zeroizing::new(random_string(32, HEX)),
            },
        })
    }

    async fn issue(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        chosen: Option<&IssuedKey>,
    ) -> Result<IssuedKey, DriverError> {
        let fallback;
        let key = match chosen {
            Some(key) => key,
            None => {
                fallback = self
                    .choose(kind, user, None)
                    .expect("keystone always chooses");
                &fallback
            }
        };
        let token = self.admin_token().await?;
        match kind {
            CredentialKind::Key => self.set_password(&token, user, &key.secret).await?,
            CredentialKind::Ec2 => {
                let project = self.project_id(&token).await?;
                let blob = json!({"access": key.access_key, "secret": key.secret.as_str()});
                let body = json!({"credential": {
                    "type": "ec2", "user_id": user.id, "project_id": project,
                    "blob": blob.to_string()}});
                let (status, _) = self
                    .call(
                        &token,
                        Method::POST,
                        "credentials",
                        Some(body),
                        "create the EC2 credential",
                    )
                    .await?;
                if status == StatusCode::NOT_FOUND {
                    return Err(missing_user(user));
                }
            }
        }
        Ok(IssuedKey {
            access_key: key.access_key.clone(),
            secret: key.secret.clone(),
        })
    }

    async fn revoke(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        access_key: &str,
        replaced: bool,
    ) -> Result<(), DriverError> {
        match kind {
            // The new password already replaced the old one.
            CredentialKind::Key if replaced => Ok(()),
            // A password nobody knows: the user stays (with its EC2 pairs), the secret stops working.
            CredentialKind::Key => {
                let token = self.admin_token().await?;
                self.set_password(&token, user, &new_password()).await
            }
            CredentialKind::Ec2 if !safe_key(access_key) => Err(DriverError::Refused(format!(
                "Keyport does not revoke the EC2 credential {access_key:?}: its access key is not a plain key."
            ))),
            CredentialKind::Ec2 => {
                let token = self.admin_token().await?;
                let path = format!("users/{}/credentials/OS-EC2/{access_key}", user.id);
                self.call(
                    &token,
                    Method::DELETE,
                    &path,
                    None,
                    "delete the EC2 credential",
                )
                .await?;
                Ok(())
            }
        }
    }

    async fn is_live(
        &self,
        user: &BackendUser,
        kind: CredentialKind,
        key: &IssuedKey,
    ) -> Result<bool, DriverError> {
        match kind {
            CredentialKind::Key => {
                let token = self.admin_token().await?;
                let project = self.project_id(&token).await?;
                let auth = json!({
                    "identity": {"methods": ["password"], "password": {"user": {
                        "id": user.id, "password": key.secret.as_str()}}},
                    "scope": {"project": {"id": project}},
                });
                Ok(self.token_for(auth).await?.is_some())
            }
            CredentialKind::Ec2 => Ok(self
                .list_keys(user)
                .await?
                .iter()
                .any(|k| k.access_key == key.access_key)),
        }
    }

    async fn list_keys(&self, user: &BackendUser) -> Result<Vec<BackendKey>, DriverError> {
        let token = self.admin_token().await?;
        let path = format!("users/{}/credentials/OS-EC2", user.id);
        let (status, answer) = self
            .call(&token, Method::GET, &path, None, "list EC2 credentials")
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Ok(Vec::new());
        }
        Ok(answer["credentials"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| {
                Some(BackendKey {
                    access_key: c["access"].as_str()?.to_string(),
                    status: "Active".into(),
                    last_used: String::new(),
                    secret: c["secret"].as_str().map(|s| Zeroizing::new(s.to_string())),
                })
            })
            .collect())
    }

    async fn check(&self) -> Result<(), DriverError> {
        self.admin_token().await.map(|_| ())
    }

    async fn admin_user(&self) -> Result<Option<String>, DriverError> {
        Ok(Some(self.settings.username.clone()))
    }
}
