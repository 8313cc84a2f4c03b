//! The network between everything: directed edges between endpoints that
//! drop traffic (a partition blocks some, possibly one way only).

use super::Model;

/// Who talks: the directed edges of the network are between these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Endpoint {
    /// Arbiter instance `i`.
    Instance(usize),
    /// Redis node `i`.
    Node(usize),
    /// The etcd cluster.
    Etcd,
    /// The writing client.
    Client,
}

impl Model {
    /// Whether a message from `a` reaches `b`.
    pub fn reaches(&self, a: Endpoint, b: Endpoint) -> bool {
        !self.blocked.contains(&(a, b))
    }

    /// Whether `a` and `b` reach each other (a request and its reply).
    pub fn reaches_both(&self, a: Endpoint, b: Endpoint) -> bool {
        self.reaches(a, b) && self.reaches(b, a)
    }
}
