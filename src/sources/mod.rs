//! Where herald's pipeline facts come from. `native`: the host writes
//! herald's host tables (docs/hosts.md) and their triggers tell herald.
//! `bytebase`: herald follows a Bytebase metadata database itself.

pub mod bytebase;
