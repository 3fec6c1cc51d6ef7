//! [`Client`] methods of the money-out APIs (B2C, Reversal, Transaction Status, Account Balance).

use crate::client::{Acknowledgement, Client};
use crate::error::Error;
use crate::money_out::{Accepted, AccountBalanceRequest, B2cRequest, ReversalRequest, TransactionStatusRequest};

impl Client {
    /// Sends a B2C payment: v3 when `request.originator_conversation_id` is set, else v1.
    ///
    /// `Ok` means "accepted for processing"; the outcome arrives at `result_url` as a
    /// [`DarajaResult`](crate::DarajaResult). A resend with the same `OriginatorConversationID` is
    /// refused with [`Error::DuplicateOriginatorConversationId`], so it can never pay twice.
    ///
    /// ```no_run
    /// # async fn run(client: daraja::Client, cert: daraja::Certificate) -> Result<(), Box<dyn std::error::Error>> {
    /// use daraja::{B2cCommand, B2cRequest};
    /// let accepted = client.b2c_payment(&B2cRequest {
    ///     originator_conversation_id: Some("po_2Xc9".into()),
    ///     initiator_name: "testapi".into(),
    ///     security_credential: cert.security_credential(&"Safaricom999!*!".into())?,
    ///     command_id: B2cCommand::BusinessPayment,
    ///     amount: 1500,
    ///     party_a: "600987".into(),
    ///     party_b: "254712345678".into(),
    ///     remarks: "Rider payout".into(),
    ///     queue_time_out_url: "https://pay.example.com/callbacks/timeout/s3cr3t".into(),
    ///     result_url: "https://pay.example.com/callbacks/result/s3cr3t".into(),
    ///     occasion: None,
    /// }).await?;
    /// println!("{}", accepted.conversation_id);
    /// # Ok(()) }
    /// ```
    pub async fn b2c_payment(&self, request: &B2cRequest) -> Result<Accepted, Error> {
        self.check_callback_url(&request.result_url)?;
        self.check_callback_url(&request.queue_time_out_url)?;
        if !(10..=250_000).contains(&request.amount) {
            return Err(Error::InvalidInput {
                field: "amount",
                reason: "B2C amounts are 10 to 250,000 shillings".into(),
            });
        }
        self.send_async(request.path(), request).await
    }

    /// Sends a Transaction Reversal; see [`Client::b2c_payment`] for what `Ok` means.
    pub async fn reversal(&self, request: &ReversalRequest) -> Result<Accepted, Error> {
        self.check_callback_url(&request.result_url)?;
        self.check_callback_url(&request.queue_time_out_url)?;
        self.send_async(ReversalRequest::PATH, request).await
    }

    /// Sends a Transaction Status query; the answer arrives at its `ResultURL`.
    pub async fn transaction_status(&self, request: &TransactionStatusRequest) -> Result<Accepted, Error> {
        self.check_callback_url(&request.result_url)?;
        self.check_callback_url(&request.queue_time_out_url)?;
        self.send_async(TransactionStatusRequest::PATH, request).await
    }

    /// Sends an Account Balance query; the balances arrive at its `ResultURL`.
    pub async fn account_balance(&self, request: &AccountBalanceRequest) -> Result<Accepted, Error> {
        self.check_callback_url(&request.result_url)?;
        self.check_callback_url(&request.queue_time_out_url)?;
        self.send_async(AccountBalanceRequest::PATH, request).await
    }

    async fn send_async<T: serde::Serialize>(&self, path: &str, request: &T) -> Result<Accepted, Error> {
        let body =
            serde_json::to_value(request).map_err(|e| Error::InvalidInput { field: "body", reason: e.to_string() })?;
        self.post_for_acceptance(path, &body).await
    }
}

impl Acknowledgement for Accepted {
    fn response(&self) -> (&str, &str) {
        (&self.response_code, &self.response_description)
    }
}
