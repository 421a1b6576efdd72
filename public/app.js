/*
 * Auth Service demo: a browser client for the API, in plain JavaScript (no build step, no
 * dependencies). Copy what you need.
 *
 * Where the tokens live, and why
 * ------------------------------
 * - The refresh token (7 days, rotated on every use) lives in an HttpOnly cookie that the API
 *   sets and that this script never sees: token requests (sign-up, login, refresh) send
 *   `X-Refresh-Token-Transport: cookie`, and the API answers with the cookie
 *   (`__Host-refresh_token`, HttpOnly, Secure, Path=/, SameSite=Lax; on an API of another site
 *   SameSite=None and Partitioned, so that browsers blocking third-party cookies keep it for
 *   this page) and a body without `refresh_token`. A refresh sends no body; the browser adds the cookie. A script injected
 *   into this page (XSS) can therefore not read the refresh token and carry the session away:
 *   it can only act while the page is open. `document.cookie` does not show it, and nothing of
 *   it is in sessionStorage or localStorage.
 *     * The API reads the cookie only on a refresh that carries the custom header (which a
 *       cross-site form cannot send, and which makes a cross-origin fetch ask CORS first) from
 *       this API's own origin or one in its CORS_ORIGINS, so another site cannot refresh with it.
 *     * The cookie is shared by every tab of the browser and survives a reload. Two tabs that
 *       refresh at once send the same cookie: the API gives the second a working pair in the same
 *       session (REFRESH_REUSE_GRACE_SECONDS, 10 s), so both stay signed in, and whichever new
 *       cookie the browser keeps last is a live one.
 *     * Requests with the access token send no cookies (`credentials: "omit"`); only the token
 *       requests and logout do (`credentials: "include"`, which a page on another origin needs).
 *
 * - The access token (short-lived, 15 minutes by default) is kept in memory only: a variable
 *   of this script. It is never written to storage, so nothing outlives the page and there is
 *   no copy for another script on this origin to find later. After a reload, one refresh gets
 *   a new one.
 *
 * - Since script cannot see the cookie, localStorage keeps one flag per API base URL,
 *   `authDemo.signedIn:<api>` = "cookie", that says a session was started here. It holds no
 *   token; it only spares a signed-out page a refresh that would fail. Logout, and a refresh
 *   that the API refuses, remove it; logout also has the API clear the cookie.
 *
 * The rest of the defence is to prevent injection: a strict Content-Security-Policy in the HTML
 * (scripts only from this origin, no inline script), and every value from the API is rendered
 * with textContent, never as HTML.
 *
 * Refreshing
 * ----------
 * Before a request, an access token that expires within REFRESH_AHEAD_MS (or a fifth of its
 * lifetime, whichever is shorter) is renewed first; a request answered 401 is retried once
 * after a renewal. There is no timer: an idle tab does not keep its session alive. All callers
 * that need a renewal at the same moment share one in-flight refresh (`refreshTokens`), because
 * each refresh consumes the refresh token. The API forgives a token presented again within
 * its grace window (10 s by default): a reload while a refresh is on its way may lose the
 * answer (and its new cookie), and the browser presents the consumed cookie again; within the
 * window that gets a fresh pair in the same session, after it the session is revoked as reuse.
 *
 * The API base URL comes from <meta name="api-base"> (empty: this page's origin). On a page
 * served from a loopback address (development), `?api=http://host:port` overrides it, so a
 * local copy of this page can talk to a deployed service (whose CORS_ORIGINS must list the
 * page's origin). A deployed page ignores `?api=`: otherwise a link to the real page could send
 * the passwords typed into it to any server.
 *
 * For experiments from the browser console, `authDemo.request(path, options)` makes an
 * authorised request with the page's tokens.
 */
"use strict";

const REFRESH_AHEAD_MS = 60_000;
const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

// ---------------------------------------------------------------------------------------------
// Configuration

const queryApi = new URLSearchParams(location.search).get("api");
const apiOverrideAllowed = LOOPBACK_HOSTS.has(location.hostname);

function resolveApiBase() {
  const meta = document.querySelector('meta[name="api-base"]');
  const configured = (apiOverrideAllowed && queryApi) || (meta && meta.content.trim()) || location.origin;
  let url;
  try {
    url = new URL(configured, location.origin);
  } catch {
    return location.origin;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return location.origin;
  return url.origin + url.pathname.replace(/\/+$/, "");
}

const apiBase = resolveApiBase();

/** A link to another page of this demo that keeps the `?api=` override. */
function pageUrl(path) {
  const url = new URL(path, location.href);
  if (apiOverrideAllowed && queryApi) url.searchParams.set("api", queryApi);
  return url.pathname + url.search;
}

// ---------------------------------------------------------------------------------------------
// Errors and their messages

class ApiError extends Error {
  constructor({ status, code, detail, fields = [], retryAfter = null }) {
    super(detail);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.fields = fields; // [{ field, message, type }] for 422 validation errors
    this.retryAfter = retryAfter; // seconds, from Retry-After
    this.sessionEnded = false; // set when a failed refresh ended the session
  }

  static async fromResponse(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    const retryAfter = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    const common = { status: response.status, retryAfter: Number.isFinite(retryAfter) ? retryAfter : null };
    if (body && Array.isArray(body.detail)) {
      const fields = body.detail.map((error) => ({
        field: (error.loc || []).filter((part) => part !== "body" && part !== "query").join("."),
        message: String(error.msg || "is not valid"),
        type: String(error.type || ""),
      }));
      return new ApiError({ ...common, code: "validation_error", detail: "Some fields are not valid", fields });
    }
    const error = new ApiError({
      ...common,
      code: (body && typeof body.code === "string" && body.code) || `http_${response.status}`,
      detail: (body && typeof body.detail === "string" && body.detail) || response.statusText || "Request failed",
    });
    if (body && typeof body.mfa_token === "string") error.mfaToken = body.mfa_token; // 403 mfa_required
    return error;
  }
}

const FIELD_LABELS = {
  email: "Email",
  username: "Username",
  password: "Password",
  new_password: "New password",
  first_name: "First name",
  last_name: "Last name",
  background_questionnaire: "Background questionnaire",
  token: "Link",
  confirm: "Repeated password",
};

function inSeconds(seconds) {
  if (seconds === null) return "a little while";
  if (seconds < 90) return `${seconds} second${seconds === 1 ? "" : "s"}`;
  return `${Math.ceil(seconds / 60)} minutes`;
}

const MESSAGES = {
  network_error: () => `Could not reach the API at ${apiBase} (blocked by CORS or offline).`,
  invalid_credentials: () => "Wrong email/username or password.",
  inactive_user: () => "This account is deactivated.",
  email_not_verified: () => "Confirm your email address first: open the link we emailed you.",
  email_taken: () => "An account with this email address already exists. Sign in, or reset its password.",
  username_taken: () => "This username is taken; choose another one.",
  too_many_requests: (error) => `Too many requests. Try again in ${inSeconds(error.retryAfter)}.`,
  token_reused: () =>
    "Your session was ended because its refresh token was used twice (it may have been copied). Sign in again.",
  token_revoked: () => "Your session has ended (logged out, password changed, or ended elsewhere). Sign in again.",
  token_expired: () => "Your session has expired. Sign in again.",
  invalid_token: () => "Your session is not valid any more. Sign in again.",
  not_authenticated: () => "You are not signed in.",
  csrf_failed: () => "The API does not let this page use its session cookie (is the page's origin in CORS_ORIGINS?).",
  database_unavailable: (error) =>
    `The service's database is unavailable right now. Try again in ${inSeconds(error.retryAfter)}.`,
  invalid_password: () => "The current password is wrong.",
  not_found: () => "That no longer exists.",
  payload_too_large: () => "That is too much data for one request.",
  validation_error: (error) =>
    error.fields
      .map(({ field, message }) => `${FIELD_LABELS[field] || field || "Request"}: ${message}`)
      .join("\n"),
};

// Email links (reset, verification) answer 400 with these codes.
const LINK_MESSAGES = {
  invalid_token: () => "This link is not valid. Ask for a new one.",
  token_expired: () => "This link has expired. Ask for a new one.",
  token_used: () => "This link was already used, or a newer one was sent. Ask for a new one.",
};

function describe(error, messages = MESSAGES) {
  if (!(error instanceof ApiError)) return `Unexpected error: ${error && error.message ? error.message : error}`;
  const message = messages[error.code] || MESSAGES[error.code];
  if (message) return message(error);
  return `${error.detail} (${error.code}, HTTP ${error.status})`;
}

// ---------------------------------------------------------------------------------------------
// HTTP

/**
 * One API request. `session: true` marks the requests that use the refresh cookie (token
 * requests and logout): they ask for the cookie transport and let the browser send and store
 * cookies. Every other request sends none: the access token travels in the Authorization header.
 */
async function send(path, { method = "GET", body, token, session = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  if (session) headers["X-Refresh-Token-Transport"] = "cookie";
  let response;
  try {
    response = await fetch(apiBase + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: session ? "include" : "omit",
      cache: "no-store",
    });
  } catch {
    // fetch rejects without telling why: a CORS refusal and an unreachable host look the same.
    throw new ApiError({ status: 0, code: "network_error", detail: "Network error" });
  }
  if (!response.ok) throw await ApiError.fromResponse(response);
  if (response.status === 204) return null;
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

// ---------------------------------------------------------------------------------------------
// Tokens

// A flag, not a token: whether a session (its refresh cookie) was started from this origin.
const signedInKey = `authDemo.signedIn:${apiBase}`;

const signedInFlag = {
  get() {
    try {
      return localStorage.getItem(signedInKey) !== null;
    } catch {
      return false; // storage disabled: after a reload the page asks the user to sign in
    }
  },
  set(value) {
    try {
      if (value) localStorage.setItem(signedInKey, "cookie");
      else localStorage.removeItem(signedInKey);
    } catch {
      /* storage disabled */
    }
  },
};

const tokens = {
  access: null,
  expiresAt: 0, // by this page's clock: the time of the answer plus `expires_in`
  lifetimeMs: 0,
  refreshing: null, // the one in-flight refresh, shared by every caller
};

function storeTokens(pair) {
  tokens.access = pair.access_token;
  tokens.lifetimeMs = pair.expires_in * 1000;
  tokens.expiresAt = Date.now() + tokens.lifetimeMs;
  signedInFlag.set(true); // the refresh token itself went into the cookie, out of reach of script
}

function forgetTokens() {
  tokens.access = null;
  tokens.expiresAt = 0;
  signedInFlag.set(false);
}

function accessTokenIsFresh() {
  const margin = Math.min(REFRESH_AHEAD_MS, tokens.lifetimeMs / 5);
  return tokens.access !== null && Date.now() < tokens.expiresAt - margin;
}

function hasSession() {
  return tokens.access !== null || signedInFlag.get();
}

/** Renew the token pair; callers arriving while a renewal is in flight share it. */
function refreshTokens() {
  if (!tokens.refreshing) {
    tokens.refreshing = rotateRefreshToken().finally(() => {
      tokens.refreshing = null;
    });
  }
  return tokens.refreshing;
}

async function rotateRefreshToken() {
  if (!signedInFlag.get()) {
    tokens.access = null;
    const error = new ApiError({ status: 401, code: "not_authenticated", detail: "Not signed in" });
    error.sessionEnded = true;
    throw error;
  }
  try {
    // No body: the browser sends the refresh cookie, and stores the rotated one from the answer.
    storeTokens(await send("/api/v1/refresh", { method: "POST", session: true }));
  } catch (error) {
    // 401: the refresh cookie is dead or gone (expired, revoked, reused); 403: the API does not
    // let this page use it. Either way the session is over here. Anything else (offline, 503)
    // may pass: keep the flag and let the user try again.
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      forgetTokens();
      error.sessionEnded = true;
    }
    throw error;
  }
}

/** A request with the access token: renewed first when about to expire, retried once after a 401. */
async function request(path, options = {}) {
  if (!accessTokenIsFresh()) await refreshTokens();
  const token = tokens.access;
  try {
    return await send(path, { ...options, token });
  } catch (error) {
    if (!(error instanceof ApiError) || error.status !== 401) throw error;
    // If another caller renewed the pair while this request was out, its token is the one to use.
    if (tokens.access === token) await refreshTokens();
    return await send(path, { ...options, token: tokens.access });
  }
}

window.authDemo = Object.freeze({ apiBase, request });

// ---------------------------------------------------------------------------------------------
// Page helpers

const $ = (selector, root = document) => root.querySelector(selector);

function showMessage(text, kind = "error") {
  const box = $("#message");
  box.textContent = text;
  box.className = kind;
  box.hidden = false;
}

function clearMessage() {
  const box = $("#message");
  box.hidden = true;
  box.textContent = "";
}

function markInvalidFields(form, error) {
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  if (!(error instanceof ApiError)) return;
  for (const { field } of error.fields) {
    const input = form.elements.namedItem(field.split(".")[0]);
    if (input) input.setAttribute("aria-invalid", "true");
  }
}

function formatTime(value) {
  return value ? new Date(value).toLocaleString() : "";
}

/** Run a form's submission with its button disabled, and show what went wrong. */
function onSubmit(form, handler, messages = MESSAGES) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    clearMessage();
    try {
      await handler(new FormData(form));
      markInvalidFields(form, null);
    } catch (error) {
      markInvalidFields(form, error);
      reportError(error, messages);
    } finally {
      button.disabled = false;
    }
  });
}

function reportError(error, messages = MESSAGES) {
  if (error instanceof ApiError && error.sessionEnded && document.body.dataset.page === "home") {
    showSignedOut();
  }
  showMessage(describe(error, messages));
}

function optional(value) {
  const text = String(value || "").trim();
  return text === "" ? null : text;
}

// ---------------------------------------------------------------------------------------------
// Home page: sign up, sign in, profile, sessions

function showSignedOut() {
  $("#signed-in").hidden = true;
  $("#signed-out").hidden = false;
}

function renderProfile(user) {
  const profile = $("#profile");
  const values = {
    full_name: user.full_name || "(no name given)",
    username: user.username,
    email: user.email,
    verified: user.is_verified ? "verified" : "not verified",
    role: user.role,
    created_at: formatTime(user.created_at),
  };
  for (const [field, value] of Object.entries(values)) $(`[data-field="${field}"]`, profile).textContent = value;
  $('[data-field="verified"]', profile).classList.toggle("warn", !user.is_verified);
  $("#resend-verification").hidden = user.is_verified;

  const form = $("#profile-form");
  form.elements.first_name.value = user.first_name || "";
  form.elements.last_name.value = user.last_name || "";
  form.elements.background_questionnaire.value = user.background_questionnaire
    ? JSON.stringify(user.background_questionnaire, null, 2)
    : "";
}

function renderSessions(sessions) {
  const body = $("#sessions tbody");
  body.replaceChildren();
  for (const session of sessions) {
    const row = document.createElement("tr");
    const device = document.createElement("td");
    device.textContent = session.user_agent || "(unknown device)";
    device.title = session.user_agent || "";
    if (session.current) {
      const badge = document.createElement("span");
      badge.className = "badge";
      badge.textContent = "this tab";
      device.prepend(badge, " ");
      row.className = "current";
    }
    row.append(device);
    for (const value of [session.created_at, session.last_used_at, session.expires_at]) {
      const cell = document.createElement("td");
      cell.textContent = formatTime(value);
      row.append(cell);
    }
    const action = document.createElement("td");
    const end = document.createElement("button");
    end.type = "button";
    end.className = "secondary";
    end.textContent = "End";
    end.addEventListener("click", () => endSession(session));
    action.append(end);
    row.append(action);
    body.append(row);
  }
}

function renderTokenStatus() {
  $("#token-status").textContent = tokens.access
    ? `Access token in memory, valid until ${new Date(tokens.expiresAt).toLocaleTimeString()}; ` +
      "refresh token in an HttpOnly cookie that this page cannot read."
    : "";
}

async function loadAccount() {
  // Two requests at once: if the access token has expired, they share one refresh.
  const [user, sessions] = await Promise.all([request("/api/v1/user/me"), request("/api/v1/user/me/sessions")]);
  renderProfile(user);
  renderMfa(user);
  renderSessions(sessions);
  renderTokenStatus();
  $("#signed-out").hidden = true;
  $("#signed-in").hidden = false;
}

async function endSession(session) {
  clearMessage();
  try {
    await request(`/api/v1/user/me/sessions/${encodeURIComponent(session.id)}`, { method: "DELETE" });
  } catch (error) {
    reportError(error);
    return;
  }
  if (session.current) {
    forgetTokens();
    showSignedOut();
    showMessage("You ended this session.", "info");
    return;
  }
  try {
    await loadAccount();
    showMessage("Session ended.", "success");
  } catch (error) {
    reportError(error);
  }
}

async function logOut() {
  clearMessage();
  let warning = null;
  try {
    // With the cookie transport, so that the API clears the refresh cookie too.
    if (hasSession()) await request("/api/v1/logout", { method: "POST", session: true });
  } catch (error) {
    // Signed out here either way; say so if the API could not be told.
    if (!(error instanceof ApiError && error.sessionEnded)) {
      warning = `${describe(error)} The session may stay valid on the server until it expires.`;
    }
  }
  forgetTokens();
  showSignedOut();
  showMessage(warning || "You are logged out.", warning ? "error" : "info");
}

function homePage() {
  onSubmit($("#login-form"), async (data) => {
    const pair = await send("/api/v1/login", {
      method: "POST",
      session: true,
      body: { username: String(data.get("username")).trim(), password: String(data.get("password")) },
    }).catch(askForSecondFactor);
    $("#login-form").reset();
    if (!pair) return; // the account wants a code too: see the two-factor section
    storeTokens(pair);
    await loadAccount();
    showMessage("You are signed in.", "success");
  });

  onSubmit($("#sign-up-form"), async (data) => {
    const body = {
      email: String(data.get("email")).trim(),
      username: String(data.get("username")).trim(),
      password: String(data.get("password")),
      first_name: optional(data.get("first_name")),
      last_name: optional(data.get("last_name")),
    };
    storeTokens(await send("/api/v1/sign-up", { method: "POST", body, session: true }));
    $("#sign-up-form").reset();
    await loadAccount();
    showMessage(`Welcome! We sent a link to ${body.email} to confirm the address.`, "success");
  });

  onSubmit($("#forgot-form"), async (data) => {
    const answer = await send("/api/v1/forgot-password", {
      method: "POST",
      body: { email: String(data.get("email")).trim() },
    });
    showMessage(answer.detail, "info");
  });

  onSubmit($("#profile-form"), async (data) => {
    const body = { first_name: optional(data.get("first_name")), last_name: optional(data.get("last_name")) };
    const questionnaire = String(data.get("background_questionnaire") || "").trim();
    if (questionnaire) {
      let parsed;
      try {
        parsed = JSON.parse(questionnaire);
      } catch {
        parsed = null;
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new ApiError({
          status: 0,
          code: "validation_error",
          detail: "Not a JSON object",
          fields: [{ field: "background_questionnaire", message: 'must be a JSON object, like {"team": "web"}' }],
        });
      }
      body.background_questionnaire = parsed;
    } else {
      body.background_questionnaire = null;
    }
    renderProfile(await request("/api/v1/user/me", { method: "PATCH", body }));
    showMessage("Profile saved.", "success");
  });

  const clickAction = (selector, action) =>
    $(selector).addEventListener("click", async () => {
      clearMessage();
      try {
        await action();
      } catch (error) {
        reportError(error);
      }
    });

  clickAction("#reload", loadAccount);
  clickAction("#refresh-now", async () => {
    await refreshTokens();
    renderTokenStatus();
    showMessage("Tokens renewed.", "success");
  });
  clickAction("#resend-verification", async () => {
    const answer = await request("/api/v1/verify-email/resend", { method: "POST" });
    showMessage(answer.detail, "info");
  });
  clickAction("#logout", logOut);
  twoFactorHandlers();

  if (!hasSession()) {
    showSignedOut();
    return;
  }
  // A reload: the access token was in memory and is gone; the refresh cookie brings it back.
  loadAccount().catch((error) => {
    showSignedOut();
    showMessage(describe(error));
  });
}

// ---------------------------------------------------------------------------------------------
// Two-factor login (TOTP): the second step of a sign-in, enrolment, recovery codes, turning it off

const MFA_MESSAGES = {
  invalid_mfa_code: () => "That code is wrong, expired or already used. Try the next code from the app.",
  wrong_mfa_code: () => "That code is wrong, expired or already used. Try the next code from the app.",
  invalid_token: () => "This sign-in took too long or is no longer valid. Sign in again.",
  token_expired: () => "This sign-in took too long. Sign in again.",
  mfa_already_enabled: () => "Two-factor login is already on.",
  mfa_not_enrolling: () => "Start the set-up again: enter your password first.",
  mfa_not_enabled: () => "Two-factor login is not on.",
  mfa_not_configured: () => "Two-factor login is not configured on this server.",
};
FIELD_LABELS.code = "Code";

const mfaLogin = { token: null }; // the mfa_token of a sign-in waiting for its code (memory only)

/** The login's answer was 403 mfa_required: ask for a code instead of failing. */
function askForSecondFactor(error) {
  if (!(error instanceof ApiError) || error.code !== "mfa_required" || !error.mfaToken) throw error;
  mfaLogin.token = error.mfaToken;
  $("#login-form").hidden = true;
  $("#mfa-login-form").hidden = false;
  $("#mfa-login-form").elements.code.focus();
  return null;
}

function endSecondFactor() {
  mfaLogin.token = null;
  $("#mfa-login-form").reset();
  $("#mfa-login-form").hidden = true;
  $("#login-form").hidden = false;
}

function renderMfa(user) {
  $("#mfa-status").textContent = user.mfa_enabled ? "on" : "off";
  $("#mfa-enrol-form").hidden = user.mfa_enabled || !$("#mfa-enrolment").hidden;
  $("#mfa-manage").hidden = !user.mfa_enabled;
}

function showRecoveryCodes(codes) {
  const list = $("#mfa-recovery-codes");
  list.replaceChildren(
    ...codes.map((code) => {
      const item = document.createElement("li");
      item.textContent = code;
      return item;
    }),
  );
  $("#mfa-recovery").hidden = false;
}

function twoFactorHandlers() {
  const messages = { ...MESSAGES, ...MFA_MESSAGES };

  onSubmit(
    $("#mfa-login-form"),
    async (data) => {
      let pair;
      try {
        pair = await send("/api/v1/login/mfa", {
          method: "POST",
          session: true,
          body: { mfa_token: mfaLogin.token, code: String(data.get("code")).trim() },
        });
      } catch (error) {
        if (error instanceof ApiError && error.code !== "invalid_mfa_code" && error.status === 401) endSecondFactor();
        throw error;
      }
      endSecondFactor();
      storeTokens(pair);
      await loadAccount();
      showMessage("You are signed in.", "success");
    },
    messages,
  );
  $("#mfa-login-cancel").addEventListener("click", () => {
    endSecondFactor();
    clearMessage();
  });

  onSubmit(
    $("#mfa-enrol-form"),
    async (data) => {
      const enrolment = await request("/api/v1/user/me/mfa/totp", {
        method: "POST",
        body: { password: String(data.get("password")) },
      });
      $("#mfa-enrol-form").reset();
      // The SVG is shown as an image: it never becomes part of this page's markup.
      $("#mfa-qr").src = `data:image/svg+xml;base64,${btoa(enrolment.qr_svg)}`;
      $("#mfa-secret").textContent = enrolment.secret;
      $("#mfa-recovery").hidden = true;
      $("#mfa-enrolment").hidden = false;
      $("#mfa-enrol-form").hidden = true;
    },
    messages,
  );

  onSubmit(
    $("#mfa-confirm-form"),
    async (data) => {
      const answer = await request("/api/v1/user/me/mfa/totp/confirm", {
        method: "POST",
        body: { code: String(data.get("code")).trim() },
      });
      $("#mfa-confirm-form").reset();
      $("#mfa-enrolment").hidden = true;
      $("#mfa-secret").textContent = "";
      $("#mfa-qr").removeAttribute("src");
      showRecoveryCodes(answer.recovery_codes);
      await loadAccount();
      showMessage("Two-factor login is on. Every other session was signed out.", "success");
    },
    messages,
  );

  const passwordAndCode = (data) => ({ password: String(data.get("password")), code: String(data.get("code")).trim() });
  onSubmit(
    $("#mfa-codes-form"),
    async (data) => {
      const answer = await request("/api/v1/user/me/mfa/recovery-codes", { method: "POST", body: passwordAndCode(data) });
      $("#mfa-codes-form").reset();
      showRecoveryCodes(answer.recovery_codes);
      showMessage("New recovery codes made; the old ones no longer work.", "success");
    },
    messages,
  );
  onSubmit(
    $("#mfa-disable-form"),
    async (data) => {
      await request("/api/v1/user/me/mfa", { method: "DELETE", body: passwordAndCode(data) });
      $("#mfa-disable-form").reset();
      $("#mfa-recovery").hidden = true;
      await loadAccount();
      showMessage("Two-factor login is off.", "info");
    },
    messages,
  );
}

// ---------------------------------------------------------------------------------------------
// Pages that email links open: /reset-password?token=... and /verify-email?token=...

/** The link's token, taken out of the address bar (and so out of history) once read. */
function takeLinkToken(stashKey) {
  const url = new URL(location.href);
  let token = url.searchParams.get("token");
  if (token) {
    url.searchParams.delete("token");
    history.replaceState(null, "", url.pathname + url.search);
  }
  if (stashKey) {
    // Kept for this tab only, so that a reload of the form does not lose it.
    try {
      if (token) sessionStorage.setItem(stashKey, token);
      else token = sessionStorage.getItem(stashKey);
    } catch {
      /* storage disabled */
    }
  }
  return token;
}

function resetPasswordPage() {
  const stashKey = "authDemo.resetToken";
  const token = takeLinkToken(stashKey);
  const form = $("#reset-form");
  if (!token) {
    form.hidden = true;
    showMessage("This page needs the link from the password-reset email. Open that link again.");
    return;
  }
  onSubmit(
    form,
    async (data) => {
      const newPassword = String(data.get("new_password"));
      if (newPassword !== String(data.get("confirm"))) {
        throw new ApiError({
          status: 0,
          code: "validation_error",
          detail: "Passwords differ",
          fields: [{ field: "confirm", message: "does not match the new password." }],
        });
      }
      await send("/api/v1/reset-password", { method: "POST", body: { token, new_password: newPassword } });
      try {
        sessionStorage.removeItem(stashKey);
      } catch {
        /* storage disabled */
      }
      forgetTokens(); // a reset ends every session, this tab's included
      form.hidden = true;
      showMessage("Your password has been changed. Sign in with the new one.", "success");
    },
    { ...MESSAGES, ...LINK_MESSAGES },
  );
}

async function verifyEmailPage() {
  const token = takeLinkToken(null);
  const status = $("#verify-status");
  if (!token) {
    status.textContent = "This page needs the link from the verification email. Open that link again.";
    return;
  }
  try {
    await send("/api/v1/verify-email", { method: "POST", body: { token } });
    status.textContent = "Your email address is confirmed. Thank you!";
  } catch (error) {
    status.textContent = describe(error, { ...MESSAGES, ...LINK_MESSAGES });
    if (error instanceof ApiError && error.code in LINK_MESSAGES) {
      status.append(" Sign in and use “Resend verification email”.");
    }
  }
}

// ---------------------------------------------------------------------------------------------

function start() {
  for (const element of document.querySelectorAll("[data-api-base]")) element.textContent = apiBase;
  for (const link of document.querySelectorAll("a[data-home]")) link.href = pageUrl(link.getAttribute("href"));
  if (queryApi && !apiOverrideAllowed) {
    showMessage(`Ignoring ?api=: this page only talks to ${apiBase}.`, "info");
  }
  const pages = { home: homePage, "reset-password": resetPasswordPage, "verify-email": verifyEmailPage };
  pages[document.body.dataset.page]();
}

start();
