//! Files in and out: reading inputs ([`input`]) and publishing outputs
//! ([`publish`]). Nothing else in the crate touches the file system.

pub mod input;
pub mod publish;
