//! Delivering a callback (an STK callback, a C2B validation or confirmation, a money-out result) with
//! the injected faults: dropped, held back, sent twice.

use super::*;

/// How the log names one delivery.
pub(crate) struct Delivery<'a> {
    /// The id the log entries carry, if any.
    pub(crate) log_id: Option<&'a str>,
    /// The whole entry when the delivery is dropped.
    pub(crate) dropped: String,
    /// Followed by " held back N ms (fault)".
    pub(crate) held: String,
    /// Followed by " answered 200…" or " failed: …", for every attempt.
    pub(crate) attempt: String,
    /// Whether " answered 200" is followed by the start of the receiver's body.
    pub(crate) with_body: bool,
}

impl Simulator {
    /// Rolls the callback faults for one delivery: (dropped, duplicate, held back by).
    pub(crate) fn callback_faults(&self) -> (bool, bool, Option<Duration>) {
        let f = self.faults();
        let dropped = self.roll(f.drop_callback);
        let duplicate = self.roll(f.duplicate_callback);
        let late = self.roll(f.late_callback).then(|| Duration::from_millis(f.late_callback_ms));
        (dropped, duplicate, late)
    }

    /// POSTs `payload` to `url` as `faults` say, logging each step under `names`, and hands every
    /// attempt (a dropped one too, with fault `dropped`) to `record`.
    pub(crate) async fn deliver_with_faults(
        &self,
        url: &str,
        payload: &Value,
        (dropped, duplicate, late): (bool, bool, Option<Duration>),
        names: Delivery<'_>,
        mut record: impl FnMut(CallbackAttempt),
    ) {
        if dropped {
            self.log(LogKind::Fault, names.dropped, names.log_id);
            record(CallbackAttempt::dropped());
            return;
        }
        if let Some(extra) = late {
            self.log(
                LogKind::Fault,
                format!("{} held back {} ms (fault)", names.held, extra.as_millis()),
                names.log_id,
            );
            tokio::time::sleep(extra).await;
        }
        for copy in 0..if duplicate { 2 } else { 1 } {
            let fault = match (copy, late) {
                (1, _) => Some("duplicate".to_owned()),
                (_, Some(_)) => Some("late".to_owned()),
                _ => None,
            };
            let attempt = self.post_callback(url, payload, fault).await;
            let to = &names.attempt;
            let msg = match (&attempt.status, &attempt.error) {
                (Some(s), _) if names.with_body => {
                    format!("{to} answered {s}: {}", attempt.body.as_deref().unwrap_or(""))
                }
                (Some(s), _) => format!("{to} answered {s}"),
                (None, Some(e)) => format!("{to} failed: {e}"),
                _ => to.clone(),
            };
            self.log(LogKind::Callback, msg, names.log_id);
            record(attempt);
        }
    }

    pub(crate) async fn post_callback(&self, url: &str, payload: &Value, fault: Option<String>) -> CallbackAttempt {
        let result = self.inner.http.post(url).json(payload).send().await;
        let (status, body, error) = match result {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                let excerpt: String = text.chars().take(BODY_EXCERPT).collect();
                (Some(status), Some(excerpt), None)
            }
            Err(e) => (None, None, Some(error_chain(&e))),
        };
        CallbackAttempt { at_ms: util::now_ms(), status, body, error, fault }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        source = inner.source();
    }
    s
}
