//! arbiter in simulation: a model of Redis, etcd, the network and a client
//! ([`model`]), each instance's view of it ([`world`]), the invariants
//! checked after every step ([`check`]), and the scheduler that runs one
//! seed ([`run`]). All randomness comes from `rehearse::Sim`; time is
//! virtual.

pub mod check;
pub mod model;
pub mod run;
pub mod world;
