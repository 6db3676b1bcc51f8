//! Allow and deny lists by sender address, sender domain (subdomains included), client IP or
//! network (IPv4 and IPv6), and recipient.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;
use mailmoat_mime::MessageView;

use crate::syntax::ListField;

pub(crate) struct List {
    pub name: String,
    pub field: ListField,
    /// entry → where it was written (`file:line` or `inline`)
    addresses: HashMap<String, String>,
    domains: HashMap<String, String>,
    networks: Vec<(IpNet, String)>,
}

impl List {
    pub fn new(name: String, field: ListField) -> Self {
        List {
            name,
            field,
            addresses: HashMap::new(),
            domains: HashMap::new(),
            networks: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.addresses.len() + self.domains.len() + self.networks.len()
    }

    /// Adds one entry; the error says why it is not a valid entry for this list.
    pub fn add(&mut self, entry: &str, origin: String) -> Result<(), String> {
        let e = entry.trim().to_lowercase();
        match self.field {
            ListField::ClientIp => {
                let net = e
                    .parse::<IpNet>()
                    .or_else(|_| e.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("{entry:?} is not an IP address or CIDR network"))?;
                self.networks.push((net.trunc(), origin));
            }
            ListField::SenderAddress => {
                if !e.contains('@') || e.starts_with('@') {
                    return Err(format!(
                        "{entry:?} is not an address (use a sender_domain list for domains)"
                    ));
                }
                self.addresses.insert(e, origin);
            }
            ListField::SenderDomain | ListField::Recipient => {
                if self.field == ListField::Recipient && e.contains('@') && !e.starts_with('@') {
                    self.addresses.insert(e, origin);
                } else {
                    let d = e
                        .trim_start_matches("*.")
                        .trim_start_matches(['@', '.'])
                        .trim_end_matches('.');
                    if d.is_empty() || d.contains(['@', ' ', '/']) || !d.contains('.') {
                        return Err(format!("{entry:?} is not a domain"));
                    }
                    self.domains.insert(d.to_string(), origin);
                }
            }
        }
        Ok(())
    }

    /// The first entry this message matches, described for the verdict.
    pub fn lookup(&self, view: &MessageView) -> Option<String> {
        match self.field {
            ListField::ClientIp => {
                let ip = view.client_ip()?;
                let (net, origin) = self.networks.iter().find(|(n, _)| n.contains(&ip))?;
                Some(format!("client IP {ip} matched entry {net} ({origin})"))
            }
            ListField::SenderAddress | ListField::SenderDomain => {
                let senders = senders(view);
                self.match_addresses(&senders, "sender")
            }
            ListField::Recipient => {
                let mut rcpts: Vec<String> = view
                    .envelope
                    .rcpt_to
                    .iter()
                    .map(|r| r.to_lowercase())
                    .collect();
                if rcpts.is_empty() {
                    rcpts = view
                        .to
                        .iter()
                        .chain(view.cc.iter())
                        .filter_map(|m| m.address.as_ref().map(|a| a.to_lowercase()))
                        .collect();
                }
                self.match_addresses(&rcpts, "recipient")
            }
        }
    }

    fn match_addresses(&self, addrs: &[String], what: &str) -> Option<String> {
        for addr in addrs {
            if let Some(origin) = self.addresses.get(addr) {
                return Some(format!("{what} {addr} matched entry {addr} ({origin})"));
            }
            let Some((_, domain)) = addr.rsplit_once('@') else {
                continue;
            };
            let mut d = domain.trim_end_matches('.');
            loop {
                if let Some(origin) = self.domains.get(d) {
                    return Some(format!(
                        "{what} domain {domain} matched entry {d} ({origin})"
                    ));
                }
                match d.split_once('.') {
                    Some((_, parent))
                        if parent.contains('.') || self.domains.contains_key(parent) =>
                    {
                        d = parent
                    }
                    _ => break,
                }
            }
        }
        None
    }
}

/// Sender identities a list can match: the envelope sender and the From addresses.
fn senders(view: &MessageView) -> Vec<String> {
    let mut out: Vec<String> = view
        .envelope
        .mail_from
        .iter()
        .map(|s| s.to_lowercase())
        .collect();
    out.extend(
        view.from
            .iter()
            .filter_map(|m| m.address.as_ref().map(|a| a.to_lowercase())),
    );
    out.dedup();
    out
}

/// Reads a list file: one entry a line, `#` starts a comment.
pub(crate) fn parse_list_file(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(n, line)| {
        let entry = line.split('#').next().unwrap_or("").trim();
        (!entry.is_empty()).then_some((n + 1, entry))
    })
}
