//! The import rules of `src/` (STYLE.md, "Calls flow one way"): reads every source file and
//! checks which modules of the crate it names. Not black-box like its neighbours, but it lives
//! in this binary so it runs with every `cargo test` without linking another one.
//!
//! Code under `#[cfg(test)]` and comments are not checked: a unit test may use the SCIM filter
//! parser to build the AST it feeds the SQL compiler.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Modules anyone may use, which themselves use only each other.
const LEAVES: &[&str] = &["error", "clock", "rng", "auth::secret", "auth::token"];

/// What each lower layer may use besides itself and the leaves. Layers not listed here
/// (`http`, `server`, `cli`, `metrics`...) are the top: nothing listed may use them.
const ALLOWED: &[(&str, &[&str])] = &[
    ("model", &[]),
    ("store", &["model"]),
    ("directory", &["store", "model"]),
    ("auth", &["directory", "store", "model"]),
    ("app", &["auth", "directory", "store", "model"]),
    ("scim", &["app", "auth", "directory", "model"]),
    (
        "admin",
        &["scim", "app", "auth", "directory", "store", "model"],
    ),
];

/// The layer a source file belongs to: `src/scim/users.rs` is `scim`, `src/app.rs` is `app`.
fn layer_of(rel: &Path) -> String {
    let first = rel.components().next().expect("a path under src/");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_string()
}

/// The module a `crate::` path names, as the rules spell it: `auth::token` for the leaves
/// under `auth`, else the first segment.
fn module_of(path: &str) -> String {
    let mut parts = path.split("::");
    let first = parts.next().unwrap_or("");
    let leaf = format!("{first}::{}", parts.next().unwrap_or(""));
    if LEAVES.contains(&leaf.as_str()) {
        leaf
    } else {
        first.to_string()
    }
}

/// The file's code without comments and without what follows its first `#[cfg(test)]`.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim_start();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if t.starts_with("//") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every `crate::a::b` path in the code (also the names inside `crate::{a, b::c}`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            out.extend(
                group[..end]
                    .split(',')
                    .map(|p| p.trim().to_string())
                    .filter(|p| !p.is_empty()),
            );
        } else {
            let end = after
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(after.len());
            out.push(after[..end].trim_end_matches(':').to_string());
        }
        rest = after;
    }
    out
}

/// Files declared as `#[cfg(test)] mod name;`: test code as a whole.
fn test_only_files(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        for pair in lines.windows(2) {
            if pair[0] == "#[cfg(test)]"
                && let Some(name) = pair[1]
                    .strip_prefix("mod ")
                    .and_then(|n| n.strip_suffix(';'))
            {
                let dir = file.parent().unwrap();
                out.push(dir.join(format!("{name}.rs")));
            }
        }
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// (file under src/, its code) for every non-test source file.
fn sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let skip = test_only_files(&files);
    files
        .into_iter()
        .filter(|f| !skip.contains(f))
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f.strip_prefix(&src).unwrap().to_path_buf(), code_of(&text))
        })
        .collect()
}

#[test]
fn calls_flow_one_way_through_the_layers() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    for (rel, code) in sources() {
        let layer = layer_of(&rel);
        if rel == Path::new("main.rs") || rel == Path::new("lib.rs") {
            continue;
        }
        for path in crate_paths(&code) {
            let used = module_of(&path);
            if used == layer || used.starts_with(&format!("{layer}::")) {
                continue;
            }
            let own = module_of(&format!("{}::{}", layer, rel_module(&rel)));
            let ok = if LEAVES.contains(&own.as_str()) {
                LEAVES.contains(&used.as_str())
            } else if LEAVES.contains(&used.as_str()) {
                true
            } else {
                match allowed.get(layer.as_str()) {
                    Some(may) => may.contains(&used.as_str()),
                    None => true,
                }
            };
            if !ok {
                wrong.push(format!("{} uses crate::{path}", rel.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layering (STYLE.md):\n{}",
        wrong.join("\n")
    );
}

/// `auth/token.rs` is `token`: the file's module name inside its layer.
fn rel_module(rel: &Path) -> String {
    rel.components()
        .nth(1)
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_string()
        })
        .unwrap_or_default()
}

#[test]
fn no_file_outside_the_store_names_the_engine_or_the_sql_compiler() {
    let mut wrong = Vec::new();
    for (rel, code) in sources() {
        if layer_of(&rel) == "store" {
            continue;
        }
        for word in ["rusqlite", "filter_sql", "prepare_cached", "execute_batch"] {
            if code.contains(word) {
                wrong.push(format!("{} names {word}", rel.display()));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "SQL outside store/:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_checks_see_a_crossing_when_there_is_one() {
    // The scanner itself: a path in a group, a nested path, comments and test code.
    let code = code_of(
        "use crate::{admin::AdminState, store};\n// crate::http in a comment\n\
         fn f() { crate::http::query::decode(\"\", false); }\n#[cfg(test)]\nuse crate::cli;\n",
    );
    let paths = crate_paths(&code);
    assert_eq!(paths, ["admin::AdminState", "store", "http::query::decode"]);
    assert_eq!(module_of("auth::token::generate"), "auth::token");
    assert_eq!(module_of("auth::bearer::Principal"), "auth");
    assert_eq!(layer_of(Path::new("scim/users.rs")), "scim");
}
