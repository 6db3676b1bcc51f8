//! What a condition looks at, and how its values are read from the view.

use std::borrow::Cow;

use mailmoat_mime::{Mailbox, MessageView};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AddrField {
    From,
    Sender,
    To,
    Cc,
    ReplyTo,
    ReturnPath,
}

impl AddrField {
    pub fn from_header(name: &str) -> Option<AddrField> {
        Some(match name.to_ascii_lowercase().as_str() {
            "from" => AddrField::From,
            "sender" => AddrField::Sender,
            "to" => AddrField::To,
            "cc" => AddrField::Cc,
            "reply-to" => AddrField::ReplyTo,
            "return-path" => AddrField::ReturnPath,
            _ => return None,
        })
    }

    pub fn mailboxes(self, view: &MessageView) -> Vec<Mailbox> {
        match self {
            AddrField::From => view.from.clone(),
            AddrField::Sender => view.sender.clone(),
            AddrField::To => view.to.clone(),
            AddrField::Cc => view.cc.clone(),
            AddrField::ReplyTo => view.reply_to.clone(),
            AddrField::ReturnPath => view
                .return_path
                .iter()
                .map(|a| Mailbox {
                    name: None,
                    address: Some(a.clone()),
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Header(String),
    HeaderRaw(String),
    AddrLocal(AddrField),
    AddrDomain(AddrField),
    AddrName(AddrField),
    Subject,
    Body,
    RawBody,
    Url,
    UrlHost,
    UrlPath,
    AttachmentName,
    AttachmentType,
    MailFrom,
    RcptTo,
    Helo,
}

impl Target {
    /// How an explanation names the target.
    pub fn describe(&self) -> String {
        match self {
            Target::Header(h) => format!("header {h}"),
            Target::HeaderRaw(h) => format!("raw header {h}"),
            Target::AddrLocal(f) => format!("{f:?} local part"),
            Target::AddrDomain(f) => format!("{f:?} domain"),
            Target::AddrName(f) => format!("{f:?} display name"),
            Target::Subject => "subject".into(),
            Target::Body => "body".into(),
            Target::RawBody => "raw body".into(),
            Target::Url => "URL".into(),
            Target::UrlHost => "URL host".into(),
            Target::UrlPath => "URL path".into(),
            Target::AttachmentName => "attachment name".into(),
            Target::AttachmentType => "attachment type".into(),
            Target::MailFrom => "envelope sender".into(),
            Target::RcptTo => "envelope recipient".into(),
            Target::Helo => "HELO".into(),
        }
    }

    /// The values of this target in a message (each scanned separately), borrowed from the
    /// view where possible.
    pub fn values<'v>(&self, view: &'v MessageView) -> Vec<Cow<'v, str>> {
        let owned = |v: Vec<String>| v.into_iter().map(Cow::Owned).collect();
        match self {
            Target::Header(name) => view
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| Cow::Borrowed(h.decoded.as_str()))
                .collect(),
            Target::HeaderRaw(name) => view
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| Cow::Borrowed(h.raw.as_str()))
                .collect(),
            Target::AddrLocal(f) => owned(
                f.mailboxes(view)
                    .iter()
                    .filter_map(|m| m.local_part().map(str::to_string))
                    .collect(),
            ),
            Target::AddrDomain(f) => owned(
                f.mailboxes(view)
                    .iter()
                    .filter_map(|m| m.domain())
                    .collect(),
            ),
            Target::AddrName(f) => owned(
                f.mailboxes(view)
                    .into_iter()
                    .filter_map(|m| m.name)
                    .collect(),
            ),
            Target::Subject => view
                .subject
                .iter()
                .map(|s| Cow::Borrowed(s.as_str()))
                .collect(),
            Target::Body => view
                .texts
                .iter()
                .map(|t| Cow::Borrowed(t.text.as_str()))
                .collect(),
            Target::RawBody => {
                let head = view.raw_headers().len();
                vec![String::from_utf8_lossy(
                    &view.raw[head.min(view.raw.len())..],
                )]
            }
            Target::Url => view
                .urls
                .iter()
                .map(|u| Cow::Borrowed(u.url.as_str()))
                .collect(),
            Target::UrlHost => view
                .urls
                .iter()
                .filter_map(|u| u.host.as_deref().map(Cow::Borrowed))
                .collect(),
            Target::UrlPath => owned(view.urls.iter().filter_map(|u| url_path(&u.url)).collect()),
            Target::AttachmentName => view
                .attachments
                .iter()
                .filter_map(|a| a.file_name.as_deref().map(Cow::Borrowed))
                .collect(),
            Target::AttachmentType => view
                .attachments
                .iter()
                .flat_map(|a| {
                    std::iter::once(Cow::Borrowed(a.content_type.as_str()))
                        .chain(a.sniffed_type.map(Cow::Borrowed))
                })
                .collect(),
            Target::MailFrom => view
                .envelope
                .mail_from
                .as_deref()
                .or(view.return_path.as_deref())
                .map(Cow::Borrowed)
                .into_iter()
                .collect(),
            Target::RcptTo => view
                .envelope
                .rcpt_to
                .iter()
                .map(|r| Cow::Borrowed(r.as_str()))
                .collect(),
            Target::Helo => view
                .envelope
                .helo
                .as_deref()
                .or_else(|| view.first_external_hop().and_then(|h| h.helo.as_deref()))
                .map(Cow::Borrowed)
                .into_iter()
                .collect(),
        }
    }
}

/// Path and query of a URL (`/a/b?c`), scheme-less `www.` URLs included.
fn url_path(raw: &str) -> Option<String> {
    let parsed = url::Url::parse(raw.trim())
        .or_else(|_| url::Url::parse(&format!("http://{}", raw.trim())))
        .ok()?;
    let mut path = parsed.path().to_string();
    if let Some(q) = parsed.query() {
        path.push('?');
        path.push_str(q);
    }
    Some(path)
}
