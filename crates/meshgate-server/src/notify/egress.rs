//! Where webhooks may be delivered (docs/design/MASKS_AND_WEBHOOKS.md §Webhook egress): only to public
//! addresses, unless an admin lists the host in `notifications.webhook_allow_hosts`.
//!
//! Any principal may register a webhook, so without this a webhook would make meshgate call
//! its own network: loopback services, the cloud metadata endpoint, private ranges. The
//! destination is checked twice: when the webhook is registered (a literal address, or the
//! addresses its name resolves to) and again on every delivery, by the resolver of the
//! delivery client ([`EgressResolver`]). That resolver hands the connector only the addresses
//! it checked, so a name cannot resolve to a public address for the check and to a private
//! one for the connection (DNS rebinding). Literal addresses never reach a resolver, so a
//! delivery checks them itself ([`check_literal`]).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use url::{Host, Url};

/// The hosts an admin allowed, beside public addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    names: BTreeSet<String>,
    addresses: BTreeSet<IpAddr>,
}

/// Why a destination was refused. Deliberately coarse: it never says whether a name
/// resolved or which address it resolved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the destination is not a public address and its host is not allowed in notifications.webhook_allow_hosts")
    }
}

impl std::error::Error for Refused {}

impl EgressPolicy {
    /// The policy of `notifications.webhook_allow_hosts`: names (any case, a trailing dot
    /// ignored) and IP addresses (IPv6 with or without brackets). Fails on an entry that is
    /// neither.
    pub fn new(allowed: &[String]) -> Result<Self, String> {
        let mut policy = EgressPolicy::default();
        for entry in allowed {
            let entry = entry.trim();
            let bare = entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .unwrap_or(entry);
            if let Ok(ip) = bare.parse::<IpAddr>() {
                policy.addresses.insert(canonical(ip));
                continue;
            }
            let name = normal_name(entry);
            let valid = !name.is_empty()
                && name.len() <= 253
                && name.split('.').all(|l| {
                    !l.is_empty()
                        && l.chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                });
            if !valid {
                return Err(format!(
                    "notifications.webhook_allow_hosts: `{entry}` is neither a host name nor an IP address; list hosts like `hooks.internal.example` or `10.0.0.5`"
                ));
            }
            policy.names.insert(name);
        }
        Ok(policy)
    }

    /// Whether an admin allowed `host` (a name or an address).
    pub fn allows_host(&self, host: &Host<&str>) -> bool {
        match host {
            Host::Domain(d) => {
                let name = normal_name(d);
                self.names.contains(&name)
                    || name
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| self.addresses.contains(&canonical(ip)))
            }
            Host::Ipv4(ip) => self.addresses.contains(&canonical(IpAddr::V4(*ip))),
            Host::Ipv6(ip) => self.addresses.contains(&canonical(IpAddr::V6(*ip))),
        }
    }

    fn allows_name(&self, name: &str) -> bool {
        self.allows_host(&Host::Domain(name))
    }
}

fn normal_name(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is, so `::ffff:127.0.0.1` is allowed
/// or refused exactly as `127.0.0.1`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Whether `ip` is a public unicast address that a webhook may be delivered to. Refused:
/// unspecified, loopback, private (RFC 1918, ULA), link-local, CGNAT, multicast, broadcast,
/// documentation, benchmarking and reserved ranges, and IPv6 forms that carry an IPv4
/// address (mapped, compatible, NAT64, 6to4) unless that address is public; Teredo is
/// refused outright.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let refused = a == 0 // "this network", incl. 0.0.0.0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64/10
        || (a == 169 && b == 254) // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // TEST-NET-1
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // TEST-NET-2
        || (a == 203 && b == 0 && c == 113) // TEST-NET-3
        || a >= 224; // multicast, reserved, broadcast
    !refused
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    // IPv4-compatible (deprecated), `::` and `::1` included.
    if s[..6] == [0; 6] {
        return false;
    }
    // NAT64 well-known prefix 64:ff9b::/96: the IPv4 address it translates to.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded(s[6], s[7]));
    }
    // 6to4 2002::/16: the IPv4 address of the relay.
    if s[0] == 0x2002 {
        return is_public_v4(embedded(s[1], s[2]));
    }
    // Global unicast is 2000::/3; everything else (ULA fc00::/7, link-local fe80::/10,
    // site-local, multicast ff00::/8, discard 100::/64, local NAT64 64:ff9b:1::/48, …) is not.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    let refused = match s[0] {
        0x2001 => {
            s[1] == 0 // Teredo 2001::/32
                || s[1] == 0x0db8 // documentation
                || (s[1] == 2 && s[2] == 0) // benchmarking 2001:2::/48
                || (0x10..0x40).contains(&s[1]) // ORCHID, ORCHIDv2 and neighbours
        }
        0x3fff => s[1] < 0x1000, // documentation 3fff::/20
        _ => false,
    };
    !refused
}

/// The registration check of a webhook's destination: a host an admin allowed passes; a
/// literal address must be public; `localhost` and its subdomains are refused; any other
/// name must resolve, and only to public addresses.
pub async fn check_destination(url: &Url, policy: &EgressPolicy) -> Result<(), Refused> {
    let Some(host) = url.host() else {
        return Err(Refused);
    };
    if policy.allows_host(&host) {
        return Ok(());
    }
    match host {
        Host::Ipv4(ip) => public_or_refused(IpAddr::V4(ip)),
        Host::Ipv6(ip) => public_or_refused(IpAddr::V6(ip)),
        Host::Domain(name) => {
            let name = normal_name(name);
            if name == "localhost" || name.ends_with(".localhost") {
                return Err(Refused);
            }
            let port = url.port_or_known_default().unwrap_or(0);
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), port))
                .await
                .map_err(|_| Refused)?
                .collect();
            if found.is_empty() || !found.iter().all(|a| is_public(a.ip())) {
                return Err(Refused);
            }
            Ok(())
        }
    }
}

fn public_or_refused(ip: IpAddr) -> Result<(), Refused> {
    if is_public(ip) { Ok(()) } else { Err(Refused) }
}

/// The delivery check of a literal address (which the client connects to without resolving
/// it): public, or allowed. Names pass here; [`EgressResolver`] checks them.
pub fn check_literal(url: &Url, policy: &EgressPolicy) -> Result<(), Refused> {
    match url.host() {
        None => Err(Refused),
        Some(host) if policy.allows_host(&host) => Ok(()),
        Some(Host::Ipv4(ip)) => public_or_refused(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => public_or_refused(IpAddr::V6(ip)),
        Some(Host::Domain(_)) => Ok(()),
    }
}

/// Keeps the addresses a connection to `name` may use: all of them for an allowed host,
/// else the public ones; none left is a refusal.
pub fn filter_addresses(
    name: &str,
    found: impl IntoIterator<Item = SocketAddr>,
    policy: &EgressPolicy,
) -> Result<Vec<SocketAddr>, Refused> {
    let allowed = policy.allows_name(name);
    let normal = normal_name(name);
    if !allowed && (normal == "localhost" || normal.ends_with(".localhost")) {
        return Err(Refused);
    }
    let kept: Vec<SocketAddr> = found
        .into_iter()
        .filter(|a| allowed || is_public(a.ip()))
        .collect();
    if kept.is_empty() {
        return Err(Refused);
    }
    Ok(kept)
}

/// The delivery client's resolver: resolves with the system resolver, then hands the
/// connector only the addresses [`filter_addresses`] keeps.
#[derive(Debug, Clone)]
pub struct EgressResolver {
    policy: Arc<EgressPolicy>,
}

impl EgressResolver {
    pub fn new(policy: Arc<EgressPolicy>) -> Self {
        EgressResolver { policy }
    }

    /// Resolves `name` (port 0: the client fills in the URL's) to the addresses a delivery
    /// may connect to.
    pub async fn lookup(&self, name: &str) -> Result<Vec<SocketAddr>, Refused> {
        let found = tokio::net::lookup_host((name, 0)).await.map_err(|e| {
            tracing::debug!(host = name, error = %e, "webhook host does not resolve");
            Refused
        })?;
        filter_addresses(name, found, &self.policy).inspect_err(|_| {
            tracing::warn!(
                host = name,
                "webhook host resolves to no public address and is not in notifications.webhook_allow_hosts; not connecting"
            );
        })
    }
}

impl reqwest::dns::Resolve for EgressResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let this = self.clone();
        Box::pin(async move {
            match this.lookup(name.as_str()).await {
                Ok(addrs) => Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs),
                Err(refused) => Err(Box::new(refused) as Box<dyn std::error::Error + Send + Sync>),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn only_public_addresses_are_public() {
        for refused in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.255.254",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "192.0.0.8",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "100::1",
        ] {
            assert!(!is_public(ip(refused)), "{refused} must be refused");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "172.32.0.1",
            "100.128.0.1",
            "169.253.0.1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ] {
            assert!(is_public(ip(public)), "{public} is public");
        }
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[tokio::test]
    async fn registration_refuses_internal_destinations_unless_allowed() {
        let none = EgressPolicy::default();
        for internal in [
            "http://127.0.0.1:8080/hook",
            "http://localhost/",
            "http://LOCALHOST./x",
            "http://api.localhost/x",
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fe80::1]/",
            "http://0.0.0.0/",
            "http://2130706433/",
            "http://0x7f.1/",
        ] {
            assert_eq!(
                check_destination(&url(internal), &none).await,
                Err(Refused),
                "{internal}"
            );
        }
        assert!(
            check_destination(&url("https://1.1.1.1/x"), &none)
                .await
                .is_ok()
        );

        let policy = EgressPolicy::new(&[
            "127.0.0.1".into(),
            "[::1]".into(),
            "Hooks.Internal.Example.".into(),
            "localhost".into(),
        ])
        .unwrap();
        for allowed in [
            "http://127.0.0.1:8080/hook",
            "http://[::ffff:127.0.0.1]/",
            "http://[::1]:9/",
            "http://localhost:9/",
            "https://hooks.internal.example/x",
        ] {
            assert!(
                check_destination(&url(allowed), &policy).await.is_ok(),
                "{allowed}"
            );
        }
        // Only the hosts listed.
        assert!(
            check_destination(&url("http://127.0.0.2/"), &policy)
                .await
                .is_err()
        );
        assert!(EgressPolicy::new(&["http://x/".into()]).is_err());
        assert!(EgressPolicy::new(&["".into()]).is_err());
    }

    #[test]
    fn delivery_checks_literal_addresses() {
        let none = EgressPolicy::default();
        assert_eq!(
            check_literal(&url("http://127.0.0.1:1/"), &none),
            Err(Refused)
        );
        assert_eq!(
            check_literal(&url("http://[::ffff:a9fe:a9fe]/"), &none),
            Err(Refused)
        );
        assert!(check_literal(&url("http://8.8.8.8/"), &none).is_ok());
        // Names are the resolver's to check.
        assert!(check_literal(&url("http://hooks.example.com/"), &none).is_ok());
        let policy = EgressPolicy::new(&["127.0.0.1".into()]).unwrap();
        assert!(check_literal(&url("http://127.0.0.1:1/"), &policy).is_ok());
    }

    #[test]
    fn the_resolver_keeps_only_checked_addresses() {
        let none = EgressPolicy::default();
        let addr = |s: &str| SocketAddr::new(ip(s), 0);
        // A name that resolves to loopback or metadata only: refused (the rebinding case).
        assert_eq!(
            filter_addresses("evil.example", [addr("127.0.0.1")], &none),
            Err(Refused)
        );
        assert_eq!(
            filter_addresses(
                "evil.example",
                [addr("169.254.169.254"), addr("::ffff:10.1.2.3")],
                &none
            ),
            Err(Refused)
        );
        // Mixed answers: only the public addresses are handed to the connector.
        assert_eq!(
            filter_addresses(
                "mixed.example",
                [addr("10.0.0.1"), addr("93.184.216.34"), addr("::1")],
                &none
            ),
            Ok(vec![addr("93.184.216.34")])
        );
        assert_eq!(filter_addresses("empty.example", [], &none), Err(Refused));
        // An allowed name keeps what it resolves to.
        let policy = EgressPolicy::new(&["hooks.internal.example".into()]).unwrap();
        assert_eq!(
            filter_addresses("HOOKS.internal.example", [addr("10.0.0.1")], &policy),
            Ok(vec![addr("10.0.0.1")])
        );
    }

    #[tokio::test]
    async fn the_resolver_refuses_a_name_that_resolves_to_loopback() {
        let resolver = EgressResolver::new(Arc::new(EgressPolicy::default()));
        assert_eq!(resolver.lookup("localhost").await, Err(Refused));
        let allowed =
            EgressResolver::new(Arc::new(EgressPolicy::new(&["localhost".into()]).unwrap()));
        let found = allowed.lookup("localhost").await.unwrap();
        assert!(found.iter().all(|a| a.ip().is_loopback()), "{found:?}");
    }
}
