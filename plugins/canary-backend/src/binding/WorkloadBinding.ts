import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { NotAllowedError } from '@backstage/errors';
import {
  CANARY_ENTITY_ANNOTATION,
  CanaryConfigProblem,
} from '@coalmine/backstage-plugin-canary-common';
import type { NamespaceGrant } from '../config/CanaryConfig';
import type { TrafficTopology } from '../kubernetes/types';

/** What the binding check needs to know about the cluster's objects. */
export interface BindingObjectReader {
  /** A Service's annotations and selector; undefined when it does not exist. */
  service(
    cluster: string,
    namespace: string,
    name: string,
  ): Promise<
    | { annotations: Record<string, string>; selector: Record<string, string> }
    | undefined
  >;
  /** A Deployment's own annotations and its pods' labels; undefined when it does not exist. */
  deployment(
    cluster: string,
    namespace: string,
    name: string,
  ): Promise<
    | { annotations: Record<string, string>; podLabels: Record<string, string> }
    | undefined
  >;
}

/** A component, a cluster and the workload it wants to act on. */
export interface BindingRequest {
  entityRef: string;
  /** The entity's owners (spec.owner, as full refs). */
  owners: string[];
  cluster: string;
  namespace: string;
  /** The component's Service (coalmine.io/workload). */
  service: string;
  /** What discovery found: the Deployments and backend Services to be touched. */
  topology: TrafficTopology;
}

/** The outcome of a binding check. */
export type BindingVerdict =
  | { bound: true; via: 'service-annotation' | 'platform-owner' }
  | { bound: false; problem: CanaryConfigProblem };

/** A refused binding: 403 with the reason and what to add. */
export class WorkloadNotBoundError extends NotAllowedError {
  constructor(readonly problem: CanaryConfigProblem) {
    super(problem.message);
  }
}

const ENTITY_REF = /^[a-z0-9_.-]+:[a-z0-9_.-]+\/[a-z0-9_.-]+$/;

/** The entity refs a `coalmine.io/entity` annotation names, normalised; malformed ones are ignored. */
export function boundEntities(annotation: string | undefined): string[] {
  if (!annotation) return [];
  return annotation
    .split(',')
    .map(t => t.trim())
    .filter(Boolean)
    .flatMap(text => {
      try {
        const ref = stringifyEntityRef(
          parseEntityRef(text, {
            defaultKind: 'component',
            defaultNamespace: 'default',
          }),
        ).toLocaleLowerCase('en-US');
        return ENTITY_REF.test(ref) ? [ref] : [];
      } catch {
        return [];
      }
    });
}

function selects(
  selector: Record<string, string>,
  labels: Record<string, string>,
): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/**
 * Decides whether a component may act on a workload. Catalog annotations
 * only say which workload a component *means*; the binding must come from
 * the cluster (`coalmine.io/entity` on the Service) or from the platform
 * (`canary.clusters.<name>.namespaces` with owners). The Deployments the
 * engine would touch must be selected by the bound Services, so naming a
 * bound Service never reaches someone else's pods.
 */
export class WorkloadBinding {
  constructor(
    private readonly clusters: Record<
      string,
      { namespaces?: NamespaceGrant[] }
    >,
    private readonly reader: BindingObjectReader,
  ) {}

  /** Checks the binding; never writes. Cluster errors are thrown as they come (transient). */
  async check(request: BindingRequest): Promise<BindingVerdict> {
    const { entityRef, cluster, namespace, topology } = request;
    const grants = this.clusters[cluster]?.namespaces;
    const grantsKey = `canary.clusters.${cluster}.namespaces`;
    const grant = grants?.find(g => g.name === namespace);
    if (grants && !grant) {
      return refuse(
        grantsKey,
        `Coalmine may not act in namespace ${namespace} of cluster ${cluster}: the platform team adds it to ${grantsKey}.`,
      );
    }
    const owners = request.owners.map(o => o.toLocaleLowerCase('en-US'));
    const ownerGranted = Boolean(
      grant?.owners?.some(o => owners.includes(o.toLocaleLowerCase('en-US'))),
    );

    // The Services whose pods the engine touches, each with the Deployments it must select.
    const arms: Array<{ service: string; deployments: string[] }> =
      topology.backends
        ? [
            {
              service: topology.backends.stable,
              deployments: [topology.stable.name],
            },
            {
              service: topology.backends.canary,
              deployments: [topology.canary.name],
            },
          ]
        : [
            {
              service: request.service,
              deployments: [topology.stable.name, topology.canary.name],
            },
          ];
    const me = entityRef.toLocaleLowerCase('en-US');
    for (const arm of arms) {
      const svc = await this.reader.service(cluster, namespace, arm.service);
      if (!svc) {
        return refuse(
          CANARY_ENTITY_ANNOTATION,
          `Service ${namespace}/${arm.service} was not found on cluster ${cluster}, so it cannot be bound to ${entityRef}.`,
        );
      }
      if (
        !ownerGranted &&
        !boundEntities(svc.annotations[CANARY_ENTITY_ANNOTATION]).includes(me)
      ) {
        return refuse(
          CANARY_ENTITY_ANNOTATION,
          `Service ${namespace}/${arm.service} on cluster ${cluster} is not bound to ${entityRef}: add the annotation ${CANARY_ENTITY_ANNOTATION}: ${entityRef} to the Service (or the platform team lists namespace ${namespace} with the component's owner under ${grantsKey}).`,
        );
      }
      for (const name of arm.deployments) {
        const deployment = await this.reader.deployment(
          cluster,
          namespace,
          name,
        );
        // A canary Deployment that does not exist yet is created from the stable one.
        if (deployment === undefined) continue;
        // Its pods are the Service's, or the Deployment itself names the component.
        if (
          !selects(svc.selector, deployment.podLabels) &&
          !boundEntities(
            deployment.annotations[CANARY_ENTITY_ANNOTATION],
          ).includes(me)
        ) {
          return refuse(
            CANARY_ENTITY_ANNOTATION,
            `Deployment ${namespace}/${name} does not run the pods of Service ${namespace}/${arm.service} (its selector does not match them), so Coalmine will not touch it for ${entityRef}: make the selector match, or add ${CANARY_ENTITY_ANNOTATION}: ${entityRef} to the Deployment.`,
          );
        }
      }
    }
    return {
      bound: true,
      via: ownerGranted ? 'platform-owner' : 'service-annotation',
    };
  }

  /** Like {@link check}, but throws {@link WorkloadNotBoundError} (403) when not bound. */
  async require(request: BindingRequest): Promise<void> {
    const verdict = await this.check(request);
    if (!verdict.bound) throw new WorkloadNotBoundError(verdict.problem);
  }
}

function refuse(key: string, message: string): BindingVerdict {
  return { bound: false, problem: { key, message } };
}
