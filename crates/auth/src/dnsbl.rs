//! DNS blocklists: which names to ask for a message, and what each answer means.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr};

use mailmoat_core::SymbolDef;

use crate::config::{DnsblCode, DnsblTarget, DnsblZone};

/// A zone with its answers parsed once.
#[derive(Debug, Clone)]
pub struct Zone {
    pub zone: String,
    pub check: DnsblTarget,
    codes: HashMap<Ipv4Addr, DnsblCode>,
    default: Option<DnsblCode>,
    errors: HashSet<Ipv4Addr>,
}

/// One name to look up: which zone, about what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub zone: usize,
    /// The IP address or domain asked about (for the report).
    pub subject: String,
    pub name: String,
}

/// What one answer means.
#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    Listed {
        symbol: String,
        code: Ipv4Addr,
        description: String,
    },
    /// The zone refused this resolver (public resolver, quota, bad key) or the answer is not a
    /// blocklist answer at all (a resolver rewriting NXDOMAIN): a configuration problem.
    Refused { code: Ipv4Addr, why: &'static str },
    /// A 127.0.0.0/8 code this zone's configuration does not describe.
    Unknown { code: Ipv4Addr },
}

/// Zone names are checked at load; bad ones are reported with the entry number.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DnsblError {
    #[error("[[auth.dnsbl]] entry {index} ({zone}): {why}")]
    Zone {
        index: usize,
        zone: String,
        why: String,
    },
}

impl Zone {
    pub fn compile(index: usize, config: &DnsblZone) -> Result<Zone, DnsblError> {
        let bad = |why: String| DnsblError::Zone {
            index,
            zone: config.zone.clone(),
            why,
        };
        let zone = config
            .zone
            .trim()
            .trim_end_matches('.')
            .to_ascii_lowercase();
        if zone.is_empty() || !zone.contains('.') {
            return Err(bad("zone must be a domain name".into()));
        }
        let parse = |s: &str| -> Result<Ipv4Addr, DnsblError> {
            s.parse()
                .map_err(|_| bad(format!("{s:?} is not an IPv4 return code")))
        };
        let mut codes = HashMap::new();
        for (code, meaning) in &config.codes {
            check_symbol(&meaning.symbol).map_err(&bad)?;
            codes.insert(parse(code)?, meaning.clone());
        }
        if let Some(d) = &config.default {
            check_symbol(&d.symbol).map_err(&bad)?;
        }
        if codes.is_empty() && config.default.is_none() {
            return Err(bad("give `codes` or `default`: what a listing means".into()));
        }
        let errors = config
            .error_codes
            .iter()
            .map(|c| parse(c))
            .collect::<Result<_, _>>()?;
        Ok(Zone {
            zone,
            check: config.check,
            codes,
            default: config.default.clone(),
            errors,
        })
    }

    /// The name asked for `subject` in this zone.
    pub fn query_name(&self, subject: &str) -> Option<String> {
        match self.check {
            DnsblTarget::ClientIp => {
                let ip: IpAddr = subject.parse().ok()?;
                Some(format!("{}.{}", reversed(ip), self.zone))
            }
            _ => Some(format!("{}.{}", subject.trim_end_matches('.'), self.zone)),
        }
    }

    /// What the A records of one answer mean (none: not listed).
    pub fn interpret(&self, answers: &[Ipv4Addr]) -> Vec<Meaning> {
        let mut out = Vec::new();
        for &code in answers {
            if self.errors.contains(&code) {
                out.push(Meaning::Refused {
                    code,
                    why: "the list refused this resolver (public or shared resolver, quota, or access key)",
                });
            } else if code.octets()[0] != 127 {
                out.push(Meaning::Refused {
                    code,
                    why: "not a blocklist answer: the resolver rewrites unknown names",
                });
            } else if let Some(m) = self.codes.get(&code).or(self.default.as_ref()) {
                out.push(Meaning::Listed {
                    symbol: m.symbol.clone(),
                    code,
                    description: m.description.clone(),
                });
            } else {
                out.push(Meaning::Unknown { code });
            }
        }
        out
    }

    fn meanings(&self) -> impl Iterator<Item = &DnsblCode> {
        self.codes.values().chain(self.default.iter())
    }
}

fn check_symbol(name: &str) -> Result<(), String> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(format!("symbol {name:?} must be UPPER_SNAKE_CASE"));
    }
    Ok(())
}

/// Reversed octets (IPv4) or nibbles (IPv6), as DNSBLs expect.
pub fn reversed(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut parts = Vec::with_capacity(32);
            for byte in v6.octets().iter().rev() {
                parts.push(format!("{:x}", byte & 0xf));
                parts.push(format!("{:x}", byte >> 4));
            }
            parts.join(".")
        }
    }
}

/// The symbols the configured zones raise (one per distinct name; the same name given two
/// different scores is an error).
pub fn symbols(zones: &[Zone]) -> Result<Vec<SymbolDef>, DnsblError> {
    let mut out: Vec<SymbolDef> = Vec::new();
    for (index, zone) in zones.iter().enumerate() {
        for m in zone.meanings() {
            if let Some(existing) = out.iter().find(|d| d.name == m.symbol) {
                if existing.score != m.score {
                    return Err(DnsblError::Zone {
                        index,
                        zone: zone.zone.clone(),
                        why: format!("symbol {} is given two different scores", m.symbol),
                    });
                }
                continue;
            }
            let description = if m.description.is_empty() {
                format!("Listed in the DNS blocklist {}.", zone.zone)
            } else {
                m.description.clone()
            };
            out.push(SymbolDef {
                name: m.symbol.clone().into(),
                group: "dnsbl".into(),
                category: mailmoat_core::Category::Spam,
                description: description.into(),
                score: m.score,
                force: None,
                floor: None,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn zen() -> Zone {
        let mut codes = BTreeMap::new();
        codes.insert(
            "127.0.0.2".to_string(),
            DnsblCode {
                symbol: "RBL_SBL".into(),
                score: 4.0,
                description: "Spamhaus SBL".into(),
            },
        );
        Zone::compile(
            0,
            &DnsblZone {
                zone: "zen.example.".into(),
                check: DnsblTarget::ClientIp,
                codes,
                default: None,
                error_codes: crate::config::default_error_codes(),
            },
        )
        .unwrap()
    }

    #[test]
    fn names_are_reversed() {
        let z = zen();
        assert_eq!(
            z.query_name("192.0.2.99").unwrap(),
            "99.2.0.192.zen.example"
        );
        let v6 = z.query_name("2001:db8::1").unwrap();
        assert!(v6.starts_with("1.0.0.0.0.0.0.0"), "{v6}");
        assert!(v6.ends_with("8.b.d.0.1.0.0.2.zen.example"), "{v6}");
    }

    #[test]
    fn answers_mean_listing_refusal_or_unknown() {
        let z = zen();
        assert!(matches!(
            z.interpret(&["127.0.0.2".parse().unwrap()])[0],
            Meaning::Listed { .. }
        ));
        assert!(matches!(
            z.interpret(&["127.255.255.254".parse().unwrap()])[0],
            Meaning::Refused { .. }
        ));
        assert!(matches!(
            z.interpret(&["198.51.100.7".parse().unwrap()])[0],
            Meaning::Refused { .. }
        ));
        assert!(matches!(
            z.interpret(&["127.0.0.9".parse().unwrap()])[0],
            Meaning::Unknown { .. }
        ));
        assert!(z.interpret(&[]).is_empty());
    }

    #[test]
    fn bad_symbols_are_refused() {
        let mut codes = BTreeMap::new();
        codes.insert(
            "127.0.0.2".to_string(),
            DnsblCode {
                symbol: "lower".into(),
                score: 1.0,
                description: String::new(),
            },
        );
        let err = Zone::compile(
            3,
            &DnsblZone {
                zone: "x.example".into(),
                check: DnsblTarget::SenderDomain,
                codes,
                default: None,
                error_codes: vec![],
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("entry 3"), "{err}");
    }
}
