//! The project's own typed client (`daraja`) against the simulator.

mod common;

use std::time::Duration;

use common::*;
use daraja::callback::{CallbackOutcome, StkCallback};
use daraja::{
    AccountReference, Amount, Client, Config, Environment, Error, Msisdn, StkPush, StkQueryStatus, TransactionDesc,
};
use daraja_sim::{Faults, SimConfig};

fn client(h: &Harness, passkey: &str) -> Client {
    let env: Environment = h.base.parse().unwrap();
    Client::new(
        Config::new(env, "key", "secret", SHORTCODE, passkey)
            .with_timeouts(Duration::from_secs(2), Duration::from_secs(2)),
    )
    .unwrap()
}

fn push(h: &Harness, phone: &str, amount: u32) -> StkPush {
    StkPush {
        phone: Msisdn::parse(phone).unwrap(),
        amount: Amount::new(amount).unwrap(),
        reference: AccountReference::new("ORDER-1", AccountReference::MAX_LEN).unwrap(),
        description: TransactionDesc::new("Order 1"),
        callback_url: h.receiver.url.clone(),
    }
}

#[tokio::test]
async fn typed_client_push_callback_query() {
    let h = spawn(fast_config()).await;
    let c = client(&h, PASSKEY);
    let accepted = c.stk_push(&push(&h, "0708374149", 800)).await.unwrap();
    assert!(accepted.checkout_request_id.starts_with("ws_CO_"));
    let raw = h.callbacks(&accepted.checkout_request_id, 1).await.remove(0);
    let cb = StkCallback::from_value(&raw).unwrap();
    assert_eq!(cb.checkout_request_id, accepted.checkout_request_id);
    match cb.outcome {
        CallbackOutcome::Success(d) => {
            assert_eq!(d.amount, Some(800));
            assert_eq!(d.phone.as_deref(), Some("254708374149"));
            assert!(d.receipt.is_some());
        }
        other => panic!("expected success, got {other:?}"),
    }
    match c.stk_query(&accepted.checkout_request_id).await.unwrap() {
        StkQueryStatus::Final { result_code, .. } => assert!(result_code.is_success()),
        StkQueryStatus::Pending => panic!("should be final"),
    }
    // One token for both calls; no warnings: the client speaks EAT.
    assert_eq!(h.sim.oauth_requests(), 1);
    let tx = h.sim.transaction(&accepted.checkout_request_id).unwrap();
    assert!(tx.warnings.is_empty(), "{:?}", tx.warnings);

    // A handset number stays pending for the client.
    let pending = c.stk_push(&push(&h, "0712345678", 50)).await.unwrap();
    assert_eq!(c.stk_query(&pending.checkout_request_id).await.unwrap(), StkQueryStatus::Pending);
    // And a failure code arrives as a failure.
    let failed = c.stk_push(&push(&h, "0700001032", 50)).await.unwrap();
    let raw = h.callbacks(&failed.checkout_request_id, 1).await.remove(0);
    assert!(!StkCallback::from_value(&raw).unwrap().outcome.is_success());
}

#[tokio::test]
async fn typed_client_sees_daraja_errors() {
    let h = spawn(SimConfig { passkey: "another-passkey".into(), ..fast_config() }).await;
    let c = client(&h, PASSKEY);
    match c.stk_push(&push(&h, "0708374149", 10)).await {
        Err(Error::Rejected { error_code, message, .. }) => {
            assert_eq!(error_code, "500.001.1001");
            assert_eq!(message, "Wrong credentials");
        }
        other => panic!("expected Wrong credentials, got {other:?}"),
    }

    let c = client(&h, "another-passkey");
    h.sim.set_faults(Faults { spike_arrest: 1.0, ..Faults::default() });
    let err = c.stk_push(&push(&h, "0708374149", 10)).await.unwrap_err();
    assert!(matches!(err, Error::RateLimited { .. }), "{err:?}");
    assert!(err.is_retry_safe());

    h.sim.set_faults(Faults { hang: 1.0, ..Faults::default() });
    let err = c.stk_push(&push(&h, "0708374149", 10)).await.unwrap_err();
    assert!(matches!(err, Error::OutcomeUnknown { .. }), "{err:?}");
    assert!(!err.is_retry_safe());
    let tx = poll(|| h.sim.transactions().into_iter().next()).await;
    h.sim.set_faults(Faults::default());
    h.settled(&tx.checkout_request_id, 1).await;
    assert!(c.stk_query(&tx.checkout_request_id).await.unwrap().is_final());
}

#[tokio::test]
async fn typed_client_refreshes_an_expired_token() {
    let h = spawn(SimConfig { token_ttl: Duration::from_millis(200), ..fast_config() }).await;
    let c = client(&h, PASSKEY);
    let a = c.stk_push(&push(&h, "0708374149", 10)).await.unwrap();
    h.settled(&a.checkout_request_id, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await; // let the token expire (not waiting on async work)
    assert!(c.stk_query(&a.checkout_request_id).await.unwrap().is_final());
    assert!(h.sim.oauth_requests() >= 2);
}
