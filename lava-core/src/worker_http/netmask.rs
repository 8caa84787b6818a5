//! The networks auto-registration is allowed from (LAVA's `WORKER_AUTO_REGISTER_NETMASK`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// LAVA's default: loopback only.
pub const DEFAULT_AUTO_REGISTER_NETMASKS: &[&str] = &["127.0.0.0/8", "::1/128"];

/// An address and a prefix length: `10.0.0.0/8`, `::1` (a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Netmask {
    addr: IpAddr,
    prefix: u8,
}

/// Why a netmask cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid netmask {text:?}: {reason} (expected ADDRESS[/PREFIX], e.g. 10.0.0.0/8 or ::1)")]
pub struct NetmaskError {
    text: String,
    reason: &'static str,
}

impl FromStr for Netmask {
    type Err = NetmaskError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| NetmaskError {
            text: text.to_owned(),
            reason,
        };
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| err("not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .map_err(|_| err("the prefix is not a number"))?,
        };
        if prefix > max {
            return Err(err("the prefix is longer than the address"));
        }
        Ok(Netmask { addr, prefix })
    }
}

impl fmt::Display for Netmask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Netmask {
    /// Whether `ip` is inside (an IPv4 address mapped into IPv6 counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }

    /// LAVA's default list ([`DEFAULT_AUTO_REGISTER_NETMASKS`]).
    pub fn loopback() -> Vec<Netmask> {
        DEFAULT_AUTO_REGISTER_NETMASKS
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect()
    }
}

fn prefix_eq(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let full = usize::from(prefix / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = prefix % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_by_default() {
        let nets = Netmask::loopback();
        let inside = |ip: &str| nets.iter().any(|n| n.contains(ip.parse().unwrap()));
        assert!(inside("127.0.0.1"));
        assert!(inside("127.255.0.9"));
        assert!(inside("::1"));
        assert!(inside("::ffff:127.0.0.1"));
        assert!(!inside("10.0.0.1"));
        assert!(!inside("::2"));
    }

    #[test]
    fn prefixes_in_the_middle_of_a_byte() {
        let net: Netmask = "10.1.16.0/20".parse().unwrap();
        assert!(net.contains("10.1.31.255".parse().unwrap()));
        assert!(!net.contains("10.1.32.0".parse().unwrap()));
        assert_eq!(net.to_string(), "10.1.16.0/20");
        let all: Netmask = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn bad_netmasks_are_named() {
        for bad in ["10.0.0.0/33", "host/8", "10.0.0.0/x", "::1/129"] {
            let e = bad.parse::<Netmask>().unwrap_err().to_string();
            assert!(e.contains(bad), "{e}");
        }
    }
}
