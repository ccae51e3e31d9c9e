//! The OpenAPI 3.1 document of the API, generated from the route registry and served at `/api/v1/openapi.json`.
//!
//! Every route is registered with a [`Doc`] — [`Routes::add`](super::routes::Routes::add) does not take a route
//! without one — so a route cannot exist undocumented. The author writes what only the handler knows: a summary, the
//! request and response bodies (as `utoipa::ToSchema` types) and the errors of its own logic. What follows from the
//! registration itself is added here, the same way for every route: the path parameters, the security requirements
//! of its [`Access`] (with the permission of an organisation route), and the problem+json errors that the access
//! guard, the JSON extractor and the layers produce.

use std::collections::BTreeMap;

use axum::Extension;
use axum::body::Bytes;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, Content, HeaderBuilder, InfoBuilder, KnownFormat, LicenseBuilder, OpenApi, OpenApiBuilder,
    Paths, Ref, RefOr, Required, ResponseBuilder, Responses,
};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{CSRF_HEADER, SESSION_COOKIE};
use crate::error::{PROBLEM_JSON, ProblemBody};
use crate::http::routes::{Access, RouteInfo, Routes};

/// The path of the document.
pub const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// Names of the security schemes in `components.securitySchemes`.
pub const SESSION_SCHEME: &str = "session_cookie";
pub const CSRF_SCHEME: &str = "csrf_header";
pub const API_TOKEN_SCHEME: &str = "api_token";
pub const MANUFACTURER_SCHEME: &str = "manufacturer_token";

/// Writes a schema (and every schema it refers to) into the component list and returns how to refer to it.
pub type SchemaFn = fn(&mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema>;

/// What a route says about itself in the OpenAPI document, given to [`Routes::add`] with the handler.
///
/// ```ignore
/// Doc::new("Create a site")
///     .request_json::<NewSite>()
///     .response_json::<Site>(201, "the new site")
///     .error(409, "a site of this name exists")
/// ```
#[derive(Debug, Clone)]
pub struct Doc {
    summary: &'static str,
    description: Option<&'static str>,
    request: Vec<(&'static str, SchemaFn)>,
    query: Option<fn() -> Vec<Parameter>>,
    responses: Vec<Reply>,
    errors: Vec<(u16, &'static str)>,
}

#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    description: &'static str,
    content: Option<(&'static str, SchemaFn)>,
}

impl Doc {
    /// A route documented by its one-line summary (imperative, no trailing period: "Create a site").
    pub fn new(summary: &'static str) -> Doc {
        Doc { summary, description: None, request: Vec::new(), query: None, responses: Vec::new(), errors: Vec::new() }
    }

    /// A longer explanation (Markdown) after the summary.
    pub fn description(mut self, text: &'static str) -> Doc {
        self.description = Some(text);
        self
    }

    /// A JSON request body of type `T` (what the handler's `ApiJson<T>` takes).
    pub fn request_json<T: ToSchema>(self) -> Doc {
        self.request_as("application/json", schema_of::<T>)
    }

    /// A request body of `content_type`; call once per accepted media type.
    pub fn request_as(mut self, content_type: &'static str, schema: SchemaFn) -> Doc {
        self.request.push((content_type, schema));
        self
    }

    /// Query parameters described by `T` (a `#[derive(IntoParams)]` struct, as the handler's `Query<T>` takes).
    pub fn query<T: IntoParams>(mut self) -> Doc {
        self.query = Some(query_parameters::<T>);
        self
    }

    /// A JSON response of type `T` with `status`.
    pub fn response_json<T: ToSchema>(self, status: u16, description: &'static str) -> Doc {
        self.response_as(status, "application/json", description, schema_of::<T>)
    }

    /// A JSON response holding an array of `T`.
    pub fn response_list<T: ToSchema>(self, status: u16, description: &'static str) -> Doc {
        self.response_as(status, "application/json", description, list_of::<T>)
    }

    /// A response of `content_type` with the given schema (see [`schema_of`], [`one_of`], [`text_schema`]).
    pub fn response_as(
        mut self,
        status: u16,
        content_type: &'static str,
        description: &'static str,
        schema: SchemaFn,
    ) -> Doc {
        self.responses.push(Reply { status, description, content: Some((content_type, schema)) });
        self
    }

    /// A response without a body (204, or 202).
    pub fn response_empty(mut self, status: u16, description: &'static str) -> Doc {
        self.responses.push(Reply { status, description, content: None });
        self
    }

    /// An error of the handler's own logic, rendered as problem+json (`description` says when it happens). The
    /// errors of the access check, the JSON body and path parameters are added for every route that has them.
    pub fn error(mut self, status: u16, description: &'static str) -> Doc {
        self.errors.push((status, description));
        self
    }

    pub fn summary(&self) -> &'static str {
        self.summary
    }
}

/// [`SchemaFn`] of a `ToSchema` type: a `$ref` to its component.
pub fn schema_of<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    schemas.push((T::name().into_owned(), T::schema()));
    T::schemas(schemas);
    Ref::from_schema_name(T::name()).into()
}

/// [`SchemaFn`] of an array of `T`.
pub fn list_of<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    ArrayBuilder::new().items(schema_of::<T>(schemas)).into()
}

/// [`SchemaFn`] of a body that is either an `A` or a `B`.
pub fn one_of<A: ToSchema, B: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    OneOfBuilder::new().item(schema_of::<A>(schemas)).item(schema_of::<B>(schemas)).into()
}

/// [`SchemaFn`] of a text body (plain text, HTML, a script, a style sheet).
pub fn text_schema(_: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).into()
}

/// [`SchemaFn`] of raw bytes (OpenAPI 3.1: a string schema with a content media type).
pub fn binary_schema(_: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::String).content_media_type("application/octet-stream").into()
}

/// [`SchemaFn`] of any JSON object.
pub fn object_schema(_: &mut Vec<(String, RefOr<Schema>)>) -> RefOr<Schema> {
    ObjectBuilder::new().schema_type(Type::Object).into()
}

fn query_parameters<T: IntoParams>() -> Vec<Parameter> {
    T::into_params(|| Some(ParameterIn::Query))
}

/// The route of the document itself.
pub fn routes() -> Routes {
    Routes::new().add(
        Method::GET,
        OPENAPI_PATH,
        Access::Public,
        Doc::new("This OpenAPI 3.1 document")
            .description("Generated from the server's route registry: every route it answers is described here.")
            .response_as(200, "application/json", "the OpenAPI document", object_schema),
        serve,
    )
}

/// The serialised document, made once when the router is built and handed to [`serve`] as an extension.
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub Bytes);

impl OpenApiJson {
    pub fn of(table: &[RouteInfo]) -> OpenApiJson {
        // Serialising plain data into memory cannot fail; should it ever, the document is empty rather than the
        // server down.
        let json = document(table).to_json().unwrap_or_else(|err| {
            tracing::error!(error = %err, "the OpenAPI document could not be serialised");
            "{}".to_owned()
        });
        OpenApiJson(Bytes::from(json))
    }
}

async fn serve(Extension(document): Extension<OpenApiJson>) -> Response {
    let mut response = document.0.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The document for `table`: one operation per route, the schemas they use, the security schemes.
pub fn document(table: &[RouteInfo]) -> OpenApi {
    build(table).0
}

/// Schema names that two different types claim (two handler modules with a `CodeRequest`, say): the document keeps
/// only the first, so the other needs `#[schema(as = OtherName)]`. Empty when the document is sound.
pub fn schema_name_clashes(table: &[RouteInfo]) -> Vec<String> {
    build(table).1
}

fn build(table: &[RouteInfo]) -> (OpenApi, Vec<String>) {
    let mut collected = Vec::new();
    schema_of::<ProblemBody<'static>>(&mut collected);
    let mut paths = Paths::new();
    for route in table {
        let operation = operation(route, &mut collected);
        paths.add_path_operation(route.path, vec![http_method(&route.method)], operation);
    }
    let mut schemas: BTreeMap<String, RefOr<Schema>> = BTreeMap::new();
    let mut clashes = Vec::new();
    for (name, schema) in collected {
        match schemas.get(&name) {
            Some(existing) if *existing != schema => {
                if !clashes.contains(&name) {
                    clashes.push(name);
                }
            }
            Some(_) => {}
            None => {
                schemas.insert(name, schema);
            }
        }
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            SESSION_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                SESSION_COOKIE,
                "The session cookie set by sign-in (`__Host-`: Secure, Path=/, HttpOnly, SameSite=Lax).",
            ))),
        )
        .security_scheme(
            CSRF_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The CSRF token returned by sign-in and `GET /api/v1/me`; required with the session cookie on every \
                 state-changing request (POST, PUT, PATCH, DELETE).",
            ))),
        )
        .security_scheme(
            API_TOKEN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lv_…")
                    .description(Some(
                        "An organisation's API token (`Authorization: Bearer lv_…`): acts in its one organisation \
                         with at most its role. No CSRF token is needed.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            MANUFACTURER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("lvm_…")
                    .description(Some("A manufacturer's upload token (`Authorization: Bearer lvm_…`)."))
                    .build(),
            ),
        )
        .build();
    let info = InfoBuilder::new()
        .title("Logvault")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Immutable storage of temperature and humidity data-logger measurements. Every error is an RFC 9457 \
             `application/problem+json` body (`Problem`) carrying the request id.",
        ))
        .license(Some(LicenseBuilder::new().name("AGPL-3.0-or-later").identifier(Some("AGPL-3.0-or-later")).build()))
        .build();
    let document = OpenApiBuilder::new().info(info).paths(paths).components(Some(components)).build();
    (document, clashes)
}

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        // The registry takes GET, POST, PUT, PATCH and DELETE only.
        _ => HttpMethod::Get,
    }
}

/// Whether the method changes state, so that a session must send the CSRF token.
fn is_unsafe(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn operation(route: &RouteInfo, schemas: &mut Vec<(String, RefOr<Schema>)>) -> Operation {
    let doc = &route.doc;
    let mut parameters = path_parameters(route.path);
    if let Some(query) = doc.query {
        parameters.extend(query());
    }
    let request_body = (!doc.request.is_empty()).then(|| {
        doc.request
            .iter()
            .fold(RequestBodyBuilder::new().required(Some(Required::True)), |body, (content_type, schema)| {
                body.content(*content_type, Content::new(Some(schema(schemas))))
            })
            .build()
    });
    let description = match doc.description {
        Some(text) => format!("{text}\n\n{}", access_text(route)),
        None => access_text(route),
    };
    let mut extensions = utoipa::openapi::extensions::Extensions::default();
    extensions.insert("x-logvault-access".to_owned(), access_name(route.access).into());
    if let Access::Org(permission) = route.access {
        extensions.insert("x-logvault-permission".to_owned(), permission_name(permission).into());
    }
    OperationBuilder::new()
        .summary(Some(doc.summary))
        .description(Some(description))
        .operation_id(Some(operation_id(route)))
        .parameters((!parameters.is_empty()).then_some(parameters))
        .request_body(request_body)
        .responses(responses(route, schemas))
        .securities(Some(security(route)))
        .extensions(Some(extensions))
        .build()
}

/// `{name}` segments of the path: `…_id` is an integer, anything else a serial (`ApiPath<Serial>` refuses any other
/// text with a 404).
fn path_parameters(path: &str) -> Vec<Parameter> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            let schema = if name.ends_with("_id") {
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
            } else {
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(logvault_protocol::Serial::MAX_LEN))
                    .pattern(Some("^[A-Za-z0-9-]+$"))
            };
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .schema(Some(schema))
                .build()
        })
        .collect()
}

/// `get /api/v1/orgs/{org_id}` → `get_api_v1_orgs_org_id`: unique, since method and path are.
fn operation_id(route: &RouteInfo) -> String {
    let raw = format!("{}_{}", route.method.as_str().to_ascii_lowercase(), route.path);
    let mut id = String::with_capacity(raw.len());
    for c in raw.chars() {
        if c.is_ascii_alphanumeric() {
            id.push(c);
        } else if !id.ends_with('_') {
            id.push('_');
        }
    }
    id.trim_end_matches('_').to_owned()
}

fn access_name(access: Access) -> &'static str {
    match access {
        Access::Public => "public",
        Access::PendingSecondFactor => "pending_second_factor",
        Access::AnySession => "any_session",
        Access::Manufacturer => "manufacturer",
        Access::Session => "session",
        Access::Authenticated => "authenticated",
        Access::Org(_) => "org",
    }
}

/// The permission's name as the API spells it (`manage_devices`).
pub fn permission_name(permission: logvault_core::authz::Permission) -> &'static str {
    permission.as_str()
}

fn access_text(route: &RouteInfo) -> String {
    let csrf = if is_unsafe(&route.method) {
        format!(" With the session cookie, send the CSRF token in `{CSRF_HEADER}`.")
    } else {
        String::new()
    };
    match route.access {
        Access::Public => "**Access:** public, no credentials.".to_owned(),
        Access::PendingSecondFactor => {
            format!("**Access:** a session that has given its password and still owes its second factor.{csrf}")
        }
        Access::AnySession => format!("**Access:** any live session, complete or still owing its second factor.{csrf}"),
        Access::Manufacturer => "**Access:** a manufacturer's upload token (`Bearer lvm_…`).".to_owned(),
        Access::Session => format!("**Access:** a signed-in user by session cookie; API tokens are refused.{csrf}"),
        Access::Authenticated => format!("**Access:** a signed-in user, by session cookie or API token.{csrf}"),
        Access::Org(permission) => format!(
            "**Access:** a member of organisation `org_id`, by session cookie or API token, whose role grants the \
             `{}` permission. Non-members get 404; members without the permission 403 (and an `authz.denied` audit \
             entry).{csrf}",
            permission_name(permission)
        ),
    }
}

fn security(route: &RouteInfo) -> Vec<SecurityRequirement> {
    let no_scopes: [&str; 0] = [];
    let session = if is_unsafe(&route.method) {
        SecurityRequirement::new(SESSION_SCHEME, no_scopes).add(CSRF_SCHEME, no_scopes)
    } else {
        SecurityRequirement::new(SESSION_SCHEME, no_scopes)
    };
    match route.access {
        Access::Public => Vec::new(),
        Access::PendingSecondFactor | Access::AnySession | Access::Session => vec![session],
        Access::Authenticated | Access::Org(_) => vec![session, SecurityRequirement::new(API_TOKEN_SCHEME, no_scopes)],
        Access::Manufacturer => vec![SecurityRequirement::new(MANUFACTURER_SCHEME, no_scopes)],
    }
}

/// The route's own responses, then its errors: those it declares and those its registration implies, one response
/// per status, and a `default` problem for anything else (timeouts, a busy or failing server).
fn responses(route: &RouteInfo, schemas: &mut Vec<(String, RefOr<Schema>)>) -> Responses {
    let doc = &route.doc;
    let mut responses = Responses::new();
    for reply in &doc.responses {
        let mut response = ResponseBuilder::new().description(reply.description);
        if let Some((content_type, schema)) = reply.content {
            response = response.content(content_type, Content::new(Some(schema(schemas))));
        }
        responses.responses.insert(reply.status.to_string(), response.build().into());
    }
    let mut errors: BTreeMap<u16, Vec<&str>> = BTreeMap::new();
    for (status, why) in &doc.errors {
        errors.entry(*status).or_default().push(why);
    }
    let mut implied = |status: u16, why: &'static str| errors.entry(status).or_default().push(why);
    if route.access != Access::Public {
        implied(401, "no credentials, or expired, revoked or wrong ones");
        if is_unsafe(&route.method) {
            implied(403, "a session without the CSRF token, or a wrong one");
        }
    }
    if matches!(route.access, Access::Org(_) | Access::Authenticated) {
        implied(403, "the organisation requires a second factor and the caller has none (`mfa-enrolment-required`)");
    }
    if route.access == Access::Session {
        implied(403, "an API token (`session-required`)");
    }
    if let Access::Org(_) = route.access {
        implied(403, "the caller's role lacks the permission");
        implied(404, "not a member of the organisation (or no such organisation)");
    }
    if route.path.contains('{') && !matches!(route.access, Access::Org(_)) {
        implied(404, "nothing with this identifier is visible to the caller");
    }
    if !doc.request.is_empty() {
        implied(400, "the body is not valid for its media type (malformed JSON)");
        implied(413, "the body is larger than the server accepts");
        implied(415, "the body has an unsupported `Content-Type`");
        implied(422, "the body does not have the expected shape or fails validation");
    }
    if doc.query.is_some() || route.path.contains('{') {
        implied(400, "a path or query parameter does not parse");
    }
    let problem = Ref::from_schema_name("Problem");
    for (status, reasons) in errors {
        let mut response = ResponseBuilder::new()
            .description(reasons.join("; "))
            .content(PROBLEM_JSON, Content::new(Some(problem.clone())));
        if status == 429 {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::Integer)))
                    .description(Some("seconds until a retry can succeed"))
                    .build(),
            );
        }
        responses.responses.insert(status.to_string(), response.build().into());
    }
    responses.responses.insert(
        "default".to_owned(),
        ResponseBuilder::new()
            .description("any other error (408 timeout, 5xx), as problem+json; a 5xx body carries no detail")
            .content(PROBLEM_JSON, Content::new(Some(problem)))
            .build()
            .into(),
    );
    responses
}
