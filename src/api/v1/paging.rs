//! Lists that come a page at a time: `limit` and `after` asked, `next` answered, ordered by id
//! so that a page boundary stays put while rows are added or removed.

use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::{api::error::Failure, ops::OpError};

/// The most a page holds, and what it holds when `limit` is left out.
const MAX_LIMIT: i64 = 200;
const DEFAULT_LIMIT: i64 = 100;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many to answer with, 1 to 200 (default 100).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// Only those whose id sorts after this one: the `next` of the page before.
    after: Option<String>,
}

/// The paging a request asks for (its [`PageParams`], checked): a query that does not parse,
/// or a limit out of range, is a 422.
pub struct Paging {
    limit: usize,
    after: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Paging {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Failure> {
        let Query(params) = Query::<PageParams>::from_request_parts(parts, state).await?;
        match params.limit.unwrap_or(DEFAULT_LIMIT) {
            limit @ 1..=MAX_LIMIT => Ok(Paging {
                limit: limit as usize,
                after: params.after,
            }),
            _ => Err(OpError::field("limit", "Ask for 1 to 200.").into()),
        }
    }
}

impl Paging {
    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn after(&self) -> Option<&str> {
        self.after.as_deref()
    }

    /// The page of `items` (in any order) after `after`, ordered by `id`, and the `next` of the
    /// page after it when more remain.
    pub fn page<T>(
        &self,
        items: impl IntoIterator<Item = T>,
        id: impl Fn(&T) -> &str,
    ) -> (Vec<T>, Option<String>) {
        let mut seen: Vec<T> = items
            .into_iter()
            .filter(|item| self.after.as_deref().is_none_or(|after| id(item) > after))
            .collect();
        seen.sort_by(|a, b| id(a).cmp(id(b)));
        let next = (seen.len() > self.limit).then(|| id(&seen[self.limit - 1]).to_string());
        seen.truncate(self.limit);
        (seen, next)
    }
}
