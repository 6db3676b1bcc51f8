//! Korean phishing lures: the stories Korean phishing tells to get a click — a parcel held for a
//! wrong address, a tax or health-insurance refund waiting, a prosecutor's summons, a government
//! subsidy, an obituary or a mobile wedding invitation, a KakaoTalk or Naver account locked.
//!
//! A lure is a topic ("택배", "국세청") together with the push that makes it a lure ("주소
//! 불일치", "환급금 조회"), read on text with disguises undone (see `korean_spam::normalise`).
//! It is evidence to combine with the link and sender checks, and it says which: the story is
//! told by a sender outside the organisation it names, or it links outside that organisation's
//! domains. The organisation's own mail (its domain sends, its links stay home) is not a lure;
//! text about phishing ("사칭", "스미싱") is capped low.

use mailmoat_core::{Category, Findings, Location, SymbolDef};
use mailmoat_mime::MessageView;
use serde::Deserialize;

use crate::korean_spam::{korean_text, normalise, TermSet};
use crate::Detector;

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("KR_LURE_PARCEL", "korean", Category::Phishing, 6.0, "A Korean parcel-delivery lure (택배/배송 with 보류, 주소 불일치, 재배송, 관세 미납…) from a sender outside the couriers, or linking outside their domains."),
    SymbolDef::new("KR_LURE_TAX_REFUND", "korean", Category::Phishing, 6.0, "A Korean tax-refund lure (국세청/홈택스 with 환급금 조회, 미수령 환급금…) from outside the tax service's domains, or linking outside them."),
    SymbolDef::new("KR_LURE_LAW_ENFORCEMENT", "korean", Category::Phishing, 6.0, "A Korean prosecutor, police or regulator lure (검찰청, 경찰청, 금융감독원 with 출석 요구, 사건 조회, 계좌 동결, 명의 도용…) from outside government domains, or linking outside them."),
    SymbolDef::new("KR_LURE_HEALTH_INSURANCE", "korean", Category::Phishing, 6.0, "A Korean health-insurance lure (국민건강보험 with 환급금, 검진 결과 조회…) from outside the service's domain, or linking outside it."),
    SymbolDef::new("KR_LURE_SUBSIDY", "korean", Category::Phishing, 6.0, "A Korean government-subsidy lure (정부지원금, 재난지원금 with 지급 대상, 신청 마감…) from outside government domains, or linking outside them."),
    SymbolDef::new("KR_LURE_INVITATION", "korean", Category::Phishing, 6.0, "An obituary or mobile wedding-invitation lure (부고장, 모바일 청첩장) whose link is a shortener, an IP address or an app download: the smishing kind. A plain link counts for less."),
    SymbolDef::new("KR_LURE_ACCOUNT", "korean", Category::Phishing, 6.0, "A KakaoTalk, Naver or Daum account warning (계정 정지, 비정상 로그인, 보호조치…) from outside those companies' domains, or linking outside them."),
];

/// `[detectors.korean_lures]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config { enabled: true }
    }
}

struct Lure {
    symbol: &'static str,
    topic: &'static [&'static str],
    push: &'static [&'static str],
    /// Registrable domains (or suffixes such as "go.kr") the story's organisation sends from
    /// and links to.
    own: &'static [&'static str],
}

const GOVERNMENT: &[&str] = &["go.kr", "gov.kr", "korea.kr"];

#[rustfmt::skip]
const LURES: &[Lure] = &[
    Lure {
        symbol: "KR_LURE_PARCEL",
        topic: &["택배", "배송", "운송장", "송장", "소포", "우체국", "대한통운", "한진", "롯데택배", "로젠", "통관"],
        push: &["배송 보류", "보류", "주소 불일치", "주소 불명", "주소 오류", "주소 확인", "주소 수정", "주소지 확인",
                "재배송", "배송 실패", "수취인 부재", "미납", "관세 납부", "배송비", "반송 예정"],
        own: &["cjlogistics.com", "cjkoreaexpress.co.kr", "hanjin.com", "hanjin.co.kr", "lotteglogis.com",
               "ilogen.com", "epost.go.kr", "go.kr"],
    },
    Lure {
        symbol: "KR_LURE_TAX_REFUND",
        topic: &["국세청", "홈택스", "세무서", "종합소득세", "연말정산", "근로장려금", "세금"],
        push: &["환급금", "미수령", "환급 신청", "환급 조회", "환급 대상"],
        own: &["hometax.go.kr", "nts.go.kr", "go.kr"],
    },
    Lure {
        symbol: "KR_LURE_LAW_ENFORCEMENT",
        topic: &["검찰청", "검찰", "경찰청", "사이버수사대", "수사관", "금융감독원", "법원"],
        push: &["출석 요구", "출석요구서", "사건 조회", "사건번호", "벌금", "범죄 연루", "명의 도용", "명의도용",
                "계좌 동결", "수사 협조", "전자소환장", "소환장", "압수"],
        own: &["spo.go.kr", "police.go.kr", "scourt.go.kr", "fss.or.kr", "go.kr"],
    },
    Lure {
        symbol: "KR_LURE_HEALTH_INSURANCE",
        topic: &["국민건강보험", "건강보험공단", "건강보험"],
        push: &["환급금", "미환급", "본인부담금", "검진 결과 조회", "결과 조회", "미수령"],
        own: &["nhis.or.kr", "go.kr"],
    },
    Lure {
        symbol: "KR_LURE_SUBSIDY",
        topic: &["정부지원금", "재난지원금", "긴급지원금", "지원금", "민생회복", "소상공인 지원"],
        push: &["지급 대상", "대상자", "신청 마감", "미신청", "조회하기", "신청하기", "수령", "마감 임박"],
        own: GOVERNMENT,
    },
    Lure {
        symbol: "KR_LURE_INVITATION",
        topic: &["부고", "부고장", "訃告", "모바일 청첩장", "청첩장", "돌잔치 초대장"],
        push: &["확인", "보기", "링크", "장례식장", "예식장", "참석"],
        own: &[],
    },
    Lure {
        symbol: "KR_LURE_ACCOUNT",
        topic: &["카카오톡", "카카오", "네이버", "다음 메일", "한메일"],
        push: &["계정 정지", "계정 잠금", "계정이 잠", "비정상 로그인", "해외 로그인", "해외 ip", "보호조치",
                "이용 제한", "이용이 제한", "본인 확인", "비밀번호 변경", "휴면 계정"],
        own: &["kakao.com", "kakaocorp.com", "naver.com", "daum.net", "hanmail.net"],
    },
];

/// Words of text about phishing, not of phishing: warnings and news name the lure too.
const ABOUT_PHISHING: &[&str] = &["사칭", "스미싱", "피싱", "보이스피싱", "수법", "피해 예방"];

/// Link hosts that hide where a link goes (the smishing kind of invitation).
const SHORTENERS: &[&str] = &[
    "bit.ly",
    "han.gl",
    "me2.do",
    "vo.la",
    "url.kr",
    "tinyurl.com",
    "t.co",
    "goo.gl",
    "is.gd",
    "buly.kr",
    "c11.kr",
    "t.ly",
    "cutt.ly",
    "shorturl.at",
];

#[derive(Clone, Copy)]
enum Term {
    /// A topic word of lure `n`.
    Topic(usize),
    /// A push word of lure `n`.
    Push(usize),
    About,
}

pub struct KoreanLures {
    terms: TermSet<Term>,
}

impl Config {
    pub fn build(&self) -> KoreanLures {
        let mut set = TermSet::default();
        for (l, lure) in LURES.iter().enumerate() {
            for w in lure.topic {
                set.push(w, Term::Topic(l));
            }
            for w in lure.push {
                set.push(w, Term::Push(l));
            }
        }
        for w in ABOUT_PHISHING {
            set.push(w, Term::About);
        }
        KoreanLures { terms: set.build() }
    }
}

/// Whether `host` is one of `own` or under one of them.
fn is_own(host: &str, own: &[&str]) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    own.iter()
        .any(|d| host == *d || host.ends_with(&format!(".{d}")))
}

/// What a link host says about the invitation lure: hidden (a shortener or a bare IP) or not.
fn hides_destination(url: &str, host: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    host.parse::<std::net::IpAddr>().is_ok()
        || SHORTENERS.iter().any(|s| is_own(host, &[s]))
        || lower
            .split(['?', '#'])
            .next()
            .is_some_and(|p| p.ends_with(".apk"))
}

impl KoreanLures {
    fn check(&self, view: &MessageView, text: &str, location: &Location, findings: &mut Findings) {
        let normal = normalise(text);
        let mut topics: Vec<Vec<&'static str>> = vec![Vec::new(); LURES.len()];
        let mut pushes: Vec<Vec<&'static str>> = vec![Vec::new(); LURES.len()];
        let mut about = false;
        for (term, word) in self.terms.find(&normal) {
            match term {
                Term::Topic(l) if !topics[l].contains(&word) => topics[l].push(word),
                Term::Push(l) if !pushes[l].contains(&word) => pushes[l].push(word),
                Term::About => about = true,
                _ => {}
            }
        }
        let sender = view.from.first().and_then(|m| m.domain());
        let hosts: Vec<(&str, &str)> = view
            .urls
            .iter()
            .filter_map(|u| u.host.as_deref().map(|h| (u.url.as_str(), h)))
            .collect();
        for (l, lure) in LURES.iter().enumerate() {
            if topics[l].is_empty() || pushes[l].is_empty() {
                continue;
            }
            let (strength, why): (f64, String) = if lure.own.is_empty() {
                // Invitations come from friends' own addresses: only the link can tell.
                match hosts.iter().find(|(url, h)| hides_destination(url, h)) {
                    Some((_, h)) => (1.0, format!("its link hides where it goes ({h})")),
                    None if !hosts.is_empty() => (0.4, "it links out".to_string()),
                    None => continue,
                }
            } else {
                let foreign_link = hosts.iter().find(|(_, h)| !is_own(h, lure.own));
                let sender_own = sender.as_deref().is_some_and(|d| is_own(d, lure.own));
                match (foreign_link, sender_own) {
                    (Some((_, h)), _) => (1.0, format!("it links outside the organisation ({h})")),
                    (None, false) => (
                        0.5,
                        format!(
                            "the sender ({}) is not the organisation",
                            sender.as_deref().unwrap_or("none")
                        ),
                    ),
                    (None, true) => continue,
                }
            };
            let strength = if about { strength.min(0.3) } else { strength };
            let words: Vec<&str> = topics[l]
                .iter()
                .chain(&pushes[l])
                .take(6)
                .copied()
                .collect();
            findings.add_with_strength(
                lure.symbol,
                strength,
                format!(
                    "{}; {why}{}",
                    words.join(", "),
                    if about {
                        "; the text is about phishing"
                    } else {
                        ""
                    }
                ),
                location.clone(),
            );
        }
    }
}

impl Detector for KoreanLures {
    fn name(&self) -> &'static str {
        "korean_lures"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        if let Some((text, location)) = korean_text(view) {
            self.check(view, &text, &location, findings);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mailmoat_mime::{Envelope, ViewOptions};

    fn symbols_of(from: &str, subject: &str, body: &str) -> Vec<(String, f64)> {
        let raw = format!(
            "From: {from}\r\nTo: a@corp.example\r\nSubject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
        );
        let view = MessageView::build(
            raw.into_bytes(),
            Envelope::default(),
            &ViewOptions::default(),
        );
        let mut f = Findings::new();
        Config::default().build().analyze(&view, &mut f);
        f.iter()
            .map(|e| (e.symbol.to_string(), e.strength))
            .collect()
    }

    #[test]
    fn a_parcel_held_for_a_wrong_address_linking_elsewhere_is_a_lure() {
        let hits = symbols_of(
            "CJ대한통운 <notice@cj-deliver.example>",
            "[CJ대한통운] 주소 불일치로 배송 보류",
            "고객님의 택배가 주소 불일치로 배송 보류 중입니다. 주소 확인: http://cj-deliver.example/a",
        );
        assert_eq!(hits, [("KR_LURE_PARCEL".to_string(), 1.0)]);
    }

    #[test]
    fn the_courier_own_notice_is_not() {
        assert!(symbols_of(
            "CJ대한통운 <noreply@cjlogistics.com>",
            "배송 보류 안내",
            "주소 확인이 필요합니다. https://www.cjlogistics.com/ko/tool/parcel/tracking",
        )
        .is_empty());
    }

    #[test]
    fn without_links_a_stranger_telling_the_story_counts_half() {
        let hits = symbols_of(
            "국세청 <refund@tax-help.example>",
            "종합소득세 환급금 미수령 안내",
            "미수령 환급금이 있습니다. 회신 주시면 환급 신청을 대행합니다.",
        );
        assert_eq!(hits, [("KR_LURE_TAX_REFUND".to_string(), 0.5)]);
    }

    #[test]
    fn invitations_count_by_what_their_link_hides() {
        let smishing = symbols_of(
            "김철수 <friend@mail.example>",
            "[부고] 부친상 알림",
            "삼가 고인의 명복을 빕니다. 부고장 확인 http://han.gl/abcd",
        );
        assert_eq!(smishing, [("KR_LURE_INVITATION".to_string(), 1.0)]);
        let plain = symbols_of(
            "김철수 <friend@mail.example>",
            "모바일 청첩장 보내드려요",
            "저희 결혼합니다. 모바일 청첩장 보기 https://card.wedding.example/kim",
        );
        assert_eq!(plain, [("KR_LURE_INVITATION".to_string(), 0.4)]);
    }

    #[test]
    fn warnings_about_phishing_are_capped_low() {
        let hits = symbols_of(
            "뉴스 <news@daily.example>",
            "택배 사칭 스미싱 주의",
            "'주소 불일치로 배송 보류' 문자는 택배 사칭 스미싱입니다. 자세히: https://daily.example/news/1",
        );
        assert_eq!(hits, [("KR_LURE_PARCEL".to_string(), 0.3)]);
    }
}
