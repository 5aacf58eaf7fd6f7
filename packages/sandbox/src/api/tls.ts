import selfsigned from 'selfsigned';

export interface ServingCertificate {
  cert: string;
  key: string;
}

let cached: ServingCertificate | undefined;

/**
 * A self-signed certificate for 127.0.0.1 and localhost. kubectl sends a
 * bearer token only over TLS, so the kubeconfig the sandbox writes points at
 * https with this certificate as its CA; one per process is enough.
 */
export function servingCertificate(): ServingCertificate {
  if (cached) return cached;
  const pems = selfsigned.generate(
    [{ name: 'commonName', value: 'coalmine-sandbox' }],
    {
      days: 3650,
      algorithm: 'sha256',
      keySize: 2048,
      extensions: [
        { name: 'basicConstraints', cA: true },
        {
          name: 'keyUsage',
          keyCertSign: true,
          digitalSignature: true,
          keyEncipherment: true,
        },
        { name: 'extKeyUsage', serverAuth: true },
        {
          name: 'subjectAltName',
          altNames: [
            { type: 7, ip: '127.0.0.1' },
            { type: 2, value: 'localhost' },
          ],
        },
      ],
    },
  );
  cached = { cert: pems.cert, key: pems.private };
  return cached;
}
