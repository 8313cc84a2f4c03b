//! [`Failure`]: how a simulated run says it failed.

use std::fmt;

/// A failed run: a kind (what the shrinker must preserve, e.g. the name of
/// a violated invariant) and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    kind: String,
    message: String,
}

impl Failure {
    /// A failure whose kind is the message up to its first `:` (so
    /// `"S1 fenced actions: instance 2 wrote under epoch 3"` has kind
    /// `"S1 fenced actions"`), or the whole message.
    pub fn new(message: impl Into<String>) -> Self {
        let message = message.into();
        let kind = message.split(':').next().unwrap_or_default().trim().to_string();
        Self { kind, message }
    }

    /// A failure with an explicit kind.
    pub fn with_kind(kind: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            message: message.into(),
        }
    }

    /// What must stay the same while shrinking.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}
