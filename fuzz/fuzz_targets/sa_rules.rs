#![no_main]
//! Fuzz target: SpamAssassin's view of one message (headers as rules read them, the rendered
//! body split into paragraphs, raw body pieces, URIs) and every kind of rule over it, PCRE2
//! patterns and metas included. The rules are a fixed set; the message is the input.
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const RULES: &str = r#"
header   F_SUBJ     Subject =~ /\bfree\b.{0,20}$/i
header   F_FROM     From:addr =~ /\@(?!example\.)[a-z]+\./
header   F_NAME     From:name =~ /^[A-Z ]{6,}$/
header   F_ALL      ALL =~ /^X-[A-Za-z-]+: .{200}/m
header   F_RELAYS   X-Spam-Relays-Untrusted =~ /^[^\]]+ rdns= /
header   F_TOCC     ToCc =~ /,.*,.*,/
header   F_UNSET    X-Nothing =~ /^none$/ [if-unset: none]
header   F_EXISTS   exists:Reply-To
body     F_BODY     /(\w+) \1 \1/
body     __F_LINE   /^\s*\S/
tflags   __F_LINE   multiple maxhits=4
meta     F_FEW      __F_LINE < 3 && !F_EXISTS
rawbody  F_RAW      /<a\s+href=["']?https?:\/\/\d+\.\d+/i
uri      F_URI      m{^https?://[^/]*\.(?:zip|mov)\b}i
full     F_FULL     /\n\n.{0,5}$/s
header   F_DATE     eval:check_for_shifted_date('-6', '-3')
body     F_UPPER    eval:check_for_uppercase('50', '100')
header   F_CAPS     eval:subject_is_all_caps()
header   F_TOSUBJ   eval:check_for_to_in_subject('user')
header   F_FREE     eval:check_freemail_replyto('replyto')
freemail_domains hotmail.* *.free.example
"#;

fuzz_target!(|data: &[u8]| {
    mailmoat_fuzz::run(|| {
        static RULESET: OnceLock<mailmoat_sarules::SaRules> = OnceLock::new();
        let rules = RULESET.get_or_init(|| {
            let mut conf = mailmoat_sarules::Conf::new();
            conf.read_text(RULES, std::path::Path::new("fuzz.cf"), 0)
                .expect("fixed rules");
            mailmoat_sarules::SaRules::compile(conf, 0)
        });
        let view = mailmoat_mime::MessageView::build(
            data.to_vec(),
            Default::default(),
            &Default::default(),
        );
        for hit in rules.check(&view) {
            assert!(hit.score.is_finite() && hit.count > 0);
        }
    });
});
