//! Support shared by the integration tests, in one place:
//! [`binary`] (running the real binary in a work directory, reading what it
//! published), [`frames`] (a frame's column as plain values),
//! [`pipelines`] (pipeline files for test histories), [`expected`]
//! (running a pipeline in-process and comparing frames with CSV files of
//! expectations) and [`s3`] (a real S3-compatible server process).

pub mod binary;
pub mod expected;
pub mod frames;
pub mod pipelines;
pub mod s3;

pub use binary::*;
pub use expected::*;
pub use frames::*;
pub use pipelines::*;
