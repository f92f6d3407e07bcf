//! Expansion of `#[task]`: the user's function is kept as written and a hidden
//! module next to it holds the export shim and the manifest entry.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Signature, Type};

use crate::attr::TaskArgs;
use crate::manifest;

/// Expands `#[task(args)] item`.
pub fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let args: TaskArgs = syn::parse2(args)?;
    let func = parse_fn(item)?;
    let params = check_signature(&func.sig)?;

    let fn_ident = &func.sig.ident;
    let name = match &args.name {
        Some(lit) => lit.value(),
        None => fn_ident.unraw().to_string(),
    };
    let export = format_ident!("wasmtaps_task_{}", name);
    let module = format_ident!("__wasmtaps_task_{}", fn_ident.unraw());
    let param_names: Vec<String> = params.iter().map(|p| p.ident.unraw().to_string()).collect();
    let entry_bytes = manifest::entry(&name, &export.to_string(), &param_names);
    let entry_len = entry_bytes.len();
    let entry = Literal::byte_string(&entry_bytes);

    let private = quote!(::wasmtaps_guest::__private);
    let args_ident = Ident::new("__wasmtaps_args", Span::call_site());
    let reply_ident = Ident::new("__wasmtaps_reply", Span::call_site());
    let arg_idents: Vec<Ident> = (0..params.len())
        .map(|i| format_ident!("__wasmtaps_arg{}", i))
        .collect();
    // Each decode carries the span of its parameter's type (the path the first
    // token's, the call parentheses the last one's, so that the call expression
    // covers the type): a type that is not `Deserialize` is reported there.
    let decodes = params.iter().zip(&arg_idents).map(|(param, arg)| {
        let (first, last) = first_last_spans(param.ty);
        let path = quote_spanned!(first=> ::wasmtaps_guest::__private::Args::next_param);
        let call = quote_spanned!(last=> (#args_ident)?);
        quote!(let #arg = #path #call;)
    });
    // Likewise the reply carries the span of the return type, so that a value that
    // is not `Serialize` (or an error that is not `Display`) is reported there.
    let (ret_span, reply_fn) = match &func.sig.output {
        ReturnType::Default => (
            Span::call_site(),
            quote!(::wasmtaps_guest::__private::plain),
        ),
        ReturnType::Type(_, ty) => {
            let span = ty.span();
            if is_result(ty) {
                (
                    span,
                    quote_spanned!(span=> ::wasmtaps_guest::__private::fallible),
                )
            } else {
                (
                    span,
                    quote_spanned!(span=> ::wasmtaps_guest::__private::plain),
                )
            }
        }
    };
    let ret = Ident::new("__wasmtaps_ret", ret_span);
    let reply = quote_spanned!(ret_span=> #reply_fn(#reply_ident, #ret));

    Ok(quote! {
        #func

        #[doc(hidden)]
        #[allow(
            dead_code,
            non_snake_case,
            clippy::let_unit_value,
            clippy::unit_arg,
            clippy::used_underscore_binding
        )]
        mod #module {
            const SPEC: #private::TaskSpec = #private::TaskSpec {
                name: #name,
                params: &[#(#param_names),*],
            };

            /// Decodes the arguments, calls the task and encodes its result envelope.
            pub(super) fn call(input: &[u8], out: &mut dyn #private::Output) {
                #private::run_task(input, &SPEC, out, |#args_ident, #reply_ident| {
                    #(#decodes)*
                    let #ret = super::#fn_ident(#(#arg_idents),*);
                    ::core::result::Result::Ok(#reply)
                })
            }

            /// The task export of wasmtaps guest ABI v1.
            #[cfg(target_arch = "wasm32")]
            #[unsafe(no_mangle)]
            pub extern "C" fn #export(ptr: i32, len: i32) -> i64 {
                // SAFETY: under the ABI the host passes `len` bytes at `ptr`, a region it
                // got from `wasmtaps_alloc` and filled with the arguments.
                unsafe { #private::export(ptr, len, call) }
            }

            /// This task's entry of the `wasmtaps.tasks` manifest section.
            #[cfg(target_arch = "wasm32")]
            #[used]
            #[unsafe(link_section = "wasmtaps.tasks")]
            static MANIFEST: [u8; #entry_len] = *#entry;
        }
    })
}

/// A parameter accepted by `#[task]`: a plain identifier and a type that is not `&mut`.
struct Param<'a> {
    ident: &'a Ident,
    ty: &'a Type,
}

fn parse_fn(item: TokenStream) -> syn::Result<ItemFn> {
    match syn::parse2::<syn::Item>(item)? {
        syn::Item::Fn(func) => Ok(func),
        other => Err(syn::Error::new_spanned(
            other,
            "`#[task]` can only be applied to a free function",
        )),
    }
}

/// Checks everything the export shim relies on, reporting every problem at once.
fn check_signature(sig: &Signature) -> syn::Result<Vec<Param<'_>>> {
    let mut errors: Vec<syn::Error> = Vec::new();
    let mut error = |tokens: &dyn ToTokens, message: &str| {
        errors.push(syn::Error::new_spanned(tokens, message))
    };

    if let Some(token) = &sig.asyncness {
        error(token, "task functions cannot be `async`");
    }
    if let Some(token) = &sig.unsafety {
        error(token, "task functions cannot be `unsafe`");
    }
    // Lifetimes are fine (a parameter may borrow from the arguments); types and
    // constants are not.
    if let Some(param) = sig
        .generics
        .params
        .iter()
        .find(|param| !matches!(param, syn::GenericParam::Lifetime(_)))
    {
        error(
            param,
            "task functions cannot be generic: the export needs concrete parameter types",
        );
    }
    if let Some(clause) = &sig.generics.where_clause {
        error(clause, "task functions cannot have a `where` clause");
    }
    if let Some(variadic) = &sig.variadic {
        error(variadic, "task functions cannot be variadic");
    }

    let mut params = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => error(
                receiver,
                "task functions cannot take `self`: a task is a free function",
            ),
            FnArg::Typed(typed) => {
                let ident = match &*typed.pat {
                    Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => {
                        Some(&pat.ident)
                    }
                    pat => {
                        error(
                            pat,
                            "task parameters must be plain identifiers: \
                             their names are the keyword argument names",
                        );
                        None
                    }
                };
                match &*typed.ty {
                    Type::ImplTrait(ty) => error(
                        ty,
                        "`impl Trait` parameters make the function generic; \
                         task parameters need concrete types",
                    ),
                    Type::Reference(ty) if ty.mutability.is_some() => error(
                        ty,
                        "task parameters cannot be `&mut`: they are deserialized from \
                         the arguments (borrow with `&` or take an owned value)",
                    ),
                    _ => {
                        if let Some(ident) = ident {
                            params.push(Param {
                                ident,
                                ty: &typed.ty,
                            });
                        }
                    }
                }
            }
        }
    }

    match errors.into_iter().reduce(|mut all, next| {
        all.combine(next);
        all
    }) {
        Some(all) => Err(all),
        None => Ok(params),
    }
}

/// The spans of the first and the last token of `tokens`.
fn first_last_spans(tokens: &dyn ToTokens) -> (Span, Span) {
    let mut iter = tokens.to_token_stream().into_iter();
    let first = iter
        .next()
        .map_or_else(Span::call_site, |token| token.span());
    let last = iter.last().map_or(first, |token| token.span());
    (first, last)
}

/// Whether the return type is spelled as a `Result` (`Result<T, E>`,
/// `std::io::Result<T>`, ...): such a task returns `{"err": ...}` for `Err`.
fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(path) if path.qself.is_none() => path
            .path
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "Result"),
        Type::Group(group) => is_result(&group.elem),
        Type::Paren(paren) => is_result(&paren.elem),
        _ => false,
    }
}
