use super::*;
use crate::ProblemKind;

fn view(raw: &str) -> MessageView {
    MessageView::build(
        raw.as_bytes().to_vec(),
        Envelope::default(),
        &ViewOptions::default(),
    )
}

fn view_bytes(raw: &[u8]) -> MessageView {
    MessageView::build(raw.to_vec(), Envelope::default(), &ViewOptions::default())
}

#[test]
fn encoded_words_in_many_charsets_are_decoded() {
    let cases = [
        ("=?UTF-8?B?7JWI64WV?=", "안녕"),
        ("=?EUC-KR?B?KLGksO0pIMavsKEgx9LAzg==?=", "(광고) 특가 할인"),
        ("=?ks_c_5601-1987?B?vsiz58fPvLy/5A==?=", "안녕하세요"),
        // 똠 is outside EUC-KR proper: CP949 (UHC) only.
        ("=?cp949?B?jGO55rCix88=?=", "똠방각하"),
        ("=?ISO-2022-KR?B?GyQpQw4+SDNnR088PD9kDw==?=", "안녕하세요"),
        ("=?ISO-8859-2?Q?Za=BF=F3=B3=E6?=", "Zażółć"),
        ("=?Shift_JIS?B?grGC8YLJgr+CzQ==?=", "こんにちは"),
    ];
    for (word, expected) in cases {
        let v = view(&format!(
            "From: a@b.example\r\nSubject: {word}\r\nX-Note: {word}\r\n\r\nbody\r\n"
        ));
        assert_eq!(v.subject.as_deref(), Some(expected), "{word}");
        let note = v.header("X-Note").unwrap();
        assert_eq!(note.decoded, expected, "{word}");
        assert_eq!(note.raw, word);
    }
}

#[test]
fn bodies_in_korean_charsets_are_decoded() {
    let euc = b"From: a@b.example\r\nContent-Type: text/plain; charset=ks_c_5601-1987\r\n\r\n\xbe\xc8\xb3\xe7\xc7\xcf\xbc\xbc\xbf\xe4\r\n";
    assert_eq!(view_bytes(euc).texts[0].text.trim(), "안녕하세요");
    let iso = b"From: a@b.example\r\nContent-Type: text/plain; charset=ISO-2022-KR\r\n\r\n\x1b$)C\r\n\x0e\x3e\x48\x33\x67\x0f hi\r\n";
    assert_eq!(view_bytes(iso).texts[0].text.trim(), "안녕 hi");
}

#[test]
fn addresses_keep_display_names() {
    let v = view("From: \"=?UTF-8?B?7ZmN6ri464+Z?=\" <hong@corp.example>\r\nTo: bare@corp.example, Kim <kim@corp.example>\r\nReply-To: <no-reply@x.example>\r\n\r\nx");
    assert_eq!(v.from[0].name.as_deref(), Some("홍길동"));
    assert_eq!(v.from[0].domain().as_deref(), Some("corp.example"));
    assert!(!v.to[0].has_display_name());
    assert_eq!(v.to[1].name.as_deref(), Some("Kim"));
    assert_eq!(v.reply_to[0].local_part(), Some("no-reply"));
}

#[test]
fn received_chain_finds_the_first_external_hop() {
    let raw = concat!(
        "Received: from mx.corp.example (mx.corp.example [10.0.0.5]) by mail.corp.example with ESMTP; Mon, 2 Jan 2023 10:00:02 +0000\r\n",
        "Received: from sender.example (HELO spoofed.example) (203.0.113.9) by mx.corp.example with ESMTPS; Mon, 2 Jan 2023 10:00:01 +0000\r\n",
        "Received: from internal.sender (192.168.1.4) by sender.example; Mon, 2 Jan 2023 10:00:00 +0000\r\n",
        "From: a@sender.example\r\n\r\nhi\r\n"
    );
    let v = view(raw);
    assert_eq!(v.received.len(), 3);
    let hop = v.first_external_hop().expect("external hop");
    assert_eq!(hop.from_ip, Some("203.0.113.9".parse().unwrap()));
    assert_eq!(v.external_hop, Some(1));
    assert!(hop.helo.is_some());
    assert_eq!(v.client_ip(), Some("203.0.113.9".parse().unwrap()));
    assert!(v.reference_time().is_some());

    let trusted = ViewOptions {
        trusted_networks: vec!["203.0.113.0/24".parse().unwrap()],
        ..Default::default()
    };
    let v = MessageView::build(raw.as_bytes().to_vec(), Envelope::default(), &trusted);
    assert_eq!(v.external_hop, None);
}

const MULTIPART: &str = concat!(
    "From: a@b.example\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n",
    "--outer\r\nContent-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n",
    "--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, see www.plain.example/a\r\n",
    "--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n",
    "<p>Hello <a href=\"http://evil.example/x\">https://bank.example</a></p><div style=\"display:none\">cheap pills</div>\r\n",
    "--alt--\r\n",
    "--outer\r\nContent-Type: application/zip; name=\"invoice.zip\"\r\nContent-Disposition: attachment; filename=\"invoice.zip\"\r\nContent-Transfer-Encoding: base64\r\n\r\nUEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\r\n",
    "--outer\r\nContent-Type: message/rfc822\r\nContent-Disposition: attachment; filename=\"fwd.eml\"\r\n\r\n",
    "From: inner@c.example\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=\"in\"\r\n\r\n",
    "--in\r\nContent-Type: text/plain\r\n\r\nInner text http://inner.example/\r\n",
    "--in\r\nContent-Type: application/octet-stream; name=\"payload.exe\"\r\nContent-Disposition: attachment; filename=\"payload.exe\"\r\n\r\nMZ\r\n",
    "--in--\r\n",
    "--outer--\r\n",
);

#[test]
fn multipart_tree_texts_urls_and_attachments_with_locations() {
    let v = view(MULTIPART);
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    let kinds: Vec<(TextKind, String)> = v
        .texts
        .iter()
        .map(|t| (t.kind, t.location.to_string()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (TextKind::Plain, "body text/plain".to_string()),
            (TextKind::Html, "body text/html".to_string()),
            (
                TextKind::Plain,
                "attachment fwd.eml > body text/plain".to_string()
            ),
        ]
    );
    assert_eq!(v.texts[0].alternative_group, v.texts[1].alternative_group);
    assert!(v.texts[0].alternative_group.is_some());
    assert_eq!(v.texts[1].text, "Hello https://bank.example");
    assert_eq!(v.texts[1].hidden_text, "cheap pills");

    let link = v.urls.iter().find(|u| u.source == UrlSource::Href).unwrap();
    assert_eq!(link.url, "http://evil.example/x");
    assert_eq!(link.host.as_deref(), Some("evil.example"));
    assert_eq!(link.anchor_text.as_deref(), Some("https://bank.example"));
    assert!(v
        .urls
        .iter()
        .any(|u| u.url == "www.plain.example/a" && u.source == UrlSource::Text));
    let inner = v
        .urls
        .iter()
        .find(|u| u.url == "http://inner.example/")
        .unwrap();
    assert_eq!(
        inner.location.to_string(),
        "attachment fwd.eml > body text/plain"
    );

    let names: Vec<String> = v
        .attachments
        .iter()
        .map(|a| a.location.to_string())
        .collect();
    assert_eq!(
        names,
        vec![
            "attachment invoice.zip",
            "attachment fwd.eml",
            "attachment fwd.eml > payload.exe"
        ]
    );
    assert_eq!(v.attachments[0].content_type, "application/zip");
    assert_eq!(v.attachments[0].size, 22);
    assert_eq!(v.embedded_messages[0].subject.as_deref(), Some("inner"));
    assert_eq!(v.max_depth, 4);
}

#[test]
fn unclosed_boundary_and_missing_boundary_are_problems_not_losses() {
    let v = view("From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nstill here\r\n");
    assert!(
        v.problems.iter().any(|p| p.kind == ProblemKind::BadMime),
        "{:?}",
        v.problems
    );
    assert!(v.texts.iter().any(|t| t.text.contains("still here")));

    let v =
        view("From: a@b.example\r\nContent-Type: multipart/mixed\r\n\r\nno boundary at all\r\n");
    assert!(
        v.problems.iter().any(|p| p.kind == ProblemKind::BadMime),
        "{:?}",
        v.problems
    );
    assert!(
        v.texts.iter().any(|t| t.text.contains("no boundary"))
            || v.attachments
                .iter()
                .any(|a| a.data.windows(11).any(|w| w == b"no boundary"))
    );
}

#[test]
fn damaged_headers_and_bad_base64_are_recorded() {
    let v = view("From: a@b.example\r\nthis line is not a header\r\nSubject: x\r\n\r\nbody");
    assert!(
        v.problems.iter().any(|p| p.kind == ProblemKind::BadHeader),
        "{:?}",
        v.problems
    );
    let v = view("From: a@b.example\r\nContent-Type: text/plain; charset=x-martian\r\n\r\nbody");
    assert!(v
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::UnknownCharset));
}

#[test]
fn garbage_never_panics_and_keeps_the_bytes() {
    let mut inputs: Vec<Vec<u8>> = vec![
        Vec::new(),
        b"\r\n\r\n".to_vec(),
        b"\x00\x01\x02\xff\xfe".to_vec(),
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n--x\r\n--x--".to_vec(),
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n".to_vec(),
        "Subject: =?utf-8?B?????=\r\n\r\n".as_bytes().to_vec(),
    ];
    let mut deep = String::new();
    for i in 0..200 {
        deep.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    inputs.push(deep.into_bytes());
    let mut nested_msg = String::new();
    for _ in 0..100 {
        nested_msg.push_str("Content-Type: message/rfc822\r\n\r\n");
    }
    inputs.push(nested_msg.into_bytes());
    for input in inputs {
        let v = view_bytes(&input);
        assert_eq!(v.raw, input);
    }
    let v = view_bytes(b"");
    assert!(v
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::Unparseable));
}

#[test]
fn nesting_beyond_the_limit_is_a_problem() {
    let mut raw = String::from("From: a@b.example\r\n");
    for i in 0..12 {
        raw.push_str(&format!(
            "Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n"
        ));
    }
    raw.push_str("Content-Type: text/plain\r\n\r\ndeep\r\n");
    let opts = ViewOptions {
        max_depth: 5,
        ..Default::default()
    };
    let v = MessageView::build(raw.into_bytes(), Envelope::default(), &opts);
    assert!(
        v.problems.iter().any(|p| p.kind == ProblemKind::TooDeep),
        "{:?}",
        v.problems
    );
}

#[test]
fn locations_are_display_safe() {
    let v = view("From: a@b.example\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename*=UTF-8''a%E2%80%AEfdp.exe\r\n\r\nMZ\r\n--b--\r\n");
    assert_eq!(
        v.attachments[0].file_name.as_deref(),
        Some("a\u{202e}fdp.exe")
    );
    assert_eq!(
        v.attachments[0].location.to_string(),
        "attachment a\\u{202e}fdp.exe"
    );
}

/// A Date ending in a one- or two-letter word ("PM", "UT") made mail-parser take the line
/// break and the next header into the date: the From of a real 2001 spam vanished. The view
/// keeps every header, and the Date as written.
#[test]
fn a_short_word_ending_the_date_does_not_swallow_the_next_header() {
    for (date, eol) in [
        ("06 Jul 01 8:04:54 PM", "\n"),
        ("Sat, 07 Jul 2001 02:01:28 UT", "\n"),
        ("Sat, 07 Jul 2001 02:01:28 Z", "\r\n"),
    ] {
        let raw = format!(
            "Received: from a by b; Sat, 7 Jul 2001 01:01:39 +0000{eol}Date: {date}{eol}\
From: 3cKq2amCZ@hotmail.example{eol}To: you@site.example{eol}Subject: hi{eol}{eol}body PM{eol}"
        );
        let v = view(&raw);
        assert_eq!(
            v.from.first().and_then(|m| m.address.as_deref()),
            Some("3cKq2amCZ@hotmail.example"),
            "{date:?}"
        );
        assert_eq!(v.header("Date").map(|h| h.raw.as_str()), Some(date));
        assert_eq!(v.subject.as_deref(), Some("hi"));
        assert!(v.texts.iter().any(|t| t.text.contains("body PM")));
        assert_eq!(v.raw, raw.as_bytes());
    }
}

/// A multipart that stops after its last part, with no closing delimiter, is read part by part
/// as SpamAssassin and mail clients read it, not as one text part of undecoded base64.
#[test]
fn a_multipart_without_its_closing_delimiter_still_has_its_parts() {
    let open = "From: a@b.example\r\nSubject: s\r\nMiME-Version: 1.0\r\n\
Content-Type: multipart/mixed;\r\n boundary=\"----=_Part_1\"\r\n\r\n\
------=_Part_1\r\nContent-Type: text/html; charset=\"iso-8859-1\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n\
PGh0bWw+PGJvZHk+PHA+TWFycmllZCBidXQgbG9uZWx5PC9wPjxhIGhyZWY9Imh0dHA6Ly9k\r\n\
YXRlLmV4YW1wbGUvIj5FbnRlcjwvYT48L2JvZHk+PC9odG1sPg==\r\n";
    let view = MessageView::from_raw(open.as_bytes());
    assert_eq!(view.texts.len(), 1, "{:?}", view.texts);
    assert_eq!(view.texts[0].kind, TextKind::Html);
    assert!(view.texts[0].text.contains("Married but lonely"));
    assert!(view.urls.iter().any(|u| u.url.contains("date.example")));
    // The view keeps the bytes as they came, and says what was wrong with them.
    assert_eq!(view.raw, open.as_bytes());
    assert!(
        view.problems
            .iter()
            .any(|p| p.kind == ProblemKind::BadMime && p.detail.contains("never closed")),
        "{:?}",
        view.problems
    );
    // A closed one, and a message that is not multipart, are parsed as they are.
    let closed = format!("{open}------=_Part_1--\r\n");
    let message = parser().parse(closed.as_bytes()).unwrap();
    assert_eq!(unclosed_multipart(&message, closed.as_bytes()), None);
    let plain = b"Subject: s\r\n\r\n------=_Part_1\r\n";
    let message = parser().parse(plain).unwrap();
    assert_eq!(unclosed_multipart(&message, plain), None);
    let message = parser().parse(open.as_bytes()).unwrap();
    assert_eq!(
        unclosed_multipart(&message, open.as_bytes()).as_deref(),
        Some("------=_Part_1--")
    );
}
