//! What an authorization question is made of: who asks ([`Actor`], as the server resolved
//! it from its token), what it wants to do ([`Action`]) and to what ([`Resource`], with the
//! ids the decision depends on, e.g. a share's product team and requester).

use meshgate_core::model::{PrincipalKind, TeamRole};
use uuid::Uuid;

/// The caller, as the server resolved it from its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: Uuid,
    pub kind: PrincipalKind,
    pub is_admin: bool,
    /// Team memberships with roles, including those held through a group: the server
    /// resolves them, the policies only read them.
    pub teams: Vec<Membership>,
    /// Group principals it belongs to (a share requested by a group is also theirs).
    pub groups: Vec<Uuid>,
}

/// One team membership of an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    pub team_id: Uuid,
    pub domain_id: Uuid,
    pub role: TeamRole,
}

/// What is acted on, with the ids of its owners that decisions depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// The installation: mesh-wide reads, the audit log, creating domains and principals.
    Mesh,
    Domain {
        id: Uuid,
    },
    Team {
        id: Uuid,
        domain_id: Uuid,
    },
    /// A principal, e.g. for its tokens or a service principal requesting for itself.
    Principal {
        id: Uuid,
    },
    Product {
        id: Uuid,
        team_id: Uuid,
        domain_id: Uuid,
    },
    Share {
        id: Uuid,
        product_id: Uuid,
        product_team_id: Uuid,
        product_domain_id: Uuid,
        requester_team_id: Option<Uuid>,
        requester_principal_id: Option<Uuid>,
    },
}

macro_rules! actions {
    ($($(#[$meta:meta])* $variant:ident),+ $(,)?) => {
        /// A control-plane action. Each is a Cedar action of the same name in the shipped
        /// schema, which also says which [`Resource`] kinds it applies to; asking about
        /// any other kind is denied.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action { $($(#[$meta])* $variant),+ }

        impl Action {
            /// Every action, in declaration order.
            pub const ALL: &'static [Action] = &[$(Action::$variant),+];

            /// The Cedar action id (`Action::"<name>"`).
            pub fn name(self) -> &'static str {
                match self { $(Action::$variant => stringify!($variant)),+ }
            }
        }
    };
}

actions!(
    /// List and read catalog metadata (on `Mesh`, `Domain`, `Team` or `Principal`): anyone.
    ViewMesh,
    /// Read the audit log (`Mesh`): admins.
    ReadAudit,
    /// (`Mesh`): admins.
    CreateDomain,
    /// (`Domain`): admins.
    UpdateDomain,
    /// (`Mesh`): admins.
    CreatePrincipal,
    /// Create a team in a domain (`Domain`): admins.
    CreateTeam,
    /// (`Team`): the team's owners.
    ManageTeamMembers,
    /// (`Team`): the team's owners and stewards.
    CreateProduct,
    /// (`Product`): owners and stewards of the product's team.
    UpdateProduct,
    /// (`Product`): owners and stewards of the product's team.
    AppendData,
    /// (`Product`): owners of the product's team.
    DeleteProduct,
    /// Product metadata (`Product`): anyone.
    ViewProduct,
    /// Request access on behalf of a team (`Team`, the requesting team): its members.
    RequestAccess,
    /// Request access for oneself (`Principal`, oneself): service principals.
    RequestAccessForSelf,
    /// (`Share`): approvers or requesters.
    ViewShare,
    /// (`Share`): approvers.
    ApproveShare,
    /// (`Share`): approvers.
    RejectShare,
    /// Attach filters, change items' grants (`Share`): approvers.
    ModifyShare,
    /// (`Share`): approvers.
    ReapplyShare,
    /// (`Share`): requesters.
    SubmitShare,
    /// (`Share`): requesters.
    ExtendShare,
    /// (`Share`): requesters.
    CancelShare,
    /// (`Share`): requesters.
    AddShareItem,
    /// (`Share`): requesters.
    RemoveShareItem,
    /// (`Share`): approvers or requesters.
    RevokeShare,
    /// (`Share`): approvers or requesters.
    VerifyShare,
    /// Read the processor's per-run logs (`Share`): approvers or requesters.
    ReadShareLogs,
    /// (`Share`): approvers or requesters.
    DeleteShare,
    /// (`Principal`): the principal itself.
    CreateToken,
    /// (`Principal`): the principal itself.
    ListTokens,
    /// (`Principal`): the principal itself.
    RevokeToken,
    /// Define metadata form types and glossaries (`Mesh`): admins.
    ManageCatalog,
    /// Publish and unpublish a product's catalog listing (`Product`): owners and stewards of
    /// the product's team.
    PublishProduct,
    /// Declare, list and delete external locations, the URL prefixes under which teams may
    /// register existing tables (`Mesh`): admins.
    ManageExternalLocations,
);
