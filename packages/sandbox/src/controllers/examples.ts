/**
 * The basic canary Rollout of the Argo Rollouts documentation, in namespace
 * `demo`, for tests of the sandbox's Argo Rollouts controller and of
 * Coalmine's Argo Rollouts support. `service` adds a Service bound to the
 * catalog component `rollouts-demo`.
 */
export function argoRolloutsDemo(
  image: string,
  options: { service?: boolean } = {},
): string {
  const service = options.service
    ? `apiVersion: v1
kind: Service
metadata:
  name: rollouts-demo
  namespace: demo
  annotations: { coalmine.io/entity: component:default/rollouts-demo }
spec:
  selector: { app: rollouts-demo }
  ports: [{ port: 80 }]
---
`
    : '';
  return `${service}apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata:
  name: rollouts-demo
  namespace: demo
spec:
  replicas: 5
  strategy:
    canary:
      steps:
      - setWeight: 20
      - pause: {}
      - setWeight: 40
      - pause: {duration: 10}
  revisionHistoryLimit: 2
  selector:
    matchLabels:
      app: rollouts-demo
  template:
    metadata:
      labels:
        app: rollouts-demo
    spec:
      containers:
      - name: rollouts-demo
        image: ${image}
        ports:
        - name: http
          containerPort: 8080
          protocol: TCP
`;
}
