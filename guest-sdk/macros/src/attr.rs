//! Arguments of the attribute itself: `#[task]` or `#[task(name = "...")]`.

use syn::parse::{Parse, ParseStream};
use syn::{LitStr, Token};

/// Parsed `#[task(...)]` arguments.
#[derive(Default)]
pub struct TaskArgs {
    /// `name = "..."`: the task name, when it differs from the function name.
    pub name: Option<LitStr>,
}

impl Parse for TaskArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut args = TaskArgs::default();
        while !input.is_empty() {
            let key: syn::Ident = input.parse()?;
            if key != "name" {
                return Err(syn::Error::new(
                    key.span(),
                    format!("unknown `#[task]` argument `{key}`; expected `name = \"...\"`"),
                ));
            }
            if !input.peek(Token![=]) {
                return Err(syn::Error::new(
                    key.span(),
                    "expected `name = \"...\"` with a string literal",
                ));
            }
            input.parse::<Token![=]>()?;
            let value: LitStr = match input.parse::<syn::Lit>()? {
                syn::Lit::Str(lit) => lit,
                other => {
                    return Err(syn::Error::new(
                        other.span(),
                        "the task name must be a string literal",
                    ));
                }
            };
            validate_name(&value)?;
            if args.name.is_some() {
                return Err(syn::Error::new(key.span(), "duplicate `name` argument"));
            }
            args.name = Some(value);
            if input.is_empty() {
                break;
            }
            input.parse::<Token![,]>()?;
        }
        Ok(args)
    }
}

/// Task names become part of an export name, `wasmtaps_task_<name>`, so they are
/// restricted to ASCII letters, digits and `_`.
fn validate_name(lit: &LitStr) -> syn::Result<()> {
    let name = lit.value();
    if name.is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            "the task name must not be empty",
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
    {
        return Err(syn::Error::new(
            lit.span(),
            format!(
                "invalid character {bad:?} in task name: use ASCII letters, digits and `_` \
                 (the name becomes the export `wasmtaps_task_<name>`)"
            ),
        ));
    }
    Ok(())
}
