//! Plain types and rules of the portal, free of HTTP and SQL.

pub mod audit;
pub mod buckets;
pub mod credentials;
pub mod key_health;
pub mod reminders;
pub mod roles;
pub mod rotation;
pub mod rotation_steps;
pub mod services;
pub mod time;
pub mod two_factor;
pub mod validate;
