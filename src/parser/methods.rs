//! `method:` statics: call an enricher on the static's value and merge what it returns into the event
//! (`Enriched` keys, `Time` for `ParseDate` in replay, `Unmarshaled` for `UnmarshalJSON`).

use crate::event::{Event, ExpectMode};

use super::enrich::EnrichContext;
use super::runtime::Runtime;

pub fn call(name: &str, value: &str, evt: &mut Event, rt: &Runtime) {
    let out = {
        let ctx = EnrichContext {
            clock: rt.clock,
            time_machine: evt.expect_mode == ExpectMode::TimeMachine,
            str_time_format: evt.str_time_format(),
            line_raw: &evt.line.raw,
        };
        rt.enrichers.call(name, value, &ctx)
    };
    let Some(out) = out else {
        // CrowdSec ignores unknown methods (debug log only).
        tracing::debug!("unknown enricher method {name:?}");
        return;
    };
    for (k, v) in out.fields {
        evt.enriched.insert_static(k, v);
    }
    if let Some(t) = out.event_time {
        evt.time = Some(t);
    }
    if let Some(map) = out.unmarshaled {
        evt.unmarshaled_mut().extend(map);
    }
}
