//! The protection of callbacks from providers that do not sign them (Aliyun, Tencent): a secret
//! `?token=` in the callback URL, compared in constant time, and an optional allow-list of source
//! addresses. Without a token configured, such a channel takes no callbacks at all.

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::channel::ChannelSpec;
use crate::inbound::{HookError, HookRequest};

/// An address or CIDR block callbacks may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// `1.2.3.4`, `10.0.0.0/8`, `::1`, `2001:db8::/32`.
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (raw, None),
        };
        let addr: IpAddr =
            addr.parse().map_err(|_| format!("allow_from entry {raw:?} is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("allow_from entry {raw:?} has a prefix length outside 0..={max}")),
            },
        };
        Ok(IpNet { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; compare them as IPv4.
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The protection of an unsigned provider's callbacks: a secret `?token=` and an optional list of
/// source addresses.
pub(crate) struct HookGuard {
    pub(crate) path_token: Option<SecretString>,
    pub(crate) allow_from: Vec<IpNet>,
}

impl HookGuard {
    pub(crate) fn from_spec(spec: &ChannelSpec) -> Result<Self, String> {
        let token = spec.path_token.as_ref().filter(|t| !t.expose_secret().is_empty()).cloned();
        let allow_from = spec
            .allow_from
            .iter()
            .filter(|e| !e.trim().is_empty())
            .map(|e| IpNet::parse(e))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(HookGuard { path_token: token, allow_from })
    }

    pub(crate) fn check(&self, req: &HookRequest<'_>) -> Result<(), HookError> {
        let Some(expected) = &self.path_token else {
            // Accepting unsigned pushes with no token would let anyone on the internet answer
            // calls in a person's name.
            return Err(HookError::Unauthorized("no path_token is configured, so callbacks are refused".into()));
        };
        let given = url::form_urlencoded::parse(req.query.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v);
        let Some(given) = given else {
            return Err(HookError::Unauthorized("the callback URL carries no token".into()));
        };
        // Compare digests, so that neither the content nor the length of the token leaks
        // through timing.
        let same: bool =
            Sha256::digest(given.as_bytes()).ct_eq(&Sha256::digest(expected.expose_secret().as_bytes())).into();
        if !same {
            return Err(HookError::Unauthorized("the callback URL carries a wrong token".into()));
        }
        if !self.allow_from.is_empty() {
            match req.remote {
                Some(ip) if self.allow_from.iter().any(|n| n.contains(ip)) => {}
                Some(ip) => return Err(HookError::Unauthorized(format!("callbacks from {ip} are not allowed"))),
                None => return Err(HookError::Unauthorized("the callback's source address is unknown".into())),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_entries_match_addresses_and_blocks() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.1".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let odd = IpNet::parse("192.168.1.128/25").unwrap();
        assert!(odd.contains("192.168.1.200".parse().unwrap()));
        assert!(!odd.contains("192.168.1.100".parse().unwrap()));
        let one = IpNet::parse("203.0.113.7").unwrap();
        assert!(one.contains("203.0.113.7".parse().unwrap()));
        assert!(!one.contains("203.0.113.8".parse().unwrap()));
        assert!(IpNet::parse("2001:db8::/32").unwrap().contains("2001:db8:1::5".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0/8", "host.example", "10.0.0.0/x", "/8"] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
    }
}
