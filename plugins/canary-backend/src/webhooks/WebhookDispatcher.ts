import { LoggerService } from '@backstage/backend-plugin-api';
import type { WebhookSpec } from '../config/policy';

/** What a webhook answered, as recorded in the rollout's events. */
export interface WebhookOutcome {
  ok: boolean;
  /** HTTP status, when the hook answered. */
  status?: number;
  attempts: number;
  /** Short description; never contains the URL or secret. */
  message: string;
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
 * Calls the policy's webhooks with a timeout and retries. Transport errors and
 * 5xx answers are retried; any other non-2xx answer is a refusal (a veto for
 * gating hooks). URLs and secrets never reach logs or events: a hook is
 * always named by its `name`.
 */
export class WebhookDispatcher {
  constructor(
    private readonly logger: LoggerService,
    private readonly retryBaseMs = 250,
  ) {}

  async call(hook: WebhookSpec, body: unknown): Promise<WebhookOutcome> {
    let attempts = 0;
    let last: WebhookOutcome = {
      ok: false,
      attempts: 0,
      message: 'not called',
    };
    while (attempts <= hook.retries) {
      attempts++;
      try {
        const res = await fetch(hook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            ...(hook.headers ?? {}),
            ...(hook.secret ? { authorization: `Bearer ${hook.secret}` } : {}),
          },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(hook.timeoutMs),
        });
        // Drain the body so the connection is released; its content is not trusted.
        const text = (await res.text().catch(() => '')).slice(0, 200);
        if (res.ok) {
          return {
            ok: true,
            status: res.status,
            attempts,
            message: `answered ${res.status}`,
          };
        }
        last = {
          ok: false,
          status: res.status,
          attempts,
          message: `answered ${res.status}${
            text ? `: ${text.replace(/\s+/g, ' ')}` : ''
          }`,
        };
        if (res.status < 500 && res.status !== 429) {
          return last;
        }
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
      if (attempts <= hook.retries) {
        await sleep(this.retryBaseMs * 2 ** (attempts - 1));
      }
    }
    this.logger.warn(
      `Webhook ${hook.name} failed after ${attempts} attempt(s): ${last.message}`,
    );
    return last;
  }
}

/** The chat message for a rollout event. */
export function chatMessage(
  payload: Pick<
    WebhookPayload,
    'entityRef' | 'cluster' | 'namespace' | 'phase' | 'weight'
  >,
  event: { type: string; message: string; actor: string },
): ChatMessage {
  const text = `[${payload.entityRef} on ${payload.cluster}/${payload.namespace}] ${event.message} (phase ${payload.phase}, canary ${payload.weight} %, by ${event.actor})`;
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `*${payload.entityRef}* · ${payload.cluster}/${payload.namespace}\n${event.message}`,
        },
      },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `phase *${payload.phase}* · canary ${payload.weight} % · ${event.type} · ${event.actor}`,
          },
        ],
      },
    ],
  };
}
