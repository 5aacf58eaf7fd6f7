import { LoggerService } from '@backstage/backend-plugin-api';
import type { WebhookRef, WebhookSpec } from '../config/policy';

/**
 * Looks a policy's webhook up in the current configuration: where it goes
 * and how it authenticates are read at call time, never from a rollout row.
 */
export type WebhookResolver = (
  policy: string,
  name: string,
) => WebhookSpec | undefined;

/** What a webhook answered, as recorded in the rollout's events. */
export interface WebhookOutcome {
  ok: boolean;
  /** HTTP status, when the hook answered. */
  status?: number;
  attempts: number;
  /** Short description; never contains the URL, secret or response body. */
  message: string;
  /** The hook is no longer in the configuration, so it was not called. */
  unconfigured?: boolean;
  /** A refusal retrying will not change (a 4xx other than 408 and 429, a redirect). */
  permanent?: boolean;
}

/** Fields every gating webhook receives. */
export interface WebhookPayload {
  name: string;
  namespace: string;
  phase: string;
  type: string;
  rolloutId: string;
  entityRef: string;
  cluster: string;
  weight: number;
  stepIndex: number;
  canary: { name: string; image?: string; version?: string };
  stable: { name: string; image?: string; version?: string };
  metadata?: Record<string, string>;
}

/** A Slack-compatible message (incoming webhooks accept `{ text, blocks }`). */
export interface ChatMessage {
  text: string;
  blocks?: unknown[];
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

/**
 * Calls the policy's webhooks with a timeout and retries. Transport errors,
 * 408, 429 and 5xx answers are retried; any other non-2xx answer is a
 * refusal (a veto for gating hooks). Redirects are not followed, so custom
 * headers and the secret never go to another host. URLs, secrets and response
 * bodies never reach events: a hook is named by its `name`, and what it
 * answered is kept in the backend log only.
 */
export class WebhookDispatcher {
  constructor(
    private readonly logger: LoggerService,
    private readonly resolve: WebhookResolver,
    private readonly retryBaseMs = 250,
  ) {}

  /**
   * Calls a hook of a policy as configured now. `options.attempts` caps the
   * attempts (the outbox makes one per delivery round); `headers` are added
   * (e.g. the idempotency key).
   */
  async call(
    policy: string,
    ref: WebhookRef,
    body: unknown,
    options: { attempts?: number; headers?: Record<string, string> } = {},
  ): Promise<WebhookOutcome> {
    const hook = this.resolve(policy, ref.name);
    if (!hook || hook.type !== ref.type) {
      return {
        ok: true,
        unconfigured: true,
        attempts: 0,
        message: `is no longer configured in policy ${policy}; skipped`,
      };
    }
    const maxAttempts = Math.min(
      options.attempts ?? Infinity,
      hook.retries + 1,
    );
    let attempts = 0;
    let last: WebhookOutcome = {
      ok: false,
      attempts: 0,
      message: 'not called',
    };
    while (attempts < maxAttempts) {
      attempts++;
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          redirect: 'manual',
          headers: {
            ...(hook.headers ?? {}),
            ...(options.headers ?? {}),
            'content-type': 'application/json',
            ...(hook.secret ? { authorization: `Bearer ${hook.secret}` } : {}),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(hook.timeoutMs),
        });
        // Drain the body so the connection is released; it goes to the log only.
        const text = (await res.text().catch(() => ''))
          .slice(0, 200)
          .replace(/\s+/g, ' ');
        if (res.ok) {
          return {
            ok: true,
            status: res.status,
            attempts,
            message: `answered ${res.status}`,
          };
        }
        const redirect = res.status >= 300 && res.status < 400;
        const transient =
          res.status >= 500 || res.status === 429 || res.status === 408;
        last = {
          ok: false,
          status: res.status,
          attempts,
          permanent: !transient,
          message: redirect
            ? `answered ${res.status} (a redirect; redirects are not followed)`
            : `answered ${res.status}`,
        };
        if (text) {
          this.logger.info(
            `Webhook ${hook.name} of policy ${policy} answered ${res.status}: ${text}`,
          );
        }
        if (!transient) return last;
      } catch (e) {
        const err = e as Error;
        const timedOut =
          err.name === 'TimeoutError' || err.name === 'AbortError';
        last = {
          ok: false,
          attempts,
          message: timedOut
            ? `no answer within ${hook.timeoutMs} ms`
            : `could not be reached (${
                (err as { cause?: { code?: string } }).cause?.code ?? err.name
              })`,
        };
      }
      if (attempts < maxAttempts) {
        await sleep(this.retryBaseMs * 2 ** (attempts - 1));
      }
    }
    this.logger.warn(
      `Webhook ${hook.name} of policy ${policy} failed after ${attempts} attempt(s): ${last.message}`,
    );
    return last;
  }
}

/**
 * Text for Slack mrkdwn: `&`, `<` and `>` escaped as Slack documents, so a
 * reason such as `<!channel>` or `<https://evil.example|docs>` stays text
 * instead of becoming a mention or a disguised link.
 */
export function escapeMrkdwn(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

/** The chat message for a rollout event. */
export function chatMessage(
  payload: Pick<
    WebhookPayload,
    'entityRef' | 'cluster' | 'namespace' | 'phase' | 'weight'
  >,
  event: { type: string; message: string; actor: string },
): ChatMessage {
  const e = escapeMrkdwn;
  const text = `[${e(payload.entityRef)} on ${e(payload.cluster)}/${e(
    payload.namespace,
  )}] ${e(event.message)} (phase ${payload.phase}, canary ${
    payload.weight
  } %, by ${e(event.actor)})`;
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `*${e(payload.entityRef)}* · ${e(payload.cluster)}/${e(
            payload.namespace,
          )}\n${e(event.message)}`,
        },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `phase *${payload.phase}* · canary ${payload.weight} % · ${e(
              event.type,
            )} · ${e(event.actor)}`,
          },
        ],
      },
    ],
  };
}
