/**
 * The four shapes of the sandbox's demo world, for the in-memory fake:
 * checkout (versioned subsets), payments (fixed subsets + sticky header),
 * search (replica ratio), storefront (Gateway API).
 */
function deployment(
  name: string,
  labels: Record<string, string>,
  replicas: number,
  image: string,
) {
  const l = Object.entries(labels)
    .map(([k, v]) => `        ${k}: ${v}`)
    .join('\n');
  return `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels:
${l.replace(/^ {8}/gm, '      ')}
  template:
    metadata:
      labels:
${l}
    spec:
      containers:
      - name: app
        image: ${image}
status:
  replicas: ${replicas}
  readyReplicas: ${replicas}
  availableReplicas: ${replicas}
`;
}

function service(
  name: string,
  selector: Record<string, string>,
  entity = name.replace(/-(stable|canary)$/, ''),
) {
  return `
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  annotations:
    coalmine.io/entity: component:default/${entity}
spec:
  selector:
${Object.entries(selector)
  .map(([k, v]) => `    ${k}: ${v}`)
  .join('\n')}
  ports:
  - port: 80
    targetPort: 8080
`;
}

export const CHECKOUT = [
  service('checkout', { app: 'checkout' }),
  deployment(
    'checkout-v1',
    { app: 'checkout', version: 'v1' },
    3,
    'coalmine/checkout:v1',
  ),
  `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: checkout
spec:
  host: checkout
  subsets:
  - name: v1
    labels: { version: v1 }
  - name: v2
    labels: { version: v2 }
`,
  `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: checkout
spec:
  hosts: [checkout]
  http:
  - route:
    - destination: { host: checkout, subset: v1 }
      weight: 100
`,
].join('\n---\n');

export const PAYMENTS = [
  service('payments', { app: 'payments' }),
  deployment(
    'payments-stable',
    { app: 'payments', version: 'stable' },
    3,
    'coalmine/payments:1.0',
  ),
  deployment(
    'payments-canary',
    { app: 'payments', version: 'canary' },
    0,
    'coalmine/payments:1.1',
  ),
  `
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: payments
spec:
  host: payments
  subsets:
  - name: stable
    labels: { version: stable }
  - name: canary
    labels: { version: canary }
`,
  `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: payments
spec:
  hosts: [payments]
  http:
  - match:
    - headers:
        x-canary-user:
          exact: "true"
    route:
    - destination: { host: payments, subset: canary }
  - route:
    - destination: { host: payments, subset: stable }
      weight: 100
    - destination: { host: payments, subset: canary }
      weight: 0
`,
].join('\n---\n');

export const SEARCH = [
  service('search', { app: 'search' }),
  deployment(
    'search-stable',
    { app: 'search', track: 'stable' },
    9,
    'coalmine/search:1.0',
  ),
  deployment(
    'search-canary',
    { app: 'search', track: 'canary' },
    0,
    'coalmine/search:1.1',
  ),
].join('\n---\n');

export const STOREFRONT = [
  service('storefront-stable', { app: 'storefront', track: 'stable' }),
  service('storefront-canary', { app: 'storefront', track: 'canary' }),
  deployment(
    'storefront-stable',
    { app: 'storefront', track: 'stable' },
    2,
    'coalmine/storefront:1.0',
  ),
  deployment(
    'storefront-canary',
    { app: 'storefront', track: 'canary' },
    0,
    'coalmine/storefront:1.1',
  ),
  `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: storefront
spec:
  parentRefs: [{ name: demo-gateway }]
  rules:
  - backendRefs:
    - { name: storefront-stable, port: 80, weight: 100 }
    - { name: storefront-canary, port: 80, weight: 0 }
`,
].join('\n---\n');
