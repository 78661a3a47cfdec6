//! Where codes may be sent: per market, the destination countries its
//! customers live in (`SMS_DESTINATIONS`, e.g. `us=US;in=IN;eu=EU`). SMS
//! pumping sends codes to premium numbers in countries the shop never
//! sells to; a number outside its market's list is sent nothing, and the
//! answer does not say so (it is the same `202` as a sent code).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, ensure};

/// The member states of the European Union, which `EU` stands for.
pub const EU: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// The destinations of one market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowed {
    /// `*`: every country (refused in production).
    Every,
    Countries(BTreeSet<String>),
}

/// Every market's destinations; a market without an entry has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destinations {
    by_market: BTreeMap<String, Allowed>,
}

impl Destinations {
    /// Parses `market=CC,CC;market=CC` (`EU` for the Union, `*` for every
    /// country).
    pub fn parse(spec: &str) -> anyhow::Result<Self> {
        let mut by_market = BTreeMap::new();
        for entry in spec.split(';').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((market, countries)) = entry.split_once('=') else {
                bail!("SMS_DESTINATIONS: {entry:?} is not market=COUNTRIES");
            };
            let market = market.trim().to_ascii_lowercase();
            ensure!(
                common::market::is_well_formed(&market),
                "SMS_DESTINATIONS: {market:?} is not a market code"
            );
            let allowed = if countries.trim() == "*" {
                Allowed::Every
            } else {
                let mut set = BTreeSet::new();
                for code in countries
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                {
                    let code = code.to_ascii_uppercase();
                    if code == "EU" {
                        set.extend(EU.iter().map(|c| (*c).to_owned()));
                    } else {
                        ensure!(
                            code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase()),
                            "SMS_DESTINATIONS: {code:?} is not an ISO 3166 alpha-2 code"
                        );
                        set.insert(code);
                    }
                }
                ensure!(
                    !set.is_empty(),
                    "SMS_DESTINATIONS: market {market:?} names no country"
                );
                Allowed::Countries(set)
            };
            ensure!(
                by_market.insert(market.clone(), allowed).is_none(),
                "SMS_DESTINATIONS: market {market:?} is listed twice"
            );
        }
        Ok(Self { by_market })
    }

    /// Whether a code for a login in `market` may go to a number of `country`.
    pub fn allows(&self, market: &str, country: &str) -> bool {
        match self.by_market.get(market) {
            Some(Allowed::Every) => true,
            Some(Allowed::Countries(set)) => set.contains(country),
            None => false,
        }
    }

    /// Whether some market allows every country (development only).
    pub fn allows_every_country(&self) -> bool {
        self.by_market.values().any(|a| *a == Allowed::Every)
    }

    /// Whether `market` has a list at all.
    pub fn lists(&self, market: &str) -> bool {
        self.by_market.contains_key(market)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_market_sends_only_to_its_countries() {
        let destinations = Destinations::parse("us=US,ca; in=IN ;eu=EU").unwrap();
        assert!(destinations.allows("us", "US") && destinations.allows("us", "CA"));
        assert!(!destinations.allows("us", "IN"), "another market's country");
        assert!(destinations.allows("in", "IN"));
        assert!(destinations.allows("eu", "DE") && destinations.allows("eu", "HU"));
        assert!(!destinations.allows("eu", "GB"), "not in the Union");
        assert!(
            !destinations.allows("mx", "MX"),
            "an unlisted market sends nothing"
        );
        assert!(!destinations.allows_every_country());
        assert_eq!(EU.iter().collect::<BTreeSet<_>>().len(), 27);
    }

    #[test]
    fn every_country_is_spelt_out_and_malformed_lists_are_refused() {
        let open = Destinations::parse("us=*;eu=EU").unwrap();
        assert!(open.allows("us", "LV") && open.allows_every_country());
        for bad in ["us", "us=", "us=USA", "US1=US", "us=US;us=CA", "us=1A"] {
            assert!(Destinations::parse(bad).is_err(), "{bad:?}");
        }
    }
}
