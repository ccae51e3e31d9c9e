//! The store's traits, for `use logvault_store::prelude::*;`: calling a method on an `Arc<dyn Store>` needs the
//! sub-trait that declares it in scope.

pub use crate::{
    AuditStore, DeviceStore, IdentityStore, IngestStore, InstanceStore, InvitationStore, MeasurementStore, OrgStore,
    RetentionStore, SecondFactorStore, SessionStore, Store, ThrottleStore, TokenStore,
};
