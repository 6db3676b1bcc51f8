//! Connections per client address, as Postfix's anvil counts them: one host may hold at most
//! `max_connections_per_ip` of the gateway's connections, so a few slow clients cannot keep out
//! everyone else's mail.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Open connections by client address.
#[derive(Clone)]
pub(crate) struct PerClient {
    limit: usize,
    exceptions: Arc<Vec<ipnet::IpNet>>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One counted connection; dropping it frees its place.
pub(crate) struct Counted {
    ip: Option<IpAddr>,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl PerClient {
    pub fn new(limit: usize, exceptions: Vec<ipnet::IpNet>) -> PerClient {
        PerClient {
            limit,
            exceptions: Arc::new(exceptions),
            open: Arc::default(),
        }
    }

    /// A place for one more connection from `ip`, or None when it has its share already.
    pub fn open(&self, ip: IpAddr) -> Option<Counted> {
        let ip = canonical(ip);
        if self.limit == 0 || self.exceptions.iter().any(|n| n.contains(&ip)) {
            return Some(Counted {
                ip: None,
                open: self.open.clone(),
            });
        }
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Counted {
            ip: Some(ip),
            open: self.open.clone(),
        })
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// An IPv4 client seen through an IPv4-mapped IPv6 address is the same client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_a_closed_connection_frees_its_place() {
        let limit = PerClient::new(2, Vec::new());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = limit.open(a).unwrap();
        let _second = limit.open(a).unwrap();
        assert!(limit.open(a).is_none());
        assert!(
            limit.open("::ffff:192.0.2.1".parse().unwrap()).is_none(),
            "the mapped form is the same client"
        );
        assert!(limit.open(b).is_some(), "other clients are not affected");
        drop(first);
        assert!(limit.open(a).is_some());
    }

    #[test]
    fn exceptions_and_zero_are_unlimited() {
        let limit = PerClient::new(1, vec!["192.0.2.0/24".parse().unwrap()]);
        let ip: IpAddr = "192.0.2.9".parse().unwrap();
        let kept: Vec<_> = (0..5).map(|_| limit.open(ip).unwrap()).collect();
        assert_eq!(kept.len(), 5);
        let unlimited = PerClient::new(0, Vec::new());
        assert!((0..5).all(|_| unlimited.open(ip).is_some()));
    }
}
