// billing.js: your Billing button, in plain JavaScript (no build step). Copy it into your app.
//   openBillingPortal(endpoint, { token, params, returnUrl }).catch((e) => show(e.message));
// With a token it sends `Authorization: Bearer`; without, the session cookie (cookie mode).
// The portal's return link comes back to this page without its #fragment (which may hold
// tokens), unless returnUrl says where.
const PORTAL = "https://billing.stripe.com"; // the only place it navigates to from a deployment
const LOOPBACK = ["localhost", "127.0.0.1", "[::1]"];

// The local server's Stripe stand-in serves its portal pages on http://127.0.0.1: accepted only
// while the API itself is on this machine, so a deployed API can only send users to Stripe.
function isPortal(url, endpoint) {
  try {
    const to = new URL(url), api = new URL(endpoint, location.href);
    return to.origin === PORTAL || (LOOPBACK.includes(api.hostname) &&
      LOOPBACK.includes(to.hostname) && to.protocol === "http:");
  } catch { return false; }
}
const MESSAGES = {
  unauthenticated: "Your session has expired: please sign in again.",
  "forbidden-role": "Only your organisation's billing admins can open billing.",
  "forbidden-origin": "This page may not open billing (its origin is not in ALLOWED_ORIGINS).",
  "no-billing-account": "There is no billing account for you yet.",
  "no-such-subscription": "That subscription no longer exists.",
  "flow-unavailable": "That change is not available for your subscription.",
  "upstream-unavailable": "Billing is busy right now: please try again in a moment.",
};

export async function openBillingPortal(endpoint, { token, params = {}, returnUrl, retry = true } = {}) {
  const res = await fetch(endpoint, {
    method: "POST",
    credentials: token ? "same-origin" : "include",
    headers: { Accept: "application/json", "Content-Type": "application/json",
               ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ return_url: returnUrl ?? location.href.split("#")[0], ...params }),
  }).catch(() => {
    throw new Error("Billing could not be reached (offline, or this page's origin is not allowed).");
  });
  const wait = Number(res.headers.get("Retry-After") ?? NaN);
  if (res.status === 503 && retry && wait <= 5) { // short waits once; longer ones: tell the user
    await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    return openBillingPortal(endpoint, { token, params, returnUrl, retry: false });
  }
  const answer = await res.json().catch(() => ({}));
  if (res.ok && typeof answer.url === "string" && isPortal(answer.url, endpoint)) {
    return location.assign(answer.url);
  }
  // API Gateway's own 401 (its authorizer refused the token) is {"message": ...}, not a problem.
  const slug = res.status === 401 ? "unauthenticated" : String(answer.type).split("/").pop();
  let message = res.ok ? "Billing answered with an unexpected address."
    : MESSAGES[slug] ?? answer.detail ?? `Billing failed (${res.status}).`;
  if (res.status === 503 && wait > 5) {
    message = `Billing is busy right now: please try again in ${wait} seconds.`;
  }
  throw Object.assign(new Error(message), { problem: answer });
}
