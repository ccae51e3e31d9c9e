//! Webhook targets checked against server-side request forgery: an `https` URL without credentials, whose host
//! name — once resolved — has only addresses outside every special-purpose range, unless the operator's allow-list
//! names them.
//!
//! Resolve, then check every address, then connect to exactly those addresses (never resolve again: a name that
//! answers differently the second time is how DNS rebinding gets past a check). Resolution is the caller's IO; this
//! module only decides. IPv4 addresses embedded in IPv6 ones (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::/96`,
//! 6to4 `2002::/16`) are judged as the IPv4 address they reach. Numeric host spellings (`0x7f.1`, `2130706433`)
//! are normalised by the URL parser (WHATWG rules) before they are judged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2_048;

/// What the operator allows beyond public `https` targets (configuration, not per organisation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    /// Allow `http://` targets (a test rig or an internal receiver behind a trusted network).
    pub allow_http: bool,
    /// Address ranges allowed even though they are special-purpose (e.g. an internal receiver's `10.1.0.0/16`).
    pub allowed: Vec<IpPrefix>,
}

/// An address range: an address and a prefix length (`10.1.0.0/16`, `fd12::/16`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPrefix {
    network: IpAddr,
    len: u8,
}

/// A parsed target URL whose scheme, credentials and host form passed; its addresses are checked by
/// [`WebhookUrl::check_addresses`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl {
    url: url::Url,
    host: Host,
    port: u16,
}

/// The host of a target: a name to resolve, or an address given literally.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Name(String),
    Ip(IpAddr),
}

/// Why a target was refused; the messages never repeat the URL or the address (they may end up in a log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("the webhook URL is not a valid absolute URL of at most 2,048 characters")]
    Url,
    #[error("the webhook URL must use https")]
    Scheme,
    #[error("the webhook URL may not contain a user name or password")]
    Credentials,
    #[error("the webhook URL may not contain a fragment")]
    Fragment,
    #[error("the webhook host is a local name")]
    LocalName,
    #[error("the webhook host has no address")]
    NoAddress,
    #[error("the webhook host has an address in a refused range ({0})")]
    Refused(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an address range is an IPv4 or IPv6 address with an optional /prefix length")]
pub struct PrefixError;

impl IpPrefix {
    pub fn parse(raw: &str) -> Result<IpPrefix, PrefixError> {
        let (addr, len) = match raw.trim().split_once('/') {
            Some((addr, len)) => (addr, Some(len.parse::<u8>().map_err(|_| PrefixError)?)),
            None => (raw.trim(), None),
        };
        let network: IpAddr = addr.parse().map_err(|_| PrefixError)?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let len = len.unwrap_or(max);
        if len > max {
            return Err(PrefixError);
        }
        Ok(IpPrefix { network, len })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => in_v4(ip, network, self.len),
            (IpAddr::V6(network), IpAddr::V6(ip)) => in_v6(ip, network, self.len),
            _ => false,
        }
    }
}

impl WebhookUrl {
    /// Parses and checks everything but the addresses a name resolves to.
    pub fn parse(raw: &str, policy: &TargetPolicy) -> Result<WebhookUrl, TargetError> {
        if raw.len() > MAX_URL_LEN {
            return Err(TargetError::Url);
        }
        let url = url::Url::parse(raw.trim()).map_err(|_| TargetError::Url)?;
        match url.scheme() {
            "https" => {}
            "http" if policy.allow_http => {}
            _ => return Err(TargetError::Scheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Credentials);
        }
        if url.fragment().is_some() {
            return Err(TargetError::Fragment);
        }
        let host = match url.host() {
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") || !name.contains('.') {
                    // RFC 6761 names, and single-label names a resolver completes with a local search domain.
                    return Err(TargetError::LocalName);
                }
                Host::Name(name)
            }
            Some(url::Host::Ipv4(ip)) => Host::Ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Host::Ip(IpAddr::V6(ip)),
            None => return Err(TargetError::Url),
        };
        let port = url.port_or_known_default().filter(|port| *port != 0).ok_or(TargetError::Url)?;
        if let Host::Ip(ip) = host {
            check_address(ip, policy)?;
        }
        Ok(WebhookUrl { url, host, port })
    }

    pub fn url(&self) -> &url::Url {
        &self.url
    }

    pub fn host(&self) -> &Host {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses to connect to: every address the host resolved to must pass (one refused address refuses the
    /// target, since the caller cannot know which one a connection would use). A literal address needs no
    /// resolution; pass an empty slice.
    pub fn check_addresses(&self, resolved: &[IpAddr], policy: &TargetPolicy) -> Result<Vec<SocketAddr>, TargetError> {
        let addresses: Vec<IpAddr> = match self.host {
            Host::Ip(ip) => vec![ip],
            Host::Name(_) => resolved.to_vec(),
        };
        if addresses.is_empty() {
            return Err(TargetError::NoAddress);
        }
        for ip in &addresses {
            check_address(*ip, policy)?;
        }
        Ok(addresses.into_iter().map(|ip| SocketAddr::new(ip, self.port)).collect())
    }
}

/// Whether `ip` may be a webhook target under `policy`: allowed if the allow-list names it (or the IPv4 address it
/// embeds), else refused if it lies in a special-purpose range.
pub fn check_address(ip: IpAddr, policy: &TargetPolicy) -> Result<(), TargetError> {
    let embedded = embedded_v4(ip).map(IpAddr::V4);
    let allowed = |candidate: IpAddr| policy.allowed.iter().any(|prefix| prefix.contains(candidate));
    if allowed(ip) || embedded.is_some_and(allowed) {
        return Ok(());
    }
    match refused_range(ip) {
        Some(range) => Err(TargetError::Refused(range)),
        None => Ok(()),
    }
}

/// The special-purpose range `ip` lies in, by name; `None` for an ordinary public address.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => match embedded_v4(IpAddr::V6(ip)) {
            Some(v4) => refused_v4(v4),
            None => refused_v6(ip),
        },
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-mapped, NAT64 well-known prefix, or 6to4.
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(ip) = ip else { return None };
    let s = ip.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

const V4_RANGES: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "this network, unspecified"),
    ([10, 0, 0, 0], 8, "private, RFC 1918"),
    ([100, 64, 0, 0], 10, "shared address space, CGNAT"),
    ([127, 0, 0, 0], 8, "loopback"),
    ([169, 254, 0, 0], 16, "link-local"),
    ([172, 16, 0, 0], 12, "private, RFC 1918"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments"),
    ([192, 0, 2, 0], 24, "documentation"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast"),
    ([192, 168, 0, 0], 16, "private, RFC 1918"),
    ([198, 18, 0, 0], 15, "benchmarking"),
    ([198, 51, 100, 0], 24, "documentation"),
    ([203, 0, 113, 0], 24, "documentation"),
    ([224, 0, 0, 0], 4, "multicast"),
    ([240, 0, 0, 0], 4, "reserved, broadcast"),
];

const V6_RANGES: &[([u16; 8], u8, &str)] = &[
    ([0, 0, 0, 0, 0, 0, 0, 0], 128, "unspecified"),
    ([0, 0, 0, 0, 0, 0, 0, 1], 128, "loopback"),
    ([0, 0, 0, 0, 0, 0, 0, 0], 96, "IPv4-compatible, deprecated"),
    ([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48, "local-use NAT64"),
    ([0x100, 0, 0, 0, 0, 0, 0, 0], 64, "discard-only"),
    ([0x2001, 0, 0, 0, 0, 0, 0, 0], 32, "Teredo tunnelling"),
    ([0x2001, 2, 0, 0, 0, 0, 0, 0], 48, "benchmarking"),
    ([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32, "documentation"),
    ([0x3fff, 0, 0, 0, 0, 0, 0, 0], 20, "documentation"),
    ([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7, "unique local, ULA"),
    ([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10, "link-local"),
    ([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10, "site-local, deprecated"),
    ([0xff00, 0, 0, 0, 0, 0, 0, 0], 8, "multicast"),
];

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4_RANGES.iter().find(|(network, len, _)| in_v4(ip, Ipv4Addr::from(*network), *len)).map(|(_, _, name)| *name)
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    V6_RANGES.iter().find(|(network, len, _)| in_v6(ip, Ipv6Addr::from(*network), *len)).map(|(_, _, name)| *name)
}

fn in_v4(ip: Ipv4Addr, network: Ipv4Addr, len: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(len.min(32))).unwrap_or(0);
    u32::from(ip) & mask == u32::from(network) & mask
}

fn in_v6(ip: Ipv6Addr, network: Ipv6Addr, len: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(len.min(128))).unwrap_or(0);
    u128::from(ip) & mask == u128::from(network) & mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn every_special_purpose_address_is_refused_and_public_ones_pass() {
        let cases = [
            ("0.0.0.0", Some("this network, unspecified")),
            ("10.0.0.1", Some("private, RFC 1918")),
            ("100.64.0.1", Some("shared address space, CGNAT")),
            ("100.127.255.255", Some("shared address space, CGNAT")),
            ("100.128.0.1", None),
            ("127.0.0.1", Some("loopback")),
            ("127.255.255.254", Some("loopback")),
            ("169.254.169.254", Some("link-local")),
            ("172.15.255.255", None),
            ("172.16.0.1", Some("private, RFC 1918")),
            ("172.31.255.255", Some("private, RFC 1918")),
            ("172.32.0.0", None),
            ("192.0.0.8", Some("IETF protocol assignments")),
            ("192.0.2.10", Some("documentation")),
            ("192.88.99.1", Some("6to4 relay anycast")),
            ("192.168.1.1", Some("private, RFC 1918")),
            ("198.18.0.1", Some("benchmarking")),
            ("198.51.100.7", Some("documentation")),
            ("203.0.113.9", Some("documentation")),
            ("224.0.0.251", Some("multicast")),
            ("239.255.255.250", Some("multicast")),
            ("255.255.255.255", Some("reserved, broadcast")),
            ("1.1.1.1", None),
            ("8.8.8.8", None),
            ("::", Some("unspecified")),
            ("::1", Some("loopback")),
            ("::127.0.0.1", Some("IPv4-compatible, deprecated")),
            ("::ffff:127.0.0.1", Some("loopback")),
            ("::ffff:10.1.2.3", Some("private, RFC 1918")),
            ("::ffff:169.254.169.254", Some("link-local")),
            ("::ffff:1.1.1.1", None),
            ("64:ff9b::7f00:1", Some("loopback")),
            ("64:ff9b::808:808", None),
            ("64:ff9b:1::1", Some("local-use NAT64")),
            ("2002:c0a8:0101::1", Some("private, RFC 1918")),
            ("2002:0808:0808::1", None),
            ("100::1", Some("discard-only")),
            ("2001::1", Some("Teredo tunnelling")),
            ("2001:2::1", Some("benchmarking")),
            ("2001:db8::1", Some("documentation")),
            ("3fff::1", Some("documentation")),
            ("fc00::1", Some("unique local, ULA")),
            ("fd12:3456::1", Some("unique local, ULA")),
            ("fe80::1", Some("link-local")),
            ("fec0::1", Some("site-local, deprecated")),
            ("ff02::1", Some("multicast")),
            ("2606:4700:4700::1111", None),
            ("2a00:1450:4001::200e", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(refused_range(ip(raw)), expected, "{raw}");
            let verdict = check_address(ip(raw), &TargetPolicy::default());
            assert_eq!(verdict.is_ok(), expected.is_none(), "{raw}");
        }
    }

    #[test]
    fn urls_are_https_without_credentials_and_literal_hosts_are_judged_after_normalising() {
        let policy = TargetPolicy::default();
        let cases: &[(&str, Result<(), TargetError>)] = &[
            ("https://hooks.example.com/logvault", Ok(())),
            ("https://hooks.example.com:8443/x?y=1", Ok(())),
            ("https://1.1.1.1/hook", Ok(())),
            ("http://hooks.example.com/", Err(TargetError::Scheme)),
            ("ftp://hooks.example.com/", Err(TargetError::Scheme)),
            ("file:///etc/passwd", Err(TargetError::Scheme)),
            ("https://user:secret@hooks.example.com/", Err(TargetError::Credentials)),
            ("https://user@hooks.example.com/", Err(TargetError::Credentials)),
            ("https://hooks.example.com/#frag", Err(TargetError::Fragment)),
            ("https://localhost/", Err(TargetError::LocalName)),
            ("https://LOCALHOST./", Err(TargetError::LocalName)),
            ("https://api.localhost/", Err(TargetError::LocalName)),
            ("https://intranet/", Err(TargetError::LocalName)),
            ("https://127.0.0.1/", Err(TargetError::Refused("loopback"))),
            ("https://127.1/", Err(TargetError::Refused("loopback"))),
            ("https://0x7f.0.0.1/", Err(TargetError::Refused("loopback"))),
            ("https://2130706433/", Err(TargetError::Refused("loopback"))),
            ("https://017700000001/", Err(TargetError::Refused("loopback"))),
            ("https://[::1]/", Err(TargetError::Refused("loopback"))),
            ("https://[::ffff:127.0.0.1]/", Err(TargetError::Refused("loopback"))),
            ("https://[fe80::1%25eth0]/", Err(TargetError::Url)),
            ("https://169.254.169.254/latest/meta-data/", Err(TargetError::Refused("link-local"))),
            ("https://0.0.0.0/", Err(TargetError::Refused("this network, unspecified"))),
            ("https://hooks.example.com:0/", Err(TargetError::Url)),
            ("not a url", Err(TargetError::Url)),
            // WHATWG skips the extra slashes: the host is `path-only`, a single label.
            ("https:///path-only", Err(TargetError::LocalName)),
        ];
        for (raw, expected) in cases {
            assert_eq!(WebhookUrl::parse(raw, &policy).map(|_| ()), *expected, "{raw}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(WebhookUrl::parse(&long, &policy), Err(TargetError::Url));
        let http = TargetPolicy { allow_http: true, ..TargetPolicy::default() };
        assert_eq!(WebhookUrl::parse("http://hooks.example.com/", &http).map(|u| u.port()), Ok(80));
    }

    #[test]
    fn every_resolved_address_must_pass_unless_the_operator_allows_its_range() {
        let policy = TargetPolicy::default();
        let target = WebhookUrl::parse("https://hooks.example.com/x", &policy).unwrap();
        assert_eq!(target.host(), &Host::Name("hooks.example.com".to_owned()));
        let public = [ip("1.1.1.1"), ip("2606:4700:4700::1111")];
        let addrs = target.check_addresses(&public, &policy).unwrap();
        assert_eq!(addrs, vec![SocketAddr::new(public[0], 443), SocketAddr::new(public[1], 443)]);
        // One private answer among public ones refuses the target (DNS can hand out either).
        let mixed = [ip("1.1.1.1"), ip("10.0.0.5")];
        assert_eq!(target.check_addresses(&mixed, &policy), Err(TargetError::Refused("private, RFC 1918")));
        assert_eq!(target.check_addresses(&[], &policy), Err(TargetError::NoAddress));
        // The operator allows an internal receiver's range, and only that range (also in its IPv4-mapped form).
        let internal = TargetPolicy { allow_http: false, allowed: vec![IpPrefix::parse("10.1.0.0/16").unwrap()] };
        assert!(target.check_addresses(&[ip("10.1.2.3"), ip("::ffff:10.1.9.9")], &internal).is_ok());
        assert_eq!(
            target.check_addresses(&[ip("10.2.0.1")], &internal),
            Err(TargetError::Refused("private, RFC 1918"))
        );
        assert!(WebhookUrl::parse("https://10.1.0.7/", &internal).is_ok());
        let loopback = TargetPolicy { allow_http: true, allowed: vec![IpPrefix::parse("127.0.0.1").unwrap()] };
        let literal = WebhookUrl::parse("http://127.0.0.1:9000/hook", &loopback).unwrap();
        assert_eq!(literal.check_addresses(&[], &loopback), Ok(vec![SocketAddr::new(ip("127.0.0.1"), 9000)]));
        assert_eq!(literal.check_addresses(&[], &policy), Err(TargetError::Refused("loopback")));
    }

    #[test]
    fn address_ranges_parse_with_or_without_a_prefix_length() {
        assert!(IpPrefix::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!IpPrefix::parse("fd00::/8").unwrap().contains(ip("10.0.0.1")));
        assert!(IpPrefix::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpPrefix::parse("192.168.1.7").unwrap().contains(ip("192.168.1.7")));
        assert!(!IpPrefix::parse("192.168.1.7").unwrap().contains(ip("192.168.1.8")));
        for raw in ["10.0.0.0/33", "::/129", "10.0.0.0/", "example.com/8", ""] {
            assert_eq!(IpPrefix::parse(raw), Err(PrefixError), "{raw}");
        }
    }
}
