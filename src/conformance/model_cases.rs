//! Placeholder until the model-based cases land.
use super::runner::{Case, CorpusEntry};
/// The model-based cases.
pub fn model_cases(_corpus: &[CorpusEntry]) -> Vec<Case> {
    Vec::new()
}
/// The reachable outcomes.
pub fn reachable_outcomes() -> Vec<String> {
    Vec::new()
}
