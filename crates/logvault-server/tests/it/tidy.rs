//! Tidy checks over the server's own source: the layer lines of docs/ARCHITECTURE.md, kept by a test.
//!
//! Handler modules under `src/http/` do not import one another (shared HTTP plumbing is fine), and nothing under
//! `src/app/` imports axum or `crate::http`: the application layer knows nothing of how a request arrived.

use std::path::{Path, PathBuf};

/// Modules of `src/http/` every handler may use: the route registry, its OpenAPI `Doc`s, the JSON and path
/// extractors and the middleware.
const PLUMBING: &[&str] = &["mod", "routes", "openapi", "json", "path", "middleware"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The file's lines of code: comments (including doc comments, which may name other modules) left out.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(index, line)| (index + 1, line.to_owned()))
        .collect()
}

/// Every module `line` names as `crate::http::X`, `crate::http::{X, …}` or (in a file directly under `src/http/`)
/// `super::X`.
fn http_modules_named(line: &str, top_level: bool) -> Vec<String> {
    let mut named = Vec::new();
    let mut prefixes = vec!["crate::http::"];
    if top_level {
        prefixes.push("super::");
    }
    for prefix in prefixes {
        for (start, _) in line.match_indices(prefix) {
            let rest = &line[start + prefix.len()..];
            let names = match rest.strip_prefix('{') {
                Some(group) => group.split('}').next().unwrap_or("").split(',').map(str::to_owned).collect(),
                None => vec![rest.to_owned()],
            };
            for name in names {
                let name: String = name.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != "self" {
                    named.push(name);
                }
            }
        }
    }
    named
}

fn module_name(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

#[test]
fn handler_modules_do_not_import_other_handler_modules() {
    let http = src().join("http");
    let mut files = Vec::new();
    rust_files(&http, &mut files);
    let handlers: Vec<String> = files
        .iter()
        .filter(|path| path.parent() == Some(http.as_path()))
        .map(|path| module_name(path))
        .filter(|name| !PLUMBING.contains(&name.as_str()))
        .collect();
    // Not vacuous: the handler modules are found.
    for expected in ["ingest", "devices", "orgs", "session", "mfa", "otp", "exports", "reports"] {
        assert!(handlers.iter().any(|name| name == expected), "{expected} not found in {handlers:?}");
    }
    let mut offences = Vec::new();
    for path in &files {
        let this = module_name(path);
        let top_level = path.parent() == Some(http.as_path());
        if top_level && PLUMBING.contains(&this.as_str()) {
            continue;
        }
        for (number, line) in code_lines(path) {
            for named in http_modules_named(&line, top_level) {
                if named != this && handlers.contains(&named) {
                    offences.push(format!("{}:{number} imports http::{named}", path.display()));
                }
            }
        }
    }
    assert!(
        offences.is_empty(),
        "handlers importing handlers (move the shared part into app/):\n{}",
        offences.join("\n")
    );
}

#[test]
fn no_module_of_the_application_layer_imports_axum_or_the_http_layer() {
    let mut files = Vec::new();
    rust_files(&src().join("app"), &mut files);
    assert!(files.iter().any(|path| path.ends_with("app/ingest.rs")), "{files:?}");
    let mut offences = Vec::new();
    for path in &files {
        for (number, line) in code_lines(path) {
            let imports_axum = line
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .any(|word| word == "axum" || word.starts_with("axum::") || word.starts_with("::axum"));
            if imports_axum || line.contains("crate::http") {
                offences.push(format!("{}:{number}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(offences.is_empty(), "app/ must not know about HTTP:\n{}", offences.join("\n"));
}

#[test]
fn the_tidy_scanner_sees_an_import_in_each_of_its_spellings() {
    assert_eq!(http_modules_named("use crate::http::orgs::org_event;", false), ["orgs"]);
    assert_eq!(http_modules_named("use crate::http::{json::ApiJson, session};", false), ["json", "session"]);
    assert_eq!(http_modules_named("    super::mfa::reauthenticate(&state)", true), ["mfa"]);
    assert!(http_modules_named("    super::mfa::reauthenticate(&state)", false).is_empty());
}
