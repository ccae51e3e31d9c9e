//! Redaction helpers for technical logs: what may be written about a client without writing who it is.

use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// A log-safe stand-in for a client address: the network prefix (/24 for IPv4, /48 for IPv6) followed by a short
/// keyed hash of the full address, so that one client's requests can be correlated without storing the address.
///
/// `salt` should be a per-instance secret (derived from the master key) so the hash cannot be reversed by
/// enumerating the IPv4 space.
pub fn client_ip(addr: IpAddr, salt: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(salt);
    match addr {
        IpAddr::V4(v4) => hasher.update(v4.octets()),
        IpAddr::V6(v6) => hasher.update(v6.octets()),
    }
    let digest = hasher.finalize();
    let tag = hex::encode(&digest[..4]);
    match addr {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24#{tag}")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48#{tag}", s[0], s[1], s[2])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_address_never_appears_but_the_same_client_maps_to_the_same_tag() {
        let addr: IpAddr = "203.0.113.77".parse().unwrap();
        let shown = client_ip(addr, b"salt");
        assert!(!shown.contains("203.0.113.77"));
        assert!(shown.starts_with("203.0.113.0/24#"));
        assert_eq!(shown, client_ip(addr, b"salt"));
        assert_ne!(shown, client_ip("203.0.113.78".parse().unwrap(), b"salt"));
        let v6 = client_ip("2001:db8:1:2::99".parse().unwrap(), b"salt");
        assert!(v6.starts_with("2001:db8:1::/48#"));
        assert!(!v6.contains("::99"));
    }
}
