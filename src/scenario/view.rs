//! How a bucket looks from an expression: `queue` (`queue.Queue`, `queue.L`) and `leaky` (`leaky.Total_count`,
//! `leaky.First_ts`, …) in `condition`, `bayesian_conditions` and `overflow_filter`, with CrowdSec's Go names.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::event::{Event, Timestamp};
use crate::expr::{HostObject, Value};

use super::compile::Scenario;
use super::instance::Instance;

/// `queue`: the kept events.
pub struct QueueView<'a> {
    events: Vec<&'a Event>,
    limit: Option<usize>,
}

impl<'a> QueueView<'a> {
    pub fn new(queue: &'a VecDeque<Arc<Event>>, limit: Option<usize>) -> Self {
        QueueView { events: queue.iter().map(|e| &**e).collect(), limit }
    }
}

impl HostObject for QueueView<'_> {
    fn type_name(&self) -> &'static str {
        "Queue"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        match name {
            "Queue" => Some(Value::array(self.events.iter().map(|e| Value::host(*e)))),
            // Go stores "unbounded" as the largest int.
            "L" => Some(Value::Int(self.limit.map(|l| l as i64).unwrap_or(i64::MAX))),
            _ => None,
        }
    }

    fn method<'a>(&'a self, name: &str, _args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        match name {
            "GetQueue" => Ok(Value::array(self.events.iter().map(|e| Value::host(*e)))),
            _ => Err(format!("Queue has no method {name}")),
        }
    }

    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "Queue": self.events.iter().map(|e| serde_json::to_value(e).unwrap_or_default()).collect::<Vec<_>>(),
            "L": self.limit,
        })
    }
}

/// `leaky`: the bucket instance.
pub struct LeakyView<'a> {
    pub inst: &'a Instance,
    pub scenario: &'a Scenario,
}

fn time_value<'a>(t: Option<Timestamp>) -> Value<'a> {
    Value::Time(t.unwrap_or_else(crate::event::zero_time))
}

impl HostObject for LeakyView<'_> {
    fn type_name(&self) -> &'static str {
        "Leaky"
    }

    fn field<'a>(&'a self, name: &str) -> Option<Value<'a>> {
        Some(match name {
            "Total_count" => Value::Int(self.inst.total_count),
            "First_ts" => time_value(self.inst.first_ts),
            "Last_ts" => time_value(self.inst.last_ts),
            "Ovflw_ts" => time_value(self.inst.ovflw_ts),
            "Mapkey" => Value::str(&self.inst.key),
            "Name" => Value::str(&self.scenario.name),
            "Capacity" => Value::Int(self.scenario.capacity),
            "Leakspeed" => Value::Duration(self.scenario.leakspeed),
            "Duration" => Value::Duration(self.scenario.expiry),
            "Mode" => Value::Int(self.inst.mode.as_int()),
            _ => return None,
        })
    }

    fn method<'a>(&'a self, name: &str, _args: Vec<Value<'a>>) -> Result<Value<'a>, String> {
        Err(format!("Leaky has no method {name}"))
    }

    fn to_json(&self) -> serde_json::Value {
        let t = |t: Option<Timestamp>| t.map(|t| crate::event::format_rfc3339(&t));
        serde_json::json!({
            "Name": &*self.scenario.name,
            "Mapkey": self.inst.key,
            "Total_count": self.inst.total_count,
            "First_ts": t(self.inst.first_ts),
            "Last_ts": t(self.inst.last_ts),
            "Ovflw_ts": t(self.inst.ovflw_ts),
            "Capacity": self.scenario.capacity,
        })
    }
}
