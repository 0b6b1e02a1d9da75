//! Who may talk to the emulator. The listener is on loopback, but that alone
//! does not keep out a web page open in a browser on the same machine:
//!
//! - DNS rebinding: a page on `evil.example` re-resolves its own name to
//!   127.0.0.1 and then talks to the emulator as "same origin". Its requests
//!   still carry `Host: evil.example`, so only requests whose `Host` is a
//!   loopback name or address (`localhost`, `*.localhost`, `127.0.0.0/8`,
//!   `[::1]`) are answered, as local development servers do.
//! - Cross-origin writes: a page may send a "simple" POST to
//!   `http://127.0.0.1:PORT` without reading the answer. Browsers label such
//!   requests with `Origin` and `Sec-Fetch-Site`; a request from a
//!   non-loopback origin, or a cross-site request that is not a GET or
//!   HEAD, is refused. SDKs and the CLI send neither header.
//! - Optionally (`--credentials KEY:SECRET`), every request must be SigV4
//!   signed with that key pair: `s3s` checks S3's signatures, [`Verifier`]
//!   checks those of the JSON APIs (Lambda, CloudWatch Logs, Secrets Manager)
//!   by signing the request again with `aws-sigv4`, the SDK's own signer.

use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};

/// How far a signature's time may be from ours, as on AWS.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The one key pair the emulator accepts when asked to check signatures.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `AWS_ACCESS_KEY_ID`.
    pub access_key_id: String,
    /// `AWS_SECRET_ACCESS_KEY`.
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for Credentials {
    type Err = String;

    /// `KEY:SECRET`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.split_once(':') {
            Some((key, secret)) if !key.is_empty() && !secret.is_empty() => Ok(Credentials {
                access_key_id: key.to_string(),
                secret_access_key: secret.to_string(),
            }),
            _ => Err("expected ACCESS_KEY_ID:SECRET_ACCESS_KEY".to_string()),
        }
    }
}

/// Why a request is not answered: the status and AWS error code to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl Refusal {
    fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code,
            message: message.into(),
        }
    }
}

/// The checks every request passes before any service sees it: a loopback
/// `Host` and no cross-origin browser write.
pub(crate) fn admit(headers: &HeaderMap, method: &Method) -> Result<(), Refusal> {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if !is_loopback_host(host) {
        return Err(Refusal::forbidden(
            "AccessDenied",
            format!("Host {host:?} is not a loopback name: this emulator answers only requests addressed to localhost, *.localhost, 127.0.0.0/8 or [::1] (a defence against DNS rebinding); use http://127.0.0.1:PORT"),
        ));
    }
    if let Some(origin) = headers.get(http::header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let origin_host = origin
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default());
        if !origin_host.is_some_and(is_loopback_host) {
            return Err(Refusal::forbidden(
                "AccessDenied",
                format!("Origin {origin:?} is not a loopback origin: this emulator refuses requests from web pages on other sites"),
            ));
        }
    }
    let cross_site = headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"));
    if cross_site && method != Method::GET && method != Method::HEAD {
        return Err(Refusal::forbidden(
            "AccessDenied",
            "a browser sent this write from another site (Sec-Fetch-Site: cross-site); this emulator refuses cross-site writes",
        ));
    }
    Ok(())
}

/// `localhost`, `*.localhost`, an address in 127.0.0.0/8 or `::1`, with or
/// without a port.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        match rest.split_once(']') {
            Some((v6, tail)) if tail.is_empty() || is_port(tail.strip_prefix(':')) => v6,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if is_port(Some(port)) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => {
            v6 == Ipv6Addr::LOCALHOST || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

fn is_port(s: Option<&str>) -> bool {
    s.is_some_and(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Checks SigV4 signatures of the JSON APIs against one key pair.
#[derive(Debug, Clone)]
pub(crate) struct Verifier {
    credentials: Credentials,
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
struct Authorization<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<Authorization<'_>> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256")?.trim_start();
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (k, v) = part.trim().split_once('=')?;
        match k {
            "Credential" => credential = Some(v),
            "SignedHeaders" => signed = Some(v),
            "Signature" => signature = Some(v),
            _ => {}
        }
    }
    let mut scope = credential?.split('/');
    let auth = Authorization {
        access_key: scope.next()?,
        date: scope.next()?,
        region: scope.next()?,
        service: scope.next()?,
        signed_headers: signed?.split(';').collect(),
        signature: signature?,
    };
    (scope.next()? == "aws4_request").then_some(auth)
}

impl Verifier {
    pub(crate) fn new(credentials: Credentials) -> Self {
        Self { credentials }
    }

    /// Whether `req` carries a valid signature by our key pair, made within
    /// 15 minutes of `now`.
    pub(crate) fn verify(&self, req: &Request<Bytes>, now: SystemTime) -> Result<(), Refusal> {
        let Some(header) = req.headers().get(http::header::AUTHORIZATION) else {
            return Err(Refusal::forbidden(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token: this emulator runs with --credentials, so requests must be SigV4-signed with that key pair",
            ));
        };
        let mismatch = || {
            Refusal::forbidden(
                "InvalidSignatureException",
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.",
            )
        };
        let auth = header
            .to_str()
            .ok()
            .and_then(parse_authorization)
            .ok_or_else(|| {
                Refusal::forbidden(
                    "IncompleteSignatureException",
                    "The Authorization header is not a SigV4 (AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…) header",
                )
            })?;
        if auth.access_key != self.credentials.access_key_id {
            return Err(Refusal::forbidden(
                "UnrecognizedClientException",
                "The security token included in the request is invalid: the access key id is not the one given to --credentials",
            ));
        }
        let amz_date = req
            .headers()
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let signed_at = chrono::NaiveDateTime::parse_from_str(amz_date, "%Y%m%dT%H%M%SZ")
            .ok()
            .filter(|_| amz_date.starts_with(auth.date))
            .and_then(|t| u64::try_from(t.and_utc().timestamp()).ok())
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
            .ok_or_else(|| {
                Refusal::forbidden(
                    "IncompleteSignatureException",
                    "X-Amz-Date is missing or does not match the credential scope's date",
                )
            })?;
        let skew = now
            .duration_since(signed_at)
            .unwrap_or_else(|e| e.duration());
        if skew > MAX_SKEW {
            return Err(Refusal::forbidden(
                "InvalidSignatureException",
                format!("Signature expired: {amz_date} is more than 15 minutes away from the emulator's clock"),
            ));
        }

        let mut headers = Vec::with_capacity(auth.signed_headers.len());
        for name in &auth.signed_headers {
            let values = req.headers().get_all(*name);
            let mut any = false;
            for value in values {
                let value = value.to_str().map_err(|_| mismatch())?;
                headers.push((*name, value));
                any = true;
            }
            if !any {
                return Err(mismatch());
            }
        }
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("localhost");
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str);
        let uri = format!("http://{host}{path_and_query}");
        let body = match req
            .headers()
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
        {
            Some(hash) => aws_sigv4::http_request::SignableBody::Precomputed(hash.to_string()),
            None => aws_sigv4::http_request::SignableBody::Bytes(req.body()),
        };
        let signable = aws_sigv4::http_request::SignableRequest::new(
            req.method().as_str(),
            uri,
            headers.into_iter(),
            body,
        )
        .map_err(|_| mismatch())?;
        let identity = aws_credential_types::Credentials::new(
            &self.credentials.access_key_id,
            &self.credentials.secret_access_key,
            None,
            None,
            "emulator --credentials",
        )
        .into();
        let mut settings = aws_sigv4::http_request::SigningSettings::default();
        // Only the headers the client signed are given; sign them all.
        settings.excluded_headers = None;
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(auth.region)
            .name(auth.service)
            .time(signed_at)
            .settings(settings)
            .build()
            .map_err(|_| mismatch())?
            .into();
        let expected = aws_sigv4::http_request::sign(signable, &params).map_err(|_| mismatch())?;
        if constant_time_eq(expected.signature().as_bytes(), auth.signature.as_bytes()) {
            Ok(())
        } else {
            Err(mismatch())
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_recognised() {
        for ok in [
            "localhost",
            "localhost:4566",
            "LOCALHOST.",
            "bucket.localhost:4566",
            "127.0.0.1",
            "127.8.9.10:80",
            "[::1]",
            "[::1]:4566",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "evil.example:4566",
            "localhost.evil.example",
            "127.0.0.1.nip.io",
            "10.0.0.1",
            "[::2]:80",
            "localhost:port",
            "[::1]x",
            "0.0.0.0:4566",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn browsers_on_other_sites_may_not_write() {
        let mut h = HeaderMap::new();
        h.insert("host", "127.0.0.1:4566".parse().unwrap());
        assert!(admit(&h, &Method::POST).is_ok());
        h.insert("origin", "http://localhost:3000".parse().unwrap());
        assert!(admit(&h, &Method::POST).is_ok());
        h.insert("origin", "https://evil.example".parse().unwrap());
        assert!(admit(&h, &Method::POST).is_err());
        h.insert("origin", "null".parse().unwrap());
        assert!(admit(&h, &Method::GET).is_err());
        h.remove("origin");
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(admit(&h, &Method::GET).is_ok());
        assert!(admit(&h, &Method::PUT).is_err());
    }

    #[test]
    fn credentials_parse_from_key_colon_secret() {
        let c: Credentials = "AKID:s3cr:et".parse().unwrap();
        assert_eq!(c.access_key_id, "AKID");
        assert_eq!(c.secret_access_key, "s3cr:et");
        assert!("nocolon".parse::<Credentials>().is_err());
        assert!(":secret".parse::<Credentials>().is_err());
        assert!(!format!("{c:?}").contains("s3cr"));
    }
}
