//! The audit log's tamper evidence (docs/design/AUDIT.md): the hash that links each event to
//! the one before it, the signed digests that vouch for the chain up to a position, and the
//! [`Verifier`] that walks a chain (from the store or from exported segments) and names the
//! first event that was changed, deleted or inserted.
//!
//! Pure: the store computes links with [`link_hash`] when it commits events, the server signs
//! digests with [`sign_digest`], and the CLI verifies with [`Verifier`], all the same code.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::model::AuditEvent;
use crate::{Error, Result};

/// The hash before the first event of the chain (and before the first digest).
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Where an event sits in the chain: its position (1, 2, … with no gaps), the hash of the
/// event before it and its own hash over both and its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainLink {
    pub pos: i64,
    pub prev_hash: String,
    pub hash: String,
}

/// The end of the chain as the store last committed it. Events with `seq <= since_seq` were
/// written before the chain began (a store upgraded from a release without it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChainHead {
    pub pos: i64,
    pub hash: String,
    pub since_seq: i64,
}

/// The hash of the event at `pos` whose predecessor's hash is `prev_hash`: SHA-256 over a JSON
/// array of a version tag, the position, the previous hash and every field of the event
/// (`seq` included; the time in microseconds, as stored).
pub fn link_hash(prev_hash: &str, pos: i64, event: &AuditEvent) -> String {
    let canonical = serde_json::json!([
        "meshgate-audit-v1",
        pos,
        prev_hash,
        event.seq,
        event.at.timestamp_micros(),
        event.actor_id.map(|id| id.to_string()),
        event.action,
        event.object_type,
        event.object_id,
        event.outcome.as_str(),
        event.request_id,
        event.detail,
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

/// A signed statement that the chain from `from_pos` to `to_pos` ends in `last_hash`. Digests
/// chain too: `prev_digest` is [`AuditDigest::digest_hash`] of the one before (or
/// [`GENESIS`]), so a deleted or changed digest breaks the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditDigest {
    pub from_pos: i64,
    pub to_pos: i64,
    pub last_hash: String,
    pub prev_digest: String,
    pub at: DateTime<Utc>,
    /// The [`AuditKey`] that signed it.
    pub key_id: String,
    /// Ed25519 over [`AuditDigest::message`], base64.
    pub signature: String,
}

impl AuditDigest {
    /// The bytes signed: every field but the signature, as a JSON array.
    pub fn message(&self) -> Vec<u8> {
        serde_json::json!([
            "meshgate-audit-digest-v1",
            self.from_pos,
            self.to_pos,
            self.last_hash,
            self.prev_digest,
            self.at.timestamp_micros(),
            self.key_id,
        ])
        .to_string()
        .into_bytes()
    }

    /// What the next digest names as its `prev_digest`: SHA-256 over the message and the
    /// signature.
    pub fn digest_hash(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.message());
        h.update(self.signature.as_bytes());
        hex::encode(h.finalize())
    }
}

/// A public key that signs digests. Its id is the first 16 hex digits of the SHA-256 of the
/// key; the private half never leaves the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditKey {
    pub id: String,
    /// The raw 32-byte Ed25519 public key, base64.
    pub public_key: String,
    pub created_at: DateTime<Utc>,
}

/// A new signing key: its public half and the PKCS#8 document the store keeps.
pub fn new_signing_key(now: DateTime<Utc>) -> Result<(AuditKey, Vec<u8>)> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| Error::internal("generate an audit signing key"))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| Error::internal("read a new audit signing key"))?;
    Ok((
        public_of(pair.public_key().as_ref(), now),
        pkcs8.as_ref().to_vec(),
    ))
}

/// The [`AuditKey`] of a raw public key.
pub fn public_of(public_key: &[u8], created_at: DateTime<Utc>) -> AuditKey {
    AuditKey {
        id: hex::encode(&Sha256::digest(public_key)[..8]),
        public_key: base64::engine::general_purpose::STANDARD.encode(public_key),
        created_at,
    }
}

/// Signs a digest (its `signature` is replaced) with the key in `pkcs8`.
pub fn sign_digest(pkcs8: &[u8], digest: &mut AuditDigest) -> Result<()> {
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
        .map_err(|_| Error::internal("read the audit signing key"))?;
    digest.signature =
        base64::engine::general_purpose::STANDARD.encode(pair.sign(&digest.message()).as_ref());
    Ok(())
}

/// Whether `digest` carries a valid signature by `key`.
pub fn signature_holds(key: &AuditKey, digest: &AuditDigest) -> bool {
    let b64 = base64::engine::general_purpose::STANDARD;
    let (Ok(public), Ok(signature)) = (b64.decode(&key.public_key), b64.decode(&digest.signature))
    else {
        return false;
    };
    UnparsedPublicKey::new(&ED25519, public)
        .verify(&digest.message(), &signature)
        .is_ok()
}

/// The first thing [`Verifier`] found wrong, naming the event (or digest) it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The event's content no longer gives its stored hash.
    Changed { pos: i64, seq: i64, action: String },
    /// The event's `prev_hash` is not the hash of the event before it.
    Relinked { pos: i64, seq: i64 },
    /// Positions jump: the events `from..=to` are gone.
    Deleted { from: i64, to: i64 },
    /// An event is in the log but not in the chain.
    Inserted { seq: i64, action: String },
    /// The chain holds together but does not end where a signed digest says it did: it was
    /// rewritten between `from` and `to`.
    Rewritten {
        from: i64,
        to: i64,
        signed_at: DateTime<Utc>,
    },
    /// A digest is signed by a key that is not trusted, or its signature does not hold.
    BadSignature { from: i64, to: i64 },
    /// A digest does not follow the one before it (a digest was deleted, changed or inserted).
    DigestChain { from: i64, to: i64 },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Changed { pos, seq, action } => write!(
                f,
                "event #{pos} (seq {seq}, `{action}`) was changed: its content no longer matches its hash"
            ),
            Problem::Relinked { pos, seq } => write!(
                f,
                "event #{pos} (seq {seq}) does not link to the event before it: an event before it was changed, deleted or inserted"
            ),
            Problem::Deleted { from, to } if from == to => {
                write!(f, "event #{from} was deleted")
            }
            Problem::Deleted { from, to } => write!(f, "events #{from} to #{to} were deleted"),
            Problem::Inserted { seq, action } => write!(
                f,
                "event seq {seq} (`{action}`) is not in the chain: it was inserted outside meshgate (or written by a release without the chain)"
            ),
            Problem::Rewritten {
                from,
                to,
                signed_at,
            } => write!(
                f,
                "events #{from} to #{to} do not match the digest signed at {}: an event in that range was changed, deleted or inserted and the chain recomputed",
                signed_at.to_rfc3339()
            ),
            Problem::BadSignature { from, to } => write!(
                f,
                "the digest of events #{from} to #{to} is not signed by a trusted key"
            ),
            Problem::DigestChain { from, to } => write!(
                f,
                "the digest of events #{from} to #{to} does not follow the digest before it: a digest was deleted, changed or inserted"
            ),
        }
    }
}

/// Walks a chain in position order, checks it against signed digests and keeps the first
/// problem. Feed it [`Verifier::digests`] first, then every event with
/// [`Verifier::event`], then [`Verifier::finish`].
#[derive(Debug)]
pub struct Verifier {
    keys: HashMap<String, AuditKey>,
    /// The last hash each digest vouches for, by its last position.
    signed: BTreeMap<i64, (i64, String, DateTime<Utc>)>,
    next_pos: Option<i64>,
    prev_hash: String,
    /// Positions checked, and the range they cover.
    pub checked: u64,
    pub first_pos: Option<i64>,
    pub last_pos: Option<i64>,
    /// Digests whose signature and order held, and the last position they vouch for.
    pub digests: u64,
    pub signed_to: i64,
    problems: Vec<Problem>,
}

impl Verifier {
    /// A verifier trusting `keys`, starting at the chain's first event (`from` is `None`) or at
    /// position `from`, whose own `prev_hash` is then taken as given.
    pub fn new(keys: Vec<AuditKey>, from: Option<i64>) -> Verifier {
        Verifier {
            keys: keys.into_iter().map(|k| (k.id.clone(), k)).collect(),
            signed: BTreeMap::new(),
            next_pos: Some(from.unwrap_or(1)),
            prev_hash: if from.is_none_or(|f| f <= 1) {
                GENESIS.to_string()
            } else {
                String::new()
            },
            checked: 0,
            first_pos: None,
            last_pos: None,
            digests: 0,
            signed_to: 0,
            problems: Vec::new(),
        }
    }

    /// Checks every digest (in order of position): trusted signature, each following the one
    /// before, ranges contiguous; remembers what each vouches for.
    pub fn digests(&mut self, digests: &[AuditDigest]) {
        let mut prev = GENESIS.to_string();
        let mut next_from = 1;
        for d in digests {
            let trusted = self
                .keys
                .get(&d.key_id)
                .is_some_and(|k| signature_holds(k, d));
            if !trusted {
                self.problems.push(Problem::BadSignature {
                    from: d.from_pos,
                    to: d.to_pos,
                });
                return;
            }
            if d.prev_digest != prev || d.from_pos != next_from || d.to_pos < d.from_pos {
                self.problems.push(Problem::DigestChain {
                    from: d.from_pos,
                    to: d.to_pos,
                });
                return;
            }
            prev = d.digest_hash();
            next_from = d.to_pos + 1;
            self.digests += 1;
            self.signed_to = d.to_pos;
            self.signed
                .insert(d.to_pos, (d.from_pos, d.last_hash.clone(), d.at));
        }
    }

    /// The next event of the chain (events outside it go to [`Verifier::outside`]).
    pub fn event(&mut self, event: &AuditEvent) {
        let Some(link) = &event.chain else {
            self.outside(event);
            return;
        };
        if let Some(expected) = self.next_pos {
            if link.pos > expected {
                self.problems.push(Problem::Deleted {
                    from: expected,
                    to: link.pos - 1,
                });
            } else if link.pos < expected {
                // A position seen twice: the later copy was inserted.
                self.problems.push(Problem::Inserted {
                    seq: event.seq,
                    action: event.action.clone(),
                });
                return;
            }
        }
        if self.prev_hash.is_empty() {
            // Starting mid-chain: the first event's predecessor is taken as given.
            self.prev_hash = link.prev_hash.clone();
        }
        if link.prev_hash != self.prev_hash {
            self.problems.push(Problem::Relinked {
                pos: link.pos,
                seq: event.seq,
            });
        }
        if link_hash(&link.prev_hash, link.pos, event) != link.hash {
            self.problems.push(Problem::Changed {
                pos: link.pos,
                seq: event.seq,
                action: event.action.clone(),
            });
        }
        if let Some((from, last_hash, at)) = self.signed.get(&link.pos)
            && *last_hash != link.hash
        {
            self.problems.push(Problem::Rewritten {
                from: *from,
                to: link.pos,
                signed_at: *at,
            });
        }
        self.prev_hash = link.hash.clone();
        self.next_pos = Some(link.pos + 1);
        self.first_pos.get_or_insert(link.pos);
        self.last_pos = Some(link.pos);
        self.checked += 1;
    }

    /// An event in the log with no place in the chain.
    pub fn outside(&mut self, event: &AuditEvent) {
        self.problems.push(Problem::Inserted {
            seq: event.seq,
            action: event.action.clone(),
        });
    }

    /// Ends the walk: `end` is the last position the walk should have reached (the store's
    /// head, or the `--to` asked for); events missing before it, or vouched for by a digest
    /// and missing, are deletions. Returns the problems, the first (by position) first.
    /// `asked_to` is the `--to` of a partial walk: digests past it are not counted on.
    pub fn finish(mut self, end: Option<i64>, asked_to: Option<i64>) -> Report {
        let reached = self.last_pos.unwrap_or(self.next_pos.unwrap_or(1) - 1);
        let signed_end = self
            .signed
            .range(reached + 1..)
            .next_back()
            .map(|(to, _)| *to)
            .filter(|to| asked_to.is_none_or(|e| *to <= e));
        let should = end.into_iter().chain(signed_end).max();
        if let Some(should) = should
            && should > reached
        {
            self.problems.push(Problem::Deleted {
                from: reached + 1,
                to: should,
            });
        }
        self.problems.sort_by_key(|p| match p {
            Problem::Changed { pos, .. } | Problem::Relinked { pos, .. } => (*pos, 1),
            Problem::Deleted { from, .. } => (*from, 0),
            Problem::Rewritten { from, .. }
            | Problem::BadSignature { from, .. }
            | Problem::DigestChain { from, .. } => (*from, 2),
            Problem::Inserted { .. } => (i64::MAX, 0),
        });
        Report {
            checked: self.checked,
            first_pos: self.first_pos,
            last_pos: self.last_pos,
            digests: self.digests,
            signed_to: self.signed_to,
            problems: self.problems,
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub checked: u64,
    pub first_pos: Option<i64>,
    pub last_pos: Option<i64>,
    pub digests: u64,
    pub signed_to: i64,
    /// Empty when the chain is intact.
    pub problems: Vec<Problem>,
}

impl Report {
    pub fn intact(&self) -> bool {
        self.problems.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Outcome;

    fn chain(n: i64) -> Vec<AuditEvent> {
        let mut prev = GENESIS.to_string();
        (1..=n)
            .map(|pos| {
                let mut e = AuditEvent {
                    seq: pos + 10,
                    at: DateTime::from_timestamp_micros(1_700_000_000_000_000 + pos).unwrap(),
                    actor_id: None,
                    action: "share.approve".into(),
                    object_type: "share".into(),
                    object_id: Some(format!("s{pos}")),
                    outcome: Outcome::Success,
                    request_id: None,
                    detail: serde_json::json!({"n": pos, "reason": "x"}),
                    chain: None,
                };
                let hash = link_hash(&prev, pos, &e);
                e.chain = Some(ChainLink {
                    pos,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                });
                prev = hash;
                e
            })
            .collect()
    }

    fn digest(pkcs8: &[u8], key: &AuditKey, prev: &str, events: &[AuditEvent]) -> AuditDigest {
        let first = events.first().unwrap().chain.as_ref().unwrap();
        let last = events.last().unwrap().chain.as_ref().unwrap();
        let mut d = AuditDigest {
            from_pos: first.pos,
            to_pos: last.pos,
            last_hash: last.hash.clone(),
            prev_digest: prev.to_string(),
            at: Utc::now(),
            key_id: key.id.clone(),
            signature: String::new(),
        };
        sign_digest(pkcs8, &mut d).unwrap();
        d
    }

    fn verify(keys: &[AuditKey], digests: &[AuditDigest], events: &[AuditEvent]) -> Report {
        let mut v = Verifier::new(keys.to_vec(), None);
        v.digests(digests);
        for e in events {
            v.event(e);
        }
        v.finish(None, None)
    }

    #[test]
    fn an_intact_chain_with_digests_verifies() {
        let (key, pkcs8) = new_signing_key(Utc::now()).unwrap();
        let events = chain(10);
        let d1 = digest(&pkcs8, &key, GENESIS, &events[..4]);
        let d2 = digest(&pkcs8, &key, &d1.digest_hash(), &events[4..]);
        let report = verify(&[key], &[d1, d2], &events);
        assert!(report.intact(), "{:?}", report.problems);
        assert_eq!(
            (report.checked, report.digests, report.signed_to),
            (10, 2, 10)
        );
    }

    #[test]
    fn each_kind_of_tampering_is_named() {
        let (key, pkcs8) = new_signing_key(Utc::now()).unwrap();
        let events = chain(8);
        let d = digest(&pkcs8, &key, GENESIS, &events);
        let keys = [key.clone()];

        let mut changed = events.clone();
        changed[4].detail = serde_json::json!({"n": 5, "reason": "y"});
        let first = verify(&keys, std::slice::from_ref(&d), &changed).problems[0].clone();
        assert!(
            matches!(
                first,
                Problem::Changed {
                    pos: 5,
                    seq: 15,
                    ..
                }
            ),
            "{first}"
        );

        let mut deleted = events.clone();
        deleted.remove(2);
        let first = verify(&keys, std::slice::from_ref(&d), &deleted).problems[0].clone();
        assert_eq!(first, Problem::Deleted { from: 3, to: 3 });

        let mut tail = events.clone();
        tail.truncate(6);
        let first = verify(&keys, std::slice::from_ref(&d), &tail).problems[0].clone();
        assert_eq!(first, Problem::Deleted { from: 7, to: 8 });

        let mut inserted = events.clone();
        let mut extra = events[3].clone();
        extra.seq = 99;
        extra.chain = None;
        inserted.insert(4, extra);
        let problems = verify(&keys, std::slice::from_ref(&d), &inserted).problems;
        assert!(
            matches!(problems[0], Problem::Inserted { seq: 99, .. }),
            "{problems:?}"
        );

        // Rewritten from position 3 on, every hash recomputed: only the digest tells.
        let mut rewritten = events.clone();
        rewritten[2].detail = serde_json::json!({"n": 3, "reason": "forged"});
        let mut prev = rewritten[1].chain.as_ref().unwrap().hash.clone();
        for e in &mut rewritten[2..] {
            let pos = e.chain.as_ref().unwrap().pos;
            let hash = link_hash(&prev, pos, e);
            e.chain = Some(ChainLink {
                pos,
                prev_hash: prev.clone(),
                hash: hash.clone(),
            });
            prev = hash;
        }
        let first = verify(&keys, std::slice::from_ref(&d), &rewritten).problems[0].clone();
        assert!(
            matches!(first, Problem::Rewritten { from: 1, to: 8, .. }),
            "{first}"
        );

        // A digest signed by another key is not trusted.
        let (other, other_pkcs8) = new_signing_key(Utc::now()).unwrap();
        let forged = digest(&other_pkcs8, &other, GENESIS, &events);
        let first = verify(&keys, &[forged], &events).problems[0].clone();
        assert_eq!(first, Problem::BadSignature { from: 1, to: 8 });
    }
}
