//! An `ai` backend's `pricing`: what a response costs, from its usage and the configured
//! price of its model. No network fetch: prices are what the config says.

use llm::Usage;

/// The price of the models whose name matches `pattern`, in US dollars per million tokens.
#[derive(Debug, Clone)]
pub struct Price {
    /// The provider's model name, with `*` wildcards.
    pub pattern: String,
    /// Per million input tokens not read from a cache.
    pub input: f64,
    /// Per million output tokens (reasoning included).
    pub output: f64,
    /// Per million input tokens read from the provider's cache (default: `input`).
    pub cache_read: f64,
    /// Per million input tokens written to the provider's cache (default: `input`).
    pub cache_creation: f64,
}

impl Price {
    /// The cost of `usage`, in millionths of a dollar (rounded up: a budget is never
    /// undercharged).
    pub fn micro_usd(&self, usage: &Usage) -> u64 {
        let cached = usage.cache_read + usage.cache_creation;
        let plain_input = usage.input.saturating_sub(cached);
        // Dollars per million tokens is millionths of a dollar per token.
        let cost = plain_input as f64 * self.input
            + usage.cache_read as f64 * self.cache_read
            + usage.cache_creation as f64 * self.cache_creation
            + usage.output as f64 * self.output;
        if cost.is_finite() && cost > 0.0 {
            cost.ceil() as u64
        } else {
            0
        }
    }
}

/// The first price whose pattern matches `model`.
pub fn price_for<'a>(prices: &'a [Price], model: &str) -> Option<&'a Price> {
    prices.iter().find(|p| super::glob_match(&p.pattern, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_by_token_kind() {
        let p = Price {
            pattern: "gpt-*".into(),
            input: 2.0,
            output: 8.0,
            cache_read: 0.5,
            cache_creation: 2.0,
        };
        let usage = Usage {
            input: 1000,
            output: 100,
            cache_read: 400,
            cache_creation: 0,
            reasoning: 0,
        };
        // 600 * 2 + 400 * 0.5 + 100 * 8 = 1200 + 200 + 800.
        assert_eq!(p.micro_usd(&usage), 2200);
        let prices = [p];
        assert!(price_for(&prices, "gpt-4.1").is_some());
        assert!(price_for(&prices, "claude").is_none());
    }
}
