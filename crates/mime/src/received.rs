//! The Received chain: hops in order, and the first hop that came from outside.

use std::net::IpAddr;

use mail_parser::{Host, Received};

use crate::ReceivedHop;

pub(crate) fn hop(raw: String, r: &Received<'_>) -> ReceivedHop {
    let host_name = |h: &Option<Host<'_>>| match h {
        Some(Host::Name(n)) => Some(n.to_string()),
        Some(Host::IpAddr(ip)) => Some(ip.to_string()),
        None => None,
    };
    let from_ip = r.from_ip.or(match &r.from {
        Some(Host::IpAddr(ip)) => Some(*ip),
        _ => None,
    });
    ReceivedHop {
        raw,
        from_host: host_name(&r.from).or_else(|| r.from_iprev.as_ref().map(|s| s.to_string())),
        from_ip,
        helo: host_name(&r.helo),
        by_host: host_name(&r.by),
        protocol: r.with.map(|p| p.to_string()),
        tls: r.tls_version.is_some(),
        date: r.date.filter(|d| d.is_valid()).map(|d| d.to_timestamp()),
    }
}

/// Addresses that never belong to an outside client: private, loopback, link-local, CGNAT, ULA.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || (o[0] == 100 && (64..128).contains(&o[1]))
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(IpAddr::V4(v4)))
        }
    }
}

/// The first hop (from the top, i.e. from our side) whose sending IP is neither internal nor
/// one of our trusted networks: where the message entered.
pub(crate) fn first_external(hops: &[ReceivedHop], trusted: &[ipnet::IpNet]) -> Option<usize> {
    hops.iter().position(|h| {
        h.from_ip
            .is_some_and(|ip| !is_internal(ip) && !trusted.iter().any(|n| n.contains(&ip)))
    })
}
