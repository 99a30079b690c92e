//! The verifier against a local key server (discovery document and key set over HTTP) and
//! Ed25519 keys made here. The whole sign-in, with a real OpenID provider, is tested by the
//! server's `signin` suite; these pin the refusals one by one.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use ring::signature::{Ed25519KeyPair, KeyPair};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::*;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct SigningKey {
    kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl SigningKey {
    fn new(kid: &str) -> Result<SigningKey, Box<dyn std::error::Error>> {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| e.to_string())?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| e.to_string())?;
        Ok(SigningKey {
            kid: kid.into(),
            pkcs8: pkcs8.as_ref().to_vec(),
            public: pair.public_key().as_ref().to_vec(),
        })
    }

    fn jwk(&self) -> Value {
        json!({"kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": self.kid,
               "x": URL_SAFE_NO_PAD.encode(&self.public)})
    }

    fn sign(&self, claims: &Value) -> Result<String, Box<dyn std::error::Error>> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        Ok(jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_ed_der(&self.pkcs8),
        )?)
    }
}

#[derive(Clone)]
struct Provider {
    issuer: String,
    keys: Arc<Mutex<Vec<Value>>>,
    fetches: Arc<AtomicUsize>,
    down: Arc<Mutex<bool>>,
}

async fn provider() -> Result<Provider, Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let issuer = format!("http://{}", listener.local_addr()?);
    let p = Provider {
        issuer,
        keys: Arc::default(),
        fetches: Arc::default(),
        down: Arc::default(),
    };
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(|State(p): State<Provider>| async move {
                Json(json!({"issuer": p.issuer, "jwks_uri": format!("{}/jwks", p.issuer)}))
            }),
        )
        .route(
            "/jwks",
            get(|State(p): State<Provider>| async move {
                p.fetches.fetch_add(1, Ordering::SeqCst);
                if *p.down.lock().await {
                    return Err(StatusCode::SERVICE_UNAVAILABLE);
                }
                Ok(Json(json!({"keys": *p.keys.lock().await})))
            }),
        )
        .with_state(p.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(p)
}

fn config(p: &Provider) -> IssuerConfig {
    IssuerConfig {
        issuer: p.issuer.clone(),
        client_id: Some("meshgate".into()),
        admin_group: Some("mesh-admins".into()),
        jwks_min_refresh_secs: 3600,
        ..IssuerConfig::default()
    }
}

fn claims(p: &Provider) -> Value {
    let now = Utc::now().timestamp();
    json!({"iss": p.issuer, "aud": "meshgate", "sub": "alice", "iat": now, "exp": now + 300,
           "name": "Alice", "groups": ["analysts", "mesh-admins"], "azp": "meshgate"})
}

#[tokio::test]
async fn a_valid_token_names_its_user_groups_and_admin_role() -> TestResult {
    let p = provider().await?;
    let key = SigningKey::new("k1")?;
    p.keys.lock().await.push(key.jwk());
    let v = Verifier::new(vec![config(&p)])?;
    let who = v.verify(&key.sign(&claims(&p))?).await?;
    assert_eq!(who.login, "alice");
    assert_eq!(who.kind, Kind::User);
    assert_eq!(who.groups, ["analysts", "mesh-admins"]);
    assert_eq!(who.is_admin, Some(true));
    assert_eq!(who.display_name.as_deref(), Some("Alice"));
    // The key set is cached: a second token makes no request.
    v.verify(&key.sign(&claims(&p))?).await?;
    assert_eq!(p.fetches.load(Ordering::SeqCst), 1);
    Ok(())
}

#[tokio::test]
async fn refusals_name_what_is_wrong() -> TestResult {
    let p = provider().await?;
    let key = SigningKey::new("k1")?;
    p.keys.lock().await.push(key.jwk());
    let v = Verifier::new(vec![config(&p)])?;
    let now = Utc::now().timestamp();
    let with = |patch: Value| -> Result<String, Box<dyn std::error::Error>> {
        let mut c = claims(&p);
        if let (Some(c), Some(patch)) = (c.as_object_mut(), patch.as_object()) {
            for (k, val) in patch {
                c.insert(k.clone(), val.clone());
            }
        }
        key.sign(&c)
    };
    let expired = with(json!({"exp": now - 120}))?;
    assert_eq!(v.verify(&expired).await, Err(Refusal::Expired));
    let future = with(json!({"nbf": now + 600}))?;
    assert_eq!(v.verify(&future).await, Err(Refusal::NotYetValid));
    let within_leeway = with(json!({"exp": now - 10}))?;
    assert!(v.verify(&within_leeway).await.is_ok());
    let aud = with(json!({"aud": "another-app"}))?;
    assert!(matches!(v.verify(&aud).await, Err(Refusal::Audience(_))));
    let iss = with(json!({"iss": "https://evil.example.com"}))?;
    assert!(matches!(
        v.verify(&iss).await,
        Err(Refusal::UntrustedIssuer(_))
    ));
    let no_exp = key.sign(&json!({"iss": p.issuer, "aud": "meshgate", "sub": "alice"}))?;
    assert!(matches!(v.verify(&no_exp).await, Err(Refusal::Claim(_))));

    // Tampered: the payload of one token with the signature of another.
    let good = key.sign(&claims(&p))?;
    let other = with(json!({"sub": "mallory"}))?;
    let parts: Vec<&str> = good.split('.').collect();
    let forged_payload: Vec<&str> = other.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], forged_payload[1], parts[2]);
    assert_eq!(v.verify(&tampered).await, Err(Refusal::Signature));

    // `alg: none`, and HMAC keyed with the public key (the classic confusion attack).
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    assert!(matches!(
        v.verify(&unsigned).await,
        Err(Refusal::Algorithm(_))
    ));
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(&hs, &claims(&p), &EncodingKey::from_secret(&key.public))?;
    assert!(matches!(
        v.verify(&confused).await,
        Err(Refusal::Algorithm(_))
    ));
    let crit_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k1","crit":["exp"]}"#);
    let crit = format!("{crit_header}.{}.{}", parts[1], parts[2]);
    assert!(matches!(v.verify(&crit).await, Err(Refusal::Algorithm(_))));

    // Malformed and oversized.
    for bad in ["", "a.b", "a.b.c.d", "eyJ!.e.f", "not-a-jwt"] {
        assert!(
            matches!(v.verify(bad).await, Err(Refusal::Malformed(_))),
            "{bad:?}"
        );
    }
    let huge = format!("{}.{}.{}", parts[0], "A".repeat(MAX_TOKEN_BYTES), parts[2]);
    assert!(matches!(v.verify(&huge).await, Err(Refusal::Malformed(_))));
    // No message repeats the token.
    for t in [&expired, &aud, &tampered, &unsigned, &confused] {
        if let Err(e) = v.verify(t).await {
            assert!(!e.to_string().contains(&t[..20]), "{e}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_unknown_ids_are_rate_limited() -> TestResult {
    let p = provider().await?;
    let old = SigningKey::new("old")?;
    p.keys.lock().await.push(old.jwk());
    let mut c = config(&p);
    c.jwks_min_refresh_secs = 1;
    let v = Verifier::new(vec![c])?;
    v.verify(&old.sign(&claims(&p))?).await?;
    assert_eq!(p.fetches.load(Ordering::SeqCst), 1);

    // The provider rotates: the new key is published, the old one retired.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let new = SigningKey::new("new")?;
    *p.keys.lock().await = vec![new.jwk()];
    v.verify(&new.sign(&claims(&p))?).await?;
    assert_eq!(p.fetches.load(Ordering::SeqCst), 2);

    // Made-up key ids: refused; within the refresh interval no further fetch is made.
    let stranger = SigningKey::new("stranger")?;
    for _ in 0..5 {
        assert!(matches!(
            v.verify(&stranger.sign(&claims(&p))?).await,
            Err(Refusal::UnknownKey(_))
        ));
    }
    assert_eq!(p.fetches.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test]
async fn with_the_key_set_unreachable_tokens_are_refused_with_a_clear_message() -> TestResult {
    let p = provider().await?;
    let key = SigningKey::new("k1")?;
    p.keys.lock().await.push(key.jwk());
    *p.down.lock().await = true;
    let v = Verifier::new(vec![config(&p)])?;
    match v.verify(&key.sign(&claims(&p))?).await {
        Err(Refusal::Unavailable(m)) => {
            assert!(m.contains("key set could not be fetched"), "{m}")
        }
        other => return Err(format!("expected Unavailable, got {other:?}").into()),
    }
    // A provider that is not there at all.
    let mut gone = config(&p);
    gone.issuer = "http://127.0.0.1:9".into();
    let v = Verifier::new(vec![gone])?;
    let mut c = claims(&p);
    c["iss"] = json!("http://127.0.0.1:9");
    assert!(matches!(
        v.verify(&key.sign(&c)?).await,
        Err(Refusal::Unavailable(_))
    ));
    Ok(())
}

#[tokio::test]
async fn client_credentials_tokens_name_a_service() -> TestResult {
    let p = provider().await?;
    let key = SigningKey::new("k1")?;
    p.keys.lock().await.push(key.jwk());
    let v = Verifier::new(vec![config(&p)])?;
    let now = Utc::now().timestamp();
    // No subject (oidc-provider), subject = client (Okta), `idtyp: app` (Entra ID).
    for extra in [
        json!({"client_id": "etl-job"}),
        json!({"sub": "etl-job", "cid": "etl-job"}),
        json!({"sub": "0f3c", "azp": "etl-job", "idtyp": "app"}),
    ] {
        let mut c = json!({"iss": p.issuer, "aud": "meshgate", "exp": now + 60});
        if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
            c.extend(extra.clone());
        }
        let who = v.verify(&key.sign(&c)?).await?;
        assert_eq!((who.kind, who.login.as_str()), (Kind::Service, "etl-job"));
    }
    // An unverified email never names a user.
    let mut by_email = config(&p);
    by_email.user_claim = "email".into();
    let v = Verifier::new(vec![by_email])?;
    let mut c = claims(&p);
    c["email"] = json!("alice@example.com");
    c["email_verified"] = json!(false);
    assert!(matches!(
        v.verify(&key.sign(&c)?).await,
        Err(Refusal::Claim(_))
    ));
    c["email_verified"] = json!(true);
    assert_eq!(v.verify(&key.sign(&c)?).await?.login, "alice@example.com");
    Ok(())
}

#[test]
fn jwt_shapes() {
    assert!(looks_like_jwt("eyJhbGciOi.eyJzdWIi.c2ln"));
    assert!(!looks_like_jwt("mgt_0123"));
    assert!(!looks_like_jwt("eyJ.a"));
    assert!(!looks_like_jwt("eyJ a.b.c"));
}
