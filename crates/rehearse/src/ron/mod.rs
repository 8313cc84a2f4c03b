//! RON, the text of scenario files: [`Value`] (the tree scenario files are
//! read into, names kept), its one parser, the first difference between two
//! values, and the writer that turns any `Serialize` value into the compact
//! single-line RON the recorder writes (with the one string escaper).

mod diff;
mod parse;
mod render;
#[cfg(test)]
mod tests;
mod value;
mod write;

pub use diff::{Difference, Step};
pub use parse::ParseError;
pub(crate) use parse::Parser;
pub use value::Value;
pub(crate) use write::{WriteError, to_ron, to_ron_into, write_str};
