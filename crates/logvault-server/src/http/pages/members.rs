//! `/orgs/{org_id}/members`: the members and their roles, open invitations, and inviting someone (the link shown
//! when the server sends no email).

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::http::Method;
use axum::response::Response;
use logvault_core::Email;
use logvault_core::authz::{self, Permission, Role};
use serde::Deserialize;

use super::{Nav, html, when_us};
use crate::app::invitations;
use crate::auth::{OrgAccess, Principal, now_us};
use crate::error::ApiError;
use crate::http::routes::{Access, Doc, Routes};
use crate::state::AppState;

pub fn routes() -> Routes {
    Routes::new()
        .add(
            Method::GET,
            "/orgs/{org_id}/members",
            Access::Org(Permission::ManageMembers),
            Doc::new("The members page"),
            members_page,
        )
        .add(
            Method::POST,
            "/orgs/{org_id}/members",
            Access::Org(Permission::ManageMembers),
            Doc::new("Invite someone"),
            invite_post,
        )
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    nav: Option<Nav>,
    org_id: i64,
    csrf: String,
    members: Vec<(String, String, &'static str)>,
    pending: Vec<String>,
    roles: Vec<&'static str>,
    chosen_role: &'static str,
    email: String,
    error: Option<String>,
    notice: Option<String>,
    link: Option<String>,
}

impl MembersPage {
    async fn of(state: &AppState, principal: &Principal, access: &OrgAccess) -> Result<MembersPage, ApiError> {
        let org_id = access.scope.org_id();
        let members = state
            .store
            .members(&access.scope)
            .await?
            .into_iter()
            .map(|m| (m.user.name, m.user.email.to_string(), m.role.as_str()))
            .collect();
        let pending = state
            .store
            .invitations(&access.scope, now_us())
            .await?
            .into_iter()
            .map(|i| format!("{} as {}, until {}", i.email, i.role, when_us(i.expires_at_us).0))
            .collect();
        Ok(MembersPage {
            nav: Some(Nav::load(state, principal, Some(org_id), "members").await?),
            org_id,
            csrf: principal.csrf_token(state).unwrap_or_default(),
            members,
            pending,
            roles: Role::ALL.iter().filter(|r| authz::may_assign(access.role, None, **r)).map(|r| r.as_str()).collect(),
            chosen_role: Role::Viewer.as_str(),
            email: String::new(),
            error: None,
            notice: None,
            link: None,
        })
    }
}

async fn members_page(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
) -> Result<Response, ApiError> {
    html(&MembersPage::of(&state, &principal, &access).await?)
}

#[derive(Debug, Deserialize)]
struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

async fn invite_post(
    State(state): State<AppState>,
    principal: Principal,
    access: OrgAccess,
    Form(form): Form<InviteForm>,
) -> Result<Response, ApiError> {
    let mut page = MembersPage::of(&state, &principal, &access).await?;
    page.email = form.email.trim().to_owned();
    let role = Role::parse(&form.role).ok().filter(|role| authz::may_assign(access.role, None, *role));
    if let Some(role) = role {
        page.chosen_role = role.as_str();
    }
    let email = match Email::parse(form.email.trim()) {
        Ok(email) => email,
        Err(_) => {
            page.error = Some("That is not an email address.".to_owned());
            return html(&page);
        }
    };
    let Some(role) = role else {
        page.error = Some("Choose one of the roles offered.".to_owned());
        return html(&page);
    };
    let invited = invitations::invite(&state, &principal, &access, email, role).await?;
    let mut page = MembersPage::of(&state, &principal, &access).await?;
    page.notice = Some(if invited.emailed {
        format!("The invitation went out by email to {}.", invited.invitation.email)
    } else {
        format!("Invitation made for {}.", invited.invitation.email)
    });
    page.link = invited.link;
    html(&page)
}
