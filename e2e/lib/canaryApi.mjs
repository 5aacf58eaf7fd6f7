// The canary REST API as the scenarios, and the runner's clean-up, call it.

/** The demo's CI token (app-config.yaml: read, create and abort only). */
export const CI_TOKEN = process.env.COALMINE_API_TOKEN || 'coalmine-demo-token';

/** Calls /api/canary`apiPath`; throws with the status and body unless 2xx. */
export async function canaryApi(backend, token, method, apiPath, body) {
  const res = await fetch(`${backend}/api/canary${apiPath}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
    },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${apiPath}: ${res.status} ${text}`);
  return JSON.parse(text);
}
