//! Bearer JWTs from identity providers, mapped to principals (docs/design/SIGN_IN.md).
//!
//! `meshgate_oidc` validates a token and says whom it names; here that identity becomes a
//! principal: found by its login (or created, with `provision = on`), its admin role set from
//! the issuer's `admin_group`, its IdP-made group memberships replaced by the token's groups
//! claim — on the first use of each token, which is then remembered until it expires (or
//! `auth.token_cache_secs`). Sign-ins, refusals, provisioning and membership changes are
//! audited; a refusal's event carries its reason, never the token.
//!
//! People sign in through the browser too (`browser`: the code flow with PKCE, then a
//! server-side session in a cookie, `session`).

pub mod browser;
pub mod session;
pub mod tokens;

pub use tokens::SignIn;

use axum::http::StatusCode;
use chrono::Utc;
use meshgate_core::error::ErrorKind;
use meshgate_core::model::{
    MembershipSource, NewAuditEvent, Outcome, Principal, PrincipalKind, new_id,
};
use meshgate_core::{names, token};
use meshgate_oidc::{Kind, Provision, Refusal, Verified};
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Where a bearer JWT is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// The REST API, SQL, the rows API.
    Api,
    /// The Delta Sharing endpoints, where a token may also name a federated recipient.
    Sharing,
}

/// The principal a bearer JWT names, or why not (401; 503 when the provider's keys cannot
/// be had). On the Delta Sharing endpoints a recipient bound to the token's (issuer,
/// subject) comes first; such a token opens nothing else, and neither does any token of a
/// `sharing_only` issuer.
pub async fn principal_of_jwt(
    state: &AppState,
    jwt: &str,
    surface: Surface,
) -> ApiResult<Principal> {
    let signin = &state.signin;
    let key = token::hash(jwt);
    if let Some((id, federated)) = signin.cached(&key) {
        if federated && surface == Surface::Api {
            return Err(sharing_only());
        }
        return match state.store.get_principal(id).await? {
            Some(p) if p.active => Ok(p),
            _ => Err(refused_principal()),
        };
    }
    let verified = match signin.verifier.verify(jwt).await {
        Ok(v) => v,
        Err(refusal) => {
            audit_refusal(state, &refusal).await;
            return Err(refused(refusal));
        }
    };
    let federated = match surface {
        Surface::Sharing => {
            state
                .store
                .federated_recipient(&verified.issuer, &verified.login)
                .await?
        }
        Surface::Api => None,
    };
    let (principal, is_federated) = match federated {
        Some(recipient) => {
            if !recipient.active {
                return Err(refused_principal());
            }
            audit_sign_in(state, &recipient, &verified, "sharing_federation").await?;
            (recipient, true)
        }
        None if verified.sharing_only => {
            let refusal = Refusal::Claim(format!(
                "no Delta Sharing recipient is bound to subject `{}` of issuer {}, whose tokens open only Delta Sharing",
                verified.login, verified.issuer
            ));
            audit_refusal(state, &refusal).await;
            return Err(refused(refusal));
        }
        None => (sign_in(state, &verified, "bearer_jwt").await?, false),
    };
    signin.remember(key, principal.id, verified.expires_at, is_federated);
    Ok(principal)
}

fn sharing_only() -> ApiError {
    ApiError::unauthenticated(
        "sign-in refused: this token names a Delta Sharing recipient and opens only the Delta Sharing endpoints",
    )
}

async fn audit_sign_in(
    state: &AppState,
    principal: &Principal,
    verified: &Verified,
    method: &str,
) -> ApiResult<()> {
    let event = NewAuditEvent::new(
        Some(principal.id),
        "auth.sign_in",
        "principal",
        Some(principal.id.to_string()),
    )
    .with_request_id(crate::error::REQUEST_ID.try_with(|id| id.clone()).ok())
    .with_detail(json!({"issuer": verified.issuer, "login": verified.login, "method": method}));
    state.store.append_audit(event).await?;
    Ok(())
}

/// The principal a verified identity names, with its admin role and IdP groups synced from
/// the token and the sign-in audited (`method`: `bearer_jwt`, `browser`).
pub async fn sign_in(state: &AppState, verified: &Verified, method: &str) -> ApiResult<Principal> {
    if verified.sharing_only {
        return Err(ApiError::unauthenticated(format!(
            "sign-in refused: tokens of issuer {} open only the Delta Sharing endpoints, for recipients bound to their subjects",
            verified.issuer
        )));
    }
    let principal = principal_for(state, verified).await?;
    if !principal.active {
        return Err(refused_principal());
    }
    sync_admin(state, &principal, verified).await?;
    sync_groups(state, &principal, verified).await?;
    audit_sign_in(state, &principal, verified, method).await?;
    // The admin role may have changed above: read the principal as it is now.
    Ok(state
        .store
        .get_principal(principal.id)
        .await?
        .unwrap_or(principal))
}

/// The answer to a refused token: 401 saying why, or 503 when the provider cannot be reached.
pub(crate) fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Unavailable(m) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("sign-in is unavailable: {m}"),
        ),
        other => ApiError::unauthenticated(format!("sign-in refused: {other}")),
    }
}

fn refused_principal() -> ApiError {
    ApiError::unauthenticated("sign-in refused: the principal is deactivated or gone")
}

pub(crate) async fn audit_refusal(state: &AppState, refusal: &Refusal) {
    let Some(skipped) = state.signin.should_audit(refusal.reason()) else {
        return;
    };
    let event = NewAuditEvent::new(None, "auth.sign_in_failed", "token", None)
        .with_outcome(Outcome::Denied)
        .with_request_id(crate::error::REQUEST_ID.try_with(|id| id.clone()).ok())
        .with_detail(json!({
            "reason": refusal.reason(),
            "message": refusal.to_string(),
            "unrecorded_since_last": skipped,
        }));
    if let Err(e) = state.store.append_audit(event).await {
        tracing::warn!(error = %e, "could not audit a refused sign-in");
    }
}

/// The principal `verified` names: found by login, or created when the issuer provisions.
async fn principal_for(state: &AppState, verified: &Verified) -> ApiResult<Principal> {
    let kind = match verified.kind {
        Kind::User => PrincipalKind::User,
        Kind::Service => PrincipalKind::Service,
    };
    if let Some(found) = state.store.get_principal_by_login(&verified.login).await? {
        if found.kind != kind {
            return Err(ApiError::unauthenticated(format!(
                "sign-in refused: `{}` names a {} principal here, but the token is a {}'s",
                verified.login,
                found.kind.as_str(),
                kind.as_str()
            )));
        }
        return Ok(found);
    }
    if verified.provision == Provision::Off {
        return Err(ApiError::unauthenticated(format!(
            "sign-in refused: no principal here has login `{}`; an admin can create it (`meshgate principal create NAME --kind {} --login '{}'`), or set provision = \"on\" for issuer {}",
            verified.login,
            kind.as_str(),
            verified.login,
            verified.issuer
        )));
    }
    for attempt in 0..20 {
        let name = derived_name(&verified.login, kind, attempt);
        if state.store.get_principal_by_name(&name).await?.is_some() {
            continue;
        }
        let principal = Principal {
            id: new_id(),
            display_name: verified
                .display_name
                .clone()
                .unwrap_or_else(|| verified.login.clone()),
            name,
            kind,
            is_admin: verified.is_admin.unwrap_or(false),
            created_at: Utc::now(),
            login: Some(verified.login.clone()),
            active: true,
        };
        let event = NewAuditEvent::new(
            Some(principal.id),
            "principal.provision",
            "principal",
            Some(principal.id.to_string()),
        )
        .with_detail(
            json!({"name": principal.name, "kind": kind, "login": verified.login,
                            "issuer": verified.issuer, "admin": principal.is_admin}),
        );
        match state.store.create_principal(&principal, event).await {
            Ok(()) => return Ok(principal),
            // Another request provisioned the same login (or took the name) first.
            Err(e) if e.kind() == ErrorKind::Conflict => {
                if let Some(found) = state.store.get_principal_by_login(&verified.login).await? {
                    return Ok(found);
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::unauthenticated(format!(
        "sign-in refused: no free principal name could be derived from login `{}`",
        verified.login
    )))
}

/// A principal name for `login` (`Alice.Smith@example.com` → `alice-smith`), with `-2`, `-3`,
/// … after the first attempt; names must be lowercase letters, digits, `_` and `-`, starting
/// with a letter (`names::validate_principal`).
pub fn derived_name(login: &str, kind: PrincipalKind, attempt: u32) -> String {
    let local = login.split('@').next().unwrap_or(login);
    let mut name = String::new();
    for c in local.chars().flat_map(char::to_lowercase) {
        let c = if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
            c
        } else {
            '-'
        };
        if !(c == '-' && (name.is_empty() || name.ends_with('-'))) {
            name.push(c);
        }
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        let prefix = if kind == PrincipalKind::Service {
            "svc-"
        } else {
            "u-"
        };
        name.insert_str(0, prefix);
    }
    name.truncate(52);
    let mut name = name.trim_end_matches(['-', '_']).to_string();
    if attempt > 0 {
        name.push_str(&format!("-{}", attempt + 1));
    }
    if names::validate_principal(&name).is_err() {
        name = format!("u-{}", &token::hash(login)[..12]);
    }
    name
}

/// Sets the admin role from the issuer's `admin_group`, when it has one.
async fn sync_admin(state: &AppState, principal: &Principal, verified: &Verified) -> ApiResult<()> {
    let Some(is_admin) = verified.is_admin else {
        return Ok(());
    };
    if is_admin == principal.is_admin {
        return Ok(());
    }
    let event = NewAuditEvent::new(
        Some(principal.id),
        "principal.admin_sync",
        "principal",
        Some(principal.id.to_string()),
    )
    .with_detail(json!({"admin": is_admin, "issuer": verified.issuer}));
    state
        .store
        .set_principal_admin(principal.id, is_admin, event)
        .await?;
    Ok(())
}

/// Makes the principal's IdP-made memberships the token's groups: each value names a group
/// principal by login, or else by name; values naming nothing here are ignored.
async fn sync_groups(
    state: &AppState,
    principal: &Principal,
    verified: &Verified,
) -> ApiResult<()> {
    let mut ids = Vec::new();
    for value in &verified.groups {
        let found = match state.store.get_principal_by_login(value).await? {
            Some(p) => Some(p),
            None if names::validate_principal(value).is_ok() => {
                state.store.get_principal_by_name(value).await?
            }
            None => None,
        };
        if let Some(g) = found
            && g.kind == PrincipalKind::Group
            && g.active
        {
            ids.push(g.id);
        }
    }
    let event = NewAuditEvent::new(
        Some(principal.id),
        "group.sync",
        "principal",
        Some(principal.id.to_string()),
    )
    .with_detail(json!({"issuer": verified.issuer, "source": "idp"}));
    state
        .store
        .sync_group_memberships(principal.id, MembershipSource::Idp, &ids, event)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derived_from_logins_are_valid_principal_names() {
        let user = PrincipalKind::User;
        assert_eq!(
            derived_name("Alice.Smith@example.com", user, 0),
            "alice-smith"
        );
        assert_eq!(derived_name("alice@example.com", user, 1), "alice-2");
        assert_eq!(derived_name("8c2f-11aa", user, 0), "u-8c2f-11aa");
        assert_eq!(derived_name("42", PrincipalKind::Service, 0), "svc-42");
        assert_eq!(
            derived_name("etl_job", PrincipalKind::Service, 0),
            "etl_job"
        );
        for login in [
            "Ünïcødé@x",
            "---",
            "@",
            "a".repeat(300).as_str(),
            "x y z",
            "é",
        ] {
            for attempt in [0, 5] {
                let name = derived_name(login, user, attempt);
                assert!(
                    names::validate_principal(&name).is_ok(),
                    "{login:?} -> {name}"
                );
            }
        }
    }
}
