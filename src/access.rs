//! Where a user may connect from: `users[].allowed_hosts`, as addresses or
//! CIDR blocks. IPv4 clients reaching an IPv6 listener (`::ffff:a.b.c.d`) match
//! IPv4 patterns.

use std::net::IpAddr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    network: IpAddr,
    prefix: u8,
}

impl HostPattern {
    /// `10.0.0.0/8`, `127.0.0.1`, `::1`, `fd00::/8`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let network: IpAddr =
            addr.trim().parse().map_err(|_| format!("{text:?} is not an IP address or CIDR block"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.trim().parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("{text:?}: the prefix length must be 0 to {max}")),
            },
        };
        if mask(network, prefix) != network {
            return Err(format!("{text:?}: host bits are set below the /{prefix} prefix"));
        }
        Ok(Self { network, prefix })
    }

    pub fn matches(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.network.is_ipv4() && mask(ip, self.prefix) == self.network
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// Whether `ip` may connect under `patterns` (none: from anywhere).
pub fn allowed(patterns: &[HostPattern], ip: IpAddr) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| p.matches(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn addresses_and_blocks() {
        let one = HostPattern::parse("127.0.0.1").expect("parses");
        assert!(one.matches(ip("127.0.0.1")));
        assert!(!one.matches(ip("127.0.0.2")));
        let ten = HostPattern::parse("10.0.0.0/8").expect("parses");
        assert!(ten.matches(ip("10.200.3.4")));
        assert!(!ten.matches(ip("11.0.0.1")));
        assert!(ten.matches(ip("::ffff:10.1.2.3")), "IPv4-mapped clients match IPv4 blocks");
        let v6 = HostPattern::parse("fd00::/8").expect("parses");
        assert!(v6.matches(ip("fd12::1")));
        assert!(!v6.matches(ip("10.0.0.1")));
        let any = HostPattern::parse("0.0.0.0/0").expect("parses");
        assert!(any.matches(ip("192.168.1.1")));
        assert!(allowed(&[], ip("1.2.3.4")));
        assert!(!allowed(&[one], ip("1.2.3.4")));
    }

    #[test]
    fn bad_patterns_say_why() {
        for bad in ["", "localhost", "10.0.0.0/33", "10.0.0.1/8", "::1/129", "1.2.3.4/x"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
