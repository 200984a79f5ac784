//! `XMLGetNodeValue(xml, xpath)` / `XMLGetAttributeValue(xml, xpath, attr)` on a small XPath subset, enough for
//! Windows event logs: absolute (`/Event/System/EventID`) and descendant (`//Data`) steps, `*`, positional
//! predicates (`[1]`), attribute predicates (`[@Name='Image']`), and a final `@attr` or `text()` step. Element
//! names match the local name (Windows events use a default namespace). Anything else is an error.
//! Parse failures and misses give `""`, as CrowdSec logs and returns an empty string.

use roxmltree::{Document, Node};

use super::super::Scope;
use super::super::builtins::arg_str;
use super::super::value::Value;

type Res<'a> = Result<Value<'a>, String>;

#[derive(Debug, PartialEq)]
enum Pred {
    Pos(usize),
    Attr(String, String),
    Has(String),
}

#[derive(Debug, PartialEq)]
enum Step {
    Elem { descendant: bool, name: String, preds: Vec<Pred> },
    Attr(String),
    Text,
}

fn parse_xpath(p: &str) -> Result<Vec<Step>, String> {
    let bad = || format!("unsupported XPath expression {p:?}");
    let mut steps = Vec::new();
    let mut rest = p.trim();
    if !rest.starts_with('/') {
        rest = rest.strip_prefix("./").unwrap_or(rest);
        // A relative path is evaluated from the document root, as xmlquery.FindOne does.
        let owned = format!("//{rest}");
        return parse_xpath(&owned).map_err(|_| bad());
    }
    while !rest.is_empty() {
        let descendant = rest.starts_with("//");
        rest = rest.strip_prefix("//").or_else(|| rest.strip_prefix('/')).ok_or_else(bad)?;
        let end = {
            let mut depth = 0;
            let mut quote: Option<char> = None;
            let mut end = rest.len();
            for (i, c) in rest.char_indices() {
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, '\'' | '"') => quote = Some(c),
                    (None, '[') => depth += 1,
                    (None, ']') => depth -= 1,
                    (None, '/') if depth == 0 => {
                        end = i;
                        break;
                    }
                    _ => {}
                }
            }
            end
        };
        let step = &rest[..end];
        rest = &rest[end..];
        if let Some(a) = step.strip_prefix('@') {
            steps.push(Step::Attr(a.to_string()));
            continue;
        }
        if step == "text()" {
            steps.push(Step::Text);
            continue;
        }
        let (name, mut preds_src) = match step.find('[') {
            Some(i) => (&step[..i], &step[i..]),
            None => (step, ""),
        };
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '*')) {
            return Err(bad());
        }
        let mut preds = Vec::new();
        while !preds_src.is_empty() {
            if !preds_src.starts_with('[') {
                return Err(bad());
            }
            let close = preds_src.find(']').ok_or_else(bad)?;
            let inner = preds_src[1..close].trim();
            preds_src = &preds_src[close + 1..];
            if let Ok(n) = inner.parse::<usize>() {
                preds.push(Pred::Pos(n));
            } else if let Some(a) = inner.strip_prefix('@') {
                match a.split_once('=') {
                    Some((k, v)) => {
                        let v = v.trim();
                        let v = v
                            .strip_prefix('\'')
                            .and_then(|v| v.strip_suffix('\''))
                            .or_else(|| v.strip_prefix('"').and_then(|v| v.strip_suffix('"')))
                            .ok_or_else(bad)?;
                        preds.push(Pred::Attr(k.trim().to_string(), v.to_string()));
                    }
                    None => preds.push(Pred::Has(a.trim().to_string())),
                }
            } else {
                return Err(bad());
            }
        }
        let name = name.rsplit(':').next().unwrap_or(name).to_string();
        steps.push(Step::Elem { descendant, name, preds });
    }
    Ok(steps)
}

fn name_matches(n: &Node, name: &str) -> bool {
    n.is_element() && (name == "*" || n.tag_name().name() == name)
}

fn apply_preds<'d, 'i>(mut nodes: Vec<Node<'d, 'i>>, preds: &[Pred]) -> Vec<Node<'d, 'i>> {
    for p in preds {
        nodes = match p {
            Pred::Pos(n) => nodes.into_iter().nth(n.wrapping_sub(1)).into_iter().collect(),
            Pred::Attr(k, v) => nodes.into_iter().filter(|n| n.attribute(k.as_str()) == Some(v.as_str())).collect(),
            Pred::Has(k) => nodes.into_iter().filter(|n| n.has_attribute(k.as_str())).collect(),
        };
    }
    nodes
}

/// Element nodes selected by the element steps; returns them with the trailing non-element step, if any.
fn select<'d, 'i>(doc: &'d Document<'i>, steps: &'d [Step]) -> (Vec<Node<'d, 'i>>, Option<&'d Step>) {
    let mut ctx = vec![doc.root()];
    for (i, step) in steps.iter().enumerate() {
        let Step::Elem { descendant, name, preds } = step else {
            return (ctx, Some(step).filter(|_| i == steps.len() - 1));
        };
        let mut next = Vec::new();
        for c in &ctx {
            // Predicates apply per parent, as in XPath (`Data[2]` is the 2nd Data child of each parent).
            let cands: Vec<Node> = if *descendant {
                c.descendants().filter(|n| n != c && name_matches(n, name)).collect()
            } else {
                c.children().filter(|n| name_matches(n, name)).collect()
            };
            for n in apply_preds(cands, preds) {
                if !next.contains(&n) {
                    next.push(n);
                }
            }
        }
        ctx = next;
    }
    (ctx, None)
}

fn inner_text(n: &Node) -> String {
    n.descendants().filter(|d| d.is_text()).filter_map(|d| d.text()).collect()
}

/// The text of the first node selected by `xpath` (attribute value for a final `@attr`).
pub fn get_node_value(xml: &str, xpath: &str) -> Result<String, String> {
    let steps = parse_xpath(xpath)?;
    let doc = Document::parse(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let (nodes, tail) = select(&doc, &steps);
    let Some(first) = nodes.first() else { return Ok(String::new()) };
    Ok(match tail {
        Some(Step::Attr(a)) => nodes.iter().find_map(|n| n.attribute(a.as_str())).unwrap_or("").to_string(),
        _ => inner_text(first),
    })
}

pub fn get_attribute_value(xml: &str, xpath: &str, attr: &str) -> Result<String, String> {
    let steps = parse_xpath(xpath)?;
    let doc = Document::parse(xml).map_err(|e| format!("invalid XML: {e}"))?;
    let (nodes, _) = select(&doc, &steps);
    Ok(nodes.first().and_then(|n| n.attribute(attr)).unwrap_or("").to_string())
}

pub fn node_value<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let xml = arg_str(&a, 0, "XMLGetNodeValue")?;
    let path = arg_str(&a, 1, "XMLGetNodeValue")?;
    Ok(Value::string(get_node_value(xml, path).unwrap_or_else(|e| {
        tracing::debug!("XMLGetNodeValue: {e}");
        String::new()
    })))
}

pub fn attribute_value<'a>(_: &mut Scope<'a>, a: Vec<Value<'a>>) -> Res<'a> {
    let xml = arg_str(&a, 0, "XMLGetAttributeValue")?;
    let path = arg_str(&a, 1, "XMLGetAttributeValue")?;
    let attr = arg_str(&a, 2, "XMLGetAttributeValue")?;
    Ok(Value::string(get_attribute_value(xml, path, attr).unwrap_or_else(|e| {
        tracing::debug!("XMLGetAttributeValue: {e}");
        String::new()
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVT: &str = r#"<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System><Provider Name="Microsoft-Windows-Sysmon"/><EventID>1</EventID><Computer>host</Computer></System><EventData><Data Name="Image">C:\x.exe</Data><Data Name="User">bob</Data><Data>third</Data></EventData></Event>"#;

    #[test]
    fn windows_event_paths() {
        assert_eq!(get_node_value(EVT, "/Event/System[1]/EventID").unwrap(), "1");
        assert_eq!(get_node_value(EVT, "/Event/EventData[1]/Data[@Name='User']").unwrap(), "bob");
        assert_eq!(get_node_value(EVT, "/Event/EventData[1]/Data[3]").unwrap(), "third");
        assert_eq!(get_node_value(EVT, "//Data[@Name='Image']").unwrap(), "C:\\x.exe");
        assert_eq!(get_node_value(EVT, "/Event/System/Provider/@Name").unwrap(), "Microsoft-Windows-Sysmon");
        assert_eq!(get_attribute_value(EVT, "/Event/System/Provider", "Name").unwrap(), "Microsoft-Windows-Sysmon");
        assert_eq!(get_node_value(EVT, "/Event/Nope").unwrap(), "");
        assert!(get_node_value("<bad", "/a").is_err());
        assert!(parse_xpath("/a[position()<3]").is_err());
        assert!(parse_xpath("/a[1]]").is_err());
        assert!(parse_xpath("/a[1]x[2]").is_err());
    }
}
