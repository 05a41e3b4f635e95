//! Signing in and out, and changing the signed-in admin's password.

use super::*;
use std::time::Instant;

pub(super) async fn login(app: &App, state: &AdminState, req: &Request) -> Result<Reply> {
    let body = json_body(req)?;
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(crate::auth::password::DEFAULT_ADMIN)
        .to_string();
    let Some(password) = body.get("password").and_then(Value::as_str) else {
        return Err(Fail::new(400, "invalid", "enter the password"));
    };
    // The reservation comes before the password check, so concurrent attempts cannot get
    // past the count (see auth::throttle).
    let keys = session::throttle_keys(&name, req.peer);
    let attempt = match app.throttle.begin(&keys, Instant::now()) {
        Ok(a) => a,
        Err(refused) => {
            let secs = refused.retry_after_secs();
            let why = if refused.busy {
                "other sign-ins for this name are being checked"
            } else {
                "too many failed sign-ins"
            };
            let mut f = Fail::new(
                429,
                "slow-down",
                format!("{why}; wait {secs} seconds and try again"),
            );
            f.retry_after = Some(secs);
            return Err(f);
        }
    };
    let Some(admin) = crate::auth::password::verify(&app.store, &name, password).await? else {
        let wait = attempt.failed();
        // Every failure is answered slowly, so guessing is slow even below the lockout.
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tracing::warn!(admin = %name, "admin sign-in failed");
        let mut message = "wrong name or password".to_string();
        if !wait.is_zero() {
            message.push_str(&format!(
                "; after repeated failures, wait {} seconds before the next try",
                wait.as_secs().max(1)
            ));
        }
        let mut f = Fail::new(401, "wrong-password", message);
        f.retry_after = (!wait.is_zero()).then(|| wait.as_secs().max(1));
        return Err(f);
    };
    attempt.succeeded();
    let (id, s) = session::start(&app.store, &admin, state.lifetimes, req.now).await?;
    tracing::info!(admin = %admin.name, "admin signed in");
    Ok(Reply::json(200, &session_json(&s)).header(
        "set-cookie",
        session::set_cookie(id.expose(), req.tls, state.lifetimes),
    ))
}

pub(super) async fn logout(app: &App, req: &Request) -> Result<Reply> {
    if let Some(id) = session::cookie_value(req.cookie.as_deref()) {
        session::end(&app.store, id).await?;
    }
    Ok(Reply::empty(204).header("set-cookie", session::clear_cookie(req.tls)))
}

/// Changes the signed-in admin's password. Every session of the account ends (a leaked
/// session must not outlive the password), and this one is replaced by a new session.
pub(super) async fn change_password(
    app: &App,
    state: &AdminState,
    req: &Request,
    s: &Session,
) -> Result<Reply> {
    let body = json_body(req)?;
    let current = body.get("current").and_then(Value::as_str).unwrap_or("");
    let new = body.get("new").and_then(Value::as_str).unwrap_or("");
    if crate::auth::password::verify(&app.store, &s.admin, current)
        .await?
        .is_none()
    {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        return Err(Fail::new(
            400,
            "wrong-password",
            "the current password is wrong",
        ));
    }
    crate::auth::password::set(
        &app.store,
        &s.admin,
        crate::auth::secret::Secret::new(new.to_string()),
        crate::clock::format(req.now),
    )
    .await?;
    let admin = crate::auth::password::verify(&app.store, &s.admin, new)
        .await?
        .ok_or_else(|| Fail::new(500, "error", "the new password did not take"))?;
    let (id, s) = session::start(&app.store, &admin, state.lifetimes, req.now).await?;
    Ok(Reply::json(200, &session_json(&s)).header(
        "set-cookie",
        session::set_cookie(id.expose(), req.tls, state.lifetimes),
    ))
}
