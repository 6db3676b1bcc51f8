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
