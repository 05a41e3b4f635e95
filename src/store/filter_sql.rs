//! Filter to SQL compiler (placeholder until its branch lands).

use crate::error::{Error, Result};
use crate::model::filter::{AttrPath, Filter};

/// A compiled WHERE fragment and its bound parameters, in order.
pub struct SqlFilter {
    pub sql: String,
    pub params: Vec<rusqlite::types::Value>,
}

pub fn compile_users(_f: &Filter) -> Result<SqlFilter> {
    Err(Error::InvalidFilter("not yet".into()))
}

pub fn compile_teams(_f: &Filter) -> Result<SqlFilter> {
    Err(Error::InvalidFilter("not yet".into()))
}

pub fn users_sort_expr(_p: &AttrPath) -> Result<String> {
    Err(Error::InvalidValue("not yet".into()))
}

pub fn teams_sort_expr(_p: &AttrPath) -> Result<String> {
    Err(Error::InvalidValue("not yet".into()))
}
