//! Function definitions from an AWS SAM template.
//!
//! Reads the `AWS::Serverless::Function` resources (FunctionName, MemorySize,
//! Timeout, Architectures, Environment.Variables, LoggingConfig.LogFormat,
//! Description, EventInvokeConfig, DeadLetterQueue) with `Globals.Function`
//! merged the way SAM merges it (maps deep-merged, lists appended, scalars
//! overridden by the resource). Values are resolved as far as a template can
//! be without a stack: `Ref` to a parameter gives its `Default`, pseudo
//! parameters give the emulator's region and account, `Fn::GetAtt Q.Arn` of
//! an `AWS::SQS::Queue` gives the queue's ARN in the emulator (named by its
//! `QueueName`, or its logical id without one), `Fn::Sub` and `Fn::Join`
//! over those resolve too. Anything else (another resource's `Ref` or
//! attribute, `Fn::If`, ...) cannot be known locally: such environment
//! variables are left out so the caller can set them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use crate::lambda::{EventInvokeConfig, FunctionSpec, LogFormat};
use crate::{Error, ACCOUNT_ID, REGION};

/// Reads `template` and returns one [`FunctionSpec`] per `(name, executable)`
/// in `binaries`, in that order. A name matches a function's `FunctionName`
/// (or its logical id when it has none); a name the template does not define
/// gets AWS's defaults (see [`FunctionSpec::new`]).
///
/// # Errors
/// [`Error::Template`] when the file cannot be read or is not a YAML mapping,
/// or when a function's MemorySize or Timeout cannot be resolved to a number.
pub fn load_functions(
    template: &Path,
    binaries: &[(String, PathBuf)],
) -> Result<Vec<FunctionSpec>, Error> {
    let (defined, resolver) = read(template)?;
    binaries
        .iter()
        .map(|(name, executable)| {
            let mut spec = FunctionSpec::new(name.clone(), executable.clone());
            if let Some(props) = defined.get(name) {
                apply(&mut spec, props, &resolver).map_err(|m| Error::Template {
                    path: template.to_path_buf(),
                    message: format!("function {name}: {m}"),
                })?;
            }
            Ok(spec)
        })
        .collect()
}

/// The names of the functions `template` defines (`FunctionName`, or the
/// logical id when it has none), sorted.
///
/// # Errors
/// [`Error::Template`] when the file cannot be read or is not a YAML mapping.
pub fn function_names(template: &Path) -> Result<Vec<String>, Error> {
    Ok(read(template)?.0.into_keys().collect())
}

/// Every `AWS::Serverless::Function` of `template` by name, with Globals
/// merged, and the resolver for its values.
fn read(template: &Path) -> Result<(BTreeMap<String, Value>, Resolver), Error> {
    let fail = |message: String| Error::Template {
        path: template.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(template).map_err(|e| fail(e.to_string()))?;
    let doc: Value = serde_yaml_ng::from_str(&text).map_err(|e| fail(e.to_string()))?;
    let doc = long_form(doc);
    let Value::Mapping(doc) = doc else {
        return Err(fail("the template is not a YAML mapping".into()));
    };
    let resolver = Resolver::new(&doc);
    let globals = doc
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .cloned()
        .unwrap_or(Value::Mapping(Mapping::new()));

    let mut defined: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(Value::Mapping(resources)) = doc.get("Resources") {
        for (logical_id, resource) in resources {
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let own = resource
                .get("Properties")
                .cloned()
                .unwrap_or(Value::Mapping(Mapping::new()));
            let props = merge(globals.clone(), own);
            let name = props
                .get("FunctionName")
                .and_then(|v| resolver.scalar(v))
                .or_else(|| logical_id.as_str().map(str::to_string));
            if let Some(name) = name {
                defined.insert(name, props);
            }
        }
    }
    Ok((defined, resolver))
}

/// Fills `spec` from a function's (merged) properties.
fn apply(spec: &mut FunctionSpec, props: &Value, resolver: &Resolver) -> Result<(), String> {
    if let Some(v) = props.get("MemorySize") {
        spec.memory_mb = resolver
            .number(v)
            .ok_or_else(|| "MemorySize does not resolve to a number".to_string())?;
    }
    if let Some(v) = props.get("Timeout") {
        spec.timeout_s = resolver
            .number(v)
            .ok_or_else(|| "Timeout does not resolve to a number".to_string())?;
    }
    if let Some(arch) = props
        .get("Architectures")
        .and_then(Value::as_sequence)
        .and_then(|list| list.last())
        .and_then(|v| resolver.scalar(v))
    {
        spec.architecture = arch;
    }
    if let Some(d) = props.get("Description").and_then(|v| resolver.scalar(v)) {
        spec.description = d;
    }
    if let Some(format) = props
        .get("LoggingConfig")
        .and_then(|l| l.get("LogFormat"))
        .and_then(|v| resolver.scalar(v))
    {
        spec.log_format = match format.as_str() {
            "JSON" => LogFormat::Json,
            "Text" => LogFormat::Text,
            other => {
                return Err(format!(
                    "LoggingConfig.LogFormat {other:?} is neither JSON nor Text"
                ))
            }
        };
    }
    if let Some(config) = props.get("EventInvokeConfig") {
        let mut event_invoke = EventInvokeConfig::default();
        if let Some(v) = config.get("MaximumRetryAttempts") {
            event_invoke.maximum_retry_attempts = resolver
                .number(v)
                .filter(|n| *n <= 2)
                .ok_or("EventInvokeConfig.MaximumRetryAttempts is not a number from 0 to 2")?;
        }
        if let Some(v) = config.get("MaximumEventAgeInSeconds") {
            event_invoke.maximum_event_age_s = resolver
                .number(v)
                .filter(|n| (60..=21_600).contains(n))
                .ok_or(
                    "EventInvokeConfig.MaximumEventAgeInSeconds is not a number from 60 to 21600",
                )?;
        }
        event_invoke.on_failure = config
            .get("DestinationConfig")
            .and_then(|d| d.get("OnFailure"))
            .and_then(|f| f.get("Destination"))
            .and_then(|v| resolver.scalar(v));
        spec.event_invoke = Some(event_invoke);
    }
    // SAM's DeadLetterQueue ({Type: SQS, TargetArn}) or CloudFormation's
    // DeadLetterConfig ({TargetArn}).
    spec.dead_letter_arn = props
        .get("DeadLetterQueue")
        .filter(|d| d.get("Type").and_then(Value::as_str) == Some("SQS"))
        .or_else(|| props.get("DeadLetterConfig"))
        .and_then(|d| d.get("TargetArn"))
        .and_then(|v| resolver.scalar(v));
    if let Some(Value::Mapping(vars)) = props.get("Environment").and_then(|e| e.get("Variables")) {
        for (key, value) in vars {
            if let (Some(key), Some(value)) = (key.as_str(), resolver.scalar(value)) {
                spec.environment.insert(key.to_string(), value);
            }
        }
    }
    Ok(())
}

/// SAM's Globals merge: maps deep-merged, lists appended (globals first),
/// anything else taken from the resource.
fn merge(global: Value, own: Value) -> Value {
    match (global, own) {
        (Value::Mapping(mut g), Value::Mapping(o)) => {
            for (k, v) in o {
                let merged = match g.remove(&k) {
                    Some(gv) => merge(gv, v),
                    None => v,
                };
                g.insert(k, merged);
            }
            Value::Mapping(g)
        }
        (Value::Sequence(mut g), Value::Sequence(o)) => {
            g.extend(o);
            Value::Sequence(g)
        }
        (_, own) => own,
    }
}

/// Rewrites the short intrinsic tags (`!Ref X`, `!Sub s`, `!GetAtt A.B`)
/// into their long forms (`{Ref: X}`, `{Fn::Sub: s}`, `{Fn::GetAtt: [A, B]}`)
/// so resolution has one shape to look at.
fn long_form(value: Value) -> Value {
    match value {
        Value::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = long_form(tagged.value);
            let (key, inner) = match tag {
                "Ref" | "Condition" => (tag.to_string(), inner),
                "GetAtt" => {
                    let inner = match inner {
                        Value::String(s) => match s.split_once('.') {
                            Some((a, b)) => Value::Sequence(vec![a.into(), b.into()]),
                            None => Value::String(s),
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".to_string(), inner)
                }
                other => (format!("Fn::{other}"), inner),
            };
            let mut m = Mapping::new();
            m.insert(Value::String(key), inner);
            Value::Mapping(m)
        }
        Value::Mapping(m) => {
            Value::Mapping(m.into_iter().map(|(k, v)| (k, long_form(v))).collect())
        }
        Value::Sequence(s) => Value::Sequence(s.into_iter().map(long_form).collect()),
        other => other,
    }
}

/// Resolves values against the template's parameter defaults and queues.
struct Resolver {
    parameters: BTreeMap<String, String>,
    /// `AWS::SQS::Queue` resources: logical id to queue name.
    queues: BTreeMap<String, String>,
}

impl Resolver {
    fn new(doc: &Mapping) -> Self {
        let mut parameters = BTreeMap::new();
        if let Some(Value::Mapping(params)) = doc.get("Parameters") {
            for (name, param) in params {
                if let (Some(name), Some(default)) = (name.as_str(), param.get("Default")) {
                    if let Some(text) = plain_scalar(default) {
                        parameters.insert(name.to_string(), text);
                    }
                }
            }
        }
        let mut resolver = Self {
            parameters,
            queues: BTreeMap::new(),
        };
        if let Some(Value::Mapping(resources)) = doc.get("Resources") {
            for (logical_id, resource) in resources {
                let Some(id) = logical_id.as_str() else {
                    continue;
                };
                if resource.get("Type").and_then(Value::as_str) != Some("AWS::SQS::Queue") {
                    continue;
                }
                let name = resource
                    .get("Properties")
                    .and_then(|p| p.get("QueueName"))
                    .and_then(|v| resolver.scalar(v))
                    .unwrap_or_else(|| id.to_string());
                resolver.queues.insert(id.to_string(), name);
            }
        }
        resolver
    }

    fn number(&self, value: &Value) -> Option<u32> {
        self.scalar(value)?.trim().parse().ok()
    }

    /// The text a value stands for, when it can be known without a stack.
    fn scalar(&self, value: &Value) -> Option<String> {
        if let Some(text) = plain_scalar(value) {
            return Some(text);
        }
        let Value::Mapping(m) = value else {
            return None;
        };
        if m.len() != 1 {
            return None;
        }
        let (key, arg) = m.iter().next()?;
        match key.as_str()? {
            "Ref" => self.reference(arg.as_str()?),
            "Fn::GetAtt" => {
                let list = arg.as_sequence()?;
                match (list.first()?.as_str()?, list.get(1)?.as_str()?) {
                    (queue, "Arn") => self
                        .queues
                        .get(queue)
                        .map(|name| format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}")),
                    _ => None,
                }
            }
            "Fn::Sub" => match arg {
                Value::String(s) => self.substitute(s, &BTreeMap::new()),
                Value::Sequence(list) if list.len() == 2 => {
                    let template = list[0].as_str()?;
                    let mut vars = BTreeMap::new();
                    for (k, v) in list[1].as_mapping()? {
                        vars.insert(k.as_str()?.to_string(), self.scalar(v)?);
                    }
                    self.substitute(template, &vars)
                }
                _ => None,
            },
            "Fn::Join" => {
                let list = arg.as_sequence()?;
                let separator = list.first()?.as_str()?;
                let items = list.get(1)?.as_sequence()?;
                let parts: Option<Vec<String>> = items.iter().map(|v| self.scalar(v)).collect();
                Some(parts?.join(separator))
            }
            _ => None,
        }
    }

    /// `Ref` to a parameter (its default) or a pseudo parameter.
    fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::Region" => Some(REGION.to_string()),
            "AWS::AccountId" => Some(ACCOUNT_ID.to_string()),
            "AWS::Partition" => Some("aws".to_string()),
            "AWS::URLSuffix" => Some("amazonaws.com".to_string()),
            _ => self.parameters.get(name).cloned(),
        }
    }

    /// `Fn::Sub`: `${Name}` from `vars` or [`Resolver::reference`], `${!X}`
    /// is the literal `${X}`; any reference that cannot be resolved (a
    /// resource, `${Res.Arn}`) makes the whole value unknown.
    fn substitute(&self, template: &str, vars: &BTreeMap<String, String>) -> Option<String> {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}')?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let value = vars.get(name).cloned().or_else(|| self.reference(name))?;
                out.push_str(&value);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Some(out)
    }
}

fn plain_scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_tags_become_long_forms() {
        let v: Value =
            serde_yaml_ng::from_str("a: !Ref P\nb: !GetAtt R.Arn\nc: !Sub 'x-${P}'").unwrap();
        let v = long_form(v);
        assert_eq!(v["a"]["Ref"].as_str(), Some("P"));
        assert_eq!(v["b"]["Fn::GetAtt"][1].as_str(), Some("Arn"));
        assert_eq!(v["c"]["Fn::Sub"].as_str(), Some("x-${P}"));
    }

    #[test]
    fn sub_resolves_parameters_pseudo_parameters_and_literals() {
        let doc: Value = serde_yaml_ng::from_str("Parameters:\n  P:\n    Default: v\n").unwrap();
        let r = Resolver::new(doc.as_mapping().unwrap());
        assert_eq!(
            r.substitute("${P}-${AWS::Region}-${!Keep}", &BTreeMap::new())
                .as_deref(),
            Some("v-us-east-1-${Keep}")
        );
        assert_eq!(r.substitute("${Bucket.Arn}", &BTreeMap::new()), None);
    }

    #[test]
    fn event_invoke_config_and_queue_arns_resolve() {
        let doc: Value = long_form(
            serde_yaml_ng::from_str(
                "Parameters:\n  Retries:\n    Default: 1\nResources:\n  Dlq:\n    Type: AWS::SQS::Queue\n    Properties:\n      QueueName: my-dlq\n  Other:\n    Type: AWS::SQS::Queue\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      EventInvokeConfig:\n        MaximumRetryAttempts: !Ref Retries\n        MaximumEventAgeInSeconds: 120\n        DestinationConfig:\n          OnFailure:\n            Type: SQS\n            Destination: !GetAtt Dlq.Arn\n      DeadLetterQueue:\n        Type: SQS\n        TargetArn: !GetAtt Other.Arn\n",
            )
            .unwrap(),
        );
        let resolver = Resolver::new(doc.as_mapping().unwrap());
        let mut spec = FunctionSpec::new("F", "/bin/true");
        apply(&mut spec, &doc["Resources"]["F"]["Properties"], &resolver).unwrap();
        let config = spec.event_invoke.unwrap();
        assert_eq!(config.maximum_retry_attempts, 1);
        assert_eq!(config.maximum_event_age_s, 120);
        assert_eq!(
            config.on_failure.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:my-dlq")
        );
        assert_eq!(
            spec.dead_letter_arn.as_deref(),
            Some("arn:aws:sqs:us-east-1:123456789012:Other")
        );
    }

    #[test]
    fn globals_merge_deeply_and_resource_wins() {
        let g: Value =
            serde_yaml_ng::from_str("Timeout: 3\nEnvironment: {Variables: {A: g, B: g}}").unwrap();
        let o: Value =
            serde_yaml_ng::from_str("Timeout: 9\nEnvironment: {Variables: {B: o}}").unwrap();
        let m = merge(g, o);
        assert_eq!(m["Timeout"].as_u64(), Some(9));
        assert_eq!(m["Environment"]["Variables"]["A"].as_str(), Some("g"));
        assert_eq!(m["Environment"]["Variables"]["B"].as_str(), Some("o"));
    }
}
