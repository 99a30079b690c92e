//! The cost of validating one bearer JWT with the provider's keys cached: what a request
//! with a token the server has not seen yet pays (a seen token is remembered by its hash,
//! `meshgate-server/src/signin.rs`). Run by `bench/jwt_verify.sh`, which starts the test
//! provider and passes its issuer and a token:
//!
//!   cargo run --release -p meshgate-oidc --example jwt_verify -- ISSUER TOKEN [N]

use std::time::Instant;

use meshgate_oidc::{IssuerConfig, Verifier};
use sha2::{Digest, Sha256};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(issuer), Some(token)) = (args.get(1), args.get(2)) else {
        return Err("usage: jwt_verify ISSUER TOKEN [N]".into());
    };
    let n: usize = args
        .get(3)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let verifier = Verifier::new(vec![IssuerConfig {
        issuer: issuer.clone(),
        client_id: Some("meshgate".into()),
        audience: vec!["meshgate".into()],
        ..IssuerConfig::default()
    }])?;
    // The first call fetches discovery and keys; it is not counted.
    let who = verifier.verify(token).await?;
    let mut verify = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        verifier.verify(token).await?;
        verify.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    // What a remembered token costs instead: its SHA-256 (the cache key) and a map lookup.
    let mut cache = std::collections::HashMap::new();
    cache.insert(hex(&Sha256::digest(token.as_bytes())), who.login.clone());
    let mut hit = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let key = hex(&Sha256::digest(token.as_bytes()));
        std::hint::black_box(cache.get(&key));
        hit.push(t.elapsed().as_nanos() as f64 / 1000.0);
    }
    for (name, mut v) in [
        ("verify (keys cached)", verify),
        ("remembered token (hash + lookup)", hit),
    ] {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
        println!(
            "{name}: n={} p50={:.1} µs p90={:.1} µs p99={:.1} µs",
            v.len(),
            at(0.5),
            at(0.9),
            at(0.99)
        );
    }
    println!(
        "token: {} bytes, alg from header, principal login `{}`",
        token.len(),
        who.login
    );
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
