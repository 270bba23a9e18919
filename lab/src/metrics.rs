//! The daemons' Prometheus endpoints as tests read them: one HTTP/1.1 exchange, the families
//! and samples of the text served, and the tables of docs/metrics.md, so that each daemon's
//! test checks that what it serves is what the reference documents, both ways.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// The metrics reference, beside the workspace's crates.
const REFERENCE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics.md");

/// An HTTP answer: the status line, the head (lowercased), the body.
#[derive(Debug, Clone)]
pub struct Answer {
    /// `HTTP/1.1 200 OK`.
    pub status: String,
    /// The header lines, lowercased.
    pub head: String,
    /// The body.
    pub body: String,
}

/// Sends `request` as is to `addr` and reads until the server closes (the endpoints answer
/// one request per connection), at most `wait`.
pub fn exchange(addr: SocketAddr, request: &[u8], wait: Duration) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect_timeout(&addr, wait)?;
    stream.set_read_timeout(Some(wait))?;
    stream.write_all(request)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let (status, head) = head.split_once("\r\n").unwrap_or((head, ""));
    Ok(Answer {
        status: status.to_owned(),
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    })
}

/// `GET path` from `addr`, waiting at most 15 s.
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<Answer> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    exchange(addr, request.as_bytes(), Duration::from_secs(15))
}

/// A family as served: its type and the label names of each of its samples (a histogram's
/// `le` left out).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Family {
    /// `counter`, `gauge`, `histogram`.
    pub kind: String,
    /// The label names of each sample.
    pub labels: BTreeSet<BTreeSet<String>>,
}

/// A scrape, parsed.
#[derive(Debug, Default, Clone)]
pub struct Scrape {
    /// The families by the name the reference gives them: a counter's samples' name (with
    /// `_total`), a gauge's or a histogram's `# TYPE` name.
    pub families: BTreeMap<String, Family>,
    /// Every sample's value by its name and its labels as `k=v,k=v` (sorted by name).
    pub values: BTreeMap<(String, String), f64>,
}

impl Scrape {
    /// Parses OpenMetrics text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut scrape = Self::default();
        // A sample's name → its family's name.
        let mut owners: BTreeMap<String, String> = BTreeMap::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("bad TYPE line: {line}"))?;
                let family = match kind {
                    "counter" => format!("{name}_total"),
                    _ => name.to_owned(),
                };
                let samples: Vec<String> = match kind {
                    "counter" => vec![family.clone()],
                    "histogram" => ["_bucket", "_sum", "_count"]
                        .iter()
                        .map(|s| format!("{name}{s}"))
                        .collect(),
                    _ => vec![name.to_owned()],
                };
                for sample in samples {
                    owners.insert(sample, family.clone());
                }
                scrape.families.entry(family).or_default().kind = kind.to_owned();
            } else if !line.starts_with('#') && !line.is_empty() {
                let (name, labels, value) = sample(line)?;
                let owner = owners
                    .get(&name)
                    .ok_or_else(|| format!("sample {line} of no # TYPE family"))?;
                if let Some(family) = scrape.families.get_mut(owner) {
                    family.labels.insert(
                        labels
                            .keys()
                            .filter(|k| k.as_str() != "le")
                            .cloned()
                            .collect(),
                    );
                }
                let key: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                scrape.values.insert((name, key.join(",")), value);
            }
        }
        Ok(scrape)
    }

    /// The value of sample `name` with labels `labels` (`k=v,k=v`, sorted by name).
    pub fn value(&self, name: &str, labels: &str) -> Option<f64> {
        self.values
            .get(&(name.to_owned(), labels.to_owned()))
            .copied()
    }
}

/// One sample line: name, label pairs, value.
fn sample(line: &str) -> Result<(String, BTreeMap<String, String>, f64), String> {
    let (series, value) = line
        .rsplit_once(' ')
        .ok_or_else(|| format!("no value: {line}"))?;
    let value: f64 = match value {
        "+Inf" => f64::INFINITY,
        v => v.parse().map_err(|_| format!("not a number: {line}"))?,
    };
    let Some((name, labels)) = series.split_once('{') else {
        return Ok((series.to_owned(), BTreeMap::new(), value));
    };
    let mut pairs = BTreeMap::new();
    for pair in labels
        .trim_end_matches('}')
        .split("\",")
        .filter(|l| !l.is_empty())
    {
        let (k, v) = pair
            .split_once("=\"")
            .ok_or_else(|| format!("bad label in {line}"))?;
        pairs.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
    }
    Ok((name.to_owned(), pairs, value))
}

/// A documented family: its type and its label names.
pub type Documented = BTreeMap<String, (String, BTreeSet<String>)>;

/// The families docs/metrics.md documents in its tables named `sections` (each between
/// `<!-- metrics:NAME:begin -->` and `<!-- metrics:NAME:end -->`).
pub fn documented(sections: &[&str]) -> Result<Documented, String> {
    let text = std::fs::read_to_string(Path::new(REFERENCE))
        .map_err(|e| format!("cannot read {REFERENCE}: {e}"))?;
    let mut families = Documented::new();
    for section in sections {
        let begin = format!("<!-- metrics:{section}:begin -->");
        let end = format!("<!-- metrics:{section}:end -->");
        let start = text
            .find(&begin)
            .ok_or_else(|| format!("no {begin} in docs/metrics.md"))?;
        let stop = text
            .find(&end)
            .ok_or_else(|| format!("no {end} in docs/metrics.md"))?;
        for row in text[start..stop]
            .lines()
            .filter(|l| l.starts_with('|'))
            .skip(2)
        {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            let [name, kind, _unit, labels, ..] = cells[..] else {
                return Err(format!("a short row in {section}: {row}"));
            };
            let labels = labels
                .split(',')
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect();
            families.insert(name.to_owned(), (kind.to_owned(), labels));
        }
    }
    Ok(families)
}

/// Parses `text` and checks that it serves exactly the families of `sections` of
/// docs/metrics.md, with their types and label names; returns the scrape.
pub fn check_documented(text: &str, sections: &[&str]) -> Result<Scrape, String> {
    let scrape = Scrape::parse(text)?;
    let documented = documented(sections)?;
    let served: BTreeSet<&String> = scrape.families.keys().collect();
    let listed: BTreeSet<&String> = documented.keys().collect();
    if served != listed {
        return Err(format!(
            "served but not documented: {:?}; documented but not served: {:?}",
            served.difference(&listed).collect::<Vec<_>>(),
            listed.difference(&served).collect::<Vec<_>>()
        ));
    }
    for (name, family) in &scrape.families {
        let (kind, labels) = &documented[name];
        if &family.kind != kind {
            return Err(format!(
                "{name} is served as a {} but documented as a {kind}",
                family.kind
            ));
        }
        if let Some(other) = family.labels.iter().find(|l| *l != labels) {
            return Err(format!(
                "{name} is served with labels {other:?} but documented with {labels:?}"
            ));
        }
    }
    Ok(scrape)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# HELP cvlan_apply Apply attempts.\n\
        # TYPE cvlan_apply counter\n\
        cvlan_apply_total{outcome=\"applied\"} 2\n\
        # TYPE cvlan_up gauge\n\
        cvlan_up 1\n\
        # TYPE cvlan_wait_seconds histogram\n\
        cvlan_wait_seconds_sum 0.5\n\
        cvlan_wait_seconds_count 3\n\
        cvlan_wait_seconds_bucket{le=\"0.1\"} 1\n\
        cvlan_wait_seconds_bucket{le=\"+Inf\"} 3\n\
        # EOF\n";

    #[test]
    fn parses_counters_gauges_and_histograms() {
        let scrape = Scrape::parse(TEXT).expect("parses");
        assert_eq!(
            scrape.families.keys().collect::<Vec<_>>(),
            ["cvlan_apply_total", "cvlan_up", "cvlan_wait_seconds"]
        );
        assert_eq!(
            scrape.value("cvlan_apply_total", "outcome=applied"),
            Some(2.0)
        );
        assert_eq!(scrape.value("cvlan_wait_seconds_count", ""), Some(3.0));
        assert_eq!(
            scrape.value("cvlan_wait_seconds_bucket", "le=+Inf"),
            Some(3.0)
        );
        let histogram = &scrape.families["cvlan_wait_seconds"];
        assert_eq!(histogram.kind, "histogram");
        assert_eq!(
            histogram.labels,
            BTreeSet::from([BTreeSet::new()]),
            "le is not a label"
        );
    }

    #[test]
    fn a_sample_without_its_family_is_an_error() {
        assert!(Scrape::parse("cvlan_stray 1\n").is_err());
        assert!(Scrape::parse("# TYPE cvlan_x gauge\ncvlan_x one\n").is_err());
    }

    #[test]
    fn every_section_of_the_reference_is_readable() {
        for section in [
            "all",
            "agent",
            "cvland",
            "cvlan-vrouterd",
            "cvlan-controller",
        ] {
            let families = documented(&[section]).expect("a section");
            assert!(!families.is_empty(), "{section} lists families");
        }
    }
}
