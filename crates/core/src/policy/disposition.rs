//! Per-recipient actions: the second pure function beside [`decide`](super::decide). The
//! verdict is about the message; a recipient's own "always accept this sender" exception may
//! change what that recipient gets, never what the evidence says.

use super::{Action, Verdict};

/// What one recipient gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientAction {
    pub recipient: String,
    pub action: Action,
    /// Delivered because this recipient's exception accepts the sender (the verdict alone
    /// would have held or refused it).
    pub by_exception: bool,
}

/// Whether a recipient's exception may override this verdict: it holds back or refuses the
/// message (tag, quarantine, reject) and every reason that added score or forced the action
/// is spam or policy evidence. A threat, an impersonation or authentication failure, a symbol
/// without a declared category, or a tempfail (the sender will retry) keeps the verdict.
pub fn overridable(verdict: &Verdict) -> bool {
    matches!(
        verdict.action,
        Action::Tag | Action::Quarantine | Action::Reject
    ) && verdict.reasons.iter().all(|r| {
        (r.score <= 0.0 && r.forced.is_none()) || r.category.is_some_and(|c| c.overridable())
    })
}

/// Each recipient's action: the verdict's, except for recipients whose exception accepts the
/// sender (`accepts_sender(recipient)`), who get the message delivered when the verdict is
/// [`overridable`]. One SMTP transaction has one reply, so when some recipients get it
/// delivered, a reject for the others becomes a quarantine (held, not refused).
pub fn disposition(
    verdict: &Verdict,
    recipients: &[String],
    accepts_sender: impl Fn(&str) -> bool,
) -> Vec<RecipientAction> {
    let excepted: Vec<bool> = if overridable(verdict) {
        recipients.iter().map(|r| accepts_sender(r)).collect()
    } else {
        vec![false; recipients.len()]
    };
    let some_delivered = excepted.iter().any(|&e| e);
    recipients
        .iter()
        .zip(excepted)
        .map(|(recipient, by_exception)| RecipientAction {
            recipient: recipient.clone(),
            action: match (by_exception, verdict.action) {
                (true, _) => Action::Deliver,
                (false, Action::Reject) if some_delivered => Action::Quarantine,
                (false, action) => action,
            },
            by_exception,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Reason, Risk};
    use crate::Category;

    fn verdict(action: Action, reasons: &[(f64, Option<Category>)]) -> Verdict {
        Verdict {
            action,
            score: reasons.iter().map(|r| r.0).sum(),
            risk: Risk::Low,
            forced_by: None,
            floored_by: None,
            capped_groups: Vec::new(),
            spam_probability: None,
            reasons: reasons
                .iter()
                .enumerate()
                .map(|(i, &(score, category))| Reason {
                    symbol: format!("S{i}"),
                    group: "g".into(),
                    category,
                    score,
                    forced: None,
                    hits: Vec::new(),
                })
                .collect(),
        }
    }

    fn rcpts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn actions(d: &[RecipientAction]) -> Vec<(Action, bool)> {
        d.iter().map(|r| (r.action, r.by_exception)).collect()
    }

    #[test]
    fn without_exceptions_every_recipient_gets_the_verdict() {
        for action in [
            Action::Deliver,
            Action::Tag,
            Action::Quarantine,
            Action::Reject,
            Action::Tempfail,
        ] {
            let v = verdict(action, &[(9.0, Some(Category::Spam))]);
            let d = disposition(&v, &rcpts(&["a@x", "b@x"]), |_| false);
            assert_eq!(
                actions(&d),
                vec![(action, false), (action, false)],
                "{action:?}"
            );
        }
    }

    #[test]
    fn an_exception_delivers_spam_and_policy_verdicts_to_its_recipient_only() {
        for action in [Action::Tag, Action::Quarantine] {
            let v = verdict(
                action,
                &[(9.0, Some(Category::Spam)), (3.0, Some(Category::Policy))],
            );
            let d = disposition(&v, &rcpts(&["a@x", "b@x"]), |r| r == "a@x");
            assert_eq!(actions(&d), vec![(Action::Deliver, true), (action, false)]);
        }
    }

    #[test]
    fn a_reject_for_the_others_becomes_a_quarantine_when_one_recipient_takes_it() {
        let v = verdict(Action::Reject, &[(25.0, Some(Category::Spam))]);
        let d = disposition(&v, &rcpts(&["a@x", "b@x"]), |r| r == "a@x");
        assert_eq!(
            actions(&d),
            vec![(Action::Deliver, true), (Action::Quarantine, false)]
        );
        let all = disposition(&v, &rcpts(&["a@x"]), |_| true);
        assert_eq!(actions(&all), vec![(Action::Deliver, true)]);
    }

    #[test]
    fn threats_impersonation_and_undeclared_evidence_are_never_overridden() {
        for category in [
            Some(Category::Malware),
            Some(Category::Phishing),
            Some(Category::Signature),
            Some(Category::Impersonation),
            None,
        ] {
            let v = verdict(
                Action::Quarantine,
                &[(9.0, Some(Category::Spam)), (2.0, category)],
            );
            let d = disposition(&v, &rcpts(&["a@x"]), |_| true);
            assert_eq!(
                actions(&d),
                vec![(Action::Quarantine, false)],
                "{category:?}"
            );
        }
    }

    #[test]
    fn a_threat_that_forces_the_action_without_a_score_is_never_overridden() {
        let mut v = verdict(Action::Quarantine, &[(0.0, Some(Category::Malware))]);
        v.reasons[0].forced = Some(Action::Quarantine);
        let d = disposition(&v, &rcpts(&["a@x"]), |_| true);
        assert_eq!(actions(&d), vec![(Action::Quarantine, false)]);
        v.reasons[0].category = Some(Category::Policy);
        let d = disposition(&v, &rcpts(&["a@x"]), |_| true);
        assert_eq!(actions(&d), vec![(Action::Deliver, true)]);
    }

    #[test]
    fn good_signs_of_any_category_do_not_block_an_exception() {
        let v = verdict(
            Action::Tag,
            &[
                (9.0, Some(Category::Spam)),
                (-1.0, Some(Category::Impersonation)),
                (0.0, None),
            ],
        );
        let d = disposition(&v, &rcpts(&["a@x"]), |_| true);
        assert_eq!(actions(&d), vec![(Action::Deliver, true)]);
    }

    #[test]
    fn delivered_and_tempfailed_messages_are_left_as_they_are() {
        for action in [Action::Deliver, Action::Tempfail] {
            let v = verdict(action, &[(1.0, Some(Category::Spam))]);
            let d = disposition(&v, &rcpts(&["a@x"]), |_| true);
            assert_eq!(actions(&d), vec![(action, false)]);
        }
    }
}
