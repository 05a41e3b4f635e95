//! Filter parser (placeholder until the parser branch lands).

use crate::error::{Error, Result};
use crate::model::filter::{Filter, PatchPath};

pub fn parse_filter(_input: &str) -> Result<Filter> {
    Err(Error::InvalidFilter("filters are not supported yet".into()))
}

pub fn parse_patch_path(_input: &str) -> Result<PatchPath> {
    Err(Error::InvalidPath("paths are not supported yet".into()))
}
