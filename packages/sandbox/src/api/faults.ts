/** One-shot errors tests inject to see how the engine copes with a flaky API server. */
export interface FaultRule {
  /** get, list, watch, create, update, patch, delete, deletecollection. */
  verb: string;
  /** Plural resource, optionally with subresource: `virtualservices`, `deployments/scale`. */
  resource: string;
  status: 409 | 429 | 500 | 503 | number;
  /** How many matching requests fail; default 1. */
  count?: number;
  namespace?: string;
  name?: string;
}

export class FaultInjector {
  private rules: Array<FaultRule & { remaining: number }> = [];

  add(rule: FaultRule): void {
    this.rules.push({ ...rule, remaining: rule.count ?? 1 });
  }

  clear(): void {
    this.rules = [];
  }

  /** The status to fail this request with, consuming one use of the matching rule. */
  take(
    verb: string,
    resource: string,
    namespace?: string,
    name?: string,
  ): number | undefined {
    const rule = this.rules.find(
      r =>
        r.remaining > 0 &&
        r.verb === verb &&
        r.resource === resource &&
        (r.namespace === undefined || r.namespace === namespace) &&
        (r.name === undefined || r.name === name),
    );
    if (!rule) return undefined;
    rule.remaining--;
    this.rules = this.rules.filter(r => r.remaining > 0);
    return rule.status;
  }
}
