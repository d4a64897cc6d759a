//! Messages shown next to form fields: the operations' field errors.

pub use crate::ops::FieldErrors;
