//! Header sanity: fields that legitimate mail software always sets, dates that make sense, and
//! the shapes bulk senders leave behind. Also the Korean ad-labelling rule: under the Korean
//! Act on Promotion of Information and Communications Network Utilization (art. 50), a
//! commercial e-mail's subject must begin with "(광고)".

use std::sync::OnceLock;

use mailmoat_core::{Category, Findings, Location, SymbolDef};
use mailmoat_mime::MessageView;
use regex::Regex;
use serde::Deserialize;

use crate::Detector;

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("HDR_MISSING_FROM", "headers", Category::Spam, 2.0, "No From header, or one without an address."),
    SymbolDef::new("HDR_MISSING_MESSAGE_ID", "headers", Category::Spam, 1.0, "No Message-ID header; every real mail program sets one."),
    SymbolDef::new("HDR_MISSING_DATE", "headers", Category::Spam, 1.0, "No Date header, or one that does not parse."),
    SymbolDef::new("HDR_DATE_FUTURE", "headers", Category::Spam, 2.0, "Date header further in the future than the configured tolerance, relative to when the message was received."),
    SymbolDef::new("HDR_DATE_PAST", "headers", Category::Spam, 0.0, "Date header older than the configured tolerance, relative to when the message was received (stale or replayed mail). Weight 0 since session 21: it fires on more than 0.5 % of ham (issue 22's rule) without being much more frequent in spam (training folders easy-ham-1 / spam-1: 7.2 % / 0.8 %): evidence for rules and the learned fusion, no score of its own."),
    SymbolDef::new("HDR_TO_BARE_ADDRESS", "headers", Category::Spam, 0.0, "Every To recipient is a bare address with no display name (common in bulk mail, but also in much legitimate mail). Weight 0 since session 21: it fires on more than 0.5 % of ham (issue 22's rule) without being much more frequent in spam (training folders easy-ham-1 / spam-1: 65.6 % / 91.6 %): evidence for rules and the learned fusion, no score of its own."),
    SymbolDef::new("HDR_REPLYTO_MISSING", "headers", Category::Spam, 0.0, "No Reply-To header. Informational: most legitimate mail has none; useful in rules."),
    SymbolDef::new("HDR_REPLYTO_NOREPLY", "headers", Category::Spam, 0.2, "Reply-To is a no-reply address, so the recipient cannot answer."),
    SymbolDef::new("HDR_FROM_RETURN_PATH_MISMATCH", "headers", Category::Spam, 0.0, "The From domain and the Return-Path (envelope sender) domain belong to different organisations (mailing lists left out). Weight 0 since session 24: it fires on 3.0 % of the newer ham in the time split (issue 22's rule: more than 0.5 % of ham in a held-out test, and its weight is learned or it goes). Its weight is learned by the classifier, through `sig:return_path_other_org`; it still shows in reports and serves rules and the learned fusion."),
    SymbolDef::new("HDR_SUBJECT_ALL_CAPS", "headers", Category::Spam, 1.5, "Subject written entirely in capital letters."),
    SymbolDef::new("HDR_KR_AD_NO_PREFIX", "headers", Category::Spam, 6.0, "Korean advertising mail whose subject does not begin with the legally required \"(광고)\"."),
    SymbolDef::new("HDR_KR_AD_PREFIX_EVASION", "headers", Category::Spam, 6.5, "Subject carries a disguised ad label (\"(광 고)\", \"[광고]\", \"(廣告)\", \"(광고)\" not at the start…) that filters for the real label miss."),
    SymbolDef::new("HDR_KR_AD_NO_OPTOUT", "headers", Category::Spam, 2.0, "A labelled Korean ad whose text gives no way to refuse further ads (수신거부), which the law (정보통신망법 제50조) requires of every ad."),
    SymbolDef::new("HDR_KR_AD_NO_SENDER_ID", "headers", Category::Spam, 1.0, "A labelled Korean ad whose text names no sender to reach (no phone number, address, representative or business number), which the law requires."),
    SymbolDef::new("HDR_KR_AD_NIGHT", "headers", Category::Spam, 1.0, "A Korean ad sent between 21:00 and 08:00 Korean time, which the law allows only with the recipient's separate consent."),
    SymbolDef::new("HDR_KR_AD_LABELED", "headers", Category::Spam, 1.0, "Subject begins with \"(광고)\": a lawfully labelled advertisement (policy may tag it)."),
];

/// `[detectors.header_sanity]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// A Date this many hours after reception is "in the future".
    pub date_future_hours: u32,
    /// A Date this many days before reception is "in the past".
    pub date_past_days: u32,
    /// Subjects with fewer cased letters than this are never "all caps".
    pub all_caps_min_letters: usize,
    /// Korean-ad detection needs at least this many Hangul syllables in subject and body.
    pub korean_min_hangul: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            date_future_hours: 24,
            date_past_days: 30,
            all_caps_min_letters: 10,
            korean_min_hangul: 20,
        }
    }
}

impl Config {
    pub fn build(&self) -> HeaderSanity {
        HeaderSanity {
            config: self.clone(),
        }
    }
}

pub struct HeaderSanity {
    config: Config,
}

impl Detector for HeaderSanity {
    fn name(&self) -> &'static str {
        "header_sanity"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        let at = |name: &str| Location::new(format!("header {name}"));
        if !view.from.iter().any(|m| m.address.is_some()) {
            findings.add("HDR_MISSING_FROM", "no From address", at("From"));
        }
        if view
            .message_id
            .as_deref()
            .is_none_or(|id| id.trim().is_empty())
        {
            findings.add("HDR_MISSING_MESSAGE_ID", "no Message-ID", at("Message-ID"));
        }
        self.check_date(view, findings);
        self.check_recipients(view, findings);
        self.check_subject(view, findings);
        self.check_korean_ad(view, findings);
    }
}

impl HeaderSanity {
    fn check_date(&self, view: &MessageView, findings: &mut Findings) {
        let loc = Location::new("header Date");
        let Some(date) = view.date else {
            let why = match view.header("Date") {
                Some(h) => format!("Date does not parse: {:?}", h.decoded),
                None => "no Date header".to_string(),
            };
            findings.add("HDR_MISSING_DATE", why, loc);
            return;
        };
        let now = view.reference_time().unwrap_or_else(unix_now);
        let ahead = date - now;
        if ahead > i64::from(self.config.date_future_hours) * 3600 {
            findings.add(
                "HDR_DATE_FUTURE",
                format!("Date is {} ahead of reception", human(ahead)),
                loc,
            );
        } else if -ahead > i64::from(self.config.date_past_days) * 86400 {
            findings.add(
                "HDR_DATE_PAST",
                format!("Date is {} before reception", human(-ahead)),
                loc,
            );
        }
    }

    fn check_recipients(&self, view: &MessageView, findings: &mut Findings) {
        if !view.to.is_empty()
            && view
                .to
                .iter()
                .all(|m| !m.has_display_name() && m.address.is_some())
        {
            let addrs: Vec<&str> = view
                .to
                .iter()
                .filter_map(|m| m.address.as_deref())
                .take(3)
                .collect();
            findings.add(
                "HDR_TO_BARE_ADDRESS",
                format!("To: {}", addrs.join(", ")),
                Location::new("header To"),
            );
        }
        match view.reply_to.first() {
            None => findings.add(
                "HDR_REPLYTO_MISSING",
                "no Reply-To",
                Location::new("header Reply-To"),
            ),
            Some(m) => {
                if m.local_part().is_some_and(is_no_reply) {
                    findings.add(
                        "HDR_REPLYTO_NOREPLY",
                        format!("Reply-To: {}", m.address.as_deref().unwrap_or_default()),
                        Location::new("header Reply-To"),
                    );
                }
            }
        }
        if let Some((from, rp_domain)) = return_path_other_org(view) {
            findings.add(
                "HDR_FROM_RETURN_PATH_MISMATCH",
                format!("From domain {from}, Return-Path domain {rp_domain}"),
                Location::new("header Return-Path"),
            );
        }
    }

    fn check_subject(&self, view: &MessageView, findings: &mut Findings) {
        let Some(subject) = view.subject.as_deref() else {
            return;
        };
        let cased: Vec<char> = subject
            .chars()
            .filter(|c| c.is_lowercase() || c.is_uppercase())
            .collect();
        let words = subject
            .split_whitespace()
            .filter(|w| w.chars().any(char::is_alphabetic))
            .count();
        if cased.len() >= self.config.all_caps_min_letters
            && words >= 2
            && cased.iter().all(|c| c.is_uppercase())
        {
            findings.add(
                "HDR_SUBJECT_ALL_CAPS",
                format!("Subject: {subject}"),
                Location::new("header Subject"),
            );
        }
    }

    fn check_korean_ad(&self, view: &MessageView, findings: &mut Findings) {
        let subject = view.subject.as_deref().unwrap_or("").trim();
        let loc = Location::new("header Subject");
        if subject.starts_with("(광고)") {
            findings.add("HDR_KR_AD_LABELED", format!("Subject: {subject}"), loc);
            self.check_korean_ad_duties(view, findings);
            return;
        }
        if let Some(m) = disguised_label().find(subject) {
            findings.add(
                "HDR_KR_AD_PREFIX_EVASION",
                format!("disguised ad label {:?} in Subject: {subject}", m.as_str()),
                loc,
            );
            return;
        }
        let hangul = |s: &str| {
            s.chars()
                .filter(|c| ('\u{ac00}'..='\u{d7a3}').contains(c))
                .count()
        };
        // Count before joining: most mail has no Hangul, and needs no copy of its text.
        if hangul(subject) + view.visible_text().map(hangul).sum::<usize>()
            < self.config.korean_min_hangul
        {
            return;
        }
        let body: String = view.visible_text().collect::<Vec<_>>().join("\n");
        if let Some(why) =
            korean_ad_signs(subject, &body, view.header("List-Unsubscribe").is_some())
        {
            findings.add(
                "HDR_KR_AD_NO_PREFIX",
                format!("Korean advertisement ({why}) without \"(광고)\" in Subject: {subject}"),
                loc,
            );
            check_korean_ad_night(view, findings);
        }
    }

    /// What the law asks of a labelled ad besides its label: an opt-out, a sender to reach, and
    /// no sending at night.
    fn check_korean_ad_duties(&self, view: &MessageView, findings: &mut Findings) {
        let body: String = view.visible_text().collect::<Vec<_>>().join("\n");
        let text_location = view
            .texts
            .first()
            .map_or_else(Location::message, |t| t.location.clone());
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        const OPT_OUT: &[&str] = &[
            "수신거부",
            "수신을원하지않",
            "수신을원치않",
            "수신차단",
            "구독해지",
            "구독취소",
        ];
        if !OPT_OUT.iter().any(|w| compact.contains(w)) {
            findings.add(
                "HDR_KR_AD_NO_OPTOUT",
                "no 수신거부 (opt-out) notice in the text",
                text_location.clone(),
            );
        }
        const IDENTITY: &[&str] = &[
            "대표",
            "사업자등록번호",
            "상호",
            "주소",
            "고객센터",
            "연락처",
        ];
        if !IDENTITY.iter().any(|w| compact.contains(w)) && !phone_number().is_match(&body) {
            findings.add(
                "HDR_KR_AD_NO_SENDER_ID",
                "no phone number, address, representative or business number in the text",
                text_location,
            );
        }
        check_korean_ad_night(view, findings);
    }
}

/// A Korean ad sent at night (21:00–08:00 KST): by our clock when we received it, else by its
/// Date header.
fn check_korean_ad_night(view: &MessageView, findings: &mut Findings) {
    let (time, by) = match (view.envelope.received_at, view.date) {
        (Some(t), _) => (t, "received"),
        (None, Some(t)) => (t, "dated"),
        (None, None) => return,
    };
    let minutes = (time + 9 * 3600).rem_euclid(86_400) / 60;
    let (hour, minute) = (minutes / 60, minutes % 60);
    if !(8..21).contains(&hour) {
        findings.add(
            "HDR_KR_AD_NIGHT",
            format!("{by} at {hour:02}:{minute:02} Korean time"),
            Location::new("header Date"),
        );
    }
}

/// A Korean phone number as ads print them: 02-123-4567, 010-1234-5678, 1588-1234, 080-…
fn phone_number() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?:^|[^\d])(?:0\d{1,2}(?:\)\s?|[-. ])\d{3,4}[-. ]\d{4}|1[5-9]\d{2}-\d{4})(?:$|[^\d])",
        )
        .expect("static regex")
    })
}

/// What makes a Korean message an advertisement: the opt-out notice the law requires of ads,
/// or several promotional words together with a way to unsubscribe.
fn korean_ad_signs(subject: &str, body: &str, list_unsubscribe: bool) -> Option<String> {
    const OPT_OUT: &[&str] = &[
        "수신거부",
        "수신 거부",
        "수신을 원하지 않",
        "수신을 원치 않",
        "수신차단",
        "광고성 정보",
        "(광고)",
    ];
    const PROMO: &[&str] = &[
        "할인",
        "특가",
        "이벤트",
        "쿠폰",
        "무료",
        "세일",
        "최대",
        "당첨",
        "적립",
        "혜택",
        "대출",
        "한정",
        "증정",
        "사은품",
        "구매",
    ];
    let text = format!("{subject}\n{body}");
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(w) = OPT_OUT
        .iter()
        .find(|w| compact.contains(&w.replace(' ', "")))
    {
        return Some(format!("opt-out notice \"{w}\""));
    }
    let promo: Vec<&str> = PROMO.iter().copied().filter(|w| text.contains(w)).collect();
    let unsubscribe = list_unsubscribe || text.to_lowercase().contains("unsubscribe");
    (promo.len() >= 3 || (promo.len() >= 2 && unsubscribe))
        .then(|| format!("promotional words {}", promo.join(", ")))
}

/// Labels that imitate "(광고)" without being it, or the real label anywhere but the start.
fn disguised_label() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // Any bracket pair around 광…고 with filler between, the Hanja 廣告, or the plain label
        // further along the subject.
        Regex::new(r"[\(\[\{<【〔（「『]\s*(?:광[\s\.\-_·*/\\|,~!]*고|廣\s*告|광\s*고\s*성)\s*[\)\]\}>】〕）」』]|\(광고\)|^광고\s*[:\]\)]")
            .expect("static regex")
    })
}

fn is_no_reply(local: &str) -> bool {
    let l: String = local
        .to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    l.starts_with("noreply")
        || l.starts_with("donotreply")
        || l.starts_with("noresponse")
        || l == "mailerdaemon"
}

/// The From domain and the Return-Path (else envelope sender) domain when they belong to
/// different organisations, outside mailing lists (which rewrite the envelope sender by design:
/// VERP, bounce handling). HDR_FROM_RETURN_PATH_MISMATCH, and a feature of the classifier.
pub fn return_path_other_org(view: &MessageView) -> Option<(String, String)> {
    let from = view.from.first().and_then(|m| m.domain())?;
    let rp = view
        .return_path
        .as_deref()
        .or(view.envelope.mail_from.as_deref())
        .filter(|rp| !rp.is_empty() && *rp != "<>")?;
    if view.header("List-Id").is_some() || view.header("List-Post").is_some() {
        return None;
    }
    let rp_domain = rp
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').to_ascii_lowercase())?;
    (org_domain(&from) != org_domain(&rp_domain)).then_some((from, rp_domain))
}

/// The registrable domain (e.g. `mail.example.co.kr` → `example.co.kr`).
fn org_domain(domain: &str) -> String {
    psl::domain_str(domain).unwrap_or(domain).to_string()
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn human(seconds: i64) -> String {
    if seconds >= 2 * 86400 {
        format!("{} days", seconds / 86400)
    } else {
        format!("{} hours", seconds / 3600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn korean_phone_numbers_as_ads_print_them() {
        for yes in [
            "전화 02-123-4567",
            "010-1234-5678",
            "고객센터 1588-1234 ",
            "080 123 4567",
            "(031) 123-4567",
        ] {
            assert!(phone_number().is_match(yes), "{yes}");
        }
        for no in [
            "2023-01-02",
            "123-45-67890",
            "version 1.2.3",
            "1234-5678-9012-3456",
        ] {
            assert!(!phone_number().is_match(no), "{no}");
        }
    }

    #[test]
    fn disguised_labels() {
        for s in [
            "(광 고) 특가",
            "[광고] 특가",
            "(廣告) 세일",
            "특가 (광고)",
            "(광.고)",
            "【광고】",
            "광고: 세일",
        ] {
            assert!(disguised_label().is_match(s), "{s}");
        }
        for s in ["광고 전략 회의", "Re: 광고비 정산", "(공지) 광고 집행"] {
            assert!(!disguised_label().is_match(s), "{s}");
        }
    }

    #[test]
    fn no_reply_forms() {
        for l in [
            "noreply",
            "no-reply",
            "no_reply",
            "DoNotReply",
            "do-not-reply",
            "noreply-123",
        ] {
            assert!(is_no_reply(l), "{l}");
        }
        assert!(!is_no_reply("reply"));
        assert!(!is_no_reply("info"));
    }

    #[test]
    fn org_domains() {
        assert_eq!(org_domain("mail.example.co.kr"), "example.co.kr");
        assert_eq!(org_domain("bounce.mailer.example.com"), "example.com");
    }
}
