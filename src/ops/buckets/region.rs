//! The S3 region an endpoint signs with, learned from S3's own answer: by the console, which
//! records the region a refusal names and tries once more ([`with_region!`]), and when an EC2
//! key pair of an OpenStack cloud is added. S3 checks the region a request is signed for before
//! the key, so one signed `ListBuckets` at each endpoint that does not know its S3 region yet
//! makes the s3api name it, and the S3 snippets downloaded next sign with it, before anyone
//! presses Test or opens the Buckets console.

use std::time::Duration;

use futures_util::future::join_all;
use zeroize::Zeroizing;

use super::{Acting, s3_url};
use crate::{
    db::{self, services::Service},
    domain::services::{CredentialKind, Interface, ServiceKind},
    ops::{Endpoint, Ops},
    providers::s3::{S3Access, S3Failure},
};

/// Runs `$call` with the key (`$access`); when S3 answers that the request was signed for the
/// wrong region and names the right one, records it as the endpoint's S3 region and tries once
/// more.
macro_rules! with_region {
    ($ops:expr, $acting:expr, |$access:ident| $call:expr) => {{
        let mut retried = false;
        loop {
            let answer = {
                let $access = &$acting.access;
                $call
            };
            if !retried
                && let Err(failure) = &answer
                && $crate::ops::buckets::region::learn_region($ops, &mut $acting, failure).await
            {
                retried = true;
                continue;
            }
            break answer;
        }
    }};
}
pub(crate) use with_region;

/// Whether `failure` named the region S3 signs with (then recorded, and used from now on).
pub(crate) async fn learn_region(ops: &Ops, acting: &mut Acting, failure: &S3Failure) -> bool {
    let S3Failure::Answered {
        code,
        expected_region: Some(region),
        ..
    } = failure
    else {
        return false;
    };
    if !region_error(code) || *region == acting.access.region {
        return false;
    }
    if let Some(site) = &mut acting.console.site {
        if let Err(e) =
            db::services::set_s3_region(&ops.db, &site.service_id, &site.id, region).await
        {
            tracing::warn!(error = %e, "cannot record the endpoint's S3 region");
        }
        site.s3_region = region.clone();
    }
    acting.access.region = region.clone();
    true
}

fn region_error(code: &str) -> bool {
    matches!(
        code,
        "AuthorizationHeaderMalformed" | "AuthorizationQueryParametersError"
    )
}

/// How long the requests at a key's addition may take, together: the addition waits for them,
/// and an endpoint that does not answer by then is left to Test and the console.
const DEADLINE: Duration = Duration::from_secs(3);

/// Asks each S3 endpoint of `service` without an S3 region which region it signs with, using
/// the new key pair, and records the region named. Only for an OpenStack cloud's EC2 pairs,
/// whose S3 region may differ from the catalog's. Nothing here fails the addition: a request
/// refused, unanswered or late is logged and the endpoint keeps its region until Test or the
/// console learns it.
pub(crate) async fn learn_at_addition(
    ops: &Ops,
    service: &Service,
    kind: CredentialKind,
    access_key: &str,
    secret: &Zeroizing<String>,
) {
    if service.kind != ServiceKind::OpenStack || kind != CredentialKind::Ec2 {
        return;
    }
    let endpoints = match db::services::endpoints(&ops.db, &service.id).await {
        Ok(endpoints) => endpoints,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the endpoints to learn their S3 region");
            return;
        }
    };
    // One request per S3 address and region: a cloud's public and internal endpoints often
    // share both.
    let mut sites: Vec<(String, String, Vec<Endpoint>)> = Vec::new();
    for endpoint in endpoints
        .into_iter()
        .filter(|e| e.interface != Interface::Auth && e.s3_region.is_empty())
    {
        let url = s3_url(service.kind, &endpoint);
        let region = endpoint.signing_region().to_string();
        match sites.iter_mut().find(|(u, r, _)| *u == url && *r == region) {
            Some((_, _, same)) => same.push(endpoint),
            None => sites.push((url, region, vec![endpoint])),
        }
    }
    if sites.is_empty() {
        return;
    }
    let asked = sites
        .iter()
        .map(|(url, region, _)| expected_region(ops, url, region, access_key, secret));
    let Ok(answers) = tokio::time::timeout(DEADLINE, join_all(asked)).await else {
        tracing::info!(
            service = %service.id,
            "the S3 endpoints did not say their region in time; Test or the Buckets console learns it"
        );
        return;
    };
    for ((_, _, endpoints), learned) in sites.iter().zip(answers) {
        let Some(region) = learned else { continue };
        for endpoint in endpoints {
            match db::services::set_s3_region(&ops.db, &service.id, &endpoint.id, &region).await {
                Ok(()) => tracing::info!(
                    service = %service.id,
                    endpoint = %endpoint.id,
                    s3_region = %region,
                    "learned the endpoint's S3 region"
                ),
                Err(e) => tracing::warn!(error = %e, "cannot record the endpoint's S3 region"),
            }
        }
    }
}

/// The region the S3 API at `url` names when refusing a request signed for `region`; `None`
/// when it accepts that region, or answers anything else (logged).
async fn expected_region(
    ops: &Ops,
    url: &str,
    region: &str,
    access_key: &str,
    secret: &Zeroizing<String>,
) -> Option<String> {
    let Ok(endpoint) = url::Url::parse(url) else {
        tracing::info!(
            url,
            "the S3 endpoint's URL is not valid; its region is not learned"
        );
        return None;
    };
    let access = S3Access {
        endpoint,
        region: region.to_string(),
        access_key: access_key.to_string(),
        secret: secret.clone(),
    };
    match access.list_buckets(ops.http()).await {
        Ok(_) => None,
        Err(S3Failure::Answered {
            code,
            expected_region: Some(expected),
            ..
        }) if region_error(&code) && expected != region => Some(expected),
        Err(S3Failure::Answered { code, .. }) => {
            tracing::debug!(url, code = %code, "the S3 endpoint named no other region");
            None
        }
        Err(S3Failure::Driver(error)) => {
            tracing::info!(url, error = %error, "the S3 endpoint's region is not learned");
            None
        }
    }
}
