//! What a condition looks at, and how its values are read from the view.

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

    /// The values of this target in a message (each scanned separately).
    pub fn values(&self, view: &MessageView) -> Vec<String> {
        match self {
            Target::Header(name) => view
                .headers_named(name)
                .map(|h| h.decoded.clone())
                .collect(),
            Target::HeaderRaw(name) => view.headers_named(name).map(|h| h.raw.clone()).collect(),
            Target::AddrLocal(f) => f
                .mailboxes(view)
                .iter()
                .filter_map(|m| m.local_part().map(str::to_string))
                .collect(),
            Target::AddrDomain(f) => f
                .mailboxes(view)
                .iter()
                .filter_map(|m| m.domain())
                .collect(),
            Target::AddrName(f) => f
                .mailboxes(view)
                .into_iter()
                .filter_map(|m| m.name)
                .collect(),
            Target::Subject => view.subject.iter().cloned().collect(),
            Target::Body => view.texts.iter().map(|t| t.text.clone()).collect(),
            Target::RawBody => {
                let head = view.raw_headers().len();
                vec![String::from_utf8_lossy(&view.raw[head.min(view.raw.len())..]).into_owned()]
            }
            Target::Url => view.urls.iter().map(|u| u.url.clone()).collect(),
            Target::UrlHost => view.urls.iter().filter_map(|u| u.host.clone()).collect(),
            Target::UrlPath => view.urls.iter().filter_map(|u| url_path(&u.url)).collect(),
            Target::AttachmentName => view
                .attachments
                .iter()
                .filter_map(|a| a.file_name.clone())
                .collect(),
            Target::AttachmentType => view
                .attachments
                .iter()
                .flat_map(|a| {
                    std::iter::once(a.content_type.clone())
                        .chain(a.sniffed_type.map(str::to_string))
                })
                .collect(),
            Target::MailFrom => view
                .envelope
                .mail_from
                .clone()
                .or_else(|| view.return_path.clone())
                .into_iter()
                .collect(),
            Target::RcptTo => view.envelope.rcpt_to.clone(),
            Target::Helo => view
                .envelope
                .helo
                .clone()
                .or_else(|| view.first_external_hop().and_then(|h| h.helo.clone()))
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
