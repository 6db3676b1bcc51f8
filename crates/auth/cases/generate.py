#!/usr/bin/env python3
"""Writes the authentication stage's case files (DKIM signatures and ARC seals need a key, so
these cases are generated rather than typed). Run from the repository root after changing it:

    cargo build -p mailmoat-auth --example sign_fixture && python3 crates/auth/cases/generate.py

Keys in cases/keys/ are test-only keys made for these fixtures; their public halves are given to
the cases as DNS records (`dns:` lines), so nothing here touches the network.
"""

import pathlib
import subprocess

HERE = pathlib.Path(__file__).resolve().parent
SIGNER = HERE.parents[2] / "target" / "debug" / "examples" / "sign_fixture"
RSA_PUB = (HERE / "keys" / "test-rsa.pub.b64").read_text().strip()
ARC_PUB = (HERE / "keys" / "test-arc.pub.b64").read_text().strip()

SENDER_KEY = f"dns: TXT sel1._domainkey.sender.example v=DKIM1; k=rsa; p={RSA_PUB}"
LIST_KEY = f"dns: TXT arc1._domainkey.lists.example v=DKIM1; k=rsa; p={ARC_PUB}"
SENDER_SPF = "dns: TXT sender.example v=spf1 ip4:192.0.2.0/24 -all"
SENDER_DMARC_REJECT = "dns: TXT _dmarc.sender.example v=DMARC1; p=reject"

NEWSLETTER = """From: Sender News <news@sender.example>
To: user@corp.example
Subject: Monthly newsletter
Date: Mon, 23 Nov 2026 01:00:00 +0000
Message-ID: <n1@sender.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Hello, this is the monthly newsletter of Sender Example.
Our offices are closed on Friday.
"""

ENVELOPE_INSIDE_SPF = """mail-from: news@sender.example
rcpt-to: user@corp.example
client-ip: 192.0.2.10
helo: mail.sender.example"""

ENVELOPE_OUTSIDE_SPF = """mail-from: news@sender.example
rcpt-to: user@corp.example
client-ip: 198.51.100.7
helo: relay.elsewhere.example"""


def sign(mode, key, domain, selector, message):
    out = subprocess.run(
        [str(SIGNER), mode, str(HERE / "keys" / key), domain, selector],
        input=message.encode(),
        capture_output=True,
        check=True,
    )
    return out.stdout.decode()


def write(name, directives, message):
    text = directives.strip() + "\n\n" + message
    (HERE / f"{name}.case").write_text(text)


signed = sign("dkim", "test-rsa.pem", "sender.example", "sel1", NEWSLETTER)

write("pass_all", f"""
# SPF, DKIM and DMARC all pass for a well-run sender.
expect: SPF_PASS
expect: DKIM_PASS
expect: DMARC_PASS
expect-not: SPF_FAIL DKIM_FAIL DMARC_FAIL_REJECT AUTH_PROTECTED_DOMAIN_SPOOFED
expect-action: deliver
{ENVELOPE_INSIDE_SPF}
{SENDER_SPF}
{SENDER_DMARC_REJECT}
{SENDER_KEY}
""", signed)

write("spf_fail_dmarc_reject", f"""
# Forged sender: the server is not in the domain's SPF, nothing is signed, and the domain asks
# receivers to reject such mail.
expect: SPF_FAIL
expect: DMARC_FAIL_REJECT
expect-not: SPF_PASS DMARC_PASS
{ENVELOPE_OUTSIDE_SPF}
{SENDER_SPF}
{SENDER_DMARC_REJECT}
""", NEWSLETTER)

write("spf_softfail_dmarc_quarantine", f"""
expect: SPF_SOFTFAIL
expect: DMARC_FAIL_QUARANTINE
{ENVELOPE_OUTSIDE_SPF}
dns: TXT sender.example v=spf1 ip4:192.0.2.0/24 ~all
dns: TXT _dmarc.sender.example v=DMARC1; p=quarantine
""", NEWSLETTER)

write("spf_neutral_dmarc_monitor", f"""
# p=none: the owner only monitors; a failure weighs little.
expect: SPF_NEUTRAL
expect: DMARC_FAIL_NONE
expect-not: DMARC_FAIL_REJECT DMARC_FAIL_QUARANTINE
{ENVELOPE_OUTSIDE_SPF}
dns: TXT sender.example v=spf1 ip4:192.0.2.0/24 ?all
dns: TXT _dmarc.sender.example v=DMARC1; p=none
""", NEWSLETTER)

write("spf_none", f"""
# A domain with no SPF and no DMARC: nothing to fail.
expect: SPF_NONE
expect-not: DMARC_FAIL_REJECT DMARC_FAIL_QUARANTINE DMARC_FAIL_NONE DMARC_PASS
{ENVELOPE_OUTSIDE_SPF}
dns: A unrelated.example 192.0.2.99
""", NEWSLETTER)

write("spf_and_dmarc_broken", f"""
# Broken records are the owner's problem: PERMERROR, weighed lightly.
expect: SPF_PERMERROR
expect: DMARC_PERMERROR
{ENVELOPE_OUTSIDE_SPF}
dns: TXT sender.example v=spf1 ip4:192.0.2.0/24 redirect=a redirect=b -all
dns: TXT _dmarc.sender.example v=DMARC1; p=reject; pct=banana; sp=nonsense
""", NEWSLETTER)

write("dns_servfail", f"""
# The sender's DNS fails: TEMPERROR, nothing concluded, the scan goes on.
expect: SPF_TEMPERROR
expect: DMARC_TEMPERROR
expect-not: SPF_FAIL DMARC_FAIL_REJECT
expect-action: deliver
{ENVELOPE_OUTSIDE_SPF}
dns: SERVFAIL sender.example
dns: SERVFAIL _dmarc.sender.example
""", NEWSLETTER)

altered = signed.replace("closed on Friday", "closed on Monday, wire the invoice today")
write("dkim_body_altered", f"""
# The body changed after signing (DKIM fails); SPF still passes aligned, so DMARC passes.
expect: DKIM_FAIL
expect: SPF_PASS
expect: DMARC_PASS
expect-not: DKIM_PASS
{ENVELOPE_INSIDE_SPF}
{SENDER_SPF}
{SENDER_DMARC_REJECT}
{SENDER_KEY}
""", altered)

write("dkim_key_missing", f"""
# Signed with a selector whose key is not published.
expect: DKIM_PERMERROR
expect-not: DKIM_PASS DKIM_FAIL
{ENVELOPE_INSIDE_SPF}
{SENDER_SPF}
""", sign("dkim", "test-rsa.pem", "sender.example", "gone", NEWSLETTER))

write("dkim_key_servfail", f"""
expect: DKIM_TEMPERROR
expect-not: DKIM_PASS DKIM_FAIL
{ENVELOPE_INSIDE_SPF}
{SENDER_SPF}
dns: SERVFAIL sel1._domainkey.sender.example
""", signed)

# A mailing list changes the subject (breaking the author's DKIM), sends from its own server
# with its own envelope sender, and seals what it saw with ARC.
listed = signed.replace("Subject: Monthly newsletter", "Subject: [members] Monthly newsletter")
sealed = sign("arc", "test-arc.pem", "lists.example", "arc1", listed)
LIST_ENVELOPE = """mail-from: members-bounces@lists.example
rcpt-to: user@corp.example
client-ip: 203.0.113.20
helo: mail.lists.example"""

write("arc_trusted_forwarder", f"""
# DMARC fails only because a trusted list modified the message; its ARC seal is intact.
expect: ARC_PASS
expect: ARC_TRUSTED_FORWARDER
expect: DKIM_FAIL
expect-not: DMARC_FAIL_REJECT ARC_FAIL
{LIST_ENVELOPE}
config: [auth]
config: trusted_arc_sealers = ["lists.example"]
dns: TXT lists.example v=spf1 ip4:203.0.113.0/24 -all
{SENDER_SPF}
{SENDER_DMARC_REJECT}
{SENDER_KEY}
{LIST_KEY}
""", sealed)

write("arc_untrusted_forwarder", f"""
# The same message when the forwarder is not trusted: the DMARC failure counts.
expect: ARC_PASS
expect: DMARC_FAIL_REJECT
expect-not: ARC_TRUSTED_FORWARDER
{LIST_ENVELOPE}
dns: TXT lists.example v=spf1 ip4:203.0.113.0/24 -all
{SENDER_SPF}
{SENDER_DMARC_REJECT}
{SENDER_KEY}
{LIST_KEY}
""", sealed)

write("arc_tampered", f"""
# Changed after the seal: the chain is broken, so it excuses nothing even from a trusted sealer.
expect: ARC_FAIL
expect: DMARC_FAIL_REJECT
expect-not: ARC_PASS ARC_TRUSTED_FORWARDER
{LIST_ENVELOPE}
config: [auth]
config: trusted_arc_sealers = ["lists.example"]
dns: TXT lists.example v=spf1 ip4:203.0.113.0/24 -all
{SENDER_SPF}
{SENDER_DMARC_REJECT}
{SENDER_KEY}
{LIST_KEY}
""", sealed.replace("Subject: [members] Monthly newsletter", "Subject: [members] Urgent: new bank details"))

CEO = """From: =?UTF-8?B?6rmA66+87KSA?= <ceo@corp.example>
To: finance@corp.example
Subject: =?UTF-8?B?6riI7J28IOyGoeq4iCDsmpTssq0=?=
Date: Mon, 23 Nov 2026 01:00:00 +0000
Message-ID: <ceo1@corp.example>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

오늘 중으로 거래처에 송금 부탁합니다. 회의 중이라 전화는 어렵습니다.
"""

write("protected_domain_spoofed", f"""
# Our own domain (and our CEO's Hangul name) in From, sent from outside, no DMARC pass.
expect: AUTH_PROTECTED_DOMAIN_SPOOFED
expect: SPF_FAIL
expect-not: DMARC_PASS
expect-action: quarantine
mail-from: ceo@corp.example
rcpt-to: finance@corp.example
client-ip: 198.51.100.7
helo: mail.corp-payments.example
config: [detectors.impersonation]
config: protected_domains = ["corp.example"]
config: vip_names = ["김민준"]
dns: TXT corp.example v=spf1 ip4:192.0.2.0/24 -all
""", CEO)

write("protected_domain_authenticated", f"""
# The same message from our own outbound server, authenticated: not a spoof.
expect: SPF_PASS
expect: DMARC_PASS
expect-not: AUTH_PROTECTED_DOMAIN_SPOOFED
mail-from: ceo@corp.example
rcpt-to: finance@corp.example
client-ip: 192.0.2.25
helo: out.corp.example
config: [detectors.impersonation]
config: protected_domains = ["corp.example"]
config: vip_names = ["김민준"]
dns: TXT corp.example v=spf1 ip4:192.0.2.0/24 -all
dns: TXT _dmarc.corp.example v=DMARC1; p=quarantine
""", CEO)

write("first_contact", f"""
expect: FIRST_CONTACT
first-contact
known-contact: news@sender.example someone-else@corp.example
{ENVELOPE_INSIDE_SPF}
{SENDER_SPF}
""", NEWSLETTER)

write("known_contact", f"""
# The recipient has had mail from this sender delivered before.
expect: SPF_PASS
expect-not: FIRST_CONTACT
first-contact
known-contact: NEWS@sender.example user@corp.example
{ENVELOPE_INSIDE_SPF}
{SENDER_SPF}
""", NEWSLETTER)

BL_ZONE = """config: [[auth.dnsbl]]
config: zone = "bl.example"
config: check = "client_ip"
config: codes."127.0.0.2" = { symbol = "RBL_EXAMPLE_SPAM", score = 5.0, description = "spam source (test zone)" }"""

write("dnsbl_client_listed", f"""
expect: RBL_EXAMPLE_SPAM
{ENVELOPE_OUTSIDE_SPF}
{BL_ZONE}
dns: A 7.100.51.198.bl.example 127.0.0.2
""", NEWSLETTER)

write("dnsbl_client_not_listed", f"""
expect: SPF_NONE
expect-not: RBL_EXAMPLE_SPAM DNSBL_MISCONFIGURED DNSBL_TEMPERROR
{ENVELOPE_OUTSIDE_SPF}
{BL_ZONE}
dns: A 8.100.51.198.bl.example 127.0.0.2
""", NEWSLETTER)

write("dnsbl_refused", f"""
# Spamhaus answers 127.255.255.254 to public resolvers: a setup problem, never a listing.
expect: DNSBL_MISCONFIGURED
expect-not: RBL_EXAMPLE_SPAM
{ENVELOPE_OUTSIDE_SPF}
{BL_ZONE}
dns: A 7.100.51.198.bl.example 127.255.255.254
""", NEWSLETTER)

write("dnsbl_servfail", f"""
expect: DNSBL_TEMPERROR
expect-not: RBL_EXAMPLE_SPAM
{ENVELOPE_OUTSIDE_SPF}
{BL_ZONE}
dns: SERVFAIL 7.100.51.198.bl.example
""", NEWSLETTER)

PHISH = """From: Account Team <no-reply@shop-mailer.example>
To: user@corp.example
Subject: Verify your account
Date: Mon, 23 Nov 2026 01:00:00 +0000
Message-ID: <p1@shop-mailer.example>
MIME-Version: 1.0
Content-Type: text/html; charset=utf-8

<p>Your account is on hold. <a href="https://login.evil-shop.example/verify?id=1">Verify now</a>
or read our <a href="https://help.shop-mailer.example/faq">FAQ</a>.</p>
"""

write("dnsbl_url_domain_listed", f"""
# A URL's registrable domain is on a domain blocklist (subdomains are asked as their domain).
expect: DBL_EXAMPLE_PHISH
mail-from: no-reply@shop-mailer.example
rcpt-to: user@corp.example
client-ip: 198.51.100.7
config: [[auth.dnsbl]]
config: zone = "dbl.example"
config: check = "url_domains"
config: codes."127.0.1.4" = {{ symbol = "DBL_EXAMPLE_PHISH", score = 8.0, description = "phishing domain (test zone)" }}
dns: A evil-shop.example.dbl.example 127.0.1.4
""", PHISH)

write("dnsbl_sender_domain_listed", f"""
expect: DBL_EXAMPLE_SENDER
mail-from: no-reply@shop-mailer.example
rcpt-to: user@corp.example
client-ip: 198.51.100.7
config: [[auth.dnsbl]]
config: zone = "dbl.example"
config: check = "sender_domain"
config: default = {{ symbol = "DBL_EXAMPLE_SENDER", score = 3.0 }}
dns: A shop-mailer.example.dbl.example 127.0.1.2
""", PHISH)

write("internal_client_not_checked", f"""
# Mail handed over by our own network is not judged by the sender's DNS.
expect-not: SPF_FAIL SPF_PASS SPF_NONE DMARC_FAIL_REJECT
mail-from: news@sender.example
rcpt-to: user@corp.example
client-ip: 10.1.2.3
{SENDER_SPF}
{SENDER_DMARC_REJECT}
""", NEWSLETTER)

print("cases written to", HERE)
