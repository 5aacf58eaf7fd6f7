import {
  applyNginxSplit,
  deriveCanaryIngress,
  ingressServices,
  NGINX_CANARY,
  NGINX_CANARY_BY_HEADER,
  NGINX_CANARY_BY_HEADER_VALUE,
  NGINX_CANARY_WEIGHT,
  readNginxSplit,
} from './nginxCanary';
import { Ingress } from './objects';
import { parseManifest } from './__fixtures__/seedManifests';

const PRIMARY = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: api-service
  namespace: prod
  annotations:
    nginx.ingress.kubernetes.io/rewrite-target: /
spec:
  ingressClassName: nginx
  rules:
  - host: api.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: api-service-stable
            port: { number: 80 }
`;
const header = { name: 'x-canary-user', value: 'true' };

describe('NGINX canary Ingress', () => {
  const primary = parseManifest<Ingress>(PRIMARY);
  const canary = deriveCanaryIngress(
    primary,
    'api-service-canary',
    'api-service-stable',
    'api-service-canary',
  );

  it('mirrors the primary Ingress onto the canary Service', () => {
    expect(ingressServices(canary)).toEqual(['api-service-canary']);
    expect(canary.spec.rules![0].host).toBe('api.example.com');
    expect(canary.spec.ingressClassName).toBe('nginx');
    expect(canary.metadata.annotations).toEqual({
      [NGINX_CANARY]: 'true',
      [NGINX_CANARY_WEIGHT]: '0',
    });
    // the primary is untouched
    expect(ingressServices(primary)).toEqual(['api-service-stable']);
  });

  it.each([5, 25, 50, 75, 100])(
    'writes and reads %i %% with the header',
    weight => {
      const next = applyNginxSplit(
        canary,
        { canaryWeight: weight, headerRoute: true },
        header,
      );
      expect(next.metadata.annotations).toEqual({
        [NGINX_CANARY]: 'true',
        [NGINX_CANARY_WEIGHT]: String(weight),
        [NGINX_CANARY_BY_HEADER]: 'x-canary-user',
        [NGINX_CANARY_BY_HEADER_VALUE]: 'true',
      });
      expect(readNginxSplit(next, header)).toEqual({
        canaryWeight: weight,
        headerRoute: true,
      });
    },
  );

  it('removes the header annotations and reads no canary Ingress as 0 %', () => {
    const withHeader = applyNginxSplit(
      canary,
      { canaryWeight: 50, headerRoute: true },
      header,
    );
    const without = applyNginxSplit(
      withHeader,
      { canaryWeight: 0, headerRoute: false },
      header,
    );
    expect(without.metadata.annotations).toEqual({
      [NGINX_CANARY]: 'true',
      [NGINX_CANARY_WEIGHT]: '0',
    });
    expect(readNginxSplit(undefined)).toEqual({
      canaryWeight: 0,
      headerRoute: false,
    });
  });
});
