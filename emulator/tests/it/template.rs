//! `emulator::template::load_functions` on templates written by the test.

use std::path::{Path, PathBuf};

use emulator::lambda::LogFormat;
use emulator::template::{function_names, load_functions};

const TEMPLATE: &str = r#"
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  SecretName:
    Type: String
    Default: vanta-api-credentials
  PageSize:
    Type: Number
    Default: 100
  Memory:
    Type: Number
    Default: 512
  NoDefault:
    Type: String
Globals:
  Function:
    Timeout: 30
    Environment:
      Variables:
        FROM_GLOBALS: g
        OVERRIDDEN: global
Resources:
  SyncFunction:
    Type: AWS::Serverless::Function
    Properties:
      FunctionName: vanta-vuln-sync
      Description: Syncs things
      MemorySize: !Ref Memory
      Timeout: 900
      Architectures: [arm64]
      LoggingConfig:
        LogFormat: JSON
        LogGroup: !Ref Logs
      Environment:
        Variables:
          VANTA_CREDENTIALS_SECRET: !Ref SecretName
          VANTA_PAGE_SIZE:
            Ref: PageSize
          GREETING: !Sub 'hello-${AWS::Region}-${SecretName}'
          LONG_SUB:
            Fn::Sub: '${AWS::AccountId}'
          S3_BUCKET: !If [CreateBucket, !Ref DataBucket, !Ref SecretName]
          ROLE: !GetAtt Role.Arn
          RESOURCE_REF: !Ref DataBucket
          UNSET: !Ref NoDefault
          OVERRIDDEN: own
          PLAIN: "1"
  Other:
    Type: AWS::Serverless::Function
    Properties:
      Handler: bootstrap
  DataBucket:
    Type: AWS::S3::Bucket
"#;

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("template.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn resolves_what_a_template_can_resolve_and_leaves_out_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), TEMPLATE);
    let specs = load_functions(
        &path,
        &[
            ("vanta-vuln-sync".to_string(), PathBuf::from("/bin/true")),
            ("Other".to_string(), PathBuf::from("/bin/false")),
            ("lambda-fixture".to_string(), PathBuf::from("/bin/echo")),
        ],
    )
    .unwrap();
    assert_eq!(specs.len(), 3);

    let sync = &specs[0];
    assert_eq!(sync.name, "vanta-vuln-sync");
    assert_eq!(sync.executable, PathBuf::from("/bin/true"));
    assert_eq!(sync.memory_mb, 512);
    assert_eq!(sync.timeout_s, 900);
    assert_eq!(sync.architecture, "arm64");
    assert_eq!(sync.log_format, LogFormat::Json);
    assert_eq!(sync.description, "Syncs things");
    let env = &sync.environment;
    assert_eq!(env["VANTA_CREDENTIALS_SECRET"], "vanta-api-credentials");
    assert_eq!(env["VANTA_PAGE_SIZE"], "100");
    assert_eq!(env["GREETING"], "hello-us-east-1-vanta-api-credentials");
    assert_eq!(env["LONG_SUB"], "123456789012");
    assert_eq!(env["FROM_GLOBALS"], "g");
    assert_eq!(env["OVERRIDDEN"], "own");
    assert_eq!(env["PLAIN"], "1");
    for unresolvable in ["S3_BUCKET", "ROLE", "RESOURCE_REF", "UNSET"] {
        assert!(
            !env.contains_key(unresolvable),
            "{unresolvable} should be left out"
        );
    }

    // Named by logical id; Globals apply.
    let other = &specs[1];
    assert_eq!(other.timeout_s, 30);
    assert_eq!(other.memory_mb, 128);
    assert_eq!(other.environment["FROM_GLOBALS"], "g");

    assert_eq!(function_names(&path).unwrap(), ["Other", "vanta-vuln-sync"]);

    // Not in the template: AWS's defaults.
    let fixture = &specs[2];
    assert_eq!((fixture.memory_mb, fixture.timeout_s), (128, 3));
    assert_eq!(fixture.log_format, LogFormat::Text);
    assert!(fixture.environment.is_empty());
}

#[test]
fn unreadable_or_broken_templates_are_errors_that_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.yaml");
    let err = load_functions(&missing, &[]).unwrap_err().to_string();
    assert!(err.contains("nope.yaml"), "{err}");

    let broken = write(dir.path(), "Resources: [unclosed");
    let err = load_functions(&broken, &[]).unwrap_err().to_string();
    assert!(err.contains("template.yaml"), "{err}");

    let bad_memory = write(
        dir.path(),
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      MemorySize: !GetAtt X.Y\n",
    );
    let err = load_functions(&bad_memory, &[("F".into(), "/bin/true".into())])
        .unwrap_err()
        .to_string();
    assert!(err.contains("MemorySize"), "{err}");
}

#[test]
fn the_repository_template_loads_if_present() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../template.yaml");
    if !path.exists() {
        return;
    }
    let specs = load_functions(&path, &[("vanta-vuln-sync".into(), "/bin/true".into())]).unwrap();
    assert_eq!(specs[0].name, "vanta-vuln-sync");
}
