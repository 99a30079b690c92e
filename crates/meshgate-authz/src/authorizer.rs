//! The [`Authorizer`]: turns an (actor, action, resource) question into a Cedar request
//! over the shipped schema and policies, and answers allow or deny.
//!
//! **Roles are principal attributes, not entity parents.** A principal carries
//! `owner_of`, `approver_of` (owners and stewards) and `member_of` (any role), each a set
//! of teams, and a policy reads `principal.approver_of.contains(resource.product_team)`.
//! The alternative, role entities such as `TeamRole::"<team>/owner"` the principal is
//! `in`, was rejected because a role only means something relative to a team and Cedar
//! cannot build the id `"<team>/owner"` from `resource.product_team`: every resource would
//! have to carry one role reference per role, and every request would pay a transitive
//! closure over those entities. With attributes a request holds just two entities (the
//! actor and the resource, referring to teams and domains by uid alone), and the policies
//! say "approver", the word LIFECYCLE.md uses. Group membership, in contrast, *is* a
//! principal-to-principal relation, so it is the hierarchy: an actor's parents are its
//! groups, and `principal in resource.requester_principal` covers a group's members.
//!
//! Entities are built per request from the caller's data only (no store access); type
//! names and action ids are parsed once, at construction. Entities are not re-validated
//! against the schema per request (this module builds them, and the tests check every
//! built shape against the schema); the request is, so an action asked about a resource
//! kind it does not apply to is denied. Any error denies, and nothing is logged: the
//! crate has nothing to say that would not leak ids into logs.

use cedar_policy::{
    Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid, PolicySet, Request,
    RestrictedExpression, Schema, ValidationMode, Validator,
};
use meshgate_core::model::TeamRole;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::request::{Action, Actor, Membership, Resource};

/// The shipped Cedar schema (Cedar's human-readable schema format).
pub const SCHEMA: &str = include_str!("../policies/meshgate.cedarschema");
/// The shipped Cedar policies.
pub const POLICIES: &str = include_str!("../policies/meshgate.cedar");

/// Decides control-plane actions with the shipped Cedar policies. Build one at start-up
/// and share it (`Send + Sync`); a decision takes a few microseconds.
#[derive(Debug)]
pub struct Authorizer {
    policies: PolicySet,
    schema: Schema,
    cedar: cedar_policy::Authorizer,
    types: Types,
    /// The Cedar uid of each [`Action`], indexed by `action as usize`.
    actions: Vec<EntityUid>,
    mesh: EntityUid,
}

/// Entity type names, parsed once: parsing is most of what building a uid would cost.
#[derive(Debug)]
struct Types {
    principal: EntityTypeName,
    team: EntityTypeName,
    domain: EntityTypeName,
    product: EntityTypeName,
    share: EntityTypeName,
}

/// Why a decision could not be made (it is then a denial). Kept apart from [`Error`]
/// because it never leaves the crate, except to the tests.
#[derive(Debug)]
enum Failure {
    Entity,
    Entities,
    Request,
    UnknownAction,
    Evaluation,
}

impl Authorizer {
    /// Loads and validates (strict mode) the shipped schema and policies.
    pub fn new() -> Result<Self> {
        let (schema, _warnings) = Schema::from_cedarschema_str(SCHEMA).map_err(|e| Error::Schema {
            message: e.to_string(),
        })?;
        let policies: PolicySet = POLICIES.parse().map_err(|e: cedar_policy::ParseErrors| {
            Error::Policies {
                message: e.to_string(),
            }
        })?;
        let validation = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        if !validation.validation_passed() {
            let message = validation
                .validation_errors()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::Validation { message });
        }

        let type_name = |name: &str| {
            name.parse::<EntityTypeName>().map_err(|e| Error::Schema {
                message: format!("entity type `{name}`: {e}"),
            })
        };
        let types = Types {
            principal: type_name("Principal")?,
            team: type_name("Team")?,
            domain: type_name("Domain")?,
            product: type_name("Product")?,
            share: type_name("Share")?,
        };
        let action_type = type_name("Action")?;
        let actions = Action::ALL
            .iter()
            .map(|a| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(a.name())))
            .collect();
        let mesh = EntityUid::from_type_name_and_id(type_name("Mesh")?, EntityId::new("mesh"));

        Ok(Self {
            policies,
            schema,
            cedar: cedar_policy::Authorizer::new(),
            types,
            actions,
            mesh,
        })
    }

    /// Whether `actor` may do `action` on `resource`. Deny by default, and on any error.
    pub fn is_allowed(&self, actor: &Actor, action: Action, resource: &Resource) -> bool {
        self.decide(actor, action, resource, None).unwrap_or(false)
    }

    /// The decision, or why none could be made. `entity_schema` validates the built
    /// entities too: the tests pass it, production does not (see the module docs).
    fn decide(
        &self,
        actor: &Actor,
        action: Action,
        resource: &Resource,
        entity_schema: Option<&Schema>,
    ) -> Result<bool, Failure> {
        let action_uid = self
            .actions
            .get(action as usize)
            .ok_or(Failure::UnknownAction)?
            .clone();
        let principal = self.actor_entity(actor)?;
        let principal_uid = principal.uid();
        let (resource_uid, resource_entity) = self.resource_entity(resource)?;
        let entities = Entities::from_entities(
            std::iter::once(principal).chain(resource_entity),
            entity_schema,
        )
        .map_err(|_| Failure::Entities)?;
        let request = Request::new(
            principal_uid,
            action_uid,
            resource_uid,
            Context::empty(),
            Some(&self.schema),
        )
        .map_err(|_| Failure::Request)?;
        let response = self.cedar.is_authorized(&request, &self.policies, &entities);
        // A policy that errored was skipped by Cedar; with only permits that cannot widen
        // access, but it means a bug, so fail closed rather than trust the other policies.
        if response.diagnostics().errors().next().is_some() {
            return Err(Failure::Evaluation);
        }
        Ok(response.decision() == Decision::Allow)
    }

    fn uid(ty: &EntityTypeName, id: Uuid) -> EntityUid {
        let mut buf = Uuid::encode_buffer();
        EntityUid::from_type_name_and_id(
            ty.clone(),
            EntityId::new(id.hyphenated().encode_lower(&mut buf)),
        )
    }

    fn entity_ref(ty: &EntityTypeName, id: Uuid) -> RestrictedExpression {
        RestrictedExpression::new_entity_uid(Self::uid(ty, id))
    }

    fn actor_entity(&self, actor: &Actor) -> Result<Entity, Failure> {
        let teams = |keep: fn(&Membership) -> bool| {
            RestrictedExpression::new_set(
                actor
                    .teams
                    .iter()
                    .filter(|m| keep(m))
                    .map(|m| Self::entity_ref(&self.types.team, m.team_id)),
            )
        };
        let attrs = [
            (
                "kind".to_owned(),
                RestrictedExpression::new_string(actor.kind.as_str().to_owned()),
            ),
            (
                "is_admin".to_owned(),
                RestrictedExpression::new_bool(actor.is_admin),
            ),
            ("owner_of".to_owned(), teams(|m| m.role == TeamRole::Owner)),
            ("approver_of".to_owned(), teams(|m| m.role.is_approver())),
            ("member_of".to_owned(), teams(|_| true)),
        ];
        // Cedar rejects a hierarchy with a cycle, and `in` is reflexive anyway, so a
        // principal listed among its own groups must not deny it everything.
        let parents = actor
            .groups
            .iter()
            .filter(|&&g| g != actor.id)
            .map(|g| Self::uid(&self.types.principal, *g));
        Entity::new_with_tags(
            Self::uid(&self.types.principal, actor.id),
            attrs,
            parents,
            [],
        )
        .map_err(|_| Failure::Entity)
    }

    /// The resource's uid, and its entity when policies read its attributes. Mesh, Domain
    /// and Principal resources have none to read (a principal resource that is the actor
    /// is already in the request as the actor).
    fn resource_entity(&self, resource: &Resource) -> Result<(EntityUid, Option<Entity>), Failure> {
        let t = &self.types;
        let entity = |uid: EntityUid, attrs: Vec<(&str, RestrictedExpression)>| {
            Entity::new_with_tags(
                uid.clone(),
                attrs.into_iter().map(|(k, v)| (k.to_owned(), v)),
                [],
                [],
            )
            .map(|e| (uid, Some(e)))
            .map_err(|_| Failure::Entity)
        };
        match *resource {
            Resource::Mesh => Ok((self.mesh.clone(), None)),
            Resource::Domain { id } => Ok((Self::uid(&t.domain, id), None)),
            Resource::Principal { id } => Ok((Self::uid(&t.principal, id), None)),
            Resource::Team { id, domain_id } => entity(
                Self::uid(&t.team, id),
                vec![("domain", Self::entity_ref(&t.domain, domain_id))],
            ),
            Resource::Product {
                id,
                team_id,
                domain_id,
            } => entity(
                Self::uid(&t.product, id),
                vec![
                    ("team", Self::entity_ref(&t.team, team_id)),
                    ("domain", Self::entity_ref(&t.domain, domain_id)),
                ],
            ),
            Resource::Share {
                id,
                product_id,
                product_team_id,
                product_domain_id,
                requester_team_id,
                requester_principal_id,
            } => {
                let mut attrs = vec![
                    ("product", Self::entity_ref(&t.product, product_id)),
                    ("product_team", Self::entity_ref(&t.team, product_team_id)),
                    (
                        "product_domain",
                        Self::entity_ref(&t.domain, product_domain_id),
                    ),
                ];
                if let Some(team) = requester_team_id {
                    attrs.push(("requester_team", Self::entity_ref(&t.team, team)));
                }
                if let Some(principal) = requester_principal_id {
                    attrs.push((
                        "requester_principal",
                        Self::entity_ref(&t.principal, principal),
                    ));
                }
                entity(Self::uid(&t.share, id), attrs)
            }
        }
    }
}

#[cfg(test)]
mod tests;
