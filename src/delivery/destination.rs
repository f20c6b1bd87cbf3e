//! Where herald may send: one policy for every endpoint, config file or
//! database. `https` is required (plain `http` only with the endpoint's
//! explicit opt-in, or to a loopback address a config endpoint names), and
//! the destination *address* must be public: loopback, private, link-local
//! (cloud metadata), CGNAT, unique-local, multicast, reserved and
//! unspecified addresses are refused unless an operator allows their range
//! (`--allow-private-networks`).
//!
//! Checked twice: on the URL (an IP literal, in any spelling the URL
//! standard accepts — `127.1`, `2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`
//! — is parsed to its address first) before an endpoint is used, and on
//! every address a host name resolves to, at connect time, by the HTTP
//! client's resolver ([`PolicyResolver`]), so DNS rebinding cannot pass.
//! Redirects are never followed (`delivery::http`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use url::{Host, Url};

use crate::endpoint::{Endpoint, EndpointSource};

/// The address ranges herald may reach besides public ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    allowed: Vec<IpNet>,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "plain http is not allowed (use https, or set allow_insecure_http on a config endpoint)"
    )]
    InsecureHttp,
    #[error("scheme {0} is not http(s)")]
    Scheme(String),
    #[error("the URL has no host")]
    NoHost,
    #[error("{address} is a {kind} address; allow its range with --allow-private-networks to send there")]
    Address { address: IpAddr, kind: &'static str },
}

/// The kind of a non-public address, or `None` for a public one.
pub fn special_kind(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_kind(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_kind(v4).or(Some("IPv4-mapped"));
            }
            let segments = v6.segments();
            if v6.is_unspecified() {
                Some("unspecified")
            } else if v6.is_loopback() {
                Some("loopback")
            } else if segments[0] & 0xfe00 == 0xfc00 {
                Some("unique-local")
            } else if segments[0] & 0xffc0 == 0xfe80 {
                Some("link-local")
            } else if segments[0] & 0xff00 == 0xff00 {
                Some("multicast")
            } else if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                // NAT64 (RFC 6052): judge the embedded IPv4 address.
                let v4 = Ipv4Addr::new(
                    (segments[6] >> 8) as u8,
                    segments[6] as u8,
                    (segments[7] >> 8) as u8,
                    segments[7] as u8,
                );
                v4_kind(v4)
            } else if segments[0] == 0x2001 && segments[1] == 0x0db8 {
                Some("documentation")
            } else if v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0) {
                Some("unspecified")
            } else {
                None
            }
        }
    }
}

fn v4_kind(v4: Ipv4Addr) -> Option<&'static str> {
    let [a, b, _, _] = v4.octets();
    if v4.is_unspecified() || a == 0 {
        Some("unspecified")
    } else if v4.is_loopback() {
        Some("loopback")
    } else if v4 == Ipv4Addr::new(169, 254, 169, 254) {
        Some("cloud metadata")
    } else if v4.is_link_local() {
        Some("link-local")
    } else if v4.is_private() {
        Some("private")
    } else if a == 100 && (64..128).contains(&b) {
        Some("shared (CGNAT)")
    } else if v4.is_multicast() {
        Some("multicast")
    } else if v4.is_broadcast() || a >= 240 {
        Some("reserved")
    } else if a == 192 && b == 0 && v4.octets()[2] == 0 {
        Some("IETF protocol")
    } else if (a == 198 && (b == 18 || b == 19)) || v4.is_documentation() {
        Some("benchmarking or documentation")
    } else {
        None
    }
}

impl NetworkPolicy {
    pub fn new(allowed: Vec<IpNet>) -> Self {
        NetworkPolicy { allowed }
    }

    /// The ranges allowed besides public addresses.
    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// `Err` when herald must not connect to `ip`.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match special_kind(ip) {
            Some(kind) if !self.allowed.iter().any(|net| net.contains(&ip)) => {
                Err(Refusal::Address { address: ip, kind })
            }
            _ => Ok(()),
        }
    }

    /// Check `endpoint`'s URL before it is used: the scheme, and the
    /// address when the host is an IP literal. A config endpoint may name a
    /// loopback address explicitly (local receivers, `herald sink`); a host
    /// *name* is checked when it is resolved.
    pub fn check_endpoint(
        &self,
        endpoint: &Endpoint,
        allow_insecure_http: bool,
    ) -> Result<(), Refusal> {
        check_url(self, &endpoint.url, endpoint.source, allow_insecure_http)
    }
}

/// See [`NetworkPolicy::check_endpoint`].
pub fn check_url(
    policy: &NetworkPolicy,
    url: &Url,
    source: EndpointSource,
    allow_insecure_http: bool,
) -> Result<(), Refusal> {
    let literal = match url.host() {
        Some(Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        Some(Host::Domain(_)) => None,
        None => return Err(Refusal::NoHost),
    };
    let named_loopback = source == EndpointSource::Config
        && literal.is_some_and(|ip| special_kind(ip) == Some("loopback"));
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http || named_loopback => {}
        "http" => return Err(Refusal::InsecureHttp),
        other => return Err(Refusal::Scheme(other.to_owned())),
    }
    match literal {
        Some(_) if named_loopback => Ok(()),
        Some(ip) => policy.check_address(ip),
        None => Ok(()),
    }
}

/// The HTTP client's resolver: resolves with the system resolver, then
/// keeps only the addresses the policy allows. A name that resolves only
/// to refused addresses fails to connect with the reason.
#[derive(Debug, Clone)]
pub struct PolicyResolver {
    policy: Arc<NetworkPolicy>,
}

impl PolicyResolver {
    pub fn new(policy: Arc<NetworkPolicy>) -> Self {
        PolicyResolver { policy }
    }
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusals = Vec::new();
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check_address(addr.ip()) {
                    Ok(()) => true,
                    Err(refusal) => {
                        refusals.push(refusal);
                        false
                    }
                })
                .collect();
            if allowed.is_empty() {
                let reason = refusals
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_else(|| "no address".into());
                return Err(Box::new(DestinationRefused(format!(
                    "{host} resolves to a refused destination: {reason}"
                )))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A host name that resolves only to refused addresses.
#[derive(Debug, thiserror::Error)]
#[error("destination refused: {0}")]
pub struct DestinationRefused(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(url: &str, source: EndpointSource) -> Option<Refusal> {
        let url = Url::parse(url).expect("url");
        check_url(&NetworkPolicy::default(), &url, source, true).err()
    }

    #[test]
    fn loopback_in_every_spelling_is_refused_for_project_webhooks() {
        for url in [
            "http://127.0.0.1:8080/x",
            "http://127.1:8080/x",
            "http://2130706433/x",
            "http://0x7f.1/x",
            "http://0177.0.0.1/x",
            "http://0.0.0.0/x",
            "http://[::1]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://[::]/x",
        ] {
            assert!(
                refused(url, EndpointSource::ProjectWebhook).is_some(),
                "{url} must be refused"
            );
        }
    }

    #[test]
    fn private_metadata_and_special_ranges_are_refused() {
        for url in [
            "https://169.254.169.254/latest/meta-data",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://224.0.0.1/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[ff02::1]/",
            "https://[64:ff9b::a00:1]/",
        ] {
            assert!(
                refused(url, EndpointSource::ProjectWebhook).is_some(),
                "{url} must be refused"
            );
        }
        assert_eq!(
            refused("https://93.184.216.34/", EndpointSource::ProjectWebhook),
            None
        );
        assert_eq!(
            refused("https://[2606:4700::1]/", EndpointSource::ProjectWebhook),
            None
        );
        assert_eq!(
            refused("https://hooks.slack.com/x", EndpointSource::ProjectWebhook),
            None
        );
    }

    #[test]
    fn config_endpoints_may_name_loopback_explicitly_but_nothing_else_private() {
        assert_eq!(
            refused("http://127.0.0.1:9000/", EndpointSource::Config),
            None
        );
        assert_eq!(refused("http://[::1]:9000/", EndpointSource::Config), None);
        assert!(refused("https://10.0.0.1/", EndpointSource::Config).is_some());
    }

    #[test]
    fn plain_http_needs_the_opt_in() {
        let url = Url::parse("http://hooks.example.com/x").expect("url");
        let policy = NetworkPolicy::default();
        assert_eq!(
            check_url(&policy, &url, EndpointSource::ProjectWebhook, false),
            Err(Refusal::InsecureHttp)
        );
        assert_eq!(
            check_url(&policy, &url, EndpointSource::ProjectWebhook, true),
            Ok(())
        );
        let ftp = Url::parse("ftp://x.example/").expect("url");
        assert!(matches!(
            check_url(&policy, &ftp, EndpointSource::Config, true),
            Err(Refusal::Scheme(_))
        ));
    }

    #[test]
    fn an_allowed_range_opens_exactly_that_range() {
        let policy = NetworkPolicy::new(vec!["10.1.0.0/16".parse().expect("cidr")]);
        assert_eq!(
            policy.check_address("10.1.2.3".parse().expect("ip")),
            Ok(())
        );
        assert!(policy
            .check_address("10.2.0.1".parse().expect("ip"))
            .is_err());
        assert!(policy
            .check_address("127.0.0.1".parse().expect("ip"))
            .is_err());
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().expect("ip");
        assert_eq!(policy.check_address(mapped), Ok(()));
    }
}
