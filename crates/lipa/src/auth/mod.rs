//! Who may do what: the merchant API's keys ([`keys`]), the admin login and its sessions ([`admin`]), and
//! the password hash and constant-time comparisons they rest on ([`password`]). No HTTP in here: the
//! routes read headers and cookies and ask these modules.

pub mod admin;
pub mod keys;
pub mod password;
