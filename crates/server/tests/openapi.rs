//! The committed `openapi.json` at the repository root is the control
//! plane's OpenAPI document as the route declarations generate it. Clients
//! (the TypeScript SDK's drift test, generated clients) and the validators
//! of `scripts/check-openapi` read that file, so it must not drift.
//!
//! Regenerate it with
//!
//! ```sh
//! PADDOCK_UPDATE_OPENAPI=1 cargo test -p paddock-server --test openapi
//! # or
//! cargo run -p paddock -- openapi > openapi.json
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

/// The document as `paddock openapi` prints it: pretty JSON, one trailing
/// newline.
fn generated() -> String {
    let json = paddock_server::routes::openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    format!("{json}\n")
}

fn committed_path() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    path.canonicalize().unwrap_or(path)
}

#[test]
fn committed_openapi_json_matches_the_routes() {
    let path = committed_path();
    let fresh = generated();
    if std::env::var_os("PADDOCK_UPDATE_OPENAPI").is_some_and(|v| !v.is_empty() && v != "0") {
        std::fs::write(&path, &fresh).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed == fresh {
        return;
    }
    let first_difference = committed
        .lines()
        .zip(fresh.lines())
        .enumerate()
        .find(|(_, (a, b))| a != b)
        .map(|(i, (a, b))| {
            format!(
                "first difference at line {}:\n  committed: {a}\n  generated: {b}",
                i + 1
            )
        })
        .unwrap_or_else(|| {
            format!(
                "the committed file has {} lines, the generated document {}",
                committed.lines().count(),
                fresh.lines().count()
            )
        });
    panic!(
        "{} is out of date with the route declarations ({first_difference}).\n\
         Regenerate it and commit the result:\n    \
         PADDOCK_UPDATE_OPENAPI=1 cargo test -p paddock-server --test openapi\n\
         or\n    \
         cargo run -p paddock -- openapi > openapi.json",
        path.display()
    );
}

#[test]
fn generation_is_deterministic() {
    assert_eq!(generated(), generated());
}

#[test]
fn every_operation_has_a_unique_camel_case_id() {
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Some(id) = operation.get("operationId").and_then(Value::as_str) else {
                panic!("{method} {path} has no operationId");
            };
            assert!(
                id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                    && id.chars().all(|c| c.is_ascii_alphanumeric()),
                "{method} {path}: operationId {id:?} is not camelCase"
            );
            if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id:?} is used by both {other} and {method} {path}");
            }
        }
    }
    assert!(!seen.is_empty(), "no operations");
}

/// Every operation says how it authenticates (`[{}]`: no key needed), and
/// every one that takes a key declares its 401 answer.
#[test]
fn every_operation_declares_its_security_and_401() {
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let security = operation["security"]
                .as_array()
                .unwrap_or_else(|| panic!("{method} {path} declares no security"));
            let needs_key = security.iter().any(|s| s.get("bearer").is_some());
            if needs_key {
                assert!(
                    operation["responses"].get("401").is_some(),
                    "{method} {path} takes an API key but declares no 401 answer"
                );
            }
        }
    }
}

/// utoipa writes `"description": ""` for a response declared without
/// one, which both validators accept; clients and readers need the words.
#[test]
fn every_response_is_described() {
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            for (status, response) in operation["responses"].as_object().expect("responses") {
                let described = response["description"].as_str().is_some_and(|d| !d.trim().is_empty());
                assert!(described, "{method} {path}: the {status} answer has no description");
            }
        }
    }
}

#[test]
fn every_reference_resolves() {
    let doc: Value = serde_json::from_str(&generated()).unwrap();
    let schemas: BTreeSet<String> = doc["components"]["schemas"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    for target in refs {
        let name = target
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {target:?}"));
        assert!(schemas.contains(name), "{target} refers to no schema");
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                out.push(target.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
