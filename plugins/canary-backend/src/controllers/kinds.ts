import type { CustomKind } from '../kubernetes/customObjects';

/** Flagger's Canary, as in flagger's `artifacts/flagger/crd.yaml`. */
export const FLAGGER_CANARY: CustomKind = {
  group: 'flagger.app',
  version: 'v1beta1',
  plural: 'canaries',
  kind: 'Canary',
};

/** Argo Rollouts' Rollout, as in argo-rollouts `manifests/crds/rollout-crd.yaml`. */
export const ARGO_ROLLOUT: CustomKind = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'rollouts',
  kind: 'Rollout',
};

/** Argo Rollouts' AnalysisRun (`manifests/crds/analysis-run-crd.yaml`). */
export const ARGO_ANALYSIS_RUN: CustomKind = {
  group: 'argoproj.io',
  version: 'v1alpha1',
  plural: 'analysisruns',
  kind: 'AnalysisRun',
};

/** A custom object as read from the cluster: only the fields we look at are typed. */
export interface CustomObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: string | Date;
    generation?: number;
    resourceVersion?: string;
    ownerReferences?: Array<{ kind: string; name: string; uid: string }>;
  };
  spec?: any;
  status?: any;
}
