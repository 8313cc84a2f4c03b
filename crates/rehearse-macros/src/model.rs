//! The trait as the generator needs it, validated.

use syn::spanned::Spanned;
use syn::{
    Error, FnArg, GenericParam, Ident, ItemTrait, Pat, PatType, ReturnType, Signature, TraitItem, Type, TypeParamBound,
};

/// A world trait: the cleaned trait item and its methods.
pub(crate) struct World {
    /// The trait with `#[rehearse(...)]` attributes removed.
    pub(crate) item: ItemTrait,
    pub(crate) methods: Vec<Method>,
    /// `#[rehearse::world(clone_values)]`: the recorder keeps clones of
    /// the arguments and outputs, encoded when the tape is read.
    pub(crate) clone_values: bool,
}

pub(crate) struct Method {
    /// The signature with `#[rehearse(...)]` attributes removed.
    pub(crate) sig: Signature,
    /// `Trait::method`, the name recorded in scenarios.
    pub(crate) call_name: String,
    pub(crate) mutable: bool,
    /// `Some(T)` when the method returns `impl Future<Output = T>`.
    pub(crate) future_output: Option<Type>,
    /// `Some(E)` when the method returns `Result<T, E>` (possibly through
    /// a future): the error a `Faulty` world may inject.
    pub(crate) error_type: Option<Type>,
    pub(crate) args: Vec<Arg>,
}

pub(crate) struct Arg {
    pub(crate) ident: Ident,
    /// Where the argument's type is, to point `Serialize` errors at it.
    pub(crate) span: proc_macro2::Span,
    pub(crate) redact: bool,
    /// The argument is a reference (`&T`, `&mut T`): kept as `T`'s owned
    /// form.
    pub(crate) by_ref: bool,
}

fn err<T>(span: impl Spanned, message: &str) -> syn::Result<T> {
    Err(Error::new(span.span(), message))
}

impl World {
    pub(crate) fn from_trait(mut item: ItemTrait, clone_values: bool) -> syn::Result<Self> {
        let trait_name = item.ident.to_string();
        let mut methods = Vec::new();
        for trait_item in &mut item.items {
            match trait_item {
                TraitItem::Fn(f) => methods.push(Method::from_sig(&trait_name, &mut f.sig)?),
                TraitItem::Type(t) => {
                    return err(
                        t,
                        "#[rehearse::world] traits cannot have associated types: the recorder and replayer need concrete types",
                    );
                }
                TraitItem::Const(c) => {
                    return err(c, "#[rehearse::world] traits cannot have associated consts");
                }
                other => return err(other, "#[rehearse::world] traits may only contain methods"),
            }
        }
        Ok(Self {
            item,
            methods,
            clone_values,
        })
    }
}

fn contains_impl_trait(ty: &Type) -> bool {
    match ty {
        Type::ImplTrait(_) => true,
        Type::Reference(r) => contains_impl_trait(&r.elem),
        Type::Slice(s) => contains_impl_trait(&s.elem),
        Type::Array(a) => contains_impl_trait(&a.elem),
        Type::Paren(p) => contains_impl_trait(&p.elem),
        Type::Group(g) => contains_impl_trait(&g.elem),
        Type::Tuple(t) => t.elems.iter().any(contains_impl_trait),
        Type::Path(p) => p.path.segments.iter().any(|s| match &s.arguments {
            syn::PathArguments::AngleBracketed(a) => a.args.iter().any(|g| match g {
                syn::GenericArgument::Type(t) => contains_impl_trait(t),
                _ => false,
            }),
            _ => false,
        }),
        _ => false,
    }
}

fn contains_reference(ty: &Type) -> bool {
    match ty {
        Type::Reference(_) => true,
        Type::Paren(p) => contains_reference(&p.elem),
        Type::Group(g) => contains_reference(&g.elem),
        Type::Tuple(t) => t.elems.iter().any(contains_reference),
        Type::Slice(s) => contains_reference(&s.elem),
        Type::Array(a) => contains_reference(&a.elem),
        Type::Path(p) => p.path.segments.iter().any(|s| match &s.arguments {
            syn::PathArguments::AngleBracketed(a) => a.args.iter().any(|g| match g {
                syn::GenericArgument::Type(t) => contains_reference(t),
                syn::GenericArgument::Lifetime(_) => true,
                _ => false,
            }),
            _ => false,
        }),
        _ => false,
    }
}

/// `E` from `Result<T, E>` (any path ending in `Result` with two types).
fn result_error(ty: &Type) -> Option<Type> {
    let Type::Path(p) = ty else { return None };
    let last = p.path.segments.last()?;
    if last.ident != "Result" {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let types: Vec<&Type> = args
        .args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    match types.as_slice() {
        [_, e] => Some((*e).clone()),
        _ => None,
    }
}

/// `T` from `impl Future<Output = T> (+ Send ...)`.
fn future_output(ty: &Type) -> Option<Type> {
    let Type::ImplTrait(it) = ty else { return None };
    it.bounds.iter().find_map(|b| {
        let TypeParamBound::Trait(t) = b else { return None };
        let last = t.path.segments.last()?;
        if last.ident != "Future" {
            return None;
        }
        let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
            return None;
        };
        args.args.iter().find_map(|a| match a {
            syn::GenericArgument::AssocType(assoc) if assoc.ident == "Output" => Some(assoc.ty.clone()),
            _ => None,
        })
    })
}

impl Method {
    fn from_sig(trait_name: &str, sig: &mut Signature) -> syn::Result<Self> {
        let name = sig.ident.to_string();
        check_plain_signature(sig)?;
        let mut mutable = false;
        let mut receiver_seen = false;
        let mut args = Vec::new();
        for input in &mut sig.inputs {
            match input {
                FnArg::Receiver(r) => {
                    if r.reference.is_none() || r.colon_token.is_some() {
                        return err(
                            &*r,
                            "world methods take `&self` or `&mut self`: a recorder must call the inner world and keep it, so `self` by value (or a custom `self` type) is not supported",
                        );
                    }
                    mutable = r.mutability.is_some();
                    receiver_seen = true;
                }
                FnArg::Typed(pat_type) => args.push(Arg::from_typed(pat_type)?),
            }
        }
        if !receiver_seen {
            return err(
                &sig.ident,
                "world methods need a `&self` or `&mut self` receiver: the recorder and replayer are values that answer the call",
            );
        }
        let future = output_future(sig)?;
        let error_type = match (&future, &sig.output) {
            (Some(out), _) => result_error(out),
            (None, ReturnType::Type(_, ty)) => result_error(ty),
            (None, ReturnType::Default) => None,
        };
        Ok(Self {
            sig: sig.clone(),
            call_name: format!("{trait_name}::{name}"),
            mutable,
            future_output: future,
            error_type,
            args,
        })
    }
}

/// No type parameters, `unsafe` or variadics: a replayed call must name
/// one concrete signature.
fn check_plain_signature(sig: &Signature) -> syn::Result<()> {
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|p| !matches!(p, GenericParam::Lifetime(_)))
    {
        return err(
            param,
            "generic methods cannot be recorded: a replayed call must name one concrete type for each argument and the output; use a concrete type (an enum covers several cases)",
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        return err(unsafety, "world methods cannot be `unsafe`");
    }
    if let Some(variadic) = &sig.variadic {
        return err(variadic, "world methods cannot be variadic");
    }
    Ok(())
}

/// The `T` of a `-> impl Future<Output = T>` method, after checking that
/// the output is owned and replayable.
fn output_future(sig: &Signature) -> syn::Result<Option<Type>> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return Ok(None);
    };
    let mut future = None;
    if let Some(out) = future_output(ty) {
        if sig.asyncness.is_some() {
            return err(ty, "an `async fn` cannot also return `impl Future`");
        }
        future = Some(out);
    } else if contains_impl_trait(ty) {
        return err(
            ty,
            "`impl Trait` return types cannot be replayed (only `impl Future<Output = T>`): return a concrete type",
        );
    }
    let checked = future.as_ref().unwrap_or(ty);
    if contains_reference(checked) {
        return err(
            checked,
            "world methods must return owned values: the replayer rebuilds the output from the scenario file (use String, Vec<T>, ...)",
        );
    }
    Ok(future)
}

impl Arg {
    /// One `name: Type` argument; strips its `#[rehearse(...)]` attributes.
    fn from_typed(pat_type: &mut PatType) -> syn::Result<Self> {
        let mut redact = false;
        let mut keep = Vec::new();
        for attr in pat_type.attrs.drain(..) {
            if attr.path().is_ident("rehearse") {
                attr.parse_nested_meta(|meta| {
                    if meta.path.is_ident("redact") {
                        redact = true;
                        Ok(())
                    } else {
                        Err(meta.error("unknown rehearse argument attribute; the only one is `#[rehearse(redact)]`"))
                    }
                })?;
            } else {
                keep.push(attr);
            }
        }
        pat_type.attrs = keep;
        if contains_impl_trait(&pat_type.ty) {
            return err(
                &pat_type.ty,
                "`impl Trait` arguments cannot be recorded or replayed: the argument needs one concrete, serializable type",
            );
        }
        let ident = match &*pat_type.pat {
            Pat::Ident(p) if p.subpat.is_none() => p.ident.clone(),
            other => {
                return err(
                    other,
                    "world method arguments must be plain names (`name: Type`): the name labels the argument in divergence reports",
                );
            }
        };
        Ok(Self {
            ident,
            span: pat_type.ty.span(),
            redact,
            by_ref: matches!(&*pat_type.ty, Type::Reference(_)),
        })
    }
}
