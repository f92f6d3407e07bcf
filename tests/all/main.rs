//! Integration tests of wasmtaps through its public API.
//!
//! Hostile guests are inline WAT; well-behaved ones are the SDK-built example modules.

mod cache;
mod component_languages;
mod components;
mod containment;
mod engine;
mod examples;
mod hostile;
mod loading;
mod mounts;
mod polyglot;
mod slot_reset;
mod spares;
mod support;
