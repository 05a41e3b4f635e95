//! Authentication: bearer tokens for the SCIM API (argon2id at rest, a digest cache in memory)
//! and admin passwords for the admin page.

pub mod bearer;
pub mod password;
pub mod ratelimit;
pub mod secret;
pub mod throttle;
pub mod token;
