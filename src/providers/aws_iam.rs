//! The `aws_iam` driver: the AWS IAM query API (AWS, Ceph RGW, moto and others). Each owner is an
//! IAM user; a credential is one of its access keys. Requests are POST forms signed with SigV4.

use async_trait::async_trait;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::{
    BackendKey, BackendUser, Deactivation, Driver, DriverError, IssuedKey, KeyUse,
    http::{Http, SigV4, redirected, unreachable},
};
use crate::domain::services::CredentialKind;

#[derive(Clone, Serialize, Deserialize)]
pub struct IamSettings {
    /// The IAM endpoint, e.g. `https://iam.amazonaws.com/`.
    pub endpoint: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: Zeroizing<String>,
    /// An inline policy given to the users Keyport creates; empty for none.
    #[serde(default)]
    pub user_policy: String,
}

pub struct AwsIam<'a> {
    settings: &'a IamSettings,
    http: &'a Http,
}

const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// An IAM error answer: its code (its message is never shown: it is the backend's text).
struct IamError {
    code: String,
}

/// Everything but RFC 3986's unreserved characters percent-encoded, spaces as `+`: the encoding
/// AWS SDKs use for query bodies. Peers that verify the signature over a body they re-encode
/// themselves (moto) need exactly this one; WHATWG form encoding differs on `*` and `~`.
fn query_encode(value: &str) -> String {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
    const QUERY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    utf8_percent_encode(value, QUERY)
        .to_string()
        .replace("%20", "+")
}

/// The text of every element named `tag`, in document order.
fn texts(xml: &str, tag: &str) -> Vec<String> {
    let Ok(doc) = roxmltree::Document::parse(xml) else {
        return Vec::new();
    };
    doc.descendants()
        .filter(|n| n.tag_name().name() == tag)
        .map(|n| n.text().unwrap_or_default().trim().to_string())
        .collect()
}

fn text(xml: &str, tag: &str) -> Option<String> {
    texts(xml, tag).into_iter().next()
}

impl<'a> AwsIam<'a> {
    pub fn new(settings: &'a IamSettings, http: &'a Http) -> Self {
        AwsIam { settings, http }
    }

    /// Calls `action`; `Ok(Err(_))` is the backend's refusal, which callers may expect.
    async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<Result<String, IamError>, DriverError> {
        let body = std::iter::once(("Action", action))
            .chain(params.iter().copied())
            .chain(std::iter::once(("Version", "2010-05-08")))
            .map(|(name, value)| format!("{}={}", query_encode(name), query_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let url = self.settings.endpoint.as_str();
        let signer = SigV4 {
            access_key: &self.settings.access_key,
            secret: &self.settings.secret_key,
            region: &self.settings.region,
            service: "iam",
        };
        let signed = signer.headers(
            "POST",
            url,
            &[("content-type", CONTENT_TYPE)],
            body.as_bytes(),
        )?;
        let mut request = self
            .http
            .post(url)?
            .header("content-type", CONTENT_TYPE)
            .body(body);
        for (name, value) in signed {
            request = request.header(name, value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| unreachable("The IAM service", url, &e))?;
        let status = response.status();
        if let Some(refused) = redirected("The IAM service", status) {
            return Err(refused);
        }
        let answer = response
            .text()
            .await
            .map_err(|e| unreachable("The IAM service", url, &e))?;
        if status.is_success() {
            return Ok(Ok(answer));
        }
        Ok(Err(IamError {
            code: text(&answer, "Code").unwrap_or_else(|| format!("HTTP {status}")),
        }))
    }

    /// Calls `action` and turns any refusal into a message for the page.
    async fn expect(&self, action: &str, params: &[(&str, &str)]) -> Result<String, DriverError> {
        self.call(action, params).await?.map_err(refusal)
    }
}

/// A refusal worded for the page. Messages are the backend's own (they hold names, no secret).
fn refusal(error: IamError) -> DriverError {
    let IamError { code } = error;
    DriverError::Refused(match code.as_str() {
        "LimitExceeded" => "The IAM service refused a new access key: the user already holds \
             the most keys it allows (LimitExceeded). Delete or regenerate one instead."
            .to_string(),
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "AccessDenied"
        | "InvalidAccessKeyId" => {
            format!(
                "The IAM service refused Keyport's admin key ({code}). Check the service's backend \
                 settings."
            )
        }
        // Only codes AWS documents are named; anything else is summarised, never repeated.
        code if super::known_error_code(code) => format!("The IAM service refused: {code}."),
        _ => "The IAM service refused the request.".to_string(),
    })
}

#[async_trait]
impl Driver for AwsIam<'_> {
    async fn user(&self, name: &str, create: bool) -> Result<BackendUser, DriverError> {
        let exists = match self.call("GetUser", &[("UserName", name)]).await? {
            Ok(_) => true,
            Err(e) if e.code == "NoSuchEntity" => false,
            Err(e) => return Err(refusal(e)),
        };
        match (exists, create) {
            (true, true) => {
                return Err(DriverError::Refused(format!(
                    "An IAM user named {name} already exists. An admin can link it to this owner \
                     on the service's page."
                )));
            }
            (false, false) => {
                return Err(DriverError::Refused(format!(
                    "There is no IAM user named {name}."
                )));
            }
            (false, true) => {
                self.expect("CreateUser", &[("UserName", name)]).await?;
                if !self.settings.user_policy.trim().is_empty() {
                    let policy = [
                        ("UserName", name),
                        ("PolicyName", "keyport"),
                        ("PolicyDocument", self.settings.user_policy.as_str()),
                    ];
                    if let Err(e) = self.expect("PutUserPolicy", &policy).await {
                        // Not left half-made: the next add would find it and refuse it.
                        let _ = self.call("DeleteUser", &[("UserName", name)]).await;
                        return Err(e);
                    }
                }
            }
            (true, false) => {}
        }
        Ok(BackendUser {
            id: name.to_string(),
            name: name.to_string(),
        })
    }

    fn choose(&self, _: CredentialKind, _: &BackendUser, _: Option<&str>) -> Option<IssuedKey> {
        None
    }

    async fn issue(
        &self,
        user: &BackendUser,
        _kind: CredentialKind,
        _chosen: Option<&IssuedKey>,
    ) -> Result<IssuedKey, DriverError> {
        let answer = self
            .expect("CreateAccessKey", &[("UserName", &user.id)])
            .await?;
        match (
            text(&answer, "AccessKeyId"),
            text(&answer, "SecretAccessKey"),
        ) {
            (Some(access_key), Some(secret)) => Ok(IssuedKey {
                access_key,
                secret: Zeroizing::new(secret),
            }),
            _ => Err(DriverError::Refused(
                "The IAM service's answer to CreateAccessKey holds no key.".into(),
            )),
        }
    }

    async fn revoke(
        &self,
        user: &BackendUser,
        _kind: CredentialKind,
        access_key: &str,
        _replaced: bool,
    ) -> Result<(), DriverError> {
        match self
            .call(
                "DeleteAccessKey",
                &[("UserName", &user.id), ("AccessKeyId", access_key)],
            )
            .await?
        {
            Err(e) if e.code != "NoSuchEntity" => Err(refusal(e)),
            _ => Ok(()),
        }
    }

    async fn is_live(
        &self,
        user: &BackendUser,
        _kind: CredentialKind,
        key: &IssuedKey,
    ) -> Result<bool, DriverError> {
        Ok(self
            .list_keys(user)
            .await?
            .iter()
            .any(|k| k.access_key == key.access_key && k.status == "Active"))
    }

    async fn list_keys(&self, user: &BackendUser) -> Result<Vec<BackendKey>, DriverError> {
        let answer = match self
            .call("ListAccessKeys", &[("UserName", &user.id)])
            .await?
        {
            Ok(answer) => answer,
            Err(e) if e.code == "NoSuchEntity" => return Ok(Vec::new()),
            Err(e) => return Err(refusal(e)),
        };
        let ids = texts(&answer, "AccessKeyId");
        let statuses = texts(&answer, "Status");
        // Asked for every key at once: a page waits for the slowest answer, not for their sum.
        let last_uses = join_all(ids.iter().map(|access_key| async move {
            let answer = self
                .call("GetAccessKeyLastUsed", &[("AccessKeyId", access_key)])
                .await?;
            // Not every IAM-speaking backend answers this; a key is listed either way.
            Ok::<_, DriverError>(match answer {
                Ok(answer) => text(&answer, "LastUsedDate").unwrap_or_else(|| "never".into()),
                Err(_) => String::new(),
            })
        }))
        .await;
        ids.into_iter()
            .zip(statuses)
            .zip(last_uses)
            .map(|((access_key, status), last_used)| {
                Ok(BackendKey {
                    access_key,
                    status,
                    last_used: last_used?,
                    secret: None,
                })
            })
            .collect()
    }

    async fn check(&self) -> Result<(), DriverError> {
        self.expect("ListUsers", &[("MaxItems", "1")]).await?;
        Ok(())
    }

    fn deactivation(&self) -> Deactivation {
        Deactivation::AtBackend
    }

    async fn set_active(
        &self,
        user: &BackendUser,
        access_key: &str,
        active: bool,
    ) -> Result<(), DriverError> {
        let status = if active { "Active" } else { "Inactive" };
        self.expect(
            "UpdateAccessKey",
            &[
                ("UserName", &user.id),
                ("AccessKeyId", access_key),
                ("Status", status),
            ],
        )
        .await?;
        Ok(())
    }

    async fn last_use(&self, access_key: &str) -> Result<KeyUse, DriverError> {
        let answer = self
            .expect("GetAccessKeyLastUsed", &[("AccessKeyId", access_key)])
            .await?;
        let named = |tag| text(&answer, tag).filter(|v| !v.is_empty() && v != "N/A");
        Ok(match named("LastUsedDate") {
            None => KeyUse::Never,
            Some(at) => KeyUse::Used {
                at,
                service: named("ServiceName").unwrap_or_default(),
                region: named("Region").unwrap_or_default(),
            },
        })
    }

    async fn admin_user(&self) -> Result<Option<String>, DriverError> {
        // GetUser without a name answers about the caller.
        Ok(text(&self.expect("GetUser", &[]).await?, "UserName"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_iam_answers_with_their_namespace() {
        let answer = r#"<CreateAccessKeyResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/">
            <CreateAccessKeyResult><AccessKey><UserName>u</UserName>
            <AccessKeyId>AKIAEXAMPLE</AccessKeyId><Status>Active</Status>
            <SecretAccessKey>s3cr3t</SecretAccessKey></AccessKey></CreateAccessKeyResult>
            </CreateAccessKeyResponse>"#;
        assert_eq!(text(answer, "AccessKeyId").as_deref(), Some("AKIAEXAMPLE"));
        assert_eq!(text(answer, "SecretAccessKey").as_deref(), Some("s3cr3t"));
        assert_eq!(text("not xml", "AccessKeyId"), None);
    }

    #[test]
    fn query_bodies_are_encoded_as_aws_sdks_do() {
        assert_eq!(query_encode("a*b~c d/\"é"), "a%2Ab~c+d%2F%22%C3%A9");
    }

    #[test]
    fn limit_exceeded_reads_as_a_limit() {
        let DriverError::Refused(message) = refusal(IamError {
            code: "LimitExceeded".into(),
        }) else {
            panic!("a refusal");
        };
        assert!(message.contains("most keys"), "{message}");
        let DriverError::Refused(message) = refusal(IamError {
            code: "<script>Whatever the server says".into(),
        }) else {
            panic!("a refusal");
        };
        assert_eq!(message, "The IAM service refused the request.");
    }
}
