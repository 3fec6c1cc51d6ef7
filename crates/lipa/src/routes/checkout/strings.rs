//! Every word a customer reads on the checkout and receipt pages, in English and in Swahili (`sw-KE`).
//! One file, so a translator reviews one place. `{amount}`, `{merchant}`, `{phone}`, `{seconds}` are filled
//! in by [`fill`]; the template escapes the result like any other text.

/// A language of the customer pages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Sw,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Sw => "sw",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Lang::En),
            "sw" => Some(Lang::Sw),
            _ => None,
        }
    }

    /// The customer's language from `Accept-Language`: the preferred (highest `q`) of Swahili and English;
    /// English when neither is named.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|v| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = match tag.split('-').next() {
                Some("sw") => Lang::Sw,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }
}

/// Replace `{name}` placeholders.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

pub struct Texts {
    pub lang: Lang,
    /// The switch to the other language: its name, written in that language.
    pub other_lang_name: &'static str,
    pub other_lang: &'static str,
    pub language: &'static str,
    pub skip: &'static str,
    pub title: &'static str,
    pub label_for: &'static str,
    pub label_reference: &'static str,
    pub pay_with_mpesa: &'static str,
    pub phone_label: &'static str,
    pub phone_help: &'static str,
    pub send_request: &'static str,
    pub phone_empty: &'static str,
    pub phone_invalid: &'static str,
    pub too_many: &'static str,
    pub check_phone: &'static str,
    pub enter_pin: &'static str,
    pub sending_to: &'static str,
    pub sent_to: &'static str,
    pub updates_itself: &'static str,
    pub your_phone: &'static str,
    pub sim_before: &'static str,
    pub sim_link: &'static str,
    pub sim_after: &'static str,
    pub check_status: &'static str,
    pub c2b_title: &'static str,
    pub c2b_paybill: &'static str,
    pub c2b_buygoods: &'static str,
    pub c2b_steps_paybill: &'static str,
    pub c2b_steps_buygoods: &'static str,
    pub c2b_qr_alt: &'static str,
    pub c2b_qr_help: &'static str,
    pub c2b_sim: &'static str,
    pub wrong_number: &'static str,
    pub wrong_number_text: &'static str,
    pub next_phone_label: &'static str,
    pub next_phone_send: &'static str,
    pub next_phone_queued: &'static str,
    pub still_waiting: &'static str,
    pub paid_title: &'static str,
    pub paid_text: &'static str,
    pub receipt_label: &'static str,
    pub confirmed: &'static str,
    pub paid_at: &'static str,
    pub open_receipt: &'static str,
    pub back_to: &'static str,
    pub failed_title: &'static str,
    pub no_money: &'static str,
    pub try_again: &'static str,
    pub other_phone_label: &'static str,
    pub other_phone_help: &'static str,
    pub review_title: &'static str,
    pub review_text: &'static str,
    pub in_progress: &'static str,
    pub powered: &'static str,
    pub contact: &'static str,
    pub receipt_title: &'static str,
    pub receipt_paid_to: &'static str,
    pub receipt_amount: &'static str,
    pub receipt_phone: &'static str,
    pub receipt_none: &'static str,
    pub receipt_print: &'static str,
    pub receipt_share: &'static str,
    pub receipt_link_help: &'static str,
    pub receipt_back: &'static str,
    pub eat: &'static str,
    pub reason_cancelled: &'static str,
    pub reason_timeout: &'static str,
    pub reason_insufficient_funds: &'static str,
    pub reason_wrong_pin: &'static str,
    pub reason_limit: &'static str,
    pub reason_rejected: &'static str,
    pub reason_other: &'static str,
    pub not_found_title: &'static str,
    pub not_found_text: &'static str,
    pub forbidden_title: &'static str,
    pub forbidden_text: &'static str,
    pub error_title: &'static str,
    pub error_text: &'static str,
}

pub static EN: Texts = Texts {
    lang: Lang::En,
    other_lang_name: "Kiswahili",
    other_lang: "sw",
    language: "Language",
    skip: "Skip to content",
    title: "Pay {amount} to {merchant}",
    label_for: "For",
    label_reference: "Reference",
    pay_with_mpesa: "Pay with M-Pesa",
    phone_label: "Your M-Pesa phone number",
    phone_help:
        "We send a payment request to this phone. You confirm it there with your M-Pesa PIN — never on this page.",
    send_request: "Send payment request",
    phone_empty: "Enter your M-Pesa phone number, for example 0712 345 678.",
    phone_invalid: "That is not a Kenyan mobile number. Use the number of your M-Pesa line, for example 0712 345 678.",
    too_many: "Too many payment requests. Please try again in {seconds} seconds.",
    check_phone: "Check your phone",
    enter_pin: "Enter your M-Pesa PIN on your phone to pay {amount} to {merchant}.",
    sending_to: "Sending the payment request to {phone}.",
    sent_to: "We sent the request to {phone}.",
    updates_itself: "This page updates by itself when M-Pesa answers.",
    your_phone: "your phone",
    sim_before: "Simulator mode: there is no real phone. Answer the prompt on the",
    sim_link: "virtual handset",
    sim_after: "(opens in a new tab); this page follows by itself.",
    check_status: "Check the status",
    c2b_title: "Or pay from the M-Pesa menu",
    c2b_paybill: "Pay Bill {number}, account {account}, {amount}",
    c2b_buygoods: "Buy Goods {number}, {amount}",
    c2b_steps_paybill: "M-Pesa → Lipa na M-Pesa → Pay Bill: business number {number}, account number {account}, \
                        amount {amount}, then your PIN.",
    c2b_steps_buygoods: "M-Pesa → Lipa na M-Pesa → Buy Goods and Services: till number {number}, amount {amount}, \
                         then your PIN.",
    c2b_qr_alt: "QR code: pay {amount} to {merchant} with the M-Pesa app",
    c2b_qr_help: "Or scan this code with the M-Pesa app. This page follows whichever way you pay.",
    c2b_sim: "Simulator mode: pay from the SIM menu on the",
    wrong_number: "Wrong number?",
    wrong_number_text:
        "M-Pesa cannot take back a request once it is sent, and we never send two at once. If that phone \
                        is with you, choose Cancel on it; otherwise the request ends by itself within about a minute. \
                        Type the right number below: this page sends the new request as soon as the first one \
                        has ended.",
    next_phone_label: "The right number",
    next_phone_send: "Send the request there once this one ends",
    next_phone_queued: "As soon as the first request ends, this page sends a new one to {phone}. Keep the page open.",
    still_waiting: "The first request is still open on that phone, so nothing was sent. Cancel it on that phone or \
                    wait about a minute, then send again.",
    paid_title: "Payment received",
    paid_text: "{amount} paid to {merchant}. Thank you!",
    receipt_label: "M-Pesa receipt",
    confirmed: "Confirmed by M-Pesa.",
    paid_at: "Date and time",
    open_receipt: "Receipt to print or share",
    back_to: "Back to {merchant}",
    failed_title: "Payment not completed",
    no_money: "No money was taken for this attempt.",
    try_again: "Try again",
    other_phone_label: "Phone number for the new request (optional)",
    other_phone_help: "Leave it empty to type it on the next step.",
    review_title: "We are confirming your payment",
    review_text: "M-Pesa's answer about this payment was not clear, so {merchant} will check it. Please do not pay \
                  again. If money left your M-Pesa account, keep the confirmation SMS.",
    in_progress:
        "Another payment for this order is already in progress. Check your phone, or wait a minute and try again.",
    powered: "M-Pesa payment · lipa",
    contact: "Questions about this payment? Contact {merchant}:",
    receipt_title: "Payment receipt",
    receipt_paid_to: "Paid to",
    receipt_amount: "Amount",
    receipt_phone: "Paid from",
    receipt_none: "This payment is not complete, so there is no receipt yet.",
    receipt_print: "Print or save as PDF",
    receipt_share: "Share",
    receipt_link_help: "Keep this page's address to see the receipt again.",
    receipt_back: "Back to the payment",
    eat: "EAT",
    reason_cancelled: "The payment was cancelled on the phone.",
    reason_timeout: "The phone did not answer in time: it may be switched off or out of network, or the request was \
                     not answered.",
    reason_insufficient_funds: "The M-Pesa balance was not enough for this payment.",
    reason_wrong_pin: "The M-Pesa PIN entered on the phone was wrong.",
    reason_limit: "The payment is over an M-Pesa limit for this account.",
    reason_rejected: "M-Pesa could not send the payment request to the phone.",
    reason_other: "M-Pesa could not complete the payment.",
    not_found_title: "Not found",
    not_found_text: "There is no payment here. Check the link you were given.",
    forbidden_title: "Not allowed",
    forbidden_text: "This form must be sent from the payment page itself.",
    error_title: "Something went wrong",
    error_text: "Something went wrong on our side. Please try again in a moment.",
};

pub static SW: Texts = Texts {
    lang: Lang::Sw,
    other_lang_name: "English",
    other_lang: "en",
    language: "Lugha",
    skip: "Ruka hadi maudhui",
    title: "Lipa {amount} kwa {merchant}",
    label_for: "Malipo ya",
    label_reference: "Kumbukumbu",
    pay_with_mpesa: "Lipa kwa M-Pesa",
    phone_label: "Namba yako ya simu ya M-Pesa",
    phone_help: "Tutatuma ombi la malipo kwenye simu hii. Utalithibitisha huko kwa PIN yako ya M-Pesa — kamwe si \
                 kwenye ukurasa huu.",
    send_request: "Tuma ombi la malipo",
    phone_empty: "Weka namba yako ya simu ya M-Pesa, kwa mfano 0712 345 678.",
    phone_invalid: "Hiyo si namba ya simu ya Kenya. Tumia namba ya laini yako ya M-Pesa, kwa mfano 0712 345 678.",
    too_many: "Maombi ya malipo yamekuwa mengi mno. Tafadhali jaribu tena baada ya sekunde {seconds}.",
    check_phone: "Angalia simu yako",
    enter_pin: "Weka PIN yako ya M-Pesa kwenye simu ili ulipe {amount} kwa {merchant}.",
    sending_to: "Tunatuma ombi la malipo kwa {phone}.",
    sent_to: "Tumetuma ombi kwa {phone}.",
    updates_itself: "Ukurasa huu utajisasisha wenyewe M-Pesa itakapojibu.",
    your_phone: "simu yako",
    sim_before: "Hali ya majaribio: hakuna simu halisi. Jibu ombi kwenye",
    sim_link: "simu ya majaribio",
    sim_after: "(inafunguka kwenye kichupo kipya); ukurasa huu utafuata wenyewe.",
    check_status: "Angalia hali ya malipo",
    c2b_title: "Au lipa kupitia menyu ya M-Pesa",
    c2b_paybill: "Lipa Bili {number}, akaunti {account}, {amount}",
    c2b_buygoods: "Nunua Bidhaa {number}, {amount}",
    c2b_steps_paybill: "M-Pesa → Lipa na M-Pesa → Pay Bill: namba ya biashara {number}, namba ya akaunti {account}, \
                        kiasi {amount}, kisha PIN yako.",
    c2b_steps_buygoods: "M-Pesa → Lipa na M-Pesa → Buy Goods and Services: namba ya till {number}, kiasi {amount}, \
                         kisha PIN yako.",
    c2b_qr_alt: "Msimbo wa QR: lipa {amount} kwa {merchant} kwa programu ya M-Pesa",
    c2b_qr_help: "Au changanua msimbo huu kwa programu ya M-Pesa. Ukurasa huu utafuata njia yoyote utakayolipa.",
    c2b_sim: "Hali ya majaribio: lipa kupitia menyu ya SIM kwenye",
    wrong_number: "Namba si sahihi?",
    wrong_number_text: "M-Pesa haiwezi kurudisha ombi likishatumwa, na sisi hatutumi maombi mawili kwa wakati mmoja. \
                        Kama simu hiyo iko nawe, chagua Ghairi (Cancel) juu yake; la sivyo ombi litaisha lenyewe \
                        baada ya kama dakika moja. Andika namba sahihi hapa chini: ukurasa huu utatuma ombi jipya \
                        mara tu ombi la kwanza litakapoisha.",
    next_phone_label: "Namba sahihi",
    next_phone_send: "Tuma ombi huko ombi hili likiisha",
    next_phone_queued: "Ombi la kwanza likiisha tu, ukurasa huu utatuma ombi jipya kwa {phone}. Usifunge ukurasa huu.",
    still_waiting: "Ombi la kwanza bado liko wazi kwenye simu hiyo, kwa hiyo hakuna kilichotumwa. Lighairi kwenye \
                    simu hiyo au subiri kama dakika moja, kisha utume tena.",
    paid_title: "Malipo yamepokelewa",
    paid_text: "{amount} zimelipwa kwa {merchant}. Asante!",
    receipt_label: "Risiti ya M-Pesa",
    confirmed: "Imethibitishwa na M-Pesa.",
    paid_at: "Tarehe na saa",
    open_receipt: "Risiti ya kuchapisha au kushiriki",
    back_to: "Rudi kwa {merchant}",
    failed_title: "Malipo hayajakamilika",
    no_money: "Hakuna pesa iliyokatwa kwa jaribio hili.",
    try_again: "Jaribu tena",
    other_phone_label: "Namba ya simu kwa ombi jipya (si lazima)",
    other_phone_help: "Iache wazi ili uiandike kwenye hatua inayofuata.",
    review_title: "Tunathibitisha malipo yako",
    review_text: "Jibu la M-Pesa kuhusu malipo haya halikuwa wazi, kwa hiyo {merchant} atayakagua. Tafadhali usilipe \
                  tena. Kama pesa zimetoka kwenye akaunti yako ya M-Pesa, hifadhi SMS ya uthibitisho.",
    in_progress:
        "Malipo mengine ya agizo hili yanaendelea. Angalia simu yako, au subiri dakika moja kisha ujaribu tena.",
    powered: "Malipo ya M-Pesa · lipa",
    contact: "Una swali kuhusu malipo haya? Wasiliana na {merchant}:",
    receipt_title: "Risiti ya malipo",
    receipt_paid_to: "Imelipwa kwa",
    receipt_amount: "Kiasi",
    receipt_phone: "Simu iliyolipa",
    receipt_none: "Malipo haya bado hayajakamilika, kwa hiyo hakuna risiti bado.",
    receipt_print: "Chapisha au hifadhi kama PDF",
    receipt_share: "Shiriki",
    receipt_link_help: "Hifadhi anwani ya ukurasa huu ili uone risiti tena.",
    receipt_back: "Rudi kwenye malipo",
    eat: "saa za Afrika Mashariki",
    reason_cancelled: "Malipo yalighairiwa kwenye simu.",
    reason_timeout: "Simu haikujibu kwa wakati: huenda imezimwa au haiko kwenye mtandao, au ombi halikujibiwa.",
    reason_insufficient_funds: "Salio la M-Pesa halitoshi kwa malipo haya.",
    reason_wrong_pin: "PIN ya M-Pesa iliyowekwa kwenye simu si sahihi.",
    reason_limit: "Malipo haya yanazidi kikomo cha M-Pesa cha akaunti hii.",
    reason_rejected: "M-Pesa haikuweza kutuma ombi la malipo kwenye simu.",
    reason_other: "M-Pesa haikuweza kukamilisha malipo.",
    not_found_title: "Haikupatikana",
    not_found_text: "Hakuna malipo hapa. Hakikisha kiungo ulichopewa.",
    forbidden_title: "Hairuhusiwi",
    forbidden_text: "Fomu hii lazima itumwe kutoka kwenye ukurasa wa malipo wenyewe.",
    error_title: "Kuna hitilafu",
    error_text: "Kuna hitilafu upande wetu. Tafadhali jaribu tena baada ya muda mfupi.",
};

impl Texts {
    pub fn for_lang(lang: Lang) -> &'static Texts {
        match lang {
            Lang::En => &EN,
            Lang::Sw => &SW,
        }
    }

    /// An error page of the checkout, in this language (the details of an internal error go to the log).
    pub fn error(&self, e: crate::routes::pages::PageError) -> crate::routes::pages::PageError {
        use crate::routes::pages::PageError;
        use axum::http::StatusCode;
        let lang = self.lang.code();
        match e {
            PageError::NotFound => PageError::Worded {
                status: StatusCode::NOT_FOUND,
                lang,
                title: self.not_found_title,
                text: self.not_found_text,
            },
            PageError::Forbidden(_) => PageError::Worded {
                status: StatusCode::FORBIDDEN,
                lang,
                title: self.forbidden_title,
                text: self.forbidden_text,
            },
            PageError::Internal(detail) => {
                tracing::error!(error = %detail, "checkout page failed");
                PageError::Worded {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    lang,
                    title: self.error_title,
                    text: self.error_text,
                }
            }
            worded => worded,
        }
    }

    /// Why a payment failed, in words a customer understands.
    pub fn failure(&self, reason: Option<&str>) -> &'static str {
        match reason {
            Some("cancelled") => self.reason_cancelled,
            Some("timeout") => self.reason_timeout,
            Some("insufficient_funds") => self.reason_insufficient_funds,
            Some("wrong_pin") => self.reason_wrong_pin,
            Some("limit") => self.reason_limit,
            Some("rejected") => self.reason_rejected,
            _ => self.reason_other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_ours() {
        assert_eq!(Lang::from_accept_language("sw-KE,sw;q=0.9,en;q=0.8"), Lang::Sw);
        assert_eq!(Lang::from_accept_language("en-GB,en;q=0.9,sw;q=0.5"), Lang::En);
        assert_eq!(Lang::from_accept_language("fr-FR, sw;q=0.7, en;q=0.3"), Lang::Sw);
        assert_eq!(Lang::from_accept_language("fr-FR"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
        assert_eq!(Lang::from_accept_language("sw;q=0, en"), Lang::En);
    }

    #[test]
    fn placeholders() {
        assert_eq!(
            fill(SW.enter_pin, &[("amount", "KES 800"), ("merchant", "ANGAZE")]),
            "Weka PIN yako ya M-Pesa kwenye simu ili ulipe KES 800 kwa ANGAZE."
        );
    }
}
