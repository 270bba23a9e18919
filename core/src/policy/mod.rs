//! Policy: the reference evaluator and everything built on it (explain, policy-tests,
//! shadowed-rule detection). Semantics are exactly those of network-kdl.md: rules in file
//! order, the first whose from, to, proto and ports match decides, no match is a deny.

pub mod service;
