//! Go standard-library behaviours that CrowdSec YAML relies on, re-implemented once for every stage.
//!
//! CrowdSec is written in Go, so its files carry Go notations: RE2 regular expressions (grok patterns, `matches`,
//! data files, `exclude_regexps`), Go durations (`leakspeed: 10s`, `blackhole: 1m`, `duration("10m")`) and Go
//! time layouts (`StrTimeFormat`). Everything that reads one of those goes through here, so the quirks are
//! handled in one place.

pub mod duration;
pub mod regex;
pub mod sort;
pub mod time;
