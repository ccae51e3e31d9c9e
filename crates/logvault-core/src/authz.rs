//! Roles and permissions: the one place that says which organisation role may do what.
//!
//! Every authorisation decision in Logvault asks [`Role::allows`]; no handler compares roles itself. The matrix is a
//! single exhaustive `match` without a catch-all arm, so adding a role or a permission does not compile until someone
//! has decided every new cell. `docs/SECURITY.md` ("Roles and permissions") shows the same matrix as a table, and a
//! test below fails when the two differ.
//!
//! Why the matrix looks the way it does:
//! - **owner** can do everything, including the two actions that can leak or destroy a whole organisation at once.
//! - **admin** runs the organisation day to day (members, settings and policy such as `require_mfa` and retention,
//!   devices, alarms, the audit log) but is denied [`Permission::EmergencyKeyExport`] and
//!   [`Permission::ManageBackups`]. The product spec makes the emergency export of device keys owner-only, and a
//!   backup holds the same material (every measurement, the audit log and the sealed device keys) while a restore
//!   replaces the organisation's data, so backups follow the same rule. Admins manage members but can neither make
//!   nor change nor remove an owner (see [`may_assign`] and [`may_remove`]), so an admin cannot escalate to owner.
//! - **operator** looks after the fleet: devices, alarm rules, acknowledging alarms, reading and exporting data, and
//!   API tokens of their own for automation.
//! - **viewer** reads and exports measurements; nothing else.
//! - **auditor** is a viewer who can also read the audit log.

use std::fmt;

/// A member's role within one organisation.
///
/// Roles are not ordered: an auditor and an operator each hold a permission the other lacks. Compare permission
/// sets (as [`max_token_role`] does) rather than ranks.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including emergency key export and backups; the only role that can make or unmake owners.
    Owner,
    /// Runs the organisation: members (except owners), settings and policy, devices, alarms, the audit log.
    Admin,
    /// Looks after the fleet: devices, alarm rules, acknowledging alarms, exports, own API tokens.
    Operator,
    /// Reads and exports measurements.
    Viewer,
    /// A viewer who can also read the audit log.
    Auditor,
}

/// Something a member may do within their organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// See the organisation, its sites, devices and members.
    ReadOrganisation,
    /// Read measurements, charts and alarm history.
    ReadMeasurements,
    /// Download measurements as CSV, XLSX or PDF reports.
    ExportMeasurements,
    /// Add, configure, move and retire devices.
    ManageDevices,
    /// Acknowledge an active alarm (with a comment).
    AcknowledgeAlarms,
    /// Create, change and delete alarm rules.
    ManageAlarmRules,
    /// Invite members, change their roles, remove them (never owners unless the actor is an owner).
    ManageMembers,
    /// Change organisation settings and policy: name, `require_mfa`, retention.
    ManageOrganisation,
    /// Read the organisation's audit log.
    ReadAuditLog,
    /// Create and revoke one's own API tokens.
    ManageApiTokens,
    /// Export the organisation's device keys in the clear for disaster recovery.
    EmergencyKeyExport,
    /// Create, download and restore the organisation's backups.
    ManageBackups,
}

/// Why a string is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// The input is not the lowercase name of a role. The input is not echoed: it may come from anyone.
    #[error("unknown role: expected one of owner, admin, operator, viewer, auditor")]
    Unknown,
}

impl Role {
    /// Every role, most privileged first (the order of the columns in `docs/SECURITY.md`).
    pub const ALL: [Role; 5] = [Role::Owner, Role::Admin, Role::Operator, Role::Viewer, Role::Auditor];

    /// Parses the lowercase name of a role, as stored and as sent by clients. No trimming or case folding, so a
    /// value has exactly one spelling everywhere (the same as the serde form).
    pub fn parse(raw: &str) -> Result<Role, RoleError> {
        Role::ALL.into_iter().find(|role| role.as_str() == raw).ok_or(RoleError::Unknown)
    }

    /// The lowercase name, as stored and shown.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
            Role::Auditor => "auditor",
        }
    }

    /// Whether a member with this role holds the permission: the whole matrix, in one exhaustive match.
    ///
    /// Each role has one arm listing what it may do and one listing what it may not, so every cell is written down.
    pub const fn allows(self, permission: Permission) -> bool {
        // Variants are spelled out with their path: a misspelled bare name would be a catch-all binding.
        use Permission as P;
        match (self, permission) {
            (
                Role::Owner,
                P::ReadOrganisation
                | P::ReadMeasurements
                | P::ExportMeasurements
                | P::ManageDevices
                | P::AcknowledgeAlarms
                | P::ManageAlarmRules
                | P::ManageMembers
                | P::ManageOrganisation
                | P::ReadAuditLog
                | P::ManageApiTokens
                | P::EmergencyKeyExport
                | P::ManageBackups,
            ) => true,

            (
                Role::Admin,
                P::ReadOrganisation
                | P::ReadMeasurements
                | P::ExportMeasurements
                | P::ManageDevices
                | P::AcknowledgeAlarms
                | P::ManageAlarmRules
                | P::ManageMembers
                | P::ManageOrganisation
                | P::ReadAuditLog
                | P::ManageApiTokens,
            ) => true,
            (Role::Admin, P::EmergencyKeyExport | P::ManageBackups) => false,

            (
                Role::Operator,
                P::ReadOrganisation
                | P::ReadMeasurements
                | P::ExportMeasurements
                | P::ManageDevices
                | P::AcknowledgeAlarms
                | P::ManageAlarmRules
                | P::ManageApiTokens,
            ) => true,
            (
                Role::Operator,
                P::ManageMembers | P::ManageOrganisation | P::ReadAuditLog | P::EmergencyKeyExport | P::ManageBackups,
            ) => false,

            (Role::Viewer, P::ReadOrganisation | P::ReadMeasurements | P::ExportMeasurements) => true,
            (
                Role::Viewer,
                P::ManageDevices
                | P::AcknowledgeAlarms
                | P::ManageAlarmRules
                | P::ManageMembers
                | P::ManageOrganisation
                | P::ReadAuditLog
                | P::ManageApiTokens
                | P::EmergencyKeyExport
                | P::ManageBackups,
            ) => false,

            (Role::Auditor, P::ReadOrganisation | P::ReadMeasurements | P::ExportMeasurements | P::ReadAuditLog) => {
                true
            }
            (
                Role::Auditor,
                P::ManageDevices
                | P::AcknowledgeAlarms
                | P::ManageAlarmRules
                | P::ManageMembers
                | P::ManageOrganisation
                | P::ManageApiTokens
                | P::EmergencyKeyExport
                | P::ManageBackups,
            ) => false,
        }
    }

    /// The permissions this role holds, in [`Permission::ALL`] order.
    pub fn permissions(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |permission| self.allows(*permission))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = RoleError;

    fn from_str(raw: &str) -> Result<Role, RoleError> {
        Role::parse(raw)
    }
}

impl Permission {
    /// Every permission, in the order of the rows in `docs/SECURITY.md`.
    pub const ALL: [Permission; 12] = [
        Permission::ReadOrganisation,
        Permission::ReadMeasurements,
        Permission::ExportMeasurements,
        Permission::ManageDevices,
        Permission::AcknowledgeAlarms,
        Permission::ManageAlarmRules,
        Permission::ManageMembers,
        Permission::ManageOrganisation,
        Permission::ReadAuditLog,
        Permission::ManageApiTokens,
        Permission::EmergencyKeyExport,
        Permission::ManageBackups,
    ];

    /// The snake_case name, as used in the docs, the audit log and API errors.
    pub const fn as_str(self) -> &'static str {
        match self {
            Permission::ReadOrganisation => "read_organisation",
            Permission::ReadMeasurements => "read_measurements",
            Permission::ExportMeasurements => "export_measurements",
            Permission::ManageDevices => "manage_devices",
            Permission::AcknowledgeAlarms => "acknowledge_alarms",
            Permission::ManageAlarmRules => "manage_alarm_rules",
            Permission::ManageMembers => "manage_members",
            Permission::ManageOrganisation => "manage_organisation",
            Permission::ReadAuditLog => "read_audit_log",
            Permission::ManageApiTokens => "manage_api_tokens",
            Permission::EmergencyKeyExport => "emergency_key_export",
            Permission::ManageBackups => "manage_backups",
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `actor` may give a member the role `new_role`.
///
/// `target_current` is the member's role today, or `None` for an invitation. Owners may assign any role, to anyone,
/// including another owner. Admins may assign admin, operator, viewer and auditor, but may neither make an owner nor
/// change an owner's role (demoting an owner is as much an escalation as promoting oneself). Nobody else may assign
/// roles. Keeping at least one owner needs the member count and is not decided here: the membership store must refuse
/// to remove or demote the last owner.
pub const fn may_assign(actor: Role, target_current: Option<Role>, new_role: Role) -> bool {
    match actor {
        Role::Owner => true,
        Role::Admin => !matches!(target_current, Some(Role::Owner)) && !matches!(new_role, Role::Owner),
        Role::Operator | Role::Viewer | Role::Auditor => false,
    }
}

/// Whether `actor` may remove a member whose role is `target`: owners may remove anyone, admins anyone but an owner,
/// other roles nobody. Leaving an organisation oneself is not a removal and is not decided here; neither is keeping
/// the last owner, which the membership store must enforce.
pub const fn may_remove(actor: Role, target: Role) -> bool {
    match actor {
        Role::Owner => true,
        Role::Admin => !matches!(target, Role::Owner),
        Role::Operator | Role::Viewer | Role::Auditor => false,
    }
}

/// Whether a member with role `creator` may create an API token acting with role `requested`.
///
/// A token may carry a role only if every permission of that role is also the creator's (a subset check over the
/// matrix, not a rank comparison), so a token can never do more than the person who made it, and incomparable roles
/// such as operator and auditor cannot mint each other. Whether the creator may create tokens at all is the separate
/// [`Permission::ManageApiTokens`] check.
pub fn max_token_role(creator: Role, requested: Role) -> bool {
    requested.permissions().all(|permission| creator.allows(permission))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The intended matrix written out independently of `allows`, one row per permission, in the column order
    /// owner, admin, operator, viewer, auditor.
    const EXPECTED: [(Permission, [bool; 5]); 12] = {
        const Y: bool = true;
        const N: bool = false;
        [
            (Permission::ReadOrganisation, [Y, Y, Y, Y, Y]),
            (Permission::ReadMeasurements, [Y, Y, Y, Y, Y]),
            (Permission::ExportMeasurements, [Y, Y, Y, Y, Y]),
            (Permission::ManageDevices, [Y, Y, Y, N, N]),
            (Permission::AcknowledgeAlarms, [Y, Y, Y, N, N]),
            (Permission::ManageAlarmRules, [Y, Y, Y, N, N]),
            (Permission::ManageMembers, [Y, Y, N, N, N]),
            (Permission::ManageOrganisation, [Y, Y, N, N, N]),
            (Permission::ReadAuditLog, [Y, Y, N, N, Y]),
            (Permission::ManageApiTokens, [Y, Y, Y, N, N]),
            (Permission::EmergencyKeyExport, [Y, N, N, N, N]),
            (Permission::ManageBackups, [Y, N, N, N, N]),
        ]
    };

    #[test]
    fn every_cell_of_the_matrix_is_as_intended() {
        assert_eq!(EXPECTED.map(|(permission, _)| permission), Permission::ALL);
        for (permission, row) in EXPECTED {
            for (role, expected) in Role::ALL.into_iter().zip(row) {
                assert_eq!(role.allows(permission), expected, "{role} / {permission}");
            }
        }
    }

    #[test]
    fn permissions_lists_exactly_what_allows_grants() {
        for role in Role::ALL {
            let listed: Vec<Permission> = role.permissions().collect();
            let granted: Vec<Permission> = Permission::ALL.into_iter().filter(|p| role.allows(*p)).collect();
            assert_eq!(listed, granted);
        }
        assert_eq!(Role::Owner.permissions().count(), Permission::ALL.len());
    }

    #[test]
    fn an_auditor_is_a_viewer_who_can_also_read_the_audit_log() {
        let viewer: Vec<Permission> = Role::Viewer.permissions().collect();
        let mut auditor: Vec<Permission> = Role::Auditor.permissions().collect();
        auditor.retain(|p| *p != Permission::ReadAuditLog);
        assert_eq!(auditor, viewer);
        assert!(Role::Auditor.allows(Permission::ReadAuditLog));
    }

    #[test]
    fn emergency_key_export_and_backups_are_for_owners_only() {
        for role in Role::ALL {
            let is_owner = role == Role::Owner;
            assert_eq!(role.allows(Permission::EmergencyKeyExport), is_owner, "{role}");
            assert_eq!(role.allows(Permission::ManageBackups), is_owner, "{role}");
        }
    }

    #[test]
    fn names_round_trip_through_parse_display_and_serde() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Ok(role));
            assert_eq!(role.to_string().parse::<Role>(), Ok(role));
        }
        assert_eq!(Role::parse("Owner"), Err(RoleError::Unknown));
        assert_eq!(Role::parse(" admin"), Err(RoleError::Unknown));
        assert_eq!(Role::parse(""), Err(RoleError::Unknown));
        assert!(!Role::parse("superuser").unwrap_err().to_string().contains("superuser"));

        assert_eq!(serde_json::to_string(&Role::Auditor).unwrap(), r#""auditor""#);
        assert_eq!(serde_json::from_str::<Role>(r#""operator""#).unwrap(), Role::Operator);
        assert!(serde_json::from_str::<Role>(r#""Operator""#).is_err());
        assert_eq!(serde_json::to_string(&Permission::ReadAuditLog).unwrap(), r#""read_audit_log""#);
        for permission in Permission::ALL {
            let json = serde_json::to_string(&permission).unwrap();
            assert_eq!(json, format!("\"{}\"", permission.as_str()));
        }
    }

    #[test]
    fn a_token_may_carry_a_role_only_if_its_permissions_are_a_subset_of_the_creators() {
        for creator in Role::ALL {
            for requested in Role::ALL {
                let subset = requested.permissions().all(|p| creator.allows(p));
                assert_eq!(max_token_role(creator, requested), subset, "{creator} -> {requested}");
            }
            assert!(max_token_role(creator, creator), "{creator} may mint its own role");
            assert!(max_token_role(creator, Role::Viewer), "every role includes the viewer's permissions");
        }
        assert!(max_token_role(Role::Owner, Role::Admin));
        assert!(!max_token_role(Role::Admin, Role::Owner));
        assert!(!max_token_role(Role::Operator, Role::Admin));
        assert!(max_token_role(Role::Admin, Role::Auditor));
    }

    #[test]
    fn operators_and_auditors_cannot_mint_tokens_of_each_others_role() {
        assert!(!max_token_role(Role::Operator, Role::Auditor));
        assert!(!max_token_role(Role::Auditor, Role::Operator));
    }

    #[test]
    fn owners_may_assign_any_role_to_anyone() {
        for current in Role::ALL.map(Some).into_iter().chain([None]) {
            for new_role in Role::ALL {
                assert!(may_assign(Role::Owner, current, new_role), "{current:?} -> {new_role}");
            }
        }
    }

    #[test]
    fn an_admin_cannot_demote_an_owner() {
        for new_role in Role::ALL {
            assert!(!may_assign(Role::Admin, Some(Role::Owner), new_role), "owner -> {new_role}");
        }
        assert!(!may_remove(Role::Admin, Role::Owner));
    }

    #[test]
    fn an_admin_cannot_make_an_owner_not_even_of_an_invitee_or_another_admin() {
        for current in Role::ALL.map(Some).into_iter().chain([None]) {
            assert!(!may_assign(Role::Admin, current, Role::Owner), "{current:?} -> owner");
        }
    }

    #[test]
    fn an_admin_may_assign_every_role_but_owner_to_non_owners() {
        for current in [None, Some(Role::Admin), Some(Role::Operator), Some(Role::Viewer), Some(Role::Auditor)] {
            for new_role in [Role::Admin, Role::Operator, Role::Viewer, Role::Auditor] {
                assert!(may_assign(Role::Admin, current, new_role), "{current:?} -> {new_role}");
            }
        }
        for target in [Role::Admin, Role::Operator, Role::Viewer, Role::Auditor] {
            assert!(may_remove(Role::Admin, target));
        }
    }

    #[test]
    fn roles_without_manage_members_may_neither_assign_nor_remove() {
        for actor in Role::ALL {
            for current in Role::ALL.map(Some).into_iter().chain([None]) {
                for new_role in Role::ALL {
                    if may_assign(actor, current, new_role) {
                        assert!(actor.allows(Permission::ManageMembers), "{actor} assigned {new_role}");
                    }
                }
            }
            for target in Role::ALL {
                if may_remove(actor, target) {
                    assert!(actor.allows(Permission::ManageMembers), "{actor} removed {target}");
                }
            }
        }
        for actor in [Role::Operator, Role::Viewer, Role::Auditor] {
            assert!(!may_assign(actor, None, Role::Viewer));
            assert!(!may_remove(actor, Role::Viewer));
        }
    }

    /// The heading that starts the matrix section in `docs/SECURITY.md`.
    const DOC_SECTION: &str = "## Roles and permissions";

    /// Reads the ✓ table of the "Roles and permissions" section: one `(permission name, [cell per role])` per row,
    /// roles in `Role::ALL` order, whatever the column order in the file.
    fn matrix_in_the_docs(markdown: &str) -> Vec<(String, Vec<bool>)> {
        let section = markdown.split_once(DOC_SECTION).map(|(_, rest)| rest).unwrap_or_else(|| {
            panic!("docs/SECURITY.md has no `{DOC_SECTION}` section");
        });
        let section = section.split("\n## ").next().unwrap();
        let cells = |line: &str| -> Vec<String> {
            line.trim().trim_matches('|').split('|').map(|cell| cell.trim().to_owned()).collect()
        };
        let mut lines = section.lines().skip_while(|line| !line.trim_start().starts_with("| Permission"));
        let header = cells(lines.next().expect("the section has a table whose first column is `Permission`"));
        let role_columns: Vec<usize> = Role::ALL
            .iter()
            .map(|role| {
                header.iter().position(|h| h == role.as_str()).unwrap_or_else(|| panic!("no column for {role}"))
            })
            .collect();
        let separator = lines.next().unwrap();
        assert!(separator.contains("---"), "the header is followed by a separator row");
        lines
            .take_while(|line| line.trim_start().starts_with('|'))
            .map(|line| {
                let row = cells(line);
                let permission = row[0].trim_matches('`').to_owned();
                let granted = role_columns
                    .iter()
                    .map(|&column| match row[column].as_str() {
                        "✓" => true,
                        "" => false,
                        other => panic!("cell {other:?} in row {permission} is neither ✓ nor blank"),
                    })
                    .collect();
                (permission, granted)
            })
            .collect()
    }

    #[test]
    fn the_table_in_the_security_docs_matches_the_matrix_in_code() {
        let markdown = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SECURITY.md"));
        let in_docs = matrix_in_the_docs(markdown);
        let in_code: Vec<(String, Vec<bool>)> = Permission::ALL
            .into_iter()
            .map(|permission| {
                (permission.as_str().to_owned(), Role::ALL.into_iter().map(|role| role.allows(permission)).collect())
            })
            .collect();
        assert_eq!(in_docs, in_code, "update the table under `{DOC_SECTION}` in docs/SECURITY.md");
    }

    #[test]
    fn the_docs_table_parser_notices_a_changed_cell() {
        let markdown = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SECURITY.md"));
        let tampered: String =
            markdown
                .lines()
                .map(|line| {
                    if line.starts_with("| `manage_backups`") { line.replacen('✓', " ", 1) } else { line.to_owned() }
                })
                .collect::<Vec<_>>()
                .join("\n");
        assert_ne!(tampered.trim_end(), markdown.trim_end(), "the manage_backups row exists");
        assert_ne!(matrix_in_the_docs(&tampered), matrix_in_the_docs(markdown));
    }
}
