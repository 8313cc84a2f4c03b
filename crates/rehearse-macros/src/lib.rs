//! The `#[rehearse::world]` attribute, re-exported by `rehearse`.
//!
//! Three steps, one module each: `model` parses the trait into a small
//! model and validates it (unsupported signatures become compile errors
//! that say why and what to do), `generate` writes the `Recorder` and
//! `Replayer` impls. Generated code names everything by absolute path
//! (`::rehearse::...`), so it works whatever the user imported.

use proc_macro::TokenStream;

mod generate;
mod model;

/// Makes a trait a rehearse **world**: keeps the trait as written and
/// generates `impl<W: Trait> Trait for rehearse::Recorder<W>` (calls the
/// inner world, records `Trait::method`, inputs and output) and
/// `impl Trait for rehearse::Replayer` (checks the next recorded call and
/// returns its output).
///
/// Supported: `&self` and `&mut self` methods, sync and `async fn`,
/// `-> impl Future<Output = T>`, owned or borrowed arguments (`&str`,
/// `&[T]`, `&T`) that implement `Serialize`, and returns that implement
/// `Serialize + DeserializeOwned` (errors are outputs too).
/// `#[rehearse(redact)]` on an argument records `"<redacted>"` and skips
/// its comparison on replay.
///
/// Generic traits (`trait Network<M: Message>`) get generic impls: the
/// trait's own bounds must make every argument `Serialize` and every
/// output `DeserializeOwned`, since the recorder and the replayer answer
/// for any type the trait allows (a missing bound is a compile error
/// suggesting it).
///
/// `#[rehearse::world(clone_values)]`: on a memory tape the recorder does
/// not encode a call when it happens but keeps owned copies of its
/// arguments (a `&[T]` or `&mut Vec<T>` argument's elements in one vector
/// of the tape per element type) and a clone of its output, and the tape
/// encodes them, into the same bytes, when it is read. For worlds called
/// at every step of a simulation whose tapes are mostly never read (a
/// sweep's passing runs): `rehearse::net::Network` uses it. Every argument's
/// owned form and the output must then be `Clone + Send + 'static`, and
/// serialize later as they did at the call: plain data, no shared
/// interior mutability (an `Arc<Mutex<_>>` changed after the call would
/// be written as it is when encoded). Their `Serialize` must not call a
/// world recorded on the same tape: it runs under the tape's lock, and
/// would wait for itself. A file tape encodes at once.
///
/// Refused, with an error that says why: generic methods, `impl Trait`
/// arguments, `self` by value, methods without `self`, borrowed return
/// types, associated types and consts.
#[proc_macro_attribute]
pub fn world(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr = proc_macro2::TokenStream::from(attr);
    let clone_values = match attr.to_string().as_str() {
        "" => false,
        "clone_values" => true,
        _ => {
            return syn::Error::new_spanned(
                attr,
                "#[rehearse::world] takes no arguments but `clone_values` (the recorder keeps clones of arguments and outputs, encoded when the tape is read)",
            )
            .to_compile_error()
            .into();
        }
    };
    match syn::parse::<syn::ItemTrait>(item)
        .and_then(|item| model::World::from_trait(item, clone_values))
        .map(|world| generate::generate(&world))
    {
        Ok(tokens) => tokens.into(),
        Err(e) => e.to_compile_error().into(),
    }
}
