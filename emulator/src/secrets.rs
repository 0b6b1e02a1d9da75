//! Secrets Manager (awsJson1_1): CreateSecret, GetSecretValue,
//! PutSecretValue, UpdateSecret, DescribeSecret, ListSecrets,
//! ListSecretVersionIds, DeleteSecret and RestoreSecret, kept in
//! memory with AWS's versions and staging labels (`AWSCURRENT`,
//! `AWSPREVIOUS`), ARNs with the random six-character suffix, and AWS's error
//! types and messages.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::Response;
use serde_json::{json, Map, Value};

use crate::awsjson::{self, new_request_id, not_found, required_str, validation, ApiError};
use crate::{ACCOUNT_ID, REGION};

const CURRENT: &str = "AWSCURRENT";
const PREVIOUS: &str = "AWSPREVIOUS";
const NOT_FOUND: &str = "Secrets Manager can't find the specified secret.";

#[derive(Debug, Clone)]
struct Version {
    id: String,
    string: Option<String>,
    /// Base64 exactly as it arrived on the wire (awsJson blobs are base64).
    binary: Option<String>,
    stages: Vec<String>,
    created: f64,
}

#[derive(Debug, Clone)]
struct Secret {
    name: String,
    arn: String,
    description: Option<String>,
    created: f64,
    last_changed: f64,
    last_accessed: Option<f64>,
    deletion_date: Option<f64>,
    tags: Vec<Value>,
    versions: Vec<Version>,
}

impl Secret {
    fn version_ids_to_stages(&self) -> Value {
        let map: Map<String, Value> = self
            .versions
            .iter()
            .filter(|v| !v.stages.is_empty())
            .map(|v| (v.id.clone(), json!(v.stages)))
            .collect();
        Value::Object(map)
    }

    fn describe(&self) -> Value {
        let mut out = json!({
            "ARN": self.arn,
            "Name": self.name,
            "CreatedDate": self.created,
            "LastChangedDate": self.last_changed,
            "VersionIdsToStages": self.version_ids_to_stages(),
        });
        if let Some(d) = &self.description {
            out["Description"] = json!(d);
        }
        if let Some(t) = self.last_accessed {
            out["LastAccessedDate"] = json!(t);
        }
        if let Some(t) = self.deletion_date {
            out["DeletedDate"] = json!(t);
        }
        if !self.tags.is_empty() {
            out["Tags"] = json!(self.tags);
        }
        out
    }
}

/// The in-memory Secrets Manager.
#[derive(Clone, Default)]
pub(crate) struct SecretsService {
    secrets: Arc<Mutex<BTreeMap<String, Secret>>>,
}

type Answer = Result<Value, ApiError>;

impl SecretsService {
    /// Answers one `secretsmanager.<operation>` request.
    pub(crate) fn handle(&self, operation: &str, body: &Bytes) -> Response<Bytes> {
        let input = match awsjson::parse_body(body) {
            Ok(v) => v,
            Err(e) => return e.into_response(),
        };
        let answer = match operation {
            "CreateSecret" => self.create_secret(&input),
            "GetSecretValue" => self.get_secret_value(&input),
            "PutSecretValue" => self.put_secret_value(&input),
            "DescribeSecret" => self.describe_secret(&input),
            "ListSecrets" => Ok(self.list_secrets()),
            "DeleteSecret" => self.delete_secret(&input),
            "UpdateSecret" => self.update_secret(&input),
            "RestoreSecret" => self.restore_secret(&input),
            "ListSecretVersionIds" => self.list_secret_version_ids(&input),
            _ => Err(ApiError::bad_request(
                "UnknownOperationException",
                format!(
                    "The operation {operation} is not supported by this Secrets Manager emulator."
                ),
            )),
        };
        match answer {
            Ok(v) => awsjson::ok(&v),
            Err(e) => e.into_response(),
        }
    }

    fn create_secret(&self, input: &Value) -> Answer {
        let name = required_str(input, "Name")?;
        validate_name(name)?;
        let (string, binary) = secret_value(input)?;
        let now = now_epoch_s();
        let mut secrets = self.secrets.lock().expect("secrets lock");
        if let Some(existing) = secrets.get(name) {
            if existing.deletion_date.is_some() {
                return Err(invalid_request(
                    "You can't create this secret because a secret with this name is already scheduled for deletion.",
                ));
            }
            return Err(ApiError::bad_request(
                "ResourceExistsException",
                format!("The operation failed because the secret {name} already exists."),
            ));
        }
        let arn = format!(
            "arn:aws:secretsmanager:{REGION}:{ACCOUNT_ID}:secret:{name}-{}",
            random_suffix()
        );
        let mut versions = Vec::new();
        let mut version_id = None;
        if string.is_some() || binary.is_some() {
            let id = client_token(input)?.unwrap_or_else(new_request_id);
            version_id = Some(id.clone());
            versions.push(Version {
                id,
                string,
                binary,
                stages: vec![CURRENT.to_string()],
                created: now,
            });
        }
        let secret = Secret {
            name: name.to_string(),
            arn: arn.clone(),
            description: input
                .get("Description")
                .and_then(Value::as_str)
                .map(str::to_string),
            created: now,
            last_changed: now,
            last_accessed: None,
            deletion_date: None,
            tags: input
                .get("Tags")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            versions,
        };
        secrets.insert(name.to_string(), secret);
        let mut out = json!({"ARN": arn, "Name": name});
        if let Some(id) = version_id {
            out["VersionId"] = json!(id);
        }
        Ok(out)
    }

    fn get_secret_value(&self, input: &Value) -> Answer {
        let id = required_str(input, "SecretId")?;
        let mut secrets = self.secrets.lock().expect("secrets lock");
        let secret = find_mut(&mut secrets, id)?;
        if secret.deletion_date.is_some() {
            return Err(marked_for_deletion());
        }
        let version_id = input.get("VersionId").and_then(Value::as_str);
        let stage = input.get("VersionStage").and_then(Value::as_str);
        let version = match (version_id, stage) {
            (Some(v), _) => secret.versions.iter().find(|x| x.id == v).ok_or_else(|| {
                not_found(&format!(
                    "Secrets Manager can't find the specified secret value for VersionId: {v}"
                ))
            })?,
            (None, stage) => {
                let stage = stage.unwrap_or(CURRENT);
                secret
                    .versions
                    .iter()
                    .find(|x| x.stages.iter().any(|s| s == stage))
                    .ok_or_else(|| {
                        not_found(&format!(
                            "Secrets Manager can't find the specified secret value for staging label: {stage}"
                        ))
                    })?
            }
        };
        if let (Some(_), Some(stage)) = (version_id, stage) {
            if !version.stages.iter().any(|s| s == stage) {
                return Err(invalid_parameter(
                    "You provided a VersionStage that is not associated to the provided VersionId.",
                ));
            }
        }
        let mut out = json!({
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version.id,
            "VersionStages": version.stages,
            "CreatedDate": version.created,
        });
        if let Some(s) = &version.string {
            out["SecretString"] = json!(s);
        }
        if let Some(b) = &version.binary {
            out["SecretBinary"] = json!(b);
        }
        secret.last_accessed = Some(today_epoch_s());
        Ok(out)
    }

    fn put_secret_value(&self, input: &Value) -> Answer {
        let id = required_str(input, "SecretId")?;
        let (string, binary) = secret_value(input)?;
        if string.is_none() && binary.is_none() {
            return Err(invalid_parameter(
                "You must provide either SecretString or SecretBinary.",
            ));
        }
        let token = client_token(input)?;
        let stages: Vec<String> = match input.get("VersionStages").and_then(Value::as_array) {
            Some(list) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            None => vec![CURRENT.to_string()],
        };
        let mut secrets = self.secrets.lock().expect("secrets lock");
        let secret = find_mut(&mut secrets, id)?;
        if secret.deletion_date.is_some() {
            return Err(marked_for_deletion());
        }
        if let Some(token) = &token {
            // Idempotent retry: same token and same value returns the version again.
            if let Some(existing) = secret.versions.iter().find(|v| &v.id == token) {
                if existing.string == string && existing.binary == binary {
                    return Ok(json!({
                        "ARN": secret.arn, "Name": secret.name,
                        "VersionId": existing.id, "VersionStages": existing.stages,
                    }));
                }
                return Err(ApiError::bad_request(
                    "ResourceExistsException",
                    "You can't modify an existing version, you can only create a new version.",
                ));
            }
        }
        let now = now_epoch_s();
        let moves_current = stages.iter().any(|s| s == CURRENT);
        for v in &mut secret.versions {
            if moves_current {
                v.stages.retain(|s| s != PREVIOUS);
                if v.stages.iter().any(|s| s == CURRENT) {
                    v.stages.retain(|s| s != CURRENT);
                    v.stages.push(PREVIOUS.to_string());
                }
            }
            v.stages.retain(|s| !stages.contains(s) || s == PREVIOUS);
        }
        let version_id = token.unwrap_or_else(new_request_id);
        secret.versions.push(Version {
            id: version_id.clone(),
            string,
            binary,
            stages: stages.clone(),
            created: now,
        });
        // AWS keeps about 100 versions; unlabelled old ones go first.
        while secret.versions.len() > 100 {
            match secret.versions.iter().position(|v| v.stages.is_empty()) {
                Some(i) => {
                    secret.versions.remove(i);
                }
                None => break,
            }
        }
        secret.last_changed = now;
        Ok(json!({
            "ARN": secret.arn,
            "Name": secret.name,
            "VersionId": version_id,
            "VersionStages": stages,
        }))
    }

    /// A new value (as PutSecretValue) and/or a new description.
    fn update_secret(&self, input: &Value) -> Answer {
        let id = required_str(input, "SecretId")?;
        {
            let mut secrets = self.secrets.lock().expect("secrets lock");
            if find_mut(&mut secrets, id)?.deletion_date.is_some() {
                return Err(marked_for_deletion());
            }
        }
        let (string, binary) = secret_value(input)?;
        let mut out = if string.is_some() || binary.is_some() {
            let mut put = input.clone();
            if let Some(o) = put.as_object_mut() {
                o.remove("VersionStages");
            }
            let mut answer = self.put_secret_value(&put)?;
            if let Some(o) = answer.as_object_mut() {
                o.remove("VersionStages");
            }
            answer
        } else {
            Value::Null
        };
        let mut secrets = self.secrets.lock().expect("secrets lock");
        let secret = find_mut(&mut secrets, id)?;
        if let Some(d) = input.get("Description").and_then(Value::as_str) {
            secret.description = Some(d.to_string());
            secret.last_changed = now_epoch_s();
        }
        if out.is_null() {
            out = json!({"ARN": secret.arn, "Name": secret.name});
        }
        Ok(out)
    }

    fn restore_secret(&self, input: &Value) -> Answer {
        let id = required_str(input, "SecretId")?;
        let mut secrets = self.secrets.lock().expect("secrets lock");
        let secret = find_mut(&mut secrets, id)?;
        secret.deletion_date = None;
        Ok(json!({"ARN": secret.arn, "Name": secret.name}))
    }

    fn list_secret_version_ids(&self, input: &Value) -> Answer {
        let id = required_str(input, "SecretId")?;
        let deprecated = input
            .get("IncludeDeprecated")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let mut secrets = self.secrets.lock().expect("secrets lock");
        let secret = find_mut(&mut secrets, id)?;
        let versions: Vec<Value> = secret
            .versions
            .iter()
            .filter(|v| deprecated || !v.stages.is_empty())
            .map(|v| {
                json!({
                    "VersionId": v.id,
                    "VersionStages": v.stages,
                    "CreatedDate": v.created,
                })
            })
            .collect();
        Ok(json!({"ARN": secret.arn, "Name": secret.name, "Versions": versions}))
    }

    fn describe_secret(&self, input: &Value) -> Answer {
        let id = required_str(input, "SecretId")?;
        let mut secrets = self.secrets.lock().expect("secrets lock");
        Ok(find_mut(&mut secrets, id)?.describe())
    }

    fn list_secrets(&self) -> Value {
        let secrets = self.secrets.lock().expect("secrets lock");
        let list: Vec<Value> = secrets
            .values()
            .filter(|s| s.deletion_date.is_none())
            .map(|s| {
                let mut d = s.describe();
                d["SecretVersionsToStages"] = d["VersionIdsToStages"].take();
                d.as_object_mut().map(|o| o.remove("VersionIdsToStages"));
                d
            })
            .collect();
        json!({ "SecretList": list })
    }

    fn delete_secret(&self, input: &Value) -> Answer {
        let id = required_str(input, "SecretId")?;
        let force = input
            .get("ForceDeleteWithoutRecovery")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        let window = input.get("RecoveryWindowInDays").and_then(Value::as_i64);
        if force && window.is_some() {
            return Err(invalid_parameter(
                "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.",
            ));
        }
        let days = window.unwrap_or(30);
        if !(7..=30).contains(&days) {
            return Err(invalid_parameter(
                "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive).",
            ));
        }
        let mut secrets = self.secrets.lock().expect("secrets lock");
        let secret = find_mut(&mut secrets, id)?;
        let now = now_epoch_s();
        let (arn, name) = (secret.arn.clone(), secret.name.clone());
        if force {
            secrets.remove(&name);
            return Ok(json!({"ARN": arn, "Name": name, "DeletionDate": now}));
        }
        if secret.deletion_date.is_some() {
            return Err(marked_for_deletion());
        }
        let date = now + days as f64 * 86_400.0;
        secret.deletion_date = Some(date);
        Ok(json!({"ARN": arn, "Name": name, "DeletionDate": date}))
    }
}

/// A secret by name, full ARN, or partial ARN (the ARN without its random
/// six-character suffix), as Secrets Manager accepts them.
fn find_mut<'a>(
    secrets: &'a mut BTreeMap<String, Secret>,
    id: &str,
) -> Result<&'a mut Secret, ApiError> {
    let name = if secrets.contains_key(id) {
        Some(id.to_string())
    } else if id.starts_with("arn:") {
        secrets
            .values()
            .find(|s| {
                s.arn == id
                    || (s.arn.len() == id.len() + 7
                        && s.arn.starts_with(id)
                        && s.arn[id.len()..].starts_with('-'))
            })
            .map(|s| s.name.clone())
    } else {
        None
    };
    match name {
        Some(n) => Ok(secrets.get_mut(&n).expect("name was just found")),
        None => Err(not_found(NOT_FOUND)),
    }
}

fn secret_value(input: &Value) -> Result<(Option<String>, Option<String>), ApiError> {
    let string = input
        .get("SecretString")
        .and_then(Value::as_str)
        .map(str::to_string);
    let binary = input
        .get("SecretBinary")
        .and_then(Value::as_str)
        .map(str::to_string);
    if string.is_some() && binary.is_some() {
        return Err(invalid_parameter(
            "You can't specify both a binary secret value and a string secret value in the same secret.",
        ));
    }
    if string.as_ref().is_some_and(|s| s.len() > 65_536) {
        return Err(invalid_parameter(
            "Secret value exceeds the maximum allowed size of 65536 bytes.",
        ));
    }
    Ok((string, binary))
}

fn client_token(input: &Value) -> Result<Option<String>, ApiError> {
    match input.get("ClientRequestToken").and_then(Value::as_str) {
        None => Ok(None),
        Some(t) if (32..=64).contains(&t.len()) => Ok(Some(t.to_string())),
        Some(_) => Err(validation(
            "1 validation error detected: Value at 'clientRequestToken' failed to satisfy constraint: Member must have length between 32 and 64",
        )),
    }
}

fn validate_name(name: &str) -> Result<(), ApiError> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_+=.@-!".contains(c));
    if ok {
        Ok(())
    } else {
        Err(invalid_parameter(
            "Invalid name. Must be a valid name containing alphanumeric characters, or any of the following: -/_+=.@!",
        ))
    }
}

fn invalid_parameter(message: &str) -> ApiError {
    ApiError::bad_request("InvalidParameterException", message)
}

fn invalid_request(message: &str) -> ApiError {
    ApiError::bad_request("InvalidRequestException", message)
}

fn marked_for_deletion() -> ApiError {
    invalid_request(
        "You can't perform this operation on the secret because it was marked for deletion.",
    )
}

fn now_epoch_s() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

/// LastAccessedDate is rounded down to the day on AWS.
fn today_epoch_s() -> f64 {
    let now = chrono::Utc::now().timestamp();
    (now - now.rem_euclid(86_400)) as f64
}

fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}
