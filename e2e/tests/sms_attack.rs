//! The SMS-pumping simulation (`xtask::sms_attack`) against a stack of
//! its own, run by the real binaries: at most 25 SMS reach the attacker's
//! numbers among 10,000 requests, at least 99 % of 200 customers log in,
//! and no answer tells the attacker which rule stopped it.

use e2e::stacks::{drop_stack, own_stack};
use xtask::sms_attack::{STACK_ENV, simulate};

#[test]
fn an_sms_pumping_attack_costs_at_most_25_sms_while_customers_log_in() {
    let stack = own_stack("sms", STACK_ENV).expect("a stack starts");
    let auth = stack.config.auth_url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let report = runtime.block_on(simulate(&auth, "dev-internal-token"));
    drop_stack(stack);
    let report = report.expect("the simulation runs");
    println!("{}", report.render());
    report.check().unwrap();
}
