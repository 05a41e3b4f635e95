//! The one error type. Variants are named for what the client hit; `scim::error` is the only
//! place that turns them into an HTTP status, a `scimType` and a `detail` (RFC 7644 §3.12).

/// Everything that can go wrong while serving a request or running a command.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The resource does not exist (or belongs to another organization).
    NotFound(String),
    /// A unique attribute already has this value; the string names the attribute.
    Uniqueness(String),
    InvalidFilter(String),
    InvalidSyntax(String),
    InvalidValue(String),
    InvalidPath(String),
    NoTarget(String),
    Mutability(String),
    TooMany(String),
    InvalidCursor(String),
    ExpiredCursor(String),
    /// A missing, malformed, wrong, expired or revoked credential. The detail never says which.
    Unauthorized,
    /// Authenticated, but the action is not allowed (SCIM disabled, a SCIM-managed Team rule).
    Forbidden(String),
    /// `If-Match` did not match the current version (RFC 7644 §3.14).
    PreconditionFailed,
    /// The request body, or a part of it, is over a configured limit.
    TooLarge(String),
    MethodNotAllowed,
    UnsupportedMediaType(String),
    /// The client did not send its request body in time.
    RequestTimeout,
    /// The database is busy beyond the busy timeout; the client should retry.
    Busy,
    /// The token is over its rate limit; the client may retry after `retry_after` seconds.
    RateLimited {
        retry_after: u64,
        detail: String,
    },
    /// The database cannot take writes now (disk full, read-only, I/O errors); reads still
    /// work, and writes succeed again once the cause is gone, without a restart.
    Storage(StorageFault),
    /// A SCIM feature scimbox does not offer (RFC 7644 §3.11 `/Me`, for instance).
    NotImplemented(String),
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why the database refused a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageFault {
    /// The filesystem is full (`SQLITE_FULL`).
    Full,
    /// The file or its filesystem became read-only (`SQLITE_READONLY`).
    ReadOnly,
    /// The disk reported an I/O error (`SQLITE_IOERR`).
    Io,
    /// The database server cannot be reached or is restarting (PostgreSQL): reads fail too,
    /// and the server reconnects by itself once it is back.
    Unreachable,
}

impl StorageFault {
    /// The name `/healthz` and `/metrics` use.
    pub fn name(self) -> &'static str {
        match self {
            StorageFault::Full => "full",
            StorageFault::ReadOnly => "read-only",
            StorageFault::Io => "io-error",
            StorageFault::Unreachable => "unreachable",
        }
    }

    /// What the client is told.
    pub fn detail(self) -> &'static str {
        match self {
            StorageFault::Full => {
                "storage is full: the change was not saved; retry once space is freed"
            }
            StorageFault::ReadOnly => {
                "storage is read-only: the change was not saved; retry once it is writable"
            }
            StorageFault::Io => {
                "storage failed with an I/O error: the change was not saved; retry later"
            }
            StorageFault::Unreachable => {
                "the database cannot be reached: the request was not carried out; retry in a moment"
            }
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::NotFound(d)
            | Error::InvalidFilter(d)
            | Error::InvalidSyntax(d)
            | Error::InvalidValue(d)
            | Error::InvalidPath(d)
            | Error::NoTarget(d)
            | Error::Mutability(d)
            | Error::TooMany(d)
            | Error::InvalidCursor(d)
            | Error::ExpiredCursor(d)
            | Error::Forbidden(d)
            | Error::TooLarge(d)
            | Error::UnsupportedMediaType(d)
            | Error::NotImplemented(d)
            | Error::Internal(d) => f.write_str(d),
            Error::Uniqueness(attr) => write!(f, "{attr} is already taken"),
            Error::Unauthorized => f.write_str("unauthorized"),
            Error::PreconditionFailed => f.write_str("precondition failed"),
            Error::MethodNotAllowed => f.write_str("method not allowed"),
            Error::Busy => f.write_str("database busy"),
            Error::RequestTimeout => f.write_str("request timeout"),
            Error::RateLimited { detail, .. } => f.write_str(detail),
            Error::Storage(fault) => f.write_str(fault.detail()),
        }
    }
}

impl std::error::Error for Error {}
