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
//! say "approver", the word docs/design/LIFECYCLE.md uses. Group membership, in contrast, *is* a
//! principal-to-principal relation, so it is the hierarchy: an actor's parents are its
//! groups, and `principal in resource.requester_principal` covers a group's members.
//!
//! Entities are built from the caller's data only (no store access). The actor's entity is
//! built once per caller and kept, with the decisions taken for it ([`KeptActors`]): a later
//! question from an actor equal in every field reuses them, and one that differs in any
//! field (a membership gained or lost, a group, the admin flag) starts afresh, so nothing
//! kept can answer for an actor that has changed. The resource's entity is built per new
//! decision. What does not depend on the request is prepared once, at construction: type
//! names and action ids (parsing them would be most of a decision's cost), for each action
//! the policies whose scope can match it, and the resource kinds the schema lets it apply to
//! (asking about another kind is denied). On this fast path the built entities are not re-validated
//! against the schema: this module builds them, and the tests check every built shape
//! against the schema and that the fast path decides as Cedar's fully validated path does.
//! Any error denies, and nothing is logged: the crate has nothing to say that would not
//! put ids in logs. Measured in bench/RESULTS.md §B6.

use std::sync::Mutex;

use cedar_policy::{
    ActionConstraint, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression, Schema, ValidationMode, Validator,
};
use meshgate_core::bounded::Bounded;
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
    /// All shipped policies, as validated; the strict path of [`Self::decide`] uses them.
    policies: PolicySet,
    schema: Schema,
    cedar: cedar_policy::Authorizer,
    types: Types,
    /// Per [`Action`], indexed by `action as usize`.
    actions: Vec<ActionEntry>,
    mesh: EntityUid,
    actors: KeptActors,
}

/// What the authorizer keeps of the actors it has decided for, by actor id: each beside the
/// [`Actor`] it was made for, its built entity (building one is most of what a new decision
/// costs) and the decisions taken for it. A decision is a pure function of the actor, the
/// action and the resource (the policies are shipped and fixed), so a decision kept for an
/// actor equal in every field is the decision; an actor that differs in any field (a
/// membership gained or lost, a group, the admin flag) replaces the entry and all it kept.
/// Bounded: at most [`KeptActors::ACTORS`] actors and [`KeptActors::DECISIONS`] decisions
/// each, the least recently used dropped past either ([`Bounded`]). A poisoned lock only
/// means deciding afresh.
#[derive(Debug)]
struct KeptActors(Mutex<Bounded<Uuid, Kept>>);

impl Default for KeptActors {
    fn default() -> Self {
        KeptActors(Mutex::new(Bounded::new(Self::ACTORS)))
    }
}

#[derive(Debug)]
struct Kept {
    actor: Actor,
    entity: Entity,
    decisions: Bounded<(Action, Resource), bool>,
}

impl KeptActors {
    const ACTORS: usize = 2048;
    const DECISIONS: usize = 64;

    fn with<T>(&self, actor: &Actor, f: impl FnOnce(&mut Kept) -> T) -> Option<T> {
        let mut kept = self.0.lock().ok()?;
        kept.get_mut(&actor.id)
            .filter(|kept| kept.actor == *actor)
            .map(f)
    }

    /// The decision kept for this actor, action and resource.
    fn decision(&self, actor: &Actor, action: Action, resource: &Resource) -> Option<bool> {
        self.with(actor, |kept| {
            kept.decisions.get(&(action, *resource)).copied()
        })
        .flatten()
    }

    /// The entity kept for this actor.
    fn entity(&self, actor: &Actor) -> Option<Entity> {
        self.with(actor, |kept| kept.entity.clone())
    }

    fn keep_entity(&self, actor: &Actor, entity: &Entity) {
        if let Ok(mut kept) = self.0.lock() {
            kept.insert(
                actor.id,
                Kept {
                    actor: actor.clone(),
                    entity: entity.clone(),
                    decisions: Bounded::new(Self::DECISIONS),
                },
            );
        }
    }

    fn keep_decision(&self, actor: &Actor, action: Action, resource: &Resource, allowed: bool) {
        self.with(actor, |kept| {
            kept.decisions.insert((action, *resource), allowed);
        });
    }
}

/// What is precomputed for one action, so a decision does no parsing and Cedar evaluates
/// only the policies that can apply.
#[derive(Debug)]
struct ActionEntry {
    uid: EntityUid,
    /// The policies whose action scope can match this action: a superset of those that
    /// can permit it, so the decision is the one the full set gives, at a fraction of the
    /// cost (Cedar has no index and otherwise evaluates every policy's scope).
    policies: PolicySet,
    /// Which [`Resource`] kinds (by [`kind_index`]) the schema lets it apply to.
    applies_to: [bool; KINDS],
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

/// The Cedar entity type of each [`Resource`] kind, in [`kind_index`] order.
const KIND_TYPES: [&str; KINDS] = ["Mesh", "Domain", "Team", "Principal", "Product", "Share"];
const KINDS: usize = 6;

fn kind_index(resource: &Resource) -> usize {
    match resource {
        Resource::Mesh => 0,
        Resource::Domain { .. } => 1,
        Resource::Team { .. } => 2,
        Resource::Principal { .. } => 3,
        Resource::Product { .. } => 4,
        Resource::Share { .. } => 5,
    }
}

/// Why a decision could not be made (it is then a denial). Kept apart from [`Error`]
/// because it never leaves the crate, except to the tests.
#[derive(Debug)]
enum Failure {
    UnknownAction,
    /// The action does not apply to this kind of resource (per the schema).
    NotApplicable,
    Entity,
    Entities,
    Request,
    Evaluation,
}

impl Authorizer {
    /// Loads and validates (strict mode) the shipped schema and policies.
    pub fn new() -> Result<Self> {
        let (schema, _warnings) =
            Schema::from_cedarschema_str(SCHEMA).map_err(|e| Error::Schema {
                message: e.to_string(),
            })?;
        let policies: PolicySet =
            POLICIES
                .parse()
                .map_err(|e: cedar_policy::ParseErrors| Error::Policies {
                    message: e.to_string(),
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
        let kind_types = KIND_TYPES
            .iter()
            .map(|name| type_name(name))
            .collect::<Result<Vec<_>>>()?;
        let action_type = type_name("Action")?;
        let known_actions: Vec<EntityUid> = Action::ALL
            .iter()
            .map(|a| EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(a.name())))
            .collect();
        let actions = known_actions
            .iter()
            .map(|uid| {
                let resources: Vec<&EntityTypeName> = schema
                    .resources_for_action(uid)
                    .ok_or_else(|| Error::Schema {
                        message: format!("no action `{}`", uid.id().unescaped()),
                    })?
                    .collect();
                let applies_to = std::array::from_fn(|k| {
                    kind_types.get(k).is_some_and(|t| resources.contains(&t))
                });
                let mut subset = PolicySet::new();
                for policy in policies.policies() {
                    if may_apply(&policy.action_constraint(), uid, &known_actions) {
                        subset.add(policy.clone()).map_err(|e| Error::Policies {
                            message: e.to_string(),
                        })?;
                    }
                }
                Ok(ActionEntry {
                    uid: uid.clone(),
                    policies: subset,
                    applies_to,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mesh = EntityUid::from_type_name_and_id(type_name("Mesh")?, EntityId::new("mesh"));

        Ok(Self {
            policies,
            schema,
            cedar: cedar_policy::Authorizer::new(),
            types,
            actions,
            mesh,
            actors: KeptActors::default(),
        })
    }

    /// Whether `actor` may do `action` on `resource`. Deny by default, and on any error.
    pub fn is_allowed(&self, actor: &Actor, action: Action, resource: &Resource) -> bool {
        if let Some(kept) = self.actors.decision(actor, action, resource) {
            return kept;
        }
        match self.decide(actor, action, resource, false) {
            Ok(allowed) => {
                self.actors.keep_decision(actor, action, resource, allowed);
                allowed
            }
            Err(_) => false,
        }
    }

    /// The decision, or why none could be made. `strict` is for the tests: it validates
    /// the built entities and the request against the schema and evaluates every shipped
    /// policy, so they can check that the fast path (production) decides the same.
    fn decide(
        &self,
        actor: &Actor,
        action: Action,
        resource: &Resource,
        strict: bool,
    ) -> Result<bool, Failure> {
        let entry = self
            .actions
            .get(action as usize)
            .ok_or(Failure::UnknownAction)?;
        let schema = strict.then_some(&self.schema);
        if !strict
            && !entry
                .applies_to
                .get(kind_index(resource))
                .copied()
                .unwrap_or(false)
        {
            return Err(Failure::NotApplicable);
        }
        let principal = if strict {
            self.actor_entity(actor)?
        } else if let Some(kept) = self.actors.entity(actor) {
            kept
        } else {
            let built = self.actor_entity(actor)?;
            self.actors.keep_entity(actor, &built);
            built
        };
        let principal_uid = principal.uid();
        let (resource_uid, resource_entity) = self.resource_entity(resource)?;
        let entities =
            Entities::from_entities(std::iter::once(principal).chain(resource_entity), schema)
                .map_err(|_| Failure::Entities)?;
        let request = Request::new(
            principal_uid,
            entry.uid.clone(),
            resource_uid,
            Context::empty(),
            schema,
        )
        .map_err(|_| Failure::Request)?;
        let policies = if strict {
            &self.policies
        } else {
            &entry.policies
        };
        let response = self.cedar.is_authorized(&request, policies, &entities);
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

    /// The actor as a Cedar entity, with all its memberships and groups.
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

/// Whether a policy with this action scope can apply to `action`. Conservative: an
/// `in` list naming anything but a plain action (an action group, should the schema grow
/// one) keeps the policy, since membership would need the action hierarchy.
fn may_apply(constraint: &ActionConstraint, action: &EntityUid, plain: &[EntityUid]) -> bool {
    match constraint {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(uid) => uid == action,
        ActionConstraint::In(uids) => uids.iter().any(|uid| uid == action || !plain.contains(uid)),
    }
}

#[cfg(test)]
mod tests;
