//! Authentication: bearer tokens for the SCIM API (argon2id at rest, a digest cache in memory).

pub mod bearer;
pub mod secret;
pub mod throttle;
