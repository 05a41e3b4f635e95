//! Address ranges a token may be used from: CIDR blocks, IPv4 or IPv6 (`10.0.0.0/8`,
//! `2001:db8::/32`; a bare address is a block of one).

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    len: u8,
}

impl Cidr {
    /// Parses a block, refusing (and naming) a malformed one, and one with bits set past its
    /// prefix length (`10.0.0.1/8` is almost always a typo for `10.0.0.0/8`).
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let t = s.trim();
        let bad = || format!("{s:?} is not a CIDR block (e.g. 203.0.113.0/24 or 2001:db8::/32)");
        let (addr, len) = match t.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (t, None),
        };
        let net: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let len = match len {
            Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
                l.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => max,
        };
        if len > max {
            return Err(format!("{s:?}: the prefix length is over {max}"));
        }
        let c = Cidr { net, len };
        if c.masked(net) != bits(net) {
            return Err(format!(
                "{s:?} has bits set past /{len}; did you mean {}?",
                Cidr::from_bits(net, c.masked(net), len)
            ));
        }
        Ok(c)
    }

    fn masked(&self, ip: IpAddr) -> u128 {
        let (width, v) = match ip {
            IpAddr::V4(_) => (32, bits(ip)),
            IpAddr::V6(_) => (128, bits(ip)),
        };
        if self.len == 0 {
            return 0;
        }
        let keep = u32::from(self.len);
        let mask: u128 = if keep >= 128 {
            u128::MAX
        } else {
            !(u128::MAX >> keep) >> (128 - width)
        };
        v & mask
    }

    fn from_bits(like: IpAddr, v: u128, len: u8) -> String {
        match like {
            IpAddr::V4(_) => format!("{}/{len}", std::net::Ipv4Addr::from(v as u32)),
            IpAddr::V6(_) => format!("{}/{len}", std::net::Ipv6Addr::from(v)),
        }
    }

    /// Whether an address is in the block. An IPv4 address seen as IPv6 (`::ffff:a.b.c.d`,
    /// how a dual-stack socket reports it) counts as the IPv4 address.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        ip.is_ipv4() == self.net.is_ipv4() && self.masked(ip) == bits(self.net)
    }
}

fn bits(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.len)
    }
}

/// Parses a stored or given list; empty means "from anywhere".
pub fn parse_list(items: &[String]) -> Result<Vec<Cidr>, String> {
    items.iter().map(|s| Cidr::parse(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_contain_what_they_should() {
        let v4 = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(v4.contains(ip("10.1.200.3")));
        assert!(!v4.contains(ip("10.2.0.1")));
        assert!(v4.contains(ip("::ffff:10.1.0.9")));
        assert!(!v4.contains(ip("::1")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.1.0.1")));
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert_eq!(Cidr::parse("::1/128").unwrap().to_string(), "::1/128");
    }

    #[test]
    fn malformed_blocks_are_refused_naming_them() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0/8",
            "nope",
            "10.0.0.0/",
            "::1/129",
            "1.2.3.4/-1",
        ] {
            let e = Cidr::parse(bad).unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
        let e = Cidr::parse("10.0.0.1/8").unwrap_err();
        assert!(e.contains("10.0.0.0/8"), "{e}");
    }
}
