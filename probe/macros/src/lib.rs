//! `#[tokmon_probe::test]`: an async test run on a multi-thread Tokio runtime watched by
//! tokmon-probe's guard, failing when one of its polls blocks a worker. Use it through
//! `tokmon-probe` with its `test` feature, which re-exports it; the expansion calls
//! `tokmon_probe::guard::run_test`.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{Expr, ExprArray, ExprLit, ItemFn, Lit, LitInt, LitStr};

/// Runs an `async fn` test on a fresh multi-thread runtime with the probe installed, and fails
/// it when a poll held a worker past the stall threshold, with one message per culprit.
///
/// ```ignore
/// #[tokmon_probe::test]                      // multi-thread, stall threshold 50 ms
/// async fn handles_a_burst() { /* ... */ }
///
/// #[tokmon_probe::test(stall = "20ms", worker_threads = 4, timeout = "30s",
///                      allow_frames = ["my_app::legacy::"], allow_spawn_sites = ["src/cache.rs"])]
/// async fn serves_from_cache() { /* ... */ }
/// ```
///
/// The body runs as a spawned task (a worker must poll it for the probe to see it), so its
/// future must be `Send`. `flavor = "current_thread"` is refused: see the guard's docs.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    match expand(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        Err(err) => err.to_compile_error().into(),
    }
}

/// The attribute's arguments, as option-builder calls.
#[derive(Default)]
struct Options {
    calls: Vec<TokenStream2>,
}

fn duration(lit: &LitStr) -> syn::Result<TokenStream2> {
    let parsed = humantime::parse_duration(&lit.value()).map_err(|err| {
        syn::Error::new(lit.span(), format!("not a duration ({err}): try \"50ms\""))
    })?;
    let nanos = u64::try_from(parsed.as_nanos())
        .map_err(|_| syn::Error::new(lit.span(), "too long a duration"))?;
    Ok(quote! { ::core::time::Duration::from_nanos(#nanos) })
}

/// `["a", "b"]` or `"a"`.
fn strings(expr: &Expr) -> syn::Result<Vec<LitStr>> {
    let one = |expr: &Expr| match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Ok(s.clone()),
        other => Err(syn::Error::new(other.span(), "expected a string literal")),
    };
    match expr {
        Expr::Array(ExprArray { elems, .. }) => elems.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

fn parse_options(args: TokenStream2) -> syn::Result<Options> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("stall") {
            let d = duration(&meta.value()?.parse::<LitStr>()?)?;
            options.calls.push(quote! { .stall(#d) });
        } else if meta.path.is_ident("timeout") {
            let d = duration(&meta.value()?.parse::<LitStr>()?)?;
            options.calls.push(quote! { .timeout(#d) });
        } else if meta.path.is_ident("worker_threads") {
            let n: LitInt = meta.value()?.parse()?;
            if n.base10_parse::<usize>()? == 0 {
                return Err(syn::Error::new(
                    n.span(),
                    "worker_threads must be at least 1",
                ));
            }
            options.calls.push(quote! { .worker_threads(#n) });
        } else if meta.path.is_ident("flavor") {
            let flavor: LitStr = meta.value()?.parse()?;
            match flavor.value().as_str() {
                "multi_thread" => {}
                "current_thread" => {
                    return Err(syn::Error::new(
                        flavor.span(),
                        "tokmon_probe::test watches a multi-thread runtime only: on a \
                         current-thread runtime every poll runs on the test's own thread, which \
                         the probe does not register, so nothing would be watched. Use \
                         `worker_threads = 1` for a single worker",
                    ));
                }
                other => {
                    return Err(syn::Error::new(
                        flavor.span(),
                        format!("unknown flavor {other:?}: \"multi_thread\" is the one supported"),
                    ));
                }
            }
        } else if meta.path.is_ident("allow_spawn_sites") || meta.path.is_ident("allow_frames") {
            let method = if meta.path.is_ident("allow_frames") {
                quote! { allow_frame }
            } else {
                quote! { allow_spawn_site }
            };
            for s in strings(&meta.value()?.parse::<Expr>()?)? {
                options.calls.push(quote! { .#method(#s) });
            }
        } else {
            return Err(meta.error(
                "unknown option: stall, timeout, worker_threads, flavor, allow_spawn_sites and \
                 allow_frames are known",
            ));
        }
        Ok(())
    });
    parser.parse2(args)?;
    Ok(options)
}

fn expand(args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let options = parse_options(args)?;
    let mut function: ItemFn = syn::parse2(item)?;
    if function.sig.asyncness.take().is_none() {
        return Err(syn::Error::new(
            function.sig.fn_token.span(),
            "tokmon_probe::test goes on an `async fn`",
        ));
    }
    if !function.sig.inputs.is_empty() {
        return Err(syn::Error::new(
            function.sig.inputs.span(),
            "a test function takes no arguments",
        ));
    }
    let calls = options.calls;
    let body = &function.block;
    // The call carries the test function's name's span: the body's task is spawned there, so a
    // culprit's spawn site is the test's own line.
    let at = function.sig.ident.span();
    let run = quote_spanned! {at=>
        ::tokmon_probe::guard::run_test(__tokmon_probe_options, async move #body)
    };
    let options = quote_spanned! {Span::call_site()=>
        let __tokmon_probe_options =
            ::tokmon_probe::guard::TestOptions::new(::core::env!("CARGO_MANIFEST_DIR")) #(#calls)*;
    };
    let attrs = &function.attrs;
    let vis = &function.vis;
    let sig = &function.sig;
    Ok(quote! {
        #(#attrs)*
        #[::core::prelude::v1::test]
        #vis #sig {
            #options
            #run
        }
    })
}
