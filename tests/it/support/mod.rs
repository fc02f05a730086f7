//! Support shared by the integration tests, in one place:
//! [`binary`] (running the real binary in a work directory, reading what it
//! published), [`frames`] (a frame's column as plain values),
//! [`pipelines`] (pipeline files for test histories) and [`expected`]
//! (running a pipeline in-process and comparing frames with CSV files of
//! expectations).

pub mod binary;
pub mod expected;
pub mod frames;
pub mod pipelines;

pub use binary::*;
pub use expected::*;
pub use frames::*;
pub use pipelines::*;
