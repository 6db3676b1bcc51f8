//! Korean illegal-spam categories, after KISA's (한국인터넷진흥원) list of illegal spam:
//! gambling, loans, adult services, drugs and medicine, stock and coin "리딩방" rooms, real
//! estate, counterfeit goods. One symbol per category, with the words that matched.
//!
//! The text is read as a reader sees it, not as the bytes spell it: NFKC (full-width forms,
//! compatibility jamo "ㅌㅗㅌㅗ" composed into "토토"), invisible characters dropped, and runs of
//! single syllables cut apart by spaces, dots or symbols ("바.카.라", "토 토") joined again.
//! Words are matched inside words (Korean attaches particles: "바카라에서") but never across
//! a word boundary, so "시급 전환" is not "급전".
//!
//! A category counts its distinct strong terms (words ads use and notices do not: "먹튀",
//! "무직자대출"), its weak terms (words both use: "대출", "금리"; three are needed, and a
//! solicitation cue) and solicitation cues (messenger handles, sign-up codes). Text that reads
//! as news or a warning (arrests, addiction, prevention) and solicits nothing counts at most
//! half.

use aho_corasick::{AhoCorasick, MatchKind};
use mailmoat_core::{Category, Findings, Location, SymbolDef};
use mailmoat_mime::MessageView;
use serde::Deserialize;
use unicode_normalization::UnicodeNormalization;

use crate::Detector;

pub const SYMBOLS: &[SymbolDef] = &[
    SymbolDef::new("KR_SPAM_GAMBLING", "korean", Category::Spam, 6.0, "Korean illegal gambling advertising (KISA category): casino, toto and betting-site words such as 바카라, 먹튀, 안전놀이터, 꽁머니, matched on text with disguises undone (\"바.카.라\", \"ㅌㅗㅌㅗ\")."),
    SymbolDef::new("KR_SPAM_LOAN", "korean", Category::Spam, 6.0, "Korean illegal or unregistered lending advertising (KISA category): 무직자대출, 당일승인, 급전, 신용불량자 loans; a bank's loan notice uses the shared words only and does not count."),
    SymbolDef::new("KR_SPAM_ADULT", "korean", Category::Spam, 6.0, "Korean adult-service and obscene advertising (KISA category): 조건만남, 출장안마, 애인대행 and the like."),
    SymbolDef::new("KR_SPAM_DRUGS", "korean", Category::Spam, 6.0, "Korean advertising of prescription drugs and narcotics without prescription (KISA category): 비아그라, 시알리스, 졸피뎀, 처방전 없이, 비밀배송."),
    SymbolDef::new("KR_SPAM_INVESTMENT", "korean", Category::Spam, 6.0, "Korean stock and coin \"리딩방\" investment-room advertising (KISA category): 리딩방, 급등주, 수익보장, 원금보장."),
    SymbolDef::new("KR_SPAM_REALESTATE", "korean", Category::Spam, 6.0, "Korean real-estate sales spam (KISA category): 미분양, 회사보유분, 잔여세대, 확정수익 and the like with a solicitation."),
    SymbolDef::new("KR_SPAM_COUNTERFEIT", "korean", Category::Spam, 6.0, "Korean counterfeit-goods advertising (KISA category): 레플리카, 짝퉁, 미러급, 정품급, 홍콩명품."),
];

/// `[detectors.korean_spam]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    /// Hangul syllables a text needs before it is read (a stray Korean word in English mail is
    /// not Korean mail).
    pub min_hangul: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enabled: true,
            min_hangul: 10,
        }
    }
}

struct CategoryTerms {
    symbol: &'static str,
    /// Words that advertisements of this kind use and legitimate mail about the subject does not.
    strong: &'static [&'static str],
    /// Words both use: they count only three at a time, with a solicitation cue.
    weak: &'static [&'static str],
}

/// Terms as they are written; a term with a space also matches with the space left out.
#[rustfmt::skip]
const CATEGORIES: &[CategoryTerms] = &[
    CategoryTerms {
        symbol: "KR_SPAM_GAMBLING",
        strong: &[
            "바카라", "먹튀", "꽁머니", "안전놀이터", "메이저놀이터", "토토사이트", "사설토토", "카지노사이트", "온라인카지노", "라이브카지노",
            "에볼루션카지노", "슬롯사이트", "가입머니", "매충", "입플", "승인전화 없는", "파워볼사이트", "홀덤사이트", "첫충",
            // Arcade "reel games", the other half of Korean gambling spam (web-board spam of
            // 2025 still reads "바다이야기 릴게임 황금성게임 오션파라다이스").
            "릴게임", "바다이야기", "오션파라다이스", "황금성게임", "야마토게임",
        ],
        weak: &[
            "카지노", "토토", "배팅", "베팅", "환전", "롤링", "충전", "보너스", "슬롯", "파워볼", "놀이터", "스포츠",
            "슬롯머신", "잭팟", "무료충전",
        ],
    },
    CategoryTerms {
        symbol: "KR_SPAM_LOAN",
        strong: &[
            "무직자 대출", "무직자도 대출", "당일 대출", "당일 승인", "당일 입금", "신불자 대출", "신용불량자 대출", "연체자 대출",
            "저신용자 대출", "무방문 대출", "무서류 대출", "급전", "일수 대출", "작업 대출", "개인돈", "누구나 대출", "신용등급 무관",
            "신용 무관", "승인율", "무직자 가능", "연체자 가능",
        ],
        weak: &[
            "대출", "승인", "한도", "금리", "당일", "무직자", "저금리", "입금", "신용", "상환",
        ],
    },
    CategoryTerms {
        symbol: "KR_SPAM_ADULT",
        strong: &[
            "조건만남", "애인대행", "출장안마", "출장마사지", "즉석만남", "원나잇", "야동", "성인방송", "무료야동", "폰팅", "유부녀 만남",
            "섹파", "벗방",
        ],
        weak: &[
            "만남", "성인", "채팅", "19금", "무료", "화끈", "외로운", "은밀",
        ],
    },
    CategoryTerms {
        symbol: "KR_SPAM_DRUGS",
        strong: &[
            "비아그라", "시알리스", "레비트라", "필로폰", "케타민", "졸피뎀", "처방전 없이", "처방 없이", "비밀 배송", "익명 배송",
            "발기부전 치료제", "정품 비아그라", "엑스터시",
        ],
        weak: &[
            "정품", "최저가", "발기부전", "조루", "성기능", "당일 배송", "수면제", "다이어트약",
        ],
    },
    CategoryTerms {
        symbol: "KR_SPAM_INVESTMENT",
        strong: &[
            "리딩방", "무료 리딩", "코인 리딩", "주식 리딩", "급등주", "세력주", "작전주", "수익 보장", "원금 보장", "상한가 종목",
            "무료 체험방", "종목 추천",
        ],
        weak: &[
            "수익률", "종목", "코인", "주식", "급등", "수익", "투자", "단톡방",
        ],
    },
    CategoryTerms {
        symbol: "KR_SPAM_REALESTATE",
        strong: &[
            "미분양", "회사보유분", "잔여세대", "특별분양", "선착순 분양", "계약금 정액제", "중도금 무이자", "확정 수익", "프리미엄 보장",
            "수익형 부동산", "로얄층",
        ],
        weak: &[
            "분양", "아파트", "오피스텔", "상가", "모델하우스", "입주", "투자", "수익", "역세권",
        ],
    },
    CategoryTerms {
        symbol: "KR_SPAM_COUNTERFEIT",
        strong: &[
            "레플리카", "이미테이션", "짝퉁", "미러급", "정품급", "홍콩명품", "명품 레플",
        ],
        weak: &["명품", "가방", "시계", "최저가", "지갑", "정품", "s급"],
    },
];

/// Solicitation: how such ads ask to be answered. A bank's or a newspaper's mail has none.
#[rustfmt::skip]
const CUES: &[&str] = &[
    "텔레그램", "telegram", "t.me", "카톡", "카카오톡 id", "카카오톡 아이디", "오픈채팅", "오픈 카톡", "가입코드", "가입 코드",
    "추천코드", "추천인 코드", "문자 주세요", "지금 가입",
];

/// News, warnings and help: text about the subject rather than selling it.
#[rustfmt::skip]
const ABOUT: &[&str] = &[
    "중독", "예방", "단속", "검거", "혐의", "기소", "처벌", "피해", "주의", "경찰", "기자", "보도", "상담센터", "치료", "신고",
    "불법",
];

/// What one pattern of the automaton stands for.
#[derive(Clone, Copy)]
enum Term {
    Strong(usize, usize),
    Weak(usize, usize),
    Cue,
    About(usize),
}

pub struct KoreanSpam {
    config: Config,
    terms: TermSet<Term>,
}

impl Config {
    pub fn build(&self) -> KoreanSpam {
        let mut set = TermSet::default();
        for (c, category) in CATEGORIES.iter().enumerate() {
            for (i, w) in category.strong.iter().enumerate() {
                set.push(w, Term::Strong(c, i));
            }
            for (i, w) in category.weak.iter().enumerate() {
                set.push(w, Term::Weak(c, i));
            }
        }
        for w in CUES {
            set.push(w, Term::Cue);
        }
        for (i, w) in ABOUT.iter().enumerate() {
            set.push(w, Term::About(i));
        }
        KoreanSpam {
            config: self.clone(),
            terms: set.build(),
        }
    }
}

/// Korean terms of one detector in one Aho-Corasick automaton, each found as written and with
/// its spaces left out ("무직자 대출", "무직자대출"); a word may stand in several lists.
pub(crate) struct TermSet<T> {
    patterns: Vec<String>,
    terms: Vec<T>,
    words: Vec<&'static str>,
    automaton: Option<AhoCorasick>,
}

impl<T> Default for TermSet<T> {
    fn default() -> Self {
        TermSet {
            patterns: Vec::new(),
            terms: Vec::new(),
            words: Vec::new(),
            automaton: None,
        }
    }
}

impl<T: Copy> TermSet<T> {
    pub(crate) fn push(&mut self, text: &'static str, term: T) {
        let lower = text.to_lowercase();
        let compact: String = lower.chars().filter(|c| *c != ' ').collect();
        let forms = if compact == lower {
            vec![lower]
        } else {
            vec![lower, compact]
        };
        for form in forms {
            self.patterns.push(form);
            self.terms.push(term);
            self.words.push(text);
        }
    }

    pub(crate) fn build(mut self) -> Self {
        self.automaton = Some(
            AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&self.patterns)
                .expect("a Korean term list compiles"),
        );
        self
    }

    /// Every term found in already normalised text, with the word as listed.
    pub(crate) fn find<'a>(
        &'a self,
        normal: &'a str,
    ) -> impl Iterator<Item = (T, &'static str)> + 'a {
        self.automaton
            .iter()
            .flat_map(move |a| a.find_overlapping_iter(normal))
            .map(|m| (self.terms[m.pattern().as_usize()], self.words[m.pattern().as_usize()]))
    }
}

/// The subject and the Korean texts of a message, read together (an ad often names its
/// subject in one and its solicitation in the other), and where the evidence points: the first
/// Korean text, else the subject. `None` when nothing is in Hangul.
pub(crate) fn korean_text(view: &MessageView) -> Option<(String, Location)> {
    let korean: Vec<_> = view
        .texts
        .iter()
        .filter(|t| t.text.chars().any(is_hangul_syllable))
        .collect();
    let subject = view.subject.clone().unwrap_or_default();
    if korean.is_empty() && !subject.chars().any(is_hangul_syllable) {
        return None;
    }
    let mut text = subject;
    for t in &korean {
        text.push('\n');
        text.extend(t.text.chars().take(20_000));
    }
    let location = korean
        .first()
        .map_or_else(|| Location::new("header Subject"), |t| t.location.clone());
    Some((text, location))
}

pub(crate) fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{034F}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}'
    )
}

/// The text as a reader takes it in: look-alikes beside loose jamo read as jamo ("ㅋr지노"),
/// NFKC, lower case, invisible characters dropped, words
/// separated by one space, and runs of single syllables cut apart by separators joined into
/// one word ("바.카.라" and "토 토" become "바카라" and "토토").
pub fn normalise(text: &str) -> String {
    let folded: String = crate::hangul::undo_jamo_look_alikes(text)
        .nfkc()
        .filter(|&c| !is_invisible(c))
        .flat_map(char::to_lowercase)
        .collect();
    let mut out = String::with_capacity(folded.len());
    let mut last_single = false;
    for word in folded.split(|c: char| !(c.is_alphanumeric() || matches!(c, ':' | '.' | '-'))) {
        // Keep ':', '.' and '-' inside words ("1:1", "t.me", "010-"), not around them.
        let word = word.trim_matches(|c| matches!(c, ':' | '.' | '-'));
        if word.is_empty() {
            continue;
        }
        // Inside Hangul, dots and dashes are separators ("바.카.라", "토-토").
        let pieces: Vec<&str> = if word.chars().any(is_hangul_syllable) {
            word.split(['.', '-', ':'])
                .filter(|p| !p.is_empty())
                .collect()
        } else {
            vec![word]
        };
        for piece in pieces {
            let single = piece.chars().count() == 1 && piece.chars().all(is_hangul_syllable);
            if !(out.is_empty() || single && last_single) {
                out.push(' ');
            }
            out.push_str(piece);
            last_single = single;
        }
    }
    out
}

#[derive(Default)]
struct Tally {
    strong: Vec<usize>,
    weak: Vec<usize>,
    words: Vec<&'static str>,
}

impl KoreanSpam {
    fn check(&self, text: &str, location: &Location, findings: &mut Findings) {
        let hangul = text.chars().filter(|c| is_hangul_syllable(*c)).count();
        if hangul < self.config.min_hangul {
            return;
        }
        let normal = normalise(text);
        let mut tallies: Vec<Tally> = (0..CATEGORIES.len()).map(|_| Tally::default()).collect();
        let (mut cues, mut about) = (0usize, Vec::new());
        for (term, word) in self.terms.find(&normal) {
            match term {
                Term::Strong(c, i) if !tallies[c].strong.contains(&i) => {
                    tallies[c].strong.push(i);
                    tallies[c].words.push(word);
                }
                Term::Weak(c, i) if !tallies[c].weak.contains(&i) => {
                    tallies[c].weak.push(i);
                    tallies[c].words.push(word);
                }
                Term::Cue => cues += 1,
                Term::About(i) if !about.contains(&i) => about.push(i),
                _ => {}
            }
        }
        for (category, tally) in CATEGORIES.iter().zip(&tallies) {
            let (strong, weak) = (tally.strong.len(), tally.weak.len());
            if strong == 0 && !(weak >= 3 && cues > 0) {
                continue;
            }
            let weight = strong as f64 + weak as f64 / 3.0 + if cues > 0 { 0.5 } else { 0.0 };
            // A warning or a news story names many of the words and solicits nothing: it is
            // reported, and never enough alone to tag.
            let reads_as_news = cues == 0 && about.len() >= 2;
            let cap = if reads_as_news { 0.5 } else { 1.0 };
            let strength = (0.25 + 0.5 * weight).min(cap);
            let shown: Vec<&str> = tally.words.iter().take(6).copied().collect();
            findings.add_with_strength(
                category.symbol,
                strength,
                format!(
                    "{strong} strong and {weak} shared term(s): {}{}{}",
                    shown.join(", "),
                    if cues > 0 {
                        format!("; {cues} solicitation cue(s)")
                    } else {
                        String::new()
                    },
                    if reads_as_news {
                        "; reads as news or a warning"
                    } else {
                        ""
                    }
                ),
                location.clone(),
            );
        }
    }
}

impl Detector for KoreanSpam {
    fn name(&self) -> &'static str {
        "korean_spam"
    }

    fn analyze(&self, view: &MessageView, findings: &mut Findings) {
        if let Some((text, location)) = korean_text(view) {
            self.check(&text, &location, findings);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn symbols_of(text: &str) -> Vec<String> {
        let d = Config::default().build();
        let mut f = Findings::new();
        d.check(text, &Location::message(), &mut f);
        f.iter().map(|e| e.symbol.to_string()).collect()
    }

    #[test]
    fn disguises_are_undone_before_matching() {
        assert_eq!(normalise("바.카.라 하실 분"), "바카라 하실 분");
        assert_eq!(normalise("토 토 사이트"), "토토 사이트");
        assert_eq!(normalise("ㅌㅗㅌㅗ"), "토토");
        assert_eq!(normalise("먹\u{200b}튀 검증"), "먹튀 검증");
        assert_eq!(normalise("ＶＩＰ 리딩방"), "vip 리딩방");
        assert_eq!(normalise("1:1 상담, t.me/abc"), "1:1 상담 t.me abc");
        assert_eq!(normalise("토-토 카.지.노"), "토토카지노");
        assert_eq!(normalise("ㅋr지노 ㅂr카라"), "카지노 바카라");
    }

    #[test]
    fn terms_match_inside_words_but_not_across_them() {
        let ad = "안전놀이터 추천합니다. 바카라에서 첫충 20% 드립니다. 가입코드 777, 텔레그램 문의";
        assert_eq!(symbols_of(ad), ["KR_SPAM_GAMBLING"]);
        // "시급 전환" is not "급전"; a job notice with pay words is no loan ad.
        assert!(symbols_of(
            "아르바이트 시급 전환 안내입니다. 다음 달부터 정규직 전환 시 급여가 조정됩니다."
        )
        .is_empty());
    }

    #[test]
    fn shared_words_alone_do_not_count() {
        // A bank's notice: 대출, 금리, 한도, 상환 but nothing an illegal lender writes.
        assert!(symbols_of("고객님의 대출 금리가 변경되었습니다. 대출 한도와 상환 일정은 인터넷뱅킹에서 확인하실 수 있습니다.").is_empty());
        // The same words with a messenger handle are a loan ad.
        assert_eq!(
            symbols_of("저금리 대출 한도 최대, 당일 입금 가능합니다. 카톡 문의 주세요"),
            ["KR_SPAM_LOAN"]
        );
    }

    #[test]
    fn news_about_the_subject_counts_at_most_half() {
        let d = Config::default().build();
        let mut f = Findings::new();
        d.check(
            "경찰은 불법 바카라 사이트를 운영한 일당을 검거했다고 밝혔다. 도박 중독 예방 상담센터는 1336이다.",
            &Location::message(),
            &mut f,
        );
        let hit = f.iter().next().expect("the word is still reported");
        assert!(hit.strength <= 0.5, "{}", hit.strength);
        assert!(hit.details.contains("reads as news"), "{}", hit.details);
    }

    #[test]
    fn english_mail_and_short_korean_are_not_read() {
        assert!(symbols_of("Cheap viagra casino bonus now").is_empty());
        assert!(symbols_of("바카라").is_empty(), "under min_hangul");
    }
}
