//! The admin page's files, embedded in the binary (rust-embed with `debug-embed`, so debug
//! builds do not read `assets/` from the working directory either).

use super::{Reply, Request};

#[derive(rust_embed::Embed)]
#[folder = "assets/admin/"]
struct Assets;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

fn not_found() -> Reply {
    Reply::new(
        404,
        "text/plain; charset=utf-8",
        b"not found: the admin page is at /admin/".to_vec(),
    )
}

/// Serves an embedded file; `/` is the page itself.
pub fn serve(req: &Request) -> Reply {
    if req.method != "GET" && req.method != "HEAD" {
        return Reply::new(405, "text/plain; charset=utf-8", b"use GET".to_vec())
            .header("allow", "GET, HEAD".into());
    }
    let name = match req.path.trim_start_matches('/') {
        "" => "index.html",
        other => other,
    };
    let Some(file) = Assets::get(name) else {
        return not_found();
    };
    let etag = format!(
        "\"{}\"",
        crate::auth::secret::hex(&file.metadata.sha256_hash()[..12])
    );
    let body = if req.method == "HEAD" {
        Vec::new()
    } else {
        file.data.into_owned()
    };
    Reply::new(200, content_type(name), body)
        .header("cache-control", "no-cache".into())
        .header("etag", etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_files_are_embedded() {
        for f in [
            "index.html",
            "app.js",
            "app.css",
            "api.js",
            "dom.js",
            "views.js",
            "org.js",
            "users.js",
            "teams.js",
            "activity.js",
            "clients.js",
            "access.js",
            "events.js",
            "schemas.js",
        ] {
            assert!(Assets::get(f).is_some(), "{f} is not embedded");
        }
        assert_eq!(content_type("app.js"), "text/javascript; charset=utf-8");
    }
}
