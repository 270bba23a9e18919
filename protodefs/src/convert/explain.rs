//! `policy explain` across the local API: cvlan-core's [`Explanation`] to the
//! `PolicyExplainResponse` and back, losslessly, so `cvlanctl policy explain` against a
//! running node prints exactly what the offline form prints (text and JSON).

use cvlan_core::policy::explain::{EndpointInfo, RuleMatch, SelectorMatch};
use cvlan_core::policy::{DEFAULT_DENY, Explanation};
use cvlan_schema::model::Action;

use super::{ConvertError, known_enum, parse_addr};
use crate::v1;

impl From<&EndpointInfo> for v1::ExplainEndpoint {
    fn from(e: &EndpointInfo) -> Self {
        Self {
            address: e.address.to_string(),
            kind: e.kind.unwrap_or_default().to_owned(),
            name: e.name.clone().unwrap_or_default(),
        }
    }
}

impl TryFrom<v1::ExplainEndpoint> for EndpointInfo {
    type Error = ConvertError;

    fn try_from(e: v1::ExplainEndpoint) -> Result<Self, Self::Error> {
        let kind = match e.kind.as_str() {
            "" => None,
            "node" => Some("node"),
            "vrouter" => Some("vrouter"),
            _ => {
                return Err(ConvertError::Text {
                    field: "ExplainEndpoint.kind",
                    value: e.kind,
                });
            }
        };
        Ok(Self {
            address: parse_addr("ExplainEndpoint.address", &e.address)?,
            kind,
            name: non_empty(e.name),
        })
    }
}

impl From<&SelectorMatch> for v1::SelectorMatch {
    fn from(m: &SelectorMatch) -> Self {
        Self {
            selector: m.selector.clone(),
            via: m.via.clone().unwrap_or_default(),
            reason: m.reason.clone(),
        }
    }
}

impl From<v1::SelectorMatch> for SelectorMatch {
    fn from(m: v1::SelectorMatch) -> Self {
        Self {
            selector: m.selector,
            via: non_empty(m.via),
            reason: m.reason,
        }
    }
}

impl From<&Explanation> for v1::PolicyExplainResponse {
    fn from(x: &Explanation) -> Self {
        let action = match x.action {
            Some("allow") => v1::PolicyAction::Allow,
            Some(_) => v1::PolicyAction::Deny,
            None => v1::PolicyAction::Unspecified,
        };
        Self {
            verdict: v1::Verdict::from(x.verdict).into(),
            rule: x.rule.clone(),
            rule_index: x.rule_index.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
            action: action.into(),
            from: Some((&x.from).into()),
            to: Some((&x.to).into()),
            port: x.port.clone(),
            matched: x.matched.as_ref().map(|m| v1::RuleMatch {
                from: Some((&m.from).into()),
                to: Some((&m.to).into()),
                port: m.port.clone(),
            }),
        }
    }
}

impl TryFrom<v1::PolicyExplainResponse> for Explanation {
    type Error = ConvertError;

    fn try_from(r: v1::PolicyExplainResponse) -> Result<Self, Self::Error> {
        let verdict = known_enum::<v1::Verdict>("PolicyExplainResponse.verdict", r.verdict)?;
        let action = match known_enum::<v1::PolicyAction>("PolicyExplainResponse.action", r.action)?
        {
            v1::PolicyAction::Unspecified => None,
            a => Some(match Action::try_from(a)? {
                Action::Allow => "allow",
                Action::Deny => "deny",
            }),
        };
        let endpoint = |e: Option<v1::ExplainEndpoint>, field| {
            e.ok_or(ConvertError::Missing { field })
                .and_then(EndpointInfo::try_from)
        };
        let matched = match r.matched {
            None => None,
            Some(m) => Some(RuleMatch {
                from: m
                    .from
                    .ok_or(ConvertError::Missing {
                        field: "RuleMatch.from",
                    })?
                    .into(),
                to: m
                    .to
                    .ok_or(ConvertError::Missing {
                        field: "RuleMatch.to",
                    })?
                    .into(),
                port: m.port,
            }),
        };
        if r.rule.is_empty() {
            return Err(ConvertError::Missing {
                field: "PolicyExplainResponse.rule",
            });
        }
        if (r.rule == DEFAULT_DENY) != r.rule_index.is_none() {
            return Err(ConvertError::Text {
                field: "PolicyExplainResponse.rule_index",
                value: format!("{:?} for rule {:?}", r.rule_index, r.rule),
            });
        }
        Ok(Self {
            verdict: verdict.try_into()?,
            rule: r.rule,
            rule_index: r.rule_index.map(|i| i as usize),
            action,
            from: endpoint(r.from, "PolicyExplainResponse.from")?,
            to: endpoint(r.to, "PolicyExplainResponse.to")?,
            port: r.port,
            matched,
        })
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cvlan_core::allocate;
    use cvlan_core::builder::{NetworkBuilder, NodeSpec, RuleSpec};
    use cvlan_core::policy::PolicyIndex;
    use cvlan_schema::model::{Selector, TestEndpoint, TestPort, Transport};
    use prost::Message as _;

    /// Every explanation of a small network survives model → proto → bytes → proto → model,
    /// and prints the same text and JSON afterwards.
    #[test]
    fn explanations_round_trip_unchanged() {
        let net = NetworkBuilder::new("t")
            .group("ops", ["carol@x.example"])
            .node(NodeSpec::new("laptop").tag("eng").owner("carol@x.example"))
            .node(NodeSpec::new("db").tag("db"))
            .node(NodeSpec::new("gw").route("10.20.0.0/16".parse().unwrap()))
            .rule(
                RuleSpec::allow("eng-db")
                    .from(Selector::Tag("eng".into()))
                    .to(Selector::Tag("db".into()))
                    .ports(Transport::Tcp, 5432, 5432),
            )
            .rule(
                RuleSpec::deny("ops-lan")
                    .from(Selector::Group("ops".into()))
                    .to(Selector::Route("gw".into())),
            )
            .build();
        let alloc = allocate(&net);
        let index = PolicyIndex::new(&net, &alloc);
        let name = |n: &str| TestEndpoint::Name(n.into());
        let cases = [
            (name("laptop"), name("db"), TestPort::Tcp(5432)),
            (name("laptop"), name("db"), TestPort::Udp(53)),
            (
                name("laptop"),
                TestEndpoint::Address("10.20.1.1".parse().unwrap()),
                TestPort::Icmp,
            ),
        ];
        for (from, to, port) in cases {
            let x = index.explain_endpoints(&from, &to, port).unwrap();
            let wire = v1::PolicyExplainResponse::from(&x).encode_to_vec();
            let back = Explanation::try_from(v1::PolicyExplainResponse::decode(&wire[..]).unwrap())
                .unwrap();
            assert_eq!(back, x);
            assert_eq!(back.to_string(), x.to_string());
        }
    }

    #[test]
    fn inconsistent_responses_are_refused() {
        let mut r = v1::PolicyExplainResponse {
            verdict: v1::Verdict::Reject.into(),
            rule: DEFAULT_DENY.into(),
            from: Some(v1::ExplainEndpoint {
                address: "100.64.0.1".into(),
                ..Default::default()
            }),
            to: Some(v1::ExplainEndpoint {
                address: "100.64.0.2".into(),
                kind: "printer".into(),
                name: "p".into(),
            }),
            port: "22/tcp".into(),
            ..Default::default()
        };
        assert!(matches!(
            Explanation::try_from(r.clone()),
            Err(ConvertError::Text {
                field: "ExplainEndpoint.kind",
                ..
            })
        ));
        r.to = None;
        assert_eq!(
            Explanation::try_from(r.clone()),
            Err(ConvertError::Missing {
                field: "PolicyExplainResponse.to"
            })
        );
        r.rule_index = Some(3);
        assert!(Explanation::try_from(r).is_err());
    }
}
