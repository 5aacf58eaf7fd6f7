import {
  BackstageCredentials,
  PermissionsService,
} from '@backstage/backend-plugin-api';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { Entity } from '@backstage/catalog-model';
import {
  AuthorizeResult,
  ResourcePermission,
} from '@backstage/plugin-permission-common';
import { canaryRolloutReadPermission } from '@coalmine/backstage-plugin-canary-common';

/** How long a read decision or a catalog entity is reused for the same caller. */
export const READ_CACHE_TTL_MS = 5_000;
/** How long a caller's assembled read result (see {@link ReadAccess.shared}) is reused. */
export const SHARED_RESULT_TTL_MS = 1_000;
/** How long a caller's last assembled read result may be answered while a fresh one loads. */
export const SHARED_RESULT_STALE_MS = 10_000;
const MAX_ENTRIES = 10_000;

/**
 * Who a cache entry belongs to: the user, or the service with its access
 * restrictions. Undefined (nobody, or an unknown principal) is never cached.
 * Everything a read decision depends on for one caller is in this key, so
 * one caller's answer is never reused for another.
 */
export function principalKey(
  credentials: BackstageCredentials,
): string | undefined {
  const p = credentials.principal as {
    type?: string;
    userEntityRef?: string;
    subject?: string;
    accessRestrictions?: unknown;
  };
  if (p.type === 'user' && p.userEntityRef) return `user|${p.userEntityRef}`;
  if (p.type === 'service' && p.subject) {
    return `service|${p.subject}|${JSON.stringify(
      p.accessRestrictions ?? null,
    )}`;
  }
  return undefined;
}

/** A small map whose entries expire, oldest dropped first when full. */
class TtlCache<V> {
  private readonly entries = new Map<string, { until: number; value: V }>();
  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number,
  ) {}

  get(key: string): V | undefined {
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    if (hit.until <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: V) {
    this.entries.delete(key);
    this.entries.set(key, { until: this.now() + this.ttlMs, value });
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }

  delete(key: string) {
    this.entries.delete(key);
  }
}

/**
 * The read side's catalog and permission lookups, shared between concurrent
 * requests of the same caller and reused for a few seconds: a tab polling
 * every two seconds, or fifty clients asking at once, cost one catalog read
 * and one permission check per caller and component instead of one each.
 *
 * Only reads go through here; every mutating call asks the permission
 * framework afresh. A failed lookup is not kept.
 */
export class ReadAccess {
  private readonly entities: TtlCache<Promise<Entity | undefined>>;
  private readonly decisions: TtlCache<Promise<boolean>>;
  private readonly results = new Map<
    string,
    {
      value: Promise<unknown>;
      freshUntil: number;
      staleUntil: number;
      refreshing?: boolean;
    }
  >();
  private readonly sharedTtlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      permissions: PermissionsService;
      catalog: CatalogService;
      /** Whose credentials read the catalog for this caller. */
      catalogCredentials: (
        credentials: BackstageCredentials,
      ) => Promise<BackstageCredentials>;
      ttlMs?: number;
      sharedResultTtlMs?: number;
      now?: () => number;
    },
  ) {
    const ttl = deps.ttlMs ?? READ_CACHE_TTL_MS;
    const now = deps.now ?? Date.now;
    this.entities = new TtlCache(ttl, now);
    this.decisions = new TtlCache(ttl, now);
    this.sharedTtlMs = deps.sharedResultTtlMs ?? SHARED_RESULT_TTL_MS;
    this.now = now;
  }

  /** The entity as the caller may see it in the catalog. */
  async entity(
    ref: string,
    credentials: BackstageCredentials,
  ): Promise<Entity | undefined> {
    const who = principalKey(credentials);
    const load = async () =>
      this.deps.catalog.getEntityByRef(ref, {
        credentials: await this.deps.catalogCredentials(credentials),
      });
    if (!who) return load();
    const key = `${who}|${ref.toLocaleLowerCase('en-US')}`;
    const cached = this.entities.get(key);
    if (cached) return cached;
    const pending = load();
    this.entities.set(key, pending);
    pending.catch(() => this.entities.delete(key));
    return pending;
  }

  /**
   * A read result of this caller's, shared by its concurrent requests and
   * reused for {@link SHARED_RESULT_TTL_MS}: for answers that depend on the
   * caller's permissions and are costly to assemble (other controllers'
   * rollouts across the catalog and the clusters). After that, for up to
   * {@link SHARED_RESULT_STALE_MS}, the last result is answered while one
   * fresh load runs in the background, so a poller never waits for it. Never
   * shared between callers; a failed load is not kept.
   */
  async shared<T>(
    credentials: BackstageCredentials,
    key: string,
    load: () => Promise<T>,
  ): Promise<T> {
    const who = principalKey(credentials);
    if (!who) return load();
    const full = `${who}|${key}`;
    const now = this.now();
    const entry = this.results.get(full);
    if (entry && now < entry.freshUntil) return entry.value as Promise<T>;
    if (entry && now < entry.staleUntil) {
      if (!entry.refreshing) {
        entry.refreshing = true;
        load().then(
          value => this.keepResult(full, Promise.resolve(value)),
          () => {
            entry.refreshing = false;
          },
        );
      }
      return entry.value as Promise<T>;
    }
    const pending = load();
    this.keepResult(full, pending);
    pending.catch(() => {
      if (this.results.get(full)?.value === pending) this.results.delete(full);
    });
    return pending;
  }

  private keepResult(key: string, value: Promise<unknown>) {
    const now = this.now();
    this.results.delete(key);
    this.results.set(key, {
      value,
      freshUntil: now + this.sharedTtlMs,
      staleUntil: now + SHARED_RESULT_STALE_MS,
    });
    for (const [k, e] of this.results) {
      if (this.results.size <= MAX_ENTRIES && e.staleUntil > now) break;
      if (e.staleUntil <= now || this.results.size > MAX_ENTRIES) {
        this.results.delete(k);
      }
    }
  }

  /** Whether the caller may read rollouts of one component. */
  async mayRead(
    entityRef: string,
    credentials: BackstageCredentials,
  ): Promise<boolean> {
    return (await this.readable([entityRef], credentials)).has(entityRef);
  }

  /**
   * The components among `entityRefs` whose rollouts the caller may read:
   * one batched permission request for the ones not decided recently.
   */
  async readable(
    entityRefs: string[],
    credentials: BackstageCredentials,
  ): Promise<Set<string>> {
    const permission =
      canaryRolloutReadPermission as ResourcePermission<'catalog-entity'>;
    const who = principalKey(credentials);
    const refs = [...new Set(entityRefs)];
    const answers = new Map<string, Promise<boolean>>();
    const missing: string[] = [];
    for (const ref of refs) {
      const cached = who
        ? this.decisions.get(`${who}|${permission.name}|${ref}`)
        : undefined;
      if (cached) answers.set(ref, cached);
      else missing.push(ref);
    }
    if (missing.length > 0) {
      const batch = this.deps.permissions.authorize(
        missing.map(resourceRef => ({ permission, resourceRef })),
        { credentials },
      );
      missing.forEach((ref, i) => {
        const decision = batch.then(
          d => d[i]?.result === AuthorizeResult.ALLOW,
        );
        answers.set(ref, decision);
        if (who) {
          const key = `${who}|${permission.name}|${ref}`;
          this.decisions.set(key, decision);
          decision.catch(() => this.decisions.delete(key));
        }
      });
    }
    const readable = new Set<string>();
    await Promise.all(
      refs.map(async ref => {
        if (await answers.get(ref)!) readable.add(ref);
      }),
    );
    return readable;
  }
}
