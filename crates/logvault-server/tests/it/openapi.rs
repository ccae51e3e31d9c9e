//! The OpenAPI document at `/api/v1/openapi.json`: generated from the route registry, so every route the server
//! answers is in it, with the security its `Access` allows, a summary, and its problem+json errors.

use logvault_server::http::openapi::{
    API_TOKEN_SCHEME, CSRF_SCHEME, MANUFACTURER_SCHEME, OPENAPI_PATH, SESSION_SCHEME, permission_name,
    schema_name_clashes,
};
use logvault_server::http::routes::{Access, RouteInfo, api_routes};
use logvault_store::Engine;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::helpers::TestApp;

async fn served_document(app: &TestApp) -> Value {
    let response = app.get(OPENAPI_PATH).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let text = response.text().await.unwrap();
    serde_json::from_str(&text).expect("the document is valid JSON")
}

fn operation<'a>(document: &'a Value, route: &RouteInfo) -> &'a Value {
    let method = route.method.as_str().to_ascii_lowercase();
    let operation = &document["paths"][route.path][method.as_str()];
    assert!(operation.is_object(), "{} {} is not in the OpenAPI document", route.method, route.path);
    operation
}

/// The security requirements an `Access` must show: alternatives, each a set of schemes required together.
fn expected_security(route: &RouteInfo) -> Value {
    let state_changing = route.method != reqwest::Method::GET;
    let session =
        if state_changing { json!({ SESSION_SCHEME: [], CSRF_SCHEME: [] }) } else { json!({ SESSION_SCHEME: [] }) };
    match route.access {
        Access::Public => json!([]),
        Access::PendingSecondFactor | Access::AnySession | Access::Session => json!([session]),
        Access::Authenticated | Access::Org(_) => json!([session, { API_TOKEN_SCHEME: [] }]),
        Access::Manufacturer => json!([{ MANUFACTURER_SCHEME: [] }]),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_is_openapi_3_1_with_the_crate_version_and_every_security_scheme() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let document = served_document(&app).await;
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(
        schemes[SESSION_SCHEME],
        json!({"type": "apiKey", "in": "cookie", "name": "__Host-logvault_session",
        "description": schemes[SESSION_SCHEME]["description"]})
    );
    assert_eq!(schemes[CSRF_SCHEME]["in"], "header");
    assert_eq!(schemes[CSRF_SCHEME]["name"], "X-CSRF-Token");
    assert_eq!(schemes[API_TOKEN_SCHEME]["scheme"], "bearer");
    assert_eq!(schemes[API_TOKEN_SCHEME]["bearerFormat"], "lv_…");
    assert_eq!(schemes[MANUFACTURER_SCHEME]["bearerFormat"], "lvm_…");
    let problem = &document["components"]["schemas"]["Problem"];
    for member in ["type", "title", "status", "request_id"] {
        assert!(problem["required"].as_array().unwrap().contains(&json!(member)), "Problem requires {member}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_registered_route_is_documented_with_the_security_its_access_allows() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let document = served_document(&app).await;
    let routes = api_routes();
    for route in routes.table() {
        let operation = operation(&document, route);
        let name = format!("{} {}", route.method, route.path);
        assert_eq!(operation["security"], expected_security(route), "security of {name}");
        if let Access::Org(permission) = route.access {
            let permission = permission_name(permission);
            assert_eq!(operation["x-logvault-permission"], permission, "permission of {name}");
            assert!(operation["description"].as_str().unwrap().contains(permission), "{name} names its permission");
            for status in ["401", "403", "404"] {
                assert!(operation["responses"][status].is_object(), "{name} documents {status}");
            }
        }
    }
    // And nothing is documented that the server does not answer.
    let n_documented: usize =
        document["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(n_documented, routes.table().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_has_a_summary_and_documents_its_errors_as_problem_json() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let document = served_document(&app).await;
    for route in api_routes().table() {
        let name = format!("{} {}", route.method, route.path);
        assert!(!route.doc.summary().trim().is_empty(), "{name} has an empty summary");
        let operation = operation(&document, route);
        assert_eq!(operation["summary"], route.doc.summary());
        let responses = operation["responses"].as_object().unwrap();
        assert!(responses.keys().any(|status| status.starts_with('2')), "{name} documents a success");
        let errors: Vec<&String> = responses.keys().filter(|s| !s.starts_with('2')).collect();
        assert!(errors.iter().any(|s| s.as_str() == "default"), "{name} documents other errors");
        for status in errors {
            let content = &responses[status]["content"];
            assert_eq!(
                content["application/problem+json"]["schema"]["$ref"], "#/components/schemas/Problem",
                "{name} {status} is problem+json"
            );
        }
        if route.access != Access::Public {
            assert!(responses.contains_key("401"), "{name} documents 401");
        }
        if operation.get("requestBody").is_some() {
            assert!(responses.contains_key("422"), "{name} documents 422 for its body");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_schema_reference_resolves_and_no_two_types_share_a_schema_name() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    let document = served_document(&app).await;
    assert_eq!(schema_name_clashes(api_routes().table()), Vec::<String>::new());
    let schemas = document["components"]["schemas"].as_object().unwrap();
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        let name = reference.strip_prefix("#/components/schemas/").expect("a schema reference");
        assert!(schemas.contains_key(name), "{reference} does not resolve");
    }
}

fn collect_references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref") {
                into.push(reference.clone());
            }
            map.values().for_each(|v| collect_references(v, into));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_references(v, into)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_route_is_documented_exactly_when_it_is_served() {
    let app = TestApp::spawn(Engine::Sqlite).await.unwrap();
    assert!(served_document(&app).await["paths"].get("/metrics").is_none());
    let app = TestApp::spawn_with(Engine::Sqlite, |config| {
        config.metrics.token = Some(SecretString::from("a-metrics-token-of-some-length".to_owned()));
    })
    .await
    .unwrap();
    let document = served_document(&app).await;
    assert!(document["paths"]["/metrics"]["get"]["responses"]["401"].is_object());
}
