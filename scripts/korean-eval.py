#!/usr/bin/env python3
"""Writes the synthetic Korean evaluation set for the Korean spam categories
(crates/detectors/src/korean_spam) to OUT/{spam,ham}/*.eml.

The messages were written after the detector's term lists were frozen and are not used to
write or tune them (the detector's own cases/ are). They are synthetic: written by the
developers to resemble the kinds of mail named in issue 24, not collected from real mailboxes,
and each category has only three spam messages. Half the spam uses a disguise. Measure with:

  python3 scripts/korean-eval.py target/korean-eval
  mailmoat scan target/korean-eval/spam target/korean-eval/phish target/korean-eval/ham
"""
import base64
import os
import sys
from email.header import Header

SPAM = [
    ("gambling", "해외 정식 라이센스 스포츠 배팅 최고 배당", "축구, 야구, 농구 최고 배당 보장.\n신규 가입 첫충 30%, 매일 매충 10% 지급.\n텔레그램 @bet_king 으로 가입 문의"),
    ("gambling", "슬롯사이트 추천 - 무료 스핀 이벤트", "프라그마틱 슬롯 전 게임 보유, 신규 회원 꽁머니 1만원 지급.\n환전 5분 이내, 카톡 상담 24시간."),
    ("gambling", "카 지 노 입 플 이벤트", "롤링 없는 환전, 카.지.노 입플 100% 진행 중.\n가입 코드 ＫＩＮＧ 입력하세요. 오픈 카톡 문의."),
    ("loan", "개인돈 급전 당일 가능", "급전 필요하신 분, 개인돈 소액부터 가능합니다.\n신용 조회 없이 당일 입금. 문자주세요 010-0000-0000"),
    ("loan", "[서민금융] 저신용자 대출 승인율 98%", "정부지원 서민대출 대행해 드립니다.\n저신용자 대출, 연체자 대출 모두 상담 가능. 카톡 ID loanhelp"),
    ("loan", "직장인 신용 무관 300만원", "직장인이면 누구나 대출 가능.\n신 용 무 관, 당.일 입.금 진행. 텔레그램 문의 주세요."),
    ("adult", "무료 화상채팅 지금 가입하세요", "외로운 밤, 무료 화상채팅으로 즉석만남까지.\n지금 가입하면 포인트 지급. 성인 인증 없이 바로 시작."),
    ("adult", "출장마사지 전지역 30분 도착", "서울 경기 전지역 출장마사지, 출장안마 30분 내 도착.\n오픈카톡으로 예약하세요."),
    ("adult", "19금 성인방송 무료 시청", "오늘 밤 벗방 무료 링크 공개.\n19금 성인방송 회원 가입 없이 시청 가능. 텔레그램 채널 입장."),
    ("drugs", "수면제 처방 없이 구매", "졸피뎀, 수면제 처방 없이 구매 가능합니다.\n익명 배송, 당일 발송. 텔레그램 @sleepwell"),
    ("drugs", "발기부전 치료제 1+1 행사", "정품 시알리스, 비아그라 1+1 행사 중.\n포장은 비밀 배송으로 안심하세요. 카톡 주문."),
    ("drugs", "다이어트약 처방전 없이 당일 배송", "병원 안 가도 됩니다. 다이어트약 처방전 없이 구매 가능.\n당일 배송, 최저가 보장. 카톡 문의."),
    ("investment", "코인 리딩방 무료 입장 안내", "세력주 정보와 코인 매매 타이밍을 알려드립니다.\n코인 리딩방 무료 입장, 오픈채팅 링크로 들어오세요."),
    ("investment", "주식 전문가 종목 추천", "20년 경력 전문가의 종목 추천, 수익 보장.\n주식 리딩 회원 모집 중. 오픈채팅 문의."),
    ("investment", "내일 상한가 종목 무료 공개", "급등주 포착! 내일 상한가 종목을 무료로 공개합니다.\n텔레그램 채널에서 확인하세요."),
    ("realestate", "확정 수익 연 8% 수익형 부동산", "역세권 오피스텔 회사보유분 선착순 공급.\n확정 수익 연 8%, 계약금 정액제. 카톡 상담."),
    ("realestate", "로얄층 잔여세대 특별분양", "대단지 아파트 로얄층 잔여세대 특별분양.\n계약금 정액제, 중도금 무이자. 문의 010-0000-0000"),
    ("realestate", "미분양 아파트 땡처리", "미분양 아파트 땡처리, 프리미엄 보장.\n전매 가능, 모델하우스 방문 예약은 카톡으로."),
    ("counterfeit", "명품 레플 시계 최저가", "명품 레플 시계 미러급 입고.\n최저가 판매, 카톡 주문 가능."),
    ("counterfeit", "S급 이미테이션 가방", "이미테이션 가방 S급 정품급 퀄리티.\n국내 배송, 카톡 문의 주세요."),
    ("counterfeit", "짝퉁 운동화 1:1 제작", "인기 운동화 짝퉁 1:1 제작 판매.\n텔레그램으로 주문하세요."),
]

# Phishing lures, written after the lure lists (crates/detectors/src/korean_lures) were frozen:
# (lure, sender, subject, body).
PHISH = [
    ("parcel", "delivery@epost-kr.example", "[우체국택배] 소포 배송 실패 안내", "운송장 번호 6123-4412-9912 소포가 수취인 부재로 배송 실패되었습니다.\n재배송 신청: http://epost-kr.example/redelivery"),
    ("parcel", "alert@hanjin-parcel.example", "통관 보류: 관세 납부 필요", "해외 직구 물품이 통관 보류 중입니다. 관세 납부 후 배송이 재개됩니다.\nhttp://bit.ly/3kR9xq"),
    ("tax", "nts@nts-service.example", "[홈택스] 근로장려금 환급 대상 안내", "근로장려금 환급 대상으로 확인되었습니다. 환급 신청 기한은 이번 주까지입니다.\nhttps://hometax-service.example/refund"),
    ("tax", "refund@tax-office.example", "세무서 연말정산 미수령 환급금 알림", "연말정산 미수령 환급금 412,000원이 있습니다. 환급 조회 후 계좌를 등록하세요.\nhttp://tax-office.example/check"),
    ("law", "cyber@police-report.example", "[경찰청 사이버수사대] 명의도용 사건 조회", "귀하 명의가 도용된 사건이 접수되었습니다. 사건번호 확인 후 수사 협조 바랍니다.\nhttp://police-report.example/case"),
    ("law", "notice@fss-alert.example", "[금융감독원] 계좌 동결 예정 통지", "금융감독원 조사 결과 귀하의 계좌가 범죄 연루로 계좌 동결 예정입니다.\n소명 자료 제출: https://fss-alert.example/form"),
    ("health", "info@nhis-kr.example", "건강보험 미환급금 조회 안내", "국민건강보험 미환급금이 확인되었습니다. 결과 조회 후 환급 받으세요.\nhttp://nhis-kr.example/refund"),
    ("health", "check@health-result.example", "[건강보험공단] 건강검진 결과 조회", "건강보험공단에서 발송한 건강검진 결과 조회 안내입니다.\n결과 조회: http://han.gl/Qw8e2"),
    ("subsidy", "gov@subsidy-center.example", "소상공인 지원 긴급지원금 대상자 확인", "소상공인 긴급지원금 대상자로 확인되었습니다. 미신청 시 지급이 취소됩니다.\n신청하기: http://subsidy-center.example"),
    ("subsidy", "help@relief-fund.example", "재난지원금 수령 안내", "재난지원금 수령 기한이 3일 남았습니다. 지급 대상 여부를 조회하기 바랍니다.\nhttp://me2.do/Fund77"),
    ("invitation", "minho.kim@mail.example", "[부고] 부친상 소식 전합니다", "부친께서 별세하셨기에 알려드립니다. 장례식장 안내는 부고장 링크를 확인해 주세요.\nhttp://vo.la/bugo12"),
    ("invitation", "sujin.lee@mail.example", "모바일 청첩장이 도착했습니다", "저희 두 사람 결혼합니다. 예식장 위치와 일정은 청첩장에서 확인하세요.\nhttp://203.0.113.77/card.apk"),
    ("account", "support@naver-help.example", "[네이버] 해외 로그인 차단 및 이용 제한", "네이버 계정에 해외 로그인 시도가 있어 이용이 제한되었습니다. 본인 확인을 진행하세요.\nhttps://naver-help.example/unlock"),
    ("account", "noreply@daum-mail.example", "한메일 휴면 계정 전환 예정", "다음 메일(한메일) 계정이 휴면 계정으로 전환될 예정입니다. 비밀번호 변경으로 유지하세요.\nhttp://daum-mail.example/keep"),
]

# Mail from the organisations the lures name, from their own domains: (sender, subject, body).
ORG_HAM = [
    ("noreply@cjlogistics.com", "[CJ대한통운] 상품 배송 예정 안내", "고객님의 상품이 오늘 오후 배송 예정입니다. 배송 조회: https://www.cjlogistics.com/ko/tool/parcel/tracking"),
    ("news@nhis.or.kr", "[국민건강보험] 올해 건강검진 대상 안내", "올해 건강검진 대상자입니다. 검진 기관과 일정은 https://www.nhis.or.kr 에서 확인하세요."),
    ("hometax@nts.go.kr", "[국세청] 종합소득세 신고 안내", "5월은 종합소득세 신고 기간입니다. 신고는 https://www.hometax.go.kr 에서 하실 수 있습니다."),
    ("noreply@kakaocorp.com", "[카카오] 서비스 이용약관 변경 안내", "카카오 서비스 이용약관이 4월 1일부터 변경됩니다. 자세한 내용: https://www.kakao.com/policy"),
    ("friend.choi@mail.example", "[부고] 조모상을 알려드립니다", "조모께서 별세하셨습니다. 장례식장은 서울대병원 장례식장 3호실입니다. 조용히 보내드리려 합니다."),
]

HAM = [
    ("은행 대출 만기 안내", "고객님의 전세자금대출 만기가 2023년 5월 31일입니다.\n연장 또는 상환을 원하시면 영업점이나 인터넷뱅킹에서 신청해 주세요."),
    ("카드 이용대금 명세서", "3월 카드 이용대금 명세서를 보내드립니다.\n이용 한도와 현금서비스 금리는 명세서 하단에서 확인하실 수 있습니다."),
    ("[금융감독원] 불법 사금융 주의 안내", "최근 '무직자 대출', '당일 승인'을 내세운 불법 대출 광고 문자가 늘고 있습니다.\n등록되지 않은 업체의 대출 권유는 불법이며 피해가 발생하면 경찰에 신고해 주시기 바랍니다."),
    ("[경찰청] 불법 도박 사이트 단속 결과", "경찰청은 불법 토토사이트와 온라인카지노 운영자 35명을 검거했다.\n도박 중독 예방을 위한 상담센터 이용도 당부했다."),
    ("리조트 봄 시즌 객실 안내", "봄 시즌을 맞아 리조트 객실과 스파 패키지를 안내드립니다.\n카지노 이용 시 만 19세 이상 신분증을 지참해 주세요."),
    ("스포츠토토 회차 결과 안내", "이번 회차 축구 승무패 결과를 알려드립니다.\n구매는 공식 판매점과 공식 사이트에서만 가능합니다."),
    ("약국 복약 안내", "처방받으신 수면제는 취침 직전에 복용하시고, 임의로 용량을 늘리지 마세요.\n복용 중 이상 반응이 있으면 약사와 상담하세요."),
    ("병원 건강검진 예약 확인", "건강검진 예약이 3월 20일 오전 9시로 확정되었습니다.\n전날 밤 9시 이후 금식해 주세요."),
    ("[부동산] 관심 지역 매물 안내", "요청하신 지역의 아파트 전세 및 매매 매물을 안내드립니다.\n방문 상담을 원하시면 사무소로 연락 주세요. 공인중개사 김OO"),
    ("[LH] 공공분양 입주자 모집 공고", "공공분양 아파트 입주자 모집 공고를 안내드립니다.\n청약 자격과 일정은 첨부된 공고문을 확인하시기 바랍니다."),
    ("패션 매거진 3월호", "올봄 명품 가방 트렌드와 시계 브랜드 신제품을 소개합니다.\n스타일링 팁은 매거진 본문에서 확인하세요."),
    ("[뉴스] 리딩방 투자 사기 주의보", "금융당국은 리딩방을 통한 투자 사기 피해가 늘고 있다며 주의를 당부했다.\n원금 보장이나 수익 보장을 약속하는 권유는 불법일 가능성이 높다고 경찰은 밝혔다."),
    ("[증권] 투자유의 종목 지정 안내", "아래 종목이 투자유의 종목으로 지정되었습니다.\n투자 시 공시 내용을 반드시 확인하시기 바랍니다."),
    ("[거래소] 코인 입출금 점검 안내", "시스템 점검으로 3월 12일 02시부터 04시까지 일부 코인 입출금이 중단됩니다.\n이용에 불편을 드려 죄송합니다."),
    ("[관세청] 위조 상품 단속 결과", "관세청은 해외 직구로 들여온 짝퉁 명품 가방과 시계 1만 점을 적발했다.\n위조 상품 구매도 피해로 이어질 수 있어 주의가 필요하다."),
    ("회의 일정 변경", "팀장님, 내일 오전 회의를 오후 2시로 옮겨도 될까요?\n자료는 오늘 중으로 공유드리겠습니다."),
    ("견적서 송부", "요청하신 사무용품 견적서를 첨부합니다.\n수량 변경이 필요하시면 회신 부탁드립니다."),
    ("가족 여행 계획", "엄마, 이번 여름 제주도 여행 일정 정리해 봤어요.\n항공권은 다음 주에 예약할게요."),
    ("[학교] 학부모 상담 주간 안내", "3월 넷째 주는 학부모 상담 주간입니다.\n상담 희망 시간을 알림장으로 알려 주세요."),
    ("[택배] 배송 완료 안내", "주문하신 상품이 문 앞에 배송 완료되었습니다.\n배송 관련 문의는 고객센터로 연락해 주세요."),
    ("(광고) 온라인 서점 봄맞이 할인", "봄맞이 도서 할인전이 시작되었습니다.\n베스트셀러 최대 30% 할인, 무료 배송.\n수신거부는 하단 링크를 눌러 주세요."),
    ("결혼정보회사 회원 안내", "회원님께 맞는 만남 프로그램을 안내드립니다.\n상담은 본사 매니저가 진행하며, 개인정보는 안전하게 관리됩니다."),
    ("동호회 정기 모임 안내", "이번 달 등산 동호회 정기 모임은 토요일 오전 8시입니다.\n단체 채팅방에서 참석 여부를 알려 주세요."),
    ("[인사팀] 급여 명세서 발송", "3월 급여 명세서를 발송했습니다.\n연말정산 환급금은 급여와 함께 입금됩니다."),
]


def write(path, subject, body, i, charset, sender=None):
    sender = sender or f"news@sender{i}.example"
    subj = Header(subject, charset).encode()
    payload = base64.encodebytes(body.encode(charset)).decode()
    text = (
        f"Received: from mail{i}.sender.example (mail{i}.sender.example [198.51.100.{i % 250 + 1}]) "
        "by mx.corp.example with ESMTPS; Tue, 14 Mar 2023 11:00:05 +0900\n"
        f"Return-Path: <{sender}>\n"
        f"From: {Header('발신자', charset).encode()} <{sender}>\n"
        f"To: {Header('김민수', charset).encode()} <minsu@corp.example>\n"
        f"Subject: {subj}\n"
        "Date: Tue, 14 Mar 2023 11:00:00 +0900\n"
        f"Message-ID: <eval{i}@sender{i}.example>\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: text/plain; charset={charset}\n"
        "Content-Transfer-Encoding: base64\n\n" + payload
    )
    with open(path, "w", encoding="ascii") as f:
        f.write(text)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "target/korean-eval"
    for kind in ("spam", "ham", "phish"):
        os.makedirs(os.path.join(out, kind), exist_ok=True)
    for i, (category, subject, body) in enumerate(SPAM):
        # Every other message in EUC-KR, as much Korean mail still is.
        charset = "euc-kr" if i % 2 else "utf-8"
        write(os.path.join(out, "spam", f"{i:02}-{category}.eml"), subject, body, i, charset)
    for i, (subject, body) in enumerate(HAM):
        charset = "euc-kr" if i % 2 else "utf-8"
        write(os.path.join(out, "ham", f"{i:02}.eml"), subject, body, 100 + i, charset)
    for i, (lure, sender, subject, body) in enumerate(PHISH):
        charset = "euc-kr" if i % 2 else "utf-8"
        write(os.path.join(out, "phish", f"{i:02}-{lure}.eml"), subject, body, 200 + i, charset, sender)
    for i, (sender, subject, body) in enumerate(ORG_HAM):
        charset = "euc-kr" if i % 2 else "utf-8"
        write(os.path.join(out, "ham", f"org{i:02}.eml"), subject, body, 300 + i, charset, sender)
    print(f"{len(SPAM)} spam, {len(PHISH)} phishing and {len(HAM) + len(ORG_HAM)} ham in {out}")


if __name__ == "__main__":
    main()
