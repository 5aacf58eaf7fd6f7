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

  constructor(
    private readonly deps: {
      permissions: PermissionsService;
      catalog: CatalogService;
      /** Whose credentials read the catalog for this caller. */
      catalogCredentials: (
        credentials: BackstageCredentials,
      ) => Promise<BackstageCredentials>;
      ttlMs?: number;
      now?: () => number;
    },
  ) {
    const ttl = deps.ttlMs ?? READ_CACHE_TTL_MS;
    const now = deps.now ?? Date.now;
    this.entities = new TtlCache(ttl, now);
    this.decisions = new TtlCache(ttl, now);
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
