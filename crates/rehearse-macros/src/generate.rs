//! Writes the `Recorder<W>` and `Replayer` impls of a validated world.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};

use crate::model::{Method, World};

pub(crate) fn generate(world: &World) -> TokenStream {
    let item = &world.item;
    let name = &item.ident;
    let inner = format_ident!("__RehearseWorld");
    // A generic trait (`trait Network<M: Message>`) gets generic impls: the
    // replayer answers for every `M` the trait's own bounds allow, so those
    // bounds must make the arguments `Serialize` and the outputs
    // `DeserializeOwned` (the compiler says so where they do not).
    let (_, trait_args, where_clause) = item.generics.split_for_impl();
    let (replayer_params, _, _) = item.generics.split_for_impl();
    let mut wrapped = item.generics.clone();
    wrapped.params.push(syn::parse_quote!(#inner: #name #trait_args));
    let (wrapper_params, _, _) = wrapped.split_for_impl();
    let (_, trait_args, _) = item.generics.split_for_impl();
    let trait_path = quote!(#name #trait_args);
    let recorded = world.methods.iter().map(|m| {
        if world.clone_values {
            keeping_recorder_method(m, &trait_path, &inner)
        } else {
            recorder_method(m, &trait_path, &inner)
        }
    });
    let replayed = world.methods.iter().map(replayer_method);
    // `Faulty` holds a single-threaded `Sim`; a trait with supertraits
    // (often `Send`/`Sync`) could not be implemented for it.
    let faulty = if item.supertraits.is_empty() {
        let methods = world.methods.iter().map(|m| faulty_method(m, &trait_path, &inner));
        quote! {
            #[automatically_derived]
            impl #wrapper_params #name #trait_args for ::rehearse::Faulty<#inner> #where_clause {
                #(#methods)*
            }
        }
    } else {
        TokenStream::new()
    };
    quote! {
        #item

        #[automatically_derived]
        impl #wrapper_params #name #trait_args for ::rehearse::Recorder<#inner> #where_clause {
            #(#recorded)*
        }

        #[automatically_derived]
        impl #replayer_params #name #trait_args for ::rehearse::Replayer #where_clause {
            #(#replayed)*
        }

        #faulty
    }
}

fn faulty_method(m: &Method, trait_name: &TokenStream, inner: &syn::Ident) -> TokenStream {
    let sig = &m.sig;
    let method = &sig.ident;
    let call_name = &m.call_name;
    let idents: Vec<_> = m.args.iter().map(|a| &a.ident).collect();
    let world = if m.mutable {
        quote! { ::rehearse::Faulty::inner_mut(self) }
    } else {
        quote! { ::rehearse::Faulty::inner(self) }
    };
    let call = quote! { <#inner as #trait_name>::#method(#world, #(#idents),*) };
    let Some(error) = &m.error_type else {
        let await_ = sig.asyncness.map(|_| quote!(.await));
        return quote! {
            #sig { #call #await_ }
        };
    };
    let injected = quote! {
        let __rehearse_injected = {
            #[allow(unused_imports)]
            use ::rehearse::__private::inject::{PassThrough as _, ViaInjectFault as _};
            (&&::rehearse::__private::inject::Probe::<#error>::new())
                .rehearse_inject(::rehearse::Faulty::sim(self), #call_name)
        };
    };
    let body = if m.future_output.is_some() {
        quote! {
            #injected
            let __rehearse_future = #call;
            async move {
                match __rehearse_injected {
                    ::core::option::Option::Some(::rehearse::__private::Injected::Before(e)) => ::core::result::Result::Err(e),
                    ::core::option::Option::Some(::rehearse::__private::Injected::After(e)) => {
                        let _ = __rehearse_future.await;
                        ::core::result::Result::Err(e)
                    }
                    ::core::option::Option::None => __rehearse_future.await,
                }
            }
        }
    } else {
        let await_ = sig.asyncness.map(|_| quote!(.await));
        quote! {
            #injected
            match __rehearse_injected {
                ::core::option::Option::Some(::rehearse::__private::Injected::Before(e)) => ::core::result::Result::Err(e),
                ::core::option::Option::Some(::rehearse::__private::Injected::After(e)) => {
                    let _ = #call #await_;
                    ::core::result::Result::Err(e)
                }
                ::core::option::Option::None => #call #await_,
            }
        }
    };
    quote! {
        #sig { #body }
    }
}

fn recorder_method(m: &Method, trait_name: &TokenStream, inner: &syn::Ident) -> TokenStream {
    let call_name = &m.call_name;
    let pushes = m.args.iter().map(|a| {
        let ident = &a.ident;
        if a.redact {
            quote! { __rehearse_args.redacted(); }
        } else {
            quote_spanned! {a.span=> __rehearse_args.arg(&#ident); }
        }
    });
    // The arguments are encoded before the call (it may consume them),
    // into a buffer on the stack; the call is recorded when it returns.
    let inputs = quote! {
        let mut __rehearse_args = ::rehearse::__private::ArgWriter::new();
        if ::rehearse::Recorder::tape(self).is_enabled() {
            #(#pushes)*
        }
    };
    recording_method(m, trait_name, inner, inputs, |tape| {
        quote! {
            ::rehearse::__private::record(#tape, #call_name, &mut __rehearse_args, &__rehearse_out);
        }
    })
}

/// A recorder method of a `clone_values` world: owned copies of the
/// arguments before the call, the output cloned after it, both kept on a
/// memory tape and encoded when it is read (a file tape encodes them at
/// once).
fn keeping_recorder_method(m: &Method, trait_name: &TokenStream, inner: &syn::Ident) -> TokenStream {
    let call_name = &m.call_name;
    let keeps = m.args.iter().map(|a| {
        let ident = &a.ident;
        if a.redact {
            quote! { ::rehearse::__private::KeptRedacted }
        } else {
            let arg = if a.by_ref { quote!(&*#ident) } else { quote!(&#ident) };
            quote_spanned! {a.span=>
                {
                    #[allow(unused_imports)]
                    use ::rehearse::__private::{KeepAsSlice as _, KeepOwned as _};
                    (&::rehearse::__private::KeepProbe(#arg, ::rehearse::Recorder::tape(self))).rehearse_keep()
                }
            }
        }
    });
    let inputs = quote! {
        static __REHEARSE_CALL: ::rehearse::__private::CallName = ::rehearse::__private::CallName::new(#call_name);
        let __rehearse_kept = if ::rehearse::Recorder::tape(self).is_enabled() {
            ::core::option::Option::Some((#(#keeps,)*))
        } else {
            ::core::option::Option::None
        };
    };
    recording_method(m, trait_name, inner, inputs, |tape| {
        quote! {
            if let ::core::option::Option::Some(__rehearse_args) = __rehearse_kept {
                ::rehearse::__private::record_kept(#tape, &__REHEARSE_CALL, __rehearse_args, &__rehearse_out);
            }
        }
    })
}

/// The shape both recorders share: `inputs` (the arguments taken before
/// the call, which may consume them), the call on the inner world, then
/// `record(tape)` with the output in `__rehearse_out`; for a method
/// returning a future, the tape is cloned before the call and the record
/// made when the future is ready.
fn recording_method(
    m: &Method,
    trait_name: &TokenStream,
    inner: &syn::Ident,
    inputs: TokenStream,
    record: impl Fn(TokenStream) -> TokenStream,
) -> TokenStream {
    let sig = &m.sig;
    let method = &sig.ident;
    let idents: Vec<_> = m.args.iter().map(|a| &a.ident).collect();
    let world = if m.mutable {
        quote! { ::rehearse::Recorder::inner_mut(self) }
    } else {
        quote! { ::rehearse::Recorder::inner(self) }
    };
    let body = if m.future_output.is_some() {
        let record = record(quote!(&__rehearse_tape));
        quote! {
            #inputs
            let __rehearse_tape = ::core::clone::Clone::clone(::rehearse::Recorder::tape(self));
            let __rehearse_future = <#inner as #trait_name>::#method(#world, #(#idents),*);
            async move {
                let __rehearse_out = __rehearse_future.await;
                #record
                __rehearse_out
            }
        }
    } else {
        let await_ = sig.asyncness.map(|_| quote!(.await));
        let record = record(quote!(::rehearse::Recorder::tape(self)));
        quote! {
            #inputs
            let __rehearse_out = <#inner as #trait_name>::#method(#world, #(#idents),*) #await_;
            #record
            __rehearse_out
        }
    };
    quote! {
        #[allow(clippy::let_unit_value, clippy::unit_arg)]
        #sig {
            #body
        }
    }
}

fn replayer_method(m: &Method) -> TokenStream {
    let sig = &m.sig;
    let call_name = &m.call_name;
    let args = m.args.iter().map(|a| {
        let ident = &a.ident;
        let label = ident.to_string();
        if a.redact {
            quote! { { let _ = &#ident; ::rehearse::__private::ReplayArg::redacted(#label) } }
        } else {
            quote_spanned! {a.span=> ::rehearse::__private::ReplayArg::new(#label, &#ident) }
        }
    });
    let replay = quote! {
        ::rehearse::Replayer::replay(self, #call_name, &[#(#args),*])
    };
    let body = match &m.future_output {
        Some(out) => quote! { ::core::future::ready::<#out>(#replay) },
        None => replay,
    };
    // A divergence panics in `Replayer::replay` (`#[track_caller]`): with
    // this method tracked too, the panic names the line of the code under
    // test that made the call, not the trait's `#[world]` line. (Not on an
    // `async fn`, where the attribute is not stable.)
    let track = if sig.asyncness.is_none() {
        quote! { #[track_caller] }
    } else {
        TokenStream::new()
    };
    quote! {
        #[allow(clippy::let_unit_value, clippy::unit_arg)]
        #track
        #sig {
            #body
        }
    }
}
