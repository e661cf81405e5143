//! twinscope: a native viewer and time machine for digital twins built on Apache Kafka.
//!
//! Data flows one way: [`kafka`] threads decode records and send batches over a bounded
//! channel; the app's apply thread applies them to the [`twin`] store between frames; panels
//! in [`ui`] read the store
//! at the [`timeline`] cursor and return commands that [`app`] applies at the end of a frame.

#[cfg(feature = "app")]
pub mod app;
pub mod config;
#[cfg(feature = "app")]
pub mod headless;
#[cfg(feature = "app")]
pub mod incident_bundle;
#[cfg(feature = "app")]
pub mod job_thread;
#[cfg(feature = "app")]
pub mod kafka;
#[cfg(feature = "app")]
pub mod predict;
pub mod schema;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod timeline;
pub mod twin;
#[cfg(feature = "app")]
pub mod ui;
