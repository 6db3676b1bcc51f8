//! The console test kit: an HTTP client for the web console and its REST API (sign-in with
//! its CSRF tokens, forms, API tokens), shared by the console's tests and the multi-node ones.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;

/// The console at `addr`, asked from `source` when given.
pub struct Web {
    pub addr: String,
    /// The client's own address, when not the default one.
    pub source: Option<std::net::IpAddr>,
}

pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Answer {
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.head
            .lines()
            .filter_map(|l| {
                let lower = l.to_ascii_lowercase();
                lower
                    .starts_with("set-cookie:")
                    .then(|| l[11..].trim().to_string())
            })
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(|c| c.split(';').next().unwrap().to_string())
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

/// A signed-in browser: its cookie and the page's CSRF token.
pub struct Session {
    pub cookie: String,
    pub csrf: String,
}

pub fn form_value(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} in\n{page}"))
        + marker.len();
    page[start..start + page[start..].find('"').unwrap()].to_string()
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Web {
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut s = match self.source {
            None => TcpStream::connect(&self.addr).unwrap(),
            Some(ip) => super::common::connect_from(ip, self.addr.parse().unwrap()),
        };
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n",
            self.addr,
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let out = super::common::text(&out);
        let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        // Bodies arrive chunked or whole; tests only search them.
        Answer {
            status,
            head: head.to_string(),
            body: body.to_string(),
        }
    }

    pub fn get(&self, path: &str, cookie: &str) -> Answer {
        self.request("GET", path, &[("Cookie", cookie)], b"")
    }

    pub fn api(&self, method: &str, path: &str, token: &str, json: &str) -> Answer {
        let auth = format!("Bearer {token}");
        self.request(
            method,
            path,
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
            ],
            json.as_bytes(),
        )
    }

    pub fn post_form(&self, path: &str, cookie: &str, fields: &[(&str, &str)]) -> Answer {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect();
        self.request(
            "POST",
            path,
            &[
                ("Cookie", cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.join("&").as_bytes(),
        )
    }

    pub fn try_sign_in(&self, name: &str, password: &str) -> Answer {
        let page = self.get("/login", "");
        let login = page.cookie("mm_login").expect("login cookie");
        let token = form_value(&page.body, "login_csrf");
        self.post_form(
            "/login",
            &login,
            &[
                ("name", name),
                ("password", password),
                ("login_csrf", &token),
            ],
        )
    }

    pub fn sign_in(&self, name: &str, password: &str) -> Session {
        let a = self.try_sign_in(name, password);
        assert_eq!(a.status, 303, "{name} signs in: {}", a.body);
        let cookie = a.cookie("mm_session").unwrap();
        let page = self.get("/exceptions", &cookie);
        Session {
            csrf: form_value(&page.body, "csrf"),
            cookie,
        }
    }

    pub fn token(&self, s: &Session, label: &str) -> String {
        let page = self.post_form(
            "/account/tokens",
            &s.cookie,
            &[("csrf", &s.csrf), ("label", label)],
        );
        assert_eq!(page.status, 200);
        let marker = "id=\"new-token\">";
        let start = page.body.find(marker).unwrap() + marker.len();
        page.body[start..start + page.body[start..].find('<').unwrap()].to_string()
    }
}
