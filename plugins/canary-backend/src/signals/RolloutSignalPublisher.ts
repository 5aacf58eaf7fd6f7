import type { LoggerService } from '@backstage/backend-plugin-api';
import type { SignalsService } from '@backstage/plugin-signals-node';
import {
  CANARY_ROLLOUTS_SIGNAL_CHANNEL,
  CanaryRolloutSignal,
  CanaryRolloutsSignal,
  canaryEntitySignalChannel,
  canaryRolloutSignalChannel,
} from '@coalmine/backstage-plugin-canary-common';
import type { RolloutChange } from '../store/RolloutStore';

/** How a rollout's entity is found when a change did not carry it. */
export type EntityRefLookup = (
  rolloutId: string,
) => Promise<string | undefined>;

/**
 * Publishes a Backstage signal for every change of a rollout, on the
 * entity's channel and the rollout's. A burst of commits (one pass writes
 * an intent, its effect and an event within milliseconds) becomes at most
 * one signal per `minIntervalMs` and rollout, the last one sent after the
 * burst, so a tab refetches once per burst and never misses the end of it.
 *
 * The organisation-wide channel gets one signal per `orgMinIntervalMs` at
 * most, whatever the number of rollouts changing (a thousand rollouts
 * stepping at once must not flood every open Canary page), naming the ids
 * changed since the previous one.
 *
 * Publishing never throws: live updates are a convenience, the tab also
 * polls.
 */
export class RolloutSignalPublisher {
  private readonly lastSent = new Map<string, number>();
  private readonly trailing = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly entityRefs = new Map<string, string>();
  private readonly minIntervalMs: number;
  private readonly orgMinIntervalMs: number;
  private orgPending = new Set<string>();
  private orgTimer?: ReturnType<typeof setTimeout>;
  private orgLastSent = 0;
  private stopped = false;

  constructor(
    private readonly options: {
      signals: SignalsService;
      lookup: EntityRefLookup;
      logger?: LoggerService;
      /** Default 250 ms. */
      minIntervalMs?: number;
      /** Between two signals on the organisation-wide channel; default 1000 ms. */
      orgMinIntervalMs?: number;
    },
  ) {
    this.minIntervalMs = options.minIntervalMs ?? 250;
    this.orgMinIntervalMs = options.orgMinIntervalMs ?? 1000;
  }

  /** Call after a change was committed; returns at once. */
  changed(change: RolloutChange): void {
    if (this.stopped) return;
    if (change.entityRef) this.remember(change.rolloutId, change.entityRef);
    const id = change.rolloutId;
    this.changedForOrg(id);
    if (this.trailing.has(id)) return; // the signal after the burst is due anyway
    const since = Date.now() - (this.lastSent.get(id) ?? 0);
    if (since >= this.minIntervalMs) {
      void this.send(id);
      return;
    }
    const timer = setTimeout(() => {
      this.trailing.delete(id);
      void this.send(id);
    }, this.minIntervalMs - since);
    timer.unref?.();
    this.trailing.set(id, timer);
  }

  /** No more signals; pending ones are dropped. */
  stop(): void {
    this.stopped = true;
    for (const timer of this.trailing.values()) clearTimeout(timer);
    this.trailing.clear();
    if (this.orgTimer) clearTimeout(this.orgTimer);
    this.orgTimer = undefined;
  }

  /** At most 500 ids per message: a reader refetches the list anyway. */
  private static readonly ORG_MAX_IDS = 500;

  private changedForOrg(rolloutId: string) {
    if (this.orgPending.size < RolloutSignalPublisher.ORG_MAX_IDS) {
      this.orgPending.add(rolloutId);
    }
    if (this.orgTimer) return; // the next org signal is due anyway
    const since = Date.now() - this.orgLastSent;
    const timer = setTimeout(() => {
      this.orgTimer = undefined;
      void this.sendOrg();
    }, Math.max(0, this.orgMinIntervalMs - since));
    timer.unref?.();
    this.orgTimer = timer;
  }

  private async sendOrg(): Promise<void> {
    if (this.stopped || this.orgPending.size === 0) return;
    const message: CanaryRolloutsSignal = {
      type: 'rollouts-changed',
      rolloutIds: [...this.orgPending],
    };
    this.orgPending = new Set();
    this.orgLastSent = Date.now();
    try {
      await this.options.signals.publish({
        recipients: { type: 'broadcast' },
        channel: CANARY_ROLLOUTS_SIGNAL_CHANNEL,
        message,
      });
    } catch (e) {
      this.options.logger?.warn(
        `Canary: could not publish the organisation-wide live update: ${
          (e as Error)?.message ?? e
        }`,
      );
    }
  }

  private remember(rolloutId: string, entityRef: string) {
    // A rollout's entity never changes; keep the most recent few thousand.
    this.entityRefs.delete(rolloutId);
    this.entityRefs.set(rolloutId, entityRef);
    if (this.entityRefs.size > 5000) {
      const oldest = this.entityRefs.keys().next().value;
      if (oldest !== undefined) this.entityRefs.delete(oldest);
    }
  }

  private async send(rolloutId: string): Promise<void> {
    if (this.stopped) return;
    this.lastSent.delete(rolloutId);
    this.lastSent.set(rolloutId, Date.now());
    if (this.lastSent.size > 5000) {
      const oldest = this.lastSent.keys().next().value;
      if (oldest !== undefined) this.lastSent.delete(oldest);
    }
    try {
      let entityRef = this.entityRefs.get(rolloutId);
      if (!entityRef) {
        entityRef = await this.options.lookup(rolloutId);
        if (!entityRef) return;
        this.remember(rolloutId, entityRef);
      }
      const message: CanaryRolloutSignal = {
        type: 'rollout-changed',
        rolloutId,
      };
      await Promise.all([
        this.options.signals.publish({
          recipients: { type: 'broadcast' },
          channel: canaryEntitySignalChannel(entityRef),
          message,
        }),
        this.options.signals.publish({
          recipients: { type: 'broadcast' },
          channel: canaryRolloutSignalChannel(rolloutId),
          message,
        }),
      ]);
    } catch (e) {
      this.options.logger?.warn(
        `Canary: could not publish the live update of rollout ${rolloutId}: ${
          (e as Error)?.message ?? e
        }`,
      );
    }
  }
}
