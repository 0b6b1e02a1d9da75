//! mock-vanta: a double of the Vanta API. (Skeleton: filled by issue 2.)
