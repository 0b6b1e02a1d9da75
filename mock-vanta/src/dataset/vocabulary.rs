//! The fixed word lists the generator draws from. Changing any of them
//! changes every dataset, so they are append-only in spirit.

/// Severities, most severe first, with their generation weights (per mille):
/// weighted toward MEDIUM and LOW as real scanners report.
pub(crate) const SEVERITIES: [&str; 4] = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
pub(crate) const SEVERITY_WEIGHTS: [u64; 4] = [60, 190, 430, 320];
/// SLA windows in days by severity (a common policy: 15/30/90/180).
pub(crate) const SLA_DAYS: [i64; 4] = [15, 30, 90, 180];

/// Integrations that report vulnerabilities.
pub(crate) const INTEGRATIONS: [&str; 5] = ["github", "aws", "qualys", "snyk", "inspector"];

/// Every asset type of the spec, with weights (per mille).
pub(crate) const ASSET_TYPES: [&str; 9] = [
    "SERVER",
    "SERVERLESS_FUNCTION",
    "CONTAINER",
    "CONTAINER_REPOSITORY",
    "CONTAINER_REPOSITORY_IMAGE",
    "CODE_REPOSITORY",
    "MANIFEST_FILE",
    "WORKSTATION",
    "OTHER",
];
pub(crate) const ASSET_TYPE_WEIGHTS: [u64; 9] = [220, 90, 110, 60, 140, 170, 110, 70, 30];

/// Which integrations scan which asset type (indexes into `INTEGRATIONS`).
pub(crate) const SCANNERS_BY_TYPE: [&[usize]; 9] = [
    &[1, 4, 2],
    &[1, 4],
    &[4, 3, 1],
    &[4, 1, 3],
    &[4, 3, 1],
    &[0, 3],
    &[3, 0],
    &[2],
    &[2, 1],
];

pub(crate) const SERVICES: [&str; 24] = [
    "payments",
    "checkout",
    "billing",
    "auth",
    "identity",
    "search",
    "catalog",
    "orders",
    "inventory",
    "shipping",
    "notifications",
    "reporting",
    "ledger",
    "gateway",
    "web-app",
    "mobile-api",
    "data-pipeline",
    "etl",
    "ml-scoring",
    "admin-portal",
    "audit",
    "export",
    "webhooks",
    "scheduler",
];

/// Vulnerable packages: (purl type, name, a vulnerable version, the fixed version).
pub(crate) const PACKAGES: [(&str, &str, &str, &str); 20] = [
    ("npm", "lodash", "4.17.20", "4.17.21"),
    ("npm", "axios", "0.21.1", "0.21.2"),
    ("npm", "minimist", "1.2.5", "1.2.6"),
    ("npm", "express", "4.17.1", "4.17.3"),
    ("npm", "jsonwebtoken", "8.5.1", "9.0.0"),
    ("npm", "semver", "7.5.1", "7.5.2"),
    ("pypi", "requests", "2.25.1", "2.31.0"),
    ("pypi", "urllib3", "1.26.4", "1.26.5"),
    ("pypi", "django", "3.2.4", "3.2.14"),
    ("pypi", "pyyaml", "5.3.1", "5.4"),
    ("pypi", "cryptography", "3.3.2", "39.0.1"),
    (
        "maven",
        "org.apache.logging.log4j/log4j-core",
        "2.14.1",
        "2.17.1",
    ),
    (
        "maven",
        "com.fasterxml.jackson.core/jackson-databind",
        "2.9.10",
        "2.9.10.8",
    ),
    (
        "maven",
        "org.springframework/spring-web",
        "5.3.17",
        "5.3.18",
    ),
    ("golang", "golang.org/x/net", "0.7.0", "0.17.0"),
    ("golang", "github.com/gin-gonic/gin", "1.7.0", "1.9.1"),
    ("deb", "openssl", "1.1.1n-0+deb11u3", "1.1.1w-0+deb11u1"),
    ("deb", "curl", "7.74.0-1.3+deb11u7", "7.74.0-1.3+deb11u14"),
    ("rpm", "glibc", "2.26-59.amzn2", "2.26-63.amzn2"),
    ("cargo", "tokio", "1.18.0", "1.18.5"),
];

pub(crate) const WEAKNESSES: [&str; 10] = [
    "Prototype pollution allows an attacker to modify object properties",
    "Regular expression denial of service through crafted input",
    "Improper certificate validation enables man-in-the-middle attacks",
    "Server-side request forgery through redirect handling",
    "Remote code execution through unsafe deserialization",
    "Heap-based buffer overflow when parsing malformed data",
    "Path traversal allows reading files outside the intended directory",
    "Cross-site scripting through unescaped user input",
    "Denial of service through uncontrolled resource consumption",
    "Information disclosure through verbose error messages",
];

pub(crate) const MISCONFIGURATIONS: [&str; 8] = [
    "S3 bucket allows public read access",
    "Security group allows ingress from 0.0.0.0/0 to port 22",
    "IAM user has console access without MFA",
    "EBS volume is not encrypted at rest",
    "RDS instance is publicly accessible",
    "CloudTrail log file validation is disabled",
    "Lambda function uses a deprecated runtime",
    "Repository branch protection is not enabled",
];

pub(crate) const DEACTIVATION_REASONS: [&str; 5] = [
    "Risk accepted: compensating control in place",
    "False positive: vulnerable code path is not reachable",
    "Asset scheduled for decommissioning",
    "Vendor fix pending; tracked in JIRA SEC-1042",
    "Not applicable to this environment",
];

pub(crate) const PEOPLE: [&str; 6] = [
    "alex.morgan@acme.example",
    "sam.lee@acme.example",
    "priya.shah@acme.example",
    "jordan.kim@acme.example",
    "security-bot@acme.example",
    "taylor.nguyen@acme.example",
];

pub(crate) const AWS_ACCOUNTS: [&str; 4] = [
    "123456789012",
    "210987654321",
    "345678901234",
    "456789012345",
];
pub(crate) const OPERATING_SYSTEMS: [&str; 5] = [
    "Amazon Linux 2023",
    "Ubuntu 22.04 LTS",
    "Debian GNU/Linux 12",
    "Windows Server 2022",
    "macOS 14.5",
];
pub(crate) const TAG_VALUES: [&str; 4] = ["prod", "staging", "dev", "shared"];
