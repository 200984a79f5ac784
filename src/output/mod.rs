//! What Correlator does with what it finds: the Correlator event view of alerts (`event`), their rendering
//! (`render`, `template`), the listeners that deliver them (`listeners`) and the dispatcher that fans alerts out
//! to the listeners (`dispatch`).

pub mod dispatch;
pub mod event;
pub mod listeners;
pub mod render;
pub mod template;
