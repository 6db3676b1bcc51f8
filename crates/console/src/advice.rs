//! What an administrator should do about a finding: by symbol family first (the more specific
//! advice), then by detection type.

/// (symbol prefix, countermeasure), most specific prefixes first.
const BY_PREFIX: &[(&str, &str)] = &[
    ("HASH_KNOWN_BAD", "A known malicious file: block the message, search every mailbox and endpoint for this SHA-256, and add it to the EDR/antivirus blocklist."),
    ("SIMILAR_KNOWN_MALWARE", "A variant of a known malware family: block it, search for the same attachment name and sender across mailboxes, and submit the file to your antivirus vendor, since signatures may not know this variant yet."),
    ("PE_", "A Windows program by mail: block it. Users never need executables by mail; if this one was expected, have it shared through a managed channel and verify its signature."),
    ("EXECUTABLE_", "A program for Linux or macOS by mail: block it and ask the sender to use a managed software channel."),
    ("LNK_", "A shortcut that runs a command interpreter is a classic initial-access trick: block it, and check whether anyone opened it (EDR process history for the command line shown)."),
    ("MSI_", "An installer with custom actions runs code at install: block it; legitimate software comes from the vendor's site or your software distribution."),
    ("CHM_", "Compiled HTML help can run scripts: block it and consider blocking .chm attachments by policy."),
    ("SCRIPT_", "A script by mail: block it. Check the URLs and commands shown in the findings on your proxy and EDR; block its download hosts."),
    ("VBA_", "An Office document with macros: quarantine it, keep macros blocked for files from the internet (Group Policy), and if it was opened, look for child processes of Office applications."),
    ("XLM_", "An Excel 4.0 macro sheet: quarantine it and disable XLM macros (Trust Center / Group Policy); they are almost never legitimate today."),
    ("OFFICE_EQUATION", "An exploit of the Equation Editor (CVE-2017-11882 and kin): block it and make sure Office is patched on every machine."),
    ("OFFICE_DDE", "A DDE field runs a command when the document updates links: block it and disable automatic link updates."),
    ("OFFICE_ENCRYPTED", "An encrypted document cannot be inspected: hold it until the sender is confirmed by another channel."),
    ("OFFICE_", "An Office document with active content: quarantine it and open it only in a protected view or a sandbox."),
    ("OOXML_REMOTE", "A document that fetches a template or object from the internet when opened (template injection): block it and block the remote host at the proxy."),
    ("OOXML_", "An Office document with embedded or linked content: quarantine it and inspect the embedded object shown in the path."),
    ("RTF_", "An RTF document carrying OLE objects, a common exploit vehicle: block it and keep Office patched."),
    ("PDF_", "A PDF with active content (scripts, automatic actions, launch or embedded files): quarantine it; open only in a sandboxed reader with JavaScript disabled."),
    ("HWP_", "A Hangul document with scripts or PostScript: quarantine it and make sure Hancom Office is patched; disable scripts in HWP files."),
    ("HTML_", "An HTML attachment or page that collects credentials or smuggles a file: block it, block the form's destination, and warn the recipients."),
    ("ARCHIVE_BOMB", "A decompression bomb: reject it; it is meant to exhaust scanners."),
    ("ARCHIVE_PASSWORD", "A password-protected archive with its password in the message hides its content from scanners: keep it held unless the sender is verified by another channel."),
    ("ARCHIVE_", "An archive whose content is risky or could not be inspected: keep it held and inspect the members named in the path."),
    ("DISK_IMAGE", "Disk images (ISO/IMG) bypass Mark-of-the-Web: block them by policy unless a department needs them."),
    ("FILETYPE_", "The file is not what its name or type claims: block it; disguising a file's type has no legitimate use in mail."),
    ("ATTACH_", "A dangerous or deceptively named attachment: block it, and block this extension by policy if it is not needed."),
    ("ANALYZER_", "The analysis could not finish within its limits: the message moved on by policy. Inspect it by hand before releasing it."),
    ("DETECTOR_", "A detector failed on this message: inspect it by hand before releasing it, and report the failure."),
    ("URL_VISUAL_BRAND", "A link opens a page dressed as this brand's sign-in page on someone else's site (the screenshot is kept under the finding's SHA-256): block the host at the web proxy and DNS resolver, warn the recipients, and reset the password of anyone whose proxy log shows a visit."),
    ("URL_", "A suspicious link: block its host at the web proxy and DNS resolver, and check proxy logs for anyone who visited it."),
    ("BODY_CREDENTIAL", "Text that asks for credentials: warn the recipients, block the linked host, and reset the password of anyone who answered."),
    ("IMP_", "Impersonation of a person or domain you trust: warn the recipient, confirm any request (payment, credentials) by phone, and add the look-alike domain to the deny list."),
    ("AUTH_PROTECTED", "Your own domain was forged: enforce DMARC p=reject for it, and look for other mail from the same source IP."),
    ("DMARC_", "The sender's domain asks receivers to distrust mail like this: keep it held; if it is a legitimate sender, ask them to fix SPF/DKIM alignment."),
    ("SPF_", "The sending server is not authorised by the sender's domain: treat the sender as unproven; if legitimate, ask them to add their server to SPF."),
    ("DKIM_", "The DKIM signature is missing or broken: the content may have been altered or forged; verify the sender before trusting it."),
    ("ARC_", "The forwarding chain could not be verified: treat the forwarded authentication results as unproven."),
    ("DNSBL_", "The sending IP is on a public blocklist: keep rejecting it; if mail from it is wanted, add a narrow allow entry for that sender."),
    ("CLASSIFIER_", "The text classifier rated this as spam: release it with \"not spam\" if it is wanted (the classifier learns from that), or report missed spam the same way."),
    ("KR_AD", "Korean advertising without the legally required (광고) marking: tag or hold it; senders are required to label ads."),
    ("HDR_KR_AD", "Korean advertising without the legally required (광고) marking: tag or hold it; senders are required to label ads."),
    ("FIRST_CONTACT", "The first message from this sender to your organisation: be careful with requests for payment or credentials."),
];

/// By detection type, when no prefix matches.
fn by_category(category: &str) -> &'static str {
    match category {
        "malware" => "Block the attachment, search other mailboxes for the same file, and check endpoints of anyone who opened it.",
        "phishing" => "Block the linked hosts at the proxy, warn the recipients, and reset the credentials of anyone who entered them.",
        "impersonation" => "Confirm the sender through another channel before acting on the message.",
        "signature" => "A known-bad signature matched: block the message and hunt for the indicators elsewhere.",
        "policy" => "Your own rules or lists decided this: change the rule or the list if the outcome is wrong.",
        _ => "Spam: delete it, or release it with \"not spam\" so the filter learns.",
    }
}

pub fn countermeasure(symbol: &str, category: &str) -> &'static str {
    BY_PREFIX
        .iter()
        .find(|(prefix, _)| symbol.starts_with(prefix))
        .map_or_else(|| by_category(category), |(_, advice)| advice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specific_advice_before_general() {
        assert!(countermeasure("OFFICE_EQUATION_EDITOR", "malware").contains("Equation Editor"));
        assert!(countermeasure("OFFICE_EMBEDDED_PACKAGE", "malware").contains("protected view"));
        assert!(countermeasure("MY_RULE", "policy").contains("rules"));
    }

    #[test]
    fn every_declared_symbol_gets_advice_in_its_own_words() {
        // Each symbol with a score gets advice; none falls through to the spam default unless
        // it is spam.
        for def in mailmoat_pipeline::symbol_table().iter() {
            let category = def.category.as_str();
            let advice = countermeasure(&def.name, category);
            assert!(!advice.is_empty());
            if category != "spam" && def.score > 0.0 {
                assert_ne!(advice, by_category("spam"), "{} ({category})", def.name);
            }
        }
    }
}
