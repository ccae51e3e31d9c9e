//! Tidy checks over the whole workspace that keep the store the one storage layer (docs/ARCHITECTURE.md): no crate
//! but `logvault-store` depends on sqlx, and no source outside it names sqlx or tells the engines apart.
//!
//! Every dependency table counts — `[dependencies]`, `[dev-dependencies]`, `[build-dependencies]` and their
//! `[target.…]` forms — because a test or benchmark that opened its own sqlx pool would bypass the store's error
//! mapping and guards; what tests need past the store, its `testing` feature offers (`RawPool`, `TestDatabase`).
//! Sources are checked under each crate's `src/` only: tests and benchmarks may choose an engine, since they run
//! every storage behaviour on both.

use std::path::{Path, PathBuf};

const STORE: &str = "logvault-store";

fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Every crate folder of the workspace, sorted.
fn crates() -> Vec<PathBuf> {
    let mut crates: Vec<PathBuf> = std::fs::read_dir(crates_dir())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("Cargo.toml").is_file())
        .collect();
    crates.sort();
    crates
}

fn crate_name(dir: &Path) -> String {
    dir.file_name().unwrap().to_string_lossy().into_owned()
}

/// The names of every dependency the manifest declares, in any dependency table (a renamed dependency by the
/// package it names).
fn dependencies(manifest: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let manifest: toml::Table = text.parse().unwrap();
    let mut tables: Vec<&toml::Table> = Vec::new();
    let kinds = ["dependencies", "dev-dependencies", "build-dependencies"];
    for kind in kinds {
        tables.extend(manifest.get(kind).and_then(toml::Value::as_table));
    }
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for target in targets.values().filter_map(toml::Value::as_table) {
            for kind in kinds {
                tables.extend(target.get(kind).and_then(toml::Value::as_table));
            }
        }
    }
    tables
        .into_iter()
        .flat_map(|table| table.iter())
        .map(|(name, spec)| match spec.get("package").and_then(toml::Value::as_str) {
            Some(package) => package.to_owned(),
            None => name.clone(),
        })
        .collect()
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

/// The file's code, line by line: comment lines and trailing comments left out (they may name sqlx or an engine).
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(index, line)| (index + 1, line.split(" //").next().unwrap_or("").to_owned()))
        .collect()
}

/// What a line of code outside the store must not say: sqlx, the engine of an opened store, or an engine's store
/// type. `Engine` as a word is the store's engine enum, except `base64::Engine` (the base64 crate's trait).
fn violations(line: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    for (needle, what) in [
        ("sqlx", "names sqlx"),
        (".engine()", "asks the store for its engine"),
        ("SqliteStore", "names an engine's store type"),
        ("PgStore", "names an engine's store type"),
    ] {
        if line.contains(needle) {
            found.push(what);
        }
    }
    for (start, _) in line.match_indices("Engine") {
        let before = &line[..start];
        let after = &line[start + "Engine".len()..];
        let word_start = !before.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        let word_end = !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if word_start && word_end && !before.ends_with("base64::") {
            found.push("names the store's Engine");
        }
    }
    found
}

#[test]
fn no_crate_but_the_store_depends_on_sqlx() {
    let crates = crates();
    // Not vacuous: every crate is read, and the store's own sqlx dependency is found.
    let names: Vec<String> = crates.iter().map(|dir| crate_name(dir)).collect();
    for expected in [STORE, "logvault-server", "logvault", "logvault-core", "logvault-protocol"] {
        assert!(names.iter().any(|name| name == expected), "crate {expected} not found in {names:?}");
    }
    let mut offenders = Vec::new();
    for dir in &crates {
        let depends = dependencies(&dir.join("Cargo.toml")).iter().any(|name| name == "sqlx");
        match crate_name(dir).as_str() {
            STORE => assert!(depends, "the check cannot see the store's own sqlx dependency"),
            name if depends => offenders.push(name.to_owned()),
            _ => {}
        }
    }
    assert!(offenders.is_empty(), "only {STORE} may depend on sqlx; also: {offenders:?}");
}

#[test]
fn no_source_outside_the_store_names_sqlx_or_tells_the_engines_apart() {
    let mut offenders = Vec::new();
    let mut n_files = 0;
    for dir in crates() {
        let mut files = Vec::new();
        rust_files(&dir.join("src"), &mut files);
        if crate_name(&dir) == STORE {
            // Not vacuous: the same check finds what the store itself says.
            let said = files.iter().flat_map(|path| code_lines(path)).any(|(_, line)| !violations(&line).is_empty());
            assert!(said, "the check finds neither sqlx nor an engine in the store's own source");
            continue;
        }
        for path in files {
            n_files += 1;
            for (number, line) in code_lines(&path) {
                for what in violations(&line) {
                    offenders.push(format!("{}:{number} {what}: {}", path.display(), line.trim()));
                }
            }
        }
    }
    assert!(n_files > 50, "only {n_files} source files found outside the store");
    assert!(offenders.is_empty(), "outside {STORE}:\n{}", offenders.join("\n"));
}

#[test]
fn the_source_check_catches_each_way_of_telling_the_engines_apart() {
    for line in [
        "use logvault_store::{Engine, Store};",
        "    Engine,",
        "if store.engine() == logvault_store::Engine::Postgres {",
        "let rows = sqlx::query(\"SELECT 1\");",
        "let store: SqliteStore = open().await;",
    ] {
        assert!(!violations(line).is_empty(), "not caught: {line}");
    }
    for line in ["use base64::Engine as _;", "let engine_room = EngineRoom::new();", "let url = \"https://x\";"] {
        assert_eq!(violations(line), Vec::<&str>::new(), "caught wrongly: {line}");
    }
}
