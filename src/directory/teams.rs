//! Teams (SCIM Groups).
