//! perfharness: Lambda benchmark harness. (Skeleton: filled by issue 5.)
