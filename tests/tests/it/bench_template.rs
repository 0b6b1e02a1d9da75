//! Cross-checks the benchmark stack (`bench/template.yaml`) and the
//! harness's IAM policy (`perfharness/iam-policy.json`) against the code, as
//! `template_crosscheck` does for the production template:
//!
//! - the policy the stack attaches to the deployed function's role grants
//!   exactly the S3 and Secrets Manager actions the production role grants
//!   (which `template_crosscheck` checks against the function's SDK calls),
//!   scoped to the benchmark prefix and the mock's secret;
//! - mock-vanta and the reference function call no AWS API, so their roles
//!   grant only what the Lambda service uses (their own logs);
//! - no statement has a wildcard action or resource;
//! - the names the harness derives (mock function, secret, bucket, prefix,
//!   reference function) are the ones the stack creates and outputs;
//! - `perfharness/iam-policy.json` grants every Lambda and Logs action the
//!   harness calls against AWS and nothing else.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::template_crosscheck::{cfn, rust_source};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn bench() -> Value {
    cfn::load(&repo_root().join("bench/template.yaml"))
}

/// Allow statements of an inline or attached policy document.
fn statements(doc: &Value) -> Vec<&Value> {
    cfn::get(doc, "Statement")
        .and_then(Value::as_sequence)
        .expect("a Statement list")
        .iter()
        .filter(|s| cfn::get(s, "Effect").and_then(Value::as_str) == Some("Allow"))
        .collect()
}

fn actions(s: &Value) -> BTreeSet<String> {
    cfn::get(s, "Action")
        .map(cfn::strings)
        .unwrap_or_default()
        .into_iter()
        .collect()
}

/// Every action of a role's inline policies.
fn role_actions(t: &Value, role: &str) -> BTreeSet<String> {
    let props = cfn::get(cfn::resource(t, role), "Properties").expect("role Properties");
    assert!(
        cfn::get(props, "ManagedPolicyArns").is_none(),
        "{role} attaches managed policies; use inline statements"
    );
    cfn::get(props, "Policies")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|p| cfn::get(p, "PolicyDocument"))
        .flat_map(statements)
        .flat_map(actions)
        .collect()
}

/// The text of a scalar or `!Sub` value.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Tagged(t) => text(&t.value),
        Value::Sequence(s) => s.first().map(text).unwrap_or_default(),
        Value::Mapping(m) => m
            .get("Fn::Sub")
            .map(text)
            .unwrap_or_else(|| format!("{v:?}")),
        other => format!("{other:?}"),
    }
}

fn property<'a>(t: &'a Value, id: &str, key: &str) -> &'a Value {
    cfn::get(cfn::resource(t, id), "Properties")
        .and_then(|p| cfn::get(p, key))
        .unwrap_or_else(|| panic!("{id} has no {key}"))
}

#[test]
fn the_bench_policy_grants_the_function_what_its_production_role_does_on_the_benchmark_prefix() {
    let t = bench();
    let prod = cfn::load(&repo_root().join("template.yaml"));
    let prod_actions = role_actions(&prod, "VantaVulnSyncRole");
    let of = |svc: &str, set: &BTreeSet<String>| -> BTreeSet<String> {
        set.iter().filter(|a| a.starts_with(svc)).cloned().collect()
    };
    assert!(!of("s3:", &prod_actions).is_empty());

    let policy = cfn::resource(&t, "SyncFunctionBenchPolicy");
    assert_eq!(
        cfn::get(policy, "Type").and_then(Value::as_str),
        Some("AWS::IAM::Policy")
    );
    let roles = property(&t, "SyncFunctionBenchPolicy", "Roles");
    assert_eq!(
        roles
            .as_sequence()
            .and_then(|r| r.first())
            .and_then(cfn::referenced_id)
            .as_deref(),
        Some("SyncFunctionRoleName"),
        "attached to the deployed function's role (a parameter)"
    );
    let doc = property(&t, "SyncFunctionBenchPolicy", "PolicyDocument");
    let stmts = statements(doc);
    let granted: BTreeSet<String> = stmts.iter().flat_map(|s| actions(s)).collect();
    assert_eq!(
        of("s3:", &granted),
        of("s3:", &prod_actions),
        "the S3 actions the function's code needs (template.yaml's role, checked against the code)"
    );
    assert_eq!(
        of("secretsmanager:", &granted),
        of("secretsmanager:", &prod_actions)
    );
    assert!(
        granted
            .iter()
            .all(|a| a.starts_with("s3:") || a.starts_with("secretsmanager:")),
        "nothing but benchmark S3 and the mock's secret: {granted:?}"
    );
    for s in &stmts {
        let res = cfn::get(s, "Resource").expect("Resource");
        let acts = actions(s);
        if acts.iter().any(|a| a.starts_with("s3:")) {
            let r = text(res);
            assert_eq!(
                r,
                format!(
                    "${{BenchBucket.Arn}}/{}/*",
                    perfharness::bench::BENCH_PREFIX
                ),
                "S3 scoped to the benchmark bucket's prefix"
            );
        } else {
            assert_eq!(
                cfn::referenced_id(res).as_deref(),
                Some("MockCredentialsSecret")
            );
        }
    }
}

#[test]
fn mock_vanta_and_the_reference_call_no_aws_api_and_may_only_log() {
    let root = repo_root();
    let t = bench();
    let logs: BTreeSet<String> = ["logs:CreateLogStream", "logs:PutLogEvents"]
        .map(String::from)
        .into();
    for (function, role, sources) in [
        (
            "MockVantaFunction",
            "MockVantaRole",
            root.join("mock-vanta/src"),
        ),
        (
            "ReferenceFunction",
            "ReferenceRole",
            root.join("lambda-fixture/src"),
        ),
    ] {
        assert_eq!(
            cfn::referenced_id(property(&t, function, "Role")).as_deref(),
            Some(role)
        );
        assert_eq!(role_actions(&t, role), logs, "{role}");
        let files = rust_source::load(&sources);
        assert!(
            !files.is_empty(),
            "no Rust sources in {}",
            sources.display()
        );
        let literals = rust_source::string_literals(&files);
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(&f.path).unwrap())
            .collect();
        assert!(
            !text.contains("aws_sdk_") && !literals.iter().any(|l| l.contains("amazonaws.com")),
            "{} calls an AWS API; grant it in {role}",
            sources.display()
        );
    }
}

#[test]
fn no_wildcards_in_the_stacks_iam() {
    let t = bench();
    for (id, res) in cfn::get(&t, "Resources")
        .and_then(Value::as_mapping)
        .unwrap()
    {
        let ty = cfn::get(res, "Type").and_then(Value::as_str).unwrap_or("");
        let docs: Vec<&Value> = match ty {
            "AWS::IAM::Role" => cfn::get(res, "Properties")
                .and_then(|p| cfn::get(p, "Policies"))
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten()
                .filter_map(|p| cfn::get(p, "PolicyDocument"))
                .collect(),
            "AWS::IAM::Policy" => cfn::get(res, "Properties")
                .and_then(|p| cfn::get(p, "PolicyDocument"))
                .into_iter()
                .collect(),
            _ => continue,
        };
        for d in docs {
            for s in statements(d) {
                for a in actions(s) {
                    assert!(!a.contains('*'), "{id:?} grants {a}");
                }
                assert!(
                    !cfn::get(s, "Resource").is_some_and(cfn::has_star),
                    "{id:?} grants on Resource '*'"
                );
            }
        }
    }
}

#[test]
fn the_names_the_harness_derives_are_the_ones_the_stack_creates() {
    let t = bench();
    use perfharness::bench::*;
    assert_eq!(
        text(property(&t, "MockVantaFunction", "FunctionName")),
        MOCK_FUNCTION
    );
    assert_eq!(
        text(property(&t, "ReferenceFunction", "FunctionName")),
        perfharness::local::REFERENCE_FUNCTION
    );
    assert_eq!(
        text(property(&t, "MockCredentialsSecret", "Name")),
        MOCK_SECRET
    );
    assert_eq!(
        text(property(&t, "BenchBucket", "BucketName")),
        format!("{BUCKET_STEM}-${{AWS::AccountId}}-${{AWS::Region}}")
    );
    // The mock's test credentials are the ones mock-vanta accepts.
    let secret: serde_json::Value =
        serde_json::from_str(&text(property(&t, "MockCredentialsSecret", "SecretString"))).unwrap();
    let cfg = mock_vanta::Config::default();
    assert_eq!(secret["client_id"], cfg.client_id);
    assert_eq!(secret["client_secret"], cfg.client_secret);
    // Snapshots expire.
    let rules = cfn::get(
        property(&t, "BenchBucket", "LifecycleConfiguration"),
        "Rules",
    )
    .and_then(Value::as_sequence)
    .unwrap();
    assert!(rules
        .iter()
        .any(|r| cfn::get(r, "ExpirationInDays").is_some() && cfn::get(r, "Prefix").is_none()));

    let outputs = cfn::get(&t, "Outputs").expect("Outputs");
    let out = |k: &str| {
        text(
            cfn::get(outputs, k)
                .and_then(|o| cfn::get(o, "Value"))
                .unwrap(),
        )
    };
    assert_eq!(out("BenchPrefix"), BENCH_PREFIX);
    assert_eq!(out("MockCredentialsSecretName"), MOCK_SECRET);
    for k in [
        "MockVantaUrl",
        "MockVantaFunctionName",
        "BenchBucketName",
        "ReferenceFunctionName",
    ] {
        assert!(cfn::get(outputs, k).is_some(), "output {k}");
    }
    assert_eq!(text(property(&t, "MockVantaUrl", "AuthType")), "NONE");
}

/// Lambda and CloudWatch Logs operations the harness might call, with the
/// IAM action each needs.
const HARNESS_SDK_ACTIONS: &[(&str, &str)] = &[
    (
        "get_function_configuration",
        "lambda:GetFunctionConfiguration",
    ),
    (
        "update_function_configuration",
        "lambda:UpdateFunctionConfiguration",
    ),
    ("invoke", "lambda:InvokeFunction"),
    ("get_function", "lambda:GetFunction"),
    ("list_functions", "lambda:ListFunctions"),
    ("get_function_url_config", "lambda:GetFunctionUrlConfig"),
    ("put_function_concurrency", "lambda:PutFunctionConcurrency"),
    (
        "delete_function_concurrency",
        "lambda:DeleteFunctionConcurrency",
    ),
    ("get_function_concurrency", "lambda:GetFunctionConcurrency"),
    ("publish_version", "lambda:PublishVersion"),
    ("get_account_settings", "lambda:GetAccountSettings"),
    ("filter_log_events", "logs:FilterLogEvents"),
    ("get_log_events", "logs:GetLogEvents"),
    ("describe_log_streams", "logs:DescribeLogStreams"),
    ("describe_log_groups", "logs:DescribeLogGroups"),
    ("start_query", "logs:StartQuery"),
    ("get_query_results", "logs:GetQueryResults"),
];

#[test]
fn the_harness_policy_grants_exactly_what_the_harness_calls() {
    let root = repo_root();
    // local.rs provisions the in-process emulator (never AWS).
    let files: Vec<_> = rust_source::load(&root.join("perfharness/src"))
        .into_iter()
        .filter(|f| !f.path.ends_with("local.rs"))
        .collect();
    let names: BTreeSet<&str> = HARNESS_SDK_ACTIONS.iter().map(|(m, _)| *m).collect();
    let calls = rust_source::method_calls(&files, &names, &root);
    let needed: BTreeSet<String> = calls
        .keys()
        .map(|m| {
            HARNESS_SDK_ACTIONS
                .iter()
                .find(|(n, _)| n == m)
                .unwrap()
                .1
                .to_string()
        })
        .collect();
    assert!(
        needed.contains("lambda:InvokeFunction") && needed.contains("lambda:GetFunctionUrlConfig")
    );

    let policy: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("perfharness/iam-policy.json")).unwrap(),
    )
    .unwrap();
    let mut granted = BTreeSet::new();
    for s in policy["Statement"].as_array().unwrap() {
        assert_eq!(s["Effect"], "Allow");
        let acts: Vec<String> = match &s["Action"] {
            serde_json::Value::String(a) => vec![a.clone()],
            v => v
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
                .collect(),
        };
        let res: Vec<String> = match &s["Resource"] {
            serde_json::Value::String(r) => vec![r.clone()],
            v => v
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap().to_string())
                .collect(),
        };
        assert!(!res.iter().any(|r| r == "*"), "{s}");
        for a in &acts {
            assert!(!a.contains('*'), "{a}");
            // The benchmark stack's mock is only looked up, never changed.
            if a == "lambda:GetFunctionUrlConfig" {
                assert_eq!(
                    res,
                    [format!(
                        "arn:aws:lambda:*:*:function:{}",
                        perfharness::bench::MOCK_FUNCTION
                    )]
                );
            }
            if a == "lambda:UpdateFunctionConfiguration" {
                assert!(
                    !res.iter().any(|r| r.contains("perfharness-mock-vanta")),
                    "{res:?}"
                );
            }
        }
        granted.extend(acts);
    }
    assert_eq!(
        granted, needed,
        "perfharness/iam-policy.json must grant what the harness calls ({calls:?}) and nothing else"
    );
}

#[test]
fn the_readme_shows_the_harness_policy_exactly() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let marker = "The identity running perfharness needs exactly this policy";
    let at = readme
        .find(marker)
        .expect("README.md's benchmark section shows the harness's IAM policy");
    let rest = &readme[at..];
    let start = rest.find("```json\n").expect("a ```json block after it") + "```json\n".len();
    let end = start + rest[start..].find("```").expect("the block ends");
    let shown: serde_json::Value =
        serde_json::from_str(&rest[start..end]).expect("the README's policy is valid JSON");
    let file: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("perfharness/iam-policy.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        shown, file,
        "README.md's policy differs from perfharness/iam-policy.json"
    );
}
