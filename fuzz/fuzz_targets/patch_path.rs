//! PATCH `path` parser (RFC 7644 §3.5.2): any input either parses or fails with a path or
//! filter error, without panicking, hanging or growing memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scimbox::error::Error;
use scimbox::scim::filter::parse_patch_path;
use scimbox::scim::patch::is_members_path;

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    match parse_patch_path(input) {
        Ok(path) => {
            // What parsed must print and mean something: Display walks the whole tree.
            let _ = path.attr.to_string();
        }
        Err(Error::InvalidPath(d) | Error::InvalidFilter(d)) => assert!(!d.is_empty()),
        Err(other) => panic!("{input:?}: unexpected error {other:?}"),
    }
    // The Group PATCH router asks this of every path.
    let _ = is_members_path(input);
});
