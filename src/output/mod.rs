//! What Correlator does with what it finds: alert rendering and the listeners that deliver alerts.

pub mod render;
