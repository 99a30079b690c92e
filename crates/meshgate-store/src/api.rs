//! The [`Store`] trait, the area traits it is made of, and the value types their methods take.
//!
//! Each area trait is declared in its own file under `api/` and implemented for
//! [`crate::SqlStore`] in the file of the same name under `store/`, next to its SQL.

use async_trait::async_trait;
use meshgate_core::Result;

mod access;
mod alerts;
mod audit;
mod catalog;
mod classification;
mod credentials;
mod glossary;
mod grants;
mod identity;
mod locations;
mod names;
mod notify;
mod org;
mod outbox;
mod policy;
mod products;
mod recipients;
mod replicas;
mod scim;
mod sessions;
mod shares;

pub use access::AccessStore;
pub use alerts::{AlertBatch, AlertFilter, AlertStore};
pub use audit::{AuditFilter, AuditStore};
pub use catalog::{CatalogRows, CatalogStore};
pub use classification::ClassificationStore;
pub use credentials::CredentialStore;
pub use glossary::GlossaryStore;
pub use grants::{GrantStore, PolicyScope, PolicyVersion};
pub use identity::{IdentityStore, MemberOp, Revoked};
pub use locations::LocationStore;
pub use names::{NameIds, NameStore, Names, Owned};
pub use notify::{NotificationBatch, NotifyStore};
pub use org::OrgStore;
pub use outbox::{NewJob, OutboxStore};
pub use policy::PolicyStore;
pub use products::{ProductFilter, ProductStore};
pub use recipients::RecipientStore;
pub use replicas::ReplicaStore;
pub use scim::{ScimRecord, ScimStore, ScimWrite, ScimWritten};
pub use sessions::SessionStore;
pub use shares::{Due, ItemHealth, ShareChange, ShareFilter, ShareStore};

/// The control-plane store: every area trait, plus what concerns the store as a whole.
/// Consumers hold an `Arc<dyn Store>` and call any area's methods on it (a trait object's
/// supertrait methods need no import).
///
/// Methods that change state take the audit event(s) that describe the change and commit
/// them in the same transaction.
///
/// Errors are `meshgate_core::Error`: a unique violation is `AlreadyExists`, a missing row
/// `NotFound`, a stale version or a refused delete `Conflict`, anything else `Internal`
/// (with the cause logged, never shown to callers).
#[async_trait]
pub trait Store:
    IdentityStore
    + OrgStore
    + ProductStore
    + ShareStore
    + GrantStore
    + PolicyStore
    + CredentialStore
    + CatalogStore
    + ClassificationStore
    + GlossaryStore
    + NotifyStore
    + RecipientStore
    + ScimStore
    + OutboxStore
    + AuditStore
    + AlertStore
    + LocationStore
    + NameStore
    + AccessStore
    + SessionStore
    + ReplicaStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is (`sqlite` or `postgres`), for logs and `/readyz`.
    fn backend(&self) -> &'static str;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<()>;
}
