//! The policy this node runs: the compiled matcher its packet filter enforces, and (when the
//! state came from network.kdl rather than the cache) the network itself, which explain and
//! policy-tests need to name rules and selectors. Explain, policy-tests and hit counters in
//! the local API's shapes; no IO here.

use std::collections::HashMap;
use std::sync::Arc;

use cvlan_core::netmap::{NetMap, RuleAction};
use cvlan_core::policy::compiled::CompiledPolicy;
use cvlan_core::policy::service::format_port_spec;
use cvlan_core::policy::{DEFAULT_DENY, Decision, Explanation, Packet, PolicyIndex};
use cvlan_core::{Allocation, allocate};
use cvlan_mesh::firewall::{Counter, FilterConfig, PolicyFilter, RuleHits};
use cvlan_proto::v1;
use cvlan_schema::model::{Action, Network, PolicyTest, TestEndpoint, Verdict};
use cvlan_schema::values::{parse_test_endpoint, parse_test_port};

/// Why a policy question cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The running state came from the cache, which holds only this node's netmap.
    #[error(
        "the running policy came from the cached netmap; explain and policy-tests need the network file (waiting for the source)"
    )]
    NoNetwork,
    /// A malformed argument.
    #[error("{0}")]
    Argument(String),
    /// A name that is no node or vrouter of the network.
    #[error("{0}")]
    Unknown(String),
}

/// The network a policy came from, with its addresses.
#[derive(Debug)]
pub struct PolicyModel {
    /// The network.
    pub network: Network,
    /// Its address allocation.
    pub allocation: Allocation,
}

impl PolicyModel {
    /// The model of `network`, allocating its addresses.
    pub fn new(network: Network) -> Self {
        let allocation = allocate(&network);
        Self {
            network,
            allocation,
        }
    }
}

/// The policy in force on this node.
#[derive(Debug)]
pub struct RunningPolicy {
    /// What the packet filter decides with.
    pub compiled: Arc<CompiledPolicy>,
    /// The network it came from; `None` when running from the cached netmap.
    pub model: Option<Arc<PolicyModel>>,
}

impl RunningPolicy {
    /// Compiles the rules of `netmap` (with `model`, the network it was computed from).
    pub fn compile(netmap: &NetMap, model: Option<Arc<PolicyModel>>) -> Self {
        Self {
            compiled: Arc::new(CompiledPolicy::from_netmap(netmap)),
            model,
        }
    }

    /// A fresh packet filter enforcing this policy.
    pub fn filter(&self, icmp_prohibited: bool) -> PolicyFilter {
        let mut filter = PolicyFilter::new(FilterConfig {
            icmp_prohibited,
            ..FilterConfig::default()
        });
        filter.set_policy(self.compiled.clone());
        filter
    }

    fn model(&self) -> Result<&PolicyModel, PolicyError> {
        self.model.as_deref().ok_or(PolicyError::NoNetwork)
    }

    /// The decision on a packet: the compiled policy's when the packet concerns this node
    /// (between it and a peer), else the network's reference evaluator's.
    fn decide(&self, index: &PolicyIndex<'_>, packet: &Packet) -> Decision {
        let reference = index.evaluate(packet);
        match self.compiled.decision(self.compiled.evaluate(packet)) {
            Some(compiled) => {
                if compiled != reference {
                    tracing::error!(
                        ?packet,
                        ?compiled,
                        ?reference,
                        "the compiled policy disagrees with the reference evaluator (a bug)"
                    );
                }
                compiled
            }
            None => reference,
        }
    }

    /// `policy explain` against the running policy: the same answer as the offline form.
    pub fn explain(&self, request: &v1::PolicyExplainRequest) -> Result<Explanation, PolicyError> {
        let argument = |flag: &str, e: String| PolicyError::Argument(format!("{flag}: {e}"));
        let from = parse_test_endpoint(&request.from).map_err(|e| argument("from", e))?;
        let to = parse_test_endpoint(&request.to).map_err(|e| argument("to", e))?;
        let port = parse_test_port(&request.port).map_err(|e| argument("port", e))?;
        let model = self.model()?;
        let index = PolicyIndex::new(&model.network, &model.allocation);
        let explanation = index
            .explain_endpoints(&from, &to, port)
            .map_err(|e| match e {
                cvlan_core::policy::EndpointError::Unknown(_) => {
                    PolicyError::Unknown(e.to_string())
                }
                _ => PolicyError::Argument(e.to_string()),
            })?;
        let packet = Packet {
            src: explanation.from.address,
            dst: explanation.to.address,
            port,
        };
        // Logs loudly should the compiled policy ever disagree; the explanation stands.
        let _ = self.decide(&index, &packet);
        Ok(explanation)
    }

    /// Runs policy-tests against the running policy: those of its own network, or of
    /// `sent` (a network checked from files the client sent, with its diagnostics).
    pub fn tests(
        &self,
        sent: Option<(Option<Network>, Vec<v1::Diagnostic>)>,
    ) -> Result<v1::PolicyTestResponse, PolicyError> {
        let model = self.model()?;
        let index = PolicyIndex::new(&model.network, &model.allocation);
        let mut response = v1::PolicyTestResponse::default();
        let sent_network;
        let tests: &[PolicyTest] = match sent {
            None => &model.network.tests,
            Some((network, diagnostics)) => {
                response.diagnostics = diagnostics;
                sent_network = network;
                sent_network.as_ref().map_or(&[], |n| &n.tests)
            }
        };
        for test in tests {
            for (i, case) in test.cases.iter().enumerate() {
                let port = case.port.value;
                let actual = index
                    .resolve_pair(&case.from, &case.to)
                    .map(|(src, dst)| self.decide(&index, &Packet { src, dst, port }));
                let (verdict, rule) = match &actual {
                    Ok(d) => (
                        d.verdict,
                        d.rule.map_or(DEFAULT_DENY.to_owned(), |r| {
                            model.network.rules[r].name.value.clone()
                        }),
                    ),
                    Err(e) => (Verdict::Reject, format!("cannot run: {e}")),
                };
                let passed = actual.is_ok() && verdict == case.expect;
                if passed {
                    response.passed += 1;
                } else {
                    response.failed += 1;
                }
                response.results.push(v1::PolicyTestCaseResult {
                    test: test.name.value.clone(),
                    case_index: u32::try_from(i).unwrap_or(u32::MAX),
                    from: endpoint_text(&case.from),
                    to: endpoint_text(&case.to),
                    port: format_port_spec(port),
                    expected: v1::Verdict::from(case.expect).into(),
                    actual: v1::Verdict::from(verdict).into(),
                    rule,
                    passed,
                });
            }
        }
        Ok(response)
    }

    /// The hit counter rows: every rule of the network in policy order (rules that cannot
    /// match this node's traffic count nothing), then `default-deny`. Without the network
    /// (running from the cache), the rules of the netmap.
    pub fn hit_rows(&self, hits: &[RuleHits]) -> Vec<v1::RuleHits> {
        let by_name: HashMap<&str, &RuleHits> = hits.iter().map(|h| (h.name.as_str(), h)).collect();
        let rules: Vec<(String, usize, RuleAction)> = match &self.model {
            Some(model) => model
                .network
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let action = match r.action {
                        Action::Allow => RuleAction::Allow,
                        Action::Deny => RuleAction::Deny,
                    };
                    (r.name.value.clone(), i, action)
                })
                .collect(),
            None => self
                .compiled
                .rules()
                .iter()
                .map(|r| (r.name.clone(), r.index, r.action))
                .collect(),
        };
        let total = match &self.model {
            Some(model) => model.network.rules.len(),
            None => rules.last().map_or(0, |r| r.1 + 1),
        };
        let counters = |h: Option<&&RuleHits>| {
            let c = |c: Counter| v1::HitCounters {
                packets: c.packets,
                bytes: c.bytes,
            };
            (
                h.map(|h| c(h.inbound)).unwrap_or_default(),
                h.map(|h| c(h.outbound)).unwrap_or_default(),
            )
        };
        let mut rows: Vec<v1::RuleHits> = rules
            .into_iter()
            .map(|(name, index, action)| {
                let (inbound, outbound) = counters(by_name.get(name.as_str()));
                v1::RuleHits {
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                    action: match action {
                        RuleAction::Allow => v1::PolicyAction::Allow,
                        RuleAction::Deny => v1::PolicyAction::Deny,
                    }
                    .into(),
                    default_deny: false,
                    inbound: Some(inbound),
                    outbound: Some(outbound),
                    rule: name,
                }
            })
            .collect();
        let (inbound, outbound) = counters(by_name.get(DEFAULT_DENY));
        rows.push(v1::RuleHits {
            rule: DEFAULT_DENY.to_owned(),
            index: u32::try_from(total).unwrap_or(u32::MAX),
            action: v1::PolicyAction::Deny.into(),
            default_deny: true,
            inbound: Some(inbound),
            outbound: Some(outbound),
        });
        rows
    }
}

/// A policy-test endpoint as written.
fn endpoint_text(e: &TestEndpoint) -> String {
    match e {
        TestEndpoint::Name(n) => n.clone(),
        TestEndpoint::Address(a) => a.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
    use cvlan_core::netmap::netmap_for;
    use cvlan_schema::model::{Selector, TestPort, Transport};

    fn running(node: &str) -> RunningPolicy {
        let net = NetworkBuilder::new("t")
            .node(NodeSpec::new("web").tag("web"))
            .node(NodeSpec::new("laptop").tag("eng"))
            .node(NodeSpec::new("other"))
            .rule(
                RuleSpec::allow("eng-web")
                    .from(Selector::Tag("eng".into()))
                    .to(Selector::Tag("web".into()))
                    .ports(Transport::Tcp, 443, 443),
            )
            .rule(
                RuleSpec::deny("no-other")
                    .from(Selector::Node("other".into()))
                    .to(Selector::Any),
            )
            .test(
                "eng reaches web",
                [
                    (
                        Verdict::Accept,
                        TestEndpoint::Name("laptop".into()),
                        TestEndpoint::Name("web".into()),
                        TestPort::Tcp(443),
                    ),
                    (
                        Verdict::Accept,
                        TestEndpoint::Name("web".into()),
                        TestEndpoint::Name("laptop".into()),
                        TestPort::Tcp(22),
                    ),
                ],
            )
            .build();
        let model = Arc::new(PolicyModel::new(net));
        let map = netmap_for(&model.network, &model.allocation, node).unwrap();
        RunningPolicy::compile(&map, Some(model))
    }

    #[test]
    fn explain_matches_the_offline_form_and_names_bad_arguments() {
        let policy = running("web");
        let request = |from: &str, to: &str, port: &str| v1::PolicyExplainRequest {
            from: from.into(),
            to: to.into(),
            port: port.into(),
        };
        let x = policy
            .explain(&request("laptop", "web", "443/tcp"))
            .unwrap();
        let model = policy.model.as_ref().unwrap();
        let offline = PolicyIndex::new(&model.network, &model.allocation)
            .explain_endpoints(
                &TestEndpoint::Name("laptop".into()),
                &TestEndpoint::Name("web".into()),
                TestPort::Tcp(443),
            )
            .unwrap();
        assert_eq!(x, offline);
        assert_eq!(x.rule, "eng-web");
        assert!(matches!(
            policy.explain(&request("nobody", "web", "443/tcp")),
            Err(PolicyError::Unknown(_))
        ));
        assert!(matches!(
            policy.explain(&request("laptop", "web", "443/sctp")),
            Err(PolicyError::Argument(_))
        ));
        let cached = RunningPolicy {
            compiled: policy.compiled.clone(),
            model: None,
        };
        assert_eq!(
            cached.explain(&request("laptop", "web", "443/tcp")),
            Err(PolicyError::NoNetwork)
        );
    }

    #[test]
    fn policy_tests_report_every_line_with_its_deciding_rule() {
        let response = running("laptop").tests(None).unwrap();
        assert_eq!((response.passed, response.failed), (1, 1));
        assert_eq!(response.results[0].rule, "eng-web");
        assert!(response.results[0].passed);
        assert_eq!(response.results[1].rule, DEFAULT_DENY);
        assert_eq!(response.results[1].actual(), v1::Verdict::Reject);
        assert_eq!(response.results[1].port, "22/tcp");
        // Tests sent by the client, against the running rules.
        let mut sent = NetworkBuilder::new("t").build();
        sent.tests = policy_tests_only();
        let response = running("laptop")
            .tests(Some((Some(sent), Vec::new())))
            .unwrap();
        assert_eq!((response.passed, response.failed), (0, 1));
        assert!(response.results[0].rule.starts_with("cannot run"));
    }

    fn policy_tests_only() -> Vec<PolicyTest> {
        NetworkBuilder::new("t")
            .test(
                "unknown",
                [(
                    Verdict::Accept,
                    TestEndpoint::Name("ghost".into()),
                    TestEndpoint::Name("web".into()),
                    TestPort::Icmp,
                )],
            )
            .build()
            .tests
    }

    #[test]
    fn hit_rows_list_every_rule_then_default_deny() {
        let policy = running("laptop");
        // The filter counts the netmap's rules: those that can match the laptop's traffic
        // with its peers ("other" is no peer of it: nothing is allowed between them).
        let counted: Vec<String> = policy
            .filter(true)
            .hits()
            .into_iter()
            .map(|h| h.name)
            .collect();
        assert_eq!(counted, ["eng-web", DEFAULT_DENY]);
        let hits = vec![RuleHits {
            name: "eng-web".into(),
            index: Some(0),
            action: RuleAction::Allow,
            inbound: Counter::default(),
            outbound: Counter {
                packets: 3,
                bytes: 180,
            },
        }];
        let rows = policy.hit_rows(&hits);
        let names: Vec<&str> = rows.iter().map(|r| r.rule.as_str()).collect();
        assert_eq!(names, ["eng-web", "no-other", DEFAULT_DENY]);
        assert_eq!(rows[0].outbound.unwrap().packets, 3);
        assert_eq!(rows[2].index, 2);
        assert!(rows[2].default_deny);
        let cached = RunningPolicy {
            compiled: policy.compiled.clone(),
            model: None,
        };
        assert_eq!(
            cached.hit_rows(&hits).len(),
            2,
            "the netmap's rules, then default-deny"
        );
    }
}
