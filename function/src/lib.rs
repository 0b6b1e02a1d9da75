//! vanta-vuln-sync: the sync engine. (Skeleton: filled by issue 3.)
