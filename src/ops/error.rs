//! The one error of every operation. Callers turn it into a page or an API answer; only
//! `Internal` hides its cause (logged, never shown).

use crate::{db, providers::DriverError};

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    /// Nothing the principal may see by that name.
    #[error("not found")]
    NotFound,
    /// The principal may see it, but not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The input is wrong; the messages go next to the fields.
    #[error("the input is not valid")]
    Invalid(FieldErrors),
    /// A rule of the project refuses the change; the message says which.
    #[error("{0}")]
    Refused(String),
    #[error("the owner already holds the most credentials the service allows ({0})")]
    LimitReached(i64),
    /// Another change to the same credential is under way.
    #[error("another change to this credential is under way")]
    Busy,
    /// The backend refused or did not answer; the message says whether anything changed.
    #[error(transparent)]
    Backend(#[from] DriverError),
    /// Keyport is doing as much of this work as it may at once (checking passwords); nothing was
    /// done, and trying again in a moment works.
    #[error("too busy just now")]
    Overloaded,
    /// The operation shows a secret or makes a way in, and the one acting has not proved who
    /// they are recently enough (`ops::step_up`): nothing was done.
    #[error("a recent proof of identity is needed")]
    StepUpRequired,
    /// A stored secret does not decrypt: the row was damaged or moved.
    #[error("the stored secret cannot be decrypted")]
    Damaged,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl OpError {
    /// A single field's error.
    pub fn field(field: &'static str, message: impl Into<String>) -> OpError {
        OpError::Invalid(FieldErrors::one(field, message))
    }

    /// What to tell the person who asked, for every error but `Internal`: whether anything
    /// changed, and why.
    /// The HTTP status the pages and the API both answer this error with: the one mapping.
    pub fn status(&self) -> u16 {
        match self {
            OpError::NotFound => 404,
            OpError::Forbidden(_) | OpError::StepUpRequired => 403,
            OpError::Invalid(_) => 422,
            OpError::Refused(_) | OpError::LimitReached(_) | OpError::Busy | OpError::Damaged => {
                409
            }
            OpError::Backend(_) => 502,
            OpError::Overloaded => 503,
            OpError::Internal(_) => 500,
        }
    }

    /// The error's name in the API's answers (`{"error": {"code": ...}}`).
    pub fn code(&self) -> &'static str {
        match self {
            OpError::NotFound => "not_found",
            OpError::Forbidden(_) => "forbidden",
            OpError::StepUpRequired => "step_up_required",
            OpError::Invalid(_) => "invalid",
            OpError::Refused(_) | OpError::Damaged => "refused",
            OpError::LimitReached(_) => "limit_reached",
            OpError::Busy => "busy",
            OpError::Backend(_) => "backend",
            OpError::Overloaded => "overloaded",
            OpError::Internal(_) => "internal",
        }
    }

    pub fn message(&self) -> String {
        match self {
            OpError::NotFound => "There is nothing here, or you may not see it.".into(),
            OpError::Forbidden(why) => (*why).into(),
            OpError::StepUpRequired => {
                "Confirm who you are (your password, or a code of your app) first.".into()
            }
            OpError::Invalid(errors) => errors.summary(),
            OpError::Refused(why) => why.clone(),
            OpError::LimitReached(limit) => limit_message(*limit),
            OpError::Busy => {
                "Nothing was changed: another change to this credential is under way.".into()
            }
            OpError::Backend(e @ DriverError::Uncertain(_)) => e.to_string(),
            OpError::Backend(e) => format!("Nothing was changed: {e}"),
            OpError::Overloaded => {
                "Keyport is checking as many passwords as it can just now. Nothing was changed; try again in a few seconds.".into()
            }
            OpError::Damaged => {
                "This credential is damaged: its secret cannot be decrypted. Nothing was changed.".into()
            }
            OpError::Internal(_) => {
                "Keyport could not complete this request. Try again, and tell your administrator if it keeps happening.".into()
            }
        }
    }
}

/// The limit of keys per owner, in words.
pub fn limit_message(limit: i64) -> String {
    let count = match limit {
        1 => "one credential".to_string(),
        2 => "two credentials".to_string(),
        n => format!("{n} credentials"),
    };
    format!(
        "The owner already holds the most keys this service allows: a maximum of {count} at once, so you can rotate \
         without interruption. Delete or regenerate one instead."
    )
}

impl From<crate::crypto::password::PasswordError> for OpError {
    fn from(e: crate::crypto::password::PasswordError) -> Self {
        use crate::crypto::password::PasswordError;
        match e {
            PasswordError::Busy => OpError::Overloaded,
            PasswordError::Failed(cause) => OpError::Internal(cause),
        }
    }
}

impl From<sqlx::Error> for OpError {
    fn from(e: sqlx::Error) -> Self {
        OpError::Internal(e.into())
    }
}

impl From<db::users::CreateUserError> for OpError {
    fn from(e: db::users::CreateUserError) -> Self {
        match e {
            db::users::CreateUserError::EmailTaken => {
                OpError::field("email", "A user with this email already exists.")
            }
            db::users::CreateUserError::Database(e) => e.into(),
        }
    }
}

impl From<db::credentials::CredentialError> for OpError {
    fn from(e: db::credentials::CredentialError) -> Self {
        match e {
            db::credentials::CredentialError::LimitReached(limit) => OpError::LimitReached(limit),
            db::credentials::CredentialError::Database(e) => e.into(),
        }
    }
}

/// Messages for the fields of an input, in the order they were found.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    pub fn one(field: &'static str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }

    /// Keeps the checked value, or records the message under `field`.
    pub fn check(&mut self, field: &'static str, checked: Result<String, &'static str>) -> String {
        checked.unwrap_or_else(|message| {
            self.add(field, message);
            String::new()
        })
    }

    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.0.iter().map(|(f, m)| (*f, m.as_str()))
    }

    /// All messages in one sentence, for a notice or an API error.
    pub fn summary(&self) -> String {
        self.0
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `Ok` when nothing was wrong, else the errors as an `OpError`.
    pub fn into_result(self) -> Result<(), OpError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(OpError::Invalid(self))
        }
    }
}
