//! Files in and out: reading inputs ([`input`], and the optional survey
//! input through the same readers in [`surveys`]) and publishing outputs
//! ([`publish`]). Nothing else in the crate touches the file system.

pub mod input;
pub mod publish;
pub mod surveys;
