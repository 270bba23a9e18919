//! What a machine's command may reach beyond the machine: the routes through the TUN device
//! and the driver's IO counters.

use std::io;

use ipnet::IpNet;

use crate::io::TunIo;

/// Counters of the IO the driver performed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoCounters {
    /// Packets read from the TUN device.
    pub tun_in: u64,
    /// Packets written to the TUN device.
    pub tun_out: u64,
    /// UDP sends that failed.
    pub send_errors: u64,
    /// Failed reads of the TUN device or a socket, and failed TUN writes.
    pub io_errors: u64,
}

/// The TUN device's routes and the IO counters, lent to [`crate::Machine::handle_command`].
pub struct Control<'a, T> {
    pub(crate) tun: &'a mut T,
    pub(crate) routes: &'a mut Vec<IpNet>,
    pub(crate) counters: &'a IoCounters,
}

impl<T: TunIo> Control<'_, T> {
    /// The TUN device's overlay addresses (their prefixes are on-link).
    pub fn tun_addresses(&self) -> &[IpNet] {
        self.tun.addresses()
    }

    /// Makes the routes through the TUN device exactly `routes` (nothing to do when they are
    /// already); after a failure the previous ones are still the ones known.
    pub async fn set_routes(&mut self, routes: Vec<IpNet>) -> io::Result<()> {
        if routes == *self.routes {
            return Ok(());
        }
        self.tun.set_routes(&routes).await?;
        *self.routes = routes;
        Ok(())
    }

    /// The routes last set through the TUN device.
    pub fn routes(&self) -> &[IpNet] {
        self.routes
    }

    /// The driver's IO counters.
    pub fn counters(&self) -> IoCounters {
        *self.counters
    }
}

/// The prefixes of `prefixes` that need a route through the TUN device: those not inside one
/// of its own (on-link) prefixes `on_link`, truncated to their network, sorted, once each.
pub fn off_link(on_link: &[IpNet], prefixes: impl IntoIterator<Item = IpNet>) -> Vec<IpNet> {
    let mut wanted: Vec<IpNet> = prefixes
        .into_iter()
        .map(|net| net.trunc())
        .filter(|net| !on_link.iter().any(|l| l.trunc().contains(net)))
        .collect();
    wanted.sort();
    wanted.dedup();
    wanted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_link_skips_on_link_prefixes_and_repeats() {
        let net = |s: &str| s.parse::<IpNet>().unwrap();
        let on_link = [net("100.64.0.1/10"), net("fd7a::1/48")];
        let got = off_link(
            &on_link,
            [
                net("10.1.1.7/24"),
                net("100.64.0.2/32"),
                net("10.1.0.0/24"),
                net("10.1.1.0/24"),
                net("fd7a::5/128"),
                net("fd00:1::/64"),
            ],
        );
        assert_eq!(
            got,
            vec![net("10.1.0.0/24"), net("10.1.1.0/24"), net("fd00:1::/64")]
        );
    }
}
