//! Who is calling a Delta Sharing endpoint (a recipient, by its token, from an allowed
//! address) and what it may read: its access snapshot, named as the protocol names it.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use chrono::Utc;
use meshgate_core::model::{NewAuditEvent, Outcome, ProductTable, SharingTokenKind};
use meshgate_core::token;
use meshgate_engine::secure::TableAccess;
use uuid::Uuid;

use super::error::SharingError;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, REQUEST_ID};
use crate::state::AppState;

// ----- the recipient -----

/// The authenticated caller of a Delta Sharing endpoint.
pub struct Recipient {
    pub caller: Caller,
}

impl Recipient {
    pub fn id(&self) -> Uuid {
        self.caller.id()
    }
}

fn bearer(parts: &Parts) -> ApiResult<&str> {
    let header = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| {
        ApiError::unauthenticated(
            "missing bearer token: use the bearerToken of your profile file as `Authorization: Bearer <token>`",
        )
    })?;
    let value = header
        .to_str()
        .map_err(|_| ApiError::unauthenticated("invalid authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::unauthenticated("the authorization header must be `Bearer <token>`")
        })
}

/// The address the request came from, when the server knows it.
pub fn peer(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_canonical())
}

/// How often a token's last use is written, at most.
const TOUCH_EVERY_SECS: i64 = 60;

impl FromRequestParts<AppState> for Recipient {
    type Rejection = SharingError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer(parts)?.to_string();
        let caller = if token.starts_with(token::SHARING_TOKEN_PREFIX) {
            let refused = || ApiError::unauthenticated("invalid, expired or revoked token");
            let (t, principal) = state
                .store
                .find_sharing_token(&token::hash(&token))
                .await
                .map_err(ApiError::from)?
                .ok_or_else(refused)?;
            let now = Utc::now();
            if !t.is_usable(now)
                || !principal.active
                || !matches!(t.kind, SharingTokenKind::Bearer | SharingTokenKind::Access)
            {
                return Err(refused().into());
            }
            if t.last_used_at
                .is_none_or(|at| (now - at).num_seconds() >= TOUCH_EVERY_SECS)
                && let Err(e) = state.store.touch_sharing_token(t.id, now).await
            {
                tracing::warn!(error = %e, "could not record a recipient token's use");
            }
            Caller::new(state, principal, None).await?
        } else if state.signin.enabled() && meshgate_oidc::looks_like_jwt(&token) {
            // A JWT of a trusted identity provider: a recipient bound to its subject
            // (federation), or the principal it names as on the rest of the API.
            let principal =
                crate::signin::principal_of_jwt(state, &token, crate::signin::Surface::Sharing)
                    .await?;
            Caller::new(state, principal, None).await?
        } else {
            // API tokens and tenant credentials read through Delta Sharing too (the data
            // plane); a credential's session policy narrows what it sees.
            crate::auth::authenticate(parts, state).await?
        };
        check_address(state, &caller, peer(parts)).await?;
        Ok(Recipient { caller })
    }
}

/// Refuses a request from outside the recipient's IP allow-list (none set: any address).
/// Fails closed: with a list and no known peer address, the request is refused.
pub async fn check_address(
    state: &AppState,
    caller: &Caller,
    peer: Option<IpAddr>,
) -> ApiResult<()> {
    let Some(settings) = state.store.recipient_settings(caller.id()).await? else {
        return Ok(());
    };
    if settings.ip_allow_list.is_empty() {
        return Ok(());
    }
    if let Some(ip) = peer
        && settings
            .ip_allow_list
            .iter()
            .any(|entry| address_matches(entry, ip))
    {
        return Ok(());
    }
    let shown = peer.map_or_else(|| "an unknown address".to_string(), |ip| ip.to_string());
    let e = NewAuditEvent::new(
        Some(caller.id()),
        "sharing.denied",
        "principal",
        Some(caller.id().to_string()),
    )
    .with_outcome(Outcome::Denied)
    .with_request_id(REQUEST_ID.try_with(|id| id.clone()).ok())
    .with_detail(serde_json::json!({"reason": "ip_allow_list", "address": shown}));
    state.store.append_audit(e).await?;
    Err(ApiError::forbidden(format!(
        "requests from {shown} are not allowed for recipient `{}`",
        caller.principal.name
    )))
}

// ----- what a recipient sees -----

/// One table a recipient may read, with its Delta Sharing names.
#[derive(Debug, Clone)]
pub struct Shared {
    /// The domain.
    pub share: String,
    pub share_id: Uuid,
    /// The data product.
    pub schema: String,
    pub table: ProductTable,
    pub access: TableAccess,
}

impl Shared {
    pub fn full_name(&self) -> String {
        format!("{}.{}.{}", self.share, self.schema, self.table.name)
    }
}

/// Every table `caller` may read, sorted by share, schema and name (its access snapshot,
/// local names left out: a recipient sees each table under its domain and product).
pub async fn shared_tables(state: &AppState, caller: &Caller) -> ApiResult<Vec<Shared>> {
    let access = crate::snapshot::readable(state, caller).await?;
    let mut out: Vec<Shared> = access
        .entries()
        .filter(|(r, _)| !r.alias)
        .map(|(r, v)| Shared {
            share: r.catalog.clone(),
            share_id: r.domain_id,
            schema: r.schema.clone(),
            table: r.table.clone(),
            access: v.access.clone(),
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.share, &a.schema, &a.table.name).cmp(&(&b.share, &b.schema, &b.table.name))
    });
    Ok(out)
}

/// The spelling among `names` of a name a request gave: the protocol's share, schema and table
/// names are case-insensitive on every endpoint (PROTOCOL.md, "It's case-insensitive"), so
/// `SALES` finds `sales`. An exact match wins over one that differs only in case.
pub(super) fn canonical<'a>(
    names: impl IntoIterator<Item = &'a str>,
    wanted: &str,
) -> Option<&'a str> {
    let wanted_folded = wanted.to_lowercase();
    let mut folded = None;
    for name in names {
        if name == wanted {
            return Some(name);
        }
        if folded.is_none() && name.to_lowercase() == wanted_folded {
            folded = Some(name);
        }
    }
    folded
}

pub(super) fn share_missing(share: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("share `{share}` does not exist or is not shared with you"),
    )
}

pub(super) fn schema_missing(share: &str, schema: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("schema `{share}.{schema}` does not exist or is not shared with you"),
    )
}

// ----- IP allow-lists -----

/// An address or network: the network address and its prefix length.
pub(super) fn parse_network(entry: &str) -> Option<(IpAddr, u8)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
        None => (entry, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let ip = ip.to_canonical();
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    (bits <= max).then_some((ip, bits))
}

/// Whether `ip` is the address or inside the network `entry`.
pub fn address_matches(entry: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = parse_network(entry) else {
        return false;
    };
    match (net, ip.to_canonical()) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    }
}
