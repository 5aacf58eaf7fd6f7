import { HumanDuration } from '@backstage/types';

export interface Config {
  /**
   * Clusters, read the same way the Backstage Kubernetes plugin reads them
   * (only `type: config` locators and the `serviceAccount` auth provider).
   */
  kubernetes?: {
    /**
     * Read by the Kubernetes plugin (which requires it), not by Coalmine;
     * declared so an app without the Kubernetes plugin accepts the same block.
     */
    serviceLocatorMethod?: { type: string };
    clusterLocatorMethods?: Array<{
      type: string;
      clusters?: Array<{
        name: string;
        url: string;
        authProvider?: string;
        /** @visibility secret */
        serviceAccountToken?: string;
        /** @visibility secret */
        caData?: string;
        caFile?: string;
        skipTLSVerify?: boolean;
        authMetadata?: { [key: string]: string };
      }>;
    }>;
  };
  /** Coalmine canary rollouts. Semantics are checked again at start-up; errors name the key. */
  canary?: {
    /** The rollout loop (a scheduler task with scope global). */
    loop?: {
      /** How often due rollouts are advanced: seconds or a duration such as "5s". Default 5s. */
      frequency?: number | string;
      /** Rollouts of one cluster advanced at the same time by one replica (each cluster has its own); the others queue. Default 16. */
      concurrency?: number;
      /** How long a replica holds a rollout while advancing it. Default 30s. */
      lease?: number | string;
      /**
       * Read the Deployments, Pods, Services and traffic objects of active
       * rollouts from watch caches (one list + watch per kind and namespace)
       * instead of a GET per pass. A cache is used only while its watch is up
       * and the API server answered within two loop intervals. Default true.
       */
      watchCache?: boolean;
    };
    /** Detection of new canary pod templates applied by CI/GitOps. */
    detection?: {
      /** How often annotated components are checked. Default 30s. */
      frequency?: number | string;
    };
    /** Default Prometheus for clusters without their own. */
    prometheus?: {
      /** Base URL, e.g. http://prometheus.monitoring:9090 */
      url: string;
      /** Query timeout, e.g. "10s". */
      timeout?: string;
      /** @deepVisibility secret */
      auth?: { bearerToken: string } | { username: string; password: string };
    };
    /** Per-cluster settings; keys are names from kubernetes.clusterLocatorMethods. */
    clusters?: {
      [cluster: string]: {
        /**
         * The namespaces Coalmine may act in on this cluster (all when not set).
         * An entry with `owners` binds the components of those owners to every
         * Service in it; otherwise the Service's `coalmine.io/entity` annotation must
         * name the component.
         */
        namespaces?: Array<string | { name: string; owners?: string[] }>;
        prometheus?: {
          url: string;
          timeout?: string;
          /** @deepVisibility secret */
          auth?:
            | { bearerToken: string }
            | { username: string; password: string };
        };
      };
    };
    /**
     * Notifications to a component's owners (awaiting approval, rolled back,
     * failed, succeeded) through @backstage/plugin-notifications-backend.
     */
    notifications?: {
      /** Default true; set false in a backend without the notifications plugin. */
      enabled?: boolean;
      /** How often new rollout events are checked: seconds or a duration such as "5s". Default 5s. */
      frequency?: number | string;
    };
    /**
     * Deleting finished rollouts (Succeeded, RolledBack, Aborted, Failed)
     * with their events, analysis results and webhook outbox rows once they
     * are old. Active rollouts are never deleted. One backend replica runs
     * it at a time (scheduler, scope global).
     */
    retention?: {
      /**
       * How long a finished rollout is kept after it finished: a Backstage
       * duration, e.g. '90d', 'P90D' or { days: 90 }. Default 90 days.
       */
      maxAge?: string | HumanDuration;
      /** How often the clean-up runs: a Backstage duration. Default { hours: 1 }. */
      frequency?: string | HumanDuration;
    };
    /** Custom PromQL templates for metric gates, by name. */
    templates?: {
      [name: string]: {
        query?: string;
        canary?: string;
        stable?: string;
        kind?: 'value' | 'count';
        unit?: string;
        description?: string;
      };
    };
    /**
     * Service principals (a static token's `subject`) limited to some
     * entities or owners; a subject not listed is limited only by its token's
     * access restrictions.
     */
    servicePrincipals?: {
      [subject: string]: { entities?: string[]; owners?: string[] };
    };
    /** Which coalmine.io/overrides keys owners may set, and their bounds. */
    overrides?: {
      /** Default: every key. */
      allowedKeys?: Array<
        | 'steps'
        | 'stepWeight'
        | 'maxWeight'
        | 'interval'
        | 'progressDeadline'
        | 'autoStart'
        | 'stickyHeader'
        | 'maxCanaryRestarts'
        | 'retireStable'
        | 'onManualWeightChange'
      >;
      bounds?: {
        /** Default 1s to 10m. */
        interval?: { min?: number | string; max?: number | string };
        /** Default: the policy's own progressDeadline. */
        progressDeadline?: { max?: number | string };
        /** Default: the policy's own maxCanaryRestarts. */
        maxCanaryRestarts?: { max?: number };
        /** Largest first step, percent. Default 50. */
        steps?: { maxFirstWeight?: number };
      };
    };
    /** Named rollout policies, chosen per component with coalmine.io/policy. */
    policies?: {
      [name: string]: {
        /** How traffic is split. */
        trafficProvider: 'istio' | 'replicas' | 'gateway-api' | 'smi' | 'nginx';
        /** Canary weights in percent, or steps with a timed pause / approval gate. */
        steps?: Array<
          | number
          | { weight: number; pause?: number | string; approval?: boolean }
        >;
        /** Flagger style: step by this weight up to maxWeight (instead of steps). */
        stepWeight?: number;
        /** Flagger style: the last weight before promotion. Default 100. */
        maxWeight?: number;
        /** Analysis: interval, failure limit (threshold), metric gates. */
        analysis?: {
          /** How often the analysis runs, and the default time on a step. Default 30s. */
          interval?: number | string;
          /** Where request metrics come from; default from the traffic provider. */
          provider?: 'istio' | 'http' | 'nginx' | 'linkerd';
          /** Failed ticks that roll back (Flagger's threshold). Default 3. */
          failureLimit?: number;
          /** Count failed ticks in total (Flagger) or only consecutive ones. */
          failureMode?: 'total' | 'consecutive';
          /** What a tick without a verdict does. Default hold. */
          inconclusive?:
            | 'hold'
            | 'count'
            | 'fail'
            | { policy: 'hold' | 'count' | 'fail'; after?: number };
          /** Bound on false rollbacks by the sequential gates together. Default 0.01. */
          alpha?: number;
          /** Sequential gates: relative worsening tolerated (0.1 = 10 %). Default 0. */
          tolerance?: number;
          /** Pod health hard stop, or false to turn it off. */
          podHealth?: false | { maxRestarts?: number; fatalReasons?: string[] };
          /** The gated metrics; default: error rate and latency against stable. */
          metrics?: Array<{
            name: string;
            /** Template name (built-in or from canary.templates); default: name. */
            template?: string;
            /** Inline PromQL template instead of a named one. */
            query?: string;
            /** Window of value queries and how often the gate is evaluated, e.g. "30s". */
            interval?: string;
            thresholdRange?: { min?: number; max?: number };
            relative?: {
              maxRatio?: number;
              maxIncrease?: number;
              minRatio?: number;
              maxDecrease?: number;
              minRequests?: number;
            };
            judge?: 'threshold' | 'relative' | 'sequential';
            errors?: string;
            requests?: string;
            alpha?: number;
            tolerance?: number;
            minRequests?: number;
            variables?: { [name: string]: string };
            hardStop?: boolean;
            unit?: string;
          }>;
        };
        /** Canary pods must be available within this time, or the rollout rolls back. Default 10m. */
        progressDeadline?: number | string;
        /** What happens to the old stable Deployment after promotion (versioned subsets). */
        promotion?: { retireStable?: 'scale-to-zero' | 'keep' };
        /** Header route pinning requests to the canary during the rollout, e.g. "x-canary-user: true". */
        stickyHeader?: string | { name: string; value: string };
        /** Start a rollout by itself when the canary Deployment gets a new pod template. */
        autoStart?: boolean;
        /** Canary container restarts (incl. OOMKills) tolerated before rolling back at once. Default 2. */
        maxCanaryRestarts?: number;
        /** Consecutive cluster errors (5xx, timeouts) before rolling back. Default 5. */
        clusterErrorLimit?: number;
        /** What to do when the weight was changed by hand. Default restore. */
        onManualWeightChange?: 'restore' | 'adopt' | 'pause' | 'rollback';
        /** Images a rollout may run: registry/repository prefixes or patterns with `*`. Default: any. */
        allowedImages?: string[];
        /** The canary's pod template changed mid-rollout: restart the analysis from the first step, or abort (roll back). Default restart. */
        onTemplateChange?: 'restart' | 'abort';
        /** Mesh and gateway providers: scale the canary before each step to the weight's share of the stable's replicas, rounded up (weight), or keep its own replica count (fixed). Default weight. */
        canaryScale?: 'weight' | 'fixed';
        /** Longest a rollout may stay paused or waiting for approval before it rolls back: seconds or a duration such as "4h". Default: no limit. */
        maxHold?: number | string;
        /** Webhooks called during the rollout. */
        webhooks?: Array<{
          name: string;
          type:
            | 'pre-rollout'
            | 'rollout'
            | 'confirm-promotion'
            | 'post-rollout'
            | 'event';
          /** @visibility secret */
          url: string;
          timeout?: number | string;
          retries?: number;
          /** @visibility secret */
          secret?: string;
          /** @deepVisibility secret */
          headers?: { [name: string]: string };
          metadata?: { [key: string]: string };
        }>;
      };
    };
  };
}
