/**
 * The manifests of the seeds (/work/shared/seeds), as the shapes the
 * providers must handle. Seed 000: versioned subsets v1/v2; seed 002:
 * fixed subsets stable/canary with a sticky header route, and the
 * replica-based split (its indentation restored).
 */
import { parseAllDocuments } from 'yaml';

export const SEED_000_SERVICE_AND_DEPLOYMENT = `
apiVersion: v1
kind: Service
metadata:
  name: my-app-service
  annotations:
    coalmine.io/entity: component:default/my-app # the binding (not in the seed)
spec:
  selector:
    app: my-app
    version: v1 # This selector points to our stable version
  ports:
    - protocol: TCP
      port: 80
      targetPort: 8080
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-app-v1
spec:
  replicas: 3
  selector:
    matchLabels:
      app: my-app
      version: v1
  template:
    metadata:
      labels:
        app: my-app
        version: v1
    spec:
      containers:
      - name: app
        image: my-registry/my-app:v1
        ports:
        - containerPort: 8080
`;

export const SEED_000_DEPLOYMENT_V2 = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: my-app-v2
spec:
  replicas: 2 # Start with fewer replicas for the canary
  selector:
    matchLabels:
      app: my-app
      version: v2
  template:
    metadata:
      labels:
        app: my-app
        version: v2
    spec:
      containers:
      - name: app
        image: my-registry/my-app:v2
        ports:
        - containerPort: 8080
`;

export const SEED_000_DESTINATION_RULE = `
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: my-app-dest
spec:
  host: my-app-service # The Kubernetes Service name
  subsets:
  - name: v1
    labels:
      version: v1
  - name: v2
    labels:
      version: v2
`;

export const SEED_000_VS_ALL_V1 = `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: my-app-vs
spec:
  hosts:
  - my-app-service
  http:
  - route:
    - destination:
        host: my-app-service
        subset: v1 # All traffic goes to v1
      weight: 100
`;

export const SEED_000_VS_95_5 = `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: my-app-vs
spec:
  hosts:
  - my-app-service
  http:
  - route:
    - destination:
        host: my-app-service
        subset: v1
      weight: 95 # 95% to v1
    - destination:
        host: my-app-service
        subset: v2
      weight: 5 # 5% to v2
`;

export const SEED_000_VS_75_25 = `
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: my-app-vs
spec:
  hosts:
  - my-app-service
  http:
  - route:
    - destination:
        host: my-app-service
        subset: v1
      weight: 75
    - destination:
        host: my-app-service
        subset: v2
      weight: 25
`;

/** Seed 001: a VirtualService without hosts, 90/10. */
export const SEED_001_VS_90_10 = `
apiVersion: networking.istio.io/v1beta1
kind: VirtualService
metadata:
  name: myapp
spec:
  http:
  - route:
    - destination:
        host: myapp
        subset: v1
      weight: 90
    - destination:
        host: myapp
        subset: v2
      weight: 10
`;

export const SEED_002_REPLICA_SPLIT = `
# baseline-deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-service-baseline
  labels:
    app: api-service
    version: stable
spec:
  replicas: 9 # 90% of traffic
  selector:
    matchLabels:
      app: api-service
      version: stable
  template:
    metadata:
      labels:
        app: api-service
        version: stable
    spec:
      containers:
      - name: api-service
        image: apargo/api-service:v1.4.2 # stable image
        ports:
        - containerPort: 8080
---
# canary-deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api-service-canary
  labels:
    app: api-service
    version: canary
spec:
  replicas: 1 # ~10% of traffic
  selector:
    matchLabels:
      app: api-service
      version: canary
  template:
    metadata:
      labels:
        app: api-service
        version: canary
        track: canary # used for metric filtering
    spec:
      containers:
      - name: api-service
        image: apargo/api-service:v1.5.0 # new canary image
        ports:
        - containerPort: 8080
---
# shared-service.yaml — routes to BOTH deployments
apiVersion: v1
kind: Service
metadata:
  name: api-service
  annotations:
    coalmine.io/entity: component:default/api # the binding (not in the seed)
spec:
  selector:
    app: api-service # matches both stable and canary pods
  ports:
  - port: 80
    targetPort: 8080
`;

export const SEED_002_ISTIO = `
# istio-virtual-service.yaml
apiVersion: networking.istio.io/v1alpha3
kind: VirtualService
metadata:
  name: api-service-vs
spec:
  hosts:
  - api-service
  http:
  - match:
    # Sticky canary: internal QA team always hits canary
    - headers:
        x-canary-user:
          exact: "true"
    route:
    - destination:
        host: api-service
        subset: canary
      weight: 100
  - route:
    # General traffic: 5% canary, 95% stable
    - destination:
        host: api-service
        subset: stable
      weight: 95
    - destination:
        host: api-service
        subset: canary
      weight: 5
---
# istio-destination-rule.yaml
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: api-service-dr
spec:
  host: api-service
  subsets:
  - name: stable
    labels:
      version: stable
  - name: canary
    labels:
      version: canary
`;

/** Parses a multi-document YAML string into plain objects. */
export function parseManifests<T = any>(text: string): T[] {
  return parseAllDocuments(text)
    .map(doc => doc.toJS())
    .filter(Boolean) as T[];
}

/** Parses a single-document YAML string. */
export function parseManifest<T = any>(text: string): T {
  return parseManifests<T>(text)[0];
}
