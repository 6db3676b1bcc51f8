//! The vocabulary every other mailmoat crate shares: where something was found ([`Location`]),
//! what was found ([`Evidence`], [`Findings`]), the declared symbols ([`SymbolDef`]) and the
//! pure verdict ([`policy::decide`]). Nothing in this crate does I/O.

mod evidence;
pub mod policy;
mod symbol;

pub use evidence::{Engine, Evidence, Findings, Judgement, Location, ObjectInfo, Opinion};
pub use policy::{
    decide, disposition, Action, FusionModel, Policy, PolicyConfig, PolicyError, Reason,
    RecipientAction, Risk, Verdict,
};
pub use symbol::{Category, SymbolDef, SymbolTable};

/// The text a panic carried (`panic!("…")` with or without arguments), if it carried text: what
/// a caller that caught it reports instead of unwinding further.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

#[cfg(test)]
mod panic_text_tests {
    #[test]
    fn a_caught_panic_gives_its_text() {
        let literal = std::panic::catch_unwind(|| panic!("plain")).unwrap_err();
        assert_eq!(super::panic_text(literal.as_ref()), Some("plain"));
        let formatted = std::panic::catch_unwind(|| panic!("{} {}", "with", 2)).unwrap_err();
        assert_eq!(super::panic_text(formatted.as_ref()), Some("with 2"));
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7u8)).unwrap_err();
        assert_eq!(super::panic_text(other.as_ref()), None);
    }
}
